"""An exact reference for small piecewise-linear networks, independent of mlrobust's bounds,
branch and bound and MILP: the maximum of clause values over an input box, by enumerating the
activation regions (ReLU signs, max-pool winners) depth first over the network's graph and
solving small LPs with SciPy.

It reads the IR's graph (``from_torch`` / ``from_onnx``, whose forward pass the IR tests check
against torch and onnxruntime) only for the operators' weights and wiring: each node's output
is tracked as an affine map of the input on the current region. Exact up to the LP solver's
tolerance (~1e-9).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from mlrobust.verify.ir import Network
from mlrobust.verify.ops import Add, Concat, Linear, MaxPool, ReLU
from mlrobust.verify.spec import Clause


class TooManyRegions(Exception):
    """The enumeration exceeded its budget: no exact answer for this case."""


@dataclass(frozen=True)
class Exact:
    """``value``: the maximum of the clause value over the box; ``point``: where (flat)."""

    value: float
    point: np.ndarray
    regions: int


Map = tuple[np.ndarray, np.ndarray]  # A [size, n_in], c [size]


def exact_max(
    net: Network, lo: np.ndarray, hi: np.ndarray, clauses: Sequence[Clause], max_regions: int = 4000
) -> list[Exact]:
    """Per clause, the maximum over ``lo <= x <= hi`` (flat) of its ``at_least``-th largest
    form (one enumeration of the regions serves every clause). Raises
    :class:`TooManyRegions` past ``max_regions`` regions or ``20 * max_regions`` LPs."""
    max_lps = 20 * max_regions
    n = lo.size
    box = list(zip(lo.tolist(), hi.tolist(), strict=True))
    mid, rad = (lo + hi) / 2, (hi - lo) / 2
    forms = [(cl.c.double().numpy(), cl.d.double().numpy(), cl.at_least) for cl in clauses]
    best = [Exact(-math.inf, lo.copy(), 0) for _ in clauses]
    count = [0, 0]  # regions, LPs
    weights = {k: _dense(nd.op) for k, nd in enumerate(net.nodes) if isinstance(nd.op, Linear)}

    def lp_max(obj: np.ndarray, g: np.ndarray, h: np.ndarray) -> float | None:
        count[1] += 1
        if count[1] > max_lps:
            raise TooManyRegions
        res = linprog(
            -obj, A_ub=g if len(h) else None, b_ub=h if len(h) else None, bounds=box, method="highs"
        )
        if res.status == 2:
            return None
        assert res.status == 0, res.message
        return -float(res.fun)

    def leaf(a_map: np.ndarray, c_map: np.ndarray, g: np.ndarray, h: np.ndarray) -> None:
        count[0] += 1
        if count[0] > max_regions:
            raise TooManyRegions
        for q, (c, d, k) in enumerate(forms):
            fa, fb = c @ a_map, c @ c_map + d
            for subset in itertools.combinations(range(len(fb)), k):
                # max t s.t. t <= form_r(x) for r in the subset: variables (x, t)
                rows = np.hstack([-fa[list(subset)], np.ones((k, 1))])
                a_ub = np.vstack([np.hstack([g, np.zeros((len(h), 1))]), rows]) if len(h) else rows
                b_ub = np.concatenate([h, fb[list(subset)]])
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

    def walk(k: int, maps: dict[int, Map], g: np.ndarray, h: np.ndarray) -> None:
        if k == len(net.nodes):
            leaf(*maps[net.output], g, h)
            return
        node = net.nodes[k]
        ins = [maps[i] for i in node.inputs]
        op = node.op
        if isinstance(op, Linear):
            w, b = weights[k]
            walk(k + 1, {**maps, k: (w @ ins[0][0], w @ ins[0][1] + b)}, g, h)
        elif isinstance(op, Add):
            a = sum(s * m[0] for s, m in zip(op.scales, ins, strict=True))
            c = sum(s * m[1] for s, m in zip(op.scales, ins, strict=True))
            walk(k + 1, {**maps, k: (a, c)}, g, h)  # type: ignore[dict-item]
        elif isinstance(op, Concat):
            walk(
                k + 1,
                {**maps, k: (np.vstack([m[0] for m in ins]), np.concatenate([m[1] for m in ins]))},
                g,
                h,
            )
        elif isinstance(op, ReLU):
            relu(k, 0, maps, ins[0][0].copy(), ins[0][1].copy(), ins[0], g, h)
        elif isinstance(op, MaxPool):
            pool(k, op, 0, [], maps, ins[0], g, h)
        else:
            raise AssertionError(f"no exact reference for {type(op).__name__}")

    def relu(
        k: int,
        j: int,
        maps: dict[int, Map],
        a: np.ndarray,
        c: np.ndarray,
        src: Map,
        g: np.ndarray,
        h: np.ndarray,
    ) -> None:
        if j == len(c):
            walk(k + 1, {**maps, k: (a, c)}, g, h)
            return
        m, off = src[0][j], src[1][j]
        # the box alone often settles the sign (cheap, and sound: the region lies in the box)
        centre, radius = m @ mid + off, np.abs(m) @ rad
        if centre + radius <= 0 or centre - radius >= 0:
            if centre + radius <= 0:
                a, c = a.copy(), c.copy()
                a[j], c[j] = 0.0, 0.0
            relu(k, j + 1, maps, a, c, src, g, h)
            return
        up = lp_max(m, g, h)
        if up is None:
            return  # an empty region
        if up + off <= 0:  # always off here
            a, c = a.copy(), c.copy()
            a[j], c[j] = 0.0, 0.0
            relu(k, j + 1, maps, a, c, src, g, h)
            return
        down = lp_max(-m, g, h)
        if down is not None and -down + off >= 0:  # always on here
            relu(k, j + 1, maps, a, c, src, g, h)
            return
        # both signs occur: split on z_j >= 0 and z_j <= 0
        relu(k, j + 1, maps, a, c, src, np.vstack([g, -m]), np.r_[h, off])
        a2, c2 = a.copy(), c.copy()
        a2[j], c2[j] = 0.0, 0.0
        relu(k, j + 1, maps, a2, c2, src, np.vstack([g, m]), np.r_[h, -off])

    def pool(
        k: int,
        op: MaxPool,
        o: int,
        chosen: list[int],
        maps: dict[int, Map],
        src: Map,
        g: np.ndarray,
        h: np.ndarray,
    ) -> None:
        m, off = src
        if o == op.n_out:
            idx = np.array(chosen)
            walk(k + 1, {**maps, k: (m[idx], off[idx])}, g, h)
            return
        window = sorted(set(op.groups[o].tolist()))
        # first the box alone, then LPs: a candidate whose maximum is below some rival's
        # minimum never wins here
        centre = m[window] @ mid + off[window]
        radius = np.abs(m[window]) @ rad
        alive = [
            j
            for j, u in zip(window, centre + radius, strict=True)
            if u >= float((centre - radius).max())
        ]
        if len(alive) > 1:
            ups = {j: lp_max(m[j], g, h) for j in alive}
            if any(u is None for u in ups.values()):
                return  # an empty region
            floor = max(-lp_max(-m[r], g, h) + off[r] for r in alive)  # type: ignore[operator]
            alive = [j for j in alive if ups[j] + off[j] >= floor]  # type: ignore[operator]
        for j in alive:
            rivals = [r for r in window if r != j]
            # x_j is the maximum: z_r - z_j <= 0 for every rival r
            g2 = np.vstack([g, *(m[r] - m[j] for r in rivals)]) if rivals else g
            h2 = np.r_[h, [off[j] - off[r] for r in rivals]]
            if len(alive) == 1 or lp_max(np.zeros(n), g2, h2) is not None:
                pool(k, op, o + 1, [*chosen, j], maps, src, g2, h2)

    walk(1, {0: (np.eye(n), np.zeros(n))}, np.zeros((0, n)), np.zeros(0))
    return [Exact(b.value, b.point, count[0]) for b in best]


def _dense(op: Linear) -> tuple[np.ndarray, np.ndarray]:
    w = op.weight.to_dense() if op.weight.is_sparse else op.weight
    return w.double().numpy(), op.bias.double().numpy()
