"""``mlrobust verify --onnx NET --vnnlib PROP --timeout S``: prints sat/unsat/unknown, time."""

from __future__ import annotations

from pathlib import Path

import typer

from mlrobust.errors import MLRobustError
from mlrobust.verify.backends import Backend
from mlrobust.verify.milp import Tightening


def verify(
    onnx: Path = typer.Option(..., "--onnx", help="ONNX network."),
    vnnlib: Path = typer.Option(..., "--vnnlib", help="VNN-LIB 1.0 property (.vnnlib or .gz)."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds for the whole instance."),
    tightening: str = typer.Option("lp", help="interval | crown | lp | mip"),
    backend: str = typer.Option("highs", help="highs | gurobi"),
) -> None:
    """Verify an ONNX network against a VNN-LIB property (VNN-COMP style)."""
    from mlrobust.verify.api import verify_vnnlib
    from mlrobust.verify.verifier import VerifierConfig

    try:
        level = Tightening[tightening.upper()]
        solver = Backend(backend.lower())
    except (KeyError, ValueError):
        raise typer.BadParameter(
            f"unknown tightening {tightening!r} or backend {backend!r}; use "
            "interval|crown|lp|mip and highs|gurobi.") from None
    if timeout <= 0:
        raise typer.BadParameter("--timeout must be > 0 seconds.")
    try:
        ans = verify_vnnlib(onnx, vnnlib, VerifierConfig(timeout_s=timeout, tightening=level,
                                                         backend=solver))
    except MLRobustError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"{ans.answer} {ans.time_s:.2f}")
