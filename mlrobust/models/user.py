"""Bring your own torch model: a factory in your own package (plus weights), or a program saved
with ``torch.export.save`` (``.pt2``). Nothing is unpickled from a file: weights come from
safetensors or ``torch.load(weights_only=True)``, and ``.pt2`` files are read with torch's
weights-only loader forced on (``torch.export.load`` would otherwise fall back to full pickle).

A factory reference is ``package.module:function`` or, with weights,
``package.module:function@path/to/weights.safetensors`` (``.pt`` / ``.pth`` state dicts too).
The function takes no arguments and returns an ``nn.Module`` mapping ``[N, C, H, W]`` pixels in
``[0, 1]`` to ``[N, L]`` logits.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mlrobust.errors import CheckpointError, CorruptFileError, DataNotFoundError, InputError

_FACTORY = re.compile(r"^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):([A-Za-z_]\w*)(?:@(.+))?$")


def is_factory_ref(ref: str) -> bool:
    """``package.module:function`` with an optional ``@weights`` path."""
    return _FACTORY.match(ref) is not None


def with_weights(ref: str, weights: str | Path) -> str:
    """The factory reference ``ref`` with its weights file set (the CLI's ``--weights``)."""
    match = _FACTORY.match(ref)
    if match is None:
        raise InputError(
            f"--weights goes with a factory model `package.module:function`, not {ref!r} "
            "(checkpoints and .onnx/.pt2 files carry their own weights)."
        )
    return f"{match.group(1)}:{match.group(2)}@{weights}"


def factory_name(ref: str) -> str:
    """A short name for reports: the function name, plus the weights file's stem."""
    match = _FACTORY.match(ref)
    if match is None:
        raise InputError(f"not a factory reference: {ref!r}")
    return match.group(2) + (f"-{Path(match.group(3)).stem}" if match.group(3) else "")


def load_factory(ref: str) -> nn.Module:
    """Import the factory of ``ref``, build the model and load its weights (eval mode)."""
    match = _FACTORY.match(ref)
    if match is None:
        raise InputError(f"not a factory reference `package.module:function[@weights]`: {ref!r}")
    module_name, func_name, weights = match.groups()
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(
            f"--model {module_name}:{func_name}: cannot import {module_name!r} ({exc}); "
            "install your package or put its folder on PYTHONPATH."
        ) from exc
    factory = getattr(module, func_name, None)
    if not callable(factory):
        public = sorted(n for n, v in vars(module).items() if callable(v) and n[0] != "_")
        raise InputError(
            f"--model {module_name}:{func_name}: {module_name} has no function {func_name!r}; "
            f"callables there: {', '.join(public) or 'none'}."
        )
    model = factory()
    if not isinstance(model, nn.Module):
        raise InputError(
            f"--model {module_name}:{func_name} returned {type(model).__name__}, not a "
            "torch.nn.Module."
        )
    if weights:
        apply_state(model, load_state(weights), weights)
    return model.eval()


def load_state(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a weights-only ``torch.load`` (``.pt``/``.pth``;
    a ``{"state_dict": ...}`` wrapper is unwrapped)."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"Weights file not found: {path}.")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise CorruptFileError(f"{path} is not a valid safetensors file: {exc}") from exc
    try:
        state: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises pickle, zip and runtime errors alike
        raise CorruptFileError(
            f"{path} is not a plain state dict readable with torch.load(weights_only=True) "
            f"({str(exc).splitlines()[0][:200]}); save it with torch.save(model.state_dict()) "
            "or as .safetensors."
        ) from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CorruptFileError(f"{path} holds {type(state).__name__}, not a dict of tensors.")
    return state


def apply_state(model: nn.Module, state: dict[str, torch.Tensor], source: str | Path) -> None:
    """Load ``state`` into ``model``; a mismatch names the first differing key and shapes."""
    expected = model.state_dict()
    for key, tensor in expected.items():
        if key not in state:
            raise CheckpointError(
                f"{source} does not match the model: tensor {key!r} {tuple(tensor.shape)} is "
                f"missing from the file ({len(state)} tensors there)."
            )
        if state[key].shape != tensor.shape:
            raise CheckpointError(
                f"{source} does not match the model: {key!r} is {tuple(state[key].shape)} in "
                f"the file but {tuple(tensor.shape)} in the model."
            )
    extra = sorted(set(state) - set(expected))
    if extra:
        raise CheckpointError(
            f"{source} does not match the model: the file has tensor {extra[0]!r} the model "
            f"lacks ({len(extra)} such tensors)."
        )
    model.load_state_dict(state)


@contextmanager
def _weights_only_loads() -> Iterator[None]:
    old = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TORCH_FORCE_WEIGHTS_ONLY_LOAD", None)
        else:
            os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = old


def load_program(path: str | Path) -> Any:
    """A ``torch.export`` program from ``path`` (``.pt2``), without unpickling objects."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"Exported program not found: {path}.")
    try:
        with _weights_only_loads():
            return torch.export.load(str(path))
    except Exception as exc:  # zip, JSON schema and weights-only unpickling errors alike
        raise CorruptFileError(
            f"{path} is not a torch.export program readable without unpickling objects "
            f"({str(exc).splitlines()[0][:200]}); write it with torch.export.save."
        ) from exc
