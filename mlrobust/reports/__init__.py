"""mlrobust.reports."""
