"""Gurobi (``gurobipy``), used when asked for. The licence-free pip build solves models of up to
2000 variables and 2000 constraints and fails beyond with error 10010; that, a missing package
or any other Gurobi error raises :class:`~mlrobust.solvers.model.Unavailable`, which
:func:`mlrobust.solvers.open_session` answers with HiGHS."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlrobust.solvers.model import Backend, ModelData, Outcome, Status, Unavailable, no_bound

#: rows and columns the licence-free gurobipy build accepts
SIZE_LIMIT = 2000
#: set once a model failed with error 10010: later models over the limit skip the attempt
_size_limited: list[bool] = []


def over_size_limit(data: ModelData) -> bool:
    """Whether this model is known to exceed the installed (size-limited) licence."""
    return bool(_size_limited) and (data.n_cols > SIZE_LIMIT or data.n_rows > SIZE_LIMIT)


class GurobiSession:
    """One Gurobi model re-solved with changing objectives (``presolve`` is HiGHS's option and
    is ignored here)."""

    backend = Backend.GUROBI

    def __init__(
        self, data: ModelData, threads: int = 1, seed: int = 0, presolve: bool = True
    ) -> None:
        try:
            import gurobipy as gp
        except ImportError as exc:
            raise Unavailable("gurobipy is not installed (pip install 'mlrobust[gurobi]')") from exc
        if over_size_limit(data):
            raise Unavailable(
                f"model ({data.n_rows} rows, {data.n_cols} columns) is over the "
                "size-limited licence (error 10010)"
            )
        self._gp = gp
        self._data = data
        try:
            env = gp.Env(empty=True)
            env.setParam("OutputFlag", 0)
            env.start()
            m = gp.Model(env=env)
            m.Params.Threads, m.Params.Seed = int(threads), int(seed)
            vtype = np.where(data.integer, gp.GRB.INTEGER, gp.GRB.CONTINUOUS)
            self._x = m.addMVar(data.n_cols, lb=data.col_lo, ub=data.col_hi, vtype=vtype)
            fin_hi, fin_lo = np.isfinite(data.row_hi), np.isfinite(data.row_lo)
            eq = fin_hi & fin_lo & (data.row_hi == data.row_lo)
            for mask, sense, rhs in (
                (eq, "=", data.row_hi),
                (fin_hi & ~eq, "<", data.row_hi),
                (fin_lo & ~eq, ">", data.row_lo),
            ):
                if mask.any():
                    m.addMConstr(data.a[mask], self._x, sense, rhs[mask])
        except gp.GurobiError as exc:
            raise _unavailable(exc, data) from exc
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
        gp, m = self._gp, self._m
        c = np.zeros(self._data.n_cols)
        np.add.at(c, np.asarray(idx, dtype=np.int64), coef)
        m.setObjective(c @ self._x + float(const), gp.GRB.MAXIMIZE if maximize else gp.GRB.MINIMIZE)
        m.Params.TimeLimit = max(float(time_limit), 1e-3)
        # the stops are model parameters, kept between solves: set both on every solve, to the
        # defaults (off) unless maximising with a finite stop. Left as they were, a minimising
        # solve after a maximising one stopped at its first feasible solution (BestObjStop =
        # inf reads "any objective <= inf"), so every refinement's lower-bound MIP gave up at
        # once with a weak (sound) bound.
        below = stop_below if maximize and math.isfinite(stop_below) else gp.GRB.INFINITY
        above = stop_above if maximize and math.isfinite(stop_above) else -gp.GRB.INFINITY
        m.Params.BestBdStop, m.Params.BestObjStop = below, above
        try:
            m.optimize()
        except gp.GurobiError as exc:
            raise _unavailable(exc, self._data) from exc
        is_mip = bool(m.IsMIP)
        nodes = int(m.NodeCount) if is_mip else 0
        has = m.SolCount > 0
        x = np.array(self._x.X) if has else None
        value = float(m.ObjVal) if has else None
        if m.Status == gp.GRB.OPTIMAL:
            bound = float(m.ObjBound) if is_mip else float(value or 0.0)
            return Outcome(Status.OPTIMAL, value, bound, x, nodes, Backend.GUROBI)
        if m.Status in (gp.GRB.INFEASIBLE, gp.GRB.INF_OR_UNBD):
            return Outcome(
                Status.INFEASIBLE, None, -no_bound(maximize), None, nodes, Backend.GUROBI
            )
        if m.Status in (gp.GRB.TIME_LIMIT, gp.GRB.USER_OBJ_LIMIT):
            bound = float(m.ObjBound) if is_mip else no_bound(maximize)
            return Outcome(Status.TIME_LIMIT, value, bound, x, nodes, Backend.GUROBI)
        return Outcome(Status.ERROR, None, no_bound(maximize), None, nodes, Backend.GUROBI)


def _unavailable(exc: Any, data: ModelData) -> Unavailable:
    errno = getattr(exc, "errno", None)
    if errno == 10010:
        _size_limited.append(True)
        return Unavailable(
            f"model ({data.n_rows} rows, {data.n_cols} columns) is over the "
            "size-limited licence (error 10010)"
        )
    return Unavailable(f"Gurobi error {errno}: {exc}")
