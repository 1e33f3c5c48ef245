"""Heatmaps of certified layered epsilons (paper 000, Figures 3-4) and a per-image CSV."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mlrobust.synthesis.result import LayeredResult


def layered_heatmap_figure(image: torch.Tensor, result: LayeredResult, title: str = "") -> Figure:
    """The image in grey (left) and every pixel coloured by its layer's certified eps (right).

    Shapes: ``image [C, H, W]`` or ``[H, W]`` in [0, 1]."""
    img = image.detach().cpu().float()
    img = img.mean(0) if img.dim() == 3 else img
    heat = result.eps.to(torch.float64)[result.layers].numpy()
    fig = Figure(figsize=(9.0, 2.8))
    FigureCanvasAgg(fig)
    ax0, ax1 = fig.subplots(1, 2)
    ax0.imshow(img.numpy(), cmap="gray", vmin=0, vmax=1)
    ax0.set_title("image")
    ax1.imshow(img.numpy(), cmap="gray", vmin=0, vmax=1)
    im = ax1.imshow(heat, cmap="viridis", alpha=0.75, vmin=0, vmax=max(float(heat.max()), 1e-6))
    ax1.contour(result.layers.numpy() == 0, levels=[0.5], colors="white", linewidths=0.6)
    ax1.set_title(title or f"{result.method}: w.eps = {result.size:.3f}")
    fig.colorbar(im, ax=ax1, label="certified eps of the layer")
    for ax in (ax0, ax1):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def write_layered_heatmap(
    path: str | Path, image: torch.Tensor, result: LayeredResult, title: str = ""
) -> Path:
    """Write :func:`layered_heatmap_figure` as a PNG; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    layered_heatmap_figure(image, result, title).savefig(path, dpi=110)
    return path


def write_layered_csv(path: str | Path, rows: Sequence[tuple[int, LayeredResult]]) -> Path:
    """One line per (image index, result): size, bounds, calls by kind, time, eps per layer."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(
            [
                "image",
                "method",
                "target",
                "size",
                "upper_size",
                "attack_calls",
                "crown_calls",
                "milp_calls",
                "seconds",
                "final_verdict",
                "certified_by",
                "eps",
            ]
        )
        for i, r in rows:
            out.writerow(
                [
                    i,
                    r.method,
                    r.target,
                    f"{r.size:.6g}",
                    "" if r.upper_size is None else f"{r.upper_size:.6g}",
                    r.calls.attack,
                    r.calls.crown,
                    r.calls.milp,
                    f"{r.seconds:.2f}",
                    r.final_verdict.value,
                    r.certified_by,
                    " ".join(f"{e:.5g}" for e in np.asarray(r.eps)),
                ]
            )
    return path
