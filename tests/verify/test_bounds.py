from __future__ import annotations

import pytest
import torch
from torch import nn

from mlrobust.errors import InputError
from mlrobust.verify.bounds import crown, crown_bounds, interval_bounds
from mlrobust.verify.from_torch import from_torch
from mlrobust.verify.ir import DTYPE, chain
from mlrobust.verify.ops import Linear, ReLU
from tests.verify.helpers import random_convnet, random_mlp


def test_linear_model_bounds_are_exact() -> None:
    w = torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]], dtype=DTYPE)
    b = torch.tensor([0.25, -1.0], dtype=DTYPE)
    double = Linear(torch.eye(2, dtype=DTYPE) * 2, torch.zeros(2, dtype=DTYPE))
    net = chain([Linear(w, b), double], (3,))
    lo = torch.tensor([0.0, -1.0, 0.5], dtype=DTYPE)
    hi = torch.tensor([1.0, 1.0, 2.0], dtype=DTYPE)
    # closed form: min/max of 2 (w x + b) over the box
    w2, b2 = 2 * w, 2 * b
    exact_lo = w2.clamp_min(0) @ lo + w2.clamp_max(0) @ hi + b2
    exact_hi = w2.clamp_min(0) @ hi + w2.clamp_max(0) @ lo + b2
    ib = interval_bounds(net, lo, hi)
    assert torch.allclose(ib.lower[-1], exact_lo) and torch.allclose(ib.upper[-1], exact_hi)
    c = torch.tensor([[1.0, 1.0]], dtype=DTYPE)
    cl, cu = crown(net, ib, c)
    wc = c @ w2
    assert torch.isclose(cl[0], (wc.clamp_min(0) @ lo + wc.clamp_max(0) @ hi + c @ b2)[0])
    assert torch.isclose(cu[0], (wc.clamp_min(0) @ hi + wc.clamp_max(0) @ lo + c @ b2)[0])


@pytest.mark.parametrize("seed", range(5))
def test_bounds_contain_sampled_activations(seed: int) -> None:
    torch.manual_seed(seed)
    for model, shape in (
        (random_mlp([6, 12, 12, 4], seed), (6,)),
        (random_convnet(seed), (1, 6, 6)),
    ):
        net = from_torch(model, shape)
        x = torch.rand(net.input_size, dtype=DTYPE)
        lo, hi = (x - 0.2).clamp(0, 1), (x + 0.2).clamp(0, 1)
        ib, cb = interval_bounds(net, lo, hi), crown_bounds(net, lo, hi)
        xs = lo + (hi - lo) * torch.rand(3000, net.input_size, dtype=DTYPE)
        xs[:8] = torch.where(torch.rand(8, net.input_size) < 0.5, lo, hi)  # corners
        for k in range(1, len(net.nodes)):
            h = net.forward(xs, upto=k)
            for bnd in (ib, cb):
                assert (h >= bnd.lower[k] - 1e-9).all() and (h <= bnd.upper[k] + 1e-9).all()
            assert (cb.upper[k] - cb.lower[k] <= ib.upper[k] - ib.lower[k] + 1e-12).all()


def test_empty_box_and_size_mismatch() -> None:
    net = from_torch(random_mlp([3, 4, 2], 0), (3,))
    with pytest.raises(InputError, match="Empty input box"):
        interval_bounds(net, torch.ones(3), torch.zeros(3))
    with pytest.raises(InputError, match="network takes 3"):
        interval_bounds(net, torch.zeros(4), torch.ones(4))


def _two_conv_cnn(seed: int) -> torch.nn.Sequential:
    """Shaped like the shipped CNN (conv-relu-conv-relu-pool-fc-relu-fc), small."""
    torch.manual_seed(seed)
    nn = torch.nn
    return (
        nn.Sequential(
            nn.Conv2d(1, 3, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(3, 4, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(4 * 4 * 4, 10),
            nn.ReLU(),
            nn.Linear(10, 5),
        )
        .double()
        .eval()
    )


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("alpha_steps", [0, 5])
def test_selective_crown_equals_full_crown_on_a_small_cnn(seed: int, alpha_steps: int) -> None:
    net = from_torch(_two_conv_cnn(seed), (1, 8, 8))
    x = torch.rand(net.input_size, dtype=DTYPE, generator=torch.Generator().manual_seed(seed))
    lo, hi = (x - 0.1).clamp(0, 1), (x + 0.1).clamp(0, 1)
    full = crown_bounds(net, lo, hi, alpha_steps, selective=False)
    sel = crown_bounds(net, lo, hi, alpha_steps, selective=True)
    skipped = 0
    for i in range(1, len(net.nodes)):
        layer = net.nodes[i].op
        feeds_relu = any(isinstance(net.nodes[j].op, ReLU) for j in net.consumers[i])
        # stably-off pre-activations (no later layer reads their bounds) may stay looser
        dead = (sel.upper[i] <= 0) if feeds_relu else torch.zeros_like(sel.upper[i], dtype=bool)
        assert ((full.upper[i] <= 0) | ~dead).all()
        skipped += int(dead.sum()) if isinstance(layer, Linear) and i > 1 else 0
        live = ~dead
        assert torch.allclose(sel.lower[i][live], full.lower[i][live], atol=1e-9, rtol=0)
        assert torch.allclose(sel.upper[i][live], full.upper[i][live], atol=1e-9, rtol=0)
        # and never looser than interval arithmetic where skipped
        assert (sel.lower[i] <= full.lower[i] + 1e-9).all()
    assert skipped > 0, "the test should exercise skipped rows"


def test_zero_width_box_gives_ordered_bounds_and_an_encodable_milp() -> None:
    # a zero-width box makes CROWN and interval bounds equal up to rounding: they must not cross
    from mlrobust.verify.milp import encode

    for seed in range(6):
        net = from_torch(_two_conv_cnn(seed), (1, 8, 8))
        x = torch.rand(net.input_size, dtype=DTYPE, generator=torch.Generator().manual_seed(seed))
        b = crown_bounds(net, x, x.clone())
        for lo, hi in zip(b.lower, b.upper, strict=True):
            assert (lo <= hi).all()
        encode(net, b)  # raised on an empty max-pool candidate set before


@pytest.mark.parametrize("seed", range(4))
def test_sigmoid_lines_enclose_the_function(seed: int) -> None:
    from mlrobust.verify.ops import sigmoid_lines

    gen = torch.Generator().manual_seed(seed)
    lo = torch.randn(500, dtype=torch.float64, generator=gen) * 4
    hi = lo + torch.rand(500, dtype=torch.float64, generator=gen) ** 3 * 8  # some very thin
    kl, bl, ku, bu = sigmoid_lines(lo, hi)
    t = torch.linspace(0, 1, 201, dtype=torch.float64)
    x = lo[:, None] + t[None, :] * (hi - lo)[:, None]
    y = torch.sigmoid(x)
    assert (kl[:, None] * x + bl[:, None] <= y).all()
    assert (ku[:, None] * x + bu[:, None] >= y).all()


@pytest.mark.parametrize("seed", range(3))
def test_crown_on_a_sigmoid_net_encloses_sampled_outputs(seed: int) -> None:
    torch.manual_seed(seed)
    model = (
        nn.Sequential(
            nn.Linear(5, 12), nn.Sigmoid(), nn.Linear(12, 8), nn.Sigmoid(), nn.Linear(8, 3)
        )
        .double()
        .eval()
    )
    net = from_torch(model, (5,))
    x = torch.rand(5, dtype=torch.float64)
    lo, hi = x - 0.3, x + 0.3
    bounds = crown_bounds(net, lo, hi)
    inter = interval_bounds(net, lo, hi)
    pts = lo + torch.rand(4000, 5, dtype=torch.float64) * (hi - lo)
    with torch.no_grad():
        y = model(pts)
    assert (y >= bounds.lower[-1] - 1e-9).all() and (y <= bounds.upper[-1] + 1e-9).all()
    # CROWN is at least as tight as intervals (refine_from keeps the tighter of the two)
    assert (bounds.upper[-1] - bounds.lower[-1] <= inter.upper[-1] - inter.lower[-1] + 1e-12).all()
    assert (bounds.upper[-1] - bounds.lower[-1] < inter.upper[-1] - inter.lower[-1] - 1e-6).any()


@pytest.mark.parametrize("seed", range(4))
def test_sparse_crown_equals_dense_crown(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The coefficients travel sparse behind convolutions (residual additions and
    concatenations included) and go dense where they fill up: same bounds either way."""
    from mlrobust.verify import bounds as bounds_module
    from tests.verify.test_graph import SHAPE, residual_cnn

    model, shape = (_two_conv_cnn(seed), (1, 8, 8)) if seed % 2 else (residual_cnn(seed), SHAPE)
    net = from_torch(model, shape)
    x = torch.rand(net.input_size, dtype=DTYPE, generator=torch.Generator().manual_seed(seed))
    ib = interval_bounds(net, (x - 0.1).clamp(0, 1), (x + 0.1).clamp(0, 1))
    steps = {2.0: 0, 0.05: 0, -1.0: 0}  # sparse ReLU steps per density limit
    density = 2.0
    csr_step = ReLU.backward_csr

    def counted(op: ReLU, a: object, ins: object) -> object:
        steps[density] += 1
        return csr_step(op, a, ins)  # type: ignore[arg-type]

    monkeypatch.setattr(ReLU, "backward_csr", counted)
    for k in range(2, len(net.nodes)):
        c = torch.eye(net.nodes[k].size, dtype=DTYPE)
        results = []
        # 2.0: sparse all the way; 0.05: dense once 5% of the entries are nonzero; -1: dense
        for density in steps:
            monkeypatch.setattr(bounds_module, "SPARSE_MAX_DENSITY", density)
            results.append(crown(net, ib, c, upto=k))
        for lo, hi in results[1:]:
            assert torch.allclose(lo, results[0][0], atol=1e-10, rtol=0)
            assert torch.allclose(hi, results[0][1], atol=1e-10, rtol=0)
    # each path was taken: all sparse, sparse then dense, all dense
    assert steps[2.0] > steps[0.05] > 0 and steps[-1.0] == 0


def test_relu_sparse_step_matches_the_dense_one_and_leaves_its_input_alone() -> None:
    import numpy as np
    import scipy.sparse as sp

    a = sp.csr_matrix(np.array([[1.0, -2.0, 0.5, 0.0], [0.0, 3.0, -1.0, -4.0]]))
    kept = (a.data.copy(), a.indices.copy(), a.indptr.copy())
    # stably off, unstable, unstable, stably on
    lo = torch.tensor([-1.0, -1.0, -2.0, 0.5], dtype=DTYPE)
    hi = torch.tensor([-0.5, 2.0, 1.0, 3.0], dtype=DTYPE)
    (out,), const = ReLU().backward_csr(a, [(lo, hi)])  # type: ignore[misc]
    (dense,), dense_const = ReLU().backward(torch.from_numpy(a.toarray()), [(lo, hi)])
    assert np.allclose(out.toarray(), dense.numpy()) and np.allclose(const, dense_const.numpy())
    # dropped: the stably-off column's entry and 0.5 on column 2 (lower slope 0: |lo| > hi)
    assert out.nnz == 4
    now = (a.data, a.indices, a.indptr)
    assert all(np.array_equal(x, y) for x, y in zip(kept, now, strict=True))
