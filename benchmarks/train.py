"""Training and inference throughput (images/s) of each zoo model on this machine's CPU.

    .venv/bin/python benchmarks/train.py [--threads 2] [--images 4096]

Prints one row per (model, regime). Ratios are against plain (no defence) training of the same
model measured in the same run. Uses synthetic inputs of each model's shape, so no data is needed.
"""

from __future__ import annotations

import argparse
import time

import torch

from mlrobust.datasets import MultiLabelDataset
from mlrobust.models import build_model, predict_logits
from mlrobust.training.train import Regime, TrainConfig, train

MODELS = {"paper000_cnn": (1, 28, 56), "mlp": (1, 28, 56), "small_cnn": (1, 56, 56)}


def synthetic(shape: tuple[int, int, int], n: int) -> MultiLabelDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, *shape, generator=g)
    y = torch.rand(n, 10, generator=g) < 0.2
    return MultiLabelDataset(
        name="synthetic",
        x=x,
        y=y,
        masks=torch.zeros(n, 0, *shape[1:], dtype=torch.bool),
        objects=torch.zeros(n, 0, dtype=torch.long),
        label_names=tuple(str(i) for i in range(10)),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=4096)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads={args.threads} images={args.images}")
    print(f"{'model':<14}{'regime':<8}{'train img/s':>12}{'vs none':>9}{'infer img/s':>13}")
    for name, shape in MODELS.items():
        data = synthetic(shape, args.images)
        model = build_model(name, shape, 10)
        start = time.perf_counter()
        predict_logits(model, data.x, batch_size=512)
        infer = len(data) / (time.perf_counter() - start)
        base = None
        for regime in Regime:
            history = train(model, data, TrainConfig(epochs=1, regime=regime))
            base = base or history.images_per_second
            print(
                f"{name:<14}{regime.value:<8}{history.images_per_second:>12.0f}"
                f"{history.images_per_second / base:>9.2f}{infer:>13.0f}"
            )


if __name__ == "__main__":
    main()
