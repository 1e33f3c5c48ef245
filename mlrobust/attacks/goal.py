"""Attack goals: which labels to flip, relative to the model's clean prediction.

A goal is data (a boolean target mask ``Omega`` plus the decision rule that turns logits into
label sets); every attack reads it the same way:

* the clean prediction ``P = rule.predict(model(x))``;
* the desired prediction ``D = P XOR Omega`` (targets flipped, everything else kept);
* success: every target label reaches its desired value under ``rule`` (labels outside the
  target set are *not* part of success; metrics such as NT_R measure them).

Examples:
    >>> import torch
    >>> goal = AttackGoal.from_indices([[0], [1, 2]], num_labels=4)
    >>> goal.targets.int().tolist()
    [[1, 0, 0, 0], [0, 1, 1, 0]]
    >>> random_targets(3, 5, size=2, seed=0).sum(dim=1).tolist()
    [2, 2, 2]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from mlrobust.errors import InputError
from mlrobust.rules import DecisionRule, Threshold, TopK

if TYPE_CHECKING:
    from mlrobust.graphs import LabelGraph


@dataclass(frozen=True)
class AttackGoal:
    """Flip the labels in ``targets`` (bool ``[N, L]``) relative to the clean prediction.

    ``graph``: the label hierarchy (``labels`` in prediction-vector order) when the labels have
    one; GMLA widens the targets to their consistent target set Psi over it.

    Shape:
        targets: bool ``[N, L]``, at least one ``True`` per row.
    """

    targets: torch.Tensor = field(compare=False)
    rule: DecisionRule = field(default_factory=lambda: Threshold(0.5))
    graph: LabelGraph | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        t = self.targets
        if not isinstance(t, torch.Tensor):
            raise InputError(f"AttackGoal targets must be a bool tensor [N, L], got {type(t)}.")
        if t.dim() != 2:
            raise InputError(
                f"AttackGoal targets must have shape [N, L], got {tuple(t.shape)}; "
                "use AttackGoal.from_indices for lists of label indices."
            )
        if t.dtype != torch.bool:
            raise InputError("AttackGoal targets must be a bool mask; convert with mask.bool().")
        if t.shape[0] and not t.any(dim=1).all():
            empty = (~t.any(dim=1)).nonzero().flatten().tolist()
            raise InputError(
                f"AttackGoal has an empty target set for samples {empty[:10]}; "
                "give every sample at least one label to flip."
            )
        if not isinstance(self.rule, (Threshold, TopK)):
            raise InputError(f"rule must be Threshold or TopK, got {type(self.rule).__name__}.")
        labels = None if self.graph is None else getattr(self.graph, "labels", None)
        if self.graph is not None and (labels is None or len(labels) != t.shape[1]):
            raise InputError(
                f"The goal's label graph has {None if labels is None else len(labels)} labels "
                f"but the targets cover {t.shape[1]}; build the graph over the model's labels "
                "in prediction-vector order."
            )

    @property
    def num_labels(self) -> int:
        return int(self.targets.shape[1])

    def desired(self, clean_pred: torch.Tensor) -> torch.Tensor:
        """The desired prediction: ``clean_pred`` with the targets flipped. Shape ``[N, L]``."""
        return clean_pred ^ self.targets.to(clean_pred.device)

    @classmethod
    def from_indices(
        cls,
        indices: Sequence[Sequence[int]],
        *,
        num_labels: int,
        rule: DecisionRule | None = None,
        graph: LabelGraph | None = None,
    ) -> AttackGoal:
        """Build a goal from one list of target label indices per sample."""
        mask = torch.zeros(len(indices), num_labels, dtype=torch.bool)
        for row, labels in enumerate(indices):
            for label in labels:
                if not 0 <= int(label) < num_labels:
                    raise InputError(
                        f"Target label {label} of sample {row} is not a label index "
                        f"(the model has {num_labels} labels: 0..{num_labels - 1})."
                    )
                mask[row, int(label)] = True
        return cls(mask, rule if rule is not None else Threshold(0.5), graph)

    @classmethod
    def random(
        cls,
        n: int,
        num_labels: int,
        *,
        size: int,
        seed: int,
        rule: DecisionRule | None = None,
        allowed: torch.Tensor | None = None,
        graph: LabelGraph | None = None,
    ) -> AttackGoal:
        """A goal with ``size`` random targets per sample (see :func:`random_targets`)."""
        mask = random_targets(n, num_labels, size=size, seed=seed, allowed=allowed)
        return cls(mask, rule if rule is not None else Threshold(0.5), graph)


def random_targets(
    n: int,
    num_labels: int,
    *,
    size: int,
    seed: int,
    allowed: torch.Tensor | None = None,
) -> torch.Tensor:
    """Draw ``size`` distinct target labels per sample, deterministically from ``seed``.

    ``allowed`` (bool ``[L]`` or ``[N, L]``) restricts the draw, e.g. to graph leaves.

    Shape: returns bool ``[n, num_labels]`` with exactly ``size`` True per row.
    """
    if size < 1:
        raise InputError(f"Target-set size must be >= 1, got {size}.")
    if num_labels < 1 or n < 0:
        raise InputError(f"Need n >= 0 samples and >= 1 label, got n={n}, L={num_labels}.")
    pool = torch.ones(n, num_labels, dtype=torch.bool)
    if allowed is not None:
        pool = pool & allowed.to(torch.bool).expand(n, num_labels)
    too_small = pool.sum(dim=1) < size
    if too_small.any():
        raise InputError(
            f"Cannot draw {size} target labels: only {int(pool.sum(dim=1).min())} are allowed "
            "for some sample; lower the size or widen the allowed set."
        )
    gen = torch.Generator().manual_seed(seed)
    # random keys, disallowed labels pushed last; the `size` smallest keys are the draw
    keys = torch.rand(n, num_labels, generator=gen)
    keys = keys.masked_fill(~pool, 2.0)
    chosen = keys.argsort(dim=1)[:, :size]
    mask = torch.zeros(n, num_labels, dtype=torch.bool)
    mask.scatter_(1, chosen, True)
    return mask
