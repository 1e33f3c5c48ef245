"""Metrics: clean quality, attack effectiveness, certified robustness (pure functions)."""

from mlrobust.metrics.attack_metrics import (
    Distortion,
    attack_row,
    attack_success_rate,
    consistent_predictions,
    distortion,
    fooling_rate,
    mean_ssim,
    nontarget_flip_rate,
    semantic_fooling_rate,
)
from mlrobust.metrics.quality import (
    average_precision,
    f1_scores,
    hamming_loss,
    mean_average_precision,
    quality_report,
    subset_accuracy,
)

__all__ = [
    "Distortion",
    "attack_row",
    "attack_success_rate",
    "average_precision",
    "consistent_predictions",
    "distortion",
    "f1_scores",
    "fooling_rate",
    "hamming_loss",
    "mean_average_precision",
    "mean_ssim",
    "nontarget_flip_rate",
    "quality_report",
    "semantic_fooling_rate",
    "subset_accuracy",
]
