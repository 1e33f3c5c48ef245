"""MILP/LP solver backends behind one small session interface.

HiGHS (``highspy``) is the default: it is open source, installs everywhere, and its Python API
lets one model be re-solved with a new objective (the per-neuron bound tightening does hundreds
of such solves; ``scipy.optimize.milp`` would rebuild the model each time). Gurobi is used when
asked for and the model fits its licence; the size-limited pip licence (2000 variables /
constraints) fails with error 10010, which we detect and answer by falling back to HiGHS.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from enum import Enum

import numpy as np
import scipy.sparse as sp

from mlrobust.errors import SolverError

log = logging.getLogger(__name__)


class Backend(str, Enum):
    """Which solver runs the MILPs and LPs."""

    HIGHS = "highs"
    GUROBI = "gurobi"


class Status(str, Enum):
    OPTIMAL = "optimal"
    TIME_LIMIT = "time_limit"
    INFEASIBLE = "infeasible"
    ERROR = "error"


@dataclass(frozen=True)
class ModelData:
    """A MILP: ``row_lo <= A x <= row_hi``, ``col_lo <= x <= col_hi``, ``x_i`` integer where
    ``integer[i]``. Shapes: ``A [rows, cols]`` (CSR), the rest match."""

    a: sp.csr_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    integer: np.ndarray


@dataclass(frozen=True)
class Outcome:
    """One solve of ``max`` (or ``min``) ``coef . x + const``. ``bound`` is a proven bound on the
    optimum in the direction of optimisation (upper for max, lower for min; +-inf if none);
    ``value``/``x`` the best solution found (None if none). ``nodes``: branch-and-bound nodes."""

    status: Status
    value: float | None
    bound: float
    x: np.ndarray | None
    nodes: int


class HighsSession:
    """One HiGHS model re-solved with changing objectives."""

    def __init__(self, data: ModelData, threads: int = 1, seed: int = 0) -> None:
        import highspy

        self._hs = highspy
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", int(threads))
        h.setOptionValue("random_seed", int(seed))
        lp = highspy.HighsLp()
        n_col, n_row = data.a.shape[1], data.a.shape[0]
        lp.num_col_, lp.num_row_ = n_col, n_row
        lp.col_cost_ = np.zeros(n_col)
        lp.col_lower_, lp.col_upper_ = data.col_lo, data.col_hi
        lp.row_lower_, lp.row_upper_ = data.row_lo, data.row_hi
        csc = data.a.tocsc()
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
        lp.a_matrix_.index_ = csc.indices.astype(np.int32)
        lp.a_matrix_.value_ = csc.data.astype(np.float64)
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n_col, n_row
        self.is_mip = bool(data.integer.any())
        if self.is_mip:
            lp.integrality_ = [
                highspy.HighsVarType.kInteger if b else highspy.HighsVarType.kContinuous
                for b in data.integer
            ]
        h.passModel(lp)
        self._h, self._n = h, n_col
        self._last: np.ndarray = np.zeros(0, dtype=np.int32)
        self._stop: tuple[float, float] = (-math.inf, math.inf)
        if self.is_mip:
            h.cbMipInterrupt.subscribe(self._interrupt)

    def _interrupt(self, event: object) -> None:
        # stop as soon as the sign question is settled (only used when maximising)
        out = event.data_out  # type: ignore[attr-defined]
        below, above = self._stop
        # set the flag both ways: HiGHS keeps it between runs, so a flag left True by one
        # solve would interrupt the next one before it starts
        event.interrupt(
            bool(
                out.mip_dual_bound < below  # type: ignore[attr-defined]
                or out.mip_primal_bound >= above
            )
        )

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
        """Optimise; a maximising MIP stops early once its proven bound is below
        ``stop_below`` or a solution reaches ``stop_above``."""
        h, hs = self._h, self._hs
        self._stop = (stop_below, stop_above) if maximize else (-math.inf, math.inf)
        if self._last.size:
            h.changeColsCost(self._last.size, self._last, np.zeros(self._last.size))
        idx = np.asarray(idx, dtype=np.int32)
        h.changeColsCost(idx.size, idx, np.asarray(coef, dtype=np.float64))
        self._last = idx
        h.changeObjectiveOffset(float(const))
        h.changeObjectiveSense(hs.ObjSense.kMaximize if maximize else hs.ObjSense.kMinimize)
        h.setOptionValue("time_limit", max(float(time_limit), 1e-3))
        h.run()
        st = h.getModelStatus()
        info = h.getInfo()
        ms = hs.HighsModelStatus
        nodes = int(info.mip_node_count) if self.is_mip else 0
        sign = 1.0 if maximize else -1.0
        has_sol = int(info.primal_solution_status) == 2  # kSolutionStatusFeasible
        x = np.array(h.getSolution().col_value) if has_sol else None
        value = float(info.objective_function_value) if has_sol else None
        if st == ms.kOptimal:
            bound = float(info.mip_dual_bound) if self.is_mip else float(value or 0.0)
            if self.is_mip and not math.isfinite(bound):
                bound = float(value) if value is not None else sign * math.inf
            return Outcome(Status.OPTIMAL, value, bound, x, nodes)
        if st == ms.kInfeasible:
            return Outcome(Status.INFEASIBLE, None, -sign * math.inf, None, nodes)
        if st in (ms.kTimeLimit, ms.kInterrupt, ms.kIterationLimit, ms.kSolutionLimit):
            bound = float(info.mip_dual_bound) if self.is_mip else sign * math.inf
            if not math.isfinite(bound):
                bound = sign * math.inf
            return Outcome(Status.TIME_LIMIT, value, bound, x, nodes)
        return Outcome(Status.ERROR, None, sign * math.inf, None, nodes)


class GurobiSession:
    """Gurobi with fallback to HiGHS on the size-limited licence (error 10010)."""

    def __init__(self, data: ModelData, threads: int = 1, seed: int = 0) -> None:
        try:
            import gurobipy as gp
        except ImportError as exc:
            raise SolverError(
                "Backend.GUROBI needs gurobipy: pip install 'mlrobust[gurobi]', "
                "or use Backend.HIGHS."
            ) from exc
        self._gp = gp
        self._data, self._threads, self._seed = data, threads, seed
        self._fallback: HighsSession | None = None
        env = gp.Env(empty=True)
        env.setParam("OutputFlag", 0)
        env.start()
        m = gp.Model(env=env)
        m.Params.Threads, m.Params.Seed = int(threads), int(seed)
        vtype = np.where(data.integer, gp.GRB.INTEGER, gp.GRB.CONTINUOUS)
        self._x = m.addMVar(data.a.shape[1], lb=data.col_lo, ub=data.col_hi, vtype=vtype)
        fin_hi, fin_lo = np.isfinite(data.row_hi), np.isfinite(data.row_lo)
        eq = fin_hi & fin_lo & (data.row_hi == data.row_lo)
        for mask, sense, rhs in (
            (eq, "=", data.row_hi),
            (fin_hi & ~eq, "<", data.row_hi),
            (fin_lo & ~eq, ">", data.row_lo),
        ):
            if mask.any():
                m.addMConstr(data.a[mask], self._x, sense, rhs[mask])
        self._m = m

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
        if self._fallback is not None:
            return self._fallback.solve(
                idx, coef, const, maximize, time_limit, stop_below, stop_above
            )
        gp, m = self._gp, self._m
        c = np.zeros(self._data.a.shape[1])
        np.add.at(c, np.asarray(idx, dtype=np.int64), coef)
        m.setObjective(c @ self._x + float(const), gp.GRB.MAXIMIZE if maximize else gp.GRB.MINIMIZE)
        m.Params.TimeLimit = max(float(time_limit), 1e-3)
        if maximize:
            m.Params.BestBdStop = stop_below if math.isfinite(stop_below) else gp.GRB.INFINITY
            m.Params.BestObjStop = stop_above if math.isfinite(stop_above) else gp.GRB.INFINITY
        try:
            m.optimize()
        except gp.GurobiError as exc:
            if getattr(exc, "errno", None) == 10010:
                log.warning(
                    "Gurobi: model too large for the size-limited licence (error 10010); "
                    "falling back to HiGHS."
                )
                self._fallback = HighsSession(self._data, self._threads, self._seed)
                return self._fallback.solve(
                    idx, coef, const, maximize, time_limit, stop_below, stop_above
                )
            raise SolverError(f"Gurobi failed: {exc}") from exc
        sign = 1.0 if maximize else -1.0
        is_mip = bool(m.IsMIP)
        nodes = int(m.NodeCount) if is_mip else 0
        has = m.SolCount > 0
        x = np.array(self._x.X) if has else None
        value = float(m.ObjVal) if has else None
        if m.Status == gp.GRB.OPTIMAL:
            bound = float(m.ObjBound) if is_mip else float(value or 0.0)
            return Outcome(Status.OPTIMAL, value, bound, x, nodes)
        if m.Status in (gp.GRB.INFEASIBLE, gp.GRB.INF_OR_UNBD):
            return Outcome(Status.INFEASIBLE, None, -sign * math.inf, None, nodes)
        if m.Status in (gp.GRB.TIME_LIMIT, gp.GRB.USER_OBJ_LIMIT):
            bound = float(m.ObjBound) if is_mip else sign * math.inf
            return Outcome(Status.TIME_LIMIT, value, bound, x, nodes)
        return Outcome(Status.ERROR, None, sign * math.inf, None, nodes)


def open_session(
    data: ModelData, backend: Backend, threads: int = 1, seed: int = 0
) -> HighsSession | GurobiSession:
    """A solver session on ``data``."""
    if backend == Backend.GUROBI:
        return GurobiSession(data, threads, seed)
    return HighsSession(data, threads, seed)
