"""Checkpoints: safetensors weights plus a JSON metadata file. Loading never unpickles.

A checkpoint ``NAME`` is the pair ``NAME.safetensors`` and ``NAME.json``; any of the two paths
(or the bare stem) identifies it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from mlrobust.errors import CheckpointError, CorruptFileError, DataNotFoundError
from mlrobust.models.architectures import build_model
from mlrobust.rules import DecisionRule, parse_rule

FORMAT_VERSION = 1
#: the pretrained models in the package: paper 000's CNN with three defences, and a small ResNet
SHIPPED = ("double_mnist_none", "double_mnist_l0", "double_mnist_pgd", "double_mnist_resnet")


@dataclass(frozen=True)
class ModelInfo:
    """Everything needed to rebuild and use a model, stored beside its weights."""

    architecture: str
    input_shape: tuple[int, int, int]
    label_names: tuple[str, ...]
    rule: str = "threshold:0.5"
    architecture_options: dict[str, Any] = field(default_factory=dict)
    normalization: tuple[list[float], list[float]] | None = None
    dataset: str = ""
    regime: str = "none"
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @property
    def decision_rule(self) -> DecisionRule:
        return parse_rule(self.rule)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any], source: Path) -> ModelInfo:
        try:
            norm = data.get("normalization")
            info = cls(
                **{
                    **data,
                    "input_shape": tuple(data["input_shape"]),
                    "label_names": tuple(data["label_names"]),
                    "normalization": tuple(norm) if norm is not None else None,
                }
            )
        except (TypeError, KeyError) as exc:
            raise CorruptFileError(
                f"{source}: metadata is incomplete or has unknown keys: {exc}"
            ) from exc
        if info.format_version > FORMAT_VERSION:
            raise CheckpointError(f"{source} was written by a newer mlrobust; upgrade to read it.")
        return info


def _paths(path: Path | str) -> tuple[Path, Path]:
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def save_checkpoint(path: Path | str, model: nn.Module, info: ModelInfo) -> Path:
    """Write ``model``'s weights and ``info``; returns the ``.safetensors`` path."""
    weights, meta = _paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(weights), metadata={"mlrobust_format": str(FORMAT_VERSION)})
    meta.write_text(json.dumps(info.to_json(), indent=2) + "\n")
    return weights


def _read_info(meta: Path) -> ModelInfo:
    try:
        return ModelInfo.from_json(json.loads(meta.read_text()), meta)
    except json.JSONDecodeError as exc:
        raise CorruptFileError(f"{meta}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc


def model_info(spec: str) -> ModelInfo | None:
    """The metadata of a shipped model or checkpoint, without loading its weights; None when
    there is no metadata file (loading the model then says what is missing)."""
    if spec in SHIPPED:
        ref = resources.files("mlrobust") / "assets" / "models" / f"{spec}.json"
        with resources.as_file(ref) as meta:
            return _read_info(meta) if meta.exists() else None
    meta = _paths(spec)[1]
    return _read_info(meta) if meta.exists() else None


def load_checkpoint(path: Path | str) -> tuple[nn.Sequential, ModelInfo]:
    """Rebuild the model from its metadata and load the weights; the model is in eval mode."""
    weights, meta = _paths(path)
    for p in (weights, meta):
        if not p.exists():
            raise DataNotFoundError(
                f"Checkpoint file missing: {p} (a checkpoint is NAME.safetensors + NAME.json)."
            )
    info = _read_info(meta)
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise CorruptFileError(f"{weights} is not a valid safetensors file: {exc}") from exc
    model = build_model(
        info.architecture,
        info.input_shape,
        len(info.label_names),
        info.normalization,
        **info.architecture_options,
    )
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or extra or wrong:
        detail = "; ".join(
            part
            for part in (
                f"missing tensors {missing}" if missing else "",
                f"unexpected tensors {extra}" if extra else "",
                ", ".join(
                    f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
                    for k in wrong
                ),
            )
            if part
        )
        raise CheckpointError(
            f"{weights} does not match architecture {info.architecture!r} with input "
            f"{info.input_shape} and {len(info.label_names)} labels ({detail}). Fix the metadata "
            f"in {meta} or use the checkpoint written with these weights."
        )
    model.load_state_dict(state)
    return model.eval(), info


def shipped_checkpoint(name: str = "double_mnist_none") -> tuple[nn.Sequential, ModelInfo]:
    """One of the pretrained Double-MNIST models shipped in the package (see :data:`SHIPPED`)."""
    if name not in SHIPPED:
        raise CheckpointError(f"No shipped model {name!r}; available: {', '.join(SHIPPED)}.")
    ref = resources.files("mlrobust") / "assets" / "models" / f"{name}.safetensors"
    with resources.as_file(ref) as weights:
        return load_checkpoint(weights)


def resolve_model(spec: str) -> tuple[nn.Sequential, ModelInfo]:
    """A shipped model name or a checkpoint path."""
    if spec in SHIPPED:
        return shipped_checkpoint(spec)
    weights, meta = _paths(spec)
    if "/" not in spec and not weights.exists() and not meta.exists():
        # a bare name that is neither shipped nor a file here: most likely a typo
        import difflib

        close = difflib.get_close_matches(spec, SHIPPED, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise DataNotFoundError(
            f"No shipped model or checkpoint {spec!r}; {hint}shipped models: "
            f"{', '.join(SHIPPED)} (or give a checkpoint path, an .onnx / .pt2 file or "
            "package.module:function)."
        )
    return load_checkpoint(spec)


def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Logits ``[N, L]`` for ``x [N, C, H, W]`` in eval mode without gradients, in batches;
    the model's train/eval mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    finally:
        model.train(was_training)
