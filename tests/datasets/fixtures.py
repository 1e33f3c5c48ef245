"""Tiny PASCAL VOC and COCO folders written by the tests themselves (a few generated images)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

#: per image: (width, height, [(label, box x0 y0 x1 y1 in 0-based pixels, difficult)])
VOC_IMAGES = {
    "000001": (40, 30, [("dog", (2, 2, 30, 20), False), ("person", (30, 10, 38, 28), False)]),
    "000002": (36, 36, [("car", (0, 0, 36, 36), False), ("bottle", (5, 5, 8, 8), True)]),
    "000003": (30, 40, [("cat", (10, 10, 20, 30), False)]),
}


def _picture(path: Path, width: int, height: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def write_voc(root: Path, splits: dict[str, list[str]] | None = None) -> Path:
    """A VOC folder with :data:`VOC_IMAGES`; ``splits`` default: test = all, train = first."""
    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    (root / "ImageSets" / "Main").mkdir(parents=True)
    for k, (image_id, (w, h, objects)) in enumerate(VOC_IMAGES.items()):
        _picture(root / "JPEGImages" / f"{image_id}.jpg", w, h, k)
        xml_objects = "".join(
            f"<object><name>{label}</name><difficult>{int(hard)}</difficult><bndbox>"
            f"<xmin>{x0 + 1}</xmin><ymin>{y0 + 1}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax>"
            "</bndbox></object>"
            for label, (x0, y0, x1, y1), hard in objects
        )
        (root / "Annotations" / f"{image_id}.xml").write_text(
            f"<annotation><filename>{image_id}.jpg</filename><size><width>{w}</width>"
            f"<height>{h}</height><depth>3</depth></size>{xml_objects}</annotation>"
        )
    for split, ids in (splits or {"test": list(VOC_IMAGES), "train": ["000001"]}).items():
        (root / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    # a per-class split file as VOC has them: not a split of its own
    (root / "ImageSets" / "Main" / "dog_test.txt").write_text("000001  1\n")
    return root


COCO_CATEGORIES = [
    {"id": 1, "name": "person"},
    {"id": 3, "name": "car"},
    {"id": 18, "name": "dog"},
]


def write_coco(root: Path, split: str = "val2017") -> Path:
    """``root/annotations/instances_<split>.json`` and ``root/<split>/*.jpg``: three images,
    one of them without annotations, one object given as a polygon."""
    (root / "annotations").mkdir(parents=True)
    (root / split).mkdir()
    images = [
        {"id": 7, "file_name": "a.jpg", "width": 40, "height": 20},
        {"id": 9, "file_name": "b.jpg", "width": 20, "height": 20},
        {"id": 12, "file_name": "c.jpg", "width": 30, "height": 30},
    ]
    for k, im in enumerate(images):
        _picture(root / split / im["file_name"], im["width"], im["height"], 10 + k)
    annotations = [
        {"id": 1, "image_id": 7, "category_id": 18, "bbox": [0, 0, 20, 20], "iscrowd": 0},
        {
            "id": 2,
            "image_id": 7,
            "category_id": 1,
            "bbox": [20, 0, 20, 20],
            "segmentation": [[20, 0, 40, 0, 40, 20]],  # a triangle: half the box
            "iscrowd": 0,
        },
        {"id": 3, "image_id": 9, "category_id": 3, "bbox": [5, 5, 10, 10], "iscrowd": 1},
    ]
    data = {"images": images, "annotations": annotations, "categories": COCO_CATEGORIES}
    path = root / "annotations" / f"instances_{split}.json"
    path.write_text(json.dumps(data))
    return path
