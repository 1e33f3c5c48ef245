"""mlrobust.verify."""
