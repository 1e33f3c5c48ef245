"""One branch and bound shared between processes: same verdicts as the exact MILP, helpers
never decide alone, and a helper that dies leaves the clause unproven."""

from __future__ import annotations

import logging
import shutil
import time

import pytest
import torch

from mlrobust.verdicts import Verdict
from mlrobust.verify import bab_pool
from mlrobust.verify.bab import BaBConfig, BaBResult, branch_and_bound
from mlrobust.verify.bounds import LayerBounds, crown_bounds
from mlrobust.verify.milp import Tightening, TighteningConfig, tighten
from mlrobust.verify.oracle import TorchOracle
from mlrobust.verify.verifier import verify
from tests.conftest import NO_LIMIT_S
from tests.verify.helpers import EXACT, bab_checker, mlp_case, mlp_radius
from tests.verify.reference import assert_witness

# batch 2: the search has more open domains than one round takes after a few rounds, so the
# helper is given a share; no waiting before sharing
SHARED = BaBConfig(batch=2, processes=2, parallel_after_s=0.0)


@pytest.fixture(scope="module", autouse=True)
def _helper() -> None:
    assert bab_pool.warm_up(1) == 1, "the helper process did not start"


def _exact_max(seed: int) -> float:
    model, net, lo, hi, spec = mlp_case(seed, mlp_radius(seed))
    exact = verify(net, lo, hi, [spec], TorchOracle(model, (4,)), EXACT)[0]
    assert exact.verdict != Verdict.UNKNOWN and exact.objective_value is not None
    return exact.objective_value


def _shared_bab(seed: int, check=None, seconds=NO_LIMIT_S) -> BaBResult:  # type: ignore[no-untyped-def]
    model, net, lo, hi, spec = mlp_case(seed, mlp_radius(seed))
    oracle = TorchOracle(model, (4,))
    return branch_and_bound(
        net,
        crown_bounds(net, lo, hi),
        spec.clauses[0],
        check or bab_checker(lo, hi, spec, oracle),
        time.monotonic() + seconds,
        SHARED,
    )


# seeds whose search takes 13-841 domains (proven: 0, 1, 3, 5, 8; violated: 2, 11, the last
# found after ~800 domains) and so runs rounds in both processes
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 5, 8, 11])
def test_shared_search_agrees_with_the_exact_milp(seed: int) -> None:
    best = _exact_max(seed)
    res = _shared_bab(seed)
    if best < -1e-3:
        assert res.proven and res.bound >= best - 1e-9
    if best > 1e-3:
        assert res.counterexample is not None
        model, _, lo, hi, spec = mlp_case(seed, mlp_radius(seed))
        assert_witness(model, res.counterexample, lo, hi, spec)


def test_the_helper_takes_a_share_of_long_searches() -> None:
    shares = {seed: _shared_bab(seed).processes for seed in (1, 8, 11)}
    assert shares == {1: 2, 8: 2, 11: 2}, shares


def test_helpers_never_decide_alone() -> None:
    # a checker that rejects every candidate: a helper that trusted its own forward pass would
    # report seed 2's violation (its root corner already violates); every candidate must go
    # through the caller's re-check, so the search runs to its deadline undecided
    calls: list[int] = []
    res = _shared_bab(2, check=lambda x: calls.append(1), seconds=3.0)
    assert res.processes == 2 and calls, "the search never asked the caller to re-check"
    assert res.counterexample is None and not res.proven
    assert res.bound >= _exact_max(2) - 1e-9


def test_a_helper_that_dies_mid_search_leaves_the_clause_unproven(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    start = bab_pool._Helper.start_search

    def start_then_die(self, payload: bytes, cap: int) -> None:  # type: ignore[no-untyped-def]
        start(self, payload, cap)
        self.proc.kill()
        self.proc.wait()

    best = _exact_max(8)  # holds: proven alone or by a healthy pair (test above)
    with monkeypatch.context() as patch, caplog.at_level(logging.WARNING, "mlrobust"):
        patch.setattr(bab_pool._Helper, "start_search", start_then_die)
        res = _shared_bab(8)
    assert not res.proven and res.counterexample is None
    assert res.bound >= best - 1e-9  # the lost share's last bound still counts
    assert "helper process exited" in caplog.text
    # the dead helper is replaced for the next search
    assert bab_pool.warm_up(1) == 1
    again = _shared_bab(8)
    assert again.proven and again.processes == 2


def test_a_helper_that_cannot_start_leaves_the_search_to_the_caller(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(bab_pool, "_HELPERS", [])  # the warm helper stays aside
    monkeypatch.setattr(bab_pool, "_START_FAILED", False)
    monkeypatch.setattr(bab_pool.sys, "executable", shutil.which("false"))  # exits at once
    with caplog.at_level(logging.WARNING, "mlrobust"):
        res = _shared_bab(8)
        again = _shared_bab(1)
    assert res.proven and res.processes == 1 and again.proven and again.processes == 1
    assert caplog.text.count("exited before it was ready") == 1  # no second attempt
    assert bab_pool._START_FAILED and not bab_pool._helpers(1)


def _tightened(seed: int, processes: int) -> tuple[LayerBounds, LayerBounds]:
    """The CROWN bounds of seed's MLP case and their MIP tightening over ``processes``."""
    _, net, lo, hi, _ = mlp_case(seed, mlp_radius(seed))
    start = crown_bounds(net, lo, hi)
    # no time limit per MIP either: whether a lower bound's sign question settles must not
    # depend on the load
    config = TighteningConfig(
        level=Tightening.MIP, total_time_s=NO_LIMIT_S, mip_time_s=NO_LIMIT_S, processes=processes
    )
    return start, tighten(net, lo, hi, config, start=start)


def _node(bounds: LayerBounds) -> tuple[torch.Tensor, torch.Tensor]:
    """The second hidden layer's pre-activation bounds: the only node tightening solves for
    (the first affine map of the input is exact)."""
    return bounds.lower[3], bounds.upper[3]


@pytest.mark.parametrize("seed", [0, 3, 8])
def test_shared_tightening_gives_the_bounds_of_one_process(
    seed: int, caplog: pytest.LogCaptureFixture
) -> None:
    _, alone = _tightened(seed, 1)
    with caplog.at_level(logging.DEBUG, "mlrobust.verify.bab_pool"):
        start, shared = _tightened(seed, 2)
    assert "over 2 processes" in caplog.text, "the helper was given no neurons"
    # the upper bounds are MIP optima; a lower bound is where its sign question stopped, which
    # depends on what the session solved before: only the answer (stable or not) must agree
    (lo_a, up_a), (lo_s, up_s) = _node(alone), _node(shared)
    assert torch.allclose(up_a, up_s, atol=1e-6), (up_a, up_s)
    assert torch.equal(lo_a >= 0, lo_s >= 0), (lo_a, lo_s)
    assert (_node(shared)[1] - _node(shared)[0]).sum() < (_node(start)[1] - _node(start)[0]).sum()


def test_a_helper_that_dies_mid_tightening_leaves_its_neurons_as_they_were(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    share = bab_pool.tighten_elsewhere

    def share_then_die(*args):  # type: ignore[no-untyped-def]
        shares = share(*args)
        for helper, _ in shares:
            helper.proc.kill()
            helper.proc.wait()
        return shares

    with monkeypatch.context() as patch, caplog.at_level(logging.WARNING, "mlrobust"):
        patch.setattr(bab_pool, "tighten_elsewhere", share_then_die)
        start, lost = _tightened(3, 2)
    assert "helper process exited" in caplog.text
    (lo_l, up_l), (lo_s, up_s) = _node(lost), _node(start)
    # still sound: inside the start bounds, around every sampled pre-activation, and the
    # caller's own share tightened
    assert (lo_s <= lo_l + 1e-9).all() and (up_l <= up_s + 1e-9).all()
    assert (up_l - lo_l).sum() < (up_s - lo_s).sum()
    model, _, lo, hi, _ = mlp_case(3, mlp_radius(3))
    x = lo + (hi - lo) * torch.rand(
        4000, 4, dtype=lo.dtype, generator=torch.Generator().manual_seed(0)
    )
    with torch.no_grad():
        pre = model[:4](x)  # Flatten, Linear, ReLU, Linear: the second layer's input
    assert (pre >= lo_l - 1e-9).all() and (pre <= up_l + 1e-9).all()
    assert bab_pool.warm_up(1) == 1  # the dead helper is replaced
