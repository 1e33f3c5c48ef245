"""The shipped graphs: they load without WordNet, match the label lists and WordNet rebuilds."""

from __future__ import annotations

import pytest

from mlrobust.errors import InputError
from mlrobust.graphs import consistent_target_set, is_consistent
from mlrobust.graphs.prebuilt import PREBUILT, build_prebuilt, load_prebuilt, read_label_list
from tests.conftest import require_data

NAMES = sorted(PREBUILT)


@pytest.mark.parametrize("name", NAMES)
def test_prebuilt_leaves_are_the_dataset_labels_in_order(name: str) -> None:
    graph = load_prebuilt(name)
    labels = read_label_list(require_data(*PREBUILT[name].label_file))
    assert graph.leaves == tuple(labels)
    assert all(len(graph.parents(v)) <= 1 for v in graph.labels)  # WordNet graphs are trees
    assert all(len(graph.children(v)) >= 2 for v in graph.abstract)
    assert len(graph.roots) == 1


def test_sizes_against_paper_001() -> None:
    # Paper 001 reports 35 nodes (VOC) and 116 (NUS-WIDE); this construction gives 36 and 118.
    assert len(load_prebuilt("voc")) == 36
    assert len(load_prebuilt("nuswide")) == 118


def test_fashion_tree_groups_garments_and_footwear() -> None:
    g = load_prebuilt("fashion_mnist")
    for garment in ("Trouser", "Dress", "Coat", "Shirt", "Pullover", "T-shirt/top"):
        assert "clothing" in g.ancestors(garment), garment
        assert "footwear" not in g.ancestors(garment)
    for shoe in ("Sandal", "Sneaker", "Ankle boot"):
        assert "footwear" in g.ancestors(shoe), shoe
    assert g.parents("Sandal") == g.parents("Sneaker") == ("shoe",)
    assert "clothing" not in g.ancestors("Bag") and "footwear" not in g.ancestors("Bag")
    # No Fashion class sits under another one (they are mutually exclusive).
    assert all(not g.children(v) for v in g.leaves)


def test_voc_target_set_example() -> None:
    g = load_prebuilt("voc")
    on = {"person", "dog", "cat", "carnivore", "placental", "vertebrate", "organism", "whole"}
    p = [v in on for v in g.labels]
    assert is_consistent(g, p)
    psi = {g.labels[i] for i in consistent_target_set(g, p, ["dog"])}
    assert psi == {"dog"}
    psi = {g.labels[i] for i in consistent_target_set(g, p, ["dog", "cat"])}
    assert psi == {"dog", "cat", "carnivore", "placental", "vertebrate"}  # person keeps organism


def test_unknown_prebuilt_name() -> None:
    with pytest.raises(InputError, match="choose one of"):
        load_prebuilt("imagenet")


@pytest.mark.parametrize("name", NAMES)
def test_shipped_json_equals_a_fresh_wordnet_build(name: str, wordnet: None) -> None:
    require_data(*PREBUILT[name].label_file)
    assert build_prebuilt(name).to_json() == load_prebuilt(name).to_json()
