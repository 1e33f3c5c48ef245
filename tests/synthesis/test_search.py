"""Exact answers on a linear model, and soundness checks of both searches."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mlrobust.errors import InputError
from mlrobust.synthesis import (
    CuttingWeights,
    OracleConfig,
    Stage,
    SynthesisConfig,
    check,
    fixed_cutting_weights,
    guided_synthesis,
    layer_map,
    layer_sums,
    make_problem,
    naive_synthesis,
    sensitivity_cutting_weights,
)
from mlrobust.synthesis.oracle import CallCounts
from mlrobust.verdicts import Verdict
from mlrobust.verify.verifier import VerifierConfig
from tests.conftest import NO_LIMIT_S

H, W = 6, 8


def _linear_problem(seed: int = 0):  # type: ignore[no-untyped-def]
    """Two labels, top-1: label 0 stays on top iff v . x' + b < 0 with v = w_1 - w_0, so over a
    layered box (x = 0.5, radii < 0.5: no clipping) the max is v.x + b + sum_d eps_d S_d with
    S_d = sum_{p in layer d} |v_p|: robust iff sum_d eps_d S_d < m = -(v.x + b)."""
    g = torch.Generator().manual_seed(seed)
    lin = nn.Linear(H * W, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(2, H * W, generator=g) * 0.3)
        lin.bias.copy_(torch.tensor([1.5, 0.0]))
    # float32: MLAU's best-loss buffer is float32 (a float64 model fails there, reported)
    model = nn.Sequential(nn.Flatten(), lin)
    x = torch.full((1, H, W), 0.5)
    mask = torch.zeros(H, W, dtype=torch.bool)
    mask[2:4, 5:7] = True
    lm = layer_map(mask)
    prob = make_problem(model, x, 0, lm, k=1)
    wt, b = lin.weight.detach().double(), lin.bias.detach().double()
    v = wt[1] - wt[0]
    s = layer_sums(v.abs().reshape(H, W), lm)
    m = -float(v @ x.flatten().double() + b[1] - b[0])
    return prob, s, m


def _fast(**kw) -> SynthesisConfig:  # type: ignore[no-untyped-def]
    oracle = OracleConfig(k=1, attack_steps=30, milp=VerifierConfig(timeout_s=NO_LIMIT_S))
    return SynthesisConfig(
        oracle=oracle, eps_max=0.45, final_milp=VerifierConfig(timeout_s=NO_LIMIT_S), **kw
    )


def _optimum(s: torch.Tensor, m: float, cap: float) -> float:
    """Fractional knapsack: max sum eps s.t. sum eps_d S_d <= m, 0 <= eps_d <= cap."""
    left, total = m, 0.0
    for sd in sorted(s.tolist()):
        e = min(cap, left / sd)
        total, left = total + e, left - e * sd
    return total


def test_oracle_matches_closed_form() -> None:
    prob, s, m = _linear_problem()
    cfg = _fast().oracle
    n = prob.depth + 1
    for scale, robust in ((0.95, True), (1.05, False)):
        eps = torch.full((n,), scale * m / float(s.sum()), dtype=torch.float64)
        res = check(prob, eps, cfg, CallCounts())
        assert (res.verdict is Verdict.VERIFIED) == robust
        if not robust:
            assert res.verdict is Verdict.FALSIFIED and res.counterexample is not None
            assert not prob.holds_at(res.counterexample)
            assert prob.box(eps).contains(res.counterexample, prob.x, tol=1e-6)


def test_naive_finds_closed_form_first_layer() -> None:
    prob, s, m = _linear_problem()
    res = naive_synthesis(prob, _fast(bisections=8))
    assert float(res.eps @ s) < m  # certified: closed form agrees
    res_step = 0.45 / 2**8
    assert abs(float(res.eps[0]) - min(m / float(s[0]), 0.45)) <= res_step + 1e-9
    assert res.final_verdict is Verdict.VERIFIED
    assert res.calls.attack + res.calls.crown > 0


@pytest.mark.parametrize("cutting", list(CuttingWeights))
def test_guided_is_sound_and_near_optimal(cutting: CuttingWeights) -> None:
    prob, s, m = _linear_problem(1)
    res = guided_synthesis(prob, _fast(cutting=cutting, max_calls=40))
    assert float(res.eps @ s) < m
    assert res.final_verdict is Verdict.VERIFIED
    assert res.size <= _optimum(s, m, 0.45) + 1e-9
    assert res.size >= 0.5 * _optimum(s, m, 0.45)
    if res.upper_eps is not None:  # every falsified candidate is really not robust
        assert float(res.upper_eps @ s) >= m - 1e-9
        assert res.counterexample is not None and not prob.holds_at(res.counterexample)
        assert prob.box(res.upper_eps).contains(res.counterexample, prob.x, tol=1e-6)


def test_guided_beats_naive_on_calls_at_equal_size() -> None:
    prob, _, _ = _linear_problem(2)
    naive = naive_synthesis(prob, _fast(bisections=6))
    guided = guided_synthesis(prob, _fast(max_calls=30))
    assert guided.size >= 0.9 * naive.size
    assert guided.candidates < naive.candidates
    for res in (naive, guided):  # the progress log: sizes grow, MILP counts never fall
        sizes = [size for _, size in res.progress]
        calls = [c for c, _ in res.progress]
        assert sizes == sorted(set(sizes)) and calls == sorted(calls)
        assert sizes[-1] == pytest.approx(res.size) and calls[-1] <= res.calls.milp
        assert res.milp_calls_to_reach(0.0) == 0
        assert res.milp_calls_to_reach(res.size) == calls[-1]
        assert res.milp_calls_to_reach(res.size + 1e-6) is None
    reach = guided.milp_calls_to_reach(0.9 * naive.size)
    assert reach is not None and reach <= guided.calls.milp


def test_unknown_is_not_robust_without_milp() -> None:
    prob, s, m = _linear_problem()
    cfg = OracleConfig(k=1, stages=(Stage.CROWN,))
    # the CROWN bound of a linear model is exact, so push just beyond it: no stage can prove it
    eps = torch.full((prob.depth + 1,), 1.01 * m / float(s.sum()), dtype=torch.float64)
    assert check(prob, eps, cfg, CallCounts()).verdict is Verdict.UNKNOWN


def test_cutting_weights() -> None:
    assert fixed_cutting_weights(3).tolist() == [0.75, 0.5, 0.25, 0.0]
    prob, _, _ = _linear_problem()
    sw = sensitivity_cutting_weights(prob)
    assert sw.shape == (prob.depth + 1,)
    assert float(sw.min()) == 0.0 and float(sw.max()) <= prob.depth / (prob.depth + 1)


def test_target_must_be_predicted() -> None:
    prob, _, _ = _linear_problem()
    with pytest.raises(InputError, match="not in the model's top-1"):
        make_problem(prob.model, prob.x, 1, prob.layers, k=1)


def test_small_cnn_top2_counterexamples_reproduce() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 3 * 4, 5)
    )
    x = torch.rand(1, H, W)
    mask = torch.zeros(H, W, dtype=torch.bool)
    mask[1:3, 1:3] = True
    with torch.no_grad():
        target = int(model(x.unsqueeze(0)).argmax())
    prob = make_problem(model, x, target, layer_map(mask), k=2)
    oracle = OracleConfig(milp=VerifierConfig(timeout_s=NO_LIMIT_S))
    res = guided_synthesis(
        prob,
        SynthesisConfig(
            oracle=oracle, max_calls=15, final_milp=VerifierConfig(timeout_s=NO_LIMIT_S)
        ),
    )
    assert res.final_verdict is Verdict.VERIFIED
    assert res.size > 0
    if res.counterexample is not None:
        assert not prob.holds_at(res.counterexample)
        assert res.upper_eps is not None
        assert prob.box(res.upper_eps).contains(res.counterexample, prob.x, tol=1e-6)


def test_cli_writes_heatmap_and_csv(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from mlrobust.cli.main import app

    out = CliRunner().invoke(
        app,
        [
            "layered",
            "--model",
            "double_mnist_none",
            "--n",
            "1",
            "--max-calls",
            "2",
            "--milp-timeout",
            "1",
            "--time-limit",
            "10",
            "--out",
            str(tmp_path),
        ],
    )
    assert out.exit_code == 0, out.output
    assert "w.eps" in out.output
    assert len(list(tmp_path.glob("layered_*.png"))) == 1
    assert (tmp_path / "layered.csv").read_text().count("\n") == 2
    bad = CliRunner().invoke(app, ["layered", "--cutting", "nope"])
    assert bad.exit_code != 0
