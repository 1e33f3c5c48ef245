"""mlrobust.models."""
