"""Shipped sample data (the embedded default) and safe .npz storage of datasets.

Samples are stored as compressed ``.npz`` with uint8 images and bit-packed masks, and read with
``allow_pickle=False`` so a data file can never execute code.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from mlrobust.datasets.base import MultiLabelDataset
from mlrobust.errors import CorruptFileError, DataNotFoundError

SAMPLES = "double_mnist_test_samples.npz"


def save_npz(dataset: MultiLabelDataset, path: Path) -> None:
    """Write ``dataset`` compactly (images quantised to uint8: they came from uint8 sources)."""
    np.savez_compressed(
        path,
        x=(dataset.x * 255).round().to(torch.uint8).numpy(),
        y=dataset.y.numpy(),
        masks=np.packbits(dataset.masks.numpy(), axis=-1),
        objects=dataset.objects.numpy(),
        meta=np.array(
            json.dumps(
                {
                    "name": dataset.name,
                    "labels": list(dataset.label_names),
                    "width": dataset.x.shape[-1],
                    "info": dataset.info,
                }
            )
        ),
    )


def load_npz(path: Path) -> MultiLabelDataset:
    if not Path(path).exists():
        raise DataNotFoundError(f"Dataset file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            masks = np.unpackbits(z["masks"], axis=-1, count=int(meta["width"])).astype(bool)
            return MultiLabelDataset(
                name=meta["name"],
                x=torch.from_numpy(z["x"]).float().div_(255.0),
                y=torch.from_numpy(z["y"]),
                masks=torch.from_numpy(masks),
                objects=torch.from_numpy(z["objects"]),
                label_names=tuple(meta["labels"]),
                info=meta.get("info", {}),
            )
    except (KeyError, ValueError, OSError) as exc:
        raise CorruptFileError(f"{path} is not a valid mlrobust dataset file: {exc}") from exc


def shipped_samples() -> MultiLabelDataset:
    """The Double-MNIST test images (with masks) shipped in the package for the default run."""
    ref = resources.files("mlrobust") / "assets" / SAMPLES
    with resources.as_file(ref) as path:
        return load_npz(path)
