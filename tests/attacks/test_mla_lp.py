import logging
from dataclasses import replace

import numpy as np
import pytest
import torch

from mlrobust.attacks import MLALP, AttackGoal, LPForm, LPMethod, MLALPConfig, solve_min_linf
from mlrobust.attacks.lp_sifting import sift_min_linf
from mlrobust.errors import InputError, SolverError
from mlrobust.solvers import Backend
from mlrobust.threats import LinfBall
from tests.attacks.helpers import linear_model, tiny_cnn, two_label_linear


def _random_lp(m=6, d=40, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(m, d))
    b = rng.uniform(0.1, 1.0, size=m)
    b[:2] = -1.0
    return a, b


@pytest.mark.parametrize("solver", [Backend.HIGHS, Backend.GUROBI])
def test_homogeneous_and_naive_forms_agree(solver):
    a, b = _random_lp()
    naive = solve_min_linf(a, b, solver=solver, form=LPForm.NAIVE)
    homog = solve_min_linf(a, b, solver=solver, form=LPForm.HOMOGENEOUS)
    assert naive.feasible and homog.feasible
    assert np.abs(homog.r).max() == pytest.approx(np.abs(naive.r).max(), rel=1e-7)
    assert (a @ homog.r - b).max() <= 1e-9


def test_closed_form_single_row():
    # min ||r||_inf s.t. w.r <= -c has optimum c / ||w||_1
    w = np.array([[1.0, -2.0, 0.5]])
    sol = solve_min_linf(w, np.array([-0.7]))
    assert np.abs(sol.r).max() == pytest.approx(0.7 / 3.5)


def test_infeasible_lp_reported():
    a = np.array([[1.0, 0.0], [-1.0, 0.0]])
    sol = solve_min_linf(a, np.array([-1.0, -1.0]))
    assert not sol.feasible and not sol.r.any()


def test_mosek_without_licence_falls_back_or_errors():
    from mlrobust.solvers import fallbacks

    a, b = _random_lp()
    before = sum(n for (backend, _), n in fallbacks().items() if backend is Backend.MOSEK)
    sol = solve_min_linf(a, b, solver=Backend.MOSEK)
    after = sum(n for (backend, _), n in fallbacks().items() if backend is Backend.MOSEK)
    assert sol.solver is Backend.HIGHS and after == before + 1  # counted by the solver layer
    with pytest.raises(SolverError, match="mosek"):
        solve_min_linf(a, b, solver=Backend.MOSEK, fallback=False)


def test_gurobi_over_size_limit_falls_back():
    pytest.importorskip("gurobipy")
    a, b = _random_lp(m=3, d=2500)
    sol = solve_min_linf(a, b, solver=Backend.GUROBI)
    assert sol.feasible and sol.solver is Backend.HIGHS


def test_linear_model_reaches_the_closed_form_radius():
    model, x = two_label_linear()  # minimal l_inf to flip label 0 is 0.1
    goal = AttackGoal(torch.tensor([[True, False]]))
    res = MLALP()(model, x, goal, LinfBall(1.0))
    assert res.success.item()
    linf = float((res.x_adv - x).abs().max())
    # by hand: LP 1 (BCE linearised, t = 0.5) steps 0.092 and leaves logit 0.032; t drops to
    # 0.45 and LP 2 steps 0.055 more: 0.147 in all, never below the true optimum 0.1
    assert linf == pytest.approx(0.147, abs=2e-3)
    assert not MLALP()(model, x, goal, LinfBall(0.09)).success.item()


def test_row_generation_matches_all_rows():
    model = tiny_cnn(6, seed=4)
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    goal = AttackGoal.random(3, 6, size=1, seed=3)
    gen = MLALP(MLALPConfig(initial_rows=0))(model, x, goal, LinfBall(1.0))
    full = MLALP(MLALPConfig(row_generation=False))(model, x, goal, LinfBall(1.0))
    assert torch.equal(gen.success, full.success)
    assert torch.allclose(gen.x_adv, full.x_adv, atol=1e-4)


def test_many_labels_few_rows():
    # 300 labels, one target: row generation builds only a few Jacobian rows
    torch.manual_seed(0)
    w = torch.randn(300, 16) * 0.1
    model = linear_model(w, torch.zeros(300))
    x = torch.rand(1, 1, 4, 4)
    clean = model(x)[0]
    target = int(clean.abs().argmin())
    goal = AttackGoal.from_indices([[target]], num_labels=300)
    res = MLALP()(model, x, goal, LinfBall(1.0))
    assert res.success.item()


# ----------------------------------------------------------------------------- sifting
def _wide_lp(m, d, seed, negatives=2):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(m, d))
    b = rng.uniform(0.1, 1.0, size=m)
    b[:negatives] = -rng.uniform(0.5, 2.0, size=negatives)
    return a, b


@pytest.mark.parametrize(
    ("m", "d", "seed"), [(3, 500, 0), (8, 2000, 1), (20, 3000, 2), (40, 1500, 3)]
)
def test_sifting_matches_simplex(m, d, seed):
    a, b = _wide_lp(m, d, seed, negatives=min(m, 4))
    simplex = solve_min_linf(a, b, method=LPMethod.SIMPLEX)
    sift = solve_min_linf(a, b, method=LPMethod.SIFTING)
    z = np.abs(simplex.r).max()
    assert sift.feasible and sift.rounds >= 1
    assert np.abs(sift.r).max() == pytest.approx(z, rel=1e-6)
    assert (a @ sift.r - b).max() <= 1e-8 * (1 + np.abs(b).max())
    # the certificate: the weak-duality bound meets the feasible point
    assert sift.lower_bound == pytest.approx(z, rel=1e-6) and sift.gap <= 1e-8 * z
    assert sift.dual is not None and sift.dual.shape == (m,) and (sift.dual >= 0).all()


def test_sifting_warm_start_with_added_rows():
    a, b = _wide_lp(12, 2500, 4)
    first = solve_min_linf(a[:6], b[:6], method=LPMethod.SIFTING)
    start = np.concatenate([first.dual, np.zeros(6)])
    warm = solve_min_linf(a, b, method=LPMethod.SIFTING, dual_start=start)
    cold = solve_min_linf(a, b, method=LPMethod.SIMPLEX)
    assert np.abs(warm.r).max() == pytest.approx(np.abs(cold.r).max(), rel=1e-6)
    with pytest.raises(InputError, match="dual_start"):
        solve_min_linf(a, b, method=LPMethod.SIFTING, dual_start=first.dual)


def test_sifting_infeasible_and_trivial():
    a = np.array([[1.0, 0.0], [-1.0, 0.0]])
    sol = solve_min_linf(a, np.array([-1.0, -1.0]), method=LPMethod.SIFTING)
    assert not sol.feasible and not sol.r.any()
    ok = solve_min_linf(a, np.array([0.5, 0.0]), method=LPMethod.SIFTING)
    assert ok.feasible and not ok.r.any()


def test_sifting_round_limit_returns_certified_feasible_point(caplog):
    a, b = _wide_lp(10, 3000, 5)
    with caplog.at_level(logging.DEBUG, logger="mlrobust.attacks.lp_sifting"):  # DEBUG: folded
        sol = sift_min_linf(a, b, max_rounds=2)
    z_opt = np.abs(solve_min_linf(a, b, method=LPMethod.SIMPLEX).r).max()
    z = np.abs(sol.r).max()
    assert sol.feasible and (a @ sol.r - b).max() <= 1e-8
    assert sol.lower_bound <= z_opt * (1 + 1e-9) and z >= z_opt * (1 - 1e-9)
    assert z - sol.lower_bound == pytest.approx(sol.gap)
    if sol.gap > 0:
        assert "stopped early" in caplog.text


def test_attack_sifting_and_simplex_agree():
    model = tiny_cnn(6, seed=5)
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(6))
    goal = AttackGoal.random(2, 6, size=1, seed=7)
    runs = [
        MLALP(MLALPConfig(method=m))(model, x, goal, LinfBall(1.0))
        for m in (LPMethod.SIFTING, LPMethod.SIMPLEX)
    ]
    assert torch.equal(runs[0].success, runs[1].success)
    assert torch.allclose(runs[0].x_adv, runs[1].x_adv, atol=1e-4)


def test_a_warm_start_in_trouble_is_solved_again_cold(monkeypatch):
    """HiGHS answered status Unknown on a warm-started restricted LP (issue: one sample's
    trouble crashed a whole attack run); the LP is then solved again from scratch."""
    import mlrobust.attacks.lp_sifting as sifting
    from mlrobust.solvers import Status

    real = sifting.HighsSession
    warm_calls: list[bool] = []

    class Troubled(real):  # type: ignore[misc, valid-type]
        def __init__(self, model, presolve=True):  # type: ignore[no-untyped-def]
            super().__init__(model, presolve=presolve)
            self.warm = not presolve

        def solve(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            out = super().solve(*args, **kwargs)
            warm_calls.append(self.warm)
            return replace(out, status=Status.ERROR, x=None) if self.warm else out

    monkeypatch.setattr(sifting, "HighsSession", Troubled)
    a, b = _wide_lp(8, 2000, 1, negatives=4)
    sift = solve_min_linf(a, b, method=LPMethod.SIFTING)
    simplex = solve_min_linf(a, b, method=LPMethod.SIMPLEX)
    assert True in warm_calls and False in warm_calls  # the trouble happened, then the retry
    assert np.abs(sift.r).max() == pytest.approx(np.abs(simplex.r).max(), rel=1e-6)


def test_a_solver_error_costs_only_its_sample(monkeypatch, caplog):
    model = tiny_cnn(6, seed=5)
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(6))
    goal = AttackGoal.random(3, 6, size=1, seed=7)
    attack = MLALP(MLALPConfig())
    clean = attack(model, x, goal, LinfBall(0.5))
    assert clean.success.all()  # every sample is fooled without trouble
    real = MLALP._attack_one

    def sample_1_fails(self, ctx, i):  # type: ignore[no-untyped-def]
        if i == 1:
            raise SolverError("HiGHS stopped with status Unknown (scripted)")
        return real(self, ctx, i)

    monkeypatch.setattr(MLALP, "_attack_one", sample_1_fails)
    with caplog.at_level(logging.WARNING):
        res = attack(model, x, goal, LinfBall(0.5))
    assert res.success.tolist() == [True, False, True]
    assert torch.equal(res.x_adv[1], x[1])
    assert "1 of 3 samples failed" in caplog.text and "sample 1: HiGHS" in caplog.text


def test_unsolved_lps_are_one_summary_line_per_call(monkeypatch, caplog):
    import mlrobust.attacks.mla_lp as mla_lp

    real = mla_lp.solve_min_linf

    def stopped_early(*args, **kwargs):  # type: ignore[no-untyped-def]
        sol = real(*args, **kwargs)
        return replace(sol, lower_bound=-1.0)  # a gap of at least 1: not solved

    monkeypatch.setattr(mla_lp, "solve_min_linf", stopped_early)
    model = tiny_cnn(6, seed=5)
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(6))
    goal = AttackGoal.random(3, 6, size=1, seed=7)
    with caplog.at_level(logging.WARNING):
        MLALP(MLALPConfig())(model, x, goal, LinfBall(0.5))
    lines = [r for r in caplog.records if "not solved to optimality" in r.getMessage()]
    assert len(lines) == 1 and "3 LP(s)" in lines[0].getMessage()
