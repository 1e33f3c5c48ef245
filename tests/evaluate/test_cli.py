from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mlrobust.cli.main import app
from tests.evaluate.helpers import tiny_checkpoint, tiny_dataset


def test_evaluate_then_compare(tmp_path: Path) -> None:
    a = tiny_checkpoint(tmp_path / "a.safetensors", seed=0)
    b = tiny_checkpoint(tmp_path / "b.safetensors", seed=1)
    data = tiny_dataset(tmp_path / "d.npz")
    out = tmp_path / "rep"
    args = [
        "evaluate",
        str(a),
        str(b),
        "--dataset",
        str(data),
        "-n",
        "2",
        "--eps",
        "0.05",
        "--attacks",
        "mla-u",
        "--sizes",
        "1",
        "--steps",
        "10",
        "--workers",
        "1",
        "--no-layered",
        "--out",
        str(out),
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert json.loads((out / "a" / "results.json").read_text())["config"]["n"] == 2
    assert "a: " in res.output and " cells decided (" in res.output
    res = CliRunner().invoke(
        app, ["compare", str(out / "a"), str(out / "b"), "--out", str(out / "cmp")]
    )
    assert res.exit_code == 0, res.output
    assert (out / "cmp" / "compare.html").exists()


def test_config_errors_are_one_line(tmp_path: Path) -> None:
    toml = tmp_path / "e.toml"
    toml.write_text("models = ['x']\nworkerz = 2\n")
    res = CliRunner().invoke(app, ["evaluate", "--config", str(toml)])
    assert res.exit_code == 2
    assert "unknown key(s) 'workerz'" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(app, ["evaluate", "--verifier", "z3", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "available: attack, crown, milp" in res.output


def test_help_shows_the_built_in_defaults() -> None:
    import re

    res = CliRunner().invoke(app, ["evaluate", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    text = re.sub(r"\s+", " ", res.output)
    for shown in ("[default: (8)]", "[default: (0.002,0.005,0.01,0.02)]", "[default: (crown)]"):
        assert shown in text, shown
    # every option says what it does
    options = re.findall(r"│ (--[a-z-]+)[^│]*│", res.output)
    bare = [o for o in options if re.search(rf"│ {o}\s+(-\S+\s+)?<\w+>\s+│", res.output)]
    assert options and not bare
