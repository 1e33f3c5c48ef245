"""Edge lists and the OpenImages hierarchy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlrobust.errors import CorruptFileError, InputError
from mlrobust.graphs.sources import from_edges, from_openimages
from tests.conftest import require_data


def test_edges_from_pairs_with_explicit_labels() -> None:
    g = from_edges([("animal", "cat"), ("animal", "dog")], labels=["dog", "cat", "fish"])
    assert g.labels == ("dog", "cat", "fish", "animal")
    assert g.children("animal") == ("dog", "cat") and g.parents("fish") == ()


def test_edges_from_text_and_json_files(tmp_path: Path) -> None:
    text = tmp_path / "edges.tsv"
    text.write_text("# parent child\nanimal\tcat\nanimal,dog\n\n")
    g = from_edges(text)
    assert g.leaves == ("cat", "dog") and g.abstract == ("animal",)
    js = tmp_path / "edges.json"
    js.write_text(
        json.dumps({"edges": [["animal", "cat"], ["animal", "dog"]], "labels": ["dog", "cat"]})
    )
    assert from_edges(js).leaves == ("dog", "cat")
    nodelink = tmp_path / "graph.json"
    g.save(nodelink)
    assert from_edges(nodelink) == g


def test_bad_edge_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="self-loop"):
        from_edges([("a", "a")])
    with pytest.raises(InputError, match="cycle"):
        from_edges([("a", "b"), ("b", "a")])
    with pytest.raises(InputError, match="pair"):
        from_edges([("a", "b", "c")])
    bad = tmp_path / "bad.txt"
    bad.write_text("a b c\n")
    with pytest.raises(CorruptFileError, match=r"bad.txt:1"):
        from_edges(bad)


def test_openimages_hierarchy_has_601_single_parent_classes() -> None:
    path = require_data("openimages", "bbox_labels_600_hierarchy.json")
    g = from_openimages(path)
    assert len(g) == 601  # every boxable class; the placeholder root "Entity" is dropped
    assert all(len(g.parents(v)) <= 1 for v in g.labels)
    # Multi-parent classes keep the parent met first in the file.
    assert g.parents("Teddy bear") == ("Toy",)
    assert g.parents("Tomato") == ("Fruit",)  # listed under Fruit, later Vegetable
    assert g.node_attrs("Cat")["mid"].startswith("/m/")
    assert set(g.leaves) == {v for v in g.labels if not g.children(v)}
