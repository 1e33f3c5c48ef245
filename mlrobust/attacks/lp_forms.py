"""The MLA-LP linear program as solver data: its two formulations and the solution type.

Problem (paper 002 eq. 14): ``min ||r||_inf  s.t.  A r <= b`` with ``A`` the ``[m, d]`` Jacobian
rows and ``d`` pixels.

* ``LPForm.NAIVE`` (the paper's): variables ``(r, z)``, rows ``A r <= b`` plus ``2 d`` rows
  ``-z <= r_i <= z``; minimise ``z``.
* ``LPForm.HOMOGENEOUS``: substitute ``r = s / lam``: ``max lam  s.t.  A s - lam b <= 0``,
  ``-1 <= s <= 1``; the optimum has ``||r||_inf = 1 / lam``. Only ``m`` rows, and the box is
  held in variable bounds, which simplex handles for free.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from mlrobust.solvers import Backend, ModelData

#: lam above this means "r = 0 already satisfies every row" (caps the homogeneous LP)
LAM_CAP = 1e12


class LPForm(enum.Enum):
    HOMOGENEOUS = "homogeneous"
    NAIVE = "naive"


class LPMethod(enum.Enum):
    AUTO = "auto"
    SIMPLEX = "simplex"
    SIFTING = "sifting"


@dataclass(frozen=True)
class LPSolution:
    """``r`` (``[d]``, float64) minimising ``||r||_inf`` subject to ``A r <= b``.

    ``feasible`` is False when no ``r`` satisfies the rows (then ``r`` is zero); ``solver`` is the
    backend that actually solved it (after any fallback). Sifting also returns ``dual`` (``[m]``
    row multipliers ``y >= 0``, a warm start for a re-solve with more rows) and ``lower_bound``,
    the weak-duality bound ``-b^T y / ||A^T y||_1 <= min ||r||_inf``; it equals ``||r||_inf`` up
    to a relative 1e-9 unless a time limit stopped the rounds (then the gap is logged). ``rounds``
    counts restricted LPs (1 for a plain solve).
    """

    r: np.ndarray
    feasible: bool
    solver: Backend
    dual: np.ndarray | None = None
    lower_bound: float | None = None
    rounds: int = 1

    @property
    def gap(self) -> float:
        """``||r||_inf - lower_bound`` (0 for a plain simplex optimum)."""
        if self.lower_bound is None or not self.feasible:
            return 0.0
        return float(np.abs(self.r).max(initial=0.0)) - self.lower_bound


def homogeneous_model(a: np.ndarray, b: np.ndarray) -> ModelData:
    """``max lam s.t. a s - lam b <= 0, -1 <= s <= 1, 0 <= lam <= LAM_CAP`` (``lam`` is the
    last column)."""
    m, d = a.shape
    matrix = sp.csr_matrix(np.concatenate([a, -b[:, None]], axis=1))
    return ModelData(
        matrix,
        np.full(m, -np.inf),
        np.zeros(m),
        np.concatenate([-np.ones(d), [0.0]]),
        np.concatenate([np.ones(d), [LAM_CAP]]),
        np.zeros(d + 1, dtype=bool),
    )


def naive_model(a: np.ndarray, b: np.ndarray) -> ModelData:
    """``min z s.t. a r <= b, r_i - z <= 0, -r_i - z <= 0, z >= 0`` (``z`` is the last column)."""
    m, d = a.shape
    eye = sp.identity(d, format="csr")
    minus_z = sp.csr_matrix(-np.ones((d, 1)))
    matrix = sp.vstack(
        [
            sp.hstack([sp.csr_matrix(a), sp.csr_matrix((m, 1))]),
            sp.hstack([eye, minus_z]),
            sp.hstack([-eye, minus_z]),
        ]
    ).tocsr()
    rows = m + 2 * d
    return ModelData(
        matrix,
        np.full(rows, -np.inf),
        np.concatenate([b, np.zeros(2 * d)]),
        np.concatenate([np.full(d, -np.inf), [0.0]]),
        np.full(d + 1, np.inf),
        np.zeros(d + 1, dtype=bool),
    )


def solution_from_x(form: LPForm, x: np.ndarray | None, d: int, solver: Backend) -> LPSolution:
    """The step ``r`` from a backend's optimal primal vector (``None``: no optimum, i.e. no
    feasible step)."""
    if x is None:
        return LPSolution(r=np.zeros(d), feasible=False, solver=solver)
    if form is LPForm.NAIVE:
        return LPSolution(r=x[:d].copy(), feasible=True, solver=solver)
    lam = float(x[d])
    if lam <= 1e-12:
        return LPSolution(r=np.zeros(d), feasible=False, solver=solver)
    return LPSolution(r=x[:d] / lam, feasible=True, solver=solver)
