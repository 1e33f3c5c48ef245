"""alpha-CROWN soundness/tightness, the PGD falsifier, and the exact rule test at ties."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from mlrobust.rules import Threshold, TopK
from mlrobust.threats import LinfBall
from mlrobust.verdicts import Verdict
from mlrobust.verify.api import certify_labels, verify_topk
from mlrobust.verify.attack import AttackConfig, pgd_candidates
from mlrobust.verify.bab import bound_corners
from mlrobust.verify.bounds import alpha_crown, crown, crown_bounds
from mlrobust.verify.from_torch import from_torch
from mlrobust.verify.ir import DTYPE, Network
from mlrobust.verify.spec import Clause, top1_spec
from tests.verify.helpers import random_convnet, random_mlp


@pytest.mark.parametrize("seed", range(4))
def test_alpha_crown_contains_samples_and_is_no_looser(seed: int) -> None:
    torch.manual_seed(seed)
    for model, shape in (
        (random_mlp([6, 16, 16, 4], seed), (6,)),
        (random_convnet(seed), (1, 6, 6)),
    ):
        net = from_torch(model, shape)
        x = torch.rand(net.input_size, dtype=DTYPE)
        lo, hi = (x - 0.3).clamp(0, 1), (x + 0.3).clamp(0, 1)
        b = crown_bounds(net, lo, hi)
        ba = crown_bounds(net, lo, hi, alpha_steps=15)
        c = torch.randn(5, net.n_outputs, dtype=DTYPE)
        cl, cu = crown(net, b, c)
        al, au = alpha_crown(net, b, c, steps=15)
        assert (al >= cl - 1e-12).all() and (au <= cu + 1e-12).all()
        xs = lo + (hi - lo) * torch.rand(4000, net.input_size, dtype=DTYPE)
        xs[:16] = torch.where(torch.rand(16, net.input_size) < 0.5, lo, hi)
        for k in range(1, len(net.nodes)):
            h = net.forward(xs, upto=k)
            assert (h >= ba.lower[k] - 1e-9).all() and (h <= ba.upper[k] + 1e-9).all()
        v = net.forward(xs) @ c.t()
        assert (v >= al - 1e-9).all() and (v <= au + 1e-9).all()


def test_alpha_crown_strictly_tighter_somewhere() -> None:
    net = from_torch(random_mlp([8, 32, 32, 3], 3), (8,))
    x = torch.full((8,), 0.5, dtype=DTYPE)
    b = crown_bounds(net, x - 0.4, x + 0.4)
    c = torch.eye(3, dtype=DTYPE)
    gap_c = crown(net, b, c)[1] - crown(net, b, c)[0]
    gap_a = alpha_crown(net, b, c, steps=30)[1] - alpha_crown(net, b, c, steps=30)[0]
    assert (gap_a < gap_c - 1e-6).any()


def _difference_net() -> Network:
    """y0 = x0 - x1 + 0.3, y1 = 0 on [0, 1]^2: label 0 loses (y1 >= y0) only near the corner
    x0 = 0, x1 = 1."""
    lin = nn.Linear(2, 2).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, -1.0], [0.0, 0.0]]))
        lin.bias.copy_(torch.tensor([0.3, 0.0]))
    return from_torch(nn.Sequential(lin), (2,))


def test_pgd_finds_known_counterexample() -> None:
    net = _difference_net()
    lo, hi = torch.zeros(2, dtype=DTYPE), torch.ones(2, dtype=DTYPE)
    cand = pgd_candidates(net, lo, hi, top1_spec(0, 2), AttackConfig(steps=20, restarts=2))
    y = net.forward(cand[:1])
    assert float(y[0, 1] - y[0, 0]) >= 0


def test_pgd_from_given_starts_begins_at_them() -> None:
    # a start already in the violated corner is the first candidate
    net = _difference_net()
    lo, hi = torch.zeros(2, dtype=DTYPE), torch.ones(2, dtype=DTYPE)
    starts = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=DTYPE)
    cand = pgd_candidates(net, lo, hi, top1_spec(0, 2), AttackConfig(steps=20), starts)
    assert torch.equal(cand[0], starts[1])


@pytest.mark.parametrize("seed", range(3))
def test_bound_corners_maximise_each_form_where_the_relaxation_is_exact(seed: int) -> None:
    # every hidden ReLU active over the box: the net is affine there, CROWN is exact, and the
    # corner that minimises the bound of -(c y + d) is where the form c y + d is largest
    model = random_mlp([3, 5, 4], seed)
    with torch.no_grad():
        model[1].bias.add_(10.0)
    net = from_torch(model, (3,))
    lo, hi = torch.zeros(3, dtype=DTYPE), torch.ones(3, dtype=DTYPE)
    gen = torch.Generator().manual_seed(seed)
    clause = Clause(torch.randn(3, 4, generator=gen, dtype=DTYPE), torch.zeros(3, dtype=DTYPE), 1)
    corners = bound_corners(net, crown_bounds(net, lo, hi), clause)
    vertices = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3)), dtype=DTYPE)
    forms = net.forward(vertices) @ clause.c.T + clause.d  # [8 vertices, 3 forms]
    at_corners = (net.forward(corners) * clause.c).sum(1) + clause.d
    assert corners.shape == (3, 3)
    assert torch.allclose(at_corners, forms.max(0).values, atol=1e-9)


def _tie_model(bias: float) -> nn.Sequential:
    """One logit equal to ``bias`` whatever the input (weights zero)."""
    lin = nn.Linear(4, 2)
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.copy_(torch.tensor([bias, -5.0]))
    return nn.Sequential(nn.Flatten(), lin).eval()


def test_threshold_tie_is_not_a_counterexample() -> None:
    # logit exactly at logit(0.5) = 0: the rule says ON everywhere, so no flip can exist;
    # the margin keeps it from VERIFIED, but it must never be FALSIFIED
    cert = certify_labels(
        _tie_model(0.0),
        torch.full((1, 1, 2, 2), 0.5),
        LinfBall(0.1),
        Threshold(0.5),
        time_limit_s=10,
    )
    assert bool(cert.clean[0, 0])
    assert cert.verdicts[0][0] != Verdict.FALSIFIED
    assert cert.verdicts[0][1] == Verdict.VERIFIED


def test_topk_tie_to_lower_index_is_not_a_counterexample() -> None:
    # logits (0, 0): top-1 is label 0 by the tie rule everywhere
    lin = nn.Linear(4, 2)
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.zero_()
    model = nn.Sequential(nn.Flatten(), lin).eval()
    x = torch.full((1, 1, 2, 2), 0.5)
    res = verify_topk(model, x, LinfBall(0.1), target_label=0, k=1, time_limit_s=10)
    assert res.verdict != Verdict.FALSIFIED
    cert = certify_labels(model, x, LinfBall(0.1), TopK(1), time_limit_s=10)
    assert [v != Verdict.FALSIFIED for v in cert.verdicts[0]] == [True, True]
