"""Model zoo, checkpoints (safetensors + JSON) and the shipped pretrained models."""

from mlrobust.models.architectures import (
    ARCHITECTURES,
    Normalize,
    build_model,
    mlp,
    paper000_cnn,
    small_cnn,
)
from mlrobust.models.checkpoint import (
    SHIPPED,
    ModelInfo,
    load_checkpoint,
    predict_logits,
    resolve_model,
    save_checkpoint,
    shipped_checkpoint,
)

__all__ = [
    "ARCHITECTURES",
    "SHIPPED",
    "ModelInfo",
    "Normalize",
    "build_model",
    "load_checkpoint",
    "mlp",
    "paper000_cnn",
    "predict_logits",
    "resolve_model",
    "save_checkpoint",
    "shipped_checkpoint",
    "small_cnn",
]
