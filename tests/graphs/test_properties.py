"""Property-based tests of the consistent target set on random DAGs (hypothesis)."""

from __future__ import annotations

import networkx as nx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mlrobust.graphs import (
    LabelGraph,
    consistent_target_set,
    consistent_target_sets,
    is_consistent,
    is_locally_consistent,
)

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True)


@st.composite
def dags(draw: st.DrawFn, max_nodes: int = 12) -> LabelGraph:
    """Random DAGs: edges only go from a lower to a higher node number (so no cycle);
    multi-parent nodes appear when ``multi`` allows it."""
    n = draw(st.integers(2, max_nodes))
    multi = draw(st.booleans())
    g = nx.DiGraph()
    g.add_nodes_from(f"n{i}" for i in range(n))
    for child in range(1, n):
        k = draw(st.integers(0, min(3 if multi else 1, child)))
        parents = draw(st.lists(st.integers(0, child - 1), min_size=k, max_size=k, unique=True))
        g.add_edges_from((f"n{p}", f"n{child}") for p in parents)
    return LabelGraph(g)


@st.composite
def consistent_predictions(draw: st.DrawFn, graph: LabelGraph) -> np.ndarray:
    """ON leaves plus all their ancestors: every ON node then has an ON parent and every ON
    inner node an ON child."""
    graph_leaves = [v for v in graph.labels if not graph.children(v)]
    chosen = draw(st.lists(st.sampled_from(graph_leaves), max_size=len(graph_leaves)))
    p = np.zeros(len(graph), dtype=bool)
    for leaf in chosen:
        for v in (leaf, *graph.ancestors(leaf)):
            p[graph.index(v)] = True
    return p


@st.composite
def case(draw: st.DrawFn, mode: str) -> tuple[LabelGraph, np.ndarray, list[int]]:
    graph = draw(dags())
    if mode == "any":
        p = np.array(draw(st.lists(st.booleans(), min_size=len(graph), max_size=len(graph))))
        pool = list(range(len(graph)))
    else:
        p = draw(consistent_predictions(graph))
        pool = [i for i in range(len(graph)) if p[i] == (mode == "on")]
    if not pool:
        return graph, p, []
    targets = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=5, unique=True))
    return graph, p, targets


def flipped(p: np.ndarray, psi: set[int]) -> np.ndarray:
    out = p.copy()
    out[list(psi)] ^= True
    return out


@SETTINGS
@given(case("any"))
def test_psi_is_a_superset_of_the_targets(c: tuple[LabelGraph, np.ndarray, list[int]]) -> None:
    graph, p, targets = c
    assert set(targets) <= consistent_target_set(graph, p, targets)


@SETTINGS
@given(case("on"))
def test_turning_off_psi_keeps_a_consistent_prediction_consistent(c) -> None:  # noqa: ANN001
    graph, p, targets = c
    psi = consistent_target_set(graph, p, targets)
    after = flipped(p, psi)
    assert is_consistent(graph, after)
    assert is_locally_consistent(graph, after, targets)
    # Turning off never reaches outside the targets' lineage (ancestors and descendants).
    lineage = graph._lineage[targets].any(axis=0)
    assert all(lineage[i] for i in psi)


@SETTINGS
@given(case("off"))
def test_turning_on_psi_keeps_a_consistent_prediction_consistent(c) -> None:  # noqa: ANN001
    graph, p, targets = c
    psi = consistent_target_set(graph, p, targets)
    assert is_consistent(graph, flipped(p, psi))


@SETTINGS
@given(case("on"))
def test_psi_is_minimal_in_the_turn_off_case(c) -> None:  # noqa: ANN001
    """Removing any non-target from Psi (leaving that node ON) breaks consistency."""
    graph, p, targets = c
    psi = consistent_target_set(graph, p, targets)
    for extra in psi - set(targets):
        assert not is_consistent(graph, flipped(p, psi - {extra}))


@SETTINGS
@given(st.lists(case("any"), min_size=1, max_size=1), st.integers(1, 6), st.data())
def test_batch_equals_scalar(cases, n, data) -> None:  # noqa: ANN001
    graph = cases[0][0]
    size = len(graph)
    preds = np.array(
        [data.draw(st.lists(st.booleans(), min_size=size, max_size=size)) for _ in range(n)]
    )
    tgts = np.array(
        [data.draw(st.lists(st.booleans(), min_size=size, max_size=size)) for _ in range(n)]
    )
    out = consistent_target_sets(graph, preds, tgts)
    for row in range(n):
        expected = consistent_target_set(graph, preds[row], np.flatnonzero(tgts[row]).tolist())
        assert set(np.flatnonzero(out[row])) == expected
