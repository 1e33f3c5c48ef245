"""Loading the model under evaluation: a checkpoint (torch) or an ONNX file (run through the
verifier's IR, which is a differentiable torch module, so the attacks work on it too)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from mlrobust.errors import InputError
from mlrobust.rules import DecisionRule
from mlrobust.verify.ir import Network
from mlrobust.verify.oracle import OnnxOracle, TorchOracle


@dataclass(frozen=True)
class LoadedModel:
    """A model with what the evaluation needs: ``module`` (eval mode), its rule, label names
    (``None`` for ONNX: the dataset's are used) and the verifier's view (IR + real-model oracle).
    """

    ref: str
    module: nn.Module
    rule: DecisionRule
    label_names: tuple[str, ...] | None
    input_shape: tuple[int, int, int]
    net: Network
    oracle: Any  # an mlrobust.verify.oracle.Oracle (TorchOracle's read-only dtype trips mypy)


def load_model(
    ref: str, rule: DecisionRule | None, input_shape: tuple[int, int, int]
) -> LoadedModel:
    """``ref``: shipped name, checkpoint path or ``.onnx``; ``input_shape``: the dataset's."""
    from mlrobust.verify.from_onnx import from_onnx
    from mlrobust.verify.from_torch import from_torch

    if ref.endswith(".onnx"):
        if rule is None:
            raise InputError(
                f"{ref}: an ONNX model carries no decision rule; set `rule` "
                '(e.g. --rule topk:2 or rule = "threshold:0.5").'
            )
        if not Path(ref).is_file():
            raise InputError(f"ONNX model not found: {ref}.")
        net = from_onnx(ref)
        c, h, w = input_shape
        if net.input_size != c * h * w:
            raise InputError(
                f"{ref} takes {net.input_size} inputs but the dataset's images have "
                f"{c}x{h}x{w} = {c * h * w}; pick the matching dataset."
            )
        return LoadedModel(
            ref, net.as_module().eval(), rule, None, input_shape, net, OnnxOracle(ref)
        )
    from mlrobust.models import resolve_model

    module, info = resolve_model(ref)
    if tuple(info.input_shape) != tuple(input_shape):
        raise InputError(
            f"{ref} takes images of shape {tuple(info.input_shape)} but the dataset's "
            f"are {tuple(input_shape)}; pick the matching dataset."
        )
    return LoadedModel(
        ref,
        module.eval(),
        rule or info.decision_rule,
        tuple(info.label_names),
        tuple(info.input_shape),  # type: ignore[arg-type]
        from_torch(module, tuple(info.input_shape)),
        TorchOracle(module, tuple(info.input_shape)),
    )


def model_from_module(
    ref: str,
    module: nn.Module,
    rule: DecisionRule,
    input_shape: tuple[int, int, int],
    label_names: tuple[str, ...] | None = None,
) -> LoadedModel:
    """Wrap an in-memory torch model (tests, notebooks)."""
    from mlrobust.verify.from_torch import from_torch

    return LoadedModel(
        ref,
        module.eval(),
        rule,
        label_names,
        input_shape,
        from_torch(module, input_shape),
        TorchOracle(module, input_shape),
    )
