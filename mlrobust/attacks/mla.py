"""MLA-U (paper 001 eq. 1) and MLA-C (eq. 3): the naive multi-label attacks.

MLA-U minimises the loss of the target labels against their desired (flipped) values and ignores
the rest; MLA-C adds the loss of every other label against its clean value, so it also tries to
keep them. Both run the shared APGD-style optimiser (:mod:`mlrobust.attacks.optim`).

With ``loss=LossKind.MARGIN`` (or any :class:`~mlrobust.rules.TopK` goal) the same code attacks the
decision margin of the rule, which is what a top-k rule needs (see :mod:`.losses`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mlrobust.attacks.base import Attack, AttackContext, RawAttack
from mlrobust.attacks.losses import LossKind, label_losses, masked_sum
from mlrobust.attacks.optim import StepSchedule, run_apgd, steepest_direction
from mlrobust.errors import InputError
from mlrobust.threats import L2Ball


@dataclass(frozen=True, kw_only=True)
class GradientConfig:
    """Settings shared by the gradient attacks.

    Attributes:
        steps: maximal iterations per sample.
        step_size: initial step on [0, 1] pixels (l_inf / pixel-box threats); for an l_2 ball the
            step is ``step_size * sqrt(pixels)``, the l_2 length of a sign step of that size.
        momentum: APGD's ``alpha`` (weight of the new step against the previous one).
        early_stop: stop a sample at its first point that reaches the goal.
        adaptive: halve the step at APGD checkpoints when progress stalls.
        loss: BCE (paper) or a margin loss (clamped at ``-kappa``).
        restarts: further runs, from random points of the threat model, for the samples the
            first run did not flip (0 = the paper's single run); ``seed`` seeds those points.
    """

    steps: int = 300
    step_size: float = 0.012
    momentum: float = 0.75
    early_stop: bool = True
    adaptive: bool = True
    loss: LossKind = LossKind.BCE
    kappa: float = 0.0
    restarts: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise InputError(f"steps must be >= 1, got {self.steps}.")
        if not self.step_size > 0:
            raise InputError(f"step_size must be > 0, got {self.step_size}.")
        if not 0 < self.momentum <= 1:
            raise InputError(f"momentum must lie in (0, 1], got {self.momentum}.")
        if not isinstance(self.loss, LossKind):
            raise InputError(f"loss must be a LossKind, got {self.loss!r}.")
        if self.restarts < 0:
            raise InputError(f"restarts must be >= 0, got {self.restarts}.")

    def schedule(self) -> StepSchedule:
        return StepSchedule(
            steps=self.steps,
            step_size=self.step_size,
            momentum=self.momentum,
            early_stop=self.early_stop,
            adaptive=self.adaptive,
            restarts=self.restarts,
            seed=self.seed,
        )


@dataclass(frozen=True, kw_only=True)
class MLAUConfig(GradientConfig):
    """MLA-U settings (see :class:`GradientConfig`)."""


@dataclass(frozen=True, kw_only=True)
class MLACConfig(GradientConfig):
    """MLA-C settings; ``keep_weight`` scales the loss on the non-target labels (1 in eq. 3)."""

    keep_weight: float = 1.0


class _NaiveMLA(Attack):
    """One gradient of ``sum_targets loss + keep_weight * sum_rest loss`` per iteration."""

    def _run(self, ctx: AttackContext) -> RawAttack:
        cfg: GradientConfig = self.config  # type: ignore[assignment]
        l2 = isinstance(ctx.threat, L2Ball)
        keep = self._keep_weight()

        def direction(xa: torch.Tensor, idx: torch.Tensor):
            xa = xa.clone().requires_grad_(True)
            logits = ctx.model(xa)
            losses = label_losses(logits, ctx.desired[idx], ctx.goal.rule, cfg.loss, cfg.kappa)
            targets = ctx.targets[idx]
            objective = masked_sum(losses, targets)
            if keep:
                objective = objective + keep * masked_sum(losses, ~targets)
            (grad,) = torch.autograd.grad(objective.sum(), xa)
            return objective, logits, steepest_direction(grad, l2)

        x_adv, iterations = run_apgd(ctx, direction, cfg.schedule())
        return RawAttack(x_adv=x_adv, iterations=iterations)

    def _keep_weight(self) -> float:
        return 0.0


class MLAU(_NaiveMLA):
    """MLA-U: flip the targets, ignore the other labels (paper 001 eq. 1)."""

    name = "mla-u"
    config_type = MLAUConfig


class MLAC(_NaiveMLA):
    """MLA-C: flip the targets while holding the other labels (paper 001 eq. 3)."""

    name = "mla-c"
    config_type = MLACConfig

    def _keep_weight(self) -> float:
        return float(self.config.keep_weight)  # type: ignore[attr-defined]
