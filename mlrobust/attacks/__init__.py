"""mlrobust.attacks."""
