"""Properties as data: unsafe sets over the logits.

An :class:`OutputSpec` is a disjunction of :class:`Clause` objects. A clause holds linear forms
``g = C y + d`` (one row per form) and a count ``at_least``: the clause is *violated* when at least
``at_least`` of its forms are ``>= 0``. Its value is the ``at_least``-th largest form, so
``value >= 0`` means violated and a proof needs ``max_x value < 0``. One shape covers:

* a VNN-LIB conjunction of ``m`` output constraints: ``at_least = m``;
* top-1 robustness of label ``t``: rows ``y_j - y_t`` (j != t), ``at_least = 1``;
* top-k (paper 000): the same rows with ``at_least = k`` — "k labels beat t" — one MILP with
  counting binaries instead of one query per subset of k rivals;
* threshold rule: label ``c`` ON must stay ON: one row ``tau - y_c``; OFF must stay OFF:
  ``y_c - tau``.

Boundary points (a form exactly 0) count as violations, which is conservative for proofs.

Examples:
    >>> import torch
    >>> spec = topk_spec(0, 2, 3)
    >>> spec.value(torch.tensor([[1.0, 2.0, 0.5]], dtype=torch.float64)).tolist()  # 2nd best rival
    [-0.5]
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from mlrobust.errors import InputError
from mlrobust.verify.ir import DTYPE

#: a proof needs the clause value proven below ``-margin`` (logit scale): the margin absorbs
#: solver tolerances and the float32 (real model) vs float64 (IR) gap
DEFAULT_MARGIN = 1e-4


@dataclass(frozen=True, eq=False)
class Clause:
    """Violated when at least ``at_least`` of ``C y + d`` are >= 0.

    Shapes: ``c [m, L]``, ``d [m]``."""

    c: torch.Tensor
    d: torch.Tensor
    at_least: int

    def __post_init__(self) -> None:
        if self.c.dim() != 2 or self.d.shape != (self.c.shape[0],):
            raise InputError(
                f"Clause needs c [m, L] and d [m]; got {tuple(self.c.shape)}, "
                f"{tuple(self.d.shape)}."
            )
        if not 1 <= self.at_least <= self.c.shape[0]:
            raise InputError(f"Clause at_least={self.at_least} must be in 1..{self.c.shape[0]}.")

    def forms(self, y: torch.Tensor) -> torch.Tensor:
        """Shape: ``y [N, L]`` -> ``[N, m]``."""
        return y.to(DTYPE) @ self.c.to(DTYPE).t() + self.d.to(DTYPE)

    def value(self, y: torch.Tensor) -> torch.Tensor:
        """The ``at_least``-th largest form, ``[N]``; ``>= 0`` means violated."""
        return self.forms(y).topk(self.at_least, dim=1).values[:, -1]


@dataclass(frozen=True, eq=False)
class OutputSpec:
    """A disjunction of clauses: the property fails when any clause is violated.

    ``decides``: optional exact test on the *real* model's logits ``[N, L]`` -> bool ``[N]``
    (True = the property fails there), used to accept counterexamples. The linear clauses are
    then a sound over-approximation of that set (e.g. boundary points), used for proofs and
    search; a decision rule's own ``predict`` settles ties exactly as the pipeline would.
    """

    clauses: tuple[Clause, ...]
    n_outputs: int
    name: str = field(default="")
    decides: Callable[[torch.Tensor], torch.Tensor] | None = field(default=None)

    def __post_init__(self) -> None:
        if not self.clauses:
            raise InputError("An OutputSpec needs at least one clause.")
        for cl in self.clauses:
            if cl.c.shape[1] != self.n_outputs:
                raise InputError(
                    f"Clause has {cl.c.shape[1]} output columns, the spec "
                    f"declares {self.n_outputs} outputs."
                )

    def value(self, y: torch.Tensor) -> torch.Tensor:
        """Largest clause value, ``[N]``; ``>= 0`` means the property is violated at ``y``."""
        return torch.stack([cl.value(y) for cl in self.clauses], dim=1).amax(dim=1)

    def violated(self, y: torch.Tensor) -> torch.Tensor:
        """Bool ``[N]``: the property fails at logits ``y [N, L]`` (exactly, via ``decides``
        when given; else ``value >= 0``)."""
        if self.decides is not None:
            return self.decides(y)
        return self.value(y) >= 0


def _rival_rows(target: int, n: int) -> tuple[torch.Tensor, list[int]]:
    _check_label(target, n)
    rivals = [j for j in range(n) if j != target]
    c = torch.zeros(len(rivals), n, dtype=DTYPE)
    for r, j in enumerate(rivals):
        c[r, j], c[r, target] = 1.0, -1.0
    return c, rivals


def topk_spec(target: int, k: int, n: int) -> OutputSpec:
    """Label ``target`` leaves the top-``k`` (at least ``k`` rivals reach its logit)."""
    if not 1 <= k < n:
        raise InputError(f"top-k needs 1 <= k < number of labels ({n}), got k={k}.")
    c, _ = _rival_rows(target, n)
    return OutputSpec((Clause(c, torch.zeros(n - 1, dtype=DTYPE), k),), n, f"top{k}[{target}]")


def top1_spec(target: int, n: int) -> OutputSpec:
    """Single-label robustness: some rival reaches the target's logit."""
    return topk_spec(target, 1, n)


def enters_topk_spec(label: int, k: int, n: int) -> OutputSpec:
    """Label ``label`` (not predicted) enters the top-``k``: it reaches at least ``n - k``
    other labels' logits."""
    if not 1 <= k < n:
        raise InputError(f"top-k needs 1 <= k < number of labels ({n}), got k={k}.")
    c, _ = _rival_rows(label, n)
    return OutputSpec(
        (Clause(-c, torch.zeros(n - 1, dtype=DTYPE), n - k),), n, f"enter-top{k}[{label}]"
    )


def pairwise_topk_specs(target: int, k: int, n: int) -> OutputSpec:
    """The paper-000 formulation: one conjunction clause per set of ``k`` rivals (all of them
    beat the target). Equivalent to :func:`topk_spec` but with C(n-1, k) clauses."""
    c, rivals = _rival_rows(target, n)
    clauses = tuple(
        Clause(c[list(sub)], torch.zeros(k, dtype=DTYPE), k)
        for sub in itertools.combinations(range(len(rivals)), k)
    )
    return OutputSpec(clauses, n, f"pairwise-top{k}[{target}]")


def threshold_spec(label: int, on: bool, logit_threshold: float, n: int) -> OutputSpec:
    """A threshold-rule label flips: ON goes to ``y < tau`` or OFF goes to ``y >= tau``."""
    _check_label(label, n)
    c = torch.zeros(1, n, dtype=DTYPE)
    c[0, label] = -1.0 if on else 1.0
    d = torch.tensor([logit_threshold if on else -logit_threshold], dtype=DTYPE)
    return OutputSpec((Clause(c, d, 1),), n, f"{'on' if on else 'off'}[{label}]")


def _check_label(label: int, n: int) -> None:
    if not 0 <= label < n:
        raise InputError(f"Label {label} is out of range for a network with {n} outputs.")
