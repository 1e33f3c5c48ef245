"""Loading the model under evaluation: a checkpoint, an ONNX file (run through the verifier's
IR, which is a differentiable torch module, so the attacks work on it too), a ``torch.export``
program or a model factory of the user's own (:mod:`mlrobust.models.user`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mlrobust.errors import InputError, UnsupportedLayerError
from mlrobust.rules import DecisionRule
from mlrobust.verify.ir import Network
from mlrobust.verify.oracle import OnnxOracle, TorchOracle

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """A model with what the evaluation needs: ``module`` (eval mode), its rule, label names
    (``None`` without metadata: the dataset's are used) and the verifier's view (IR + real-model
    oracle). ``net`` is ``None`` when the verifier cannot encode the model; ``not_verifiable``
    then says why, and the model is still attacked."""

    ref: str
    module: nn.Module
    rule: DecisionRule
    label_names: tuple[str, ...] | None
    input_shape: tuple[int, int, int]
    net: Network | None
    oracle: Any  # an mlrobust.verify.oracle.Oracle (TorchOracle's read-only dtype trips mypy)
    num_labels: int
    not_verifiable: str = ""


def load_model(
    ref: str, rule: DecisionRule | None, input_shape: tuple[int, int, int]
) -> LoadedModel:
    """``ref``: shipped name, checkpoint path, ``.onnx``, ``.pt2`` (``torch.export``) or a
    factory ``package.module:function[@weights]``; ``input_shape``: the dataset's."""
    from mlrobust.models.user import is_factory_ref, load_factory, load_program
    from mlrobust.verify.from_onnx import from_onnx
    from mlrobust.verify.from_torch import from_exported, from_torch

    if (ref.endswith((".onnx", ".pt2")) or is_factory_ref(ref)) and rule is None:
        raise InputError(
            f"{ref}: this model carries no decision rule; set `rule` "
            '(e.g. --rule topk:2 or rule = "threshold:0.5").'
        )
    if ref.endswith(".onnx"):
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
            ref,
            net.as_module().eval(),
            rule,  # type: ignore[arg-type]
            None,
            input_shape,
            net,
            OnnxOracle(ref),
            net.n_outputs,
        )
    if ref.endswith(".pt2"):
        program = load_program(ref)
        return _user_model(
            ref,
            _Program(program),
            rule,
            input_shape,
            lambda: from_exported(program, input_shape),
        )
    if is_factory_ref(ref):
        module = load_factory(ref)
        return _user_model(ref, module, rule, input_shape, lambda: from_torch(module, input_shape))
    from mlrobust.models import resolve_model

    module, info = resolve_model(ref)
    if tuple(info.input_shape) != tuple(input_shape):
        raise InputError(
            f"{ref} takes images of shape {tuple(info.input_shape)} but the dataset's "
            f"are {tuple(input_shape)}; pick the matching dataset."
        )
    net = from_torch(module, tuple(info.input_shape))
    return LoadedModel(
        ref,
        module.eval(),
        rule or info.decision_rule,
        tuple(info.label_names),
        tuple(info.input_shape),  # type: ignore[arg-type]
        net,
        TorchOracle(module, tuple(info.input_shape)),
        net.n_outputs,
    )


def declared_shape(ref: str) -> tuple[int, int, int] | None:
    """The input ``(C, H, W)`` a shipped model or checkpoint declares (datasets in other sizes
    are resized to it), or None for models that declare none (ONNX, ``.pt2``, factories)."""
    from mlrobust.models.user import is_factory_ref

    if ref.endswith((".onnx", ".pt2")) or is_factory_ref(ref):
        return None
    from mlrobust.models.checkpoint import model_info

    info = model_info(ref)  # the metadata only: the weights are loaded once, by load_model
    return None if info is None else tuple(info.input_shape)  # type: ignore[return-value]


def common_shape(refs: Any) -> tuple[int, int, int] | None:
    """The one input shape the models ``refs`` declare (None if none declares one); models
    that declare different shapes cannot share one dataset, which is an error."""
    shapes = {s for s in (declared_shape(r) for r in refs) if s is not None}
    if len(shapes) > 1:
        raise InputError(
            f"The models take images of different shapes {sorted(shapes)}; evaluate them in "
            "separate runs (each run resizes the dataset once, to its models' shape)."
        )
    return next(iter(shapes), None)


def graph_for(source: str, model: LoadedModel, data: Any) -> str:
    """The label graph used with ``model``: ``source`` as given (a prebuilt name or a file),
    none for ``"none"``, and for ``""`` the prebuilt graph the model's labels fit
    (:func:`~mlrobust.graphs.prebuilt.matching_prebuilt`), if any."""
    if source == "none":
        return ""
    if source:
        return source
    from mlrobust.graphs.prebuilt import matching_prebuilt

    found = matching_prebuilt(model.label_names, tuple(data.label_names), model.num_labels)
    if found:
        log.info("label graph: prebuilt %r (it fits the model's labels)", found)
    return found or ""


def dataset_for(model: LoadedModel, data: Any, dataset: str, graph: Any = None) -> Any:
    """``data`` in the model's labels: matched by name where the model has names (a subset is
    fine, unknown labels are listed), else the label counts must agree. With a label ``graph``
    (a :class:`~mlrobust.graphs.LabelGraph`) over more labels than the dataset's, the dataset's
    labels are first extended to its ancestors. ``dataset``: its name, for the message. Every
    command that pairs a model with a dataset goes through here."""
    from mlrobust.datasets import align_labels, with_ancestors

    if graph is not None and tuple(data.label_names) != tuple(graph.labels):
        data = with_ancestors(data, graph)

    if model.label_names:
        if model.num_labels != len(model.label_names):
            raise InputError(
                f"The model {model.ref} has {model.num_labels} outputs but names "
                f"{len(model.label_names)} labels; fix its metadata."
            )
        return align_labels(data, model.label_names)
    if model.num_labels != data.num_labels:
        raise InputError(
            f"The model {model.ref} predicts {model.num_labels} labels but the dataset {dataset!r} "
            f"has {data.num_labels}; pass a dataset (and graph) matching the model's labels."
        )
    return data


def model_from_module(
    ref: str,
    module: nn.Module,
    rule: DecisionRule,
    input_shape: tuple[int, int, int],
    label_names: tuple[str, ...] | None = None,
) -> LoadedModel:
    """Wrap an in-memory torch model (the Python API, tests, notebooks)."""
    from mlrobust.verify.from_torch import from_torch

    return _user_model(
        ref, module, rule, input_shape, lambda: from_torch(module, input_shape), label_names
    )


def _user_model(
    ref: str,
    module: nn.Module,
    rule: DecisionRule | None,
    input_shape: tuple[int, int, int],
    lower: Callable[[], Network],
    label_names: tuple[str, ...] | None = None,
) -> LoadedModel:
    """A model without our metadata: its output size comes from one forward pass, and an
    operator the verifier cannot encode leaves it attack-only (``not_verifiable`` says why)."""
    assert rule is not None
    module = module.eval()
    try:
        with torch.no_grad():
            out = module(torch.zeros(1, *input_shape))
    except Exception as exc:  # the user's model rejects the dataset's shape: name both
        raise InputError(
            f"{ref} cannot run on the dataset's images of shape {tuple(input_shape)}: "
            f"{str(exc).splitlines()[0][:300]}"
        ) from exc
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != 1:
        raise InputError(
            f"{ref} must return logits [N, L] for images [N, C, H, W]; it returned "
            f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}."
        )
    net: Network | None = None
    reason = ""
    try:
        net = lower()
    except UnsupportedLayerError as exc:
        reason = f"not verifiable: {exc}"
        log.warning("%s: %s; it is attacked only (verifier verdicts UNKNOWN)", ref, reason)
    return LoadedModel(
        ref,
        module,
        rule,
        label_names,
        input_shape,
        net,
        TorchOracle(module, input_shape),
        int(out.shape[1]),
        reason,
    )


class _Program(nn.Module):
    """An exported program as a module. It has no train/eval switch (torch.export fixed its mode
    at export time), and a program exported with a fixed batch size (the usual
    ``torch.export.export(model, (one_image,))``) is run in chunks of that size."""

    def __init__(self, program: Any) -> None:
        super().__init__()
        self.program = program.module()
        users = [
            n
            for n in program.graph.nodes
            if n.op == "placeholder" and n.name in program.graph_signature.user_inputs
        ]
        batch = users[0].meta["val"].shape[0] if len(users) == 1 else None
        self.batch = batch if isinstance(batch, int) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.batch is None or x.shape[0] == self.batch:
            return self.program(x)  # type: ignore[no-any-return]
        if x.shape[0] % self.batch:
            raise InputError(
                f"this .pt2 program was exported for batches of {self.batch}; export it with a "
                "batch of 1 or a dynamic batch dimension."
            )
        return torch.cat([self.program(c) for c in x.split(self.batch)])

    def train(self, mode: bool = True) -> _Program:
        self.training = mode
        return self
