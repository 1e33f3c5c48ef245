"""Branch and bound: sound (never proves a violated clause), complete on tiny nets, and the
verifier's BaB stage agrees with the MILP."""

from __future__ import annotations

import math
import time
from dataclasses import replace

import pytest
import torch

from mlrobust.verdicts import Verdict
from mlrobust.verify import bab as bab_module
from mlrobust.verify.bab import BaBConfig, branch_and_bound, supports_bab
from mlrobust.verify.bounds import crown_bounds
from mlrobust.verify.from_torch import from_torch
from mlrobust.verify.ir import DTYPE
from mlrobust.verify.oracle import TorchOracle, recheck
from mlrobust.verify.rewrite import pools_as_relus, rewritten_bounds
from mlrobust.verify.spec import topk_spec
from mlrobust.verify.verifier import VerifierConfig, verify
from tests.conftest import NO_LIMIT_S
from tests.verify.helpers import EXACT, bab_checker, mlp_case, random_convnet
from tests.verify.reference import assert_witness


@pytest.mark.parametrize("seed", range(12))
def test_bab_matches_the_exact_milp_optimum(seed: int) -> None:
    model, net, lo, hi, spec = mlp_case(seed, radius=0.3 + 0.05 * (seed % 4))
    oracle = TorchOracle(model, (4,))
    exact = verify(net, lo, hi, [spec], oracle, EXACT)[0]
    assert exact.verdict != Verdict.UNKNOWN and exact.objective_value is not None
    best = exact.objective_value  # the true maximum of the spec value over the box
    bounds = crown_bounds(net, lo, hi)
    res = branch_and_bound(
        net,
        bounds,
        spec.clauses[0],
        bab_checker(lo, hi, spec, oracle),
        time.monotonic() + NO_LIMIT_S,
        BaBConfig(batch=8),
    )
    if res.proven:  # soundness: a proof only where the maximum really is negative
        assert best < 0 and res.bound >= best - 1e-9
    if res.counterexample is not None:
        assert_witness(model, res.counterexample, lo, hi, spec)
    # completeness on a tiny net: clear cases are always decided
    if best < -1e-3:
        assert res.proven, f"max {best:.4f} < 0 but not proven ({res.domains} domains)"
    if best > 1e-3:
        assert res.counterexample is not None, f"max {best:.4f} > 0 but no witness"


def test_bab_branches_where_the_root_bound_is_not_enough() -> None:
    # some case among these must need splits: the test guards against BaB degenerating into
    # a root-only bound (which would make the completeness assertions above vacuous)
    splits = []
    for seed in range(12):
        model, net, lo, hi, spec = mlp_case(seed, radius=0.3 + 0.05 * (seed % 4))
        oracle = TorchOracle(model, (4,))
        res = branch_and_bound(
            net,
            crown_bounds(net, lo, hi),
            spec.clauses[0],
            lambda z, lo=lo, hi=hi, spec=spec, oracle=oracle: recheck(
                z, lo.numpy(), hi.numpy(), spec, oracle
            ),
            time.monotonic() + NO_LIMIT_S,
            BaBConfig(batch=8),
        )
        if res.proven:
            splits.append(res.domains)
    assert max(splits) > 1


@pytest.mark.parametrize("probe_s", [1.0, 0.0])  # from plain CROWN's root first, or not
@pytest.mark.parametrize("seed", range(6))
def test_verifier_with_bab_agrees_with_milp(seed: int, probe_s: float) -> None:
    model, net, lo, hi, spec = mlp_case(seed, radius=0.35)
    oracle = TorchOracle(model, (4,))
    cfg = VerifierConfig(attack_steps=0, timeout_s=NO_LIMIT_S, probe_s=probe_s)
    with_bab = verify(net, lo, hi, [spec], oracle, cfg)[0]
    milp = verify(
        net, lo, hi, [spec], oracle, VerifierConfig(attack_steps=0, timeout_s=NO_LIMIT_S, bab=False)
    )[0]
    assert with_bab.verdict == milp.verdict != Verdict.UNKNOWN
    assert with_bab.method == "bab"
    if with_bab.verdict == Verdict.VERIFIED:
        assert with_bab.objective_bound < -cfg.margin
    else:
        assert with_bab.counterexample is not None and math.isinf(with_bab.objective_bound)
        assert_witness(model, with_bab.counterexample, lo, hi, spec)


def _conv_case(seed: int, radius: float):  # type: ignore[no-untyped-def]
    model = random_convnet(seed)
    net = from_torch(model, (1, 6, 6))
    x = torch.rand(36, dtype=DTYPE, generator=torch.Generator().manual_seed(200 + seed))
    lo, hi = (x - radius).clamp(0, 1), (x + radius).clamp(0, 1)
    with torch.no_grad():
        target = int(model(x.reshape(1, 1, 6, 6)).argmax())
    return model, net, lo, hi, topk_spec(target, 1, 4)


def _bab_on_rewrite(net, lo, hi, spec, oracle):  # type: ignore[no-untyped-def]
    """Branch and bound, without limits, on the pools-as-ReLUs rewrite of ``net``."""
    return branch_and_bound(
        pools_as_relus(net)[0],
        rewritten_bounds(net, crown_bounds(net, lo, hi)),
        spec.clauses[0],
        bab_checker(lo, hi, spec, oracle),
        time.monotonic() + NO_LIMIT_S,
        BaBConfig(batch=8),
    )


# (seed, radius): proven after splits (3), violated (4, 7; 7 at 0.05 by only 0.003), and
# cases within 0.01 of the boundary, which need splits on the pools' ReLUs
POOL_CASES = [(3, 0.15), (3, 0.2), (4, 0.1), (4, 0.15), (6, 0.1), (7, 0.05), (7, 0.1), (0, 0.2)]


@pytest.mark.parametrize(("seed", "radius"), POOL_CASES)
def test_bab_on_max_pool_networks_is_complete_against_the_exact_milp(
    seed: int, radius: float
) -> None:
    assert not supports_bab(from_torch(random_convnet(0), (1, 6, 6)))
    model, net, lo, hi, spec = _conv_case(seed, radius)
    oracle = TorchOracle(model, (1, 6, 6))
    best = verify(net, lo, hi, [spec], oracle, EXACT)[0].objective_value
    assert best is not None
    res = _bab_on_rewrite(net, lo, hi, spec, oracle)
    # no time or domain limit: every case is decided, and the same way as the exact MILP
    assert res.proven or res.counterexample is not None
    if res.proven:
        assert best < 0 and res.bound >= best - 1e-9
    else:
        assert best >= -1e-9
        assert_witness(model, res.counterexample, lo.reshape(1, 6, 6), hi.reshape(1, 6, 6), spec)


@pytest.mark.parametrize(
    ("seed", "radius", "offset"),
    [(5, 0.05, -3e-4), (6, 0.05, -3e-4), (5, 0.05, 3e-4), (3, 0.1, 3e-4)],
)
def test_fully_split_max_pool_domains_are_decided_by_the_leaf_lp(
    seed: int, radius: float, offset: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the clause shifted so that its true maximum over the box is `offset`: 3e-4 from the
    # boundary, where the search must go down to domains with every ReLU (the pools'
    # included) fixed, which the leaf LP decides exactly (a proof or a witness)
    leaves: list[object] = []
    real = bab_module._leaf_lp

    def counted(*args):  # type: ignore[no-untyped-def]
        out = real(*args)
        leaves.append(out)
        return out

    monkeypatch.setattr(bab_module, "_leaf_lp", counted)
    model, net, lo, hi, spec = _conv_case(seed, radius)
    oracle = TorchOracle(model, (1, 6, 6))
    best = verify(net, lo, hi, [spec], oracle, EXACT)[0].objective_value
    assert best is not None
    clause = spec.clauses[0]
    shifted = replace(spec, clauses=(replace(clause, d=clause.d - best + offset),))
    res = _bab_on_rewrite(net, lo, hi, shifted, oracle)
    assert leaves and all(out is not None for out in leaves)
    if offset < 0:
        # the leaves' exact LP optima are the true maxima of their regions; the MILP's optimum
        # is within HiGHS's MIP gap of the true one (seen: 1.4e-6 below)
        assert res.proven and res.bound >= offset - 1e-9
        assert max(out for out in leaves if isinstance(out, float)) <= offset + 1e-5
    else:
        assert not res.proven and any(isinstance(out, tuple) for out in leaves)
        assert_witness(model, res.counterexample, lo.reshape(1, 6, 6), hi.reshape(1, 6, 6), shifted)


def test_verifier_runs_bab_on_max_pool_nets_unless_turned_off() -> None:
    model, net, lo, hi, spec = _conv_case(3, 0.15)
    oracle = TorchOracle(model, (1, 6, 6))
    cfg = VerifierConfig(attack_steps=0, timeout_s=NO_LIMIT_S)
    default = verify(net, lo, hi, [spec], oracle, cfg)[0]
    off = verify(net, lo, hi, [spec], oracle, replace(cfg, bab_maxpool=False))[0]
    assert default.verdict == off.verdict == Verdict.VERIFIED
    assert default.method == "bab" and not off.method.startswith("bab")


def test_open_domains_are_capped_by_memory() -> None:
    # seed 1 needs tens of domains when split one at a time; with room for only 2 * batch open
    # domains the search must stop unproven (UNKNOWN), never claim a proof it did not finish
    model, net, lo, hi, spec = mlp_case(1, radius=0.35)
    oracle = TorchOracle(model, (4,))

    def run(cfg: BaBConfig):  # type: ignore[no-untyped-def]
        return branch_and_bound(
            net,
            crown_bounds(net, lo, hi),
            spec.clauses[0],
            bab_checker(lo, hi, spec, oracle),
            time.monotonic() + NO_LIMIT_S,
            cfg,
        )

    full = run(BaBConfig(batch=1))
    assert full.proven and full.domains > 8
    capped = run(BaBConfig(batch=1, memory_mb=0))
    assert not capped.proven and capped.counterexample is None
    assert 2 < capped.open_domains <= 4
    # stopped, it still reports the largest bound of its open domains: a sound upper bound of
    # the true maximum, looser than the finished search's
    best = verify(net, lo, hi, [spec], oracle, EXACT)[0].objective_value
    assert best is not None and best <= full.bound <= capped.bound < math.inf
    assert capped.bound >= -BaBConfig().margin  # else the open domains would have closed
