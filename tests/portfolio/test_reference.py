import numpy as np
import pytest

from mlrobust.errors import CorruptFileError
from mlrobust.portfolio import (
    Answer,
    PerformanceMatrix,
    against_reference,
    read_consensus,
    vnncomp_instance_id,
)
from tests.conftest import require_data

HEAD = (
    "benchmark,onnx,vnnlib,majority,n_holds,n_violated,disagreement,tools_holds,"
    "tools_violated,n_tools\n"
)
BODY = """mnistfc,net.onnx,p0.vnnlib,holds,3,0,0,A;B;C,,5
mnistfc,net.onnx,p1.vnnlib,violated,0,2,0,,A;B,5
mnistfc,net.onnx,p2.vnnlib,tie,1,1,1,A,B,5
mnistfc,net.onnx,p3.vnnlib,unknown,0,0,0,,,5
"""


def test_read_consensus_keeps_decisive_majorities(tmp_path) -> None:
    (tmp_path / "c.csv").write_text(HEAD + BODY)
    ref = read_consensus(tmp_path / "c.csv")
    assert ref == {
        vnncomp_instance_id("mnistfc", "net.onnx", "p0.vnnlib"): Answer.HOLDS,
        vnncomp_instance_id("mnistfc", "net.onnx", "p1.vnnlib"): Answer.VIOLATED,
    }
    (tmp_path / "bad.csv").write_text(HEAD + BODY.replace("tie", "maybe"))
    with pytest.raises(CorruptFileError, match="'maybe'"):
        read_consensus(tmp_path / "bad.csv")
    (tmp_path / "cols.csv").write_text("a,b\n1,2\n")
    with pytest.raises(CorruptFileError, match="consensus"):
        read_consensus(tmp_path / "cols.csv")


def test_against_reference_counts_and_lists_contradictions() -> None:
    h, v, u = int(Answer.HOLDS), int(Answer.VIOLATED), int(Answer.UNKNOWN)
    m = PerformanceMatrix(
        instances=np.array(["a", "b", "c"], dtype=object),
        verifiers=np.array(["x", "y"], dtype=object),
        answer=np.array([[h, v], [v, u], [h, h]], np.int8),
        time=np.ones((3, 2)),
        limit=np.full(3, 10.0),
    )
    check = against_reference(m, {"a": Answer.HOLDS, "b": Answer.VIOLATED})
    assert check.agree.tolist() == [2, 0]
    assert check.contradict.tolist() == [0, 1]
    assert check.unreferenced.tolist() == [1, 1]  # instance c has no reference
    assert check.conflicts == (("a", "y", Answer.VIOLATED, Answer.HOLDS),)


def test_real_consensus_file_matches_the_competition_ids() -> None:
    root = require_data("vnncomp2021")
    ref = read_consensus(root / "results" / "derived_consensus.csv")
    iid = vnncomp_instance_id("mnistfc", "mnist-net_256x2.onnx", "prop_7_0.03.vnnlib")
    assert ref[iid] == Answer.VIOLATED
    assert sum(a == Answer.HOLDS for a in ref.values()) == 169
