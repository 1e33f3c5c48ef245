"""Command-line interface (typer). Only this package parses strings from users."""
