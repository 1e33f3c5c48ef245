"""Loader for user datasets: a folder of images plus a CSV or JSON of label lists.

Accepted label files (in the image folder or given explicitly):

* ``labels.csv`` with a header ``filename,labels`` and labels separated by ``;`` or spaces;
* ``labels.json`` as ``{"image.png": ["cat", "dog"], ...}``.

Images are read with Pillow, converted to grayscale or RGB (``mode``) and must share one size.
No object masks are known for such data, so ``masks`` has ``O = 0`` objects.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from pathlib import Path

import numpy as np
import torch

from mlrobust.datasets.base import MultiLabelDataset
from mlrobust.datasets.images import read_image
from mlrobust.errors import CorruptFileError, DataNotFoundError, InputError

log = logging.getLogger(__name__)


def read_label_file(path: Path) -> dict[str, list[str]]:
    """``{filename: [label, ...]}`` from a labels CSV or JSON file."""
    if not path.exists():
        raise DataNotFoundError(f"Label file not found: {path}")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise CorruptFileError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise CorruptFileError(f"{path}: expected an object mapping file names to label lists.")
        return {str(k): [str(v) for v in vals] for k, vals in data.items()}
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"filename", "labels"} <= set(rows[0]):
        raise CorruptFileError(f"{path}: expected a CSV with the header 'filename,labels'.")
    return {r["filename"]: [s for s in re.split(r"[;\s]+", r["labels"] or "") if s] for r in rows}


def image_folder(
    folder: Path,
    labels_file: Path | None = None,
    *,
    mode: str = "L",
    label_names: tuple[str, ...] | None = None,
    skip_bad_images: bool = False,
    shape: tuple[int, int, int] | None = None,
) -> MultiLabelDataset:
    """Load a folder of images with their label lists (see module docstring). An image Pillow
    cannot decode (corrupt, truncated, empty) is an error naming it, or with
    ``skip_bad_images`` is left out and counted in one warning. ``shape = (C, H, W)`` (the
    model's input): images are converted to ``C`` channels and resized to ``H x W``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataNotFoundError(f"Image folder not found: {folder}")
    if labels_file is None:
        candidates = [folder / "labels.csv", folder / "labels.json"]
        labels_file = next((c for c in candidates if c.exists()), None)
        if labels_file is None:
            raise DataNotFoundError(
                f"No labels.csv or labels.json in {folder}; pass the label file explicitly."
            )
    table = read_label_file(Path(labels_file))
    if not table:
        raise InputError(f"{labels_file} lists no images.")
    names = label_names or tuple(sorted({lab for labs in table.values() for lab in labs}))
    index = {name: i for i, name in enumerate(names)}
    arrays, rows, bad = [], [], []
    y = np.zeros((len(table), len(names)), dtype=bool)
    for row, (filename, labs) in enumerate(sorted(table.items())):
        path = folder / filename
        if not path.exists():
            raise DataNotFoundError(f"{labels_file} names {filename}, which is not in {folder}.")
        unknown = [lab for lab in labs if lab not in index]
        if unknown:
            raise InputError(f"{filename}: labels {unknown} are not in the label list {names}.")
        y[row, [index[lab] for lab in labs]] = True
        try:
            pixels, _ = read_image(
                path,
                mode if shape is None else ("L" if shape[0] == 1 else "RGB"),
                None if shape is None else (shape[2], shape[1]),
            )
        except CorruptFileError:
            if not skip_bad_images:
                raise
            bad.append(filename)
            continue
        arrays.append(pixels)
        rows.append(row)
    if bad:
        log.warning("skipped %d image(s) that cannot be decoded: %s", len(bad), ", ".join(bad[:10]))
    if not arrays:
        raise InputError(f"No image of {folder} could be decoded.")
    y = y[rows]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise InputError(
            f"Images in {folder} have different sizes {sorted(shapes)}; resize them to one size."
        )
    x = torch.from_numpy(np.stack(arrays)).float().div_(255.0)
    x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2).contiguous()
    n, _, h, w = x.shape
    return MultiLabelDataset(
        name=folder.name,
        x=x,
        y=torch.from_numpy(y),
        masks=torch.zeros(n, 0, h, w, dtype=torch.bool),
        objects=torch.zeros(n, 0, dtype=torch.long),
        label_names=names,
    )
