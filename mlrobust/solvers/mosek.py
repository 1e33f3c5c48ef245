"""MOSEK (``mosek``, its Task API), used when asked for. Without a licence every solve fails
(rescode 1008); that and a missing package raise
:class:`~mlrobust.solvers.model.Unavailable`, answered with HiGHS by
:func:`mlrobust.solvers.open_session`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlrobust.solvers.model import Backend, ModelData, Outcome, Status, Unavailable, no_bound

LICENCE_HINT = "a licence file is needed (MOSEKLM_LICENSE_FILE or ~/mosek/mosek.lic)"


class MosekSession:
    """One MOSEK task re-solved with changing objectives (``presolve`` is HiGHS's option and
    is ignored here)."""

    backend = Backend.MOSEK

    def __init__(
        self, data: ModelData, threads: int = 1, seed: int = 0, presolve: bool = True
    ) -> None:
        try:
            import mosek
        except ImportError as exc:
            raise Unavailable("MOSEK is not installed (pip install 'mlrobust[mosek]')") from exc
        self._mosek = mosek
        self._data = data
        try:
            task = mosek.Task()
            task.putintparam(mosek.iparam.num_threads, int(threads))
            n, m = data.n_cols, data.n_rows
            task.appendvars(n)
            task.appendcons(m)
            task.putvarboundslice(0, n, *_bounds(mosek, data.col_lo, data.col_hi))
            task.putconboundslice(0, m, *_bounds(mosek, data.row_lo, data.row_hi))
            csr = data.a.tocsr()
            task.putarowslice(
                0,
                m,
                csr.indptr[:-1].astype(np.int64),
                csr.indptr[1:].astype(np.int64),
                csr.indices.astype(np.int32),
                csr.data.astype(np.float64),
            )
            ints = np.flatnonzero(data.integer)
            if ints.size:
                task.putvartypelist(ints.tolist(), [mosek.variabletype.type_int] * ints.size)
        except mosek.Error as exc:
            raise Unavailable(f"MOSEK error {exc}; {LICENCE_HINT}") from exc
        self._task = task

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
        mosek, task, data = self._mosek, self._task, self._data
        c = np.zeros(data.n_cols)
        np.add.at(c, np.asarray(idx, dtype=np.int64), coef)
        task.putclist(list(range(data.n_cols)), c.tolist())
        task.putcfix(float(const))
        task.putobjsense(mosek.objsense.maximize if maximize else mosek.objsense.minimize)
        limit = max(float(time_limit), 1e-3)
        task.putdouparam(mosek.dparam.optimizer_max_time, limit)
        task.putdouparam(mosek.dparam.mio_max_time, limit)
        try:
            term = task.optimize()
        except mosek.Error as exc:  # rescode 1008 and friends: no usable licence
            raise Unavailable(f"MOSEK error {exc}; {LICENCE_HINT}") from exc
        mip = data.is_mip
        sol = mosek.soltype.itg if mip else mosek.soltype.bas
        if not task.solutiondef(sol):
            sol = mosek.soltype.itr
        status = task.getsolsta(sol) if task.solutiondef(sol) else mosek.solsta.unknown
        nodes = int(task.getintinf(mosek.iinfitem.mio_num_branch)) if mip else 0
        feasible = status in (
            mosek.solsta.optimal,
            mosek.solsta.integer_optimal,
            mosek.solsta.prim_feas,
            mosek.solsta.prim_and_dual_feas,
        )
        x = np.array(task.getxx(sol)) if feasible else None
        value = float(task.getprimalobj(sol)) if feasible else None
        if status in (mosek.solsta.optimal, mosek.solsta.integer_optimal):
            bound = (
                float(task.getdouinf(mosek.dinfitem.mio_obj_bound)) if mip else float(value or 0.0)
            )
            return Outcome(Status.OPTIMAL, value, bound, x, nodes, Backend.MOSEK)
        if status in (mosek.solsta.prim_infeas_cer, mosek.solsta.dual_infeas_cer):
            return Outcome(Status.INFEASIBLE, None, -no_bound(maximize), None, nodes, Backend.MOSEK)
        if term in (mosek.rescode.trm_max_time, mosek.rescode.trm_mio_num_branches):
            bound = (
                float(task.getdouinf(mosek.dinfitem.mio_obj_bound)) if mip else no_bound(maximize)
            )
            return Outcome(Status.TIME_LIMIT, value, bound, x, nodes, Backend.MOSEK)
        return Outcome(Status.ERROR, None, no_bound(maximize), None, nodes, Backend.MOSEK)


def _bounds(
    mosek: Any, lo: np.ndarray, hi: np.ndarray
) -> tuple[list[Any], list[float], list[float]]:
    """MOSEK bound keys and values for ``lo <= v <= hi`` (infinite ends are free)."""
    bk = mosek.boundkey
    keys, los, his = [], [], []
    for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
        fin_a, fin_b = math.isfinite(a), math.isfinite(b)
        if fin_a and fin_b:
            keys.append(bk.fx if a == b else bk.ra)
        elif fin_a:
            keys.append(bk.lo)
        elif fin_b:
            keys.append(bk.up)
        else:
            keys.append(bk.fr)
        los.append(a if fin_a else -1e30)
        his.append(b if fin_b else 1e30)
    return keys, los, his
