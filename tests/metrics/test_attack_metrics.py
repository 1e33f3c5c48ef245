import math

import pytest
import torch

from mlrobust.errors import InputError
from mlrobust.metrics import (
    attack_success_rate,
    distortion,
    fooling_rate,
    mean_ssim,
    nontarget_flip_rate,
    semantic_fooling_rate,
)

T, F = True, False


def test_fooling_rates_by_hand():
    success = torch.tensor([T, T, F, T])
    consistent = torch.tensor([T, F, T, T])
    assert fooling_rate(success) == 0.75
    assert attack_success_rate(success) == 0.75
    assert semantic_fooling_rate(success, consistent) == 0.5  # samples 0 and 3
    assert math.isnan(fooling_rate(torch.zeros(0, dtype=torch.bool)))


def test_nontarget_flip_rate_by_hand():
    clean = torch.tensor([[T, F, F, T], [T, T, F, F], [F, F, F, F]])
    adv = torch.tensor([[F, T, F, T], [F, F, T, F], [T, T, T, T]])
    psi = torch.tensor([[T, F, F, F], [T, T, F, F], [T, F, F, F]])
    success = torch.tensor([T, T, F])
    # sample 0: rest {1,2,3}, label 1 changed -> 1/3; sample 1: rest {2,3}, label 2 -> 1/2
    assert nontarget_flip_rate(clean, adv, psi, success) == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert math.isnan(nontarget_flip_rate(clean, adv, psi, torch.tensor([F, F, F])))


def test_distortion_by_hand():
    x = torch.zeros(2, 1, 2, 2)
    x_adv = x.clone()
    x_adv[0, 0, 0, 0] = 0.3
    x_adv[0, 0, 1, 1] = -0.4 + 0.4  # unchanged
    x_adv[1] = 0.5  # a failed sample: ignored
    d = distortion(x, x_adv, torch.tensor([T, F]))
    assert d.l2 == pytest.approx(0.3)
    assert d.linf == pytest.approx(0.3)
    assert d.rmsd == pytest.approx(math.sqrt((0.3 * 255) ** 2 / 4))


def test_ssim_identical_is_one_and_noise_lowers_it():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 1, 16, 16, generator=gen)
    noisy = (x + 0.2 * torch.randn(x.shape, generator=gen)).clamp(0, 1)
    success = torch.tensor([T, T, F])
    assert mean_ssim(x, x, success) == pytest.approx(1.0, abs=1e-6)
    assert mean_ssim(x, noisy, success) < 0.9
    assert math.isnan(mean_ssim(x, noisy, torch.tensor([F, F, F])))


def test_shape_errors():
    with pytest.raises(InputError, match="bool vector"):
        fooling_rate(torch.tensor([1, 0]))
    with pytest.raises(InputError, match="one shape"):
        distortion(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 3), torch.tensor([T]))


def test_nt_r_excludes_psi_for_every_attack():
    """Eq. 13 excludes Psi for baselines too. animal -> {cat, dog}; clean: animal and cat ON;
    Omega = {cat} (turn off). Psi = {cat, animal}: a consistent prediction without cat has
    animal OFF too. A baseline that turns off cat and animal and leaves dog alone changed no
    label outside Psi: NT_R = 0 (measured outside Omega it read 1/2)."""
    from mlrobust.attacks import AttackResult
    from mlrobust.graphs.sources import from_edges
    from mlrobust.metrics import attack_row

    g = from_edges([("animal", "cat"), ("animal", "dog")])
    idx = {name: i for i, name in enumerate(g.labels)}

    def vec(*names: str) -> torch.Tensor:
        v = torch.zeros(1, len(g.labels), dtype=torch.bool)
        v[0, [idx[n] for n in names]] = True
        return v

    clean, adv, omega = vec("animal", "cat"), vec(), vec("cat")
    x = torch.rand(1, 1, 8, 8)
    result = AttackResult(
        x_adv=x,
        success=torch.tensor([True]),
        flips=clean ^ adv,
        target_set=omega,  # a baseline reports Omega
        clean_pred=clean,
        adv_pred=adv,
        iterations=torch.tensor([1]),
        seconds=0.0,
        goal_targets=omega,
    )
    assert attack_row(x, result, g)["NT_R"] == 0.0
    assert attack_row(x, result)["NT_R"] == 0.5  # no graph: Psi = Omega
    # a flip of dog (outside Psi) is charged: 1 of the 1 label outside {cat, animal}
    noisy = AttackResult(**{**result.__dict__, "adv_pred": vec("dog"), "flips": clean ^ vec("dog")})
    assert attack_row(x, noisy, g)["NT_R"] == 1.0
