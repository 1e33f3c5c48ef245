"""Per-label attack losses that work for every decision rule.

Every rule is reduced to a *relative logit* ``z = logit - ref`` with ``label on <=> z >= 0``:

* ``Threshold(t)``: ``ref = logit(t)`` (a constant);
* ``TopK(k)``: ``ref_c`` = the k-th largest logit among the *other* labels, so label ``c`` is in
  the top k exactly when it beats that logit (ties aside; the final success check uses the real
  rule). ``ref`` depends on the input, and autograd follows it, so a gradient step on label
  ``c`` also pushes the competing label down: this is the decision margin of ``c``.

From ``z`` and the desired prediction ``D`` the *violation* ``v = z`` where ``D`` is off and
``v = -z`` where ``D`` is on; the label has its desired value when ``v < 0``. Losses (minimised):

* ``LossKind.BCE``: ``softplus(v)`` = binary cross-entropy of ``sigmoid(z)`` against ``D``; under
  ``Threshold(0.5)`` this is exactly the BCE-with-logits loss of paper 001 eq. 2.
* ``LossKind.MARGIN``: ``max(v, -kappa)``, a CW-style margin that stops pushing at ``kappa``.
"""

from __future__ import annotations

import enum

import torch
import torch.nn.functional as F

from mlrobust.rules import DecisionRule, Threshold, TopK


class LossKind(enum.Enum):
    BCE = "bce"
    MARGIN = "margin"


def relative_logits(logits: torch.Tensor, rule: DecisionRule) -> torch.Tensor:
    """``z`` with ``label on <=> z >= 0`` (see module doc). Shape ``[N, L] -> [N, L]``."""
    if isinstance(rule, Threshold):
        return logits - rule.logit_threshold
    if isinstance(rule, TopK):
        k = rule.k
        num_labels = logits.shape[1]
        if k >= num_labels:
            # every label is always on; any reference below all logits keeps z >= 0
            return logits - logits.min(dim=1, keepdim=True).values.detach() + 1.0
        top = logits.topk(k + 1, dim=1).values  # [N, k+1], descending
        kth, k1th = top[:, k - 1 : k], top[:, k : k + 1]
        # for a label inside the top k, the k-th largest *other* logit is the (k+1)-th overall;
        # for a label outside, it is the k-th overall
        inside = logits >= kth
        ref = torch.where(inside, k1th, kth)
        return logits - ref
    raise TypeError(f"unknown decision rule {rule!r}")


def violations(logits: torch.Tensor, desired: torch.Tensor, rule: DecisionRule) -> torch.Tensor:
    """``v < 0`` where a label has its desired value. Shape ``[N, L]``."""
    z = relative_logits(logits, rule)
    return torch.where(desired, -z, z)


def label_losses(
    logits: torch.Tensor,
    desired: torch.Tensor,
    rule: DecisionRule,
    kind: LossKind = LossKind.BCE,
    kappa: float = 0.0,
) -> torch.Tensor:
    """Per-label loss to minimise (see module doc). Shape ``[N, L]``."""
    v = violations(logits, desired, rule)
    if kind is LossKind.BCE:
        return F.softplus(v)
    return v.clamp_min(-kappa)


def masked_sum(losses: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum of ``losses`` over ``mask`` per sample. Shape ``[N, L] -> [N]``."""
    return (losses * mask.to(losses.dtype)).sum(dim=1)
