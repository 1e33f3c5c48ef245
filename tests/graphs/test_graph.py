"""LabelGraph: order, queries, validation and JSON round trips."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from mlrobust.errors import CorruptFileError, InputError
from mlrobust.graphs import LabelGraph


def small() -> LabelGraph:
    g = nx.DiGraph(
        [
            ("thing", "vehicle"),
            ("thing", "animal"),
            ("vehicle", "car"),
            ("vehicle", "bus"),
            ("animal", "dog"),
        ]
    )
    g.nodes["dog"]["synset"] = "dog.n.01"
    return LabelGraph(g, leaves=["dog", "bus", "car"])


def test_labels_are_leaves_in_given_order_then_abstract_parents_first() -> None:
    g = small()
    assert g.leaves == ("dog", "bus", "car")
    assert g.abstract == ("thing", "animal", "vehicle")
    assert g.labels == g.leaves + g.abstract
    assert [g.index(v) for v in g.labels] == list(range(6))
    assert len(g) == 6 and "dog" in g and "cat" not in g


def test_neighbour_queries() -> None:
    g = small()
    assert g.parents("car") == ("vehicle",)
    assert g.children("vehicle") == ("bus", "car")  # prediction order
    assert g.children("car") == ()
    assert g.roots == ("thing",)
    assert g.ancestors("car") == ("thing", "vehicle")
    assert g.descendants("thing") == ("dog", "bus", "car", "animal", "vehicle")
    assert g.node_attrs("dog")["synset"] == "dog.n.01"
    assert g.node_attrs("thing")["kind"] == "abstract"
    a = g.adjacency.toarray()
    assert a[g.index("vehicle"), g.index("car")] == 1 and a.sum() == 5


def test_default_leaves_are_nodes_without_children() -> None:
    g = LabelGraph(nx.DiGraph([("a", "b"), ("a", "c")]))
    assert g.leaves == ("b", "c") and g.abstract == ("a",)


def test_json_round_trip_keeps_order_and_attributes(tmp_path: Path) -> None:
    g = small()
    again = LabelGraph.from_json(json.loads(json.dumps(g.to_json())))
    assert again == g and again.labels == g.labels
    assert again.node_attrs("dog")["synset"] == "dog.n.01"
    path = tmp_path / "g.json"
    g.save(path)
    loaded = LabelGraph.load(path)
    assert loaded == g and loaded.labels == g.labels
    assert json.loads(path.read_text())["nodes"][0]["id"] == "dog"


def test_cycle_is_rejected_with_the_cycle_named() -> None:
    with pytest.raises(InputError, match="cycle: .*a -> b.*remove"):
        LabelGraph(nx.DiGraph([("a", "b"), ("b", "c"), ("c", "a")]))


@pytest.mark.parametrize(
    ("leaves", "match"),
    [
        (["dog", "cat"], "not nodes of the graph"),
        (["dog", "dog"], "repeated"),
        ("dog", "not one string"),
    ],
)
def test_bad_leaves_are_rejected(leaves: object, match: str) -> None:
    with pytest.raises(InputError, match=match):
        LabelGraph(nx.DiGraph([("animal", "dog")]), leaves=leaves)  # type: ignore[arg-type]


def test_other_bad_graphs() -> None:
    with pytest.raises(InputError, match="networkx.DiGraph"):
        LabelGraph(nx.Graph([("a", "b")]))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="non-empty strings"):
        LabelGraph(nx.DiGraph([(1, 2)]))
    with pytest.raises(InputError, match="Unknown label 'cat'"):
        small().index("cat")
    with pytest.raises(InputError, match="node-link"):
        LabelGraph.from_json({"edges": []})


def test_corrupt_files_are_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CorruptFileError, match="bad.json.*mlrobust graph build"):
        LabelGraph.load(bad)
    with pytest.raises(InputError, match="not found"):
        LabelGraph.load(tmp_path / "missing.json")


def test_lineage_marks_ancestors_and_descendants() -> None:
    g = small()
    row = g._lineage[g.index("vehicle")]
    assert {g.labels[i] for i in np.flatnonzero(row)} == {"vehicle", "thing", "bus", "car"}
