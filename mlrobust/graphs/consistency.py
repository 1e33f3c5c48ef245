"""Consistent target sets (Algorithm 1 of paper 001) and consistency checks.

A prediction is a bool vector over :attr:`LabelGraph.labels`. It is **consistent** when

* every ON node that has parents has at least one ON parent, and
* every ON node that has children has at least one ON child.

The **consistent target set** ``Psi`` of targets ``Omega`` is the smallest superset of
``Omega`` whose flip leaves no new inconsistency behind. Starting from the prediction with
every target flipped, it is the fixpoint of:

* *turn off, downwards*: an ON child (not in ``Psi``) whose ON parents have all been turned off
  is turned off; children that keep another ON parent stay ON;
* *turn off, upwards*: an ON parent (not in ``Psi``) whose ON children have all been turned off
  is turned off, recursively up to the roots;
* *turn on* (targets that were OFF; not covered by the paper, which attacks ON labels): a node
  turned on without an ON parent turns on its first parent (lowest index), and one with
  children but no ON child turns on its first child, until supported.

Turn-offs only ever remove support, so their fixpoint does not depend on the order nodes are
visited; turn-ons proceed in rounds over all nodes at once, which is the same in the scalar
and batch code. Nodes whose inconsistency the prediction already had are left alone.
Targets that contradict each other (turning a node on below one being turned off) cannot all be
made consistent; ``Psi`` is then still deterministic.

Examples:
    >>> import networkx as nx
    >>> from mlrobust.graphs.graph import LabelGraph
    >>> g = LabelGraph(nx.DiGraph([("vehicle", "car"), ("vehicle", "bus")]), leaves=["car", "bus"])
    >>> sorted(g.labels[i] for i in consistent_target_set(g, [True, False, True], ["car"]))
    ['car', 'vehicle']
    >>> sorted(g.labels[i] for i in consistent_target_set(g, [True, True, True], ["car"]))
    ['car']
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import TypeVar

import numpy as np
import torch

from mlrobust.errors import InputError
from mlrobust.graphs.graph import LabelGraph

ArrayLike = TypeVar("ArrayLike", torch.Tensor, np.ndarray)


# ---------------------------------------------------------------------------- input checks
def _to_numpy_bool(x: object, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind not in "iuf" or not np.isin(arr, (0, 1)).all():
        raise InputError(
            f"{name} must hold bools or 0/1 values, got dtype {arr.dtype}; threshold scores "
            "first (e.g. with mlrobust.rules.Threshold(0.5).predict(logits))."
        )
    return arr.astype(bool)


def _check_vector(graph: LabelGraph, prediction: object) -> np.ndarray:
    p = _to_numpy_bool(prediction, "prediction")
    if p.shape != (len(graph),):
        raise InputError(
            f"prediction must be a vector of length {len(graph)} (one entry per graph label, "
            f"in LabelGraph.labels order), got shape {p.shape}."
        )
    return p


def _check_matrix(graph: LabelGraph, x: object, name: str) -> np.ndarray:
    m = _to_numpy_bool(x, name)
    if m.ndim != 2 or m.shape[1] != len(graph):
        raise InputError(
            f"{name} must have shape [N, {len(graph)}] (one column per graph label, in "
            f"LabelGraph.labels order), got {m.shape}."
        )
    return m


def _target_indices(graph: LabelGraph, targets: Iterable[str | int]) -> list[int]:
    if isinstance(targets, (str, int, np.integer)):
        targets = [targets]  # a single label is a common slip; accept it
    out: set[int] = set()
    for t in targets:
        if isinstance(t, str):
            out.add(graph.index(t))
        elif isinstance(t, (int, np.integer)) and not isinstance(t, (bool, np.bool_)):
            if not 0 <= int(t) < len(graph):
                raise InputError(
                    f"Target index {t} is out of range for a graph with {len(graph)} labels."
                )
            out.add(int(t))
        else:
            raise InputError(
                f"Targets must be label names or integer indices, got {t!r} ({type(t).__name__})."
            )
    return sorted(out)


def _like(result: np.ndarray, template: ArrayLike) -> ArrayLike:
    if isinstance(template, torch.Tensor):
        return torch.from_numpy(result).to(template.device)
    return result


# ---------------------------------------------------------------------------- one prediction
def consistent_target_set(
    graph: LabelGraph, prediction: object, targets: Iterable[str | int]
) -> set[int]:
    """Label indices of the consistent target set ``Psi`` (see the module docstring).

    Args:
        graph: the label hierarchy.
        prediction: bool (or 0/1) vector ``[L]`` over ``graph.labels`` (list, numpy, torch).
        targets: label names or indices to flip.

    Returns:
        The indices in ``Psi``; always a superset of the targets.
    """
    state = _check_vector(graph, prediction).copy()
    target_idx = _target_indices(graph, targets)
    psi = set(target_idx)
    parents, children = graph._parent_idx, graph._child_idx
    state_before = state.copy()
    for t in target_idx:
        state[t] = not state[t]

    # Turn-on phase, in rounds so that it matches the batch version exactly.
    chain = [t for t in target_idx if state[t]]
    while chain:
        new: list[int] = []
        for v in chain:
            up = graph._primary_parent[v]
            if up >= 0 and not state[parents[v]].any() and not (up in psi and not state[up]):
                new.append(int(up))
            down = graph._primary_child[v]
            if down >= 0 and not state[children[v]].any() and not (down in psi and not state[down]):
                new.append(int(down))
        new = sorted(set(new) - {v for v in new if state[v]})
        for v in new:
            state[v] = True
            psi.add(v)
        chain = new

    # Turn-off phase: a work list over the nodes that lost their ON state (order-free).
    queue = deque(t for t in target_idx if state_before[t] and not state[t])
    while queue:
        v = queue.popleft()
        for c in children[v]:
            if state[c] and c not in psi and not state[parents[c]].any():
                state[c] = False
                psi.add(int(c))
                queue.append(int(c))
        for p in parents[v]:
            if state[p] and p not in psi and not state[children[p]].any():
                state[p] = False
                psi.add(int(p))
                queue.append(int(p))
    return psi


# ---------------------------------------------------------------------------- batches
def consistent_target_sets(
    graph: LabelGraph, predictions: ArrayLike, targets: ArrayLike
) -> ArrayLike:
    """Vectorised :func:`consistent_target_set` over a batch.

    Shape:
        predictions: bool ``[N, L]``; targets: bool ``[N, L]`` (True = flip this label).
        Returns bool ``[N, L]``, True on ``Psi``, of the same type (and device) as
        ``predictions``.
    """
    pred = _check_matrix(graph, predictions, "predictions")
    tgt = _check_matrix(graph, targets, "targets")
    if tgt.shape != pred.shape:
        raise InputError(
            f"targets must have the same shape as predictions {pred.shape}, got {tgt.shape}."
        )
    a = graph.adjacency  # [L, L], parent row -> child column
    at = a.T.tocsr()

    def n_on_parents(s: np.ndarray) -> np.ndarray:
        return np.asarray(s.astype(np.float32) @ a) > 0  # [N, L]

    def n_on_children(s: np.ndarray) -> np.ndarray:
        return np.asarray(s.astype(np.float32) @ at) > 0

    state = pred ^ tgt
    psi = tgt.copy()
    pinned_off = tgt & ~state

    # Turn-on phase in rounds: unsupported newly-ON nodes switch on their first parent / child.
    chain = tgt & state
    while chain.any():
        lacks_up = chain & graph._has_parent & ~n_on_parents(state)
        lacks_down = chain & graph._has_child & ~n_on_children(state)
        new = np.zeros_like(state)
        r, c = np.nonzero(lacks_up)
        new[r, graph._primary_parent[c]] = True
        r, c = np.nonzero(lacks_down)
        new[r, graph._primary_child[c]] = True
        new &= ~state & ~pinned_off
        state |= new
        psi |= new
        chain = new

    # Turn-off phase: nodes that had an ON parent (child) before the targets were turned off
    # and now have none are switched off, until nothing changes.
    before = state | (tgt & pred)
    had_parent = n_on_parents(before)
    had_child = n_on_children(before)
    active = np.ones(pred.shape[0], dtype=bool)
    while active.any():
        s = state[active]
        off = (
            s
            & ~psi[active]
            & ((had_parent[active] & ~n_on_parents(s)) | (had_child[active] & ~n_on_children(s)))
        )
        changed = off.any(axis=1)
        s &= ~off
        state[active] = s
        psi[active] |= off
        active[np.flatnonzero(active)[~changed]] = False
    return _like(psi, predictions)


# ---------------------------------------------------------------------------- consistency
def _violations(graph: LabelGraph, state: np.ndarray) -> np.ndarray:
    """Bool ``[N, L]``: ON nodes that lack a needed ON parent or ON child."""
    f = state.astype(np.float32)
    no_parent = graph._has_parent & ~(np.asarray(f @ graph.adjacency) > 0)
    no_child = graph._has_child & ~(np.asarray(f @ graph.adjacency.T) > 0)
    return state & (no_parent | no_child)


def consistent_batch(graph: LabelGraph, predictions: ArrayLike) -> ArrayLike:
    """Global consistency per row. Shape: predictions bool ``[N, L]`` -> bool ``[N]``."""
    state = _check_matrix(graph, predictions, "predictions")
    return _like(~_violations(graph, state).any(axis=1), predictions)


def locally_consistent_batch(
    graph: LabelGraph, predictions: ArrayLike, targets: ArrayLike
) -> ArrayLike:
    """Consistency around the targets, per row (the FR_S criterion of paper 001).

    Only nodes on a target's lineage (the target, its ancestors, its descendants) are checked.

    Shape:
        predictions, targets: bool ``[N, L]`` -> bool ``[N]``.
    """
    state = _check_matrix(graph, predictions, "predictions")
    tgt = _check_matrix(graph, targets, "targets")
    if tgt.shape != state.shape:
        raise InputError(
            f"targets must have the same shape as predictions {state.shape}, got {tgt.shape}."
        )
    region = (tgt.astype(np.float32) @ graph._lineage.astype(np.float32)) > 0
    return _like(~(_violations(graph, state) & region).any(axis=1), predictions)


def is_consistent(graph: LabelGraph, prediction: object) -> bool:
    """True when the prediction vector ``[L]`` breaks no consistency rule anywhere."""
    state = _check_vector(graph, prediction)
    return not bool(_violations(graph, state[None]).any())


def is_locally_consistent(
    graph: LabelGraph, prediction: object, targets: Iterable[str | int]
) -> bool:
    """True when no node on a target's lineage breaks a consistency rule (used by FR_S)."""
    state = _check_vector(graph, prediction)
    region = np.zeros(len(graph), dtype=bool)
    idx = _target_indices(graph, targets)
    if idx:
        region = graph._lineage[idx].any(axis=0)
    return not bool((_violations(graph, state[None])[0] & region).any())
