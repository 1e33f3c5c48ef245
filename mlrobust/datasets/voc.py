"""PASCAL VOC folders: ``Annotations/*.xml``, ``JPEGImages/`` and ``ImageSets/Main/<split>.txt``.

Image-level labels are the classes of the image's objects. ``difficult`` objects are handled
as VOC's classification ground truth and the reference code of paper 001 (ML-GCN's loader)
do: a class seen only in difficult objects is VOC's "0" (difficult), which that code trains as
present, so it is ON here too; the count of such labels is logged. Difficult objects give no
object mask (their outline is unreliable by definition).
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET  # expat >= 2.4.1 (all supported Pythons) refuses entity bombs
from pathlib import Path

from mlrobust.datasets.annotated import AnnotatedImage, AnnotatedIndex, AnnotatedObject
from mlrobust.errors import CorruptFileError, DataNotFoundError, InputError

log = logging.getLogger(__name__)

#: the 20 VOC classes in the devkit's order
VOC_CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)


def _text(node: ET.Element, path: str, source: Path) -> str:
    found = node.find(path)
    if found is None or found.text is None:
        raise CorruptFileError(f"{source}: <{path}> is missing; every VOC object needs it.")
    return found.text.strip()


Box = tuple[float, float, float, float]


def _read_xml(path: Path) -> tuple[str, list[tuple[str, bool, Box]]]:
    """``(filename, [(label, difficult, box)])`` of one annotation file."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        line, column = exc.position
        raise CorruptFileError(
            f"{path}:{line}:{column}: the XML does not parse "
            f"({str(exc.msg).split(': line')[0]}); fix or remove the file."
        ) from exc
    filename = (root.findtext("filename") or f"{path.stem}.jpg").strip()
    objects = []
    for obj in root.iter("object"):
        box = obj.find("bndbox")
        if box is None:
            raise CorruptFileError(f"{path}: an <object> has no <bndbox>.")
        try:
            # VOC boxes are 1-based and inclusive: pixel columns xmin-1 .. xmax-1
            x0, y0, x1, y1 = (float(_text(box, k, path)) for k in ("xmin", "ymin", "xmax", "ymax"))
        except ValueError as exc:
            raise CorruptFileError(f"{path}: a box coordinate is not a number ({exc}).") from exc
        difficult = (obj.findtext("difficult") or "0").strip() == "1"
        objects.append((_text(obj, "name", path), difficult, (x0 - 1, y0 - 1, x1, y1)))
    return filename, objects


def voc_index(root: str | Path, split: str = "test") -> AnnotatedIndex:
    """The index of VOC folder ``root`` for ``split`` (``ImageSets/Main/<split>.txt``; without
    ``ImageSets/Main`` every annotation is used). Class names outside VOC's 20 (a custom
    VOC-format export) are fine: the labels are then the names found, sorted."""
    root = Path(root)
    annotations = root / "Annotations"
    if not annotations.is_dir():
        raise DataNotFoundError(
            f"{root} has no Annotations folder; a VOC dataset needs Annotations/*.xml, "
            "JPEGImages/ and ImageSets/Main/<split>.txt."
        )
    sets = root / "ImageSets" / "Main"
    if sets.is_dir():
        split_file = sets / f"{split}.txt"
        if not split_file.exists():
            available = sorted(p.stem for p in sets.glob("*.txt") if "_" not in p.stem)
            raise InputError(
                f"{root}: no split {split!r} (ImageSets/Main/{split}.txt); available: "
                f"{', '.join(available) or 'none'}. Pass --split with one of them."
            )
        ids = [line.split()[0] for line in split_file.read_text().splitlines() if line.strip()]
    else:
        log.warning("%s has no ImageSets/Main; using every annotation", root)
        ids = sorted(p.stem for p in annotations.glob("*.xml"))
    records, difficult_only = [], 0
    parsed = []
    for image_id in ids:
        xml = annotations / f"{image_id}.xml"
        if not xml.exists():
            raise DataNotFoundError(
                f"{split_file if sets.is_dir() else root} lists {image_id} "
                f"but {xml} does not exist."
            )
        parsed.append(_read_xml(xml))
    names = {label for _, objs in parsed for label, _, _ in objs}
    label_names = VOC_CLASSES if names <= set(VOC_CLASSES) else tuple(sorted(names))
    for filename, objs in parsed:
        labels = {label for label, _, _ in objs}
        difficult_only += len(labels - {label for label, hard, _ in objs if not hard})
        objects = tuple(AnnotatedObject(label, box) for label, hard, box in objs if not hard)
        records.append(
            AnnotatedImage(root / "JPEGImages" / filename, tuple(sorted(labels)), objects)
        )
    notes: tuple[str, ...] = ()
    if difficult_only:  # VOC's "0" labels: said once here, and by `mlrobust data info`
        notes = (
            f"{difficult_only} image label(s) come only from difficult objects (kept ON, as "
            "VOC's reference training code does)",
        )
        log.info("%s", notes[0])
    return AnnotatedIndex(
        name=f"voc:{root.name}/{split}", label_names=label_names, images=tuple(records), notes=notes
    )
