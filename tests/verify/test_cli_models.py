"""`mlrobust verify --model ...` on a checkpoint of a small fresh model."""

from __future__ import annotations

from pathlib import Path

import torch
from typer.testing import CliRunner

from mlrobust.cli.main import app
from mlrobust.datasets import shipped_samples
from mlrobust.models import ModelInfo, build_model, save_checkpoint

runner = CliRunner()


def _checkpoint(tmp_path: Path) -> Path:
    data = shipped_samples()
    torch.manual_seed(0)
    shape = tuple(data.x.shape[1:])
    model = build_model("paper000_cnn", shape, len(data.label_names))
    info = ModelInfo(
        architecture="paper000_cnn",
        input_shape=shape,  # type: ignore[arg-type]
        label_names=data.label_names,
        rule="topk:2",
    )
    return save_checkpoint(tmp_path / "cnn", model, info)


def test_verify_model_topk_counts(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path)
    res = runner.invoke(
        app,
        [
            "verify",
            "--model",
            str(ckpt),
            "--dataset",
            "samples",
            "--n",
            "1",
            "--eps",
            "0",
            "--property",
            "topk",
            "--timeout",
            "30",
        ],
    )
    assert res.exit_code == 0, res.output
    # eps 0: the box is one point, the two predicted labels are decided exactly
    assert "image 0:" in res.output
    assert "VERIFIED 2 FALSIFIED 0 UNKNOWN 0" in res.output


def test_verify_model_bad_property(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path)
    res = runner.invoke(app, ["verify", "--model", str(ckpt), "--property", "nope"])
    assert res.exit_code == 2
    assert "labels or topk" in res.output


def test_verify_needs_a_mode() -> None:
    res = runner.invoke(app, ["verify"])
    assert res.exit_code == 2
    assert "--model" in res.output
