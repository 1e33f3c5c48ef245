"""The verifier seam: one :class:`Query` in, one :class:`VerificationResult` per spec out.

Every verifier — the built-ins of :mod:`mlrobust.verify.verifiers` and third-party ones found
through the ``mlrobust.verifiers`` entry-point group (:mod:`mlrobust.verify.registry`) —
subclasses :class:`Verifier` and writes one method, :meth:`Verifier._run`. The base class owns
what must hold for all of them: the query is checked, the time limit and seed are passed at
call time, and every FALSIFIED result must carry a witness that a forward pass of the real
model confirms (inside the box, violating the spec); one that does not is answered UNKNOWN
("fail closed"). evaluate, the portfolio runner, the layered synthesis, the partial-label
experiment and the CLI all call verifiers this way.

Example (a verifier is one class; ``docs/extending.md`` walks through registering it)::

    class Sampling(Verifier):
        name = "sampling"
        config_type = SamplingConfig
        def _run(self, query, time_limit_s, seed): ...
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

import torch

from mlrobust.errors import InputError
from mlrobust.verdicts import Verdict
from mlrobust.verify.bounds import LayerBounds, check_box
from mlrobust.verify.ir import Network
from mlrobust.verify.oracle import Oracle, recheck
from mlrobust.verify.spec import OutputSpec

#: the stages a verifier's time is reported in (:class:`StageTimes`)
STAGES = ("attack", "bounds", "bab", "milp")


@dataclass(frozen=True)
class StageTimes:
    """Seconds spent per stage: the verifier's own falsifier, bound propagation and
    tightening, branch and bound, and MILP. Work shared by the specs of one call is split
    evenly between their results, so sums over results are the call's totals."""

    attack: float = 0.0
    bounds: float = 0.0
    bab: float = 0.0
    milp: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {s: float(getattr(self, s)) for s in STAGES}


class Stopwatch:
    """Accumulates seconds per stage inside one verifier call."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - t0

    def share(self, n: int) -> StageTimes:
        """The totals split evenly over ``n`` results."""
        return StageTimes(**{k: v / max(n, 1) for k, v in self.seconds.items()})


@dataclass(frozen=True)
class VerificationResult:
    """Outcome for one spec on one input box.

    ``objective_bound``: proven upper bound on ``max_x spec.value(f(x))`` (``inf`` if none);
    ``objective_value``: best value found (at ``weakest_point``), ``None`` if none.
    ``counterexample``/``weakest_point``: ``[*input_shape]`` float64, the former only when
    FALSIFIED (re-checked on the real model). ``nodes``: MILP branch-and-bound nodes (domains
    for ``method="bab"``). ``stages``: seconds per stage.
    """

    verdict: Verdict
    objective_bound: float
    objective_value: float | None
    counterexample: torch.Tensor | None
    weakest_point: torch.Tensor | None
    time_s: float
    nodes: int
    n_unstable: int
    method: str
    message: str = ""
    stages: StageTimes = StageTimes()


def unknown(message: str, method: str, time_s: float = 0.0) -> VerificationResult:
    """An UNKNOWN result that proves nothing."""
    return VerificationResult(
        Verdict.UNKNOWN, math.inf, None, None, None, time_s, 0, 0, method, message
    )


@dataclass(frozen=True, eq=False)
class Query:
    """What a verifier is asked: does every spec hold for all inputs of the box ``[lo, hi]``?

    ``net``: the network's IR; ``oracle``: the real model (witnesses are re-checked on it);
    ``lo``/``hi``: the box, any shape with ``net.input_size`` values (stored flat, float64);
    ``bounds``: optional sound layer bounds already computed over exactly this box.
    """

    net: Network
    lo: torch.Tensor
    hi: torch.Tensor
    specs: tuple[OutputSpec, ...]
    oracle: Oracle
    bounds: LayerBounds | None = None

    def __post_init__(self) -> None:
        lo, hi = check_box(self.net, self.lo, self.hi)
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)
        object.__setattr__(self, "specs", tuple(self.specs))
        if not self.specs:
            raise InputError("A verification query needs at least one spec.")
        n_out = self.net.n_outputs
        for s in self.specs:
            if s.n_outputs != n_out:
                raise InputError(
                    f"Spec {s.name!r} is over {s.n_outputs} outputs but the network has {n_out}."
                )
        if self.bounds is not None:
            self.bounds.check_box(lo, hi)


class Verifier(ABC):
    """Base class of every verifier: set ``name`` and ``config_type`` (a frozen keyword-only
    dataclass) and write :meth:`_run`. Call as ``verifier(query, time_limit_s=..., seed=...)``.
    """

    name: ClassVar[str] = ""
    config_type: ClassVar[type]
    config: Any
    #: what the verifier can answer: both (complete, or sound and incomplete), proofs only,
    #: or counterexamples only (the conformance test checks each accordingly)
    proves: ClassVar[bool] = True
    falsifies: ClassVar[bool] = True

    def __init__(self, config: Any = None) -> None:
        if config is None:
            config = self.config_type()
        if not isinstance(config, self.config_type):
            raise InputError(
                f"{type(self).__name__} needs a {self.config_type.__name__}, got "
                f"{type(config).__name__}."
            )
        self.config = config

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    @classmethod
    def settings(cls, **wanted: Any) -> dict[str, Any]:
        """The subset of ``wanted`` config values this verifier has fields for. A caller states
        what it would like (evaluate: its tightening level, and a short internal falsifier since
        its own attacks ran first) and each verifier takes what applies to it."""
        names = {f.name for f in fields(cls.config_type)}
        return {k: v for k, v in wanted.items() if k in names}

    @abstractmethod
    def _run(self, query: Query, time_limit_s: float, seed: int) -> Sequence[VerificationResult]:
        """One result per spec of ``query``, in order, within ``time_limit_s``."""

    def __call__(
        self, query: Query, *, time_limit_s: float, seed: int = 0
    ) -> tuple[VerificationResult, ...]:
        if not isinstance(query, Query):
            raise InputError(f"A verifier takes a Query, got {type(query).__name__}.")
        if not time_limit_s > 0:
            raise InputError(f"time_limit_s must be positive seconds, got {time_limit_s}.")
        out = self._run(query, float(time_limit_s), int(seed))
        results = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        if len(results) != len(query.specs) or not all(
            isinstance(r, VerificationResult) for r in results
        ):
            raise TypeError(
                f"verifier {self.name!r} must return one VerificationResult per spec "
                f"({len(query.specs)}), got {str(out)[:200]}"
            )
        return tuple(
            self._confirm(query, spec, res) for spec, res in zip(query.specs, results, strict=True)
        )

    def _confirm(
        self, query: Query, spec: OutputSpec, res: VerificationResult
    ) -> VerificationResult:
        """Fail closed: a FALSIFIED result stands only with a witness the real model confirms."""
        if res.verdict is not Verdict.FALSIFIED:
            return res
        if res.counterexample is not None:
            hit = recheck(
                res.counterexample.detach().cpu().numpy(),
                query.lo.numpy(),
                query.hi.numpy(),
                spec,
                query.oracle,
            )
            if hit is not None:
                return replace(res, counterexample=hit[0].reshape(res.counterexample.shape))
        return replace(
            res,
            verdict=Verdict.UNKNOWN,
            counterexample=None,
            message=f"{self.name}: its counterexample does not reproduce on the "
            "real model (or lies outside the box); not a witness",
        )
