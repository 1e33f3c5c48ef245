import sqlite3
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import torch

from mlrobust.datasets import save_npz, shipped_samples
from mlrobust.evaluate import EvaluationConfig, evaluate
from mlrobust.evaluate.layered import layered_images, layered_row
from mlrobust.evaluate.models import load_model


def test_layered_hook_targets_one_digit_and_layers_around_the_other() -> None:
    data = shipped_samples().subset(slice(0, 3))
    model = load_model("double_mnist_none", None, data.input_shape)
    images = layered_images(model, data, samples=1)
    assert images is not None and len(images) == 1
    i = images[0]
    row = layered_row(model, data, i, i, timeout_s=1.0)
    assert row["label"] == int(data.objects[i, 0])
    layers = torch.tensor(row["layers"])
    # layer 0 is exactly the perturbed (right) digit's mask
    assert torch.equal(layers == 0, data.masks[i, 1])
    eps = torch.tensor(row["eps"])
    assert len(eps) == int(layers.max()) + 1 and (eps >= 0).all()
    assert row["verdict"] in ("verified", "unknown")


class Bars:
    def __init__(self) -> None:
        self.started: list[tuple[str, int, int]] = []

    def start(self, description: str, total: int, completed: int) -> None:
        self.started.append((description, total, completed))

    def advance(self, n: int = 1) -> None:
        pass


def test_layered_phase_shows_progress_and_resumes(tmp_path: Path) -> None:
    save_npz(shipped_samples().subset(slice(0, 4)), tmp_path / "d.npz")
    cfg = EvaluationConfig(
        models=("double_mnist_none",),
        dataset=str(tmp_path / "d.npz"),
        n=2,
        eps=(0.002,),
        attacks=("mla-u",),
        target_sizes=(1,),
        attack_steps=5,
        verifier_timeout_s=1.0,
        layered_samples=1,
        workers=1,
        out_dir=tmp_path / "rep",
    )
    bars = Bars()
    (rep,) = evaluate(cfg, progress=bars)
    assert rep.result.layered is not None and len(rep.result.layered) == 1
    assert ("double_mnist_none: layered eps", 1, 0) in bars.started
    with closing(sqlite3.connect(tmp_path / "rep" / "double_mnist_none" / "cells.sqlite")) as db:
        kinds = dict(db.execute("SELECT kind, COUNT(*) FROM cells GROUP BY kind").fetchall())
    assert kinds["layered"] == 1
    again = Bars()
    (rep2,) = evaluate(replace(cfg), progress=again)
    assert ("double_mnist_none: layered eps", 1, 1) in again.started  # resumed: nothing to do
    assert rep2.result.layered == rep.result.layered
