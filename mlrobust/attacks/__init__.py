"""Multi-label adversarial attacks.

Every attack is ``attack(model, x, goal, threat) -> AttackResult``:

>>> import torch
>>> from mlrobust.attacks import AttackGoal, get_attack
>>> from mlrobust.threats import LinfBall
>>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 5))
>>> x = torch.rand(3, 1, 4, 4)
>>> goal = AttackGoal.random(3, 5, size=1, seed=0)
>>> result = get_attack("mla-u", steps=20)(model, x, goal, LinfBall(0.3))
>>> result.success.shape
torch.Size([3])

See docs/attacks.md.
"""

from mlrobust.attacks.base import Attack, AttackContext, AttackResult, RawAttack, within_threat
from mlrobust.attacks.deepfool import MLDeepFool, MLDeepFoolConfig
from mlrobust.attacks.gmla import GMLA, GMLAConfig, gmla_direction
from mlrobust.attacks.goal import AttackGoal, random_targets
from mlrobust.attacks.losses import LossKind, label_losses, relative_logits, violations
from mlrobust.attacks.lp import solve_min_linf
from mlrobust.attacks.lp_forms import LPForm, LPMethod, LPSolution
from mlrobust.attacks.mla import MLAC, MLAU, GradientConfig, MLACConfig, MLAUConfig
from mlrobust.attacks.mla_lp import MLALP, MLALPConfig
from mlrobust.attacks.registry import (
    ATTACKS,
    ENTRY_POINT_GROUP,
    available_attacks,
    budgeted_attack,
    build_attack,
    get_attack,
    get_attack_class,
)
from mlrobust.attacks.torchattacks_adapter import (
    TAMethod,
    TorchAttacksAdapter,
    TorchAttacksConfig,
    TwoClassView,
)

__all__ = [
    "ATTACKS",
    "ENTRY_POINT_GROUP",
    "GMLA",
    "MLAC",
    "MLALP",
    "MLAU",
    "Attack",
    "AttackContext",
    "AttackGoal",
    "AttackResult",
    "GMLAConfig",
    "GradientConfig",
    "LPForm",
    "LPMethod",
    "LPSolution",
    "LossKind",
    "MLACConfig",
    "MLALPConfig",
    "MLAUConfig",
    "MLDeepFool",
    "MLDeepFoolConfig",
    "RawAttack",
    "TAMethod",
    "TorchAttacksAdapter",
    "TorchAttacksConfig",
    "TwoClassView",
    "available_attacks",
    "budgeted_attack",
    "build_attack",
    "get_attack",
    "get_attack_class",
    "gmla_direction",
    "label_losses",
    "random_targets",
    "relative_logits",
    "solve_min_linf",
    "violations",
    "within_threat",
]
