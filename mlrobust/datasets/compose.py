"""Multi-object images composed from single-object datasets (Double-MNIST, Multi-Fashion).

Both are generated deterministically from a seed, so the "same" dataset is the same everywhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mlrobust.datasets.base import MultiLabelDataset
from mlrobust.datasets.idx import download, read_idx
from mlrobust.datasets.paths import ENV_VAR, data_dir
from mlrobust.errors import DataNotFoundError, InputError

MNIST_LABELS = tuple(str(d) for d in range(10))
FASHION_LABELS = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
# a pixel belongs to an object's mask when its intensity exceeds this (0-255 scale)
MASK_LEVEL = 0


def load_source(
    source: str, split: str, *, root: Path | None = None, download_missing: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The single-object images ``[N, 28, 28]`` uint8 and labels ``[N]`` of MNIST-style data."""
    if split not in _FILES:
        raise InputError(f"Unknown split {split!r}; use 'train' or 'test'.")
    folder = (root or data_dir()) / source
    paths = []
    for filename in _FILES[split]:
        path = folder / filename
        if not path.exists():
            if not download_missing:
                raise DataNotFoundError(
                    f"{source} {split} data not found: looked for {path}. Set {ENV_VAR} to the "
                    f"folder that holds {source}/ (the idx .gz files), or pass download=True "
                    "(--download) to fetch them from the official mirrors."
                )
            path = download(source, filename, folder)
        paths.append(path)
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise InputError(
            f"{source} {split}: images {images.shape} and labels {labels.shape} do not match; "
            "the files come from different releases."
        )
    return images, labels


def _draw_distinct(
    labels: np.ndarray, n: int, per_image: int, rng: np.random.Generator
) -> np.ndarray:
    """Indices ``[n, per_image]`` into ``labels`` whose labels are pairwise distinct per row."""
    by_class = [np.flatnonzero(labels == c) for c in range(int(labels.max()) + 1)]
    classes = np.stack([rng.permutation(len(by_class))[:per_image] for _ in range(n)])
    picks = np.empty_like(classes)
    for c, members in enumerate(by_class):
        where = classes == c
        picks[where] = members[rng.integers(0, len(members), where.sum())]
    return picks


def double_mnist(
    split: str = "test",
    n: int | None = None,
    *,
    seed: int = 0,
    jitter: int = 3,
    root: Path | None = None,
    download: bool = False,
) -> MultiLabelDataset:
    """Two distinct MNIST digits side by side on a 28x56 canvas, with per-digit masks.

    The left digit starts at column ``u`` and the right one at ``28 - v`` (``u, v`` uniform in
    ``0..jitter``), so each object's surroundings vary; where they overlap, the brighter pixel
    wins. ``n`` defaults to the size of the MNIST split.
    """
    images, labels = load_source("mnist", split, root=root, download_missing=download)
    return _side_by_side(images, labels, n or len(images), seed, jitter)


def _side_by_side(
    images: np.ndarray, labels: np.ndarray, n: int, seed: int, jitter: int
) -> MultiLabelDataset:
    if not 0 <= jitter <= 14:
        raise InputError(f"jitter must be in 0..14 pixels, got {jitter}.")
    rng = np.random.default_rng(seed)
    picks = _draw_distinct(labels, n, 2, rng)
    starts = np.stack([rng.integers(0, jitter + 1, n), 28 - rng.integers(0, jitter + 1, n)], 1)
    layers = np.zeros((n, 2, 28, 56), dtype=np.uint8)
    for obj in range(2):
        for col in np.unique(starts[:, obj]):
            rows = starts[:, obj] == col
            layers[rows, obj, :, col : col + 28] = images[picks[rows, obj]]
    return _finish(
        "double_mnist",
        layers.max(axis=1),
        layers,
        labels[picks],
        MNIST_LABELS,
        {"seed": str(seed), "jitter": str(jitter)},
    )


def multi_fashion(
    split: str = "test",
    n: int | None = None,
    *,
    seed: int = 0,
    root: Path | None = None,
    download: bool = False,
) -> MultiLabelDataset:
    """Four Fashion-MNIST items of distinct classes on a 2x2 grid (56x56), with masks.

    Labels are the 10 Fashion-MNIST classes; :func:`with_ancestors` adds a label graph's
    abstract labels.
    """
    images, labels = load_source("fashion_mnist", split, root=root, download_missing=download)
    n = n or len(images)
    rng = np.random.default_rng(seed)
    picks = _draw_distinct(labels, n, 4, rng)
    layers = np.zeros((n, 4, 56, 56), dtype=np.uint8)
    for obj, (r, c) in enumerate([(0, 0), (0, 28), (28, 0), (28, 28)]):
        layers[:, obj, r : r + 28, c : c + 28] = images[picks[:, obj]]
    return _finish(
        "multi_fashion",
        layers.max(axis=1),
        layers,
        labels[picks],
        FASHION_LABELS,
        {"seed": str(seed)},
    )


def _finish(
    name: str,
    canvas: np.ndarray,
    layers: np.ndarray,
    object_labels: np.ndarray,
    label_names: tuple[str, ...],
    info: dict[str, str],
) -> MultiLabelDataset:
    n = len(canvas)
    y = np.zeros((n, len(label_names)), dtype=bool)
    np.put_along_axis(y, object_labels, True, axis=1)
    return MultiLabelDataset(
        name=name,
        x=torch.from_numpy(canvas).float().div_(255.0).unsqueeze(1),
        y=torch.from_numpy(y),
        masks=torch.from_numpy(layers > MASK_LEVEL),
        objects=torch.from_numpy(object_labels.astype(np.int64)),
        label_names=label_names,
        info=info,
    )


def with_ancestors(dataset: MultiLabelDataset, graph) -> MultiLabelDataset:  # noqa: ANN001
    """Extend the labels to every node of a label graph: a node is on when any of its
    descendants among the dataset's labels is on. ``graph`` is a ``mlrobust.graphs.LabelGraph``
    whose leaves include all of ``dataset.label_names``."""
    missing = [name for name in dataset.label_names if name not in graph.labels]
    if missing:
        raise InputError(
            f"The label graph lacks the dataset labels {missing}; build the graph from the "
            "dataset's label names."
        )
    names = tuple(graph.labels)
    y = torch.zeros(len(dataset), len(names), dtype=torch.bool)
    for i, name in enumerate(dataset.label_names):
        on = dataset.y[:, i]
        stack = [name]
        while stack:  # mark the label and all its ancestors
            node = stack.pop()
            y[:, names.index(node)] |= on
            stack.extend(graph.parents(node))
    remap = torch.tensor([names.index(n) for n in dataset.label_names])
    return MultiLabelDataset(
        name=dataset.name,
        x=dataset.x,
        y=y,
        masks=dataset.masks,
        objects=remap[dataset.objects],
        label_names=names,
        info={**dataset.info, "labels": "with ancestors"},
    )


def align_labels(dataset: MultiLabelDataset, model_labels: tuple[str, ...]) -> MultiLabelDataset:
    """The dataset in the model's label order, matched by name. A dataset with fewer labels is
    fine (the model's other labels are OFF in its ground truth); a label the model does not know
    is an error that lists every such label."""
    if tuple(dataset.label_names) == tuple(model_labels):
        return dataset
    unknown = [name for name in dataset.label_names if name not in model_labels]
    if unknown:
        raise InputError(
            f"The dataset's labels {unknown} are not among the model's {list(model_labels)}; "
            "rename them to the model's names or pick a matching model."
        )
    columns = torch.tensor([model_labels.index(n) for n in dataset.label_names], dtype=torch.long)
    y = torch.zeros(len(dataset), len(model_labels), dtype=torch.bool)
    y[:, columns] = dataset.y
    return MultiLabelDataset(
        name=dataset.name,
        x=dataset.x,
        y=y,
        masks=dataset.masks,
        objects=columns[dataset.objects] if dataset.objects.numel() else dataset.objects,
        label_names=tuple(model_labels),
        info={**dataset.info, "labels": "aligned to the model's by name"},
    )
