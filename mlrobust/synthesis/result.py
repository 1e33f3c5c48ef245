"""Per-image synthesis result and the bookkeeping shared by the search methods."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from mlrobust.synthesis.oracle import CallCounts, Check, Problem
from mlrobust.verdicts import Verdict


@dataclass(frozen=True)
class LayeredResult:
    """Certified layered epsilons for one image.

    Shapes: ``eps``, ``weights`` float64 ``[r + 1]``; ``upper_eps`` ``[r + 1]`` or ``None``;
    ``counterexample`` ``[1, C, H, W]`` (inside ``upper_eps``'s box, ``target`` out of the
    model's top-k there) or ``None``; ``layers`` long ``[H, W]``.

    ``eps`` is certified (lower bound): every box it contains is robust. ``upper_eps`` is the
    falsified candidate of smallest weighted size (an upper bound in the sense that this box is
    not robust). ``final_verdict`` is the closing MILP re-verification of ``eps`` (VERIFIED, or
    UNKNOWN when that MILP ran out of time; the certificate then rests on the stage that gave it).
    ``progress`` lists ``(MILP calls so far, w . eps)`` each time the certified size grew, so a
    comparison can ask how many MILP calls a method needed to reach a given size.
    """

    method: str
    target: int
    eps: torch.Tensor
    weights: torch.Tensor
    size: float
    upper_eps: torch.Tensor | None
    upper_size: float | None
    counterexample: torch.Tensor | None
    calls: CallCounts
    candidates: int
    seconds: float
    final_verdict: Verdict
    certified_by: str
    layers: torch.Tensor
    progress: tuple[tuple[int, float], ...] = ()

    @property
    def depth(self) -> int:
        return self.eps.numel() - 1

    def milp_calls_to_reach(self, size: float) -> int | None:
        return milp_calls_to_reach(self.progress, size)


def milp_calls_to_reach(progress: Iterable[Sequence[float]], size: float) -> int | None:
    """MILP calls made by the time the certified ``w . eps`` first reached ``size`` (0 when the
    clean point already does), or ``None`` when it never did; ``progress`` as in
    :class:`LayeredResult` (also its JSON form, lists instead of tuples)."""
    if size <= 0:
        return 0
    return next((int(calls) for calls, s in progress if s >= size), None)


class Tracker:
    """Keeps the last robust eps and the smallest falsified candidate (by ``w . eps``)."""

    def __init__(self, prob: Problem, weights: torch.Tensor, counts: CallCounts) -> None:
        self.prob = prob
        self.w = weights
        self.counts = counts
        self.progress: list[tuple[int, float]] = []
        self.robust = torch.zeros_like(weights)
        self.certified_by = "clean"  # eps = 0: the box is {x}, where the target is predicted
        self.upper: torch.Tensor | None = None
        self.upper_cex: torch.Tensor | None = None
        self.candidates = 0

    def size(self, eps: torch.Tensor) -> float:
        return float(self.w @ eps)

    def record(self, eps: torch.Tensor, res: Check) -> bool:
        """Note the answer on ``eps``; True when it is a new robust eps."""
        self.candidates += 1
        if res.verdict is Verdict.VERIFIED:
            size, current = self.size(eps), self.size(self.robust)
            if size >= current:
                if size > current:
                    self.progress.append((self.counts.milp, size))
                self.robust = eps.clone()
                self.certified_by = res.stage.value
            return True
        smaller = self.upper is None or self.size(eps) < self.size(self.upper)
        if res.verdict is Verdict.FALSIFIED and res.counterexample is not None and smaller:
            self.upper, self.upper_cex = eps.clone(), res.counterexample
        return False
