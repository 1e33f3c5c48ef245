"""A tiny model checkpoint and a tiny dataset file, so a whole evaluation runs in seconds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from mlrobust.datasets import MultiLabelDataset, save_npz
from mlrobust.evaluate import EvaluationConfig
from mlrobust.models import ModelInfo, build_model, save_checkpoint
from tests.conftest import NO_LIMIT_S

SHAPE = (1, 4, 4)
LABELS = 4


def tiny_dataset(path: Path, n: int = 3, labels: int = LABELS) -> Path:
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(n, *SHAPE, generator=g) * 255).round() / 255
    y = torch.zeros(n, labels, dtype=torch.bool)
    y[:, :2] = True
    data = MultiLabelDataset(
        name="tiny",
        x=x,
        y=y,
        masks=torch.zeros(n, 0, 4, 4, dtype=torch.bool),
        objects=torch.zeros(n, 0, dtype=torch.long),
        label_names=tuple(str(i) for i in range(labels)),
    )
    save_npz(data, path)
    return path


def tiny_checkpoint(path: Path, labels: int = LABELS, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    info = ModelInfo(
        architecture="mlp",
        input_shape=SHAPE,
        label_names=tuple(str(i) for i in range(labels)),
        rule="topk:2",
        architecture_options={"hidden": [6]},
    )
    model = build_model("mlp", SHAPE, labels, None, hidden=(6,))
    return save_checkpoint(path, model, info)


def tiny_config(tmp: Path, **overrides: object) -> EvaluationConfig:
    ckpt = tiny_checkpoint(tmp / "tiny.safetensors")
    data = tiny_dataset(tmp / "tiny.npz")
    cfg = EvaluationConfig(
        models=(str(ckpt),),
        dataset=str(data),
        n=3,
        eps=(0.01, 0.3),
        attacks=("mla-u",),
        target_sizes=(1,),
        attack_steps=20,
        verifier_timeout_s=NO_LIMIT_S,
        workers=1,
        layered=False,
        out_dir=tmp / "rep",
    )
    return replace(cfg, **overrides)  # type: ignore[arg-type]
