"""Every registered attack (built-ins and entry-point plugins) obeys the Attack contract."""

import pytest
import torch

from mlrobust.attacks import AttackGoal, AttackResult, available_attacks, get_attack
from mlrobust.attacks.base import within_threat
from mlrobust.errors import InputError
from mlrobust.threats import L2Ball, LinfBall, PixelBox
from tests.attacks.helpers import tiny_cnn

# small settings keep the suite fast; attacks without an entry use their defaults
FAST = {
    "mla-u": {"steps": 30},
    "mla-c": {"steps": 30},
    "gmla": {"steps": 30},
    "torchattacks": {"steps": 10},
}


def _inputs():
    model = tiny_cnn(num_labels=5, seed=0)
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    goal = AttackGoal.random(6, 5, size=1, seed=0)
    return model, x, goal


THREATS = [LinfBall(0.3), L2Ball(1.5), PixelBox(torch.full((1, 8, 8), 0.3))]


@pytest.mark.parametrize("name", sorted(available_attacks()))
@pytest.mark.parametrize("threat", THREATS, ids=["linf", "l2", "pixelbox"])
def test_attack_contract(name, threat):
    if name == "torchattacks":
        pytest.importorskip("torchattacks")
    check_attack_contract(get_attack(name, **FAST.get(name, {})), threat)


def check_attack_contract(attack, threat):  # type: ignore[no-untyped-def]
    """The contract every attack (built-in or plugin) must meet on the tiny CNN."""
    if not isinstance(threat, attack.threats):
        with pytest.raises(InputError, match="supports threat models"):
            attack(*_inputs(), threat)
        return
    model, x, goal = _inputs()
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
    assert within_threat(threat, result.x_adv, x).all()
    assert (result.target_set | ~goal.targets).all(), "the attacked set contains Omega"
    # independent re-check of the claimed successes
    model.eval()
    with torch.no_grad():
        pred = goal.rule.predict(model(result.x_adv))
    desired = result.clean_pred ^ goal.targets
    ok = ((pred == desired) | ~goal.targets).all(dim=1)
    assert torch.equal(ok[result.success], torch.ones_like(ok[result.success]))
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
