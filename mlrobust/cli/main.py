"""The ``mlrobust`` command: one typer app; each topic registers its own sub-app here."""

from __future__ import annotations

import logging

import typer

app = typer.Typer(
    name="mlrobust",
    help="Attack-and-verify robustness evaluation for multi-label image classifiers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages.")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s")


def run() -> None:
    app()
from mlrobust.cli import graph as _graph; app.add_typer(_graph.app, name="graph")  # noqa: E402, E702, I001
from mlrobust.cli import attack as _attack; app.add_typer(_attack.app, name="attack")  # noqa: E402, E702, I001
