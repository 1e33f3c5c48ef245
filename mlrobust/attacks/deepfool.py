"""ML-DeepFool (Song et al., as written in paper 002 eq. 5): the greedy linearised baseline.

Each iteration takes the labels whose score ``f_c = sigmoid(z_c)`` (``z`` the rule's relative
logit, see :mod:`.losses`) is not yet on its desired side of ``t = 0.5`` and solves their
linearised constraints *as equalities* with the least-norm step
``r = J^T (J J^T)^+ (t - f)``, enlarged by the DeepFool overshoot. It stops a sample when every
target has its desired value, or after ``max_iter`` iterations (20 in the papers).

Like MLA-LP it minimises the perturbation rather than searching a ball: it runs unconstrained
(inside the input domain) and a sample counts as a success only if its final point also lies
inside the given threat model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mlrobust.attacks.base import Attack, AttackContext, RawAttack, inside_or_clean
from mlrobust.attacks.losses import relative_logits
from mlrobust.attacks.optim import goal_reached
from mlrobust.errors import InputError


@dataclass(frozen=True, kw_only=True)
class MLDeepFoolConfig:
    """ML-DeepFool settings: iterations and the DeepFool overshoot factor."""

    max_iter: int = 20
    overshoot: float = 0.02

    def __post_init__(self) -> None:
        if self.max_iter < 1:
            raise InputError(f"max_iter must be >= 1, got {self.max_iter}.")
        if self.overshoot < 0:
            raise InputError(f"overshoot must be >= 0, got {self.overshoot}.")


class MLDeepFool(Attack):
    """ML-DeepFool baseline (paper 002 eq. 5)."""

    name = "ml-deepfool"
    config_type = MLDeepFoolConfig

    def _run(self, ctx: AttackContext) -> RawAttack:
        cfg: MLDeepFoolConfig = self.config  # type: ignore[assignment]
        lo, hi = ctx.threat.domain
        x_adv = ctx.x.clone()
        n = x_adv.shape[0]
        iterations = torch.full((n,), cfg.max_iter, dtype=torch.int64)
        active = torch.ones(n, dtype=torch.bool)
        for it in range(cfg.max_iter + 1):
            idx = active.nonzero().flatten()
            if idx.numel() == 0:
                break
            xa = x_adv[idx].clone().requires_grad_(True)
            logits = ctx.model(xa)
            scores = torch.sigmoid(relative_logits(logits, ctx.goal.rule))
            done = goal_reached(ctx, logits.detach(), idx).cpu()
            iterations[idx[done]] = it
            active[idx[done]] = False
            if it == cfg.max_iter:
                break
            desired = ctx.desired[idx]
            wrong = (scores >= 0.5) != desired
            for j in (~done).nonzero().flatten().tolist():
                rows = wrong[j].nonzero().flatten()
                if rows.numel() == 0:
                    continue
                grads = torch.stack(
                    [
                        torch.autograd.grad(scores[j, c], xa, retain_graph=True)[0][j].flatten()
                        for c in rows.tolist()
                    ]
                )  # [m, d]
                gap = (0.5 - scores[j, rows]).detach()
                # least-norm solution of grads @ r = gap (pseudo-inverse: rows may be dependent)
                r = grads.T @ (torch.linalg.pinv(grads @ grads.T) @ gap)
                step = (1 + cfg.overshoot) * r.view_as(xa[j])
                x_adv[idx[j]] = (x_adv[idx[j]] + step).clamp(lo, hi)
        return RawAttack(x_adv=inside_or_clean(ctx, x_adv), iterations=iterations)
