import torch

from mlrobust.attacks import AttackGoal, MLDeepFool, MLDeepFoolConfig
from mlrobust.threats import L2Ball, LinfBall
from tests.attacks.helpers import two_label_linear


def test_linear_model_one_step():
    model, x = two_label_linear()
    goal = AttackGoal(torch.tensor([[True, False]]))
    res = MLDeepFool(MLDeepFoolConfig(max_iter=20))(model, x, goal, L2Ball(10.0))
    assert res.success.item()
    # sigmoid is not linear, so it takes a few steps; the l_2 size stays near the 0.2 optimum
    assert res.iterations.item() <= 5
    assert 0.2 <= float((res.x_adv - x).norm()) <= 0.3


def test_outside_the_threat_is_a_failure():
    model, x = two_label_linear()
    goal = AttackGoal(torch.tensor([[True, False]]))
    res = MLDeepFool()(model, x, goal, LinfBall(0.05))  # needs 0.1
    assert not res.success.item() and torch.equal(res.x_adv, x)
