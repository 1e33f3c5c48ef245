"""Independent forward passes of the *real* model, used to re-check every counterexample.

A witness from the MILP lives in float64 and in the IR; the real model may run in float32. The
re-check casts the witness to the model's dtype, nudges any coordinate that rounding pushed
outside the input box back inside (one ulp at a time), confirms box membership in float64, and
only then evaluates the real model. A witness that fails any step is not a counterexample.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from mlrobust.errors import SolverError
from mlrobust.verify.spec import OutputSpec


class Oracle(Protocol):
    """Evaluates the real network: ``[N, input_size]`` in its own dtype -> logits ``[N, L]``."""

    @property
    def dtype(self) -> np.dtype: ...  # read-only: frozen dataclass oracles satisfy it

    def __call__(self, x: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class TorchOracle:
    """Forward pass of a torch model (eval mode, no grad) on inputs of ``input_shape``."""

    model: nn.Module
    input_shape: tuple[int, ...]

    @property
    def dtype(self) -> np.dtype:
        p = next(iter(self.model.parameters()), None)
        return np.dtype(np.float64 if p is not None and p.dtype == torch.float64 else np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                t = torch.from_numpy(np.ascontiguousarray(x)).reshape(-1, *self.input_shape)
                return self.model(t).reshape(x.shape[0], -1).double().numpy()
        finally:
            self.model.train(was_training)


class OnnxOracle:
    """Forward pass with onnxruntime (float32, one sample at a time: VNN-COMP nets fix batch 1)."""

    def __init__(self, path: str | Path) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise SolverError(
                "Re-checking ONNX counterexamples needs onnxruntime: pip install onnxruntime."
            ) from exc
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self._s = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        inp = self._s.get_inputs()[0]
        self._name = inp.name
        self._shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
        self.dtype = np.dtype(np.float64 if "double" in inp.type else np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        outs = [
            self._s.run(None, {self._name: row.reshape(self._shape).astype(self.dtype)})[0]
            for row in x
        ]
        return np.stack([o.reshape(-1) for o in outs]).astype(np.float64)


def snap_into_box(
    x: np.ndarray, lo: np.ndarray, hi: np.ndarray, dtype: np.dtype
) -> np.ndarray | None:
    """``x`` clipped to ``[lo, hi]`` and cast to ``dtype`` so that the cast values still lie in
    the box (checked in float64); None when the box is too thin for ``dtype``."""
    y = np.clip(x, lo, hi).astype(dtype)
    for _ in range(4):
        below = y.astype(np.float64) < lo
        above = y.astype(np.float64) > hi
        if not (below.any() or above.any()):
            return y
        y[below] = np.nextafter(y[below], np.array(np.inf, dtype=dtype))
        y[above] = np.nextafter(y[above], np.array(-np.inf, dtype=dtype))
    return None


def recheck(
    x: np.ndarray, lo: np.ndarray, hi: np.ndarray, spec: OutputSpec, oracle: Oracle
) -> tuple[torch.Tensor, float] | None:
    """Snap a candidate ``x [input_size]`` into the box and run the real model: the witness
    (float64, the values the model saw) and the spec value there when the spec is violated,
    else None. Every FALSIFIED verdict of the verifier passes through here."""
    snapped = snap_into_box(np.asarray(x, dtype=np.float64).reshape(-1), lo, hi, oracle.dtype)
    if snapped is None:
        return None
    y = torch.from_numpy(oracle(snapped[None, :]))
    if bool(spec.violated(y)[0]):
        return torch.from_numpy(snapped.astype(np.float64)), float(spec.value(y)[0])
    return None
