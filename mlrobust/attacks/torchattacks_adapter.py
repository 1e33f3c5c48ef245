"""Run any torchattacks attack against a multi-label goal (extra ``mlrobust[torchattacks]``).

torchattacks attacks single-label classifiers. The adapter shows them the model as a two-class
problem: class 0 logit ``0``, class 1 logit ``m(x) = -max_{c in Omega} v_c(x)`` where ``v`` is the
rule's violation (:mod:`.losses`), so class 1 wins exactly when every target label has its desired
value. An untargeted attack on true class 0 then searches for "the target set is flipped".

torchattacks is imported only when the adapter runs (it never imports torchvision itself); install
it with ``pip install --no-deps torchattacks`` where its declared pins do not fit.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from mlrobust.attacks.base import Attack, AttackContext, RawAttack, inside_or_clean
from mlrobust.attacks.losses import violations
from mlrobust.errors import InputError
from mlrobust.rules import DecisionRule
from mlrobust.threats import L2Ball, LinfBall, ThreatModel


class TAMethod(enum.Enum):
    """torchattacks attacks with a ready-made mapping from the threat model."""

    PGD = "pgd"
    APGD = "apgd"
    FGSM = "fgsm"
    CW = "cw"


@dataclass(frozen=True, kw_only=True)
class TorchAttacksConfig:
    """Settings for the torchattacks adapter.

    Attributes:
        method: which torchattacks attack (PGD / APGD / FGSM use the threat's eps and norm; CW is
            an unconstrained l_2 attack whose result must still land inside the threat model).
        steps: iterations; alpha: step size (default ``eps / 4``).
        factory: overrides ``method``: ``factory(two_class_model, threat) -> torchattacks.Attack``
            to run any other torchattacks attack with any settings.
        seed: seeds the attack's random start, so results are deterministic.
    """

    method: TAMethod = TAMethod.PGD
    steps: int = 50
    alpha: float | None = None
    random_start: bool = True
    seed: int = 0
    factory: Callable[[nn.Module, ThreatModel], Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.method, TAMethod):
            raise InputError(f"method must be a TAMethod, got {self.method!r}.")
        if self.steps < 1:
            raise InputError(f"steps must be >= 1, got {self.steps}.")


class TwoClassView(nn.Module):
    """The model seen as "target set not flipped (0) / flipped (1)". Logits ``[N, 2]``."""

    desired: torch.Tensor
    targets: torch.Tensor

    def __init__(
        self, model: nn.Module, desired: torch.Tensor, targets: torch.Tensor, rule: DecisionRule
    ) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("desired", desired)
        self.register_buffer("targets", targets)
        self.rule = rule

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = violations(self.model(x), self.desired, self.rule)
        margin = -v.masked_fill(~self.targets, -torch.inf).max(dim=1).values
        return torch.stack([torch.zeros_like(margin), margin], dim=1)


def _torchattacks() -> Any:
    try:
        return importlib.import_module("torchattacks")
    except ImportError as exc:
        raise InputError(
            "The torchattacks adapter needs the optional package torchattacks: "
            "pip install 'mlrobust[torchattacks]' (or pip install --no-deps torchattacks)."
        ) from exc


class TorchAttacksAdapter(Attack):
    """Any torchattacks attack against a multi-label goal."""

    name = "torchattacks"
    config_type = TorchAttacksConfig
    threats = (LinfBall, L2Ball)

    def _run(self, ctx: AttackContext) -> RawAttack:
        cfg: TorchAttacksConfig = self.config  # type: ignore[assignment]
        ta = _torchattacks()
        view = TwoClassView(ctx.model, ctx.desired, ctx.targets, ctx.goal.rule).eval()
        atk = cfg.factory(view, ctx.threat) if cfg.factory else self._build(ta, view, ctx.threat)
        labels = torch.zeros(ctx.x.shape[0], dtype=torch.long, device=ctx.x.device)
        with torch.random.fork_rng(devices=[]):  # seed the random start without side effects
            torch.manual_seed(cfg.seed)
            x_adv = atk(ctx.x, labels).detach()
        x_adv = x_adv.clamp(*ctx.threat.domain)
        iterations = torch.full((ctx.x.shape[0],), cfg.steps, dtype=torch.int64)
        return RawAttack(x_adv=inside_or_clean(ctx, x_adv), iterations=iterations)

    def _build(self, ta: Any, view: nn.Module, threat: ThreatModel) -> Any:
        cfg: TorchAttacksConfig = self.config  # type: ignore[assignment]
        assert isinstance(threat, (LinfBall, L2Ball))
        eps = threat.eps
        alpha = cfg.alpha if cfg.alpha is not None else eps / 4
        linf = isinstance(threat, LinfBall)
        if cfg.method is TAMethod.PGD:
            cls = ta.PGD if linf else ta.PGDL2
            return cls(view, eps=eps, alpha=alpha, steps=cfg.steps, random_start=cfg.random_start)
        if cfg.method is TAMethod.APGD:
            return ta.APGD(
                view, norm="Linf" if linf else "L2", eps=eps, steps=cfg.steps, seed=cfg.seed
            )
        if cfg.method is TAMethod.FGSM:
            if not linf:
                raise InputError("FGSM is an l_inf attack; use LinfBall or method=TAMethod.PGD.")
            return ta.FGSM(view, eps=eps)
        return ta.CW(view, c=1.0, kappa=0.0, steps=cfg.steps, lr=0.01)
