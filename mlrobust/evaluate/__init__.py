"""The evaluation orchestrator behind ``mlrobust evaluate``: attacks (upper bounds) and a
verifier (lower bounds) per (image, eps, property) cell, resumable, run by the shared engine
(:mod:`mlrobust.engine`), ending in a report per model. See docs/evaluate.md.

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
from mlrobust.evaluate.models import LoadedModel, load_model, model_from_module
from mlrobust.evaluate.runner import ModelReport, evaluate, evaluate_model

__all__ = [
    "EvaluationConfig",
    "LoadedModel",
    "ModelReport",
    "config_from_mapping",
    "default_config",
    "evaluate",
    "evaluate_model",
    "load_config",
    "load_model",
    "model_from_module",
    "model_name",
]
