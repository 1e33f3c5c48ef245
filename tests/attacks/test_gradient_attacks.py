import pytest
import torch

from mlrobust.attacks import (
    MLAC,
    MLAU,
    AttackGoal,
    GradientConfig,
    LossKind,
    MLACConfig,
    MLAUConfig,
    get_attack,
)
from mlrobust.attacks.optim import checkpoints
from mlrobust.errors import InputError
from mlrobust.rules import TopK
from mlrobust.threats import L2Ball, LinfBall, PixelBox
from tests.attacks.helpers import linear_model, two_label_linear

GOAL0 = AttackGoal(torch.tensor([[True, False]]))


@pytest.mark.parametrize("cls", [MLAU, MLAC])
def test_linear_model_flips_exactly_above_the_closed_form_radius(cls):
    model, x = two_label_linear()  # flipping label 0 needs l_inf = 0.1 exactly
    attack = cls(cls.config_type(steps=200, step_size=0.01))
    assert attack(model, x, GOAL0, LinfBall(0.11)).success.item()
    # no point of the 0.09-ball flips label 0: any attack must fail
    assert not attack(model, x, GOAL0, LinfBall(0.09)).success.item()


def test_l2_closed_form():
    model, x = two_label_linear()  # ||w_0||_2 = 2: needs l_2 = 0.4 / 2 = 0.2
    attack = MLAU(MLAUConfig(steps=200, step_size=0.005))
    assert attack(model, x, GOAL0, L2Ball(0.21)).success.item()
    assert not attack(model, x, GOAL0, L2Ball(0.19)).success.item()


def test_mla_c_keeps_a_label_that_mla_u_flips():
    # MLA-U lowers every pixel and so turns label 1 on; MLA-C's gradient on pixels 0,1 is
    # dominated by keeping label 1 off, so it raises them and flips label 0 through pixels 2,3
    w = torch.tensor([[0.2, 0.2, 1.0, 1.0], [-3.0, -3.0, 0.0, 0.0]])
    b = torch.tensor([-1.0, 2.9])
    model = linear_model(w, b)
    x = torch.full((1, 1, 2, 2), 0.5)  # logits [0.2, -0.1]: label 0 on, label 1 off
    goal = AttackGoal(torch.tensor([[True, False]]))
    u = MLAU(MLAUConfig(steps=100, step_size=0.01))(model, x, goal, LinfBall(0.15))
    c = MLAC(MLACConfig(steps=100, step_size=0.01))(model, x, goal, LinfBall(0.15))
    assert u.success.item() and c.success.item()
    assert u.flips[0, 1].item(), "MLA-U turns label 1 on"
    assert not c.flips[0, 1].item(), "MLA-C keeps label 1"


def test_topk_goal_in_pixel_box_with_margin_loss():
    # top-2 rule: labels 0 and 1 on; push label 1 out of the top 2 in a per-pixel box that
    # only lets pixel 3 move
    w = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, -2.0], [0.0, 0.0, 0.0, 2.0]])
    b = torch.tensor([1.0, 1.5, -0.5])
    model = linear_model(w, b)
    x = torch.full((1, 1, 2, 2), 0.5)  # logits [1, 0.5, 0.5] -> top-2 = {0, 1} (tie to lower)
    goal = AttackGoal(torch.tensor([[False, True, False]]), TopK(2))
    radius = torch.tensor([[[0.0, 0.0], [0.0, 0.3]]])
    attack = MLAU(MLAUConfig(steps=50, step_size=0.01, loss=LossKind.MARGIN, kappa=0.5))
    result = attack(model, x, goal, PixelBox(radius))
    assert result.success.item()
    moved = (result.x_adv - x).abs().flatten()
    assert moved[:3].eq(0).all() and moved[3] > 0
    assert result.adv_pred.tolist() == [[True, False, True]]
    # a box too small to cross the margin: labels 1 and 2 tie at pixel 3 = 0.5 + 0.0
    assert not attack(model, x, goal, PixelBox(radius * 0)).success.item()


def test_iterations_and_early_stop():
    model, x = two_label_linear()
    res = MLAU(MLAUConfig(steps=100, step_size=0.01))(model, x, GOAL0, LinfBall(0.2))
    assert res.success.item() and 5 <= res.iterations.item() < 20
    res = MLAU(MLAUConfig(steps=7, step_size=0.001))(model, x, GOAL0, LinfBall(0.2))
    assert not res.success.item() and res.iterations.item() == 7


def test_checkpoints_follow_apgd():
    assert sorted(checkpoints(100)) == [22, 41, 57, 70, 80, 87, 93, 99]


def test_batched_equals_one_by_one():
    torch.manual_seed(0)
    from tests.attacks.helpers import tiny_cnn

    model = tiny_cnn(4, seed=1)
    x = torch.rand(5, 1, 8, 8)
    goal = AttackGoal.random(5, 4, size=2, seed=1)
    attack = get_attack("mla-c", steps=40)
    batch = attack(model, x, goal, LinfBall(0.2))
    for i in range(5):
        one = attack(model, x[i : i + 1], AttackGoal(goal.targets[i : i + 1]), LinfBall(0.2))
        assert torch.allclose(one.x_adv[0], batch.x_adv[i], atol=1e-6)
        assert one.success.item() == batch.success[i].item()


@pytest.mark.parametrize(
    "kwargs, message",
    [({"steps": 0}, "steps"), ({"step_size": -1.0}, "step_size"), ({"momentum": 0.0}, "momentum")],
)
def test_bad_config(kwargs, message):
    with pytest.raises(InputError, match=message):
        GradientConfig(**kwargs)


def test_config_is_frozen_and_keyword_only():
    cfg = MLAUConfig(steps=3)
    with pytest.raises(AttributeError):
        cfg.steps = 4  # type: ignore[misc]
    with pytest.raises(TypeError):
        MLAUConfig(3)  # type: ignore[misc]


@pytest.mark.parametrize("cls", [MLAU, MLAC])
def test_float64_model_and_images_keep_the_closed_form_answer(cls):
    # float64 losses used to crash the float32 optimiser state ("Index put requires ...")
    model, x = two_label_linear()
    model, x = model.double(), x.double()
    attack = cls(cls.config_type(steps=200, step_size=0.01))
    res = attack(model, x, GOAL0, LinfBall(0.11))
    assert res.success.item()
    assert res.x_adv.dtype == torch.float64
    assert not attack(model, x, GOAL0, LinfBall(0.09)).success.item()


def test_apgd_halves_only_when_the_rule_says_so():
    """Scripted sawtooth losses 10, 9, 8, 7, 6, 10, 9, ...: the loss improves in 80% of the
    iterations (above rho = 0.75) but the best, 6, never improves after the first tooth. APGD
    then halves at a checkpoint only if it did *not* halve at the one before (sec. 3.2):
    alternately. The step is read back from the positions (momentum 1: x moves by the step)."""
    from mlrobust.attacks.base import AttackContext
    from mlrobust.attacks.optim import StepSchedule, run_apgd

    steps, base = 100, 1e-4
    x0 = torch.full((1, 1), 0.5, dtype=torch.float64)
    positions: list[float] = []

    def direction(xa, idx):
        it = len(positions)
        positions.append(float(xa[0, 0]))
        loss = torch.tensor([10.0 - it % 5], dtype=torch.float64)
        logits = torch.tensor([[5.0, -5.0]], dtype=torch.float64)  # label 0 stays ON
        return loss, logits, -torch.ones_like(xa)  # x moves up by the step

    goal = AttackGoal(torch.tensor([[True, False]]))
    pred = torch.tensor([[True, False]])
    ctx = AttackContext(
        model=torch.nn.Identity(),
        x=x0,
        goal=goal,
        threat=LinfBall(1.0),
        clean_logits=torch.tensor([[5.0, -5.0]], dtype=torch.float64),
        clean_pred=pred,
        desired=~pred,
    )
    run_apgd(ctx, direction, StepSchedule(steps, base, momentum=1.0, early_stop=True))
    ckpts = sorted(checkpoints(steps))  # 22, 41, 57, 70, 80, 87, 93, 99
    # the step taken right after each checkpoint (the point there may jump back to the best)
    after = [round((positions[c + 2] - positions[c + 1]) / base, 6) for c in ckpts[:-1]]
    # 22: the first check has no earlier best to compare with; from 41 on it alternates (the
    # old rule, which forgot whether it had just halved, halved at every one: 1, .5, .25, ...)
    assert after == [1.0, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125]


class _FlatStart(torch.nn.Module):
    """Label 0's logit is ``10 relu(x - 0.5) - 1`` of the one pixel: flat (zero gradient) at
    x = 0.45, so a run from the clean point cannot move, while a random start above 0.5 climbs
    to the flip (x > 0.6). Label 1 is constant."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = x.flatten(1)[:, :1]
        return torch.cat([10 * torch.relu(p - 0.5) - 1, torch.zeros_like(p)], dim=1)


def test_restarts_reach_what_a_single_run_cannot() -> None:
    x = torch.full((1, 1, 1, 1), 0.45)
    goal = AttackGoal(torch.tensor([[True, False]]))
    cfg = MLAUConfig(steps=30, step_size=0.05, loss=LossKind.MARGIN)
    single = MLAU(cfg)(_FlatStart(), x, goal, LinfBall(0.2))
    assert not single.success.item()
    assert torch.equal(single.x_closest, x)  # no gradient: it stayed where it started
    restarted = MLAU(MLAUConfig(**{**cfg.__dict__, "restarts": 8, "seed": 3}))
    result = restarted(_FlatStart(), x, goal, LinfBall(0.2))
    assert result.success.item() and float(result.x_adv) > 0.6
    again = restarted(_FlatStart(), x, goal, LinfBall(0.2))
    assert torch.equal(again.x_adv, result.x_adv)  # seeded: the same restarts every time
    with pytest.raises(InputError, match="restarts must be >= 0"):
        MLAUConfig(restarts=-1)


def test_restarts_keep_the_first_runs_successes_and_report_the_closest_point() -> None:
    model, x = two_label_linear()  # flipping label 0 needs l_inf = 0.1
    x = x.expand(3, *x.shape[1:]).contiguous()
    goal = AttackGoal(torch.tensor([[True, False]] * 3))
    plain = MLAU(MLAUConfig(steps=50, step_size=0.01))(model, x, goal, LinfBall(0.11))
    both = MLAU(MLAUConfig(steps=50, step_size=0.01, restarts=2))(model, x, goal, LinfBall(0.11))
    assert plain.success.all() and torch.equal(both.x_adv, plain.x_adv)
    short = MLAU(MLAUConfig(steps=50, step_size=0.01))(model, x, goal, LinfBall(0.09))
    assert not short.success.any() and torch.equal(short.x_adv, x)  # failures: unchanged
    # ... but the closest point moved to the ball's edge, toward the flip
    assert torch.allclose((short.x_closest - x).abs().amax(), torch.tensor(0.09), atol=1e-6)
