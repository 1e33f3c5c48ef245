"""The IR's operators, one class per file (see :mod:`.base` for what each one owns)."""

from mlrobust.verify.ops.add import Add
from mlrobust.verify.ops.base import DTYPE, Affine, Box, Builder, Op
from mlrobust.verify.ops.concat import Concat
from mlrobust.verify.ops.linear import Linear, compose, dense, diagonal, sparse
from mlrobust.verify.ops.maxpool import MaxPool
from mlrobust.verify.ops.relu import ReLU, relu_relaxation
from mlrobust.verify.ops.sigmoid import SIGMOID_SLACK, Sigmoid, sigmoid_lines

__all__ = [
    "DTYPE",
    "SIGMOID_SLACK",
    "Add",
    "Affine",
    "Box",
    "Builder",
    "Concat",
    "Linear",
    "MaxPool",
    "Op",
    "ReLU",
    "Sigmoid",
    "compose",
    "dense",
    "diagonal",
    "relu_relaxation",
    "sigmoid_lines",
    "sparse",
]
