"""COCO: an instances JSON (``images``, ``annotations``, ``categories``) and its image folder.

``coco:PATH``: PATH is the instances JSON, or a folder holding
``annotations/instances_<split>*.json`` (e.g. ``instances_val2017.json`` for ``--split val``).
The images are looked for beside the JSON, in ``images/``, and in a folder named after the
JSON's split (``val2017/`` beside ``annotations/``). Labels are the category names in
category-id order; object masks come from the polygons (boxes for crowd / RLE annotations).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlrobust.datasets.annotated import AnnotatedImage, AnnotatedIndex, AnnotatedObject
from mlrobust.errors import CorruptFileError, DataNotFoundError, InputError


def _find_json(root: Path, split: str) -> Path:
    if root.is_file():
        return root
    if not root.is_dir():
        raise DataNotFoundError(
            f"COCO path not found: {root} (give the instances JSON or its folder)."
        )
    found = [
        p
        for folder in (root / "annotations", root)
        for p in sorted(folder.glob("instances_*.json"))
    ]
    wanted = [p for p in found if p.stem.removeprefix("instances_").startswith(split)]
    if len(wanted) == 1:
        return wanted[0]
    if not found:
        raise DataNotFoundError(
            f"{root} holds no instances_*.json (in annotations/ or itself); give the COCO "
            "instances JSON as coco:FILE.json."
        )
    names = ", ".join(p.stem.removeprefix("instances_") for p in found)
    raise InputError(
        f"{root}: {'no' if not wanted else 'several'} instances JSON for split {split!r}; "
        f"available: {names}. Pass --split with one of them, or coco:FILE.json."
    )


def _image_folder(json_path: Path, first_file: str) -> Path:
    split_name = json_path.stem.removeprefix("instances_")
    base = json_path.parent.parent if json_path.parent.name == "annotations" else json_path.parent
    candidates = [
        json_path.parent,
        json_path.parent / "images",
        base / split_name,
        base / "images" / split_name,
        base / "images",
    ]
    for folder in candidates:
        if (folder / first_file).exists():
            return folder
    raise DataNotFoundError(
        f"Images of {json_path} not found: {first_file} is in none of "
        f"{', '.join(str(c) for c in dict.fromkeys(candidates))}."
    )


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CorruptFileError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg}).") from exc
    except UnicodeDecodeError as exc:
        raise CorruptFileError(f"{path} is not UTF-8 text: {exc}.") from exc
    keys = ("images", "annotations", "categories")
    missing = [k for k in keys if not isinstance(data, dict) or not isinstance(data.get(k), list)]
    if missing:
        raise CorruptFileError(f"{path} is not a COCO instances file: lists {missing} are missing.")
    return data


def coco_index(path: str | Path, split: str = "test") -> AnnotatedIndex:
    """The index of a COCO instances JSON (see the module docstring for ``path``)."""
    json_path = _find_json(Path(path), split)
    data = _load(json_path)
    try:
        categories = sorted(data["categories"], key=lambda c: c["id"])
        names = {c["id"]: str(c["name"]) for c in categories}
        images = {int(im["id"]): im for im in data["images"]}
        by_image: dict[int, list[dict[str, Any]]] = {i: [] for i in images}
        strays, unknown = set(), set()
        for ann in data["annotations"]:
            if ann["image_id"] not in by_image:
                strays.add(ann["image_id"])
            elif ann["category_id"] not in names:
                unknown.add(ann["category_id"])
            else:
                by_image[ann["image_id"]].append(ann)
    except (KeyError, TypeError) as exc:
        raise CorruptFileError(f"{json_path}: an entry lacks the key {exc}.") from exc
    if strays:
        raise CorruptFileError(
            f"{json_path}: {len(strays)} annotation image id(s) are not among its images "
            f"(e.g. {sorted(strays)[:5]}); the annotations belong to another file."
        )
    if unknown:
        raise CorruptFileError(
            f"{json_path}: annotations use category id(s) {sorted(unknown)[:5]} that "
            "'categories' does not define."
        )
    if not images:
        raise InputError(f"{json_path} lists no images.")
    ordered = [images[i] for i in sorted(images)]
    folder = _image_folder(json_path, str(ordered[0]["file_name"]))
    records = []
    for im in ordered:
        objects = []
        for ann in by_image[int(im["id"])]:
            try:
                x, y, w, h = (float(v) for v in ann["bbox"])
                seg = ann.get("segmentation")
                polygons = (
                    tuple(tuple(float(v) for v in p) for p in seg if len(p) >= 6)
                    if isinstance(seg, list) and not ann.get("iscrowd")
                    else ()
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise CorruptFileError(
                    f"{json_path}: annotation {ann.get('id')} has a malformed bbox or "
                    f"segmentation ({exc}); COCO boxes are [x, y, width, height]."
                ) from exc
            objects.append(
                AnnotatedObject(names[ann["category_id"]], (x, y, x + w, y + h), polygons)
            )
        records.append(
            AnnotatedImage(
                folder / str(im["file_name"]),
                tuple(sorted({o.label for o in objects})),
                tuple(objects),
            )
        )
    label_names = tuple(names[c["id"]] for c in categories)
    return AnnotatedIndex(
        name=f"coco:{json_path.stem}",
        label_names=label_names,
        images=tuple(records),
    )
