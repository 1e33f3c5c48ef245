"""mlrobust.graphs."""
