"""HiGHS (``highspy``): open source, installs everywhere, the default and the fallback.

Its Python API lets one model be re-solved with a new objective (the verifier's per-neuron bound
tightening does hundreds of such solves; ``scipy.optimize.milp`` would rebuild the model each
time), and it exposes the simplex basis, which MLA-LP's sifting uses to warm-start its
restricted LPs.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

import numpy as np

from mlrobust.solvers.model import Backend, ModelData, Outcome, Status, no_bound


class HighsSession:
    """One HiGHS model re-solved with changing objectives. ``presolve=False`` suits the dense,
    row-poor LPs of MLA-LP (presolve only cost time there, about 2x)."""

    backend = Backend.HIGHS

    def __init__(
        self, data: ModelData, threads: int = 1, seed: int = 0, presolve: bool = True
    ) -> None:
        import highspy

        self._hs = highspy
        h = new_highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", int(threads))
        h.setOptionValue("random_seed", int(seed))
        if not presolve:
            h.setOptionValue("presolve", "off")
        lp = highspy.HighsLp()
        n_col, n_row = data.n_cols, data.n_rows
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
        self.is_mip = data.is_mip
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

    def _interrupt(self, event: Any) -> None:
        # stop as soon as the sign question is settled (only used when maximising)
        out = event.data_out
        below, above = self._stop
        # an "off" stop is infinite and never fires (a minimisation without a solution yet has
        # a primal bound of +inf, which ">= inf" read as reached: it ended every minimising MIP
        # before its first solution). Set the flag both ways: HiGHS keeps it between runs, so
        # a flag left True by one solve would interrupt the next one before it starts
        stop = (math.isfinite(below) and out.mip_dual_bound < below) or (
            math.isfinite(above) and out.mip_primal_bound >= above
        )
        event.interrupt(bool(stop))

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
        # a column named twice gets the sum of its coefficients, as in the other backends
        # (changeColsCost refuses repeated columns and would leave every cost at zero)
        idx, at = np.unique(np.asarray(idx, dtype=np.int32), return_inverse=True)
        cost = np.zeros(idx.size)
        np.add.at(cost, at, np.asarray(coef, dtype=np.float64))
        h.changeColsCost(idx.size, idx, cost)
        self._last = idx
        h.changeObjectiveOffset(float(const))
        h.changeObjectiveSense(hs.ObjSense.kMaximize if maximize else hs.ObjSense.kMinimize)
        h.setOptionValue("time_limit", max(float(time_limit), 1e-3))
        h.run()
        st = h.getModelStatus()
        info = h.getInfo()
        ms = hs.HighsModelStatus
        nodes = int(info.mip_node_count) if self.is_mip else 0
        has_sol = int(info.primal_solution_status) == 2  # kSolutionStatusFeasible
        x = np.array(h.getSolution().col_value) if has_sol else None
        value = float(info.objective_function_value) if has_sol else None
        if st == ms.kOptimal:
            bound = float(info.mip_dual_bound) if self.is_mip else float(value or 0.0)
            if self.is_mip and not math.isfinite(bound):
                bound = float(value) if value is not None else no_bound(maximize)
            return Outcome(Status.OPTIMAL, value, bound, x, nodes)
        if st in (ms.kInfeasible, ms.kUnboundedOrInfeasible):
            return Outcome(Status.INFEASIBLE, None, -no_bound(maximize), None, nodes)
        if st in (ms.kTimeLimit, ms.kInterrupt, ms.kIterationLimit, ms.kSolutionLimit):
            bound = float(info.mip_dual_bound) if self.is_mip else no_bound(maximize)
            if not math.isfinite(bound):
                bound = no_bound(maximize)
            return Outcome(Status.TIME_LIMIT, value, bound, x, nodes)
        return Outcome(Status.ERROR, None, no_bound(maximize), None, nodes)

    def status_text(self) -> str:
        """HiGHS's own words for the last solve's status (for error messages)."""
        return str(self._h.modelStatusToString(self._h.getModelStatus()))

    # ---- simplex basis and duals (LPs; used by MLA-LP's sifting) ----
    def set_basis(self, col_status: list[Any], row_status: list[Any]) -> None:
        """Warm-start the next solve from these statuses (HiGHS repairs an inconsistent one)."""
        basis = self._hs.HighsBasis()
        basis.col_status = list(col_status)
        basis.row_status = list(row_status)
        basis.alien = True
        basis.valid = True
        self._h.setBasis(basis)

    def basis(self) -> tuple[list[Any], list[Any]]:
        """The last solve's column and row basis statuses."""
        out = self._h.getBasis()
        return list(out.col_status), list(out.row_status)

    def row_duals(self) -> np.ndarray:
        """The last solve's row duals ``[rows]`` (HiGHS's sign convention)."""
        return np.asarray(self._h.getSolution().row_dual)


_BANNER_SHOWN: list[bool] = []


def new_highs() -> Any:
    """A ``highspy.Highs`` object. highspy prints its banner on stdout when the first one of a
    process is built, before any option can be set, and stdout may carry answers another
    program parses (``mlrobust verify`` prints ``sat``/``unsat``): the first one is built with
    the process's standard output (file descriptor 1) pointed at /dev/null."""
    import highspy

    if _BANNER_SHOWN:
        return highspy.Highs()
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _BANNER_SHOWN.append(True)
    return h


def basis_status(name: str) -> Any:
    """A HiGHS basis status by name (``"basic"``, ``"lower"``, ``"upper"``)."""
    import highspy

    st = highspy.HighsBasisStatus
    return {"basic": st.kBasic, "lower": st.kLower, "upper": st.kUpper}[name]
