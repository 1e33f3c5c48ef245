"""The stronger falsifier for cells left UNKNOWN: restarts find what the cheap pass misses,
its witnesses pass the runner's re-check, and without restarts nothing changes."""

from __future__ import annotations

import torch
from torch import nn

from mlrobust.evaluate.models import model_from_module
from mlrobust.evaluate.tasks import CellTask, _hard_falsify, property_specs
from mlrobust.rules import Threshold
from mlrobust.verify.milp import Tightening


class _FlatStart(nn.Module):
    """Label 0's logit ``10 relu(x - 0.5) - 1`` is flat at x = 0.45 (no gradient from the
    clean point); label 1 is constant ON."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = x.flatten(1)[:, :1]
        return torch.cat([10 * torch.relu(p - 0.5) - 1, torch.ones_like(p)], dim=1)


def _task(restarts: int) -> CellTask:
    return CellTask(
        model_ref="flat",
        rule=Threshold(0.5),
        input_shape=(1, 1, 1),
        image=0,
        eps=0.2,
        x=torch.full((1, 1, 1), 0.45),
        falsifier="mla-u",
        steps=15,
        verifier="milp",
        timeout_s=1.0,
        tightening=Tightening.INTERVAL,
        seed=0,
        verify_falsified=False,
        restarts=restarts,
    )


def test_restarts_falsify_a_cell_the_cheap_pass_cannot() -> None:
    model = model_from_module("flat", _FlatStart(), Threshold(0.5), (1, 1, 1))
    x = torch.full((1, 1, 1, 1), 0.45)
    clean = model.rule.predict(model.module(x))[0]
    assert clean.tolist() == [False, True]
    prop = property_specs(model.rule, clean)[0]  # label 0 stays OFF
    label = prop[0]
    targets = torch.tensor([[label == 0, label == 1]])
    flipped, values = _hard_falsify(_task(0), model, x, targets, [prop], clean)
    assert flipped == [False] and values[0] < 0  # one run from the flat point: stuck
    flipped, values = _hard_falsify(_task(8), model, x, targets, [prop], clean)
    assert flipped == [True] and values[0] >= 0
