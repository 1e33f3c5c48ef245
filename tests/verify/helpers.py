"""Small random networks and the reference configuration shared by the verify tests."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mlrobust.verify.from_torch import from_torch
from mlrobust.verify.ir import DTYPE
from mlrobust.verify.oracle import recheck
from mlrobust.verify.spec import topk_spec
from mlrobust.verify.verifier import VerifierConfig
from tests.conftest import NO_LIMIT_S

#: the exact MILP optimum of a clause, no branch and bound: the reference for the searches
EXACT = VerifierConfig(attack_steps=0, timeout_s=NO_LIMIT_S, exact_objective=True, bab=False)


def random_mlp(sizes: list[int], seed: int) -> nn.Sequential:
    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = [nn.Flatten()]
    for i in range(len(sizes) - 1):
        lin = nn.Linear(sizes[i], sizes[i + 1])
        with torch.no_grad():
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=gen) / np.sqrt(sizes[i]))
            lin.bias.copy_(torch.randn(lin.bias.shape, generator=gen) * 0.1)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers).double().eval()


def random_convnet(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return (
        nn.Sequential(
            nn.Conv2d(1, 2, 3, stride=1, padding=0),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(2 * 2 * 2, 6),
            nn.ReLU(),
            nn.Linear(6, 4),
        )
        .double()
        .eval()
    )


def bab_checker(lo, hi, spec, oracle):  # type: ignore[no-untyped-def]
    """Branch and bound's checker: re-check a candidate on the real model (the verifier's own
    re-check)."""
    return lambda z: recheck(z, lo.numpy(), hi.numpy(), spec, oracle)


def mlp_case(seed: int, radius: float):  # type: ignore[no-untyped-def]
    """A random 4-16-16-3 MLP, a box of ``radius`` around a random point, and the spec that its
    predicted class stays top-1."""
    model = random_mlp([4, 16, 16, 3], seed)
    net = from_torch(model, (4,))
    x = torch.rand(4, dtype=DTYPE, generator=torch.Generator().manual_seed(100 + seed))
    lo, hi = x - radius, x + radius
    with torch.no_grad():
        target = int(model(x[None]).argmax())
    return model, net, lo, hi, topk_spec(target, 1, 3)


def mlp_radius(seed: int) -> float:
    """The box radius of :func:`mlp_case` that the branch-and-bound tests use per seed."""
    return 0.3 + 0.05 * (seed % 4)
