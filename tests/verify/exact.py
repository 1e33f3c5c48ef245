"""An exact reference for small piecewise-linear nets, written independently of mlrobust's IR,
bounds and MILP: the maximum of a clause value over an input box, by enumerating the
activation regions (ReLU signs, max-pool winners) depth first and solving one small LP per
region with SciPy.

Each layer of an ``nn.Sequential`` is read by probing the torch module itself (basis vectors in
float64), not through ``mlrobust.verify.from_torch``: an affine module (Linear, Conv2d,
AvgPool2d, Flatten, BatchNorm in eval mode, Identity) becomes a dense matrix and offset, a
max-pool its windows. The result is exact up to the LP solver's tolerance (~1e-9).
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linprog
from torch import nn

from mlrobust.verify.spec import Clause


class TooManyRegions(Exception):
    """The enumeration exceeded its budget: no exact answer for this case."""


@dataclass(frozen=True)
class _Affine:
    a: np.ndarray
    b: np.ndarray


@dataclass(frozen=True)
class _Pool:
    windows: list[np.ndarray]


_RELU = "relu"


def lower(model: nn.Sequential, input_shape: tuple[int, ...]) -> list[object]:
    """The layers as dense affine maps, ReLUs and max-pool windows (probing each module)."""
    layers: list[object] = []
    shape = tuple(input_shape)
    for module in _leaves(model):
        m = copy.deepcopy(module).double().eval()
        n = int(np.prod(shape))
        with torch.no_grad():
            if isinstance(m, nn.ReLU):
                layers.append(_RELU)
                continue
            zero = torch.zeros(1, *shape, dtype=torch.float64)
            basis = torch.eye(n, dtype=torch.float64).reshape(n, *shape)
            if isinstance(m, nn.MaxPool2d):
                out = m(basis).reshape(n, -1)  # out[j, o] = 1 iff input j is in window o
                layers.append(
                    _Pool([np.flatnonzero(out[:, o].numpy() > 0.5) for o in range(out.shape[1])])
                )
            else:
                b = m(zero).reshape(-1)
                a = (m(basis).reshape(n, -1) - b).T
                layers.append(_Affine(a.numpy(), b.numpy()))
            shape = tuple(m(zero).shape[1:])
    return layers


def _leaves(model: nn.Module) -> list[nn.Module]:
    if isinstance(model, nn.Sequential):
        return [leaf for child in model for leaf in _leaves(child)]
    return [model]


@dataclass(frozen=True)
class Exact:
    """``value``: the maximum of the clause value over the box; ``point``: where (flat)."""

    value: float
    point: np.ndarray
    regions: int


def exact_max(
    model: nn.Sequential,
    input_shape: tuple[int, ...],
    lo: np.ndarray,
    hi: np.ndarray,
    clauses: Sequence[Clause],
    max_regions: int = 4000,
) -> list[Exact]:
    """Per clause, the maximum over ``lo <= x <= hi`` (flat) of its ``at_least``-th largest
    form (one enumeration of the regions serves every clause). Raises
    :class:`TooManyRegions` past ``max_regions`` regions or ``20 * max_regions`` LPs."""
    max_lps = 20 * max_regions
    layers = lower(model, input_shape)
    n = lo.size
    box = list(zip(lo.tolist(), hi.tolist(), strict=True))
    forms = [(cl.c.double().numpy(), cl.d.double().numpy(), cl.at_least) for cl in clauses]
    best = [Exact(-math.inf, lo.copy(), 0) for _ in clauses]
    count = [0, 0]  # regions, LPs
    mid, rad = (lo + hi) / 2, (hi - lo) / 2

    def lp_max(obj: np.ndarray, g: np.ndarray, h: np.ndarray) -> tuple[float, np.ndarray] | None:
        count[1] += 1
        if count[1] > max_lps:
            raise TooManyRegions
        res = linprog(
            -obj, A_ub=g if len(h) else None, b_ub=h if len(h) else None, bounds=box, method="highs"
        )
        if res.status == 2:
            return None
        assert res.status == 0, res.message
        return -float(res.fun), np.asarray(res.x)

    def leaf(m: np.ndarray, off: np.ndarray, g: np.ndarray, h: np.ndarray) -> None:
        count[0] += 1
        if count[0] > max_regions:
            raise TooManyRegions
        for q, (c, d, k) in enumerate(forms):
            forms_a, forms_b = c @ m, c @ off + d
            for subset in itertools.combinations(range(len(forms_b)), k):
                # max t s.t. t <= form_r(x) for r in the subset: variables (x, t)
                rows = np.hstack([-forms_a[list(subset)], np.ones((k, 1))])
                a_ub = np.vstack([np.hstack([g, np.zeros((len(h), 1))]), rows]) if len(h) else rows
                b_ub = np.concatenate([h, forms_b[list(subset)]])
                res = linprog(
                    np.r_[np.zeros(n), -1.0],
                    A_ub=a_ub,
                    b_ub=b_ub,
                    bounds=[*box, (None, None)],
                    method="highs",
                )
                if res.status == 2:
                    return  # an empty region
                assert res.status == 0, res.message
                if -res.fun > best[q].value:
                    best[q] = Exact(-float(res.fun), np.asarray(res.x[:n]), 0)

    def walk(i: int, m: np.ndarray, off: np.ndarray, g: np.ndarray, h: np.ndarray) -> None:
        if i == len(layers):
            leaf(m, off, g, h)
            return
        layer = layers[i]
        if isinstance(layer, _Affine):
            walk(i + 1, layer.a @ m, layer.a @ off + layer.b, g, h)
        elif layer == _RELU:
            relu(i, 0, m, off, g, h)
        else:
            pool(i, layer, 0, [], m, off, g, h)

    def relu(i: int, j: int, m: np.ndarray, off: np.ndarray, g: np.ndarray, h: np.ndarray) -> None:
        if j == m.shape[0]:
            walk(i + 1, m, off, g, h)
            return
        # the box alone often settles the sign (cheap, and sound: the region lies in the box)
        centre, radius = m[j] @ mid, np.abs(m[j]) @ rad
        if centre + radius + off[j] <= 0 or centre - radius + off[j] >= 0:
            if centre + radius + off[j] <= 0:
                m, off = m.copy(), off.copy()
                m[j], off[j] = 0.0, 0.0
            relu(i, j + 1, m, off, g, h)
            return
        hi_j = lp_max(m[j], g, h)
        if hi_j is None:
            return  # an empty region
        if hi_j[0] + off[j] <= 0:  # always off here
            m2, o2 = m.copy(), off.copy()
            m2[j], o2[j] = 0.0, 0.0
            relu(i, j + 1, m2, o2, g, h)
            return
        lo_j = lp_max(-m[j], g, h)
        if lo_j is not None and -lo_j[0] + off[j] >= 0:  # always on here
            relu(i, j + 1, m, off, g, h)
            return
        # both signs occur: split on z_j >= 0 and z_j <= 0
        relu(i, j + 1, m, off, np.vstack([g, -m[j]]), np.r_[h, off[j]])
        m2, o2 = m.copy(), off.copy()
        m2[j], o2[j] = 0.0, 0.0
        relu(i, j + 1, m2, o2, np.vstack([g, m[j]]), np.r_[h, -off[j]])

    def pool(
        i: int,
        layer: _Pool,
        o: int,
        chosen: list[int],
        m: np.ndarray,
        off: np.ndarray,
        g: np.ndarray,
        h: np.ndarray,
    ) -> None:
        if o == len(layer.windows):
            idx = np.array(chosen)
            walk(i + 1, m[idx], off[idx], g, h)
            return
        window = layer.windows[o]
        # first the box alone, then LPs: a candidate whose maximum is below some rival's
        # minimum never wins here
        centre = m[window] @ mid + off[window]
        radius = np.abs(m[window]) @ rad
        alive = [
            j
            for j, up in zip(window, centre + radius, strict=True)
            if up >= float((centre - radius).max())
        ]
        if len(alive) > 1:
            ups = {j: lp_max(m[j], g, h) for j in alive}
            if any(u is None for u in ups.values()):
                return  # an empty region
            floor = max(-lp_max(-m[r], g, h)[0] + off[r] for r in alive)  # type: ignore[index]
            alive = [j for j in alive if ups[j][0] + off[j] >= floor]  # type: ignore[index]
        for j in alive:
            rivals = [r for r in window if r != j]
            # x_j is the maximum: z_r - z_j <= 0 for every rival r
            g2 = np.vstack([g, *(m[r] - m[j] for r in rivals)]) if rivals else g
            h2 = np.r_[h, [off[j] - off[r] for r in rivals]]
            if len(alive) == 1 or lp_max(np.zeros(n), g2, h2) is not None:
                pool(i, layer, o + 1, [*chosen, j], m, off, g2, h2)

    walk(0, np.eye(n), np.zeros(n), np.zeros((0, n)), np.zeros(0))
    return [Exact(b.value, b.point, count[0]) for b in best]
