"""Sound bounds on every node: interval arithmetic and CROWN (backward linear relaxation).

Written here because auto_LiRPA cannot be installed beside torch 2.x (see DESIGN.md). All
arithmetic is float64. ``LayerBounds.lower[k]`` / ``upper[k]`` bound the output of node ``k``
over the input box, which is node 0's: ``LayerBounds.box``.

CROWN: to bound ``C h_k + d`` we walk back from node ``k`` to the input in reverse
topological order, each operator replacing its output by a linear relaxation of its inputs
(:meth:`mlrobust.verify.ops.Op.backward`, chosen per coefficient sign from the bounds already
known below); a node read by several others sums the coefficients of all of them. For a
network without nonlinear operators it is exact.

Examples:
    >>> import torch
    >>> from mlrobust.verify.ir import GraphBuilder
    >>> from mlrobust.verify.ops import dense
    >>> g = GraphBuilder((2,))
    >>> net = g.build(g.add(dense(torch.tensor([[1.0, -2.0]]), torch.tensor([0.5])), [0], (1,)))
    >>> lo, hi = torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    >>> crown(net, interval_bounds(net, lo, hi), torch.eye(1, dtype=torch.float64))
    (tensor([-1.5000], dtype=torch.float64), tensor([1.5000], dtype=torch.float64))
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from mlrobust.errors import InputError
from mlrobust.verify.ir import DTYPE, Network
from mlrobust.verify.ops import Add, Box, Linear, Op, ReLU, relu_relaxation
from mlrobust.verify.spec import Clause

__all__ = [
    "ALPHA_MAX_SLOPES",
    "LayerBounds",
    "SPARSE_MAX_DENSITY",
    "adam_step",
    "alpha_crown",
    "backward",
    "check_box",
    "clause_upper_bound",
    "crown",
    "crown_bounds",
    "crown_rows",
    "interval_bounds",
    "refine_from",
    "relu_relaxation",
    "unstable_count",
]


@dataclass(frozen=True)
class LayerBounds:
    """Bounds per node. Shapes: ``lower[k]``/``upper[k]`` ``[size_k]``; node 0's are the input
    box (``box``) and the last node's bound the logits."""

    lower: tuple[torch.Tensor, ...]
    upper: tuple[torch.Tensor, ...]

    @property
    def box(self) -> Box:
        return self.lower[0], self.upper[0]

    def of(self, k: int) -> Box:
        """The bounds of node ``k``'s output."""
        return self.lower[k], self.upper[k]

    def ins(self, net: Network, k: int) -> list[Box]:
        """The bounds of node ``k``'s inputs."""
        return [self.of(i) for i in net.nodes[k].inputs]

    def check_box(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        """Raise InputError unless these bounds were computed over exactly ``[lo, hi]``."""
        if not (torch.equal(self.lower[0], lo) and torch.equal(self.upper[0], hi)):
            raise InputError(
                "Precomputed bounds are over a different input box; compute them "
                "from the same lo/hi passed to the verifier."
            )

    def replace(self, k: int, lo: torch.Tensor, hi: torch.Tensor) -> LayerBounds:
        """A copy with node ``k``'s bounds intersected with ``[lo, hi]``."""
        lower, upper = list(self.lower), list(self.upper)
        a, b = torch.maximum(lower[k], lo), torch.minimum(upper[k], hi)
        # two sound bounds can only cross by float rounding (e.g. a zero-width box): keep the
        # pair's hull, which still contains the true value, rather than an empty interval
        lower[k], upper[k] = torch.minimum(a, b), torch.maximum(a, b)
        return LayerBounds(tuple(lower), tuple(upper))


def check_box(net: Network, lo: torch.Tensor, hi: torch.Tensor) -> Box:
    """Flatten and validate an input box; raises InputError on a size mismatch or empty box."""
    lo = lo.reshape(-1).to(DTYPE)
    hi = hi.reshape(-1).to(DTYPE)
    if lo.numel() != net.input_size or hi.numel() != net.input_size:
        raise InputError(
            f"Input box has {lo.numel()}/{hi.numel()} values but the network takes "
            f"{net.input_size} inputs (shape {net.input_shape}); give one bound per input."
        )
    if not (torch.isfinite(lo).all() and torch.isfinite(hi).all()):
        raise InputError("Input box bounds must be finite.")
    bad = (lo > hi).nonzero()
    if bad.numel():
        j = int(bad[0, 0])
        raise InputError(
            f"Empty input box: lower {lo[j].item()} > upper {hi[j].item()} at "
            f"input {j}; check the property's input constraints."
        )
    return lo, hi


def interval_bounds(net: Network, lo: torch.Tensor, hi: torch.Tensor) -> LayerBounds:
    """Interval arithmetic through every node."""
    lo, hi = check_box(net, lo, hi)
    lows, highs = [lo], [hi]
    for k in range(1, len(net.nodes)):
        a, b = net.op(k).interval([(lows[i], highs[i]) for i in net.nodes[k].inputs])
        lows.append(a)
        highs.append(b)
    return LayerBounds(tuple(lows), tuple(highs))


def backward(
    net: Network,
    bounds: LayerBounds,
    a: torch.Tensor,
    k: int,
    slopes: dict[int, torch.Tensor] | None = None,
) -> torch.Tensor:
    """The CROWN lower bound ``[...]`` of ``a . h_k`` (``a [..., size_k]``) over the box:
    each ancestor of ``k`` in reverse topological order turns the coefficients on its output
    into coefficients on its inputs (summed over all the nodes that read it). ``slopes``:
    alpha-CROWN lower slopes per ReLU node.

    Without slopes or gradients, behind a convolution, the coefficients travel as a SciPy CSR
    matrix while they stay sparse (:data:`SPARSE_MAX_DENSITY`): a row bounding one neuron of a
    convolution touches only its receptive field, and the dense rows spent nearly all their
    time on zeros (the second-layer CROWN of the shipped CNN at eps 0.01: 1.0 s dense, 0.024 s
    sparse, same bounds to 1e-14). An operator without a sparse step takes them dense."""
    acc: dict[int, torch.Tensor | sp.csr_matrix] = {k: a}
    if _sparse_worth_it(net, a, k, slopes):
        acc[k] = sp.csr_matrix(a.numpy())
    const = torch.zeros(a.shape[:-1], dtype=a.dtype)
    for j in reversed(net.ancestors(k)):
        if j == 0:
            break
        aj = acc.pop(j, None)
        if aj is None:
            continue
        op, node = net.op(j), net.nodes[j]
        ins = bounds.ins(net, j)
        parts: Sequence[torch.Tensor | sp.csr_matrix]
        step = _csr_step(op, aj, ins) if isinstance(aj, sp.csr_matrix) else None
        if step is not None:
            parts, c = step[0], torch.from_numpy(step[1])
        else:
            aj = _dense(aj)
            if slopes is not None and j in slopes:
                assert isinstance(op, ReLU)
                parts, c = op.backward(aj, ins, slopes[j])
            else:
                parts, c = op.backward(aj, ins)
        const = const + c
        for i, part in zip(node.inputs, parts, strict=True):
            acc[i] = _plus(acc[i], part) if i in acc else part
    a0 = acc[0]
    lo, hi = bounds.box
    if isinstance(a0, sp.csr_matrix):
        d, cols = a0.data, a0.indices
        vals = np.where(d > 0, d * lo.numpy()[cols], d * hi.numpy()[cols])
        rows = sp.csr_matrix((vals, cols, a0.indptr), shape=a0.shape).sum(1).A1
        return torch.from_numpy(rows) + const
    return (a0.clamp_min(0) * lo).sum(-1) + (a0.clamp_max(0) * hi).sum(-1) + const


#: the sparse coefficients of :func:`backward` go dense above this share of nonzeros (deep in
#: a network the receptive fields cover the input and a CSR matrix only costs more)
SPARSE_MAX_DENSITY = 0.25


def _sparse_worth_it(
    net: Network, a: torch.Tensor, k: int, slopes: dict[int, torch.Tensor] | None
) -> bool:
    """Coefficients ``a [R, size_k]`` in float64 with no gradient to carry, and a sparse weight
    (a lowered convolution) among the ancestors of ``k``."""
    if slopes is not None or a.dim() != 2 or a.dtype != torch.float64 or a.requires_grad:
        return False
    return any(
        isinstance(op := net.op(j), Linear) and op.weight.is_sparse for j in net.ancestors(k) if j
    )


def _csr_step(
    op: Op, a: sp.csr_matrix, ins: Sequence[Box]
) -> tuple[list[sp.csr_matrix], np.ndarray] | None:
    """The operator's sparse step, or None when it has none or ``a`` has filled up."""
    if a.nnz > SPARSE_MAX_DENSITY * a.shape[0] * a.shape[1]:
        return None
    return op.backward_csr(a, ins)


def _dense(a: torch.Tensor | sp.csr_matrix) -> torch.Tensor:
    return torch.from_numpy(a.toarray()) if isinstance(a, sp.csr_matrix) else a


def _plus(
    a: torch.Tensor | sp.csr_matrix, b: torch.Tensor | sp.csr_matrix
) -> torch.Tensor | sp.csr_matrix:
    if isinstance(a, sp.csr_matrix) and isinstance(b, sp.csr_matrix):
        return (a + b).tocsr()
    return _dense(a) + _dense(b)


def crown(
    net: Network,
    bounds: LayerBounds,
    c: torch.Tensor,
    d: torch.Tensor | None = None,
    upto: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CROWN bounds of ``c @ h_upto + d`` (``h_upto`` = output of node ``upto``, default the
    output). Shapes: ``c [R, size_upto]``, ``d [R]`` -> lower ``[R]``, upper ``[R]``."""
    k = net.output if upto is None else upto
    c = c.to(DTYPE)
    rows = c.shape[0]
    low = backward(net, bounds, torch.cat([c, -c]), k)  # lower bounds of c h and of -c h
    dd = torch.zeros(rows, dtype=DTYPE) if d is None else d.to(DTYPE)
    return low[:rows] + dd, -low[rows:] + dd


def alpha_crown(
    net: Network,
    bounds: LayerBounds,
    c: torch.Tensor,
    d: torch.Tensor | None = None,
    upto: int | None = None,
    steps: int = 20,
    lr: float = 0.25,
    deadline: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CROWN with optimised lower-relaxation slopes (alpha-CROWN): every slope in ``[0, 1]``
    gives a sound bound, so a few projected-gradient (Adam) steps per output row tighten it
    and the best bound seen per row is kept. Starts from CROWN's choice; never looser.

    Shapes as :func:`crown`: ``c [R, size_upto]``, ``d [R]`` -> lower ``[R]``, upper ``[R]``.
    """
    k = net.output if upto is None else upto
    c = c.to(DTYPE)
    rows = c.shape[0]
    both = torch.cat([c, -c])
    relus = [j for j in net.ancestors(k) if isinstance(net.nodes[j].op, ReLU)]
    with torch.no_grad():
        best = backward(net, bounds, both, k)
    if steps > 0 and relus:
        slopes = {}
        for j in relus:
            lo, hi = bounds.ins(net, j)[0]
            slopes[j] = (hi >= -lo).to(DTYPE).expand(both.shape[0], -1).clone()
            slopes[j].requires_grad_(True)
        params = list(slopes.values())
        m1 = [torch.zeros_like(p) for p in params]
        m2 = [torch.zeros_like(p) for p in params]
        for t in range(1, steps + 1):
            if deadline is not None and time.monotonic() > deadline:
                break
            low = backward(net, bounds, both, k, slopes)
            best = torch.maximum(best, low.detach())
            grads = torch.autograd.grad(-low.sum(), params)
            adam_step(params, grads, m1, m2, [lr] * len(params), t)
            with torch.no_grad():
                for p in params:
                    p.clamp_(0.0, 1.0)
        with torch.no_grad():
            best = torch.maximum(best, backward(net, bounds, both, k, slopes))
    dd = torch.zeros(rows, dtype=DTYPE) if d is None else d.to(DTYPE)
    return best[:rows] + dd, -best[rows:] + dd


def clause_upper_bound(
    net: Network, bounds: LayerBounds, clause: Clause, steps: int = 0, deadline: float | None = None
) -> float:
    """A proven upper bound of the clause value (its ``at_least``-th largest form) over the box
    of ``bounds``: alpha-CROWN with ``steps`` slope steps (plain CROWN with 0). The property
    holds on the box when it is ``< -margin``; every proof by bounds in mlrobust reads it here.
    """
    _, up = alpha_crown(
        net, bounds, clause.c.to(DTYPE), clause.d.to(DTYPE), steps=steps, deadline=deadline
    )
    # the at_least-th largest form is at most the at_least-th largest upper bound
    return float(up.topk(clause.at_least).values[-1])


def adam_step(
    params: list[torch.Tensor],
    grads: Sequence[torch.Tensor | None],
    m1: list[torch.Tensor],
    m2: list[torch.Tensor],
    lrs: list[float],
    t: int,
) -> None:
    """One Adam descent step in place (step ``t`` >= 1; moments ``m1``/``m2`` updated).

    Written out because torch.optim's first use imports torch._dynamo (~10 s here)."""
    with torch.no_grad():
        for p, g, u, v, lr in zip(params, grads, m1, m2, lrs, strict=True):
            if g is None:
                continue
            u.mul_(0.9).add_(g, alpha=0.1)
            v.mul_(0.999).addcmul_(g, g, value=0.001)
            p.sub_(lr * (u / (1 - 0.9**t)) / ((v / (1 - 0.999**t)).sqrt() + 1e-8))


def crown_bounds(
    net: Network,
    lo: torch.Tensor,
    hi: torch.Tensor,
    alpha_steps: int = 0,
    selective: bool = True,
    deadline: float | None = None,
) -> LayerBounds:
    """Interval bounds, improved by CROWN (alpha-CROWN with ``alpha_steps > 0``) at every node
    whose output feeds a nonlinear operator (and at the logits). ``selective``, ``deadline``:
    see :func:`refine_from`."""
    bounds = interval_bounds(net, lo, hi)
    return refine_from(net, bounds, 1, alpha_steps, selective, deadline)


#: alpha-CROWN on an intermediate node keeps one slope per (bound row, ReLU input below);
#: above this many slopes (e.g. wide convolutions) plain CROWN is used for that node.
ALPHA_MAX_SLOPES = 2_000_000


def _needs_crown(net: Network, k: int) -> bool:
    """Node ``k`` mixes its inputs (a Linear or an Add: intervals lose the correlations, CROWN
    keeps them), its bounds shape a relaxation (it feeds a nonlinear operator) or are the
    logits, and intervals are not already exact there (a Linear on the input is). Elementwise
    and max operators, and Concat, get exact interval images of their inputs' bounds."""
    op = net.op(k)
    if not isinstance(op, (Linear, Add)):
        return False
    feeds = any(net.op(j).nonlinear for j in net.consumers[k]) or k == net.output
    return feeds and not (isinstance(op, Linear) and net.nodes[k].inputs == (0,))


def crown_rows(net: Network, bounds: LayerBounds, k: int, selective: bool = True) -> torch.Tensor:
    """Indices of node ``k``'s neurons worth a CROWN bound (``[R]`` int64).

    With ``selective``, when every reader of the node is a ReLU, a neuron whose upper bound is
    already ``<= 0`` is skipped: the ReLU outputs exactly 0 whatever its tighter bounds would
    be, so every later bound is the same. On the shipped CNN most second-layer neurons are
    stably off at small eps, and bounding only the rest cuts CROWN from ~9 s to well under 1 s.
    """
    n = net.nodes[k].size
    readers = net.consumers[k]
    if not selective or not readers or not all(isinstance(net.op(j), ReLU) for j in readers):
        return torch.arange(n)
    return (bounds.upper[k] > 0).nonzero()[:, 0]


def refine_from(
    net: Network,
    bounds: LayerBounds,
    start: int,
    alpha_steps: int = 0,
    selective: bool = True,
    deadline: float | None = None,
) -> LayerBounds:
    """Recompute nodes ``start..`` with interval + CROWN, keeping the tighter of old and new.

    ``selective`` (default) bounds only the rows :func:`crown_rows` picks; the resulting
    bounds are identical for every neuron that can influence a later node (only the bounds of
    stably-off pre-activations, which no later node reads, may stay looser).
    ``deadline`` (``time.monotonic()``): past it, alpha-CROWN stops optimising and the
    remaining nodes keep their intervals (intersected with the old bounds: sound, just looser),
    so a caller's time limit holds even on nets where one plain CROWN pass takes seconds.
    """
    for k in range(max(start, 1), len(net.nodes)):
        a, b = net.op(k).interval(bounds.ins(net, k))
        bounds = bounds.replace(k, a, b)
        if not _needs_crown(net, k):
            continue
        idx = crown_rows(net, bounds, k, selective)
        if not idx.numel():
            continue
        sel = torch.zeros(idx.numel(), net.nodes[k].size, dtype=DTYPE)
        sel[torch.arange(idx.numel()), idx] = 1.0
        if deadline is not None and time.monotonic() > deadline:
            continue
        slopes = 2 * idx.numel() * _relu_inputs_below(net, k)
        if alpha_steps > 0 and slopes <= ALPHA_MAX_SLOPES:
            cl, cu = alpha_crown(net, bounds, sel, upto=k, steps=alpha_steps, deadline=deadline)
        else:
            cl, cu = crown(net, bounds, sel, upto=k)
        low, up = bounds.lower[k].clone(), bounds.upper[k].clone()
        low[idx] = torch.maximum(low[idx], cl)
        up[idx] = torch.minimum(up[idx], cu)
        bounds = bounds.replace(k, low, up)
    return bounds


def _relu_inputs_below(net: Network, k: int) -> int:
    """Neurons feeding the ReLUs below node ``k`` (one alpha-CROWN slope each per row)."""
    return sum(
        net.nodes[net.nodes[j].inputs[0]].size
        for j in net.ancestors(k)
        if j != k and isinstance(net.nodes[j].op, ReLU)
    )


def unstable_count(net: Network, bounds: LayerBounds) -> int:
    """Number of ReLUs whose input bounds straddle 0 (each needs a binary in the MILP)."""
    total = 0
    for j in net.relus:
        lo, hi = bounds.ins(net, j)[0]
        total += int(((lo < 0) & (hi > 0)).sum())
    return total
