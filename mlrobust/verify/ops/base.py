"""What every IR operator provides, and the MILP row collector they encode themselves into.

An operator (:class:`Op`) owns everything about itself: its numeric forward pass (torch,
differentiable), the interval image of a box, its CROWN backward step (a linear relaxation,
batched over any leading dimensions), its MILP encoding, and — where it is affine once the ReLU
phases are fixed — its affine map (branch and bound's leaf LPs). Adding an operator is one file
in this package (its class and its ONNX / torch lowering rules, :mod:`.lowering`).

Values are flattened per sample: a node's output is ``[N, size]``; a box is a pair of
``[size]`` tensors. ``a`` (CROWN coefficients) has any leading shape and the node's size last.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch

from mlrobust.errors import UnsupportedLayerError
from mlrobust.solvers import ModelData

#: the dtype of every IR computation that decides a verdict
DTYPE = torch.float64

Box = tuple[torch.Tensor, torch.Tensor]
#: an affine map of the network input: ``(A [size, n_in], c [size])``
Affine = tuple[torch.Tensor, torch.Tensor]


@dataclass
class Builder:
    """Collects the columns and rows of a MILP."""

    col_lo: list[float] = field(default_factory=list)
    col_hi: list[float] = field(default_factory=list)
    integer: list[bool] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    cols: list[np.ndarray] = field(default_factory=list)
    vals: list[np.ndarray] = field(default_factory=list)
    row_lo: list[np.ndarray] = field(default_factory=list)
    row_hi: list[np.ndarray] = field(default_factory=list)
    n_rows: int = 0
    zero_col: int | None = None

    def add_cols(self, lo: np.ndarray, hi: np.ndarray, integer: bool = False) -> np.ndarray:
        start = len(self.col_lo)
        self.col_lo += list(np.asarray(lo, dtype=float))
        self.col_hi += list(np.asarray(hi, dtype=float))
        self.integer += [integer] * len(np.atleast_1d(lo))
        return np.arange(start, len(self.col_lo))

    def add_rows(
        self, r: np.ndarray, c: np.ndarray, v: np.ndarray, lo: np.ndarray, hi: np.ndarray
    ) -> None:
        """Rows given in COO form with local row numbers ``0..len(lo)-1``."""
        self.rows.append(np.asarray(r, dtype=np.int64) + self.n_rows)
        self.cols.append(np.asarray(c, dtype=np.int64))
        self.vals.append(np.asarray(v, dtype=float))
        self.row_lo.append(np.asarray(lo, dtype=float))
        self.row_hi.append(np.asarray(hi, dtype=float))
        self.n_rows += len(lo)

    def zero(self) -> int:
        """A column fixed at 0 (shared by every user)."""
        if self.zero_col is None:
            self.zero_col = int(self.add_cols(np.zeros(1), np.zeros(1))[0])
        return self.zero_col

    def data(self, relax: bool = False) -> ModelData:
        n = len(self.col_lo)

        def cat(xs: list[np.ndarray], dt: type) -> np.ndarray:
            return np.concatenate(xs).astype(dt) if xs else np.zeros(0, dtype=dt)

        a = sp.csr_matrix(
            (cat(self.vals, float), (cat(self.rows, np.int64), cat(self.cols, np.int64))),
            shape=(self.n_rows, n),
        )
        integer = np.zeros(n, dtype=bool) if relax else np.array(self.integer, dtype=bool)
        return ModelData(
            a,
            cat(self.row_lo, float),
            cat(self.row_hi, float),
            np.array(self.col_lo),
            np.array(self.col_hi),
            integer,
        )


class Op(ABC):
    """One operator of the IR. ``arity``: inputs it takes (None: one or more)."""

    arity: ClassVar[int | None] = 1
    #: the MILP encodes it exactly (a piecewise-linear operator)
    exact: ClassVar[bool] = True
    #: nonlinear: its input bounds shape a relaxation (CROWN tightens the inputs' bounds)
    nonlinear: ClassVar[bool] = False

    def out_size(self, in_sizes: Sequence[int]) -> int:
        """The output size for inputs of these sizes (default: the first input's)."""
        return in_sizes[0]

    @abstractmethod
    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Shapes: each input ``[N, n_i]`` -> ``[N, size]``."""

    @abstractmethod
    def interval(self, ins: Sequence[Box]) -> Box:
        """The interval image of the input boxes."""

    @abstractmethod
    def backward(
        self, a: torch.Tensor, ins: Sequence[Box]
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """One CROWN step for a *lower* bound of ``a . y`` (``a [..., size]``): coefficients on
        each input ``[..., n_i]`` and the constant ``[...]`` such that
        ``a . y >= sum_i a_i . x_i + const`` for every input in the boxes ``ins``."""

    def backward_csr(
        self, a: sp.csr_matrix, ins: Sequence[Box]
    ) -> tuple[list[sp.csr_matrix], np.ndarray] | None:
        """:meth:`backward` with the coefficients ``a [R, size]`` as a SciPy CSR matrix (rows of
        a convolution's bound touch only its receptive field); None when the operator has no
        sparse step (the caller then takes the dense path)."""
        return None

    def encode(
        self, b: Builder, cols: Sequence[np.ndarray], ins: Sequence[Box], out: Box
    ) -> np.ndarray:
        """Add the operator to a MILP: input columns -> output columns (``out``: its bounds)."""
        raise UnsupportedLayerError(
            f"{type(self).__name__} has no exact MILP encoding; only bounds and attacks handle it."
        )

    def affine(self, maps: Sequence[Affine], ins: Sequence[Box]) -> Affine | None:
        """The output as an affine map of the network input, given each input's (valid on a
        region where every ReLU's phase is fixed, which ``ins`` then reflect); None when the
        operator is not affine there (max-pool, sigmoid)."""
        return None
