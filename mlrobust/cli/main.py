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
def _main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
    threads: int = typer.Option(
        0,
        help="CPU threads for torch (0 = torch's default, one per core); for `verify`, also "
        "the processes of one branch and bound. Use 1 on a busy machine: oversubscribed "
        "threads slow training down.",
    ),
) -> None:
    # only mlrobust's own messages at INFO / DEBUG: libraries (torch.export's tracing) stay at
    # WARNING, or -v would bury ours under theirs
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("mlrobust").setLevel(logging.DEBUG if verbose else logging.INFO)
    if threads > 0:
        import os

        import torch

        cores = os.cpu_count() or 1
        if threads > cores:  # more threads than cores only adds contention
            logging.getLogger("mlrobust").warning(
                "--threads %d is more than this machine's %d cores; using %d.",
                threads,
                cores,
                cores,
            )
            threads = cores
        torch.set_num_threads(threads)


def run() -> None:
    app()


def _register() -> None:
    # the command modules import this one for `app`, so they are loaded after it exists
    from mlrobust.cli import attack, data, graph, portfolio
    from mlrobust.cli import evaluate as evaluate_cli
    from mlrobust.cli import verify as verify_cli
    from mlrobust.cli.demo import demo_command
    from mlrobust.cli.layered import layered_command
    from mlrobust.cli.models import info_command, train_command
    from mlrobust.cli.partial import partial_labels_command

    app.command("demo")(demo_command)
    app.command("train")(train_command)
    app.command("info")(info_command)
    app.command("partial-labels")(partial_labels_command)
    app.add_typer(attack.app, name="attack")
    app.add_typer(data.app, name="data")
    app.add_typer(graph.app, name="graph")
    app.add_typer(portfolio.app, name="portfolio")
    app.command("verify")(verify_cli.verify)
    app.command("evaluate")(evaluate_cli.evaluate_command)
    app.command("compare")(evaluate_cli.compare_command)
    app.command("layered")(layered_command)


_register()
