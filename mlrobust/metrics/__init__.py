"""mlrobust.metrics."""

from mlrobust.metrics.attack_metrics import (
    Distortion,
    attack_success_rate,
    consistent_predictions,
    distortion,
    fooling_rate,
    mean_ssim,
    nontarget_flip_rate,
    semantic_fooling_rate,
)

__all__ = [
    "Distortion",
    "attack_success_rate",
    "consistent_predictions",
    "distortion",
    "fooling_rate",
    "mean_ssim",
    "nontarget_flip_rate",
    "semantic_fooling_rate",
]
