"""The attack template: every attack is called as ``attack(model, x, goal, threat)``.

The base class owns everything that must be the same for all attacks (input checks, eval mode
saved and restored, the clean prediction, the final witness re-check with a fresh forward pass of
the real model, timing); a subclass writes one method, :meth:`Attack._run`.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import torch
from torch import nn

from mlrobust.attacks.goal import AttackGoal
from mlrobust.errors import InputError, SoundnessError
from mlrobust.threats import L2Ball, LinfBall, PixelBox, ThreatModel
from mlrobust.validation import check_images

log = logging.getLogger(__name__)

# slack when re-checking that an attack stayed inside its threat model (float32 round-off)
_THREAT_TOL = 1e-5


@dataclass(frozen=True)
class AttackResult:
    """Outcome of one attack on a batch.

    Shapes (N samples, L labels):
        x_adv: ``[N, C, H, W]``; equals ``x`` for samples where the attack failed.
        success: bool ``[N]``: every target label (goal's Omega) has its desired value, as
            re-checked by a fresh forward pass of the real model.
        flips: bool ``[N, L]``: ``adv_pred != clean_pred``.
        target_set: bool ``[N, L]``: the labels the attack tried to flip (Psi for GMLA,
            Omega otherwise).
        clean_pred / adv_pred: bool ``[N, L]`` under the goal's rule.
        iterations: int64 ``[N]``: iterations (gradient steps, LP solves, ...) used per sample.
        seconds: wall-clock time of the whole call.
        x_closest: ``[N, C, H, W]`` the attack's final candidates inside the threat model,
            failures included (how close a failed attack came; not a witness).
    """

    x_adv: torch.Tensor
    success: torch.Tensor
    flips: torch.Tensor
    target_set: torch.Tensor
    clean_pred: torch.Tensor
    adv_pred: torch.Tensor
    iterations: torch.Tensor
    seconds: float
    goal_targets: torch.Tensor = field(repr=False)
    x_closest: torch.Tensor | None = field(default=None, repr=False)

    @property
    def desired(self) -> torch.Tensor:
        """Desired prediction (clean prediction with Omega flipped). Shape ``[N, L]``."""
        return self.clean_pred ^ self.goal_targets

    @property
    def success_rate(self) -> float:
        return float(self.success.float().mean()) if self.success.numel() else 0.0


@dataclass(frozen=True)
class AttackContext:
    """What :meth:`Attack._run` receives (all tensors on the model's device).

    Shapes: x ``[N, C, H, W]``; clean_logits ``[N, L]``; clean_pred, desired, target_set
    bool ``[N, L]`` (target_set is Omega; GMLA widens it to Psi).
    """

    model: nn.Module
    x: torch.Tensor
    goal: AttackGoal
    threat: ThreatModel
    clean_logits: torch.Tensor
    clean_pred: torch.Tensor
    desired: torch.Tensor

    @property
    def targets(self) -> torch.Tensor:
        return self.goal.targets.to(self.x.device)


@dataclass(frozen=True)
class RawAttack:
    """What a subclass returns: candidate inputs (re-checked by the base class).

    Shapes: x_adv ``[N, C, H, W]``; iterations int ``[N]``; target_set bool ``[N, L]`` or None
    (meaning Omega).
    """

    x_adv: torch.Tensor
    iterations: torch.Tensor
    target_set: torch.Tensor | None = None


class Attack(ABC):
    """Base class. Subclasses set ``name`` and ``config_type`` and implement :meth:`_run`.

    Example:
        >>> import torch
        >>> from mlrobust.attacks import MLAU, MLAUConfig, AttackGoal
        >>> from mlrobust.threats import LinfBall
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> x = torch.rand(2, 1, 2, 2)
        >>> goal = AttackGoal.random(2, 3, size=1, seed=0)
        >>> result = MLAU(MLAUConfig(steps=5))(model, x, goal, LinfBall(0.1))
        >>> result.x_adv.shape, result.success.shape
        (torch.Size([2, 1, 2, 2]), torch.Size([2]))
    """

    name: ClassVar[str] = ""
    config_type: ClassVar[type]
    #: threat-model types the attack supports
    threats: ClassVar[tuple[type, ...]] = (LinfBall, L2Ball, PixelBox)

    def __init__(self, config: object | None = None) -> None:
        if config is None:
            config = self.config_type()
        if not isinstance(config, self.config_type):
            raise InputError(
                f"{type(self).__name__} needs a {self.config_type.__name__}, "
                f"got {type(config).__name__}."
            )
        self.config = config

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    @classmethod
    def budget(cls, *, steps: int, eps: float, margin: bool = False) -> dict[str, Any]:
        """Config values for a run of ``steps`` iterations at radius ``eps`` (how ``evaluate``
        sets every attack); ``margin``: attack the decision margin (evaluate's per-cell
        falsifier) where the attack has such a loss.

        The default fills the fields the config has: ``steps``; ``step_size`` = eps / 2 (APGD
        halves it as progress stalls; the paper's 0.012 would overshoot small balls); ``loss``
        (margin) and ``kappa`` = 0.05. An attack with other knobs overrides this method.
        """
        from mlrobust.attacks.losses import LossKind

        names = {f.name for f in fields(cls.config_type)}
        out: dict[str, Any] = {}
        if "steps" in names:
            out["steps"] = steps
        if "step_size" in names:
            out["step_size"] = max(eps / 2, 1e-4)
        if margin and "loss" in names:
            out["loss"] = LossKind.MARGIN
        if margin and "kappa" in names:
            out["kappa"] = 0.05
        return out

    @abstractmethod
    def _run(self, ctx: AttackContext) -> RawAttack:
        """Search for adversarial inputs; the base class re-checks whatever is returned."""

    def __call__(
        self, model: nn.Module, x: torch.Tensor, goal: AttackGoal, threat: ThreatModel
    ) -> AttackResult:
        start = time.perf_counter()
        self._validate(model, x, goal, threat)
        was_training = model.training
        model.eval()
        try:
            device = _model_device(model, x)
            x = x.detach().to(device)
            with torch.no_grad():
                clean_logits = model(x)
            self._check_logits(clean_logits, x, goal)
            clean_pred = goal.rule.predict(clean_logits)
            ctx = AttackContext(
                model=model,
                x=x,
                goal=goal,
                threat=threat,
                clean_logits=clean_logits,
                clean_pred=clean_pred,
                desired=goal.desired(clean_pred),
            )
            raw = self._run(ctx)
            result = self._recheck(ctx, raw, start)
        finally:
            model.train(was_training)
        log.debug(
            "%s: %d/%d successes in %.2fs",
            self.name,
            int(result.success.sum()),
            len(result.success),
            result.seconds,
        )
        return result

    # ------------------------------------------------------------------ checks
    def _validate(
        self, model: nn.Module, x: torch.Tensor, goal: AttackGoal, threat: ThreatModel
    ) -> None:
        if not isinstance(model, nn.Module):
            raise InputError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
        if not isinstance(goal, AttackGoal):
            raise InputError(f"goal must be an AttackGoal, got {type(goal).__name__}.")
        if not isinstance(threat, self.threats):
            names = ", ".join(t.__name__ for t in self.threats)
            raise InputError(
                f"{type(self).__name__} supports threat models {names}; "
                f"got {type(threat).__name__}."
            )
        check_images(x, domain=threat.domain)
        if isinstance(threat, (LinfBall, L2Ball)) and threat.eps <= 0:
            raise InputError(f"eps must be > 0 for an attack, got {threat.eps}.")
        if goal.targets.shape[0] != x.shape[0]:
            raise InputError(
                f"goal has {goal.targets.shape[0]} target rows but x has {x.shape[0]} samples; "
                "give one target row per image."
            )

    @staticmethod
    def _check_logits(logits: torch.Tensor, x: torch.Tensor, goal: AttackGoal) -> None:
        if logits.dim() != 2 or logits.shape[0] != x.shape[0]:
            raise InputError(
                f"model must map [N, C, H, W] to logits [N, L]; got {tuple(logits.shape)}."
            )
        if logits.shape[1] != goal.num_labels:
            raise InputError(
                f"goal targets have {goal.num_labels} labels but the model outputs "
                f"{logits.shape[1]}; build the goal with num_labels={logits.shape[1]}."
            )

    def _recheck(self, ctx: AttackContext, raw: RawAttack, start: float) -> AttackResult:
        x, threat = ctx.x, ctx.threat
        x_adv = raw.x_adv.detach().to(x.device, x.dtype)
        if x_adv.shape != x.shape:
            raise SoundnessError(
                f"{self.name} returned x_adv of shape {tuple(x_adv.shape)} for x of shape "
                f"{tuple(x.shape)}; this is a bug in the attack."
            )
        inside = within_threat(threat, x_adv, x)
        if not inside.all():
            bad = (~inside).nonzero().flatten().tolist()[:5]
            raise SoundnessError(
                f"{self.name} returned inputs outside the threat model {threat} "
                f"(samples {bad}); this is a bug in the attack."
            )
        # round-off may leave a point a hair outside (within the tolerance above): project it,
        # so every witness lies in the threat model exactly, as evaluate's re-check demands
        x_adv = closest = threat.project(x_adv, x)
        with torch.no_grad():  # fail closed: trust only a fresh forward pass of the real model
            adv_pred = ctx.goal.rule.predict(ctx.model(x_adv))
        targets = ctx.targets
        success = ((adv_pred == ctx.desired) | ~targets).all(dim=1)
        # failed samples are returned unchanged (as the reference implementation does)
        keep = success.view(-1, *([1] * (x.dim() - 1)))
        x_adv = torch.where(keep, x_adv, x)
        adv_pred = torch.where(success.unsqueeze(1), adv_pred, ctx.clean_pred)
        target_set = raw.target_set if raw.target_set is not None else targets
        return AttackResult(
            x_adv=x_adv,
            success=success,
            flips=adv_pred != ctx.clean_pred,
            target_set=target_set.to(torch.bool),
            clean_pred=ctx.clean_pred,
            adv_pred=adv_pred,
            iterations=raw.iterations.to(torch.int64).cpu(),
            seconds=time.perf_counter() - start,
            goal_targets=targets,
            x_closest=closest,
        )


def within_threat(threat: ThreatModel, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """bool ``[N]``: ``x_adv`` lies in the threat model around ``x`` (up to float round-off)."""
    lo, hi = threat.bounds(x)
    in_box = ((x_adv >= lo - _THREAT_TOL) & (x_adv <= hi + _THREAT_TOL)).flatten(1).all(dim=1)
    if isinstance(threat, L2Ball):
        norms = (x_adv - x).flatten(1).norm(dim=1)
        in_box = in_box & (norms <= threat.eps * (1 + _THREAT_TOL) + _THREAT_TOL)
    return in_box


def inside_or_clean(ctx: AttackContext, x_adv: torch.Tensor) -> torch.Tensor:
    """``x_adv`` where it lies inside the threat model, the clean ``x`` elsewhere."""
    inside = within_threat(ctx.threat, x_adv, ctx.x)
    return torch.where(inside.view(-1, *([1] * (x_adv.dim() - 1))), x_adv, ctx.x)


def _model_device(model: nn.Module, x: torch.Tensor) -> torch.device:
    for p in model.parameters():
        return p.device
    return x.device
