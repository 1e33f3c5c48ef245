"""Sound bounds on every layer: interval arithmetic and CROWN (backward linear relaxation).

Written here because auto_LiRPA cannot be installed beside torch 2.x (see DESIGN.md). All
arithmetic is float64. ``LayerBounds.lower[i]`` / ``upper[i]`` bound the *output* of layer ``i``
over the input box; the input box itself is ``LayerBounds.box``.

CROWN: to bound ``C h_k + d`` we walk back from layer ``k`` to the input, replacing every ReLU
(and max-pool) by a linear lower or upper relaxation chosen per coefficient sign, using the
bounds already known for the layers below. For a network without ReLUs it is exact.

Examples:
    >>> import torch
    >>> from mlrobust.verify.ir import Linear, Network
    >>> net = Network((Linear(torch.tensor([[1.0, -2.0]]), torch.tensor([0.5])),), (2,))
    >>> lo, hi = torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    >>> crown(net, interval_bounds(net, lo, hi), torch.eye(1, dtype=torch.float64))
    (tensor([-1.5000], dtype=torch.float64), tensor([1.5000], dtype=torch.float64))
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mlrobust.errors import InputError
from mlrobust.verify.ir import DTYPE, Linear, MaxPool, Network, ReLU, Sigmoid
from mlrobust.verify.spec import Clause


@dataclass(frozen=True)
class LayerBounds:
    """Per-layer output bounds. Shapes: ``box`` pair ``[input_size]``; ``lower[i]``/``upper[i]``
    ``[n_out_i]``. ``lower[-1]``/``upper[-1]`` bound the logits."""

    box: tuple[torch.Tensor, torch.Tensor]
    lower: tuple[torch.Tensor, ...]
    upper: tuple[torch.Tensor, ...]

    def input_of(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Bounds of the input of layer ``i``."""
        return self.box if i == 0 else (self.lower[i - 1], self.upper[i - 1])

    def check_box(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        """Raise InputError unless these bounds were computed over exactly ``[lo, hi]``."""
        if not (torch.equal(self.box[0], lo) and torch.equal(self.box[1], hi)):
            raise InputError(
                "Precomputed bounds are over a different input box; compute them "
                "from the same lo/hi passed to the verifier."
            )

    def replace(self, i: int, lo: torch.Tensor, hi: torch.Tensor) -> LayerBounds:
        """A copy with layer ``i``'s bounds intersected with ``[lo, hi]``."""
        lower, upper = list(self.lower), list(self.upper)
        a, b = torch.maximum(lower[i], lo), torch.minimum(upper[i], hi)
        # two sound bounds can only cross by float rounding (e.g. a zero-width box): keep the
        # pair's hull, which still contains the true value, rather than an empty interval
        lower[i], upper[i] = torch.minimum(a, b), torch.maximum(a, b)
        return LayerBounds(self.box, tuple(lower), tuple(upper))


def check_box(
    net: Network, lo: torch.Tensor, hi: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
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
    """Interval arithmetic through every layer."""
    lo, hi = check_box(net, lo, hi)
    lows, highs = [], []
    a, b = lo, hi
    for layer in net.layers:
        a, b = layer.interval(a, b)
        lows.append(a)
        highs.append(b)
    return LayerBounds((lo, hi), tuple(lows), tuple(highs))


def crown(
    net: Network,
    bounds: LayerBounds,
    c: torch.Tensor,
    d: torch.Tensor | None = None,
    upto: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CROWN bounds of ``c @ h_upto + d`` (``h_upto`` = output of layer ``upto``, default last).

    Shapes: ``c [R, n_out_upto]``, ``d [R]`` -> lower ``[R]``, upper ``[R]``.
    """
    k = len(net.layers) - 1 if upto is None else upto
    c = c.to(DTYPE)
    rows = c.shape[0]
    both = torch.cat([c, -c])  # lower bounds of c h and of -c h in one pass
    low = _backward(net, bounds, both, k)
    dd = torch.zeros(rows, dtype=DTYPE) if d is None else d.to(DTYPE)
    return low[:rows] + dd, -low[rows:] + dd


def _backward(
    net: Network,
    bounds: LayerBounds,
    a: torch.Tensor,
    k: int,
    alphas: dict[int, torch.Tensor] | None = None,
) -> torch.Tensor:
    const = torch.zeros(a.shape[0], dtype=DTYPE)
    for j in range(k, -1, -1):
        layer = net.layers[j]
        if isinstance(layer, Linear):
            const = const + a @ layer.bias
            a = layer.back(a)
        elif isinstance(layer, ReLU):
            lo, hi = bounds.input_of(j)
            a, const = _relu_back(a, const, lo, hi, None if alphas is None else alphas[j])
        elif isinstance(layer, MaxPool):
            lo, hi = bounds.input_of(j)
            a, const = maxpool_back(a, const, layer, lo, hi)
        elif isinstance(layer, Sigmoid):
            lo, hi = bounds.input_of(j)
            a, const = _sigmoid_back(a, const, lo, hi)
        else:  # pragma: no cover - the IR has three layer types
            raise TypeError(type(layer))
    lo, hi = bounds.box
    return a.clamp_min(0) @ lo + a.clamp_max(0) @ hi + const


def relu_relaxation(
    lo: torch.Tensor,
    hi: torch.Tensor,
    slope: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Linear relaxation ``alpha z <= relu(z) <= s_up z + b_up`` for ``z`` in ``[lo, hi]``.

    Exact for stable neurons; ``slope`` (any value, clamped to ``[0, 1]``; broadcast against
    ``lo``/``hi``) replaces CROWN's adaptive lower slope on unstable ones. Returns ``alpha``
    (the broadcast shape of ``lo`` and ``slope``), ``s_up``, ``b_up`` (shape of ``lo``)."""
    unstable = (lo < 0) & (hi > 0)
    active = (lo >= 0).to(lo.dtype)
    # upper relaxation relu(z) <= s (z - l) on unstable neurons
    s_up = torch.where(unstable, hi / (hi - lo).clamp_min(1e-30), active)
    b_up = torch.where(unstable, -s_up * lo, torch.zeros_like(lo))
    # lower relaxation relu(z) >= alpha z, alpha in {0, 1} (CROWN's adaptive choice)
    # (or, for alpha-CROWN, any per-row slope in [0, 1]: each is a sound lower relaxation)
    free = (hi >= -lo).to(lo.dtype) if slope is None else slope.clamp(0.0, 1.0)
    return torch.where(unstable, free, active), s_up, b_up


def _relu_back(
    a: torch.Tensor,
    const: torch.Tensor,
    lo: torch.Tensor,
    hi: torch.Tensor,
    slope: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    alpha, s_up, b_up = relu_relaxation(lo, hi, slope)
    pos, neg = a.clamp_min(0), a.clamp_max(0)
    return pos * alpha + neg * s_up, const + neg @ b_up


#: added to the sigmoid lines' intercepts (outwards): float64 rounding of sigmoid and of the
#: line through it is ~1e-16, far below this and far below the verifier's margin
SIGMOID_SLACK = 1e-12


def sigmoid_lines(
    lo: torch.Tensor, hi: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Linear bounds ``kl x + bl <= sigmoid(x) <= ku x + bu`` on ``[lo, hi]`` (per neuron).

    Convex part (``hi <= 0``): chord above, tangent at the midpoint below; concave part
    (``lo >= 0``): the mirror image. Across 0: both lines get the slope ``k = min(s'(lo),
    s'(hi))``; sigmoid' is at least ``k`` on the whole interval, so ``sigmoid(x) - k x`` is
    increasing and the lines through ``(lo, s(lo))`` (below) and ``(hi, s(hi))`` (above) hold.
    """
    s_lo, s_hi = torch.sigmoid(lo), torch.sigmoid(hi)
    d_lo, d_hi = s_lo * (1 - s_lo), s_hi * (1 - s_hi)
    width = hi - lo
    chord = torch.where(width > 1e-9, (s_hi - s_lo) / width.clamp_min(1e-9), d_lo)
    mid = (lo + hi) / 2
    s_mid = torch.sigmoid(mid)
    tangent = s_mid * (1 - s_mid)
    k = torch.minimum(d_lo, d_hi)
    convex, concave = hi <= 0, lo >= 0
    kl = torch.where(convex, tangent, torch.where(concave, chord, k))
    ku = torch.where(convex, chord, torch.where(concave, tangent, k))
    bl = torch.where(convex, s_mid - tangent * mid, s_lo - kl * lo)
    bu = torch.where(concave, s_mid - tangent * mid, s_hi - ku * hi)
    return kl, bl - SIGMOID_SLACK, ku, bu + SIGMOID_SLACK


def _sigmoid_back(
    a: torch.Tensor, const: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    kl, bl, ku, bu = sigmoid_lines(lo, hi)
    pos, neg = a.clamp_min(0), a.clamp_max(0)
    return pos * kl + neg * ku, const + pos @ bl + neg @ bu


def maxpool_back(
    a: torch.Tensor, const: torch.Tensor, layer: MaxPool, lo: torch.Tensor, hi: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """CROWN step through a max-pool for rows ``a [..., n_out]`` (any leading shape, the dtype
    of ``lo``/``hi``): ``y >= x*`` (the input with the largest lower bound); ``y <= x*`` when
    ``x*`` dominates its window (its lower bound is above every rival's upper bound), else
    ``y <= max u``. Returns ``a [..., n_in]`` and ``const [...]``."""
    g = layer.groups
    lw, uw = lo[g], hi[g]  # [n_out, window]
    best = lw.argmax(dim=1)
    star = g.gather(1, best.unsqueeze(1))[:, 0]  # input index with the largest lower bound
    l_star = lw.gather(1, best.unsqueeze(1))[:, 0]
    others = uw.scatter(1, best.unsqueeze(1), float("-inf"))
    # padding repeats a cell: a repeat of the best cell must not count as a rival
    others = torch.where(g == star.unsqueeze(1), torch.full_like(others, float("-inf")), others)
    dominant = l_star >= others.amax(dim=1)
    u_max = uw.amax(dim=1)
    pos, neg = a.clamp_min(0), a.clamp_max(0)
    # y >= x_star always; y <= x_star if dominant, else y <= max u
    coef = pos + torch.where(dominant, neg, torch.zeros_like(neg))
    const = const + (torch.where(dominant, torch.zeros_like(neg), neg) * u_max).sum(-1)
    out = a.new_zeros(*a.shape[:-1], layer.n_in)
    out.index_add_(out.dim() - 1, star, coef)
    return out, const


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

    Shapes as :func:`crown`: ``c [R, n_out_upto]``, ``d [R]`` -> lower ``[R]``, upper ``[R]``.
    """
    k = len(net.layers) - 1 if upto is None else upto
    c = c.to(DTYPE)
    rows = c.shape[0]
    both = torch.cat([c, -c])
    relus = [j for j in range(k + 1) if isinstance(net.layers[j], ReLU)]
    alphas: dict[int, torch.Tensor] = {}
    for j in relus:
        lo, hi = bounds.input_of(j)
        alphas[j] = (hi >= -lo).to(DTYPE).expand(both.shape[0], -1).clone().requires_grad_(True)
    with torch.no_grad():
        best = _backward(net, bounds, both, k)
    if steps > 0 and relus:
        params = list(alphas.values())
        m1 = [torch.zeros_like(p) for p in params]
        m2 = [torch.zeros_like(p) for p in params]
        for t in range(1, steps + 1):
            if deadline is not None and time.monotonic() > deadline:
                break
            low = _backward(net, bounds, both, k, alphas)
            best = torch.maximum(best, low.detach())
            grads = torch.autograd.grad(-low.sum(), params)
            adam_step(params, grads, m1, m2, [lr] * len(params), t)
            with torch.no_grad():
                for p in params:
                    p.clamp_(0.0, 1.0)
        with torch.no_grad():
            best = torch.maximum(best, _backward(net, bounds, both, k, alphas))
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
    """Interval bounds, improved by CROWN (alpha-CROWN with ``alpha_steps > 0``) at every affine
    layer whose output feeds a non-linearity (and at the logits). ``selective``, ``deadline``:
    see :func:`refine_from`."""
    bounds = interval_bounds(net, lo, hi)
    return refine_from(net, bounds, 0, alpha_steps, selective, deadline)


#: alpha-CROWN on an intermediate layer keeps one slope per (bound row, neuron below); above
#: this many slopes (e.g. wide convolutions) plain CROWN is used for that layer.
ALPHA_MAX_SLOPES = 2_000_000


def crown_rows(net: Network, bounds: LayerBounds, i: int, selective: bool = True) -> torch.Tensor:
    """Indices of layer ``i``'s neurons worth a CROWN bound (``[R]`` int64).

    With ``selective``, a neuron feeding a ReLU whose upper bound is already ``<= 0`` is skipped:
    the ReLU outputs exactly 0 whatever its tighter bounds would be, so every later layer's
    bounds are the same. On the shipped CNN most second-layer neurons are stably off at small
    eps, and bounding only the rest cuts CROWN from ~9 s to well under 1 s per box.
    """
    layer = net.layers[i]
    assert isinstance(layer, Linear), "CROWN rows are chosen for affine layers"
    n = layer.n_out
    nxt = net.layers[i + 1] if i + 1 < len(net.layers) else None
    if not selective or not isinstance(nxt, ReLU):
        return torch.arange(n)
    return (bounds.upper[i] > 0).nonzero()[:, 0]


def refine_from(
    net: Network,
    bounds: LayerBounds,
    start: int,
    alpha_steps: int = 0,
    selective: bool = True,
    deadline: float | None = None,
) -> LayerBounds:
    """Recompute layers ``start..`` with interval + CROWN, keeping the tighter of old and new.

    ``selective`` (default) bounds only the rows :func:`crown_rows` picks; the resulting
    bounds are identical for every neuron that can influence a later layer (only the bounds of
    stably-off pre-activations, which no later layer reads, may stay looser).
    ``deadline`` (``time.monotonic()``): past it, alpha-CROWN stops optimising and the
    remaining layers get plain CROWN (sound, just looser), so a caller's time limit holds.
    """
    n = len(net.layers)
    seen_nonlinear = any(not isinstance(x, Linear) for x in net.layers[:start])
    for i in range(start, n):
        layer = net.layers[i]
        a, b = layer.interval(*bounds.input_of(i))
        bounds = bounds.replace(i, a, b)
        if isinstance(layer, Linear) and seen_nonlinear:
            idx = crown_rows(net, bounds, i, selective)
            if idx.numel():
                sel = torch.zeros(idx.numel(), layer.n_out, dtype=DTYPE)
                sel[torch.arange(idx.numel()), idx] = 1.0
                slopes = 2 * idx.numel() * _relu_inputs_below(net, i)
                late = deadline is not None and time.monotonic() > deadline
                if alpha_steps > 0 and slopes <= ALPHA_MAX_SLOPES and not late:
                    cl, cu = alpha_crown(
                        net, bounds, sel, upto=i, steps=alpha_steps, deadline=deadline
                    )
                else:
                    cl, cu = crown(net, bounds, sel, upto=i)
                low, up = bounds.lower[i].clone(), bounds.upper[i].clone()
                low[idx] = torch.maximum(low[idx], cl)
                up[idx] = torch.minimum(up[idx], cu)
                bounds = bounds.replace(i, low, up)
        if not isinstance(layer, Linear):
            seen_nonlinear = True
    return bounds


def _relu_inputs_below(net: Network, i: int) -> int:
    """Neurons feeding the ReLUs below layer ``i`` (one alpha-CROWN slope each per row)."""
    total = 0
    for j in range(1, i):
        below = net.layers[j - 1]
        if isinstance(net.layers[j], ReLU) and isinstance(below, Linear):
            total += below.n_out
    return total


def unstable_count(net: Network, bounds: LayerBounds) -> int:
    """Number of ReLUs whose input bounds straddle 0 (each needs a binary in the MILP)."""
    total = 0
    for i, layer in enumerate(net.layers):
        if isinstance(layer, ReLU):
            lo, hi = bounds.input_of(i)
            total += int(((lo < 0) & (hi > 0)).sum())
    return total
