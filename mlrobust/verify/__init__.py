"""The verifier: lower bounds (proofs) for multi-label properties.

A network becomes a small IR (``from_torch`` / ``from_onnx``); bounds come from interval
arithmetic, CROWN and alpha-CROWN; undecided properties go to ReLU-split branch and bound
(alpha/beta-CROWN, Linear/ReLU networks) and then to a MIPVerify-style MILP. Every
counterexample is re-checked by a forward pass of the real model (see ``docs/verify.md``).

Examples:
    >>> from mlrobust.verify import verify_topk, certify_labels
    >>> # verify_topk(model, x[:1], LinfBall(0.005), target_label=3, k=2).verdict
"""

from mlrobust.verify.api import (
    LabelCertificates,
    VnnlibAnswer,
    certify_labels,
    verify_topk,
    verify_vnnlib,
)
from mlrobust.verify.bab import BaBConfig, BaBResult, branch_and_bound, supports_bab
from mlrobust.verify.backends import Backend
from mlrobust.verify.bounds import alpha_crown, crown_bounds, interval_bounds
from mlrobust.verify.from_onnx import from_onnx
from mlrobust.verify.from_torch import from_torch
from mlrobust.verify.milp import Tightening
from mlrobust.verify.spec import (
    OutputSpec,
    pairwise_topk_specs,
    threshold_spec,
    top1_spec,
    topk_spec,
)
from mlrobust.verify.verifier import VerificationResult, VerifierConfig, verify
from mlrobust.verify.vnnlib import read_vnnlib

__all__ = [
    "BaBConfig",
    "BaBResult",
    "Backend",
    "LabelCertificates",
    "OutputSpec",
    "Tightening",
    "VerificationResult",
    "VerifierConfig",
    "VnnlibAnswer",
    "alpha_crown",
    "branch_and_bound",
    "certify_labels",
    "crown_bounds",
    "from_onnx",
    "from_torch",
    "interval_bounds",
    "pairwise_topk_specs",
    "read_vnnlib",
    "supports_bab",
    "threshold_spec",
    "top1_spec",
    "topk_spec",
    "verify",
    "verify_topk",
    "verify_vnnlib",
]
