"""Choosing the images of a layered-synthesis run (Double-MNIST semantics).

``objects[i] = [left_label, right_label]`` and ``masks[i]`` the two digit masks: the target is
the left digit (``c_t = objects[i, 0]``), the perturbed object is the right one (mask 1). Only
images with two different digits whose target is predicted (top-k) at the clean image are used.
"""

from __future__ import annotations

import torch
from torch import nn

from mlrobust.datasets.base import MultiLabelDataset
from mlrobust.errors import InputError
from mlrobust.rules import TopK
from mlrobust.synthesis.layers import layer_map
from mlrobust.synthesis.oracle import Problem, make_problem


def pick_images(
    models: list[nn.Module], ds: MultiLabelDataset, n: int, k: int = 2, start: int = 0
) -> list[int]:
    """The first ``n`` image indices from ``start`` usable for *every* model (so all models
    are compared on the same images)."""
    if ds.masks.shape[1] < 2:
        raise InputError(
            f"{ds.name} has no two object masks per image; layered synthesis "
            "needs the perturbed object's mask (Double-MNIST ships them)."
        )
    pred = torch.ones(ds.y.shape, dtype=torch.bool)
    for model in models:
        model.eval()
        with torch.no_grad():
            pred &= TopK(k).predict(model(ds.x))
    out = []
    for i in range(start, len(ds)):
        t, o = int(ds.objects[i, 0]), int(ds.objects[i, 1])
        if t != o and bool(pred[i, t]) and bool(ds.masks[i, 1].any()):
            out.append(i)
        if len(out) == n:
            break
    return out


def layered_case(model: nn.Module, ds: MultiLabelDataset, i: int, k: int = 2) -> Problem:
    """The layered-robustness problem of image ``i`` (Double-MNIST semantics, see the module
    docstring): target ``objects[i, 0]``, layers by Chebyshev distance to object 1's mask.
    ``mlrobust layered``, ``evaluate`` and the benchmark all set their cases up here."""
    layers = layer_map(ds.masks[i, 1])
    return make_problem(model, ds.x[i], int(ds.objects[i, 0]), layers, k)
