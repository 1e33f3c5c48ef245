"""Synthesis of maximal certified layered neighbourhoods (paper 000): attacks falsify, the
verifier certifies. See docs/layered.md.

>>> import torch
>>> from mlrobust.synthesis import layer_map, LayeredBox
>>> mask = torch.zeros(4, 4, dtype=torch.bool); mask[0, 0] = True
>>> box = LayeredBox(torch.tensor([0.1, 0.05, 0.0, 0.0]), layer_map(mask))
>>> box.radius(1).shape
torch.Size([1, 4, 4])
"""

from mlrobust.synthesis.layers import LayeredBox, layer_map, layer_means, layer_sizes, layer_sums
from mlrobust.synthesis.oracle import (
    ALL_STAGES,
    CallCounts,
    Check,
    OracleConfig,
    Problem,
    Stage,
    check,
    crown_bound,
    make_problem,
    spec_value,
    weakest_point,
)
from mlrobust.synthesis.result import LayeredResult
from mlrobust.synthesis.search import (
    CuttingWeights,
    LayerWeights,
    SynthesisConfig,
    cutting_weights,
    fixed_cutting_weights,
    guided_synthesis,
    layer_weights,
    naive_synthesis,
    sensitivity_cutting_weights,
)

__all__ = [
    "ALL_STAGES",
    "CallCounts",
    "Check",
    "CuttingWeights",
    "LayerWeights",
    "LayeredBox",
    "LayeredResult",
    "OracleConfig",
    "Problem",
    "Stage",
    "SynthesisConfig",
    "check",
    "crown_bound",
    "cutting_weights",
    "fixed_cutting_weights",
    "guided_synthesis",
    "layer_map",
    "layer_means",
    "layer_sizes",
    "layer_sums",
    "layer_weights",
    "make_problem",
    "naive_synthesis",
    "sensitivity_cutting_weights",
    "spec_value",
    "weakest_point",
]
