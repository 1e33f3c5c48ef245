"""Decision rules: how a multi-label prediction is made from logits.

A rule is a small immutable value passed to attacks, verifiers and metrics, so every part of the
library turns logits into label sets the same way.

Examples:
    >>> import torch
    >>> logits = torch.tensor([[2.0, -1.0, 0.5]])
    >>> Threshold(0.5).predict(logits).tolist()
    [[True, False, True]]
    >>> TopK(1).predict(logits).tolist()
    [[True, False, False]]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from mlrobust.errors import InputError


@dataclass(frozen=True, kw_only=False)
class Threshold:
    """Label ``c`` is on when ``sigmoid(logit_c) >= t``, i.e. ``logit_c >= logit(t)``."""

    t: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.t < 1.0:
            raise InputError(f"Threshold t must lie strictly between 0 and 1, got {self.t}.")

    @property
    def logit_threshold(self) -> float:
        """The threshold on the logit scale: ``log(t / (1 - t))``."""
        return math.log(self.t / (1.0 - self.t))

    def predict(self, logits: torch.Tensor) -> torch.Tensor:
        """Shape: logits ``[N, L]`` -> bool ``[N, L]``."""
        _check_logits(logits)
        return logits >= self.logit_threshold

    def __str__(self) -> str:
        return f"threshold:{self.t:g}"


@dataclass(frozen=True)
class TopK:
    """The ``k`` labels with the highest logits are on (ties broken by the lower index)."""

    k: int = 1

    def __post_init__(self) -> None:
        if self.k < 1:
            raise InputError(f"TopK k must be at least 1, got {self.k}.")

    def predict(self, logits: torch.Tensor) -> torch.Tensor:
        """Shape: logits ``[N, L]`` -> bool ``[N, L]`` with exactly ``k`` True per row."""
        _check_logits(logits)
        if self.k > logits.shape[1]:
            raise InputError(
                f"TopK k={self.k} exceeds the number of labels {logits.shape[1]}; "
                "choose k <= number of labels."
            )
        # stable sort so ties go to the lower label index, deterministically
        order = torch.sort(logits, dim=1, descending=True, stable=True).indices[:, : self.k]
        out = torch.zeros_like(logits, dtype=torch.bool)
        out.scatter_(1, order, True)
        return out

    def __str__(self) -> str:
        return f"topk:{self.k}"


DecisionRule = Threshold | TopK


def parse_rule(text: str) -> DecisionRule:
    """Parse ``"threshold:0.5"`` or ``"topk:2"`` (used only at the CLI / config edge)."""
    name, _, value = text.strip().lower().partition(":")
    try:
        if name == "threshold":
            return Threshold(float(value) if value else 0.5)
        if name == "topk":
            return TopK(int(value) if value else 1)
    except ValueError as exc:
        raise InputError(f"Cannot parse decision rule {text!r}: {exc}") from exc
    raise InputError(
        f"Unknown decision rule {text!r}; use 'threshold:T' (0<T<1) or 'topk:K' (K>=1)."
    )


def _check_logits(logits: torch.Tensor) -> None:
    if logits.dim() != 2:
        raise InputError(f"Expected logits of shape [N, L], got {tuple(logits.shape)}.")
