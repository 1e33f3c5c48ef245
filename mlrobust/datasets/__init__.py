"""Datasets: Double-MNIST, Multi-Fashion and user folders, with per-object masks.

Every dataset is a :class:`MultiLabelDataset` with ``x [N,C,H,W]`` in [0,1], ``y [N,L]`` bool,
``masks [N,O,H,W]`` bool and its label names.
"""

from mlrobust.datasets.base import MultiLabelDataset
from mlrobust.datasets.compose import (
    FASHION_LABELS,
    MNIST_LABELS,
    align_labels,
    double_mnist,
    multi_fashion,
    with_ancestors,
)
from mlrobust.datasets.folder import image_folder
from mlrobust.datasets.paths import data_dir, data_file
from mlrobust.datasets.registry import load_dataset
from mlrobust.datasets.samples import load_npz, save_npz, shipped_samples

__all__ = [
    "align_labels",
    "FASHION_LABELS",
    "MNIST_LABELS",
    "MultiLabelDataset",
    "data_dir",
    "data_file",
    "double_mnist",
    "image_folder",
    "load_dataset",
    "load_npz",
    "multi_fashion",
    "save_npz",
    "shipped_samples",
    "with_ancestors",
]
