"""mlrobust: attack-and-verify robustness evaluation for multi-label image classifiers.

Attacks give upper bounds on robustness (witnesses), the verifier gives lower bounds (proofs),
and reports put both side by side.

The shared values below are imported on first use, so ``import mlrobust`` (and a process that
needs only a light part of it, such as a portfolio run's child) does not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "DecisionRule": "mlrobust.rules",
    "Threshold": "mlrobust.rules",
    "TopK": "mlrobust.rules",
    "L2Ball": "mlrobust.threats",
    "LinfBall": "mlrobust.threats",
    "PixelBox": "mlrobust.threats",
    "ThreatModel": "mlrobust.threats",
    "Verdict": "mlrobust.verdicts",
}

if TYPE_CHECKING:
    from mlrobust.rules import DecisionRule, Threshold, TopK
    from mlrobust.threats import L2Ball, LinfBall, PixelBox, ThreatModel
    from mlrobust.verdicts import Verdict


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlrobust' has no attribute {name!r}")


__all__ = [
    "DecisionRule",
    "L2Ball",
    "LinfBall",
    "PixelBox",
    "Threshold",
    "ThreatModel",
    "TopK",
    "Verdict",
    "__version__",
]
