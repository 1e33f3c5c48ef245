"""The built-in verifier configurations on instances with known answers: a tiny VNN-COMP-style
instance written here (ONNX via onnx.helper + VNN-LIB) and two real mnistfc instances."""

import logging

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from mlrobust.metrics.portfolio import Answer, InstanceSpec, read_run_store
from mlrobust.portfolio_configs import ConfigAnswer, _FallbackCounter
from mlrobust.portfolio_run import RunnerConfig, builtin_configs, run_portfolio
from tests.conftest import require_data

COMPLETE = ("bab", "milp_highs", "milp_gurobi", "milp_plain")


def _tiny_onnx(path) -> None:
    """y0 = relu(x0 - x1) + relu(x1 - x0) = |x0 - x1|, y1 = 0.5 (a bias)."""
    w1 = np.array([[1.0, -1.0], [-1.0, 1.0]], np.float32)  # MatMul: x [1,2] @ w1 [2,2]
    w2 = np.array([[1.0, 0.0], [1.0, 0.0]], np.float32)
    b2 = np.array([0.0, 0.5], np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (w2, "w2"), (b2, "b2"))]
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["z"]),
        helper.make_node("Relu", ["z"], ["h"]),
        helper.make_node("MatMul", ["h", "w2"], ["hw"]),
        helper.make_node("Add", ["hw", "b2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _vnnlib(path, box, unsafe: str) -> None:
    lines = [f"(declare-const X_{i} Real)" for i in range(2)]
    lines += [f"(declare-const Y_{i} Real)" for i in range(2)]
    for i, (lo, hi) in enumerate(box):
        lines += [f"(assert (>= X_{i} {lo}))", f"(assert (<= X_{i} {hi}))"]
    lines.append(f"(assert {unsafe})")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Two instances: |x0 - x1| <= 0.4 < 0.5 over the first box (holds: the unsafe set
    y0 >= y1 is empty); over [0, 1]^2, |x0 - x1| reaches 1 >= 0.5 (violated)."""
    root = tmp_path_factory.mktemp("tiny")
    _tiny_onnx(root / "tiny.onnx")
    _vnnlib(root / "holds.vnnlib", [(0.3, 0.7), (0.4, 0.6)], "(>= Y_0 Y_1)")
    _vnnlib(root / "violated.vnnlib", [(0.0, 1.0), (0.0, 1.0)], "(>= Y_0 Y_1)")
    return root


# expected answer per (configuration, instance); incomplete methods answer unknown on one side
EXPECTED = {
    **{(c, "holds"): Answer.HOLDS for c in COMPLETE},
    **{(c, "violated"): Answer.VIOLATED for c in COMPLETE},
    ("bounds_only", "holds"): Answer.HOLDS,
    ("bounds_only", "violated"): Answer.UNKNOWN,
    ("attack_only", "holds"): Answer.UNKNOWN,
    ("attack_only", "violated"): Answer.VIOLATED,
}


@pytest.mark.parametrize(("name", "prop"), sorted(EXPECTED))
def test_each_configuration_on_the_tiny_instance(tiny, name, prop) -> None:
    fn = builtin_configs()[name]
    out = fn(tiny / "tiny.onnx", tiny / f"{prop}.vnnlib", 10.0)
    assert isinstance(out, ConfigAnswer)
    assert out.answer == EXPECTED[(name, prop)], out.note


def test_the_registry_names_the_five_configurations() -> None:
    assert set(builtin_configs()) == {*COMPLETE, "bounds_only", "attack_only"}


def test_portfolio_run_of_the_builtins_in_child_processes(tiny, tmp_path) -> None:
    specs = [
        InstanceSpec(
            id=f"tiny:{p}", onnx=tiny / "tiny.onnx", vnnlib=tiny / f"{p}.vnnlib", timeout=20.0
        )
        for p in ("holds", "violated")
    ]
    store = tmp_path / "runs.sqlite"
    names = ["milp_gurobi", "bounds_only", "attack_only"]  # one of each kind: keeps it short
    summary = run_portfolio(
        specs, {n: builtin_configs()[n] for n in names}, store, config=RunnerConfig(jobs=2)
    )
    assert len(summary.completed) == 6
    got = {(r.verifier, r.instance.split(":")[1]): r for r in summary.completed}
    for (name, prop), rec in got.items():
        assert rec.answer == EXPECTED[(name, prop)], rec.error
    # the configuration's note reaches the store's text column
    assert "Gurobi" in got[("milp_gurobi", "violated")].error
    assert "re-checked" in got[("attack_only", "violated")].error
    assert len(read_run_store(store)) == 6


def test_gurobi_fallback_is_counted_from_the_backend_warning() -> None:
    """A 3000-variable LP exceeds the size-limited Gurobi licence: the real backend falls back
    to HiGHS, and the counter behind milp_gurobi's note sees exactly that warning."""
    pytest.importorskip("gurobipy")
    import scipy.sparse as sp

    from mlrobust.verify.backends import Backend, ModelData, open_session

    n = 3000
    data = ModelData(
        a=sp.csr_matrix(np.ones((1, n))),
        row_lo=np.array([-np.inf]),
        row_hi=np.array([1.0]),
        col_lo=np.zeros(n),
        col_hi=np.ones(n),
        integer=np.zeros(n, bool),
    )
    counter = _FallbackCounter()
    log = logging.getLogger("mlrobust.verify.backends")
    log.addHandler(counter)
    try:
        res = open_session(data, Backend.GUROBI).solve(np.arange(n), np.ones(n), 0.0, True, 10.0)
    finally:
        log.removeHandler(counter)
    assert res.value == pytest.approx(1.0)
    import gurobipy as gp

    try:  # an unrestricted licence would not fall back; then there is nothing to count
        m = gp.Model()
        m.Params.OutputFlag = 0
        m.addVars(n)
        m.optimize()
        limited = False
    except gp.GurobiError:
        limited = True
    assert counter.count == (1 if limited else 0)


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
    out = builtin_configs()[name](root / "mnist-net_256x2.onnx", vnnlib, 30.0)
    assert out.answer == REAL[(name, prop)], out.note
