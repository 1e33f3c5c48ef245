import torch
import torch.nn.functional as F

from mlrobust.attacks import LossKind, label_losses, relative_logits, violations
from mlrobust.rules import Threshold, TopK


def test_bce_matches_torch_under_threshold_half():
    logits = torch.randn(4, 6)
    desired = torch.rand(4, 6) > 0.5
    ours = label_losses(logits, desired, Threshold(0.5))
    ref = F.binary_cross_entropy_with_logits(logits, desired.float(), reduction="none")
    assert torch.allclose(ours, ref, atol=1e-6)


def test_relative_logits_topk_by_hand():
    logits = torch.tensor([[3.0, 1.0, 2.0, 0.0]])
    # top-2 = {0, 2}; for labels inside, ref = 3rd largest (1.0); outside, ref = 2nd (2.0)
    assert relative_logits(logits, TopK(2)).tolist() == [[2.0, -1.0, 1.0, -2.0]]


def test_violation_sign_agrees_with_rule():
    torch.manual_seed(1)
    for rule in (Threshold(0.3), TopK(2)):
        logits = torch.randn(50, 5)
        desired = torch.rand(50, 5) > 0.5
        v = violations(logits, desired, rule)
        pred = rule.predict(logits)
        assert torch.equal(v < 0, (pred == desired) & (v != 0))


def test_margin_loss_clamps_at_kappa():
    logits = torch.tensor([[5.0, -5.0]])
    desired = torch.tensor([[True, True]])
    out = label_losses(logits, desired, Threshold(0.5), LossKind.MARGIN, kappa=1.0)
    assert out.tolist() == [[-1.0, 5.0]]
