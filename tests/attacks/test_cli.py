import json

import torch
from typer.testing import CliRunner

from mlrobust.cli.main import app


def test_attack_list():
    out = CliRunner().invoke(app, ["attack", "list"])
    assert out.exit_code == 0
    assert "gmla" in out.output and "mla-lp" in out.output


def _checkpoint(tmp_path, num_labels=10):
    from mlrobust.models import ModelInfo, build_model, save_checkpoint

    torch.manual_seed(0)
    model = build_model("mlp", (1, 28, 56), num_labels, hidden=(16,))
    info = ModelInfo(
        architecture="mlp",
        input_shape=(1, 28, 56),
        rule="topk:2",
        label_names=tuple(str(i) for i in range(num_labels)),
        architecture_options={"hidden": [16]},
    )
    return save_checkpoint(tmp_path / "m", model, info)


def test_attack_run_on_a_real_checkpoint_and_samples(tmp_path):
    torch.set_num_threads(1)
    out_file = tmp_path / "a.json"
    result = CliRunner().invoke(
        app,
        [
            "attack",
            "run",
            str(_checkpoint(tmp_path)),
            "--attacks",
            "mla-u,mla-c",
            "--eps",
            "0.3",
            "--sizes",
            "1",
            "-n",
            "4",
            "--out",
            str(out_file),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(out_file.read_text())["rows"]
    assert [r["attack"] for r in rows] == ["mla-u", "mla-c"]
    assert all(0.0 <= r["FR_N"] <= 1.0 for r in rows)


def test_attack_run_label_mismatch_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "attack",
            "run",
            str(_checkpoint(tmp_path, 7)),
            "-n",
            "2",
            "--out",
            str(tmp_path / "a.json"),
        ],
    )
    assert result.exit_code == 2
    assert "labels" in result.output and "Traceback" not in result.output


def test_attack_run_stores_units_resumes_and_ignores_thread_count(tmp_path, monkeypatch):
    """A killed run keeps its finished units (OUT.sqlite) and the same command resumes; the
    numbers do not depend on the torch thread count."""
    import sqlite3
    from contextlib import closing

    import mlrobust.cli.attack as attack_cli

    ckpt = str(_checkpoint(tmp_path))
    args = ["attack", "run", ckpt, "--attacks", "mla-u,mla-c", "--eps", "0.02,0.05"]
    args += ["--sizes", "1", "-n", "6", "--out", str(tmp_path / "a.json")]
    real = attack_cli.get_attack
    calls: list[str] = []

    def dies_on_third(name, **kw):  # type: ignore[no-untyped-def]
        calls.append(name)
        if len(calls) == 3:
            raise KeyboardInterrupt  # as a Ctrl-C in the middle of the run
        return real(name, **kw)

    monkeypatch.setattr(attack_cli, "get_attack", dies_on_third)
    CliRunner().invoke(app, args)
    with closing(sqlite3.connect(tmp_path / "a.sqlite")) as db:
        assert db.execute("SELECT COUNT(*) FROM cells").fetchone()[0] == 2
    calls.clear()
    monkeypatch.setattr(
        attack_cli, "get_attack", lambda name, **kw: (calls.append(name), real(name, **kw))[1]
    )
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert len(calls) == 2  # only the two units left
    resumed = json.loads((tmp_path / "a.json").read_text())["rows"]
    for threads in (1, 2):
        torch.set_num_threads(threads)
        out = tmp_path / f"t{threads}.json"
        res = CliRunner().invoke(app, [*args[:-1], str(out)])
        assert res.exit_code == 0, res.output
        assert _without_seconds(json.loads(out.read_text())["rows"]) == _without_seconds(resumed)
    torch.set_num_threads(1)


def _without_seconds(rows):  # type: ignore[no-untyped-def]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]
