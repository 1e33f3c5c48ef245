"""One entry point for every dataset mlrobust knows, by name or path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlrobust.datasets.annotated import AnnotatedIndex, decode
from mlrobust.datasets.base import MultiLabelDataset
from mlrobust.datasets.compose import double_mnist, multi_fashion
from mlrobust.datasets.folder import image_folder
from mlrobust.datasets.samples import load_npz, shipped_samples
from mlrobust.errors import InputError

BUILTIN = ("samples", "double_mnist", "multi_fashion")
#: ``FORMAT:PATH`` dataset references
FORMATS = ("voc", "coco")


def annotated_index(name: str, split: str) -> AnnotatedIndex | None:
    """The index of a ``voc:PATH`` / ``coco:PATH`` reference; None for other datasets."""
    kind, sep, path = name.partition(":")
    if not sep or kind not in FORMATS:
        return None
    if not path:
        raise InputError(f"{name!r}: give the dataset's path after '{kind}:'.")
    if kind == "voc":
        from mlrobust.datasets.voc import voc_index

        return voc_index(Path(path), split)
    from mlrobust.datasets.coco import coco_index

    return coco_index(Path(path), split)


def load_dataset(
    name: str,
    split: str = "test",
    n: int | None = None,
    *,
    seed: int = 0,
    download: bool = False,
    skip_bad_images: bool = False,
    shape: tuple[int, int, int] | None = None,
) -> MultiLabelDataset:
    """``samples`` (shipped Double-MNIST test images), ``double_mnist``, ``multi_fashion``,
    a ``.npz`` written by mlrobust, ``voc:PATH`` (PASCAL VOC), ``coco:PATH`` (instances JSON or
    its folder) or a folder of images with ``labels.csv``/``labels.json``.

    ``skip_bad_images``: leave out images that cannot be decoded instead of failing;
    ``shape``: the model's ``(C, H, W)``, to which VOC, COCO and folder images are converted
    and resized (VOC / COCO default to 3 x 224 x 224)."""
    index = annotated_index(name, split)
    if index is not None:
        return decode(index, n, shape=shape, skip_bad_images=skip_bad_images)
    if name == "samples":
        data = shipped_samples()
    elif name == "double_mnist":
        data = double_mnist(split, n, seed=seed, download=download)
    elif name == "multi_fashion":
        data = multi_fashion(split, n, seed=seed, download=download)
    elif name.endswith(".npz"):
        data = load_npz(Path(name))
    elif Path(name).is_dir():
        data = image_folder(Path(name), skip_bad_images=skip_bad_images, shape=shape)
    else:
        raise InputError(
            f"Unknown dataset {name!r}; use one of {', '.join(BUILTIN)}, voc:PATH, coco:PATH, "
            "a .npz file written by mlrobust, or a folder of images with labels.csv / labels.json."
        )
    return data.subset(slice(0, n)) if n is not None and n < len(data) else data


def describe(name: str, split: str = "test") -> dict[str, Any]:
    """What ``mlrobust data info`` prints: the dataset's name, image count, label names with
    the number of images showing each, and notes. VOC and COCO are read from their annotations
    only (no image is decoded)."""
    index = annotated_index(name, split)
    if index is not None:
        return {
            "dataset": index.name,
            "images": len(index.images),
            "frequencies": index.frequencies(),
            "notes": list(index.notes),
        }
    data = load_dataset(name, split)
    counts = data.y.sum(0).tolist()
    return {
        "dataset": data.name,
        "images": len(data),
        "frequencies": dict(zip(data.label_names, (int(c) for c in counts), strict=True)),
        "notes": [f"{k}: {v}" for k, v in data.info.items()],
    }
