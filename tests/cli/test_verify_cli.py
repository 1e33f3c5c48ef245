"""`mlrobust verify --onnx NET --vnnlib PROP`: answers agree with the VNN-COMP consensus, with
and without branch and bound; bad files give a one-line error and exit code 2."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlrobust.cli.main import app
from tests.conftest import require_data

runner = CliRunner()


@pytest.mark.parametrize("bab", ["--bab", "--no-bab"])
@pytest.mark.parametrize(
    ("onnx", "prop", "answer"),
    [
        ("test/test_sat.onnx", "test/test_prop.vnnlib", "sat"),
        ("mnistfc/mnist-net_256x2.onnx", "mnistfc/prop_2_0.03.vnnlib.gz", "unsat"),
    ],
)
def test_vnncomp_mode_prints_the_answer(bab: str, onnx: str, prop: str, answer: str) -> None:
    net = require_data("vnncomp2021", *onnx.split("/"))
    spec = require_data("vnncomp2021", *prop.split("/"))
    res = runner.invoke(
        app, ["verify", "--onnx", str(net), "--vnnlib", str(spec), "--timeout", "60", bab]
    )
    assert res.exit_code == 0, res.output
    word, seconds = res.output.split()
    assert word == answer and float(seconds) >= 0


def test_vnncomp_mode_stdout_is_the_answer_alone_when_the_milp_runs() -> None:
    """A VNN-COMP harness reads the first word of stdout: with HiGHS running (no branch and
    bound on the hardest 256x2 property: LP tightening and the MILP) nothing else may reach the
    process's stdout, HiGHS's banner included (printed by C code, below what CliRunner
    captures: a real process here)."""
    import subprocess
    import sys

    net = require_data("vnncomp2021", "mnistfc", "mnist-net_256x2.onnx")
    spec = require_data("vnncomp2021", "mnistfc", "prop_1_0.03.vnnlib.gz")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlrobust",
            "verify",
            "--onnx",
            str(net),
            "--vnnlib",
            str(spec),
            "--no-bab",
            "--timeout",
            "8",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = out.stdout.splitlines()
    assert len(lines) == 1 and lines[0].split()[0] in ("unsat", "unknown"), out.stdout


@pytest.mark.parametrize("threads", [1, 2])
def test_vnncomp_mode_shares_branch_and_bound_between_threads_processes(
    threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    import torch

    from mlrobust.verify import api

    seen = []

    def fake_verify_vnnlib(onnx, vnnlib, verifier, time_limit_s):  # type: ignore[no-untyped-def]
        seen.append(verifier.config.bab_processes)
        return types.SimpleNamespace(answer="unknown", time_s=0.0)

    monkeypatch.setattr(api, "verify_vnnlib", fake_verify_vnnlib)
    before = torch.get_num_threads()
    try:
        res = runner.invoke(
            app, ["--threads", str(threads), "verify", "--onnx", "n.onnx", "--vnnlib", "p"]
        )
    finally:
        torch.set_num_threads(before)
    assert res.exit_code == 0, res.output
    assert seen == [min(threads, os.cpu_count() or 1)]


def test_vnncomp_mode_bad_property_file(tmp_path: Path) -> None:
    net = require_data("vnncomp2021", "test", "test_sat.onnx")
    bad = tmp_path / "bad.vnnlib"
    bad.write_text("(declare-const X_0 Real)\n(assert (<= X_0 \n")
    res = runner.invoke(app, ["verify", "--onnx", str(net), "--vnnlib", str(bad)])
    assert res.exit_code == 2
    assert res.output.startswith("error:") and "bad.vnnlib" in res.output


def test_every_command_takes_n_both_ways() -> None:
    """-n and --n mean the same in every command that takes a number of images."""
    import typer

    root = typer.main.get_command(app)
    for path in (["evaluate"], ["attack", "run"], ["verify"], ["demo"], ["layered"]):
        cmd = root
        for name in path:
            cmd = cmd.commands[name]  # type: ignore[attr-defined]
        (opt,) = [p for p in cmd.params if p.name == "n"]
        assert {"-n", "--n"} <= set(opt.opts), (path, opt.opts)


def test_without_a_terminal_tables_do_not_wrap_at_80(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from mlrobust.cli.common import _width

    monkeypatch.delenv("COLUMNS", raising=False)
    assert _width(io.StringIO()) == 160  # a pipe or a log file
    monkeypatch.setenv("COLUMNS", "220")
    assert _width(io.StringIO()) == 220

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert _width(Tty()) is None  # a terminal keeps its own width


@pytest.mark.parametrize(
    "args, message",
    [
        (["attack", "run", "double_mnist_none", "--norm", "l3"], "--norm must be linf or l2"),
        (["attack", "run", "double_mnist_none", "--eps", "a,b"], "comma-separated numbers"),
        (["layered", "--method", "magic"], "unknown method 'magic'"),
        (["verify", "--timeout", "0", "--model", "double_mnist_none"], "--timeout must be > 0"),
        (["graph", "show", "no-such-graph"], "no-such-graph"),
    ],
)
def test_bad_options_are_one_error_line_in_every_command(args: list[str], message: str) -> None:
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and message in res.output, res.output
    assert "Usage:" not in res.output and "╭" not in res.output  # not click's boxed usage error
