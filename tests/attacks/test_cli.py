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
