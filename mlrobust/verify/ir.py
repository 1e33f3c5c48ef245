"""The verification IR: a network as a DAG of operator nodes over flattened float64 vectors.

Node 0 is the input; every other node applies one operator (:mod:`mlrobust.verify.ops`:
``Linear``, ``ReLU``, ``Sigmoid``, ``MaxPool``, ``Add``, ``Concat``) to earlier nodes, so the
node list is a topological order; the last node is the output (the logits). A chain is the case
where every node reads the one before it. Importers (``from_torch``, ``from_onnx``) build a
network with a :class:`GraphBuilder`, which folds runs of affine operators into one ``Linear``
and drops what the output does not depend on.

Shapes: a network maps ``[N, input_size]`` (or ``[N, *input_shape]``) to ``[N, n_outputs]``;
``Node.shape`` records one sample's shape as the source model sees it (e.g. ``(8, 14, 28)``).

Examples:
    >>> import torch
    >>> from mlrobust.verify.ops import ReLU, dense
    >>> g = GraphBuilder((2,))
    >>> h = g.add(dense(torch.eye(2), torch.zeros(2)), [g.input], (2,))
    >>> net = g.build(g.add(ReLU(), [h], (2,)))
    >>> net.forward(torch.tensor([[1.0, -1.0]], dtype=torch.float64)).tolist()
    [[1.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch
from torch import nn

from mlrobust.errors import InputError, UnsupportedLayerError
from mlrobust.verify.ops import DTYPE, Linear, Op, ReLU, compose

__all__ = ["DTYPE", "GraphBuilder", "Network", "NetworkModule", "Node", "chain"]


@dataclass(frozen=True, eq=False)
class Node:
    """One node: ``op`` applied to the nodes ``inputs`` (None for the input node).
    ``size``: its flattened output size; ``shape``: one sample's shape; ``name``: where it
    came from (the source model's node), for messages."""

    op: Op | None
    inputs: tuple[int, ...]
    size: int
    shape: tuple[int, ...]
    name: str = ""


@dataclass(frozen=True, eq=False)
class Network:
    """A DAG of :class:`Node` in topological order: ``nodes[0]`` the input, ``nodes[-1]``
    the output. ``input_shape`` is one sample's shape in the source model."""

    nodes: tuple[Node, ...]
    input_shape: tuple[int, ...]
    _cache: dict[str, object] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.nodes or self.nodes[0].op is not None or self.nodes[0].inputs:
            raise InputError("A network's first node must be its input.")
        if self.nodes[0].size != self.input_size:
            raise InputError("The input node's size does not match input_shape.")
        for k, node in enumerate(self.nodes[1:], start=1):
            where = f"node {k} {type(node.op).__name__} ({node.name or '?'})"
            if node.op is None or not node.inputs:
                raise InputError(
                    f"{where}: every node after the input needs an operator and inputs."
                )
            if any(not 0 <= i < k for i in node.inputs):
                raise InputError(
                    f"{where}: reads {list(node.inputs)}, not all earlier nodes "
                    "(a cycle or a dangling input)."
                )
            if node.op.arity is not None and len(node.inputs) != node.op.arity:
                raise InputError(
                    f"{where}: takes {node.op.arity} input(s), got {len(node.inputs)}."
                )
            sizes = [self.nodes[i].size for i in node.inputs]
            if node.op.out_size(sizes) != node.size:
                raise InputError(
                    f"{where}: output size {node.size} does not follow from "
                    f"inputs of sizes {sizes}."
                )

    # ------------------------------------------------------------------ structure
    @property
    def input_size(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def n_outputs(self) -> int:
        return self.nodes[-1].size

    @property
    def output(self) -> int:
        return len(self.nodes) - 1

    @cached_property
    def consumers(self) -> tuple[tuple[int, ...], ...]:
        """``consumers[i]``: the nodes that read node ``i``."""
        out: list[list[int]] = [[] for _ in self.nodes]
        for k, node in enumerate(self.nodes):
            for i in node.inputs:
                out[i].append(k)
        return tuple(tuple(c) for c in out)

    def ancestors(self, k: int) -> list[int]:
        """Node ``k`` and every node it depends on, in topological order (cached)."""
        key = f"ancestors/{k}"
        if key not in self._cache:
            self._cache[key] = sorted(_ancestors(self.nodes, k))
        return self._cache[key]  # type: ignore[return-value]

    @cached_property
    def is_chain(self) -> bool:
        """Every node reads exactly the node before it."""
        return all(n.inputs == (k - 1,) for k, n in enumerate(self.nodes) if k)

    def of_type(self, kind: type) -> list[int]:
        """Indices of the nodes whose operator is a ``kind``."""
        return [k for k, n in enumerate(self.nodes) if isinstance(n.op, kind)]

    @property
    def relus(self) -> list[int]:
        return self.of_type(ReLU)

    def op(self, k: int) -> Op:
        op = self.nodes[k].op
        assert op is not None, "the input node has no operator"
        return op

    # ------------------------------------------------------------------ numbers
    def forward(self, x: torch.Tensor, upto: int | None = None) -> torch.Tensor:
        """Shape: ``[N, *input_shape]`` or ``[N, input_size]`` -> ``[N, n_outputs]`` (float64);
        ``upto``: the output of that node instead. Differentiable."""
        h = x.reshape(x.shape[0], -1).to(DTYPE)
        if h.shape[1] != self.input_size:
            raise InputError(
                f"Network expects {self.input_size} input values per sample "
                f"(shape {self.input_shape}), got {h.shape[1]}."
            )
        k = self.output if upto is None else upto
        values: dict[int, torch.Tensor] = {0: h}
        last_use = {i: max(self.consumers[i], default=i) for i in range(k + 1)}
        for j in range(1, k + 1):
            node = self.nodes[j]
            values[j] = self.op(j).forward([values[i] for i in node.inputs])
            for i in node.inputs:  # free what no later node reads
                if last_use[i] <= j and i != k:
                    values.pop(i, None)
        return values[k]

    def as_module(self) -> NetworkModule:
        """The network as a torch module on ``[N, *input_shape]`` float32 images."""
        return NetworkModule(self)


class NetworkModule(nn.Module):
    """A :class:`Network` as a differentiable torch module: ``[N, *input_shape]`` (any float
    dtype) -> logits ``[N, L]`` in the input's dtype, computed in float64. Attacks and
    ``evaluate`` run ONNX models through it."""

    def __init__(self, net: Network) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward(x.reshape(x.shape[0], -1)).to(x.dtype)


class GraphBuilder:
    """Collects nodes in topological order. ``add`` returns the new node's index; ``build``
    prunes what ``output`` does not depend on and folds runs of ``Linear`` nodes (a Linear read
    only by the next Linear is merged into it)."""

    def __init__(self, input_shape: Sequence[int]) -> None:
        if not input_shape or any(int(s) < 1 for s in input_shape):
            raise InputError(f"input_shape must be positive sizes, got {tuple(input_shape)}.")
        self.input_shape = tuple(int(s) for s in input_shape)
        self.nodes: list[Node] = [
            Node(None, (), int(np.prod(self.input_shape)), self.input_shape, "input")
        ]
        self.input = 0

    def add(self, op: Op, inputs: Sequence[int], shape: Sequence[int], name: str = "") -> int:
        sizes = [self.nodes[i].size for i in inputs]
        size = int(np.prod(shape))
        if op.out_size(sizes) != size:
            raise UnsupportedLayerError(
                f"{name or type(op).__name__}: inputs of sizes {sizes} give {op.out_size(sizes)} "
                f"values, not the {size} of shape {tuple(shape)}."
            )
        self.nodes.append(Node(op, tuple(inputs), size, tuple(int(s) for s in shape), name))
        return len(self.nodes) - 1

    def build(self, output: int) -> Network:
        keep = _ancestors(self.nodes, output)
        nodes = [n for k, n in enumerate(self.nodes) if k in keep]
        index = {k: i for i, k in enumerate(sorted(keep))}
        nodes = [
            Node(n.op, tuple(index[i] for i in n.inputs), n.size, n.shape, n.name) for n in nodes
        ]
        return Network(_fold_linear(nodes), self.input_shape)


def chain(ops: Sequence[Op], input_shape: Sequence[int]) -> Network:
    """A chain network: each operator reads the one before (flat shapes).

    >>> from mlrobust.verify.ops import ReLU
    >>> chain([ReLU()], (3,)).n_outputs
    3
    """
    g = GraphBuilder(input_shape)
    k = g.input
    for op in ops:
        size = op.out_size([g.nodes[k].size])
        k = g.add(op, [k], (size,))
    return g.build(k)


def _ancestors(nodes: Sequence[Node], k: int) -> set[int]:
    seen = {k}
    for j in range(k, -1, -1):
        if j in seen:
            seen.update(nodes[j].inputs)
    return seen


def _fold_linear(nodes: list[Node]) -> tuple[Node, ...]:
    """Merge each Linear into the Linear that is its only reader (normalisation, BatchNorm
    and convolution chains become one affine map). Indices stay topological."""
    readers: list[list[int]] = [[] for _ in nodes]
    for k, n in enumerate(nodes):
        for i in n.inputs:
            readers[i].append(k)
    merged: dict[int, int] = {}  # folded node -> the node that absorbed it
    out = list(nodes)
    for k, n in enumerate(nodes):
        if not isinstance(n.op, Linear) or len(n.inputs) != 1:
            continue
        src = n.inputs[0]
        first = out[src]
        if isinstance(first.op, Linear) and src != 0 and readers[src] == [k]:
            out[k] = Node(
                compose(first.op, n.op), first.inputs, n.size, n.shape, n.name or first.name
            )
            merged[src] = k
    if not merged:
        return tuple(out)
    kept = [k for k in range(len(out)) if k not in merged]
    index = {k: i for i, k in enumerate(kept)}
    return tuple(
        Node(
            out[k].op,
            tuple(index[i] for i in out[k].inputs),
            out[k].size,
            out[k].shape,
            out[k].name,
        )
        for k in kept
    )
