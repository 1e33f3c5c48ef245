"""Detection-style datasets (PASCAL VOC, COCO) as multi-label datasets.

Their readers first build an *index*: per image its file, its label names and its objects
(label + outline in source pixels). The index alone answers ``mlrobust data info``; decoding
turns it into a :class:`MultiLabelDataset` at the size the model declares: images resized
(bilinear) and converted to its channels, one mask per object (the largest objects first, so
object 0 is the layered target and object 1 the perturbed object, as in Double-MNIST).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mlrobust.datasets.base import MultiLabelDataset
from mlrobust.datasets.images import read_image
from mlrobust.errors import CorruptFileError, InputError

log = logging.getLogger(__name__)

#: the size VOC / COCO images are decoded at when no model declares one
DEFAULT_SHAPE = (3, 224, 224)
#: masks kept per image (largest objects first): a COCO image can show dozens of objects, and
#: masks cost N x O x H x W booleans
MAX_OBJECTS = 4


@dataclass(frozen=True)
class AnnotatedObject:
    """One object: its label and outline in the source image's pixels, either a box
    ``(x0, y0, x1, y1)`` or polygons (flat ``[x, y, x, y, ...]`` lists)."""

    label: str
    box: tuple[float, float, float, float]
    polygons: tuple[tuple[float, ...], ...] = ()

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(x1 - x0, 0.0) * max(y1 - y0, 0.0)


@dataclass(frozen=True)
class AnnotatedImage:
    """One image of the index: its file, its labels and its objects (source pixels)."""

    path: Path
    labels: tuple[str, ...]
    objects: tuple[AnnotatedObject, ...] = ()


@dataclass(frozen=True)
class AnnotatedIndex:
    """A dataset's index: ``label_names`` in the dataset's order, the images of one split and
    notes for the reader (e.g. how VOC's difficult objects were counted)."""

    name: str
    label_names: tuple[str, ...]
    images: tuple[AnnotatedImage, ...]
    notes: tuple[str, ...] = ()

    def frequencies(self) -> dict[str, int]:
        """Images per label, in label order."""
        counts = Counter(lab for img in self.images for lab in set(img.labels))
        return {name: counts.get(name, 0) for name in self.label_names}


def decode(
    index: AnnotatedIndex,
    n: int | None = None,
    *,
    shape: Sequence[int] | None = None,
    skip_bad_images: bool = False,
) -> MultiLabelDataset:
    """The first ``n`` images of ``index`` at ``shape`` = ``(C, H, W)`` (default
    :data:`DEFAULT_SHAPE`; ``C`` 1 = grey, 3 = RGB). An image Pillow cannot decode is an
    error naming it, or with ``skip_bad_images`` is left out and counted in one warning."""
    from PIL import Image, ImageDraw  # Pillow comes with matplotlib; imported here for startup

    c, h, w = tuple(shape) if shape is not None else DEFAULT_SHAPE
    if c not in (1, 3):
        raise InputError(f"Images can be decoded with 1 or 3 channels, not {c}.")
    records = index.images[:n] if n is not None else index.images
    if not records:
        raise InputError(f"{index.name}: the split has no images.")
    label_index = {name: i for i, name in enumerate(index.label_names)}
    pixels, y, masks, objects, bad = [], [], [], [], []
    for rec in records:
        try:
            image, source_size = read_image(rec.path, "L" if c == 1 else "RGB", (w, h))
        except CorruptFileError:
            if not skip_bad_images:
                raise
            bad.append(rec.path.name)
            continue
        pixels.append(image)
        row = np.zeros(len(index.label_names), dtype=bool)
        row[[label_index[lab] for lab in rec.labels]] = True
        y.append(row)
        kept = sorted(rec.objects, key=lambda o: -o.area)[:MAX_OBJECTS]
        sx, sy = w / source_size[0], h / source_size[1]
        image_masks = []
        for obj in kept:
            canvas = Image.new("1", (w, h), 0)
            draw = ImageDraw.Draw(canvas)
            if obj.polygons:
                for poly in obj.polygons:
                    draw.polygon(
                        [(poly[i] * sx, poly[i + 1] * sy) for i in range(0, len(poly) - 1, 2)],
                        fill=1,
                    )
            else:
                x0, y0, x1, y1 = obj.box
                draw.rectangle((x0 * sx, y0 * sy, x1 * sx - 1, y1 * sy - 1), fill=1)
            image_masks.append(np.asarray(canvas, dtype=bool))
        masks.append(image_masks)
        objects.append([label_index[o.label] for o in kept])
    if bad:
        log.warning("skipped %d image(s) that cannot be decoded: %s", len(bad), ", ".join(bad[:10]))
    if not pixels:
        raise InputError(f"No image of {index.name} could be decoded.")
    width = max((len(m) for m in masks), default=0)
    # images with fewer objects get empty masks (label 0): pick_images skips empty masks
    mask_array = np.zeros((len(pixels), width, h, w), dtype=bool)
    object_array = np.zeros((len(pixels), width), dtype=np.int64)
    for i, (ms, os_) in enumerate(zip(masks, objects, strict=True)):
        if ms:
            mask_array[i, : len(ms)] = np.stack(ms)
            object_array[i, : len(os_)] = os_
    x = torch.from_numpy(np.stack(pixels)).float().div_(255.0)
    x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2).contiguous()
    info = {"format": index.name.split(":")[0], "size": f"{c}x{h}x{w}"}
    return MultiLabelDataset(
        name=index.name,
        x=x,
        y=torch.from_numpy(np.stack(y)),
        masks=torch.from_numpy(mask_array),
        objects=torch.from_numpy(object_array),
        label_names=index.label_names,
        info=info,
    )
