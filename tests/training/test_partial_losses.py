import math

import pytest
import torch

from mlrobust.errors import InputError
from mlrobust.training.partial_losses import (
    PartialLoss,
    PartialLossConfig,
    an_loss,
    attention_shift,
    initial_history,
    pseudo_label_loss,
    trivial_solution_penalty,
    update_pseudo_labels,
    wan_loss,
)

LN2 = math.log(2.0)
# sigmoid(0) = 0.5, sigmoid(ln 3) = 0.75
LOGITS = torch.tensor([[0.0, math.log(3.0), 0.0]])
OBSERVED = torch.tensor([[1, -1, 0]], dtype=torch.int8)


def test_an_treats_unknown_as_negative() -> None:
    # entries: -ln 0.5, -ln(1 - 0.75) = 2 ln 2, -ln 0.5; mean over all 3
    assert an_loss(LOGITS, OBSERVED).item() == pytest.approx(4 * LN2 / 3)


def test_an_equals_bce_on_full_labels() -> None:
    logits = torch.randn(5, 4)
    y = torch.rand(5, 4) < 0.5
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, y.float())
    assert an_loss(logits, y.to(torch.int8)).item() == pytest.approx(bce.item())


def test_wan_down_weights_only_assumed_negatives() -> None:
    # default weight 1 / (L - 1) = 0.5 on the unknown entry; observed negative keeps weight 1
    assert wan_loss(LOGITS, OBSERVED).item() == pytest.approx((LN2 + 0.5 * 2 * LN2 + LN2) / 3)
    assert wan_loss(LOGITS, OBSERVED, 0.0).item() == pytest.approx(2 * LN2 / 3)


def test_attention_shift_is_exponential_in_the_epoch() -> None:
    assert attention_shift(3, 3) == 1.0
    assert attention_shift(1, 3) == pytest.approx(math.exp(-2))
    with pytest.raises(InputError, match="1-based"):
        attention_shift(0, 3)


def test_trivial_solution_penalty_by_hand() -> None:
    probs = torch.tensor([[0.6, 0.8, 0.1], [0.3, 0.2, 0.9]])
    observed = torch.tensor([[1, 1, 0], [-1, -1, -1]], dtype=torch.int8)
    # image 0: m = 2, root of (0.36 + 0.64) / 2; image 1 has no observed positive: skipped
    assert trivial_solution_penalty(probs, observed).item() == pytest.approx(1 - math.sqrt(0.5))
    zeros = torch.zeros(2, 3)
    assert trivial_solution_penalty(zeros, observed).item() == pytest.approx(1.0)
    assert trivial_solution_penalty(torch.ones(2, 3), observed).item() == pytest.approx(0.0)
    assert trivial_solution_penalty(probs, torch.full((2, 3), -1, dtype=torch.int8)).item() == 0


def test_pseudo_label_loss_by_hand() -> None:
    pseudo = torch.tensor([[0.9, 0.25, 0.9]])  # only the unknown entry's 0.25 is read
    part_e = LN2  # mean of -ln 0.5 (positive) and -ln 0.5 (negative)
    part_n = -(0.25 * math.log(0.75) + 0.75 * math.log(0.25))
    penalty = 1 - 0.5  # one observed positive predicted 0.5
    expected = part_e + math.exp(2 - 3) * part_n + penalty
    got = pseudo_label_loss(LOGITS, OBSERVED, pseudo, epoch=2, epochs=3)
    assert got.item() == pytest.approx(expected)
    no_penalty = pseudo_label_loss(LOGITS, OBSERVED, pseudo, epoch=2, epochs=3, penalty_weight=0)
    assert no_penalty.item() == pytest.approx(expected - penalty)


def test_pseudo_label_loss_with_nothing_unknown_is_bce_plus_penalty() -> None:
    logits = torch.randn(4, 3)
    y = (torch.rand(4, 3) < 0.5).to(torch.int8)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, y.float())
    penalty = trivial_solution_penalty(torch.sigmoid(logits), y)
    got = pseudo_label_loss(logits, y, torch.zeros(4, 3), epoch=1, epochs=5)
    assert got.item() == pytest.approx((bce + penalty).item())


def test_pseudo_label_update_follows_eq_2_and_3() -> None:
    weights = (0.5, 0.3, 0.2)
    history = initial_history(2, 2)
    assert torch.equal(history, torch.ones(3, 2, 2))  # eq. 2: initialisation 1
    preds = [torch.full((2, 2), v) for v in (0.1, 0.4, 0.7, 0.2)]
    history, pseudo = update_pseudo_labels(history, preds[0], weights)
    assert torch.allclose(pseudo, torch.full((2, 2), 0.5 * 0.1 + 0.3 + 0.2))
    history, pseudo = update_pseudo_labels(history, preds[1], weights)
    assert torch.allclose(pseudo, torch.full((2, 2), 0.5 * 0.4 + 0.3 * 0.1 + 0.2))
    history, pseudo = update_pseudo_labels(history, preds[2], weights)
    assert torch.allclose(pseudo, torch.full((2, 2), 0.5 * 0.7 + 0.3 * 0.4 + 0.2 * 0.1))
    # eq. 3 keeps only the last three epochs: S[k] = y_hat^(e - k)
    history, pseudo = update_pseudo_labels(history, preds[3], weights)
    assert torch.allclose(pseudo, torch.full((2, 2), 0.5 * 0.2 + 0.3 * 0.7 + 0.2 * 0.4))
    assert torch.allclose(history[:, 0, 0], torch.tensor([0.2, 0.7, 0.4]))


def test_update_is_per_entry() -> None:
    preds = torch.tensor([[0.0, 1.0], [0.25, 0.5]])
    _, pseudo = update_pseudo_labels(initial_history(2, 2), preds, (1.0, 0.0, 0.0))
    assert torch.equal(pseudo, preds)


def test_config_validation() -> None:
    assert PartialLossConfig().method is PartialLoss.PSEUDO
    with pytest.raises(InputError, match="summing to 1"):
        PartialLossConfig(history_weights=(0.5, 0.5, 0.5))
    with pytest.raises(InputError, match="negative_weight"):
        PartialLossConfig(negative_weight=2.0)
    with pytest.raises(InputError, match="same shape"):
        an_loss(torch.zeros(2, 3), torch.zeros(2, 2, dtype=torch.int8))
