import pytest
import torch

from mlrobust.datasets.label_attacks import (
    NEGATIVE,
    POSITIVE,
    UNKNOWN,
    LabelAttack,
    PartialLabels,
    Removal,
    full_labels,
    remove_labels,
    targeted_q_hat,
)
from mlrobust.errors import InputError


def _labels(n: int = 200, num_labels: int = 10, per_image: int = 4, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    scores = torch.rand(n, num_labels, generator=g)
    top = scores.topk(per_image, dim=1).indices
    return torch.zeros(n, num_labels, dtype=torch.bool).scatter_(1, top, True)


@pytest.mark.parametrize("q", [0.0, 0.2, 0.4, 0.6, 1.0])
def test_targeted_removes_every_negative_and_exactly_q_of_positives(q) -> None:
    y = _labels()
    out = remove_labels(y, LabelAttack(removal=Removal.TARGETED, q=q), seed=3)
    assert (out.observed[~y] == UNKNOWN).all()
    assert not (out.observed == NEGATIVE).any()
    t_p = int(y.sum())
    removed_pos = int((out.observed[y] == UNKNOWN).sum())
    assert removed_pos == round(q * t_p)
    # paper 003: q_hat = (t_n + q t_p) / t
    t = y.numel()
    assert out.q_hat == pytest.approx((t - t_p + q * t_p) / t, abs=1 / t)
    assert out.q_hat == pytest.approx(targeted_q_hat(y, q))


@pytest.mark.parametrize("q", [0.2, 0.4, 0.6])
def test_random_removes_exactly_q_of_all_entries_of_both_signs(q) -> None:
    y = _labels()
    out = remove_labels(y, LabelAttack(removal=Removal.RANDOM, q=q), seed=5)
    assert int((out.observed == UNKNOWN).sum()) == round(q * y.numel())
    assert out.q_hat == pytest.approx(q, abs=1 / y.numel())
    # sign ignored: both positives and negatives are removed, each roughly at rate q
    assert (out.observed[y] == UNKNOWN).float().mean().item() == pytest.approx(q, abs=0.06)
    assert (out.observed[~y] == UNKNOWN).float().mean().item() == pytest.approx(q, abs=0.06)
    known = out.observed != UNKNOWN
    assert torch.equal(out.observed[known].bool(), y[known])


def test_single_keeps_exactly_one_true_positive_per_image() -> None:
    y = _labels()
    y[7] = False  # an image with no positive keeps nothing
    out = remove_labels(y, LabelAttack(removal=Removal.SINGLE), seed=1)
    kept = out.observed == POSITIVE
    assert kept.sum(dim=1).tolist() == [0 if i == 7 else 1 for i in range(len(y))]
    assert y[kept].all()  # the kept label is always a true positive, never removed
    assert ((out.observed == UNKNOWN) | kept).all()
    assert out.q_hat == pytest.approx(1 - (len(y) - 1) / y.numel())


def test_single_choice_is_spread_over_the_positives() -> None:
    y = torch.ones(2000, 4, dtype=torch.bool)
    out = remove_labels(y, LabelAttack(removal=Removal.SINGLE), seed=0)
    counts = (out.observed == POSITIVE).sum(dim=0).float() / 2000
    assert torch.allclose(counts, torch.full((4,), 0.25), atol=0.04)


@pytest.mark.parametrize(
    "attack",
    [
        LabelAttack(removal=Removal.TARGETED, q=0.4),
        LabelAttack(removal=Removal.RANDOM, q=0.4),
        LabelAttack(removal=Removal.SINGLE),
    ],
)
def test_deterministic_given_a_seed(attack) -> None:
    y = _labels()
    a, b = remove_labels(y, attack, seed=9), remove_labels(y, attack, seed=9)
    c = remove_labels(y, attack, seed=10)
    assert torch.equal(a.observed, b.observed)
    assert not torch.equal(a.observed, c.observed)


def test_names_and_full_labels() -> None:
    assert LabelAttack(removal=Removal.SINGLE).name == "T_s"
    assert LabelAttack(removal=Removal.TARGETED, q=0.4).name == "T_0.4"
    assert LabelAttack(removal=Removal.RANDOM, q=0.2).name == "R_0.2"
    y = _labels(10)
    full = full_labels(y)
    assert full.q_hat == 0.0 and full.positives_kept == 1.0


def test_bad_inputs_are_named() -> None:
    with pytest.raises(InputError, match=r"q must be in \[0, 1\]"):
        LabelAttack(removal=Removal.RANDOM, q=1.5)
    with pytest.raises(InputError, match="takes no q"):
        LabelAttack(removal=Removal.SINGLE, q=0.2)
    with pytest.raises(InputError, match="multi-hot"):
        remove_labels(torch.tensor([[0, 2]]), LabelAttack(removal=Removal.SINGLE))
    y = torch.tensor([[True, False]])
    with pytest.raises(InputError, match="contradicts"):
        PartialLabels(observed=torch.tensor([[0, 0]], dtype=torch.int8), truth=y, attack=None)
