"""The built-in verifier configurations on instances with known answers: a tiny VNN-COMP-style
instance written here (ONNX via onnx.helper + VNN-LIB, see conftest) and real mnistfc ones."""

import pytest

from mlrobust.portfolio import Answer, InstanceSpec, read_run_store
from mlrobust.portfolio.configs import available_configurations, run_configuration
from mlrobust.portfolio.runner import RunnerConfig, run_portfolio
from tests.conftest import require_data

COMPLETE = ("bab", "milp_highs", "milp_gurobi", "milp_plain", "milp")


# expected answer per (configuration, instance); incomplete methods answer unknown on one side
EXPECTED = {
    **{(c, "holds"): Answer.HOLDS for c in COMPLETE},
    **{(c, "violated"): Answer.VIOLATED for c in COMPLETE},
    **{(c, "holds"): Answer.HOLDS for c in ("bounds_only", "crown")},
    **{(c, "violated"): Answer.UNKNOWN for c in ("bounds_only", "crown")},
    **{(c, "holds"): Answer.UNKNOWN for c in ("attack_only", "attack")},
    **{(c, "violated"): Answer.VIOLATED for c in ("attack_only", "attack")},
}


@pytest.mark.parametrize(("name", "prop"), sorted(EXPECTED))
def test_each_configuration_on_the_tiny_instance(tiny, name, prop) -> None:
    out = run_configuration(name, tiny / "tiny.onnx", tiny / f"{prop}.vnnlib", 10.0)
    assert out.answer == EXPECTED[(name, prop)], out.note


def test_the_configurations_are_the_ablations_and_every_registered_verifier() -> None:
    assert set(available_configurations()) == {
        *COMPLETE,
        "bounds_only",
        "attack_only",
        "crown",
        "attack",
    }


def test_portfolio_run_of_the_builtins_in_child_processes(tiny, tmp_path) -> None:
    specs = [
        InstanceSpec(
            id=f"tiny:{p}", onnx=tiny / "tiny.onnx", vnnlib=tiny / f"{p}.vnnlib", timeout=20.0
        )
        for p in ("holds", "violated")
    ]
    store = tmp_path / "runs.sqlite"
    names = ["milp_gurobi", "bounds_only", "attack_only"]  # one of each kind: keeps it short
    summary = run_portfolio(specs, names, store, config=RunnerConfig(jobs=2))
    assert len(summary.completed) == 6
    got = {(r.verifier, r.instance.split(":")[1]): r for r in summary.completed}
    for (name, prop), rec in got.items():
        assert rec.answer == EXPECTED[(name, prop)], rec.error
    # the configuration's note reaches the store's text column
    assert "gurobi" in got[("milp_gurobi", "violated")].error
    assert "re-checked" in got[("attack_only", "violated")].error
    assert len(read_run_store(store)) == 6


# Real mnistfc 256x2 instances whose VNN-COMP consensus is unanimous: prop_2_0.03 holds
# (9 tools, 0 against), prop_7_0.03 is violated (8 tools, 0 against); prop_1_0.03 holds
# (2 tools, 0 against: the hardest 256x2 "holds", which needs branch and bound).
REAL = {
    ("bab", "prop_1_0.03"): Answer.HOLDS,
    ("bounds_only", "prop_2_0.03"): Answer.HOLDS,
    ("milp_plain", "prop_2_0.03"): Answer.HOLDS,
    ("milp_highs", "prop_7_0.03"): Answer.VIOLATED,
    ("milp_gurobi", "prop_7_0.03"): Answer.VIOLATED,
    ("attack_only", "prop_7_0.03"): Answer.VIOLATED,
}


@pytest.mark.parametrize(("name", "prop"), sorted(REAL))
def test_configuration_on_a_real_mnistfc_instance(name, prop) -> None:
    root = require_data("vnncomp2021", "mnistfc")
    vnnlib = root / f"{prop}.vnnlib"
    if not vnnlib.exists():
        vnnlib = root / f"{prop}.vnnlib.gz"
    out = run_configuration(name, root / "mnist-net_256x2.onnx", vnnlib, 30.0)
    assert out.answer == REAL[(name, prop)], out.note
