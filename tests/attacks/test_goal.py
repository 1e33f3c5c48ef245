import pytest
import torch

from mlrobust.attacks import AttackGoal, random_targets
from mlrobust.errors import InputError
from mlrobust.rules import Threshold, TopK


def test_random_targets_size_and_determinism():
    a = random_targets(6, 10, size=3, seed=7)
    b = random_targets(6, 10, size=3, seed=7)
    c = random_targets(6, 10, size=3, seed=8)
    assert a.dtype == torch.bool and a.shape == (6, 10)
    assert a.sum(dim=1).tolist() == [3] * 6
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_random_targets_respects_allowed():
    allowed = torch.tensor([False, True, False, True, True])
    mask = random_targets(20, 5, size=2, seed=0, allowed=allowed)
    assert not mask[:, ~allowed].any()
    with pytest.raises(InputError, match="only 3 are allowed"):
        random_targets(2, 5, size=4, seed=0, allowed=allowed)


def test_from_indices_and_desired():
    goal = AttackGoal.from_indices([[0, 2], [1]], num_labels=3, rule=TopK(1))
    clean = torch.tensor([[True, False, False], [False, False, True]])
    assert goal.desired(clean).tolist() == [[False, False, True], [False, True, True]]
    assert goal.rule == TopK(1)


@pytest.mark.parametrize(
    "targets, message",
    [
        (torch.zeros(2, 3, dtype=torch.bool), "empty target set"),
        (torch.ones(2, 3), "bool mask"),
        (torch.ones(3, dtype=torch.bool), r"shape \[N, L\]"),
    ],
)
def test_bad_goals(targets, message):
    with pytest.raises(InputError, match=message):
        AttackGoal(targets)


def test_unknown_label_index():
    with pytest.raises(InputError, match="not a label index"):
        AttackGoal.from_indices([[5]], num_labels=3)


def test_default_rule_is_threshold_half():
    assert AttackGoal(torch.ones(1, 2, dtype=torch.bool)).rule == Threshold(0.5)
