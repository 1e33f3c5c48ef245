"""Shared fixtures. Data from ../shared/data is found through MLROBUST_DATA; under CI=true a
missing data file fails the test instead of skipping it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from mlrobust.datasets.paths import data_dir

#: a time limit that never binds in the tests: a test that expects a definite answer gets it
#: from the algorithm's own node, domain or step counts, not from the machine's speed (a hang
#: still ends at pytest's per-test timeout)
NO_LIMIT_S = 600.0


def missing(message: str) -> None:
    """A test's precondition (a data file, a system package) is missing: skip locally, FAIL
    under CI=true, where the setup installs everything and a skip would hide the gap."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def require_data(*parts: str) -> Path:
    """Return the data path, or skip (locally) / fail (CI=true) when it is missing."""
    path = data_dir().joinpath(*parts)
    if not path.exists():
        missing(f"data file missing: {path} (set MLROBUST_DATA)")
    return path


@pytest.fixture(autouse=True)
def _fixed_seed() -> None:
    torch.manual_seed(0)


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


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """Two instances: |x0 - x1| <= 0.4 < 0.5 over the first box (holds: the unsafe set
    y0 >= y1 is empty); over [0, 1]^2, |x0 - x1| reaches 1 >= 0.5 (violated)."""
    root = tmp_path_factory.mktemp("tiny")
    _tiny_onnx(root / "tiny.onnx")
    _vnnlib(root / "holds.vnnlib", [(0.3, 0.7), (0.4, 0.6)], "(>= Y_0 Y_1)")
    _vnnlib(root / "violated.vnnlib", [(0.0, 1.0), (0.0, 1.0)], "(>= Y_0 Y_1)")
    return root
