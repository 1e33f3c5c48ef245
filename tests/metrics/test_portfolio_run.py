import sqlite3
import time

import pytest

from mlrobust.errors import InputError
from mlrobust.metrics.portfolio import (
    Answer,
    InstanceSpec,
    read_run_store,
    summarize,
    to_matrix,
)
from mlrobust.portfolio_run import RunnerConfig, builtin_configs, run_portfolio, select_configs
from tests.metrics import _portfolio_configs as cfgs

CONFIGS = {
    "answer": cfgs.answers_holds,
    "raise": cfgs.raises,
    "segv": cfgs.segfaults,
    "sleep": cfgs.sleeps,
    "hog": cfgs.hogs_memory,
    "junk": cfgs.returns_junk,
}
FAST = RunnerConfig(memory_limit_mb=512, grace_s=0.3, jobs=2)


def _instances(tmp_path):
    for name in ("net.onnx", "p_holds.vnnlib", "p_bad.vnnlib"):
        (tmp_path / name).write_text("")
    return [
        InstanceSpec(
            id="b:net.onnx:p_holds.vnnlib",
            onnx=tmp_path / "net.onnx",
            vnnlib=tmp_path / "p_holds.vnnlib",
            timeout=0.5,
        ),
        InstanceSpec(
            id="b:net.onnx:p_bad.vnnlib",
            onnx=tmp_path / "net.onnx",
            vnnlib=tmp_path / "p_bad.vnnlib",
            timeout=0.5,
        ),
    ]


def test_each_failure_costs_only_its_run_and_the_store_resumes(tmp_path) -> None:
    specs, store = _instances(tmp_path), tmp_path / "runs.sqlite"
    start = time.perf_counter()
    summary = run_portfolio(specs, CONFIGS, store, config=FAST)
    assert time.perf_counter() - start < 30
    assert len(summary.completed) == 12 and summary.skipped == 0
    rec = {(r.instance.split(":")[-1], r.verifier): r for r in summary.completed}
    assert rec["p_holds.vnnlib", "answer"].answer is Answer.HOLDS
    assert rec["p_bad.vnnlib", "answer"].answer is Answer.VIOLATED
    assert rec["p_holds.vnnlib", "answer"].peak_memory_mb > 1
    assert rec["p_holds.vnnlib", "raise"].answer is Answer.ERROR
    assert "solver exploded on purpose" in rec["p_holds.vnnlib", "raise"].error
    assert rec["p_holds.vnnlib", "segv"].answer is Answer.ERROR
    assert "SIGSEGV" in rec["p_holds.vnnlib", "segv"].error
    sleep = rec["p_holds.vnnlib", "sleep"]
    assert sleep.answer is Answer.UNKNOWN and sleep.error.startswith("timeout")
    assert 0.5 <= sleep.time < 10
    hog = rec["p_holds.vnnlib", "hog"]
    assert hog.answer is Answer.UNKNOWN and "out of memory (limit 512 MiB)" in hog.error
    assert hog.peak_memory_mb < 512
    assert "not an answer" in rec["p_bad.vnnlib", "junk"].error

    # The store holds one row per pair and feeds the analysis.
    table = read_run_store(store)
    assert len(table) == 12
    m = to_matrix(table, time_limit=0.5)
    assert summarize(m).solved.tolist() == [2, 0, 0, 0, 0, 0]  # "answer" sorts first

    # Resume: nothing left to do; with rerun_errors the error rows run again.
    again = run_portfolio(specs, CONFIGS, store, config=FAST)
    assert again.completed == () and again.skipped == 12
    with sqlite3.connect(store) as con:
        con.execute("DELETE FROM runs WHERE verifier = 'answer' AND instance LIKE '%bad%'")
    resumed = run_portfolio(specs, {"answer": cfgs.answers_holds}, store, config=FAST)
    assert [(r.verifier, r.answer) for r in resumed.completed] == [("answer", Answer.VIOLATED)]
    redo = run_portfolio(
        specs,
        {"raise": cfgs.raises},
        store,
        config=RunnerConfig(memory_limit_mb=512, rerun_errors=True),
    )
    assert len(redo.completed) == 2


def test_bad_configurations(tmp_path) -> None:
    with pytest.raises(InputError, match="Unknown verifier configuration.*available"):
        select_configs(CONFIGS, ["answer", "nope"])
    with pytest.raises(InputError, match="module-level"):
        select_configs({"lam": lambda o, v, t: "holds"}, ["lam"])
    with pytest.raises(InputError, match="memory_limit_mb"):
        RunnerConfig(memory_limit_mb=1)
    specs = _instances(tmp_path)
    with pytest.raises(InputError, match="repeats"):
        run_portfolio([specs[0], specs[0]], CONFIGS, tmp_path / "x.sqlite")
    assert isinstance(builtin_configs(), dict)
