"""Solving the MLA-LP linear program ``min ||r||_inf s.t. A r <= b`` (see :mod:`.lp_forms`).

Methods (``LPMethod``): SIMPLEX hands the whole LP to the backend of :mod:`mlrobust.solvers`
(HiGHS by default; Gurobi or MOSEK when asked for, with the solver layer's fallback to HiGHS);
SIFTING (HiGHS, homogeneous form) solves small restricted LPs over a column working set and
prices all columns with one dense product per round, stopping only when a dual bound proves
optimality (:mod:`.lp_sifting`); AUTO picks SIFTING for wide LPs (many pixels), where it is much
faster, and SIMPLEX otherwise.
"""

from __future__ import annotations

import logging

import numpy as np

from mlrobust.attacks.lp_forms import (
    LPForm,
    LPMethod,
    LPSolution,
    homogeneous_model,
    naive_model,
    solution_from_x,
)
from mlrobust.attacks.lp_sifting import sift_min_linf
from mlrobust.errors import InputError, SolverError
from mlrobust.solvers import Backend, Status, open_session

log = logging.getLogger(__name__)

# AUTO uses sifting from this many columns on (measured, docs/attacks.md: at 1x28x56 = 1,568
# columns sifting took 2-5 ms vs 7-9 ms for HiGHS on the whole LP; at 3x224x224 the whole LP
# takes minutes). Tiny LPs go to the whole-LP path, where sifting's rounds would only add cost.
_SIFT_MIN_COLUMNS = 1_000
#: "no time limit" in a form every backend accepts (Gurobi refuses infinity)
_NO_LIMIT = 1e9


def solve_min_linf(
    a: np.ndarray,
    b: np.ndarray,
    *,
    solver: Backend = Backend.HIGHS,
    form: LPForm = LPForm.HOMOGENEOUS,
    fallback: bool = True,
    time_limit: float | None = None,
    method: LPMethod = LPMethod.AUTO,
    dual_start: np.ndarray | None = None,
) -> LPSolution:
    """Solve ``min ||r||_inf s.t. a r <= b`` (``a [m, d]``, ``b [m]``).

    ``method`` applies to HiGHS with the homogeneous form (other backends and the naive form
    always get the whole LP); ``dual_start`` (``[m]``, e.g. a previous solution's ``dual`` padded
    with zeros for new rows) warm-starts sifting. ``fallback=False`` raises
    :class:`~mlrobust.errors.SolverError` instead of using HiGHS when ``solver`` cannot run.
    Raises :class:`~mlrobust.errors.SolverError` when the solver stops without an answer.
    """
    a = np.ascontiguousarray(a, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    if a.ndim != 2 or b.shape != (a.shape[0],):
        raise InputError(f"need a [m, d] and b [m], got {a.shape} and {b.shape}.")
    if b.size == 0 or b.min() >= 0:  # r = 0 already satisfies every row
        return LPSolution(
            r=np.zeros(a.shape[1]), feasible=True, solver=solver, lower_bound=0.0, rounds=0
        )
    sift = method is LPMethod.SIFTING or (
        method is LPMethod.AUTO and a.shape[1] >= _SIFT_MIN_COLUMNS
    )
    if sift and form is LPForm.HOMOGENEOUS and solver is Backend.HIGHS:
        if dual_start is not None and np.shape(dual_start) != b.shape:
            raise InputError(f"dual_start needs shape {b.shape}, got {np.shape(dual_start)}.")
        return sift_min_linf(a, b, dual_start=dual_start, time_limit=time_limit)
    return _whole_lp(a, b, form, solver, fallback, time_limit)


def _whole_lp(
    a: np.ndarray,
    b: np.ndarray,
    form: LPForm,
    solver: Backend,
    fallback: bool,
    time_limit: float | None,
) -> LPSolution:
    m, d = a.shape
    homogeneous = form is LPForm.HOMOGENEOUS
    data = homogeneous_model(a, b) if homogeneous else naive_model(a, b)
    # measured: presolve only costs time on the dense, row-poor homogeneous LPs (about 2x)
    session = open_session(data, solver, presolve=not homogeneous, fallback=fallback)
    out = session.solve(
        np.array([d]), np.ones(1), 0.0, homogeneous, _NO_LIMIT if time_limit is None else time_limit
    )
    if out.status not in (Status.OPTIMAL, Status.INFEASIBLE):
        raise SolverError(
            f"{out.backend.value} stopped with status {out.status.value} on an MLA-LP problem "
            f"({data.n_rows} rows, {data.n_cols} columns); raise the time limit or report the "
            "instance."
        )
    x = out.x if out.status is Status.OPTIMAL else None
    return solution_from_x(form, x, d, out.backend)
