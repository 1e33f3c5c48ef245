"""Algorithm 1 (consistent target set) on hand-built hierarchies, rule by rule, plus checks."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch

from mlrobust.errors import InputError
from mlrobust.graphs import (
    LabelGraph,
    consistent_batch,
    consistent_target_set,
    consistent_target_sets,
    is_consistent,
    is_locally_consistent,
    locally_consistent_batch,
)
from mlrobust.graphs.sources import from_edges


def tree() -> LabelGraph:
    """root -> {animal -> {cat, dog}, vehicle -> {car, bus -> {minibus}}}."""
    return from_edges(
        [
            ("root", "animal"),
            ("root", "vehicle"),
            ("animal", "cat"),
            ("animal", "dog"),
            ("vehicle", "car"),
            ("vehicle", "bus"),
            ("bus", "minibus"),
        ]
    )


def on(graph: LabelGraph, *names: str) -> np.ndarray:
    p = np.zeros(len(graph), dtype=bool)
    for n in names:
        p[graph.index(n)] = True
    return p


def psi(graph: LabelGraph, prediction: np.ndarray, targets: list[str]) -> set[str]:
    return {graph.labels[i] for i in consistent_target_set(graph, prediction, targets)}


def test_target_whose_parent_keeps_another_on_child_is_alone() -> None:
    g = tree()
    p = on(g, "root", "animal", "cat", "dog")
    assert psi(g, p, ["cat"]) == {"cat"}


def test_parent_left_without_on_child_is_turned_off_recursively() -> None:
    g = tree()
    p = on(g, "root", "animal", "cat")
    assert psi(g, p, ["cat"]) == {"cat", "animal", "root"}


def test_recursion_up_stops_at_a_parent_with_another_on_child() -> None:
    g = tree()
    p = on(g, "root", "animal", "cat", "vehicle", "car")
    assert psi(g, p, ["cat"]) == {"cat", "animal"}


def test_internal_target_turns_off_its_on_subtree_only() -> None:
    g = tree()
    p = on(g, "root", "vehicle", "bus", "minibus", "car", "animal", "dog")
    # bus is the target: its ON child minibus goes; car keeps vehicle ON.
    assert psi(g, p, ["bus"]) == {"bus", "minibus"}
    # vehicle as target: whole ON subtree; root keeps animal.
    assert psi(g, p, ["vehicle"]) == {"vehicle", "car", "bus", "minibus"}


def test_internal_target_subtree_and_parents_together() -> None:
    g = tree()
    p = on(g, "root", "vehicle", "bus", "minibus")
    assert psi(g, p, ["bus"]) == {"bus", "minibus", "vehicle", "root"}


def test_child_with_two_parents_stays_when_other_parent_is_on() -> None:
    g = from_edges([("toy", "teddy"), ("bear", "teddy"), ("toy", "ball")])
    both = on(g, "toy", "bear", "teddy")
    assert psi(g, both, ["bear"]) == {"bear"}
    only_bear = on(g, "bear", "teddy")
    # teddy loses its only ON parent and goes too; toy was already OFF.
    assert psi(g, only_bear, ["bear"]) == {"bear", "teddy"}


def test_two_parent_child_turned_off_takes_its_other_parent_with_it() -> None:
    # teddy is the only ON child of toy; targeting teddy turns toy and bear off.
    g = from_edges([("toy", "teddy"), ("bear", "teddy"), ("toy", "ball")])
    p = on(g, "toy", "bear", "teddy")
    assert psi(g, p, ["teddy"]) == {"teddy", "toy", "bear"}


def test_parent_with_one_remaining_on_child_stays_until_both_are_targets() -> None:
    g = tree()
    p = on(g, "root", "animal", "cat", "dog")
    assert psi(g, p, ["dog"]) == {"dog"}
    assert psi(g, p, ["cat", "dog"]) == {"cat", "dog", "animal", "root"}


def test_several_targets_in_different_branches() -> None:
    g = tree()
    p = on(g, "root", "animal", "cat", "dog", "vehicle", "car")
    assert psi(g, p, ["cat", "car"]) == {"cat", "car", "vehicle"}
    assert psi(g, p, ["cat", "dog", "car"]) == {"cat", "dog", "car", "animal", "vehicle", "root"}


def test_off_target_turns_on_its_missing_ancestors() -> None:
    g = tree()
    p = on(g, "root", "animal", "cat")
    assert psi(g, p, ["minibus"]) == {"minibus", "bus", "vehicle"}


def test_off_abstract_target_turns_on_its_first_child() -> None:
    g = tree()
    p = on(g, "root", "animal", "cat")
    result = psi(g, p, ["vehicle"])
    assert result == {"vehicle", "car"}  # car comes before bus in label order
    assert g.index("car") < g.index("bus")


def test_existing_inconsistency_is_left_alone() -> None:
    g = tree()
    p = on(g, "cat", "dog", "car")  # no abstract node ON: already inconsistent
    assert psi(g, p, ["cat"]) == {"cat"}


def test_indices_and_names_give_the_same_set() -> None:
    g = tree()
    p = on(g, "root", "animal", "cat")
    assert consistent_target_set(g, p, ["cat"]) == consistent_target_set(g, p, [g.index("cat")])
    assert consistent_target_set(g, p.tolist(), ["cat"]) == consistent_target_set(
        g, torch.from_numpy(p), ["cat"]
    )


def test_batch_matches_scalar_and_keeps_the_input_type() -> None:
    g = tree()
    preds = np.stack([on(g, "root", "animal", "cat"), on(g, "root", "animal", "cat", "dog")])
    tgts = np.stack([on(g, "cat"), on(g, "cat")])
    out = consistent_target_sets(g, preds, tgts)
    assert isinstance(out, np.ndarray) and out.dtype == bool and out.shape == preds.shape
    for row in range(2):
        assert set(np.flatnonzero(out[row])) == consistent_target_set(g, preds[row], ["cat"])
    out_t = consistent_target_sets(g, torch.from_numpy(preds), torch.from_numpy(tgts))
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.bool
    assert np.array_equal(out_t.numpy(), out)


def test_global_consistency_rules() -> None:
    g = tree()
    assert is_consistent(g, on(g))
    assert is_consistent(g, on(g, "root", "animal", "cat"))
    assert not is_consistent(g, on(g, "root", "animal"))  # ON abstract node without ON child
    assert not is_consistent(g, on(g, "cat"))  # ON node without ON parent
    assert not is_consistent(g, on(g, "root", "animal", "cat", "minibus"))
    batch = np.stack([on(g, "root", "animal", "cat"), on(g, "cat")])
    assert consistent_batch(g, batch).tolist() == [True, False]
    assert consistent_batch(g, torch.from_numpy(batch)).tolist() == [True, False]


def test_local_consistency_looks_only_along_the_targets_lineage() -> None:
    g = tree()
    p = on(g, "root", "animal", "cat", "minibus")  # minibus lacks ON parents: vehicle side broken
    assert is_locally_consistent(g, p, ["dog"])  # lineage: dog, animal, root
    assert not is_locally_consistent(g, p, ["bus"])  # lineage includes minibus
    assert not is_locally_consistent(g, p, ["root"])  # root's lineage is everything
    preds = np.stack([p, p])
    tgts = np.stack([on(g, "dog"), on(g, "bus")])
    assert locally_consistent_batch(g, preds, tgts).tolist() == [True, False]


@pytest.mark.parametrize(
    ("prediction", "match"),
    [
        (np.zeros(3, dtype=bool), "length 8"),
        (np.full(8, 0.5), "bools or 0/1"),
    ],
)
def test_bad_prediction_is_explained(prediction: np.ndarray, match: str) -> None:
    with pytest.raises(InputError, match=match):
        consistent_target_set(tree(), prediction, ["cat"])


def test_bad_targets_are_explained() -> None:
    g = tree()
    p = on(g, "root", "animal", "cat")
    with pytest.raises(InputError, match="Unknown label 'cta'.*'cat'"):
        consistent_target_set(g, p, ["cta"])
    with pytest.raises(InputError, match="out of range"):
        consistent_target_set(g, p, [99])
    with pytest.raises(InputError, match="names or integer indices"):
        consistent_target_set(g, p, [1.5])
    with pytest.raises(InputError, match=r"shape \[N, 8\]"):
        consistent_target_sets(g, p[None], np.zeros((1, 3), dtype=bool))
    with pytest.raises(InputError, match="same shape"):
        consistent_target_sets(g, p[None], np.zeros((2, 8), dtype=bool))


def test_a_single_name_is_accepted_as_one_target() -> None:
    g = tree()
    p = on(g, "root", "animal", "cat")
    assert consistent_target_set(g, p, "cat") == consistent_target_set(g, p, ["cat"])


def test_label_graph_from_networkx_directly() -> None:
    g = LabelGraph(nx.DiGraph([("a", "b"), ("a", "c")]), leaves=["c", "b"])
    p = on(g, "a", "b")
    assert psi(g, p, ["b"]) == {"a", "b"}
