"""Label graphs from files: the OpenImages class hierarchy and plain edge lists.

Examples:
    >>> g = from_edges([("animal", "cat"), ("animal", "dog")])
    >>> g.leaves, g.abstract
    (('cat', 'dog'), ('animal',))
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import networkx as nx

from mlrobust.errors import CorruptFileError, InputError
from mlrobust.graphs.graph import ABSTRACT, LEAF, LabelGraph

OPENIMAGES_ROOT = "/m/0bl9f"  # "Entity": a placeholder root, not a class; it is dropped


def from_edges(
    edges: Iterable[Sequence[str]] | str | Path, *, labels: Sequence[str] | None = None
) -> LabelGraph:
    """A graph from ``(parent, child)`` pairs or a file holding them.

    Args:
        edges: pairs, or a path to either a text file with one ``parent<TAB>child`` (or
            ``parent,child``) pair per line (``#`` starts a comment) or a JSON file holding a
            list of pairs, ``{"edges": [...], "labels": [...]}``, or node-link data.
        labels: the dataset's labels in prediction order; the other nodes become abstract.
            Labels that appear in no edge are added as isolated nodes. Default: the nodes
            without children, in order of first appearance.
    """
    if isinstance(edges, (str, Path)):
        path = Path(edges)
        pairs, file_labels = _read_edge_file(path)
        labels = labels if labels is not None else file_labels
    else:
        pairs = [tuple(e) for e in edges]
    bad = [e for e in pairs if len(e) != 2]
    if bad:
        raise InputError(f"Each edge must be a (parent, child) pair, got {bad[0]!r}.")
    g = nx.DiGraph()
    for parent, child in pairs:
        if parent == child:
            raise InputError(f"Edge {parent!r} -> {child!r} is a self-loop; remove it.")
        g.add_edge(parent, child)
    if labels is not None:
        g.add_nodes_from(labels)
    return LabelGraph(g, leaves=labels)


def _read_edge_file(path: Path) -> tuple[list[tuple[str, str]], list[str] | None]:
    if not path.is_file():
        raise InputError(f"Edge file not found: {path}.")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CorruptFileError(f"{path} is not valid JSON: {exc}.") from None
        if isinstance(data, dict) and "nodes" in data:
            graph = LabelGraph.from_json(data)
            return list(graph.graph.edges), list(graph.leaves)
        if isinstance(data, dict):
            return [tuple(e) for e in data.get("edges", [])], data.get("labels")
        if isinstance(data, list):
            return [tuple(e) for e in data], None
        raise CorruptFileError(f"{path}: expected a list of [parent, child] pairs.")
    pairs = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = [p.strip() for p in (line.split("\t") if "\t" in line else line.split(","))]
        if len(parts) != 2 or not all(parts):
            raise CorruptFileError(
                f"{path}:{lineno}: expected 'parent<TAB>child' or 'parent,child', got {line!r}."
            )
        pairs.append((parts[0], parts[1]))
    return pairs, None


def from_openimages(path: str | Path, *, names: str | Path | None = None) -> LabelGraph:
    """The OpenImages boxable-class hierarchy (``bbox_labels_600_hierarchy.json``).

    Only ``Subcategory`` (is-a) links are used; ``Part`` links are not a hierarchy. A class
    listed under several parents keeps the one met first in a depth-first walk of the file.
    The placeholder root "Entity" is dropped, so the top categories become roots. Nodes are
    named by display name from ``names`` (default: ``class-descriptions-boxable.csv`` beside
    the JSON; a MID is kept when no name is known) and carry the MID as ``mid``.
    Classes without subcategories are leaves, the others abstract.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"OpenImages hierarchy not found: {path}.")
    try:
        root = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CorruptFileError(f"{path} is not valid JSON: {exc}.") from None
    names_path = (
        Path(names) if names is not None else path.with_name("class-descriptions-boxable.csv")
    )
    display = _read_names(names_path) if names_path.is_file() else {}

    parent_of: dict[str, str | None] = {}
    order: list[str] = []

    def walk(node: Any, parent: str | None) -> None:
        if not isinstance(node, dict) or "LabelName" not in node:
            raise CorruptFileError(f"{path}: every entry needs a 'LabelName', got {node!r:.80}.")
        mid = node["LabelName"]
        if mid not in parent_of:
            parent_of[mid] = parent
            order.append(mid)
        for child in node.get("Subcategory", []):
            walk(child, mid)

    walk(root, None)
    mids = [m for m in order if m != OPENIMAGES_ROOT]
    label = {m: display.get(m, m) for m in mids}
    if len(set(label.values())) != len(label):
        raise CorruptFileError(f"{path}: two classes share a display name; pass names=None.")
    g = nx.DiGraph(source="openimages")
    for m in mids:
        g.add_node(label[m], mid=m)
    for m in mids:
        p = parent_of[m]
        if p is not None and p != OPENIMAGES_ROOT:
            g.add_edge(label[p], label[m])
    for n in g.nodes:
        g.nodes[n]["kind"] = LEAF if g.out_degree(n) == 0 else ABSTRACT
    return LabelGraph(g)


def _read_names(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8", newline="") as fh:
        # Rows with an empty name (one in the public file) fall back to the MID.
        return {
            row[0]: row[1].strip() for row in csv.reader(fh) if len(row) >= 2 and row[1].strip()
        }
