import sys

import pytest
import torch

from mlrobust.attacks import AttackGoal, TAMethod, TorchAttacksAdapter, TorchAttacksConfig
from mlrobust.errors import InputError
from mlrobust.threats import L2Ball, LinfBall
from tests.attacks.helpers import two_label_linear

GOAL = AttackGoal(torch.tensor([[True, False]]))


@pytest.mark.parametrize("method", [TAMethod.PGD, TAMethod.APGD, TAMethod.FGSM])
def test_linf_methods_hit_the_closed_form(method):
    pytest.importorskip("torchattacks")
    model, x = two_label_linear()
    attack = TorchAttacksAdapter(TorchAttacksConfig(method=method, steps=20))
    assert attack(model, x, GOAL, LinfBall(0.12)).success.item()
    assert not attack(model, x, GOAL, LinfBall(0.09)).success.item()


def test_l2_pgd_and_custom_factory():
    ta = pytest.importorskip("torchattacks")
    model, x = two_label_linear()
    assert TorchAttacksAdapter()(model, x, GOAL, L2Ball(0.25)).success.item()

    def factory(view, threat):
        return ta.PGD(view, eps=threat.eps, alpha=0.05, steps=5, random_start=False)

    res = TorchAttacksAdapter(TorchAttacksConfig(factory=factory))(model, x, GOAL, LinfBall(0.2))
    assert res.success.item()


def test_missing_torchattacks_gives_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchattacks", None)  # makes the import fail
    model, x = two_label_linear()
    with pytest.raises(InputError, match="pip install"):
        TorchAttacksAdapter()(model, x, GOAL, LinfBall(0.1))
