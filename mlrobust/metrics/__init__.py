"""mlrobust.metrics."""
