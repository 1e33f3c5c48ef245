"""MIPVerify-style MILP encoding of an IR network, and progressive bound tightening.

* the input box is the input variables' bounds;
* an affine layer adds its outputs as variables with their current bounds and equality rows;
* a ReLU with ``l >= 0`` reuses its input variable, with ``u <= 0`` is a fixed 0, and only an
  unstable one (``l < 0 < u``) gets a binary ``a``: ``y >= z, y <= z - l (1 - a), y <= u a``;
* a max-pool drops candidates whose upper bound is below the best lower bound; a single
  survivor is the output, otherwise one binary per survivor selects the maximum.

Tightening levels run in order, each keeping the looser bound when it runs out of time:
interval -> CROWN -> LP (relaxed binaries) -> MIP (per neuron, time-limited, using the proven
dual bound, never the incumbent).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import scipy.sparse as sp
import torch

from mlrobust.errors import UnsupportedLayerError
from mlrobust.solvers import Backend, ModelData, Status, open_session
from mlrobust.verify.bounds import LayerBounds, interval_bounds, refine_from
from mlrobust.verify.ir import DTYPE, Linear, MaxPool, Network, ReLU

log = logging.getLogger(__name__)

#: LP optima carry the solver's feasibility tolerance: widen each tightened bound by this much
#: (absolute + relative) so a slightly optimistic LP value never makes a bound unsound.
LP_SLACK = 1e-6


class Tightening(IntEnum):
    """How hard to tighten the pre-activation bounds before the final MILP (cumulative)."""

    INTERVAL = 0
    CROWN = 1
    LP = 2
    MIP = 3


@dataclass
class Builder:
    """Collects columns and rows of a MILP."""

    col_lo: list[float] = field(default_factory=list)
    col_hi: list[float] = field(default_factory=list)
    integer: list[bool] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    cols: list[np.ndarray] = field(default_factory=list)
    vals: list[np.ndarray] = field(default_factory=list)
    row_lo: list[np.ndarray] = field(default_factory=list)
    row_hi: list[np.ndarray] = field(default_factory=list)
    n_rows: int = 0

    def add_cols(self, lo: np.ndarray, hi: np.ndarray, integer: bool = False) -> np.ndarray:
        start = len(self.col_lo)
        self.col_lo += list(np.asarray(lo, dtype=float))
        self.col_hi += list(np.asarray(hi, dtype=float))
        self.integer += [integer] * len(np.atleast_1d(lo))
        return np.arange(start, len(self.col_lo))

    def add_rows(
        self, r: np.ndarray, c: np.ndarray, v: np.ndarray, lo: np.ndarray, hi: np.ndarray
    ) -> None:
        """Rows given in COO form with local row numbers ``0..len(lo)-1``."""
        self.rows.append(np.asarray(r, dtype=np.int64) + self.n_rows)
        self.cols.append(np.asarray(c, dtype=np.int64))
        self.vals.append(np.asarray(v, dtype=float))
        self.row_lo.append(np.asarray(lo, dtype=float))
        self.row_hi.append(np.asarray(hi, dtype=float))
        self.n_rows += len(lo)

    def data(self, relax: bool = False) -> ModelData:
        n = len(self.col_lo)

        def cat(xs: list[np.ndarray], dt: type) -> np.ndarray:
            return np.concatenate(xs).astype(dt) if xs else np.zeros(0, dtype=dt)

        a = sp.csr_matrix(
            (cat(self.vals, float), (cat(self.rows, np.int64), cat(self.cols, np.int64))),
            shape=(self.n_rows, n),
        )
        integer = np.zeros(n, dtype=bool) if relax else np.array(self.integer, dtype=bool)
        return ModelData(
            a,
            cat(self.row_lo, float),
            cat(self.row_hi, float),
            np.array(self.col_lo),
            np.array(self.col_hi),
            integer,
        )


def supports_milp(net: Network) -> bool:
    """True when every layer has an exact MILP encoding (Linear, ReLU, MaxPool)."""
    return all(isinstance(layer, (Linear, ReLU, MaxPool)) for layer in net.layers)


def encode(
    net: Network, bounds: LayerBounds, upto: int | None = None
) -> tuple[Builder, list[np.ndarray]]:
    """Encode layers ``0..upto`` (default all). Returns the builder and, per layer, the column
    index of each output neuron (the last entry is the logits when ``upto`` is the end)."""
    k = len(net.layers) - 1 if upto is None else upto
    b = Builder()
    lo, hi = (t.numpy() for t in bounds.box)
    cur = b.add_cols(lo, hi)
    outs: list[np.ndarray] = []
    zero: list[int] = []
    for i in range(k + 1):
        layer = net.layers[i]
        in_lo, in_hi = (t.numpy() for t in bounds.input_of(i))
        out_lo, out_hi = bounds.lower[i].numpy(), bounds.upper[i].numpy()
        if isinstance(layer, Linear):
            cur = _encode_linear(b, layer, cur, out_lo, out_hi)
        elif isinstance(layer, ReLU):
            cur = _encode_relu(b, cur, in_lo, in_hi, zero)
        elif isinstance(layer, MaxPool):
            cur = _encode_maxpool(b, layer, cur, in_lo, in_hi)
        else:
            raise UnsupportedLayerError(
                f"Layer {i} ({type(layer).__name__}) has no exact MILP "
                "encoding; only bounds and attacks handle it."
            )
        outs.append(cur)
    return b, outs


def _encode_linear(
    b: Builder, layer: Linear, x: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    z = b.add_cols(lo, hi)
    w = layer.csr().tocoo()
    n = layer.n_out
    r = np.concatenate([w.row, np.arange(n)])
    c = np.concatenate([x[w.col], z])
    v = np.concatenate([w.data, -np.ones(n)])
    bias = layer.bias.numpy()
    b.add_rows(r, c, v, -bias, -bias)  # W x - z = -b
    return z


def _encode_relu(
    b: Builder, z: np.ndarray, lo: np.ndarray, hi: np.ndarray, zero: list[int]
) -> np.ndarray:
    out = z.copy()
    dead = hi <= 0
    if dead.any():
        if not zero:
            zero.append(int(b.add_cols(np.zeros(1), np.zeros(1))[0]))
        out[dead] = zero[0]
    unstable = np.nonzero((lo < 0) & (hi > 0))[0]
    m = unstable.size
    if m:
        lu, uu = lo[unstable], hi[unstable]
        y = b.add_cols(np.zeros(m), uu)
        a = b.add_cols(np.zeros(m), np.ones(m), integer=True)
        zi = z[unstable]
        rng = np.arange(m)
        # y - z >= 0 ; y - z - l a <= -l ; y - u a <= 0
        b.add_rows(
            np.concatenate([rng, rng]),
            np.concatenate([y, zi]),
            np.concatenate([np.ones(m), -np.ones(m)]),
            np.zeros(m),
            np.full(m, np.inf),
        )
        b.add_rows(
            np.concatenate([rng, rng, rng]),
            np.concatenate([y, zi, a]),
            np.concatenate([np.ones(m), -np.ones(m), -lu]),
            np.full(m, -np.inf),
            -lu,
        )
        b.add_rows(
            np.concatenate([rng, rng]),
            np.concatenate([y, a]),
            np.concatenate([np.ones(m), -uu]),
            np.full(m, -np.inf),
            np.zeros(m),
        )
        out[unstable] = y
    return out


def _encode_maxpool(
    b: Builder, layer: MaxPool, x: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    out = np.zeros(layer.n_out, dtype=np.int64)
    groups = layer.groups.numpy()
    for o in range(layer.n_out):
        cand = np.unique(groups[o])
        best_lo = lo[cand].max()
        # pruning: these can never be the maximum otherwise (the best cell always stays)
        cand = cand[(hi[cand] >= best_lo) | (lo[cand] >= best_lo)]
        if cand.size == 1:
            out[o] = x[cand[0]]
            continue
        u_max = hi[cand].max()
        y = b.add_cols(np.array([best_lo]), np.array([u_max]))[0]
        a = b.add_cols(np.zeros(cand.size), np.ones(cand.size), integer=True)
        m = cand.size
        rng = np.arange(m)
        b.add_rows(
            np.concatenate([rng, rng]),
            np.concatenate([np.full(m, y), x[cand]]),
            np.concatenate([np.ones(m), -np.ones(m)]),
            np.zeros(m),
            np.full(m, np.inf),
        )
        big = u_max - lo[cand]
        # y <= x_j + (u_max - l_j)(1 - a_j)
        b.add_rows(
            np.concatenate([rng, rng, rng]),
            np.concatenate([np.full(m, y), x[cand], a]),
            np.concatenate([np.ones(m), -np.ones(m), big]),
            np.full(m, -np.inf),
            big,
        )
        b.add_rows(np.zeros(m), a, np.ones(m), np.ones(1), np.ones(1))
        out[o] = y
    return out


@dataclass(frozen=True, kw_only=True)
class TighteningConfig:
    """Budgets for progressive tightening (seconds)."""

    level: Tightening = Tightening.LP
    lp_time_s: float = 2.0
    mip_time_s: float = 1.0
    total_time_s: float = 60.0
    backend: Backend = Backend.HIGHS
    threads: int = 1
    alpha_steps: int = 0


def tighten(
    net: Network,
    lo: torch.Tensor,
    hi: torch.Tensor,
    config: TighteningConfig,
    start: LayerBounds | None = None,
) -> LayerBounds:
    """Sound per-layer bounds at the requested tightening level.

    ``start``: bounds already known sound over this same box (e.g. the caller's CROWN pass);
    they are intersected with the interval bounds and replace the CROWN pass (and, with
    ``alpha_steps``, get an alpha-CROWN pass on top).
    """
    deadline = time.monotonic() + config.total_time_s
    bounds = interval_bounds(net, lo, hi)
    if start is not None:
        start.check_box(*bounds.box)
        for i in range(len(net.layers)):
            bounds = bounds.replace(i, start.lower[i], start.upper[i])
        if config.level >= Tightening.CROWN and config.alpha_steps > 0:
            bounds = refine_from(net, bounds, 0, config.alpha_steps, deadline=deadline)
    elif config.level >= Tightening.CROWN:
        bounds = refine_from(net, bounds, 0, config.alpha_steps, deadline=deadline)
    if config.level < Tightening.LP:
        return bounds
    seen_nonlinear = False
    for k, layer in enumerate(net.layers):
        nxt = net.layers[k + 1] if k + 1 < len(net.layers) else None
        if isinstance(layer, Linear) and isinstance(nxt, ReLU) and seen_nonlinear:
            for relax in (True, False) if config.level >= Tightening.MIP else (True,):
                bounds = _tighten_layer(net, bounds, k, relax, config, deadline)
            bounds = refine_from(net, bounds, k + 1, config.alpha_steps, deadline=deadline)
        if not isinstance(layer, Linear):
            seen_nonlinear = True
        if time.monotonic() > deadline:
            log.info("tightening budget spent at layer %d; keeping looser bounds above", k)
            break
    return bounds


def _tighten_layer(
    net: Network,
    bounds: LayerBounds,
    k: int,
    relax: bool,
    config: TighteningConfig,
    deadline: float,
) -> LayerBounds:
    lower, upper = bounds.lower[k].clone(), bounds.upper[k].clone()
    unstable = torch.nonzero((lower < 0) & (upper > 0))[:, 0].tolist()
    if not unstable:
        return bounds
    builder, outs = encode(net, bounds, upto=k)
    session = open_session(builder.data(relax=relax), config.backend, threads=config.threads)
    per = config.lp_time_s if relax else config.mip_time_s
    for j in unstable:
        col = np.array([outs[k][j]])
        for maximize in (False, True):
            left = deadline - time.monotonic()
            if left <= 0:
                return bounds.replace(k, lower, upper)
            res = session.solve(col, np.ones(1), 0.0, maximize, min(per, left))
            if res.status == Status.INFEASIBLE:
                log.warning("bound LP infeasible at layer %d neuron %d; keeping old bound", k, j)
                continue
            if not math.isfinite(res.bound) or res.status == Status.ERROR:
                continue
            slack = LP_SLACK * (1.0 + abs(res.bound))
            if maximize:
                upper[j] = min(float(upper[j]), res.bound + slack)
            else:
                lower[j] = max(float(lower[j]), res.bound - slack)
            if upper[j] <= 0 or lower[j] >= 0:
                break  # stable now: the other direction no longer matters for the encoding
    return bounds.replace(k, lower.to(DTYPE), upper.to(DTYPE))
