"""Helpers shared by the CLI commands: error display and progress bars."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from mlrobust.errors import MLRobustError


def _width(stream: object) -> int | None:
    """Without a terminal (a pipe, a log file, CI) rich would wrap at 80 columns and shorten
    model names; use $COLUMNS or 160 there instead. A terminal keeps its own width."""
    if getattr(stream, "isatty", lambda: False)():
        return None
    return int(os.environ.get("COLUMNS", "160"))


console = Console(width=_width(sys.stdout))
err_console = Console(stderr=True, width=_width(sys.stderr))
F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(fn: F) -> F:
    """Show an :class:`MLRobustError` as one red line and exit 2, instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MLRobustError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def progress_bar() -> Iterator[Progress]:
    """A rich progress bar with elapsed time and ETA (on stderr, so stdout stays parseable)."""
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    ) as progress:
        yield progress


class Bars:
    """The run engine's progress sink (:class:`mlrobust.engine.Progress`) as rich bars."""

    def __init__(self, progress: Progress) -> None:
        self._p = progress
        self._task: TaskID | None = None

    def start(self, description: str, total: int, completed: int) -> None:
        self._task = self._p.add_task(description, total=total, completed=completed)

    def advance(self, n: int = 1) -> None:
        if self._task is not None:
            self._p.advance(self._task, n)
