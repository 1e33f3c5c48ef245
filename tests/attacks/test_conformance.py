"""Every registered attack (built-ins and entry-point plugins) obeys the Attack contract."""

import pytest
import torch

from mlrobust.attacks import (
    AttackGoal,
    AttackResult,
    available_attacks,
    build_attack,
    get_attack,
    get_attack_class,
)
from mlrobust.errors import InputError
from mlrobust.threats import L2Ball, LinfBall, PixelBox
from tests.attacks.helpers import linear_model, tiny_cnn

# small settings keep the suite fast; attacks without an entry use their defaults
FAST = {
    "mla-u": {"steps": 30},
    "mla-c": {"steps": 30},
    "gmla": {"steps": 30},
    "torchattacks": {"steps": 10},
}


def _inputs(kind: str = "cnn"):  # type: ignore[no-untyped-def]
    """The tiny CNN, or a linear model with logits near the threshold (every attack, ML-DeepFool
    included, flips some label there: the success checks below are never vacuous)."""
    gen = torch.Generator().manual_seed(3)
    if kind == "cnn":
        model = tiny_cnn(num_labels=5, seed=0)
    else:
        w = torch.randn(5, 64, generator=gen) * 0.1
        model = linear_model(w, -w.sum(dim=1) * 0.5 + 0.05 * torch.randn(5, generator=gen))
    x = torch.rand(6, 1, 8, 8, generator=gen)
    goal = AttackGoal.random(6, 5, size=1, seed=0)
    return model, x, goal


THREATS = [LinfBall(0.3), L2Ball(1.5), PixelBox(torch.full((1, 8, 8), 0.3))]


@pytest.mark.parametrize("name", sorted(available_attacks()))
@pytest.mark.parametrize("threat", THREATS, ids=["linf", "l2", "pixelbox"])
@pytest.mark.parametrize("kind", ["cnn", "linear"])
def test_attack_contract(name, threat, kind):
    if name == "torchattacks":
        pytest.importorskip("torchattacks")
    attack = get_attack_class(name)
    check_attack_contract(build_attack(attack, **attack.budget(steps=30, eps=0.3)), threat, kind)


def check_attack_contract(attack, threat, kind="linear"):  # type: ignore[no-untyped-def]
    """The contract every attack (built-in or plugin) must meet; on the linear model it must
    also succeed somewhere."""
    if not isinstance(threat, attack.threats):
        with pytest.raises(InputError, match="supports threat models"):
            attack(*_inputs(kind), threat)
        return
    model, x, goal = _inputs(kind)
    model.eval()
    with torch.no_grad():  # the clean prediction, independently of the attack
        clean = goal.rule.predict(model(x))
    model.train()
    x_before = x.clone()
    result = attack(model, x, goal, threat)
    assert isinstance(result, AttackResult)
    assert model.training, "train/eval mode must be restored"
    assert torch.equal(x, x_before), "the input must not be modified"
    n, num_labels = goal.targets.shape
    assert result.x_adv.shape == x.shape
    assert result.success.shape == (n,) and result.success.dtype == torch.bool
    for field in ("flips", "target_set", "clean_pred", "adv_pred"):
        t = getattr(result, field)
        assert t.shape == (n, num_labels) and t.dtype == torch.bool, field
    assert result.iterations.shape == (n,) and result.seconds > 0
    assert torch.equal(result.clean_pred, clean)
    # in the threat model with zero tolerance (the box exactly; the l2 norm up to round-off)
    lo, hi = threat.bounds(x)
    assert bool(((result.x_adv >= lo) & (result.x_adv <= hi)).all())
    if isinstance(threat, L2Ball):
        norms = (result.x_adv - x).flatten(1).norm(dim=1)
        assert bool((norms <= threat.eps * (1 + 1e-6)).all())
    assert (result.target_set | ~goal.targets).all(), "the attacked set contains Omega"
    # independent re-check of the claimed successes, and the suite is not vacuous
    if kind == "linear":
        assert result.success.any(), f"{attack.name} succeeds nowhere at {threat}"
    model.eval()
    with torch.no_grad():
        pred = goal.rule.predict(model(result.x_adv))
    desired = clean ^ goal.targets
    ok = ((pred == desired) | ~goal.targets).all(dim=1)
    assert torch.equal(ok, result.success)
    assert torch.equal(result.x_adv[~result.success], x[~result.success])
    assert torch.equal(result.flips, result.adv_pred != result.clean_pred)
    # deterministic
    again = attack(model, x, goal, threat)
    assert torch.equal(again.x_adv, result.x_adv)
    assert torch.equal(again.success, result.success)


@pytest.mark.parametrize("name", sorted(available_attacks()))
def test_bad_inputs_get_clear_errors(name):
    if name == "torchattacks":
        pytest.importorskip("torchattacks")
    attack = get_attack(name, **FAST.get(name, {}))
    model, x, goal = _inputs()
    with pytest.raises(InputError, match="outside"):
        attack(model, x * 2, goal, LinfBall(0.1))
    with pytest.raises(InputError, match="eps must be > 0"):
        attack(model, x, goal, LinfBall(0.0))
    wrong = AttackGoal.random(6, 4, size=1, seed=0)
    with pytest.raises(InputError, match="the model outputs 5"):
        attack(model, x, wrong, LinfBall(0.1))
    with pytest.raises(InputError, match="one target row per image"):
        attack(model, x[:2], goal, LinfBall(0.1))


def test_unknown_attack_and_bad_setting():
    with pytest.raises(InputError, match="Unknown attack 'nope'"):
        get_attack("nope")
    with pytest.raises(InputError, match="Bad settings"):
        get_attack("mla-u", stepz=3)


def test_entry_point_plugin_is_listed(tmp_path, monkeypatch, caplog):
    from tests.attacks.plugins import PluginAttack
    from tests.plugins import install_entry_points

    install_entry_points(
        tmp_path,
        monkeypatch,
        {
            "mlrobust.attacks": {
                "plugin-attack": "tests.attacks.plugins:PluginAttack",
                "not-an-attack": "tests.attacks.plugins:NotAnAttack",
                "broken": "tests.attacks.no_such_module:Nothing",
                "mla-u": "tests.attacks.plugins:PluginAttack",  # a built-in name: the built-in wins
            }
        },
    )
    found = available_attacks()
    assert found["plugin-attack"] is PluginAttack
    assert isinstance(get_attack("plugin-attack", steps=2), PluginAttack)
    assert found["mla-u"] is not PluginAttack
    assert "not-an-attack" not in found and "broken" not in found
    assert (
        "not a Attack subclass" in caplog.text and "could not load plugin 'broken'" in caplog.text
    )
