import pytest
import torch

from mlrobust.errors import InputError
from mlrobust.rules import Threshold, TopK, parse_rule


def test_threshold_matches_sigmoid() -> None:
    logits = torch.randn(50, 7)
    for t in (0.1, 0.5, 0.9):
        assert torch.equal(Threshold(t).predict(logits), torch.sigmoid(logits) >= t)


def test_topk_picks_k_highest_and_breaks_ties_by_index() -> None:
    logits = torch.tensor([[0.0, 3.0, 3.0, -1.0], [5.0, 1.0, 2.0, 4.0]])
    pred = TopK(2).predict(logits)
    assert pred.tolist() == [[False, True, True, False], [True, False, False, True]]
    tied = TopK(1).predict(torch.tensor([[1.0, 1.0, 0.0]]))
    assert tied.tolist() == [[True, False, False]]
    assert (TopK(3).predict(torch.randn(10, 6)).sum(1) == 3).all()


@pytest.mark.parametrize("bad", [lambda: Threshold(0.0), lambda: Threshold(1.5), lambda: TopK(0)])
def test_invalid_rules_raise(bad) -> None:
    with pytest.raises(InputError):
        bad()


def test_topk_larger_than_labels_and_bad_shape() -> None:
    with pytest.raises(InputError, match="exceeds"):
        TopK(5).predict(torch.zeros(1, 3))
    with pytest.raises(InputError, match=r"\[N, L\]"):
        Threshold().predict(torch.zeros(3))


def test_parse_rule() -> None:
    assert parse_rule("topk:2") == TopK(2)
    assert parse_rule("threshold:0.3") == Threshold(0.3)
    with pytest.raises(InputError, match="Unknown decision rule"):
        parse_rule("argmax")
