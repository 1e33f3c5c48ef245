"""The verifier: lower bounds (proofs) for multi-label properties.

A network becomes a small IR (``from_torch`` / ``from_onnx``); bounds come from interval
arithmetic, CROWN and alpha-CROWN; undecided properties go to ReLU-split branch and bound
(alpha/beta-CROWN) and then to a MIPVerify-style MILP. Every verifier is a
:class:`~mlrobust.verify.protocol.Verifier` called on a :class:`~mlrobust.verify.protocol.Query`
(network, input box, specs, real model); every counterexample is re-checked by a forward pass of
the real model (see ``docs/verify.md``, and ``docs/extending.md`` to add a verifier).

Examples:
    >>> from mlrobust.verify import get_verifier, verify_topk
    >>> sorted(n for n in ("milp", "crown", "attack") if get_verifier(n))
    ['attack', 'crown', 'milp']
    >>> # verify_topk(model, x[:1], LinfBall(0.005), target_label=3, k=2).verdict
"""

from mlrobust.verify.api import (
    LabelCertificates,
    VnnlibAnswer,
    certify_labels,
    label_spec,
    verify_topk,
    verify_vnnlib,
)
from mlrobust.verify.bab import BaBConfig, BaBResult, branch_and_bound, supports_bab
from mlrobust.verify.bounds import alpha_crown, clause_upper_bound, crown_bounds, interval_bounds
from mlrobust.verify.from_onnx import from_onnx
from mlrobust.verify.from_torch import from_torch
from mlrobust.verify.milp import Tightening
from mlrobust.verify.protocol import Query, StageTimes, VerificationResult, Verifier
from mlrobust.verify.registry import (
    ENTRY_POINT_GROUP,
    VERIFIERS,
    available_verifiers,
    get_verifier,
    verifier_for,
)
from mlrobust.verify.spec import (
    DEFAULT_MARGIN,
    OutputSpec,
    pairwise_topk_specs,
    threshold_spec,
    top1_spec,
    topk_spec,
)
from mlrobust.verify.verifier import MILPVerifier, VerifierConfig, verify
from mlrobust.verify.verifiers import AttackOnlyConfig, AttackVerifier, CrownConfig, CrownVerifier
from mlrobust.verify.vnnlib import read_vnnlib

__all__ = [
    "DEFAULT_MARGIN",
    "ENTRY_POINT_GROUP",
    "VERIFIERS",
    "AttackOnlyConfig",
    "AttackVerifier",
    "BaBConfig",
    "BaBResult",
    "CrownConfig",
    "CrownVerifier",
    "LabelCertificates",
    "MILPVerifier",
    "OutputSpec",
    "Query",
    "StageTimes",
    "Tightening",
    "VerificationResult",
    "Verifier",
    "VerifierConfig",
    "VnnlibAnswer",
    "alpha_crown",
    "available_verifiers",
    "branch_and_bound",
    "certify_labels",
    "clause_upper_bound",
    "crown_bounds",
    "from_onnx",
    "from_torch",
    "get_verifier",
    "interval_bounds",
    "label_spec",
    "pairwise_topk_specs",
    "read_vnnlib",
    "supports_bab",
    "threshold_spec",
    "top1_spec",
    "topk_spec",
    "verify",
    "verify_topk",
    "verifier_for",
    "verify_vnnlib",
]
