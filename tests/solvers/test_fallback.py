"""The one solver layer: every backend answers the same model alike, and a backend that cannot
solve a model (not installed, unlicensed, over Gurobi's licence-free size limit) falls back to
HiGHS in one place, with one warning per reason."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import scipy.sparse as sp

from mlrobust.errors import SolverError
from mlrobust.solvers import Backend, ModelData, Status, fallbacks, open_session


def _box_lp(n: int) -> ModelData:
    """max sum(c x) s.t. sum(x) <= 1, 0 <= x <= 1: the optimum is max(c)."""
    return ModelData(
        sp.csr_matrix(np.ones((1, n))),
        np.array([-np.inf]),
        np.array([1.0]),
        np.zeros(n),
        np.ones(n),
        np.zeros(n, dtype=bool),
    )


def _gurobi_is_size_limited() -> bool:
    import gurobipy as gp

    try:
        m = gp.Model()
        m.Params.OutputFlag = 0
        m.addVars(3000)
        m.optimize()
    except gp.GurobiError:
        return True
    return False


@pytest.mark.parametrize("backend", list(Backend))
def test_a_column_named_twice_in_the_objective_gets_the_sum_of_its_coefficients(
    backend: Backend,
) -> None:
    # HiGHS refuses repeated columns in one cost change and left every cost at zero: the
    # optimum read 0.5 (the constant), below the true 1.5
    out = open_session(_box_lp(3), backend).solve(
        np.array([1, 1, 2]), np.array([0.6, 0.4, 0.2]), 0.5, True, 10.0
    )
    assert out.status is Status.OPTIMAL and out.value == pytest.approx(1.0 + 0.5)


@pytest.mark.parametrize("backend", list(Backend))
def test_every_backend_gives_the_optimum_of_a_small_lp_and_milp(backend: Backend) -> None:
    n = 5
    c = np.array([0.3, 1.7, 0.2, 1.1, 0.9])
    lp = open_session(_box_lp(n), backend).solve(np.arange(n), c, 0.5, True, 10.0)
    assert lp.status is Status.OPTIMAL and lp.value == pytest.approx(1.7 + 0.5)
    data = _box_lp(n)
    mip = ModelData(
        data.a,
        np.array([-np.inf]),
        np.array([2.0]),
        data.col_lo,
        data.col_hi,
        np.ones(n, dtype=bool),
    )
    out = open_session(mip, backend).solve(np.arange(n), c, 0.0, True, 10.0)
    assert out.status is Status.OPTIMAL and out.value == pytest.approx(1.7 + 1.1)
    assert out.bound == pytest.approx(out.value, abs=1e-6)


def test_gurobi_over_its_size_limit_falls_back_once_with_one_warning(caplog) -> None:
    pytest.importorskip("gurobipy")
    limited = _gurobi_is_size_limited()
    n = 3000
    c = np.linspace(0.0, 1.0, n)
    before = fallbacks()
    with caplog.at_level(logging.DEBUG, logger="mlrobust.solvers"):
        for _ in range(2):
            session = open_session(_box_lp(n), Backend.GUROBI)
            out = session.solve(np.arange(n), c, 0.0, True, 10.0)
            assert out.value == pytest.approx(1.0)
            assert session.backend is (Backend.HIGHS if limited else Backend.GUROBI)
    after = fallbacks()
    new = sum(after.values()) - sum(before.values())
    assert new == (2 if limited else 0)
    if limited:
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        # at most one warning for the reason (none if an earlier test already warned)
        assert len(warnings) <= 1
        assert all(
            "gurobi cannot solve this model" in r.getMessage()
            for r in caplog.records
            if "cannot solve" in r.getMessage()
        )
        assert any("error 10010" in r.getMessage() for r in caplog.records)


def test_mosek_without_a_licence_or_package_falls_back_or_names_itself() -> None:
    n = 4
    c = np.array([1.0, 3.0, 2.0, 0.0])
    session = open_session(_box_lp(n), Backend.MOSEK)
    out = session.solve(np.arange(n), c, 0.0, True, 10.0)
    assert out.value == pytest.approx(3.0)
    if session.backend is Backend.HIGHS:  # not installed or not licensed here
        with pytest.raises(SolverError, match="mosek cannot solve this model"):
            open_session(_box_lp(n), Backend.MOSEK, fallback=False).solve(
                np.arange(n), c, 0.0, True, 10.0
            )


def test_an_infeasible_model_is_reported_as_such() -> None:
    data = ModelData(
        sp.csr_matrix(np.ones((1, 2))),
        np.array([3.0]),
        np.array([np.inf]),
        np.zeros(2),
        np.ones(2),
        np.zeros(2, dtype=bool),
    )
    out = open_session(data).solve(np.arange(2), np.ones(2), 0.0, True, 5.0)
    assert out.status is Status.INFEASIBLE and out.value is None and out.x is None
