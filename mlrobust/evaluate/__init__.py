"""The evaluation orchestrator behind ``mlrobust evaluate``: attacks (upper bounds) and the
verifier (lower bounds) per (image, eps, property) cell, resumable, in a process pool, ending in
a report per model. See docs/evaluate.md.

>>> from mlrobust.evaluate import EvaluationConfig
>>> EvaluationConfig(models=("double_mnist_none",), n=4, eps=(0.01,)).n
4
"""

from mlrobust.evaluate.config import (
    EvaluationConfig,
    config_from_mapping,
    default_config,
    load_config,
    model_name,
)
from mlrobust.evaluate.executor import Executor, PoolExecutor, SerialExecutor, make_executor
from mlrobust.evaluate.models import LoadedModel, load_model, model_from_module
from mlrobust.evaluate.runner import ModelReport, Progress, evaluate
from mlrobust.evaluate.store import CellStore
from mlrobust.evaluate.summary import SCHEMA_VERSION, EvaluationResult
from mlrobust.evaluate.verifiers import available_verifiers, get_verifier

__all__ = [
    "SCHEMA_VERSION",
    "CellStore",
    "EvaluationConfig",
    "EvaluationResult",
    "Executor",
    "LoadedModel",
    "ModelReport",
    "PoolExecutor",
    "Progress",
    "SerialExecutor",
    "available_verifiers",
    "config_from_mapping",
    "default_config",
    "evaluate",
    "get_verifier",
    "load_config",
    "load_model",
    "make_executor",
    "model_from_module",
    "model_name",
]
