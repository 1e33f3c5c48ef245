"""LabelGraph: a label hierarchy (parent -> child DAG) with a fixed prediction-vector order.

A model's output vector has one entry per node of the graph, in the order of
:attr:`LabelGraph.labels`: the dataset's own labels (``leaves``) first, in the order given,
then the ``abstract`` ancestors added by a builder (e.g. WordNet hypernyms), in
lexicographical topological order (parents before children, ties by name).

Examples:
    >>> import networkx as nx
    >>> g = LabelGraph(nx.DiGraph([("animal", "cat"), ("animal", "dog")]), leaves=["dog", "cat"])
    >>> g.labels
    ('dog', 'cat', 'animal')
    >>> g.index("animal"), g.parents("cat"), g.children("animal")
    (2, ('animal',), ('dog', 'cat'))
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
from scipy import sparse

from mlrobust.errors import CorruptFileError, InputError

LEAF = "leaf"
ABSTRACT = "abstract"
JSON_FORMAT = "mlrobust.label_graph/1"


class LabelGraph:
    """An immutable label hierarchy over named nodes; edges point from parent to child.

    Args:
        graph: a ``networkx.DiGraph`` whose nodes are label names (non-empty strings) and
            whose edges go parent -> child. Node attributes (``kind``, ``synset``,
            ``description``, ...) are kept. It is copied, so later changes to it do not leak in.
        leaves: the dataset's labels in prediction order. ``None`` takes the nodes whose
            ``kind`` attribute is ``"leaf"`` or, when no node has a ``kind``, the nodes without
            children, both in the graph's node order.

    Raises:
        InputError: a cycle, a self-loop, a leaf that is not a node, a repeated leaf, or a
            node name that is not a non-empty string.
    """

    def __init__(self, graph: nx.DiGraph, leaves: Sequence[str] | None = None) -> None:
        if not isinstance(graph, nx.DiGraph) or graph.is_multigraph():
            raise InputError(
                f"LabelGraph needs a networkx.DiGraph, got {type(graph).__name__}; "
                "build one with networkx.DiGraph(edge_list) or use from_edges(...)."
            )
        _check_names(graph.nodes)
        _check_acyclic(graph)
        leaf_names = _resolve_leaves(graph, leaves)
        leaf_set = set(leaf_names)
        rest = graph.subgraph([n for n in graph.nodes if n not in leaf_set])
        abstract = tuple(nx.lexicographical_topological_sort(rest, key=str))

        self._labels: tuple[str, ...] = leaf_names + abstract
        self._leaves = leaf_names
        self._abstract = abstract
        self._index = {name: i for i, name in enumerate(self._labels)}
        # Re-insert nodes in prediction order so node-link JSON lists them in that order.
        g = nx.DiGraph()
        g.graph.update(graph.graph)
        for name in self._labels:
            attrs = dict(graph.nodes[name])
            attrs["kind"] = LEAF if name in leaf_set else ABSTRACT
            g.add_node(name, **attrs)
        g.add_edges_from(sorted(graph.edges, key=lambda e: (self._index[e[0]], self._index[e[1]])))
        self._graph = nx.freeze(g)
        self._build_arrays()

    def _build_arrays(self) -> None:
        n = len(self._labels)
        idx = self._index
        self._parent_idx = tuple(
            np.array(sorted(idx[p] for p in self._graph.predecessors(v)), dtype=np.int64)
            for v in self._labels
        )
        self._child_idx = tuple(
            np.array(sorted(idx[c] for c in self._graph.successors(v)), dtype=np.int64)
            for v in self._labels
        )
        rows = [idx[p] for p, _ in self._graph.edges]
        cols = [idx[c] for _, c in self._graph.edges]
        self._adjacency = sparse.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, n)
        )
        self._has_parent = np.array([a.size > 0 for a in self._parent_idx], dtype=bool)
        self._has_child = np.array([a.size > 0 for a in self._child_idx], dtype=bool)
        # The lowest-index neighbour: the deterministic choice when a node must be turned on.
        self._primary_parent = np.array(
            [a[0] if a.size else -1 for a in self._parent_idx], dtype=np.int64
        )
        self._primary_child = np.array(
            [a[0] if a.size else -1 for a in self._child_idx], dtype=np.int64
        )

    @functools.cached_property
    def _lineage(self) -> np.ndarray:
        """Bool ``[L, L]``: row ``t`` marks ``t``, its ancestors and its descendants."""
        n = len(self._labels)
        below = np.eye(n, dtype=bool)  # below[v, u]: u is v or a descendant of v
        for v in reversed(list(nx.topological_sort(self._graph))):
            i = self._index[v]
            for c in self._child_idx[i]:
                below[i] |= below[c]
        return below | below.T

    # ------------------------------------------------------------------ queries
    @property
    def labels(self) -> tuple[str, ...]:
        """Every node, in prediction-vector order (leaves first, then abstract nodes)."""
        return self._labels

    @property
    def leaves(self) -> tuple[str, ...]:
        """The dataset's own labels, in the order given."""
        return self._leaves

    @property
    def abstract(self) -> tuple[str, ...]:
        """Nodes added by the builder (e.g. WordNet hypernyms), in prediction order."""
        return self._abstract

    @property
    def roots(self) -> tuple[str, ...]:
        """Nodes without a parent, in prediction order."""
        return tuple(v for i, v in enumerate(self._labels) if not self._has_parent[i])

    @property
    def graph(self) -> nx.DiGraph:
        """The frozen networkx graph (parent -> child), nodes in prediction order."""
        return self._graph

    @property
    def adjacency(self) -> sparse.csr_matrix:
        """Sparse ``[L, L]`` matrix with ``A[p, c] = 1`` for every edge parent -> child."""
        return self._adjacency

    def __len__(self) -> int:
        return len(self._labels)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelGraph):
            return NotImplemented
        return (
            self._labels == other._labels
            and self._leaves == other._leaves
            and set(self._graph.edges) == set(other._graph.edges)
        )

    def __hash__(self) -> int:
        return hash((self._labels, frozenset(self._graph.edges)))

    def __repr__(self) -> str:
        return (
            f"LabelGraph({len(self._leaves)} leaves, {len(self._abstract)} abstract, "
            f"{self._graph.number_of_edges()} edges)"
        )

    def index(self, name: str) -> int:
        """Position of ``name`` in :attr:`labels`; :class:`InputError` for an unknown name."""
        try:
            return self._index[name]
        except (KeyError, TypeError):
            raise InputError(self._unknown_message(name)) from None

    def parents(self, name: str) -> tuple[str, ...]:
        """Parents of ``name`` in prediction order."""
        return tuple(self._labels[i] for i in self._parent_idx[self.index(name)])

    def children(self, name: str) -> tuple[str, ...]:
        """Children of ``name`` in prediction order."""
        return tuple(self._labels[i] for i in self._child_idx[self.index(name)])

    def ancestors(self, name: str) -> tuple[str, ...]:
        """All ancestors of ``name`` in prediction order."""
        return self._sorted(nx.ancestors(self._graph, self._check(name)))

    def descendants(self, name: str) -> tuple[str, ...]:
        """All descendants of ``name`` in prediction order."""
        return self._sorted(nx.descendants(self._graph, self._check(name)))

    def node_attrs(self, name: str) -> Mapping[str, Any]:
        """The node's attributes (``kind`` and whatever the builder stored)."""
        return self._graph.nodes[self._check(name)]

    def _check(self, name: str) -> str:
        self.index(name)
        return name

    def _sorted(self, names: Iterable[str]) -> tuple[str, ...]:
        return tuple(sorted(names, key=self._index.__getitem__))

    def _unknown_message(self, name: object) -> str:
        close = difflib.get_close_matches(str(name), self._labels, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        return (
            f"Unknown label {name!r}: the graph has {len(self._labels)} labels "
            f"(see LabelGraph.labels).{hint}"
        )

    # ------------------------------------------------------------------ (de)serialisation
    def to_json(self) -> dict[str, Any]:
        """Node-link data (networkx) plus the leaf order; inverse of :meth:`from_json`."""
        data = nx.node_link_data(self._graph, edges="edges")
        data["graph"] = {
            **data.get("graph", {}),
            "format": JSON_FORMAT,
            "leaves": list(self._leaves),
        }
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LabelGraph:
        """Rebuild a graph from :meth:`to_json` output (or any networkx node-link dict)."""
        if not isinstance(data, Mapping) or "nodes" not in data:
            raise InputError(
                "Label-graph JSON must be a networkx node-link object with 'nodes' and 'edges' "
                "(as written by LabelGraph.to_json)."
            )
        edges_key = "edges" if "edges" in data else "links"
        try:
            g = nx.node_link_graph(dict(data), directed=True, multigraph=False, edges=edges_key)
        except (KeyError, TypeError, nx.NetworkXError) as exc:
            raise InputError(f"Malformed node-link label graph: {exc!r}.") from None
        leaves = g.graph.pop("leaves", None)
        g.graph.pop("format", None)
        return cls(g, leaves=leaves)

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_json` to ``path`` (UTF-8, indented, stable)."""
        Path(path).write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> LabelGraph:
        """Read a graph written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"Label-graph file not found: {path}.")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls.from_json(data)
        except (json.JSONDecodeError, InputError) as exc:
            raise CorruptFileError(
                f"Cannot read label graph {path}: {exc}. Regenerate it with `mlrobust graph build`."
            ) from None


def _check_names(nodes: Iterable[object]) -> None:
    bad = [n for n in nodes if not isinstance(n, str) or not n.strip()]
    if bad:
        raise InputError(
            f"Label-graph node names must be non-empty strings, got {bad[:3]!r}; "
            "convert ids to names (str) before building the graph."
        )


def _check_acyclic(graph: nx.DiGraph) -> None:
    if nx.is_directed_acyclic_graph(graph):
        return
    cycle = nx.find_cycle(graph)
    path = " -> ".join([str(u) for u, _ in cycle] + [str(cycle[0][0])])
    raise InputError(
        f"The label hierarchy has a cycle: {path}. A hierarchy must be acyclic; "
        "remove one of these parent->child edges."
    )


def _resolve_leaves(graph: nx.DiGraph, leaves: Sequence[str] | None) -> tuple[str, ...]:
    if leaves is None:
        kinds = nx.get_node_attributes(graph, "kind")
        if kinds:
            return tuple(n for n in graph.nodes if kinds.get(n) == LEAF)
        return tuple(n for n in graph.nodes if graph.out_degree(n) == 0)
    if isinstance(leaves, str):
        raise InputError("leaves must be a sequence of label names, not one string.")
    leaves = tuple(leaves)
    unknown = [v for v in leaves if v not in graph]
    if unknown:
        raise InputError(
            f"Leaf labels {unknown[:5]!r} are not nodes of the graph; add them as nodes "
            "(graph.add_node(name)) or fix their spelling."
        )
    seen: set[str] = set()
    repeated = [v for v in leaves if v in seen or seen.add(v)]  # type: ignore[func-returns-value]
    if repeated:
        raise InputError(f"Leaf labels are repeated: {repeated[:5]!r}; list each label once.")
    return leaves
