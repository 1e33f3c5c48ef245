from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from mlrobust.solvers import Backend
from mlrobust.threats import LinfBall
from mlrobust.verdicts import Verdict
from mlrobust.verify import verifier as verifier_module
from mlrobust.verify.bounds import crown_bounds
from mlrobust.verify.from_torch import from_torch
from mlrobust.verify.ir import DTYPE
from mlrobust.verify.milp import Tightening, TighteningConfig, tighten
from mlrobust.verify.oracle import TorchOracle
from mlrobust.verify.spec import Clause, OutputSpec, pairwise_topk_specs, top1_spec, topk_spec
from mlrobust.verify.verifier import MILPVerifier, VerifierConfig, verify
from tests.conftest import NO_LIMIT_S
from tests.verify.exact import exact_max
from tests.verify.helpers import EXACT, mlp_case, mlp_radius, random_convnet, random_mlp
from tests.verify.reference import assert_witness

NO_ATTACK = VerifierConfig(attack_steps=0, timeout_s=NO_LIMIT_S)


def _abs_net() -> nn.Sequential:
    # f(x) = relu(x) + relu(-x) = |x|, then g = (|x|, 1)
    lin1 = nn.Linear(1, 2)
    lin2 = nn.Linear(2, 2)
    with torch.no_grad():
        lin1.weight.copy_(torch.tensor([[1.0], [-1.0]]))
        lin1.bias.zero_()
        lin2.weight.copy_(torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
        lin2.bias.copy_(torch.tensor([0.0, 1.0]))
    return nn.Sequential(lin1, nn.ReLU(), lin2).double().eval()


@pytest.mark.parametrize("level", list(Tightening))
def test_exact_answers_on_abs_net(level: Tightening) -> None:
    model = _abs_net()
    net = from_torch(model, (1,))
    oracle = TorchOracle(model, (1,))
    lo, hi = torch.tensor([-1.0], dtype=DTYPE), torch.tensor([2.0], dtype=DTYPE)
    # spec "y0 >= 2.5" (|x| <= 2 on the box): must be verified, bound exactly -0.5
    cfg = VerifierConfig(attack_steps=0, tightening=level, exact_objective=True)
    never = OutputSpec((Clause(torch.tensor([[1.0, 0.0]]), torch.tensor([-2.5]), 1),), 2)
    res = verify(net, lo, hi, [never], oracle, cfg)[0]
    assert res.verdict == Verdict.VERIFIED
    assert res.objective_bound == pytest.approx(-0.5, abs=1e-6)
    assert res.objective_value == pytest.approx(-0.5, abs=1e-6)
    assert res.weakest_point is not None and res.weakest_point.item() == pytest.approx(2.0)
    # top-1 of label 1 (constant 1): |x| reaches 1 at x = -1 and x >= 1 -> falsified, re-checked
    res = verify(net, lo, hi, [top1_spec(1, 2)], oracle, cfg)[0]
    assert res.verdict == Verdict.FALSIFIED
    x = res.counterexample
    assert x is not None and abs(x.item()) >= 1.0
    assert_witness(model, x, lo, hi, top1_spec(1, 2))
    # on [-0.5, 0.5] label 1 stays on top with margin 0.5
    res = verify(net, lo * 0.5, torch.tensor([0.5], dtype=DTYPE), [top1_spec(1, 2)], oracle, cfg)[0]
    assert res.verdict == Verdict.VERIFIED
    assert res.objective_value == pytest.approx(-0.5, abs=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_topk_counting_milp_agrees_with_pairwise(seed: int) -> None:
    model = random_mlp([4, 10, 10, 5], 100 + seed)
    net = from_torch(model, (4,))
    oracle = TorchOracle(model, (4,))
    x = torch.rand(4, dtype=DTYPE, generator=torch.Generator().manual_seed(seed))
    lo, hi = (x - 0.15).clamp(0, 1), (x + 0.15).clamp(0, 1)
    target = int(net.forward(x[None]).argsort(descending=True)[0, 1])  # the runner-up label
    cfg = VerifierConfig(attack_steps=0, exact_objective=True, timeout_s=NO_LIMIT_S)
    one, pair = verify(
        net, lo, hi, [topk_spec(target, 2, 5), pairwise_topk_specs(target, 2, 5)], oracle, cfg
    )
    assert len(pairwise_topk_specs(target, 2, 5).clauses) == 6  # C(4, 2) queries in paper 000
    assert one.verdict == pair.verdict != Verdict.UNKNOWN
    assert one.objective_value == pytest.approx(pair.objective_value, abs=1e-5)


def test_gurobi_matches_highs() -> None:
    pytest.importorskip("gurobipy")
    model = random_mlp([4, 8, 8, 3], 7)
    net = from_torch(model, (4,))
    oracle = TorchOracle(model, (4,))
    x = torch.full((4,), 0.5, dtype=DTYPE)
    target = int(net.forward(x[None]).argmax())
    values = []
    for backend in (Backend.HIGHS, Backend.GUROBI):
        cfg = VerifierConfig(
            attack_steps=0, exact_objective=True, backend=backend, tightening=Tightening.MIP
        )
        res = verify(net, x - 0.2, x + 0.2, [top1_spec(target, 3)], oracle, cfg)[0]
        values.append((res.verdict, res.objective_value))
    assert values[0][0] == values[1][0]
    assert values[0][1] == pytest.approx(values[1][1], abs=1e-5)


def test_gurobi_size_limit_falls_back() -> None:
    """A model over the licence-free Gurobi limit is still decided (the solver layer falls
    back to HiGHS and counts it) and agrees with HiGHS."""
    pytest.importorskip("gurobipy")
    from mlrobust.solvers import fallbacks

    model = random_mlp([2100, 20, 3], 3)  # > 2000 variables
    net = from_torch(model, (2100,))
    x = torch.full((2100,), 0.5, dtype=DTYPE)
    target = int(net.forward(x[None]).argmax())
    cfg = VerifierConfig(
        attack_steps=0,
        backend=Backend.GUROBI,
        tightening=Tightening.INTERVAL,
        exact_objective=True,
        timeout_s=NO_LIMIT_S,
    )
    before = sum(fallbacks().values())
    oracle = TorchOracle(model, (2100,))
    res = verify(net, x - 0.001, x + 0.001, [top1_spec(target, 3)], oracle, cfg)[0]
    assert res.verdict != Verdict.UNKNOWN
    highs = verify(
        net,
        x - 0.001,
        x + 0.001,
        [top1_spec(target, 3)],
        oracle,
        replace(cfg, backend=Backend.HIGHS),
    )[0]
    assert res.verdict == highs.verdict
    assert res.objective_value == pytest.approx(highs.objective_value, abs=1e-6)
    from mlrobust.solvers import gurobi

    if gurobi._size_limited:  # the installed licence is the size-limited one: fell back
        assert sum(fallbacks().values()) > before


def test_certify_labels_threshold() -> None:
    from mlrobust.rules import Threshold, TopK
    from mlrobust.verify.api import certify_labels, verify_topk

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).eval()
    x = torch.rand(2, 1, 2, 2)
    cert = certify_labels(model, x, LinfBall(0.0), Threshold(0.5), MILPVerifier(NO_ATTACK))
    # eps = 0: every decision is certified unless a logit sits exactly at the threshold
    assert all(v == Verdict.VERIFIED for row in cert.verdicts for v in row)
    big = certify_labels(model, x, LinfBall(1.0), TopK(1), time_limit_s=NO_LIMIT_S)
    assert all(v != Verdict.UNKNOWN for row in big.verdicts for v in row)
    res = verify_topk(
        model, x[:1], LinfBall(0.0), int(model(x[:1]).argmax()), 1, MILPVerifier(NO_ATTACK)
    )
    assert res.verdict == Verdict.VERIFIED


@pytest.mark.parametrize("seed", range(3))
def test_precomputed_bounds_give_the_same_exact_objective(seed: int) -> None:
    from mlrobust.verify.bounds import crown_bounds

    model = random_convnet(seed)
    net = from_torch(model, (1, 6, 6))
    oracle = TorchOracle(model, (1, 6, 6))
    x = torch.rand(net.input_size, dtype=DTYPE, generator=torch.Generator().manual_seed(seed))
    lo, hi = (x - 0.15).clamp(0, 1), (x + 0.15).clamp(0, 1)
    spec = topk_spec(0, 2, net.n_outputs)
    cfg = VerifierConfig(
        attack_steps=0, timeout_s=NO_LIMIT_S, tightening=Tightening.CROWN, exact_objective=True
    )
    plain = verify(net, lo, hi, [spec], oracle, cfg)[0]
    given = verify(net, lo, hi, [spec], oracle, cfg, bounds=crown_bounds(net, lo, hi))[0]
    assert plain.verdict == given.verdict != Verdict.UNKNOWN
    assert plain.objective_value is not None and given.objective_value is not None
    assert given.objective_value == pytest.approx(plain.objective_value, abs=1e-6)


def test_precomputed_bounds_over_another_box_are_refused() -> None:
    from mlrobust.errors import InputError
    from mlrobust.verify.bounds import crown_bounds

    model = random_mlp([3, 4, 2], 0)
    net = from_torch(model, (3,))
    lo, hi = torch.zeros(3, dtype=DTYPE), torch.ones(3, dtype=DTYPE)
    with pytest.raises(InputError, match="different input box"):
        verify(
            net,
            lo,
            hi,
            [top1_spec(0, 2)],
            TorchOracle(model, (3,)),
            NO_ATTACK,
            bounds=crown_bounds(net, lo, hi * 0.5),
        )


def test_every_spec_gets_a_share_of_the_time_limit() -> None:
    """Image 2 of the samples at eps 0.01 on the shipped CNN: both predicted digits' specs are
    hard. The first one's MILP used to take the whole 2 s, leaving the second without even a
    bound; with equal shares, and a plain CROWN bound for what the time did not reach (a busy
    machine reaches no MILP in 2 s: CI once did), each ends with a finite proven bound."""
    from mlrobust.datasets import load_dataset
    from mlrobust.models import shipped_checkpoint
    from mlrobust.rules import TopK

    module, _ = shipped_checkpoint("double_mnist_none")
    net = from_torch(module, (1, 28, 56))
    x = load_dataset("samples", n=3).x[2:3]
    with torch.no_grad():
        labels = TopK(2).predict(module(x))[0].nonzero().flatten().tolist()
    specs = [topk_spec(c, 2, 10) for c in labels]
    lo, hi = LinfBall(0.01).bounds(x)
    results = verify(
        net, lo[0], hi[0], specs, TorchOracle(module, (1, 28, 56)), VerifierConfig(timeout_s=2.0)
    )
    assert [r.verdict for r in results] != [Verdict.FALSIFIED] * 2
    assert all(r.objective_bound < float("inf") for r in results), results


# no probe and no waiting before the refinement, so branch and bound always restarts on
# MIP-refined bounds
REFINE = VerifierConfig(
    attack_steps=0, probe_s=0.0, refine_after_s=0.0, refine_min_s=0.0, timeout_s=NO_LIMIT_S
)


def test_a_spec_the_time_did_not_reach_still_gets_a_sound_bound() -> None:
    """With no time at all every spec ends UNKNOWN, each with a finite upper bound (plain
    CROWN) that is at least the exact MILP's optimum: a bound, never a guess."""
    for seed in range(4):
        model, net, lo, hi, spec = mlp_case(seed, mlp_radius(seed))
        oracle = TorchOracle(model, (4,))
        exact = verify(net, lo, hi, [spec], oracle, EXACT)[0]
        res = verify(net, lo, hi, [spec], oracle, VerifierConfig(timeout_s=1e-6))[0]
        assert res.verdict == Verdict.UNKNOWN and res.message == "time limit", res
        assert exact.objective_value is not None
        assert exact.objective_value - 1e-9 <= res.objective_bound < float("inf"), (res, exact)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 5, 8, 11])
def test_branch_and_bound_on_refined_bounds_agrees_with_the_exact_milp(
    seed: int, caplog: pytest.LogCaptureFixture
) -> None:
    model, net, lo, hi, spec = mlp_case(seed, mlp_radius(seed))
    oracle = TorchOracle(model, (4,))
    exact = verify(net, lo, hi, [spec], oracle, EXACT)[0]
    assert exact.verdict != Verdict.UNKNOWN
    with caplog.at_level("INFO", logger="mlrobust.verify.verifier"):
        res = verify(net, lo, hi, [spec], oracle, REFINE)[0]
    assert "MIP-refined bounds" in caplog.text
    assert res.verdict == exact.verdict, (res, exact)
    if res.verdict == Verdict.FALSIFIED:
        assert_witness(model, res.counterexample, lo, hi, spec)
    else:
        assert res.objective_bound >= exact.objective_value - 1e-9


@pytest.mark.parametrize(
    ("probe_s", "timeout_s", "probe_time"),
    [(1.0, NO_LIMIT_S, 1.0), (0.0, NO_LIMIT_S, None), (1.0, 5.0, 0.25)],
)
def test_the_probe_closes_easy_specs_without_alpha_crown(
    probe_s: float, timeout_s: float, probe_time: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spec plain CROWN's root bounds prove is closed by the probe: no alpha-CROWN root is
    computed (the cost it saves). On a short limit the probe gets a twentieth of it; without
    the probe the alpha-CROWN root proves the spec."""
    alpha_roots = []
    probe_times = []

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        alpha_roots.append(args[3] if len(args) > 3 else kwargs.get("alpha_steps", 0))
        return crown_bounds(*args, **kwargs)

    real_probe = verifier_module._probe

    def timed_probe(*args, **kwargs):  # type: ignore[no-untyped-def]
        probe_times.append(args[-1])
        return real_probe(*args, **kwargs)

    monkeypatch.setattr(verifier_module, "crown_bounds", counted)
    monkeypatch.setattr(verifier_module, "_probe", timed_probe)
    model, net, lo, hi, spec = mlp_case(0, 0.02)
    config = replace(NO_ATTACK, probe_s=probe_s, timeout_s=timeout_s)
    res = verify(net, lo, hi, [spec], TorchOracle(model, (4,)), config)
    assert res[0].verdict == Verdict.VERIFIED and res[0].method == "bab", res
    assert any(alpha_roots) == (probe_time is None), alpha_roots
    assert probe_times == ([] if probe_time is None else [probe_time])


@pytest.mark.parametrize(("probe_s", "starts"), [(1.0, 0), (0.0, 1)])
def test_helpers_start_only_for_specs_the_probe_leaves_open(
    probe_s: float, starts: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With several branch-and-bound processes, a spec the probe closes starts no helper (their
    start-up costs ~3 s of a core); without a probe they start before the attack."""
    started = []
    monkeypatch.setattr(verifier_module, "_start_helpers", started.append)
    model, net, lo, hi, spec = mlp_case(0, 0.02)
    config = replace(NO_ATTACK, probe_s=probe_s, bab_processes=2)
    res = verify(net, lo, hi, [spec], TorchOracle(model, (4,)), config)
    assert res[0].verdict == Verdict.VERIFIED, res
    assert len(started) == starts


@pytest.mark.parametrize(
    ("seed", "radius", "verdict"),
    [(0, 0.1, Verdict.VERIFIED), (1, 0.35, Verdict.UNKNOWN), (2, 0.4, Verdict.UNKNOWN)],
)
def test_the_bounds_at_hand_still_decide_a_spec_the_time_did_not_reach(
    seed: int, radius: float, verdict: Verdict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit passes before a spec's own bound pass (the tightening overruns it here): the
    plain CROWN pass over the bounds at hand proves it where it can (VERIFIED, never for a
    violated spec) and otherwise leaves UNKNOWN with that bound."""
    real_tighten = verifier_module.tighten

    def overrun(*args, **kwargs):  # type: ignore[no-untyped-def]
        out = real_tighten(*args, **kwargs)
        time.sleep(0.3)
        return out

    monkeypatch.setattr(verifier_module, "tighten", overrun)
    model, net, lo, hi, spec = mlp_case(seed, radius)
    oracle = TorchOracle(model, (4,))
    exact = verify(net, lo, hi, [spec], oracle, EXACT)[0]
    config = replace(NO_ATTACK, bab=False, tightening=Tightening.CROWN, timeout_s=0.2)
    res = verify(net, lo, hi, [spec], oracle, config)[0]
    assert res.verdict == verdict, (res, exact)
    assert res.message == ("time limit" if verdict is Verdict.UNKNOWN else "")
    assert res.objective_bound >= exact.objective_value - 1e-9
    if verdict is Verdict.VERIFIED:
        assert exact.verdict is Verdict.VERIFIED


def test_short_limits_search_without_refining(caplog: pytest.LogCaptureFixture) -> None:
    """Under ``refine_min_s`` of search time the refinement is skipped: the short per-cell
    limits of the main job keep one uninterrupted branch and bound."""
    model, net, lo, hi, spec = mlp_case(1, mlp_radius(1))
    config = replace(REFINE, refine_min_s=60.0, timeout_s=10.0)
    with caplog.at_level("INFO", logger="mlrobust.verify.verifier"):
        res = verify(net, lo, hi, [spec], TorchOracle(model, (4,)), config)[0]
    assert "MIP-refined bounds" not in caplog.text
    assert res.verdict == Verdict.VERIFIED and res.method == "bab"


def test_tightening_without_fallback_stops_where_the_backend_cannot_solve() -> None:
    """The refinement's tightening (fallback off) keeps the bounds it started from when its
    backend cannot solve (MOSEK without a licence here), and does not count a HiGHS fallback;
    with the fallback HiGHS tightens them."""
    from mlrobust.solvers import fallbacks

    _, net, lo, hi, _ = mlp_case(1, 0.4)
    start = crown_bounds(net, lo, hi)
    strict = TighteningConfig(level=Tightening.MIP, backend=Backend.MOSEK, fallback=False)
    before = sum(fallbacks().values())
    kept = tighten(net, lo, hi, strict, start=start)
    assert sum(fallbacks().values()) == before
    for k in range(1, len(net.nodes)):
        assert torch.equal(kept.lower[k], start.lower[k]) and torch.equal(
            kept.upper[k], start.upper[k]
        )
    tight = tighten(net, lo, hi, replace(strict, fallback=True), start=start)
    assert sum(fallbacks().values()) > before
    assert _width(tight) < _width(start)


@pytest.mark.parametrize("backend", [Backend.HIGHS, Backend.GUROBI])
@pytest.mark.parametrize("seed", range(3))
def test_mip_tightening_contains_the_exact_ranges_and_finds_every_stable_neuron(
    backend: Backend, seed: int
) -> None:
    """Against the exact range of each second-layer pre-activation (enumerated regions of the
    truncated network): MIP tightening's bounds contain it, and a neuron the exact range shows
    stable is found stable (a lower bound only asks the sign question, so its value may stay
    looser than the exact minimum, never above it)."""
    if backend is Backend.GUROBI:
        pytest.importorskip("gurobipy")
    model, net, lo, hi, _ = mlp_case(seed, mlp_radius(seed))
    k = 3  # the second Linear's outputs, the second ReLU's inputs
    upto = from_torch(model[:4], (4,))  # Flatten, Linear, ReLU, Linear
    eye = torch.eye(16, dtype=DTYPE)
    clauses = [
        Clause(sign * eye[j : j + 1], torch.zeros(1, dtype=DTYPE), 1)
        for sign in (1, -1)
        for j in range(16)
    ]
    exact = exact_max(upto, lo.numpy(), hi.numpy(), clauses)
    top = torch.tensor([e.value for e in exact[:16]], dtype=DTYPE)
    bottom = -torch.tensor([e.value for e in exact[16:]], dtype=DTYPE)
    config = TighteningConfig(level=Tightening.MIP, backend=backend, mip_time_s=NO_LIMIT_S)
    tight = tighten(net, lo, hi, config)
    lower, upper = tight.lower[k], tight.upper[k]
    assert bool((lower <= bottom + 1e-6).all()) and bool((upper >= top - 1e-6).all())
    assert bool((lower[bottom > 1e-4] >= 0).all()) and bool((upper[top < -1e-4] <= 0).all())
    assert bool(((bottom > 1e-4) | (top < -1e-4)).any())  # the case has stable neurons


def _width(bounds) -> float:  # type: ignore[no-untyped-def]
    return sum(
        float((u - lo).sum()) for lo, u in zip(bounds.lower[1:], bounds.upper[1:], strict=True)
    )


@pytest.mark.parametrize("seed", range(3))
def test_a_linear_nodes_neurons_optimised_as_weight_rows_match_the_full_encoding(
    seed: int,
) -> None:
    """Tightening leaves the linear node out of its MIPs (its neurons are weight rows over the
    layer before): 16 fewer columns here, the same MIP optimum per neuron."""
    from mlrobust.solvers import open_session
    from mlrobust.verify.milp import _neuron_objectives, encode

    _, net, lo, hi, _ = mlp_case(seed, mlp_radius(seed))
    bounds = crown_bounds(net, lo, hi)
    k = 3  # the second hidden layer's pre-activations (a Linear of the first ReLU)
    rows, objective = _neuron_objectives(net, bounds, k)
    full, outs = encode(net, bounds, upto=k)
    assert len(full.col_lo) - len(rows.col_lo) == 16
    compact, whole = open_session(rows.data()), open_session(full.data())
    for j in range(16):
        for maximize in (False, True):
            a = compact.solve(*objective(j), maximize, NO_LIMIT_S)
            b = whole.solve(np.array([outs[k][j]]), np.ones(1), 0.0, maximize, NO_LIMIT_S)
            # the same optimum up to HiGHS's relative MIP gap (1e-4) in each solve
            assert a.bound == pytest.approx(b.bound, rel=2e-4, abs=1e-6), (j, maximize)
