"""One entry point for every dataset mlrobust knows, by name or path."""

from __future__ import annotations

from pathlib import Path

from mlrobust.datasets.base import MultiLabelDataset
from mlrobust.datasets.compose import double_mnist, multi_fashion
from mlrobust.datasets.folder import image_folder
from mlrobust.datasets.samples import load_npz, shipped_samples
from mlrobust.errors import InputError

BUILTIN = ("samples", "double_mnist", "multi_fashion")


def load_dataset(
    name: str,
    split: str = "test",
    n: int | None = None,
    *,
    seed: int = 0,
    download: bool = False,
    skip_bad_images: bool = False,
) -> MultiLabelDataset:
    """``samples`` (shipped Double-MNIST test images), ``double_mnist``, ``multi_fashion``,
    a ``.npz`` written by mlrobust, or a folder of images with ``labels.csv``/``labels.json``
    (``skip_bad_images``: leave out images that cannot be decoded instead of failing)."""
    if name == "samples":
        data = shipped_samples()
    elif name == "double_mnist":
        data = double_mnist(split, n, seed=seed, download=download)
    elif name == "multi_fashion":
        data = multi_fashion(split, n, seed=seed, download=download)
    elif name.endswith(".npz"):
        data = load_npz(Path(name))
    elif Path(name).is_dir():
        data = image_folder(Path(name), skip_bad_images=skip_bad_images)
    else:
        raise InputError(
            f"Unknown dataset {name!r}; use one of {', '.join(BUILTIN)}, a .npz file written by "
            "mlrobust, or a folder of images with labels.csv / labels.json."
        )
    return data.subset(slice(0, n)) if n is not None and n < len(data) else data
