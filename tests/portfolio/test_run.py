"""The portfolio runner on the shared engine: each failure costs only its run, the store
resumes, and the limits hold."""

import time

import pytest

from mlrobust.engine import Store
from mlrobust.errors import InputError
from mlrobust.portfolio import Answer, InstanceSpec, read_run_store, summarize, to_matrix
from mlrobust.portfolio.runner import STORE_KIND, RunnerConfig, run_portfolio

CONFIGS = ["answer", "raise", "segv", "hog", "junk", "liar"]
# generous limits: a child imports torch and onnx first, seconds on a busy 2-core machine
FAST = RunnerConfig(memory_limit_mb=1024, grace_s=0.5, jobs=2)


def _instances(tiny, timeout: float = 60.0):
    return [
        InstanceSpec(
            id=f"b:tiny.onnx:{p}.vnnlib",
            onnx=tiny / "tiny.onnx",
            vnnlib=tiny / f"{p}.vnnlib",
            timeout=timeout,
        )
        for p in ("holds", "violated")
    ]


def test_each_failure_costs_only_its_run_and_the_store_resumes(
    tiny, tmp_path, test_plugins
) -> None:
    specs, store = _instances(tiny), tmp_path / "runs.sqlite"
    summary = run_portfolio(specs, CONFIGS, store, config=FAST)
    assert len(summary.completed) == 12 and summary.skipped == 0
    rec = {(r.instance.split(":")[-1], r.verifier): r for r in summary.completed}
    assert rec["holds.vnnlib", "answer"].answer is Answer.HOLDS
    assert rec["violated.vnnlib", "answer"].answer is Answer.UNKNOWN
    assert rec["holds.vnnlib", "answer"].peak_memory_mb > 1
    assert rec["holds.vnnlib", "raise"].answer is Answer.ERROR
    assert "solver exploded on purpose" in rec["holds.vnnlib", "raise"].error
    assert rec["holds.vnnlib", "segv"].answer is Answer.ERROR
    assert "SIGSEGV" in rec["holds.vnnlib", "segv"].error
    hog = rec["holds.vnnlib", "hog"]
    assert hog.answer is Answer.UNKNOWN and "out of memory (limit 1024 MiB)" in hog.error
    assert "one VerificationResult per spec" in rec["violated.vnnlib", "junk"].error
    # a FALSIFIED without a real counterexample is refused by the verifier protocol
    liar = rec["holds.vnnlib", "liar"]
    assert liar.answer is Answer.UNKNOWN and "does not reproduce" in liar.error

    # The store holds one row per pair and feeds the analysis.
    table = read_run_store(store)
    assert len(table) == 12
    m = to_matrix(table, time_limit=60.0)
    solved = dict(zip(m.verifiers, summarize(m).solved.tolist(), strict=True))
    assert solved == {c: int(c == "answer") for c in CONFIGS}

    # Resume: nothing left to do; with rerun_errors the error rows run again.
    again = run_portfolio(specs, CONFIGS, store, config=FAST)
    assert again.completed == () and again.skipped == 12
    db = Store(store, STORE_KIND)
    db.delete(["run/b:tiny.onnx:violated.vnnlib/answer"])
    db.close()
    resumed = run_portfolio(specs, ["answer"], store, config=FAST)
    assert [(r.verifier, r.answer) for r in resumed.completed] == [("answer", Answer.UNKNOWN)]
    redo = run_portfolio(
        specs, ["raise"], store, config=RunnerConfig(memory_limit_mb=1024, rerun_errors=True)
    )
    assert len(redo.completed) == 2


def test_a_run_past_its_limit_is_killed(tiny, tmp_path, test_plugins) -> None:
    """The one deadline test: the sleeping verifier is killed at timeout + grace (slack for a
    busy machine in the upper bound only)."""
    start = time.perf_counter()
    summary = run_portfolio(
        _instances(tiny)[:1],
        ["sleep"],
        tmp_path / "runs.sqlite",
        config=RunnerConfig(memory_limit_mb=1024, grace_s=0.5, timeout=3.0),
    )
    (sleep,) = summary.completed
    assert sleep.answer is Answer.UNKNOWN and sleep.error.startswith("timeout")
    assert 3.0 <= sleep.time < 20 and time.perf_counter() - start < 30


def test_bad_configurations(tiny, tmp_path) -> None:
    with pytest.raises(InputError, match="Unknown verifier configuration 'nope'.*available"):
        run_portfolio(_instances(tiny), ["bab", "nope"], tmp_path / "x.sqlite")
    with pytest.raises(InputError, match="memory_limit_mb"):
        RunnerConfig(memory_limit_mb=1)
    specs = _instances(tiny)
    with pytest.raises(InputError, match="repeats"):
        run_portfolio([specs[0], specs[0]], ["bab"], tmp_path / "x.sqlite")
    with pytest.raises(InputError, match="other settings"):
        other = Store(tmp_path / "eval.sqlite", "an evaluate fingerprint")
        other.close()
        run_portfolio(specs, ["bab"], tmp_path / "eval.sqlite")
