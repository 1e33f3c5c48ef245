"""Datasets: Double-MNIST, Multi-Fashion and user folders, with per-object masks."""

from mlrobust.datasets.paths import data_dir, data_file

__all__ = ["data_dir", "data_file"]
