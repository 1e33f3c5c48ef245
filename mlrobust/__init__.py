"""mlrobust: attack-and-verify robustness evaluation for multi-label image classifiers.

Attacks give upper bounds on robustness (witnesses), the verifier gives lower bounds (proofs),
and reports put both side by side.
"""

from mlrobust.rules import DecisionRule, Threshold, TopK
from mlrobust.threats import L2Ball, LinfBall, PixelBox, ThreatModel
from mlrobust.verdicts import Verdict

__version__ = "0.1.0"

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
