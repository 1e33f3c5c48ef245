"""The values every solver backend shares: a model as data, a solve's outcome, the backends."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import numpy as np
import scipy.sparse as sp


class Backend(str, Enum):
    """Which solver runs an LP or MILP. HiGHS is the default and the fallback of the others."""

    HIGHS = "highs"
    GUROBI = "gurobi"
    MOSEK = "mosek"


class Status(str, Enum):
    """How a solve ended. ``INFEASIBLE`` also covers HiGHS's "unbounded or infeasible": every
    model mlrobust builds has a bounded objective."""

    OPTIMAL = "optimal"
    TIME_LIMIT = "time_limit"
    INFEASIBLE = "infeasible"
    ERROR = "error"


@dataclass(frozen=True)
class ModelData:
    """A MILP: ``row_lo <= A x <= row_hi``, ``col_lo <= x <= col_hi``, ``x_i`` integer where
    ``integer[i]``. Shapes: ``A [rows, cols]`` (CSR), ``row_*`` ``[rows]``, the rest ``[cols]``.
    Infinite bounds are ``+-inf``."""

    a: sp.csr_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    integer: np.ndarray

    @property
    def n_rows(self) -> int:
        return int(self.a.shape[0])

    @property
    def n_cols(self) -> int:
        return int(self.a.shape[1])

    @property
    def is_mip(self) -> bool:
        return bool(self.integer.any())


@dataclass(frozen=True)
class Outcome:
    """One solve of ``max`` (or ``min``) ``coef . x + const``. ``bound`` is a proven bound on the
    optimum in the direction of optimisation (upper for max, lower for min; +-inf if none);
    ``value``/``x`` the best solution found (None if none). ``nodes``: branch-and-bound nodes.
    ``backend``: the solver that produced it (after any fallback)."""

    status: Status
    value: float | None
    bound: float
    x: np.ndarray | None
    nodes: int
    backend: Backend = Backend.HIGHS


def no_bound(maximize: bool) -> float:
    """The bound that proves nothing in the direction of optimisation."""
    return math.inf if maximize else -math.inf


class Unavailable(Exception):
    """A backend cannot solve this model: not installed, no licence, or the model is over its
    licence's size limit. :func:`mlrobust.solvers.open_session` answers it by using HiGHS."""


class Session(Protocol):
    """One model solved repeatedly with changing objectives."""

    @property
    def backend(self) -> Backend:
        """The solver that answers (HiGHS after a fallback)."""
        ...

    def solve(
        self,
        idx: np.ndarray,
        coef: np.ndarray,
        const: float,
        maximize: bool,
        time_limit: float,
        stop_below: float = -math.inf,
        stop_above: float = math.inf,
    ) -> Outcome:
        """Optimise ``coef . x[idx] + const``. A maximising MIP may stop early once its proven
        bound is below ``stop_below`` or a solution reaches ``stop_above``."""
        ...
