"""Prebuilt WordNet label graphs shipped with the package (no WordNet needed to load them).

Each is regenerated with ``mlrobust graph build <name>`` from the label list in the data folder
and the explicit synset choices below. A choice is listed only where the first noun sense of
the label's name is missing or wrong for an image dataset; the reason is in the comment.
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlrobust.datasets.paths import data_file
from mlrobust.errors import InputError
from mlrobust.graphs.graph import LabelGraph
from mlrobust.graphs.sources import from_edges, from_openimages


@dataclass(frozen=True, kw_only=True)
class PrebuiltSpec:
    """How one shipped graph is built: its label list (under the data root) and sense choices."""

    name: str
    label_file: tuple[str, ...]
    synsets: Mapping[str, str] = field(default_factory=dict)


PREBUILT: dict[str, PrebuiltSpec] = {
    "voc": PrebuiltSpec(
        name="voc",
        label_file=("labels", "voc20.txt"),
        synsets={
            "diningtable": "dining_table.n.01",  # VOC's joined spelling is not a WordNet word
            "pottedplant": "pot_plant.n.01",  # idem
            "tvmonitor": "television_receiver.n.01",  # idem; the TV set, not a studio monitor
            "motorbike": "motorcycle.n.01",  # first sense is 'minibike'
        },
    ),
    "coco": PrebuiltSpec(
        name="coco",
        label_file=("labels", "coco80.txt"),
        synsets={
            # multi-word COCO names WordNet lacks
            "stop sign": "street_sign.n.01",
            "sports ball": "ball.n.01",
            "wine glass": "wineglass.n.01",
            "potted plant": "pot_plant.n.01",
            "cell phone": "cellular_telephone.n.01",
            # first noun sense is not the pictured object
            "kite": "kite.n.03",  # sense 1 is a fraudulent bank check
            "hot dog": "hotdog.n.02",  # sense 1 is a stunt performer
            "cake": "cake.n.03",  # sense 1 is a block of soap or wax
            "toilet": "toilet.n.02",  # sense 1 is the room
            "tv": "television_receiver.n.01",  # sense 1 is broadcasting
            "mouse": "mouse.n.04",  # COCO's mouse sits beside the keyboard and laptop
            "keyboard": "computer_keyboard.n.01",  # sense 1 is a piano's keys
            "microwave": "microwave.n.02",  # sense 1 is the electromagnetic wave
            "toaster": "toaster.n.02",  # sense 1 is a person proposing a toast
            "book": "book.n.02",  # sense 1 is the written work, not the object
            "banana": "banana.n.02",  # the fruit, not the tree
            "broccoli": "broccoli.n.02",  # the vegetable, not the plant
            "carrot": "carrot.n.03",  # the root, not the plant
        },
    ),
    "nuswide": PrebuiltSpec(
        name="nuswide",
        label_file=("labels", "nuswide81.txt"),
        synsets={
            "castle": "castle.n.02",  # sense 1 is 'palace' (a mansion)
            "clouds": "cloud.n.02",  # sense 1 is any particle cloud (smoke, dust)
            "coral": "coral.n.04",  # sense 1 is the colour
            "plants": "plant.n.02",  # sense 1 is a factory
            "railroad": "railroad_track.n.01",  # sense 1 is the company
            "reflection": "reflection.n.05",  # sense 1 is contemplation
            "running": "run.n.07",  # sense 1 is an American-football play
            "sign": "sign.n.02",  # a displayed sign, not an indication
            "tattoo": "tattoo.n.02",  # sense 1 is a drumbeat
            "tiger": "tiger.n.02",  # sense 1 is a fierce person
            "whales": "whale.n.02",  # sense 1 is a very large person
            "swimmers": "swimmer.n.02",  # anyone swimming, not only athletes
            "protest": "protest.n.02",  # the public demonstration, not a declaration
            "book": "book.n.02",  # the object, not the written work
            "water": "body_of_water.n.01",  # water in a scene, not the compound
        },
    ),
    "fashion_mnist": PrebuiltSpec(
        name="fashion_mnist",
        label_file=("fashion_mnist", "class_names.txt"),
        synsets={
            # 'T-shirt' is jersey.n.03, a kind of shirt: that would put T-shirt under the
            # Shirt class. The garment sense of 'top' keeps the two classes side by side.
            "T-shirt/top": "top.n.10",
            "Bag": "bag.n.04",  # a bag for carrying personal things, not any flexible container
            "Ankle boot": "boot.n.01",  # 'ankle boot' is not in WordNet; boot is the footwear
            "Sneaker": "gym_shoe.n.01",  # explicit: 'sneaker' also means an informer
        },
    ),
    "cifar10": PrebuiltSpec(
        name="cifar10",
        label_file=("cifar10", "class_names.txt"),
        synsets={},
    ),
}


def _asset(name: str) -> Path:
    root = importlib.resources.files("mlrobust")
    return Path(str(root.joinpath("assets").joinpath("graphs").joinpath(f"{name}.json")))


def _spec(name: str) -> PrebuiltSpec:
    if name not in PREBUILT:
        raise InputError(
            f"No prebuilt label graph {name!r}; choose one of {sorted(PREBUILT)} or build "
            "your own with from_wordnet / from_edges / from_openimages."
        )
    return PREBUILT[name]


def load_prebuilt(name: str) -> LabelGraph:
    """The shipped graph ``name`` (one of ``voc``, ``coco``, ``nuswide``, ``fashion_mnist``,
    ``cifar10``)."""
    _spec(name)
    return LabelGraph.load(_asset(name))


def read_label_list(path: Path) -> list[str]:
    """One label per non-empty line, surrounding spaces removed."""
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def build_prebuilt(name: str) -> LabelGraph:
    """Rebuild graph ``name`` from WordNet and the data folder's label list (needs WordNet)."""
    from mlrobust.graphs.wordnet import from_wordnet

    spec = _spec(name)
    labels = read_label_list(data_file(*spec.label_file))
    return from_wordnet(labels, synsets=spec.synsets)


def prebuilt_path(name: str) -> Path:
    """Where the shipped JSON of graph ``name`` lives inside the package."""
    _spec(name)
    return _asset(name)


def load_graph(source: str | Path) -> LabelGraph:
    """The one label-graph loader: a prebuilt name (``voc``, ``coco``, ``nuswide``,
    ``fashion_mnist``, ``cifar10``), a graph JSON written by :meth:`LabelGraph.save`, an
    OpenImages hierarchy JSON, or an edge-list file (:func:`~mlrobust.graphs.from_edges`).

    >>> len(load_graph("voc").labels)
    36
    """
    text = str(source)
    if text in PREBUILT:
        return load_prebuilt(text)
    path = Path(source)
    if not path.is_file():
        raise InputError(
            f"Label graph {text!r} not found: it is neither a prebuilt graph "
            f"({', '.join(sorted(PREBUILT))}) nor a file; give a prebuilt name or the path of a "
            "graph JSON or edge list."
        )
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{path} is not valid JSON: {exc}") from exc
        if isinstance(data, dict) and "LabelName" in data:
            return from_openimages(path)
        return LabelGraph.load(path)
    return from_edges(path)


def matching_prebuilt(
    model_labels: tuple[str, ...] | None, data_labels: tuple[str, ...], n_outputs: int
) -> str | None:
    """The prebuilt graph a model fits, or None: the one whose nodes are exactly the model's
    labels; for a model without label names (ONNX, ``.pt2``), the one with ``n_outputs`` nodes
    whose leaves hold every dataset label (only if exactly one does)."""
    fits = []
    for name in sorted(PREBUILT):
        graph = load_prebuilt(name)
        if model_labels is not None:
            if set(model_labels) == set(graph.labels):
                return name
        elif len(graph.labels) == n_outputs and set(data_labels) <= set(graph.leaves):
            fits.append(name)
    return fits[0] if len(fits) == 1 else None
