"""The APGD-style optimiser shared by the gradient attacks (MLA-U, MLA-C, GMLA).

Each iteration evaluates the attack's *direction function* once on the samples still running,
takes a projected step with momentum (Croce & Hein's APGD update,
``x <- P(x + a (z - x) + (1 - a)(x - x_prev))`` with ``z = P(x - step * d)``), halves the step at
APGD's checkpoints when progress stalls (restarting from the best point), and stops a sample as
soon as its current point reaches the goal (per-sample early stop).

Written here rather than taken from a library because the direction (eq. 10/11 of paper 001) and
the multi-label success test are specific to these attacks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from mlrobust.attacks.base import AttackContext
from mlrobust.attacks.losses import violations
from mlrobust.threats import L2Ball

#: (x_adv [n,...], sample indices [n]) -> (objective [n] to minimise, logits [n, L], direction
#: [n,...]); the step is ``x - step * direction``
DirectionFn = Callable[
    [torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]
]


@dataclass(frozen=True)
class StepSchedule:
    """Optimiser settings (copied from each attack's config)."""

    steps: int
    step_size: float
    momentum: float
    early_stop: bool
    adaptive: bool = True
    rho: float = 0.75
    restarts: int = 0
    seed: int = 0


def steepest_direction(grad: torch.Tensor, l2: bool) -> torch.Tensor:
    """Unit steepest-ascent direction of ``grad``: sign for box threats, unit l2 otherwise."""
    if l2:
        norms = grad.flatten(1).norm(dim=1).clamp_min(1e-12)
        return grad / norms.view(-1, *([1] * (grad.dim() - 1)))
    return grad.sign()


def checkpoints(steps: int) -> set[int]:
    """APGD's checkpoint iterations ``ceil(p_j * steps)``."""
    p = [0.0, 0.22]
    while p[-1] < 1.0:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    # rounding first keeps float noise (0.57 * 100 = 57.000000001) from moving a checkpoint
    return {math.ceil(round(q * steps, 9)) for q in p[1:] if q < 1.0}


def stalled_at_checkpoint(
    improved: torch.Tensor,
    span: int,
    rho: float,
    best: torch.Tensor,
    best_at_last: torch.Tensor,
    reduced_at_last: torch.Tensor,
) -> torch.Tensor:
    """APGD's step-halving test at a checkpoint (Croce & Hein 2020, sec. 3.2), per sample: the
    loss improved in fewer than ``rho`` of the ``span`` iterations since the last checkpoint, or
    the step was *not* halved at the last checkpoint and the best loss has not improved since.
    ``improved``: count of iterations whose loss beat the previous one; ``best``: best loss so
    far (minimised); ``reduced_at_last``: bool, halved at the last checkpoint."""
    return (improved < rho * span) | (~reduced_at_last & (best >= best_at_last))


def goal_reached(
    ctx: AttackContext,
    logits: torch.Tensor,
    idx: torch.Tensor,
    targets: torch.Tensor | None = None,
    desired: torch.Tensor | None = None,
) -> torch.Tensor:
    """bool ``[n]``: every target label has its desired value (the rule applied to logits).

    ``targets`` / ``desired`` (``[N, L]``) override the goal's (GMLA stops on Psi).
    """
    pred = ctx.goal.rule.predict(logits)
    t = (ctx.targets if targets is None else targets)[idx]
    want = (ctx.desired if desired is None else desired)[idx]
    return ((pred == want) | ~t).all(dim=1)


def run_apgd(
    ctx: AttackContext,
    direction: DirectionFn,
    schedule: StepSchedule,
    targets: torch.Tensor | None = None,
    desired: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Optimise every sample; returns (x_adv ``[N, ...]``, iterations ``[N]``).

    A sample stops when ``targets`` reach ``desired`` (default: the goal's Omega). With
    ``schedule.restarts``, samples that did not reach it run again from random points of the
    threat model (seeded by ``schedule.seed``), and keep the run with the lowest objective.

    x_adv is the first point that reached the goal (or the best point for samples that never
    did; the base class returns those unchanged after its re-check, and exposes them as
    ``x_closest``).
    """
    x_out, iterations, found, best = _apgd(ctx, direction, schedule, targets, desired, ctx.x)
    if schedule.restarts:
        gen = torch.Generator().manual_seed(schedule.seed)
        lo, hi = ctx.threat.bounds(ctx.x)
        for _ in range(schedule.restarts):
            if bool(found.all()):
                break
            noise = torch.rand(ctx.x.shape, generator=gen, dtype=ctx.x.dtype).to(ctx.x.device)
            start = ctx.threat.project(lo + (hi - lo) * noise, ctx.x)
            x2, it2, found2, best2 = _apgd(
                ctx, direction, schedule, targets, desired, start, active=~found
            )
            take = ~found & (found2 | (best2 < best))
            shape = (-1, *([1] * (ctx.x.dim() - 1)))
            x_out = torch.where(take.view(shape), x2, x_out)
            best = torch.where(take, best2, best)
            iterations = iterations + torch.where((~found).cpu(), it2, 0)
            found = found | found2
    return x_out, iterations


def _apgd(
    ctx: AttackContext,
    direction: DirectionFn,
    schedule: StepSchedule,
    targets: torch.Tensor | None,
    desired: torch.Tensor | None,
    start: torch.Tensor,
    active: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One APGD run from ``start`` over the ``active`` samples (default: all); returns
    (x_adv, iterations, found, best objective), each ``[N, ...]``."""
    x, threat = ctx.x, ctx.threat
    n = x.shape[0]
    l2 = isinstance(threat, L2Ball)
    dims = x[0].numel()
    base_step = schedule.step_size * (math.sqrt(dims) if l2 else 1.0)
    # state in the input's dtype: float64 models give float64 losses (index_put needs a match)
    step = torch.full((n,), base_step, dtype=x.dtype, device=x.device)
    shape = (-1, *([1] * (x.dim() - 1)))

    x_cur, x_prev = start.clone(), start.clone()
    x_best = start.clone()
    x_found = start.clone()
    best = torch.full((n,), math.inf, dtype=x.dtype, device=x.device)
    last = torch.full((n,), math.inf, dtype=x.dtype, device=x.device)
    improved = torch.zeros(n, dtype=x.dtype, device=x.device)
    best_at_ckpt = best.clone()
    reduced = torch.zeros(n, dtype=torch.bool, device=x.device)
    found = torch.zeros(n, dtype=torch.bool, device=x.device)
    active = torch.ones(n, dtype=torch.bool, device=x.device) if active is None else active.clone()
    iterations = torch.full((n,), schedule.steps, dtype=torch.int64)
    ckpts = checkpoints(schedule.steps) if schedule.adaptive else set()
    last_ckpt = 0

    for it in range(schedule.steps):
        idx = active.nonzero().flatten()
        if idx.numel() == 0:
            break
        xa = x_cur[idx]
        loss, logits, d = direction(xa, idx)
        loss, logits, d = loss.detach(), logits.detach(), d.detach()
        reached = goal_reached(ctx, logits, idx, targets, desired)
        new = reached & ~found[idx]
        if new.any():
            hit = idx[new]
            x_found[hit] = xa[new]
            found[hit] = True
            iterations[hit.cpu()] = it
            if schedule.early_stop:
                active[hit] = False
        better = loss < best[idx]
        best[idx] = torch.where(better, loss, best[idx])
        x_best[idx] = torch.where(better.view(shape), xa, x_best[idx])
        improved[idx] += (loss < last[idx]).to(improved.dtype)
        last[idx] = loss

        s = step[idx].view(shape)
        z = threat.project(xa - s * d, x[idx])
        if it == 0:
            x_new = z
        else:
            a = schedule.momentum
            x_new = threat.project(xa + a * (z - xa) + (1 - a) * (xa - x_prev[idx]), x[idx])
        x_prev[idx] = xa
        x_cur[idx] = x_new

        if it in ckpts:
            # APGD: halve the step (and restart from the best point) where progress stalled
            stalled = active & stalled_at_checkpoint(
                improved, it - last_ckpt, schedule.rho, best, best_at_ckpt, reduced
            )
            step = torch.where(stalled, step / 2, step)
            x_cur = torch.where(stalled.view(shape), x_best, x_cur)
            x_prev = torch.where(stalled.view(shape), x_best, x_prev)
            improved.zero_()
            best_at_ckpt, reduced = best.clone(), stalled
            last_ckpt = it

    # the last step's point has not been evaluated yet
    idx = (active & ~found).nonzero().flatten()
    if idx.numel():
        with torch.no_grad():
            logits = ctx.model(x_cur[idx])
        reached = goal_reached(ctx, logits, idx, targets, desired)
        x_found[idx[reached]] = x_cur[idx[reached]]
        found[idx[reached]] = True
    x_out = torch.where(found.view(shape), x_found, x_best)
    return x_out, iterations, found, best


def target_margin(ctx: AttackContext, logits: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Largest violation over the target labels ``[n]`` (< 0 when the goal is reached)."""
    v = violations(logits, ctx.desired[idx], ctx.goal.rule)
    return v.masked_fill(~ctx.targets[idx], -math.inf).max(dim=1).values
