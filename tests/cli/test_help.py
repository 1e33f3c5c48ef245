"""Every option and argument of every command says what it does in --help."""

from __future__ import annotations

from typing import Any

import typer.main

from mlrobust.cli.main import app


def _commands(cmd: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    subs = getattr(cmd, "commands", None)
    if subs is None:
        return [(path, cmd)]
    return [found for name, sub in subs.items() for found in _commands(sub, (*path, name))]


def test_every_parameter_has_help_text() -> None:
    commands = _commands(typer.main.get_command(app))
    assert len(commands) > 15  # the walk reached the sub-apps' commands
    bare = [
        f"mlrobust {' '.join(path)} {p.name}"
        for path, cmd in commands
        for p in cmd.params
        if p.name != "help" and not (getattr(p, "help", None) or "").strip()
    ]
    assert bare == []


def test_threads_beyond_the_machine_are_capped_with_a_message(caplog: Any) -> None:
    import os

    import torch
    from typer.testing import CliRunner

    before = torch.get_num_threads()
    try:
        res = CliRunner().invoke(app, ["--threads", "10000", "data", "info", "samples", "--json"])
        assert res.exit_code == 0, res.output
        assert f"cores; using {os.cpu_count()}" in caplog.text
        assert torch.get_num_threads() == os.cpu_count()
    finally:
        torch.set_num_threads(before)
