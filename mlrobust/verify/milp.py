"""MIPVerify-style MILP encoding of an IR network, and progressive bound tightening.

Each operator encodes itself (:meth:`mlrobust.verify.ops.Op.encode`), in topological order:

* the input box is the input variables' bounds;
* an affine node adds its outputs as variables with their current bounds and equality rows;
* a ReLU with ``l >= 0`` reuses its input variable, with ``u <= 0`` is a fixed 0, and only an
  unstable one (``l < 0 < u``) gets a binary ``a``: ``y >= z, y <= z - l (1 - a), y <= u a``;
* a max-pool drops candidates whose upper bound is below the best lower bound; a single
  survivor is the output, otherwise one binary per survivor selects the maximum;
* an Add adds its sum as variables; a Concat reuses its inputs' variables.

Tightening levels run in order, each keeping the looser bound when it runs out of time:
interval -> CROWN -> LP (relaxed binaries) -> MIP (per neuron, time-limited, using the proven
dual bound, never the incumbent).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np
import torch

from mlrobust.errors import SolverError
from mlrobust.solvers import Backend, Status, open_session
from mlrobust.verify.bounds import LayerBounds, interval_bounds, refine_from
from mlrobust.verify.ir import DTYPE, Network
from mlrobust.verify.ops import Builder, Linear, ReLU

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


def supports_milp(net: Network) -> bool:
    """True when every operator has an exact MILP encoding (Linear, ReLU, MaxPool, Add,
    Concat)."""
    return all(n.op is None or n.op.exact for n in net.nodes)


def encode(
    net: Network, bounds: LayerBounds, upto: int | None = None
) -> tuple[Builder, dict[int, np.ndarray]]:
    """Encode node ``upto`` (default the output) and its ancestors. Returns the builder and,
    per encoded node, the column index of each of its outputs."""
    k = net.output if upto is None else upto
    b = Builder()
    lo, hi = (t.numpy() for t in bounds.box)
    cols: dict[int, np.ndarray] = {0: b.add_cols(lo, hi)}
    for j in net.ancestors(k):
        if j == 0:
            continue
        node = net.nodes[j]
        cols[j] = net.op(j).encode(
            b, [cols[i] for i in node.inputs], bounds.ins(net, j), bounds.of(j)
        )
    return b, cols


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
    fallback: bool = True
    processes: int = 1


def tighten(
    net: Network,
    lo: torch.Tensor,
    hi: torch.Tensor,
    config: TighteningConfig,
    start: LayerBounds | None = None,
) -> LayerBounds:
    """Sound per-node bounds at the requested tightening level.

    ``start``: bounds already known sound over this same box (e.g. the caller's CROWN pass);
    they are intersected with the interval bounds and replace the CROWN pass (and, with
    ``alpha_steps``, get an alpha-CROWN pass on top). ``config.fallback=False``: tightening
    stops at the first node the chosen backend cannot solve (e.g. over Gurobi's licence-free
    size limit) instead of going on with HiGHS; the nodes after it keep their bounds.
    """
    deadline = time.monotonic() + config.total_time_s
    bounds = interval_bounds(net, lo, hi)
    if start is not None:
        start.check_box(*bounds.box)
        for k in range(1, len(net.nodes)):
            bounds = bounds.replace(k, start.lower[k], start.upper[k])
        if config.level >= Tightening.CROWN and config.alpha_steps > 0:
            bounds = refine_from(net, bounds, 1, config.alpha_steps, deadline=deadline)
    elif config.level >= Tightening.CROWN:
        bounds = refine_from(net, bounds, 1, config.alpha_steps, deadline=deadline)
    if config.level < Tightening.LP:
        return bounds
    # every ReLU's input, in topological order; the first affine map of the input is exact
    for k in sorted({net.nodes[j].inputs[0] for j in net.of_type(ReLU)}):
        if not any(net.op(i).nonlinear for i in net.ancestors(k) if i):
            continue
        try:
            for relax in (True, False) if config.level >= Tightening.MIP else (True,):
                bounds = _tighten_node(net, bounds, k, relax, config, deadline)
        except SolverError as exc:  # only raised with fallback=False: stop, keep what we have
            log.info("tightening stops at node %d: %s", k, exc)
            break
        bounds = refine_from(net, bounds, k + 1, config.alpha_steps, deadline=deadline)
        if time.monotonic() > deadline:
            log.info("tightening budget spent at node %d; keeping looser bounds above", k)
            break
    return bounds


def _tighten_node(
    net: Network,
    bounds: LayerBounds,
    k: int,
    relax: bool,
    config: TighteningConfig,
    deadline: float,
) -> LayerBounds:
    lower, upper = bounds.lower[k].clone(), bounds.upper[k].clone()
    idx = torch.nonzero((lower < 0) & (upper > 0))[:, 0]
    if not idx.numel():
        return bounds
    # the loosest relaxations first (triangle area ~ -l u), so a budget that runs out midway
    # has spent itself where it tightens most
    unstable = idx[torch.argsort(lower[idx] * upper[idx])].tolist()
    elsewhere: list[tuple[Any, list[int]]] = []  # (helper process, its neurons)
    if config.processes > 1:
        from mlrobust.verify.bab_pool import tighten_elsewhere

        # each of the P processes takes every P-th neuron of that order
        elsewhere = tighten_elsewhere(net, bounds, k, unstable, relax, config, deadline)
    mine = unstable[:: 1 + len(elsewhere)]
    try:
        shares = [(mine, *tighten_neurons(net, bounds, k, mine, relax, config, deadline))]
    except BaseException:
        for helper, _ in elsewhere:  # mid-share: not reusable (dead ones are replaced later)
            helper.stop()
        raise
    for helper, neurons in elsewhere:
        got = helper.collect_bounds()
        if got is not None:  # a helper that died leaves its neurons' bounds as they were
            shares.append((neurons, *got))
    for js, lo_s, up_s in shares:
        lower[js] = torch.maximum(lower[js], torch.as_tensor(lo_s, dtype=lower.dtype))
        upper[js] = torch.minimum(upper[js], torch.as_tensor(up_s, dtype=upper.dtype))
    return bounds.replace(k, lower.to(DTYPE), upper.to(DTYPE))


#: the lower bound's MIP gets this share of a neuron's time (the upper bound's gets it all).
#: Unstable ReLUs left after 60 s of refinement from alpha-CROWN bounds on mnistfc 256x4
#: (prop_3_0.03 / 6_0.05 / 8_0.05, of 169 / 477 / 505): a full MIP each way 141 / - / -;
#: share 0.2: 142 / 474 / -; 0.05: 149 / 471 / -; 0.02: 149 / 469 / 504; the lower MIP stopped
#: at its first solution (what a stale Gurobi parameter did before): 159 / 473 / 505. On the
#: eps-0.05 nets a full lower MIP (~1 s) halves the neurons reached, which costs more than its
#: tighter bounds give (6_0.05 in a 300-s run: 457 left after 133 s of it, 242 before).
SIGN_QUESTION_SHARE = 0.05


def tighten_neurons(
    net: Network,
    bounds: LayerBounds,
    k: int,
    neurons: list[int],
    relax: bool,
    config: TighteningConfig,
    deadline: float,
    stop: Callable[[], bool] = lambda: False,
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of node ``k``'s ``neurons``, each tightened by one solve per
    direction over the encoding up to ``k`` (relaxed binaries: LP; else MIP), until
    ``deadline`` or ``stop()``; a neuron not reached keeps its bounds."""
    lower, upper = bounds.lower[k].clone(), bounds.upper[k].clone()
    if not neurons:
        return lower[neurons].numpy(), upper[neurons].numpy()
    builder, objective = _neuron_objectives(net, bounds, k)
    session = open_session(
        builder.data(relax=relax), config.backend, threads=config.threads, fallback=config.fallback
    )
    per = config.lp_time_s if relax else config.mip_time_s
    for j in neurons:
        for maximize in (False, True):
            left = deadline - time.monotonic()
            if left <= 0 or stop():
                return lower[neurons].numpy(), upper[neurons].numpy()
            cols, coef, const = objective(j)
            if maximize or relax:
                res = session.solve(cols, coef, const, maximize, min(per, left))
                bound = res.bound
            else:
                # a MIP's lower bound only asks the sign question, briefly (max -z, stopped
                # once the proven bound or a solution settles whether z >= 0)
                cap = min(per * SIGN_QUESTION_SHARE, left)
                # (stopping below -2 slack: a stop on the bound means stable after the slack)
                res = session.solve(cols, -coef, -const, True, cap, -2 * LP_SLACK, 0.0)
                bound = -res.bound
            if res.status == Status.INFEASIBLE:
                log.warning("bound LP infeasible at node %d neuron %d; keeping old bound", k, j)
                continue
            if not math.isfinite(bound) or res.status == Status.ERROR:
                continue
            slack = LP_SLACK * (1.0 + abs(bound))
            if maximize:
                upper[j] = min(float(upper[j]), bound + slack)
            else:
                lower[j] = max(float(lower[j]), bound - slack)
            if upper[j] <= 0 or lower[j] >= 0:
                break  # stable now: the other direction no longer matters for the encoding
    return lower[neurons].numpy(), upper[neurons].numpy()


def _neuron_objectives(
    net: Network, bounds: LayerBounds, k: int
) -> tuple[Builder, Callable[[int], tuple[np.ndarray, np.ndarray, float]]]:
    """The encoding that node ``k``'s neurons are optimised over, and per neuron its objective
    ``(columns, coefficients, constant)``. A dense or sparse linear node is left out of the
    model and each neuron is its weight row over the input's columns: 256 fewer columns and
    rows per 256-wide layer, so the MIPs of mnistfc's third layer fit Gurobi's licence-free
    2,000 (measured: 2,059 columns with the layer encoded). The left-out node's bounds are
    implied by the rest of the model: a MIP's optimum is unchanged (an LP's may be marginally
    looser without them)."""
    op, inputs = net.op(k), net.nodes[k].inputs
    if isinstance(op, Linear) and len(inputs) == 1:
        builder, outs = encode(net, bounds, upto=inputs[0])
        x, w, bias = outs[inputs[0]], op.csr(), op.bias.numpy()

        def row(j: int) -> tuple[np.ndarray, np.ndarray, float]:
            span = slice(w.indptr[j], w.indptr[j + 1])
            return x[w.indices[span]], w.data[span], float(bias[j])

        return builder, row
    builder, outs = encode(net, bounds, upto=k)
    return builder, lambda j: (np.array([outs[k][j]]), np.ones(1), 0.0)
