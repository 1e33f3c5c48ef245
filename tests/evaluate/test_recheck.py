"""The runner's witness re-check (``tasks._recheck``, zero tolerance) and the verifier's
snap-into-the-box re-check (``oracle.snap_into_box`` / ``oracle.recheck``) on hand-made
points: outside the ball, not flipping, and ulp-level boundary points."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mlrobust.evaluate.models import model_from_module
from mlrobust.evaluate.tasks import _recheck
from mlrobust.rules import TopK
from mlrobust.verify import topk_spec
from mlrobust.verify.oracle import TorchOracle, recheck, snap_into_box


def _model():  # type: ignore[no-untyped-def]
    """Two labels over one pixel: y0 = 0.3 (constant), y1 = x. Top-1 flips to label 1 at
    x > 0.3 (ties go to the lower index, label 0)."""
    lin = nn.Linear(1, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.0], [1.0]]))
        lin.bias.copy_(torch.tensor([0.3, 0.0]))
    module = nn.Sequential(nn.Flatten(), lin).eval()
    return model_from_module("one-pixel", module, TopK(1), (1, 1, 1))


def test_runner_recheck_needs_inside_and_flipped() -> None:
    loaded = _model()
    x = torch.full((1, 1, 1, 1), 0.25)
    with torch.no_grad():
        clean = loaded.rule.predict(loaded.module(x))[0]
    assert clean.tolist() == [True, False]
    eps = 0.1
    hi = torch.tensor(0.25 + eps, dtype=torch.float32)  # the ball's edge in float32
    just_out = torch.nextafter(hi, torch.tensor(1.0))
    cases = {
        "inside, flips": (0.34, True),
        "on the edge, flips": (float(hi), True),
        "one ulp outside, flips": (float(just_out), False),
        "inside, no flip (tie to label 0)": (0.3, False),
        "inside, no flip": (0.2, False),
    }
    for name, (value, expected) in cases.items():
        x_adv = torch.full((1, 1, 1, 1), value)
        assert _recheck(loaded, x_adv, x, [0], clean, eps) == [expected], name


def test_snap_into_box_keeps_float32_points_inside_the_float64_box() -> None:
    f1 = np.float32(0.1)
    f2 = np.nextafter(f1, np.float32(1.0))  # the next float32 above
    # hi just past the midpoint: hi itself rounds up to f2, outside the box, and must be
    # nudged back to f1; the second coordinate is clipped from outside
    hi = np.array([(float(f1) + float(f2)) / 2 + 1e-12, 1.0])
    lo = np.array([float(f1) - 1e-9, 0.0])
    assert np.float32(hi[0]) == f2 and float(f2) > hi[0]
    snapped = snap_into_box(np.array([hi[0], 2.0]), lo, hi, np.dtype(np.float32))
    assert snapped is not None and snapped.dtype == np.float32
    assert snapped[0] == f1 and snapped[1] == np.float32(1.0)
    assert np.all(snapped.astype(np.float64) >= lo) and np.all(snapped.astype(np.float64) <= hi)
    # a box thinner than one float32 step that holds no float32: no point at all
    mid = (float(f1) + float(f2)) / 2
    assert (
        snap_into_box(
            np.array([mid]), np.array([mid - 1e-10]), np.array([mid + 1e-10]), np.dtype(np.float32)
        )
        is None
    )


def test_verifier_recheck_refuses_points_that_do_not_violate() -> None:
    module = _model().module
    oracle = TorchOracle(module, (1, 1, 1))
    spec = topk_spec(0, 1, 2)  # label 0 leaves the top-1: y1 >= y0
    lo, hi = np.array([0.2]), np.array([0.4])
    hit = recheck(np.array([0.35]), lo, hi, spec, oracle)
    assert hit is not None and 0.2 <= float(hit[0][0]) <= 0.4
    assert recheck(np.array([0.25]), lo, hi, spec, oracle) is None  # no violation there
    # a point outside the box is clipped first: 0.9 -> 0.4, which violates
    clipped = recheck(np.array([0.9]), lo, hi, spec, oracle)
    assert clipped is not None and float(clipped[0][0]) <= 0.4
