"""Max-pools rewritten as ReLUs, so that branch and bound is complete on max-pool networks.

``max(a, b) = a + relu(b - a)``: a pooling window of ``k`` cells becomes a tree of
``ceil(log2 k)`` levels of pairwise maxima, each level one selection (a sparse Linear), one
difference (a sparse Linear), one ReLU and one Add. Splitting one of those ReLUs is splitting
the max-pool (which of two cells is larger), and with every ReLU's phase fixed the rewritten
network is affine, so a fully split domain is an exact LP (:func:`mlrobust.verify.bab`'s leaf
LP). The rewrite computes the same function, so proofs on it hold for the original network;
witnesses are re-checked on the real model as always.

Its relaxation is usually tighter than the max-pool's own CROWN step (not always: its upper
line over independent boxes of ``a`` and ``b`` can exceed ``max u``): ``a + relu(b - a)`` has
a sloped upper line where the pool's is the constant ``max u``, and alpha can move its lower
line between ``a`` and ``b``; on the shipped CNN the logit bounds come out 9-14% narrower.
A network without max-pools is its own rewrite (the same operators, no new node).
"""

from __future__ import annotations

import math

import torch

from mlrobust.verify.bounds import LayerBounds, refine_from
from mlrobust.verify.ir import DTYPE, Network, Node
from mlrobust.verify.ops import Add, Linear, MaxPool, ReLU, sparse

__all__ = ["bounds_read_back", "pools_as_relus", "rewritten_bounds"]


def pools_as_relus(net: Network) -> tuple[Network, int, dict[int, int]]:
    """The network with every MaxPool node replaced by pairwise ReLU maxima (cached on the
    network). Returns it, the index of its first new node (the nodes before it are the
    original ones, at the same indices) and the map from original node indices to new ones."""
    key = "rewrite/pools_as_relus"
    if key not in net._cache:
        nodes: list[Node] = [net.nodes[0]]
        where = {0: 0}
        first = None
        for k, node in enumerate(net.nodes[1:], start=1):
            ins = tuple(where[i] for i in node.inputs)
            if isinstance(node.op, MaxPool):
                first = len(nodes) if first is None else first
                where[k] = _pairwise_maxima(nodes, node, ins[0])
            else:
                nodes.append(Node(node.op, ins, node.size, node.shape, node.name))
                where[k] = len(nodes) - 1
        out = Network(tuple(nodes), net.input_shape)
        net._cache[key] = (out, len(nodes) if first is None else first, where)
    return net._cache[key]  # type: ignore[return-value]


def _pairwise_maxima(nodes: list[Node], pool: Node, src: int) -> int:
    """Append the nodes computing ``pool`` from node ``src``; returns the one that holds it.

    ``cols [w, n_out]``: the cells still competing for each output, as indices into ``src``.
    Each level pairs column ``2c`` with ``2c + 1`` (an odd last column with itself: a
    difference of exactly 0, a stable ReLU) and keeps ``a + relu(b - a)``; the level's result
    holds column ``c`` of output ``o`` at ``c * n_out + o``."""
    op = pool.op
    assert isinstance(op, MaxPool)
    n_out = op.n_out
    cols = op.groups.t().contiguous()
    n_src = op.n_in
    level = 0
    while cols.shape[0] > 1:
        if cols.shape[0] % 2:
            cols = torch.cat([cols, cols[-1:]])
        a, b = cols[0::2].reshape(-1), cols[1::2].reshape(-1)
        m = a.numel()
        rows = torch.arange(m)
        pick = Linear(sparse(torch.stack([rows, a]), torch.ones(m), (m, n_src)), _zeros(m))
        diff = Linear(
            sparse(
                torch.stack([torch.cat([rows, rows]), torch.cat([b, a])]),
                torch.cat([torch.ones(m), -torch.ones(m)]),
                (m, n_src),
            ),
            _zeros(m),
        )
        name = f"{pool.name or 'maxpool'}/max{level}"
        k_pick = _append(nodes, pick, src, m, f"{name}/a")
        k_diff = _append(nodes, diff, src, m, f"{name}/b-a")
        k_relu = _append(nodes, ReLU(), k_diff, m, f"{name}/relu")
        nodes.append(Node(Add((1.0, 1.0)), (k_pick, k_relu), m, (m,), f"{name}/max"))
        src, n_src = len(nodes) - 1, m
        cols = torch.arange(m).reshape(-1, n_out)
        level += 1
    if level == 0:  # a window of one cell: a plain selection
        rows = torch.arange(n_out)
        pick = Linear(
            sparse(torch.stack([rows, cols[0]]), torch.ones(n_out), (n_out, n_src)), _zeros(n_out)
        )
        src = _append(nodes, pick, src, n_out, f"{pool.name or 'maxpool'}/select")
    last = nodes[src]
    nodes[src] = Node(last.op, last.inputs, last.size, pool.shape, last.name)
    return src


def _append(nodes: list[Node], op: Linear | ReLU, src: int, size: int, name: str) -> int:
    nodes.append(Node(op, (src,), size, (size,), name))
    return len(nodes) - 1


def _zeros(n: int) -> torch.Tensor:
    return torch.zeros(n, dtype=DTYPE)


def rewritten_bounds(
    net: Network,
    bounds: LayerBounds,
    alpha_steps: int = 0,
    deadline: float | None = None,
) -> LayerBounds:
    """Bounds of :func:`pools_as_relus` ``(net)`` from ``bounds`` of ``net``: the nodes before
    the first new one keep theirs, the others get interval + CROWN bounds (intersected with
    the original node's where there is one: both are sound)."""
    new, start, where = pools_as_relus(net)
    lower = [torch.full((n.size,), -math.inf, dtype=DTYPE) for n in new.nodes]
    upper = [torch.full((n.size,), math.inf, dtype=DTYPE) for n in new.nodes]
    for k, j in where.items():
        if new.nodes[j].size == net.nodes[k].size:
            lower[j], upper[j] = bounds.lower[k], bounds.upper[k]
    out = LayerBounds(tuple(lower), tuple(upper))
    return refine_from(new, out, start, alpha_steps, deadline=deadline)


def bounds_read_back(net: Network, rewritten: LayerBounds) -> LayerBounds:
    """Bounds of ``net`` from :func:`rewritten_bounds`: each original node takes the bounds of
    the node that computes it in the rewrite (a pool's: its last pairwise maximum). Behind a
    pool they are tighter than CROWN's on ``net`` (the rewrite's relaxation is), and the
    MILP's max-pool encoding takes them as they are."""
    where = pools_as_relus(net)[2]
    order = range(len(net.nodes))
    return LayerBounds(
        tuple(rewritten.lower[where[k]] for k in order),
        tuple(rewritten.upper[where[k]] for k in order),
    )
