import gzip
import sqlite3

import numpy as np
import pytest

from mlrobust.errors import CorruptFileError, DataNotFoundError
from mlrobust.portfolio import (
    Answer,
    normalize_path,
    read_assessment_results,
    read_instances,
    read_run_store,
    read_vnncomp_results,
    to_matrix,
)
from tests.conftest import require_data

VNN_ROWS = """test,./benchmarks/test/test_nano.onnx,./benchmarks/test/test_nano.vnnlib,.007,,1.7
mnistfc,./benchmarks/test/test_tiny.onnx,./benchmarks/test/test_tiny.vnnlib,.007,holds,1.0
mnistfc,./benchmarks/mnistfc/net.onnx,./benchmarks/mnistfc/prop_0.vnnlib,.007,UNSAT,3.5
mnistfc,./benchmarks/mnistfc/net.onnx,./benchmarks/mnistfc/./prop_1.vnnlib,.007,run_instance_timeout,121
eran,./benchmarks/eran/nets/a.onnx,./benchmarks/eran/specs/p.vnnlib,.007,error_exit_code_1,0.9
"""


def test_vnncomp_csv_skips_overhead_rows(tmp_path) -> None:
    f = tmp_path / "NV.jl.csv"
    f.write_text(VNN_ROWS)
    t = read_vnncomp_results(f)
    assert t.instance.tolist() == [
        "mnistfc:net.onnx:prop_0.vnnlib",
        "mnistfc:net.onnx:prop_1.vnnlib",
        "eran:nets/a.onnx:specs/p.vnnlib",
    ]
    assert set(t.verifier) == {"NV.jl"}
    assert t.answer.tolist() == [Answer.HOLDS, Answer.UNKNOWN, Answer.ERROR]
    assert t.time.tolist() == [3.5, 121.0, 0.9]
    assert len(read_vnncomp_results(f, benchmarks={"eran"})) == 1
    f.write_text(VNN_ROWS.replace("UNSAT", "dunno"))
    with pytest.raises(CorruptFileError, match="'dunno'"):
        read_vnncomp_results(f)
    f.write_text("a,b,c\n")
    with pytest.raises(CorruptFileError, match="expected 6 columns"):
        read_vnncomp_results(f)
    with pytest.raises(DataNotFoundError):
        read_vnncomp_results(tmp_path / "none.csv")


def test_normalize_path() -> None:
    spec = "./benchmarks/verivital/./specs/p.vnnlib.gz"
    assert normalize_path(spec, "verivital") == "specs/p.vnnlib"
    assert normalize_path("./specs/p.vnnlib") == "specs/p.vnnlib"


def test_assessment_layouts(tmp_path) -> None:
    jmlr = tmp_path / "mnist_0012_verinet_results.csv.gz"
    with gzip.open(jmlr, "wt") as fh:
        fh.write(
            "ProblemId,Result,TotalTime\nMNIST_P1_N3,unsat,5.5\nMNIST_P2_N4,"
            "VerinetTranslatorError(MaxPool operations are not supported.),\n"
        )
    t = read_assessment_results(jmlr)
    assert t.instance.tolist() == ["MNIST_P1_N3@0.012", "MNIST_P2_N4@0.012"]
    assert t.verifier.tolist() == ["verinet", "verinet"]
    assert t.answer.tolist() == [Answer.HOLDS, Answer.ERROR]
    assert t.time[0] == 5.5 and np.isnan(t.time[1])
    assert read_assessment_results(jmlr, networks={"N4"}).instance.tolist() == ["MNIST_P2_N4@0.012"]
    pre = tmp_path / "gpu.csv"
    pre.write_text(
        ",Dataset,Epsilon,Image,Network,Result,TotalTime,Verifier\n"
        "0,MNIST,0.012,60.0,a.onnx,unsat,0.2,bab\n"
        "1,,0.012,60.0,a.onnx,unsat/sat,2.0,abcrown\n"
    )
    with pytest.raises(CorruptFileError, match="unsat/sat"):
        read_assessment_results(pre)
    t = read_assessment_results(pre, verdicts={"unsat/sat": Answer.ERROR})
    assert t.instance.tolist() == ["a.onnx:60.0@0.012"] * 2
    assert t.verifier.tolist() == ["bab", "abcrown"]
    bad = tmp_path / "x.csv"
    bad.write_text("foo,bar\n1,2\n")
    with pytest.raises(CorruptFileError, match="unknown layout"):
        read_assessment_results(bad)


def test_instances_csv_resolves_relative_and_gzipped_paths(tmp_path) -> None:
    bench = tmp_path / "mybench"
    (bench / "specs").mkdir(parents=True)
    (bench / "net.onnx").write_bytes(b"")
    (bench / "specs" / "p.vnnlib.gz").write_bytes(b"")
    (bench / "inst.csv").write_text("net.onnx,./specs/p.vnnlib,60\n")
    (spec,) = read_instances(bench / "inst.csv")
    assert spec.id == "mybench:net.onnx:specs/p.vnnlib"
    assert spec.onnx == (bench / "net.onnx").resolve()
    assert spec.vnnlib.name == "p.vnnlib.gz" and spec.timeout == 60.0
    (bench / "inst.csv").write_text("net.onnx,missing.vnnlib,60\n")
    with pytest.raises(DataNotFoundError, match="missing.vnnlib"):
        read_instances(bench / "inst.csv")
    (bench / "inst.csv").write_text("net.onnx,./specs/p.vnnlib,soon\n")
    with pytest.raises(CorruptFileError, match="not a number"):
        read_instances(bench / "inst.csv")


def test_run_store_reader(tmp_path) -> None:
    db = tmp_path / "runs.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE runs (instance TEXT, verifier TEXT, answer TEXT, time REAL)")
        con.execute("INSERT INTO runs VALUES ('i', 'v', 'holds', 1.5), ('i', 'w', 'error', NULL)")
    t = read_run_store(db)
    assert t.answer.tolist() == [Answer.HOLDS, Answer.ERROR] and np.isnan(t.time[1])
    (tmp_path / "junk.sqlite").write_text("not a database at all, sorry")
    with pytest.raises(CorruptFileError):
        read_run_store(tmp_path / "junk.sqlite")


def test_vnncomp2021_real_results_join_the_instances() -> None:
    root = require_data("vnncomp2021")
    csvs = root / "results" / "results_csv"
    t = read_vnncomp_results(csvs / "nnenum.csv", benchmarks={"mnistfc"})
    specs = read_instances(root / "mnistfc" / "mnistfc_instances.csv")
    ids = {s.id for s in specs}
    assert len(specs) == 90 and set(t.instance) <= ids
    # The competition results lack mnist-net_256x6 / prop_14_0.05 (see the data MANIFEST).
    assert ids - set(t.instance) == {"mnistfc:mnist-net_256x6.onnx:prop_14_0.05.vnnlib"}
    m = to_matrix(t, time_limit={s.id: s.timeout for s in specs})
    assert m.answer.shape == (89, 1)
    crown = read_vnncomp_results(csvs / "a-b-CROWN.csv")
    assert {Answer.HOLDS, Answer.VIOLATED} <= set(Answer(a) for a in crown.answer)
