from typer.testing import CliRunner

from mlrobust.cli.main import app

runner = CliRunner()

ROWS = """mnistfc,./benchmarks/mnistfc/net.onnx,./benchmarks/mnistfc/p0.vnnlib,.007,holds,3.5
mnistfc,./benchmarks/mnistfc/net.onnx,./benchmarks/mnistfc/p1.vnnlib,.007,timeout,121
"""


def test_analyze_vnncomp_files(tmp_path) -> None:
    (tmp_path / "toolA.csv").write_text(ROWS)
    other = ROWS.replace("holds", "violated").replace("timeout", "holds")
    (tmp_path / "toolB.csv").write_text(other)
    res = runner.invoke(
        app,
        [
            "portfolio",
            "analyze",
            str(tmp_path),
            "--time-limit",
            "120",
            "--portfolio",
            "toolA,toolB",
            "--report",
            str(tmp_path / "r"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "CONFLICT: 1 instance" in res.output
    assert "portfolio toolA + toolB (budget split 2 ways): 1 solved" in res.output
    assert (tmp_path / "r" / "portfolio.html").exists()


def test_analyze_reports_bad_input_without_traceback(tmp_path) -> None:
    (tmp_path / "t.csv").write_text(ROWS.replace("holds", "perhaps"))
    res = runner.invoke(app, ["portfolio", "analyze", str(tmp_path / "t.csv"), "--time-limit", "9"])
    assert res.exit_code == 2 and "'perhaps'" in res.output and "Traceback" not in res.output
    ok = runner.invoke(
        app,
        [
            "portfolio",
            "analyze",
            str(tmp_path / "t.csv"),
            "--time-limit",
            "9",
            "--verdict",
            "perhaps=unknown",
        ],
    )
    assert ok.exit_code == 0, ok.output
    res = runner.invoke(app, ["portfolio", "analyze", str(tmp_path / "t.csv")])
    assert res.exit_code == 2 and "--time-limit" in res.output


def test_run_rejects_unknown_configuration(tmp_path) -> None:
    (tmp_path / "n.onnx").write_text("")
    (tmp_path / "p.vnnlib").write_text("")
    (tmp_path / "inst.csv").write_text("n.onnx,p.vnnlib,10\n")
    res = runner.invoke(
        app,
        [
            "portfolio",
            "run",
            "--instances",
            str(tmp_path / "inst.csv"),
            "--config",
            "nope",
            "--store",
            str(tmp_path / "s.sqlite"),
        ],
    )
    assert res.exit_code == 2 and "Unknown verifier configuration" in res.output


def test_analyze_checks_against_a_reference(tmp_path) -> None:
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "toolA.csv").write_text(ROWS)
    (tmp_path / "ref.csv").write_text(
        "benchmark,onnx,vnnlib,majority\nmnistfc,net.onnx,p0.vnnlib,violated\n"
    )
    res = runner.invoke(
        app,
        [
            "portfolio",
            "analyze",
            str(tmp_path / "res"),
            "--time-limit",
            "120",
            "--reference",
            str(tmp_path / "ref.csv"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "CONFLICT mnistfc:net.onnx:p0.vnnlib: toolA says holds, reference violated" in res.output
