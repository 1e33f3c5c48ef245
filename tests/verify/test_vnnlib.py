from __future__ import annotations

import csv

import pytest
import torch

from mlrobust.errors import CorruptFileError
from mlrobust.verify.api import verify_vnnlib
from mlrobust.verify.vnnlib import parse_vnnlib, read_vnnlib
from tests.conftest import NO_LIMIT_S, require_data
from tests.verify.reference import assert_onnx_witness

TEXT = """; two inputs, two outputs
(declare-const X_0 Real)
(declare-const X_1 Real)
(declare-const Y_0 Real)
(declare-const Y_1 Real)
(assert (>= X_0 -1.0))
(assert (<= X_0 1.0))
(assert (or (and (>= X_1 0) (<= X_1 0.5)) (and (>= X_1 0.25) (<= X_1 1))))
(assert (or (and (>= Y_0 Y_1)) (and (<= (+ Y_0 (* 2 Y_1)) 3) (> Y_1 -1))))
"""


def test_parse_dnf_regions() -> None:
    prop = parse_vnnlib(TEXT)
    assert (prop.n_inputs, prop.n_outputs) == (2, 2)
    assert len(prop.regions) == 2  # two input boxes, each with both output clauses
    r = prop.regions[0]
    assert r.lo.tolist() == [-1.0, 0.0] and r.hi.tolist() == [1.0, 0.5]
    assert len(r.spec.clauses) == 2
    y = torch.tensor([[2.0, 1.0], [0.0, 1.0], [-3.0, -2.0]], dtype=torch.float64)
    # y0 >= y1 | (y0 + 2 y1 <= 3 & y1 >= -1)
    assert (r.spec.value(y) >= 0).tolist() == [True, True, False]


@pytest.mark.parametrize(
    "text, line",
    [
        ("(declare-const X_0 Real)\n(assert (>= X_0 0)\n", 2),
        (
            "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (>= X_0 0))\n"
            "(assert (<= X_0 1))\n(assert (foo Y_0 1))\n",
            5,
        ),
        (
            "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (>= X_0 0))\n"
            "(assert (<= (* X_0 Y_0) 1))\n",
            4,
        ),
    ],
)
def test_errors_point_at_line(text: str, line: int) -> None:
    with pytest.raises(CorruptFileError, match=f":{line}:"):
        parse_vnnlib(text, "prop.vnnlib")


def test_unbounded_input_is_an_error() -> None:
    with pytest.raises(CorruptFileError, match="X_0 is unbounded"):
        parse_vnnlib("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (>= Y_0 0))\n")


def test_reads_mnistfc_property() -> None:
    prop = read_vnnlib(require_data("vnncomp2021", "mnistfc", "prop_0_0.03.vnnlib.gz"))
    assert prop.n_inputs == 784 and prop.n_outputs == 10 and len(prop.regions) == 1
    assert len(prop.regions[0].spec.clauses) == 9


# a CI subset of VNN-COMP 2021: fast instances, answers checked against the consensus
SUBSET = [
    ("test", "test_nano.onnx", "test_nano.vnnlib"),
    ("test", "test_tiny.onnx", "test_tiny.vnnlib"),
    ("test", "test_small.onnx", "test_small.vnnlib"),
    ("test", "test_sat.onnx", "test_prop.vnnlib"),
    ("test", "test_unsat.onnx", "test_prop.vnnlib"),
    ("mnistfc", "mnist-net_256x2.onnx", "prop_2_0.03.vnnlib"),
    ("mnistfc", "mnist-net_256x2.onnx", "prop_11_0.05.vnnlib"),
    ("mnistfc", "mnist-net_256x2.onnx", "prop_12_0.05.vnnlib"),
    ("mnistfc", "mnist-net_256x2.onnx", "prop_7_0.03.vnnlib"),
    # decided only by branch and bound (2 of 12 VNN-COMP 2021 tools proved the first)
    ("mnistfc", "mnist-net_256x2.onnx", "prop_1_0.03.vnnlib"),
    ("mnistfc", "mnist-net_256x2.onnx", "prop_0_0.05.vnnlib"),
    # violated, but random-start PGD ends at -0.73 in every setting: found from the corners
    # the root bounds point to
    ("mnistfc", "mnist-net_256x6.onnx", "prop_3_0.05.vnnlib"),
    # verivital: convolutions with max and average pooling (all 60 in benchmarks/verify_vnncomp.py)
    ("verivital", "Convnet_maxpool.onnx", "specs/maxpool_specs/prop_7_0.004.vnnlib"),
    ("verivital", "Convnet_maxpool.onnx", "specs/maxpool_specs/prop_14_0.004.vnnlib"),
    ("verivital", "Convnet_avgpool.onnx", "specs/avgpool_specs/prop_13_0.02.vnnlib"),
    ("verivital", "Convnet_avgpool.onnx", "specs/avgpool_specs/prop_4_0.02.vnnlib"),
]


def _consensus() -> dict[tuple[str, str, str], str]:
    path = require_data("vnncomp2021", "results", "derived_consensus.csv")
    with open(path) as fh:
        return {
            (r["benchmark"], r["onnx"], r["vnnlib"].removeprefix("./")): r["majority"]
            for r in csv.DictReader(fh)
        }


@pytest.mark.parametrize("bench, onnx_name, prop", SUBSET)
def test_vnncomp_subset_agrees_with_consensus(bench: str, onnx_name: str, prop: str) -> None:
    root = require_data("vnncomp2021", bench)
    vnn = (
        root / prop if (root / prop).exists() else require_data("vnncomp2021", bench, prop + ".gz")
    )
    expected = _consensus()[(bench, onnx_name, prop)]
    ans = verify_vnnlib(root / onnx_name, vnn, time_limit_s=NO_LIMIT_S)
    if ans.answer == "sat":
        assert expected == "violated"
        assert_onnx_witness(root / onnx_name, vnn, ans.counterexample)
    elif ans.answer == "unsat":
        assert expected == "holds"
    # UNKNOWN never contradicts; but these instances are chosen to be decided
    assert ans.answer != "unknown", f"undecided (consensus: {expected})"


# cifar10_resnet (residual nets, 2021) is not in the consensus file: the reference is every
# 2021 tool's answer on the instance, which must agree (and ours must not contradict it)
RESNET = [
    (
        "onnx/resnet_2b.onnx",
        "vnnlib_properties_pgd_filtered/resnet2b_pgd_filtered/prop_4_eps_0.008",
    ),
    (
        "onnx/resnet_4b.onnx",
        "vnnlib_properties_pgd_filtered/resnet4b_pgd_filtered/prop_6_eps_0.004",
    ),
]


@pytest.mark.parametrize("onnx_name, prop", RESNET)
def test_cifar10_resnet_agrees_with_the_2021_tools(onnx_name: str, prop: str) -> None:
    from mlrobust.portfolio import Answer
    from mlrobust.portfolio.readers import read_vnncomp_results, vnncomp_instance_id

    root = require_data("vnncomp2021", "cifar10_resnet")
    vnn = require_data("vnncomp2021", "cifar10_resnet", prop + ".vnnlib.gz")
    inst = vnncomp_instance_id("cifar10_resnet", onnx_name, prop + ".vnnlib")
    said = set()
    for path in require_data("vnncomp2021", "results", "results_csv").glob("*.csv"):
        if path.stem == "RPM":  # answers "violated" almost everywhere (see the benchmark)
            continue
        table = read_vnncomp_results(path, benchmarks={"cifar10_resnet"})
        said |= {a for i, a in zip(table.instance, table.answer, strict=True) if i == inst}
    decided = said & {Answer.HOLDS.value, Answer.VIOLATED.value}
    assert decided == {Answer.HOLDS.value}  # the tools that decided it agree: it holds
    ans = verify_vnnlib(root / onnx_name, vnn, time_limit_s=NO_LIMIT_S)
    assert ans.answer == "unsat"
