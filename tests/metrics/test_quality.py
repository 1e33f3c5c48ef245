import math

import pytest
import torch

from mlrobust.errors import InputError
from mlrobust.metrics import (
    average_precision,
    f1_scores,
    hamming_loss,
    mean_average_precision,
    subset_accuracy,
)

PRED = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 0]], dtype=torch.bool)
TRUE = torch.tensor([[1, 0, 1], [0, 0, 0], [1, 0, 1]], dtype=torch.bool)


def test_hand_computed_metrics() -> None:
    assert subset_accuracy(PRED, TRUE) == pytest.approx(1 / 3)
    assert hamming_loss(PRED, TRUE) == pytest.approx(3 / 9)
    micro, macro = f1_scores(PRED, TRUE)
    # tp=3 fp=2 fn=1 -> 6/9 ; per label: a: 2tp/(2tp)=1, b: 0/(0+2+0)=0, c: 2/(2+0+1)=2/3
    assert micro == pytest.approx(6 / 9)
    assert macro == pytest.approx((1 + 0 + 2 / 3) / 3)


def test_average_precision_hand_example() -> None:
    scores = torch.tensor([[0.9], [0.8], [0.7], [0.1]])
    target = torch.tensor([[True], [False], [True], [False]])
    # positives at ranks 1 and 3: (1/1 + 2/3) / 2
    assert average_precision(scores, target)[0].item() == pytest.approx((1 + 2 / 3) / 2)
    no_positive = torch.zeros(5, 2, dtype=torch.bool)
    assert math.isnan(mean_average_precision(torch.randn(5, 2), no_positive))


def test_shape_mismatch_is_reported() -> None:
    with pytest.raises(InputError, match="label count"):
        subset_accuracy(PRED, TRUE[:, :2])
