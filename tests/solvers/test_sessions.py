"""Solver sessions: an early-stopped MIP must not spoil the next solve of the same session."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mlrobust.solvers import Backend, HighsSession, ModelData, Status, open_session


def _knapsack(n: int, seed: int) -> ModelData:
    rng = np.random.default_rng(seed)
    w = rng.uniform(1.0, 3.0, size=(1, n))
    return ModelData(
        sp.csr_matrix(w),
        np.array([-np.inf]),
        np.array([n / 2.0]),
        np.zeros(n),
        np.ones(n),
        np.ones(n, dtype=bool),
    )


@pytest.mark.parametrize("seed", range(3))
def test_an_interrupted_solve_leaves_the_next_one_intact(seed: int) -> None:
    data = _knapsack(30, seed)
    values = np.random.default_rng(seed + 10).uniform(0.5, 2.0, size=30)
    other = np.random.default_rng(seed + 20).uniform(0.5, 2.0, size=30)
    idx = np.arange(30)
    fresh = HighsSession(data).solve(idx, other, 0.0, True, 30.0)
    assert fresh.status == Status.OPTIMAL
    session = HighsSession(data)
    # maximise sum(v x) but stop at the first solution reaching 0.1: interrupted early
    first = session.solve(idx, values, 0.0, True, 30.0, stop_above=0.1)
    assert first.status == Status.TIME_LIMIT and first.value is not None and first.value >= 0.1
    again = session.solve(idx, other, 0.0, True, 30.0)
    assert again.status == Status.OPTIMAL
    assert again.value == pytest.approx(fresh.value, abs=1e-6)


@pytest.mark.parametrize("backend", [Backend.HIGHS, Backend.GUROBI])
def test_a_minimising_solve_after_maximising_ones_is_not_stopped_early(backend: Backend) -> None:
    """Stops asked for by a maximising solve (or their "off" values) must not carry over to a
    minimising one: Gurobi keeps them as model parameters, and an "off" BestObjStop of +inf
    stopped the next minimisation at its first feasible solution."""
    if backend is Backend.GUROBI:
        pytest.importorskip("gurobipy")
    data = _knapsack(30, 0)
    idx = np.arange(30)
    cost = -np.random.default_rng(7).uniform(0.5, 2.0, size=30)  # minimum < 0: not x = 0
    fresh = open_session(data, backend).solve(idx, cost, 0.0, False, 30.0)
    assert fresh.status == Status.OPTIMAL and fresh.value is not None and fresh.value < 0
    session = open_session(data, backend)
    for stops in ((), (-1.0, 0.1)):
        session.solve(idx, -cost, 0.0, True, 30.0, *stops)
        again = session.solve(idx, cost, 0.0, False, 30.0)
        assert again.status == Status.OPTIMAL, (stops, again)
        assert again.value == pytest.approx(fresh.value, abs=1e-6)
