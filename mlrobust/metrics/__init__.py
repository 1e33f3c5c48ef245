"""Metrics: clean quality, attack effectiveness, certified robustness (pure functions)."""

from mlrobust.metrics.quality import (
    average_precision,
    f1_scores,
    hamming_loss,
    mean_average_precision,
    quality_report,
    subset_accuracy,
)

__all__ = [
    "average_precision",
    "f1_scores",
    "hamming_loss",
    "mean_average_precision",
    "quality_report",
    "subset_accuracy",
]
