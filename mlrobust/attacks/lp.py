"""The MLA-LP linear programs and their solver backends (HiGHS, Gurobi, MOSEK).

Problem (paper 002 eq. 14): ``min ||r||_inf  s.t.  A r <= b`` with ``A`` the ``[m, d]`` Jacobian
rows and ``d`` pixels. Two formulations:

* ``LPForm.NAIVE`` (the paper's): variables ``(r, z)``, rows ``A r <= b`` plus ``2 d`` rows
  ``-z <= r_i <= z``.
* ``LPForm.HOMOGENEOUS``: substitute ``r = s / lam``: ``max lam  s.t.  A s - lam b <= 0``,
  ``-1 <= s <= 1``; the optimum has ``||r||_inf = 1 / lam``. Only ``m`` rows, and the box is
  held in variable bounds, which simplex handles for free.

Methods (``LPMethod``): SIMPLEX hands the whole LP to the backend; SIFTING (HiGHS, homogeneous
form) solves small restricted LPs over a column working set and prices all columns with one
dense product per round, stopping only when a dual bound proves optimality (see ``_sift``); AUTO
picks SIFTING for wide LPs (many pixels), where it is much faster, and SIMPLEX otherwise.

Backends: HiGHS (``highspy``, default), Gurobi (``gurobipy``; its licence-free build stops at 2000
variables / constraints with GurobiError 10010, which we detect and fall back from) and MOSEK
(``mosek.fusion``; without a licence every solve fails, which we detect and fall back from).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

import numpy as np

from mlrobust.errors import InputError, SolverError

log = logging.getLogger(__name__)

# lam above this means "r = 0 already satisfies every row"
_LAM_CAP = 1e12
_GUROBI_SIZE_LIMIT = 2000


class LPForm(enum.Enum):
    HOMOGENEOUS = "homogeneous"
    NAIVE = "naive"


class LPMethod(enum.Enum):
    AUTO = "auto"
    SIMPLEX = "simplex"
    SIFTING = "sifting"


# AUTO uses sifting from this many columns on (measured, docs/attacks.md: at 1x28x56 = 1,568
# columns sifting took 2-5 ms vs 7-9 ms for HiGHS on the whole LP; at 3x224x224 the whole LP
# takes minutes). Tiny LPs go to the whole-LP path, where sifting's rounds would only add cost.
_SIFT_MIN_COLUMNS = 1_000


class LPSolver(enum.Enum):
    HIGHS = "highs"
    GUROBI = "gurobi"
    MOSEK = "mosek"


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
    solver: LPSolver
    dual: np.ndarray | None = None
    lower_bound: float | None = None
    rounds: int = 1

    @property
    def gap(self) -> float:
        """``||r||_inf - lower_bound`` (0 for a plain simplex optimum)."""
        if self.lower_bound is None or not self.feasible:
            return 0.0
        return float(np.abs(self.r).max(initial=0.0)) - self.lower_bound


def solve_min_linf(
    a: np.ndarray,
    b: np.ndarray,
    *,
    solver: LPSolver = LPSolver.HIGHS,
    form: LPForm = LPForm.HOMOGENEOUS,
    fallback: bool = True,
    time_limit: float | None = None,
    method: LPMethod = LPMethod.AUTO,
    dual_start: np.ndarray | None = None,
) -> LPSolution:
    """Solve ``min ||r||_inf s.t. a r <= b`` (``a [m, d]``, ``b [m]``).

    ``method`` applies to HiGHS with the homogeneous form (other backends and the naive form
    always get the whole LP); ``dual_start`` (``[m]``, e.g. a previous solution's ``dual`` padded
    with zeros for new rows) warm-starts sifting.
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
    if sift and form is LPForm.HOMOGENEOUS and solver is LPSolver.HIGHS:
        if dual_start is not None and np.shape(dual_start) != b.shape:
            raise InputError(f"dual_start needs shape {b.shape}, got {np.shape(dual_start)}.")
        from mlrobust.attacks.lp_sifting import sift_min_linf

        return sift_min_linf(a, b, dual_start=dual_start, time_limit=time_limit)
    if solver is LPSolver.GUROBI:
        try:
            return _gurobi(a, b, form, time_limit)
        except _Unavailable as exc:
            if not fallback:
                raise SolverError(str(exc)) from exc
            log.info("Gurobi unavailable for this LP (%s); solving with HiGHS instead", exc)
    elif solver is LPSolver.MOSEK:
        try:
            return _mosek(a, b, form)
        except _Unavailable as exc:
            if not fallback:
                raise SolverError(str(exc)) from exc
            log.warning("MOSEK unavailable (%s); solving with HiGHS instead", exc)
    return _highs(a, b, form, time_limit)


class _Unavailable(Exception):
    """The backend cannot solve this LP (missing, unlicensed, or too big for its licence)."""


def _to_r(form: LPForm, x: np.ndarray, d: int, status_ok: bool) -> LPSolution | None:
    """Turn a backend's primal vector into r; None when the LP had no useful optimum."""
    if not status_ok:
        return None
    if form is LPForm.NAIVE:
        return LPSolution(r=x[:d].copy(), feasible=True, solver=LPSolver.HIGHS)
    lam = float(x[d])
    if lam <= 1e-12:
        return LPSolution(r=np.zeros(d), feasible=False, solver=LPSolver.HIGHS)
    return LPSolution(r=x[:d] / lam, feasible=True, solver=LPSolver.HIGHS)


def _with_solver(sol: LPSolution | None, d: int, solver: LPSolver) -> LPSolution:
    if sol is None:
        return LPSolution(r=np.zeros(d), feasible=False, solver=solver)
    return LPSolution(r=sol.r, feasible=sol.feasible, solver=solver)


# ----------------------------------------------------------------------------- HiGHS
def _highs_homogeneous(a: np.ndarray, b: np.ndarray):  # type: ignore[no-untyped-def]
    """A HiGHS object holding ``max lam s.t. a s - lam b <= 0, -1 <= s <= 1`` (not yet run)."""
    import highspy

    m, d = a.shape
    n = d + 1
    cost = np.zeros(n)
    cost[d] = -1.0  # maximise lam
    dense = np.concatenate([a, -b[:, None]], axis=1)
    return _highs_model(
        cost,
        np.concatenate([-np.ones(d), [0.0]]),
        np.concatenate([np.ones(d), [_LAM_CAP]]),
        np.zeros(m),
        np.arange(m + 1, dtype=np.int64) * n,
        np.tile(np.arange(n, dtype=np.int32), m),
        dense.ravel(),
        # measured: presolve only costs time on these dense, row-poor LPs (about 2x)
        presolve=False,
        highspy=highspy,
    )


def _highs_model(cost, lower, upper, row_hi, starts, index, values, *, presolve, highspy):  # type: ignore[no-untyped-def]
    lp = highspy.HighsLp()
    lp.num_col_ = len(cost)
    lp.num_row_ = len(row_hi)
    lp.col_cost_ = cost
    lp.col_lower_ = lower
    lp.col_upper_ = upper
    lp.row_lower_ = np.full(len(row_hi), -np.inf)
    lp.row_upper_ = row_hi
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = starts.astype(np.int32)
    lp.a_matrix_.index_ = index.astype(np.int32)
    lp.a_matrix_.value_ = values
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    if not presolve:
        h.setOptionValue("presolve", "off")
    h.passModel(lp)
    return h


def _highs(a: np.ndarray, b: np.ndarray, form: LPForm, time_limit: float | None) -> LPSolution:
    import highspy

    m, d = a.shape
    n = d + 1
    if form is LPForm.HOMOGENEOUS:
        h = _highs_homogeneous(a, b)
    else:
        cost = np.zeros(n)
        cost[d] = 1.0  # minimise z
        eye_idx = np.arange(d, dtype=np.int32)
        # rows: a r <= b ; r_i - z <= 0 ; -r_i - z <= 0
        starts = np.concatenate(
            [np.arange(m + 1) * d, m * d + 2 * (np.arange(1, 2 * d + 1))]
        ).astype(np.int64)
        index = np.concatenate(
            [
                np.tile(np.arange(d, dtype=np.int32), m),
                np.stack([eye_idx, np.full(d, d, np.int32)], 1).ravel(),
                np.stack([eye_idx, np.full(d, d, np.int32)], 1).ravel(),
            ]
        )
        values = np.concatenate([a.ravel(), np.tile([1.0, -1.0], d), np.tile([-1.0, -1.0], d)])
        h = _highs_model(
            cost,
            np.concatenate([np.full(d, -np.inf), [0.0]]),
            np.full(n, np.inf),
            np.concatenate([b, np.zeros(2 * d)]),
            starts,
            index,
            values,
            presolve=True,
            highspy=highspy,
        )
        m = m + 2 * d
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    h.run()
    status = h.getModelStatus()
    ok = status == highspy.HighsModelStatus.kOptimal
    if not ok and status not in (
        highspy.HighsModelStatus.kInfeasible,
        highspy.HighsModelStatus.kUnboundedOrInfeasible,
    ):
        raise SolverError(
            f"HiGHS stopped with status {h.modelStatusToString(status)} on an MLA-LP "
            f"problem ({m} rows, {n} columns); raise the time limit or report the instance."
        )
    x = np.asarray(h.getSolution().col_value) if ok else np.zeros(n)
    return _with_solver(_to_r(form, x, d, ok), d, LPSolver.HIGHS)


# ----------------------------------------------------------------------------- Gurobi
def _gurobi(a: np.ndarray, b: np.ndarray, form: LPForm, time_limit: float | None) -> LPSolution:
    try:
        import gurobipy as gp
    except ImportError as exc:
        raise _Unavailable("gurobipy is not installed (pip install mlrobust[gurobi])") from exc
    m, d = a.shape
    try:
        env = gp.Env(params={"OutputFlag": 0, "Threads": 1})
        model = gp.Model(env=env)
        if time_limit is not None:
            model.Params.TimeLimit = time_limit
        if form is LPForm.HOMOGENEOUS:
            s = model.addMVar(d, lb=-1.0, ub=1.0)
            lam = model.addMVar(1, lb=0.0, ub=_LAM_CAP)
            model.addConstr(a @ s - b[:, None] @ lam <= 0)
            model.setObjective(lam.sum(), gp.GRB.MAXIMIZE)
        else:
            s = model.addMVar(d, lb=-gp.GRB.INFINITY)
            lam = model.addMVar(1, lb=0.0)
            model.addConstr(a @ s <= b)
            ones = np.ones((d, 1))
            model.addConstr(s - ones @ lam <= 0)
            model.addConstr(-s - ones @ lam <= 0)
            model.setObjective(lam.sum(), gp.GRB.MINIMIZE)
        model.optimize()
        ok = model.Status == gp.GRB.OPTIMAL
        x = np.concatenate([s.X, lam.X]) if ok else np.zeros(d + 1)
    except gp.GurobiError as exc:
        if getattr(exc, "errno", None) == 10010:  # size-limited licence
            raise _Unavailable(f"LP too large for the Gurobi licence ({m} rows, {d} vars)") from exc
        raise _Unavailable(f"Gurobi error {getattr(exc, 'errno', '?')}: {exc}") from exc
    return _with_solver(_to_r(form, x, d, ok), d, LPSolver.GUROBI)


def gurobi_fits(num_rows: int, num_vars: int, form: LPForm = LPForm.HOMOGENEOUS) -> bool:
    """Whether the LP fits the licence-free Gurobi size limit (2000 variables and rows)."""
    rows = num_rows if form is LPForm.HOMOGENEOUS else num_rows + 2 * num_vars
    return num_vars + 1 <= _GUROBI_SIZE_LIMIT and rows <= _GUROBI_SIZE_LIMIT


# ----------------------------------------------------------------------------- MOSEK
def _mosek(a: np.ndarray, b: np.ndarray, form: LPForm) -> LPSolution:
    try:
        from mosek import fusion as mf
    except ImportError as exc:
        raise _Unavailable("MOSEK is not installed (pip install mlrobust[mosek])") from exc
    m, d = a.shape
    try:
        with mf.Model("mla-lp") as model:
            if form is LPForm.HOMOGENEOUS:
                s = model.variable(d, mf.Domain.inRange(-1.0, 1.0))
                lam = model.variable(1, mf.Domain.inRange(0.0, _LAM_CAP))
                lhs = mf.Expr.sub(
                    mf.Expr.mul(mf.Matrix.dense(a), s),
                    mf.Expr.mul(mf.Matrix.dense(b[:, None]), lam),
                )
                model.constraint(lhs, mf.Domain.lessThan(0.0))
                model.objective(mf.ObjectiveSense.Maximize, mf.Expr.sum(lam))
            else:
                s = model.variable(d, mf.Domain.unbounded())
                lam = model.variable(1, mf.Domain.greaterThan(0.0))
                model.constraint(mf.Expr.mul(mf.Matrix.dense(a), s), mf.Domain.lessThan(b))
                rep = mf.Var.repeat(lam, d)
                model.constraint(mf.Expr.sub(s, rep), mf.Domain.lessThan(0.0))
                model.constraint(mf.Expr.add(s, rep), mf.Domain.greaterThan(0.0))
                model.objective(mf.ObjectiveSense.Minimize, mf.Expr.sum(lam))
            model.solve()
            ok = model.getPrimalSolutionStatus() == mf.SolutionStatus.Optimal
            x = np.concatenate([s.level(), lam.level()]) if ok else np.zeros(d + 1)
    except Exception as exc:  # MOSEK raises its own types; without a licence every solve fails
        raise _Unavailable(
            f"MOSEK failed ({type(exc).__name__}: {exc}); a licence file is needed "
            "(MOSEKLM_LICENSE_FILE or ~/mosek/mosek.lic)"
        ) from exc
    return _with_solver(_to_r(form, x, d, ok), d, LPSolver.MOSEK)
