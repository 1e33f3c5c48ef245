"""Falsifier run before any bound: batched PGD with random restarts on the IR network.

Many "violated" VNN-COMP answers are found by attacks in seconds, while a MILP needs minutes
to reach the same point. Every clause-form of the spec becomes its own goal (maximising the max
of several forms gets stuck on the currently largest one); all goals x restarts run as one
batch. The loss is the goal's margin (the ``at_least``-th largest form, ``>= 0`` = violated);
steps are signed gradients (the box is an L-inf region) with a decaying step size, and every
iterate is kept as a candidate. Candidates are only *proposals*: the caller re-checks them on
the real model.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from mlrobust.verify.ir import DTYPE, Network
from mlrobust.verify.spec import Clause, OutputSpec


@dataclass(frozen=True, kw_only=True)
class AttackConfig:
    """PGD settings: ``restarts`` random starts per goal (the first is the box centre)."""

    steps: int = 100
    restarts: int = 16
    time_s: float = 5.0
    seed: int = 0


def goals_of(spec: OutputSpec) -> list[Clause]:
    """One goal per form of a disjunctive clause; counting clauses stay whole."""
    goals: list[Clause] = []
    for cl in spec.clauses:
        if cl.at_least == 1 and cl.c.shape[0] > 1:
            goals += [Clause(cl.c[r : r + 1], cl.d[r : r + 1], 1) for r in range(cl.c.shape[0])]
        else:
            goals.append(cl)
    return goals


def pgd_candidates(
    net: Network,
    lo: torch.Tensor,
    hi: torch.Tensor,
    spec: OutputSpec,
    config: AttackConfig,
    starts: torch.Tensor | None = None,
) -> torch.Tensor:
    """Candidate inputs ``[K, input_size]`` (float64, inside the box), best spec value first.

    ``starts [S, input_size]``: every goal starts from each of these points instead of the box
    centre and ``config.restarts - 1`` random points (e.g. the corners that minimise the
    bounds, :func:`mlrobust.verify.bab.bound_corners`). Stops early once some iterate violates
    the spec (value >= 0 on the IR)."""
    if config.steps <= 0:
        return torch.zeros(0, lo.numel(), dtype=DTYPE)
    t_end = time.monotonic() + config.time_s
    goals = goals_of(spec)
    g = len(goals)
    if starts is None:
        n = max(config.restarts, 1)
        gen = torch.Generator().manual_seed(config.seed)
        x = lo + (hi - lo) * torch.rand(g, n, lo.numel(), generator=gen, dtype=DTYPE)
        x[:, 0] = (lo + hi) / 2
    else:
        n = starts.shape[0]
        x = starts.to(DTYPE).reshape(1, n, -1).expand(g, -1, -1)
    x = x.reshape(g * n, -1)
    best_x = x.clone()
    best_v = torch.full((g * n,), -math.inf, dtype=DTYPE)
    width = hi - lo
    for t in range(config.steps + 1):
        x = x.detach().requires_grad_(True)
        y = net.forward(x).reshape(g, n, -1)
        vals = torch.stack([goals[i].value(y[i]) for i in range(g)]).reshape(-1)
        with torch.no_grad():
            better = vals > best_v
            best_v = torch.where(better, vals, best_v)
            best_x[better] = x[better]
        if t == config.steps or bool((vals >= 0).any()) or time.monotonic() > t_end:
            break
        (grad,) = torch.autograd.grad(vals.sum(), x)
        # cosine-decayed step: large steps to reach the corners, small ones to refine
        frac = 0.5 * (1 + math.cos(math.pi * t / config.steps))
        step = width * (0.02 + 0.3 * frac)
        x = torch.max(torch.min(x.detach() + step * grad.sign(), hi), lo)
    with torch.no_grad():
        full = spec.value(net.forward(best_x))
    order = torch.argsort(full, descending=True)
    return best_x[order].detach()
