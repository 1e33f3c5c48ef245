import pytest
import torch

from mlrobust.errors import InputError, SoundnessError
from mlrobust.threats import L2Ball, LinfBall, PixelBox
from mlrobust.verdicts import Verdict, combine


def test_linf_bounds_are_clipped_to_domain() -> None:
    x = torch.tensor([[[[0.0, 0.5, 1.0]]]])
    lo, hi = LinfBall(0.1).bounds(x)
    assert torch.allclose(lo, torch.tensor([[[[0.0, 0.4, 0.9]]]]))
    assert torch.allclose(hi, torch.tensor([[[[0.1, 0.6, 1.0]]]]))


def test_projections_land_inside() -> None:
    x = torch.rand(4, 1, 5, 5)
    far = torch.rand(4, 1, 5, 5) * 3 - 1
    p = LinfBall(0.05).project(far, x)
    assert ((p - x).abs() <= 0.05 + 1e-7).all() and p.min() >= 0 and p.max() <= 1
    q = L2Ball(0.3).project(far, x)
    assert ((q - x).flatten(1).norm(dim=1) <= 0.3 + 1e-6).all() and q.min() >= 0 and q.max() <= 1
    radius = torch.rand(1, 5, 5) * 0.2
    b = PixelBox(radius).project(far, x)
    assert ((b - x).abs() <= radius + 1e-7).all()


def test_bad_threats() -> None:
    with pytest.raises(InputError, match="eps"):
        LinfBall(-0.1)
    with pytest.raises(InputError):
        L2Ball(float("nan"))
    with pytest.raises(InputError, match="negative"):
        PixelBox(torch.tensor([-1.0]))
    with pytest.raises(InputError, match="fits neither"):
        PixelBox(torch.zeros(3, 3)).bounds(torch.zeros(2, 1, 4, 4))


def test_verified_and_falsified_is_a_soundness_error() -> None:
    assert combine(Verdict.UNKNOWN, Verdict.FALSIFIED) is Verdict.FALSIFIED
    assert combine(Verdict.VERIFIED, Verdict.UNKNOWN) is Verdict.VERIFIED
    with pytest.raises(SoundnessError):
        combine(Verdict.VERIFIED, Verdict.FALSIFIED, where="img 3, eps 0.1")
