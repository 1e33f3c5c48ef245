"""``mlrobust attack``: run attacks on a checkpoint and print a paper-001 Table-1 style table.

    mlrobust attack run model.pt --dataset multi-fashion --attacks mla-u,gmla \\
        --eps 0.005,0.01 --sizes 1,2 -n 100 --out attack.json
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import typer
from rich.console import Console
from rich.table import Table

from mlrobust.attacks import AttackGoal, available_attacks, get_attack
from mlrobust.errors import InputError
from mlrobust.metrics import (
    consistent_predictions,
    distortion,
    fooling_rate,
    mean_ssim,
    nontarget_flip_rate,
    semantic_fooling_rate,
)
from mlrobust.rules import parse_rule
from mlrobust.threats import L2Ball, LinfBall

app = typer.Typer(help="Multi-label adversarial attacks.", no_args_is_help=True)


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise typer.BadParameter(f"expected comma-separated numbers, got {text!r}") from exc


@app.command("run")
def run(
    checkpoint: Path = typer.Argument(..., help="model checkpoint (mlrobust.models format)"),
    dataset: str = typer.Option("multi-fashion", help="dataset name"),
    split: str = typer.Option("test"),
    n: int = typer.Option(100, "-n", help="number of images"),
    attacks: str = typer.Option("mla-u,mla-c,gmla,mla-lp", help="comma-separated attack names"),
    eps: str = typer.Option("0.005,0.01,0.02,0.05", help="comma-separated radii"),
    sizes: str = typer.Option("1,2", help="comma-separated target-set sizes |Omega|"),
    norm: str = typer.Option("linf", help="linf or l2"),
    rule: str = typer.Option("threshold:0.5", help="decision rule: threshold:T or topk:K"),
    seed: int = typer.Option(0, help="seed for the random target sets"),
    out: Path = typer.Option(Path("attack.json"), help="JSON file for all numbers"),
) -> None:
    """Attack a model on a dataset over an eps grid and target-set sizes."""
    from mlrobust.datasets import load_dataset  # type: ignore[attr-defined]
    from mlrobust.models import load_checkpoint  # type: ignore[attr-defined]

    names = [a.strip() for a in attacks.split(",") if a.strip()]
    unknown = sorted(set(names) - set(available_attacks()))
    if unknown:
        raise typer.BadParameter(f"unknown attacks {unknown}; see `mlrobust attack list`")
    if norm not in ("linf", "l2"):
        raise typer.BadParameter("--norm must be linf or l2")
    decision = parse_rule(rule)
    model, meta = load_checkpoint(checkpoint)
    data = load_dataset(dataset, split, n)
    x = data[0] if isinstance(data, (tuple, list)) else data.images
    graph = meta.get("graph") if isinstance(meta, dict) else None
    with torch.no_grad():
        num_labels = model(x[:1]).shape[1]

    rows = []
    for size in (int(s) for s in _floats(sizes)):
        goal = AttackGoal.random(len(x), num_labels, size=size, seed=seed, rule=decision)
        for radius in _floats(eps):
            threat = LinfBall(radius) if norm == "linf" else L2Ball(radius)
            for name in names:
                cfg = {"graph": graph} if name == "gmla" and graph is not None else {}
                try:
                    result = get_attack(name, **cfg)(model, x, goal, threat)
                except InputError as exc:  # e.g. an l2 ball for an l_inf-only attack
                    typer.echo(f"skipped {name} at eps={radius}: {exc}", err=True)
                    continue
                s = result.success
                row = {
                    "attack": name,
                    "eps": radius,
                    "size": size,
                    "FR_N": fooling_rate(s),
                    "NT_R": nontarget_flip_rate(
                        result.clean_pred, result.adv_pred, result.target_set, s
                    ),
                    "SSIM": mean_ssim(x, result.x_adv, s),
                    "linf": distortion(x, result.x_adv, s).linf,
                    "seconds": result.seconds,
                }
                if graph is not None:
                    ok = consistent_predictions(graph, result.adv_pred, goal.targets)
                    row["FR_S"] = semantic_fooling_rate(s, ok)
                rows.append(row)
    _print_table(rows)
    out.write_text(json.dumps({"checkpoint": str(checkpoint), "rows": rows}, indent=1))
    typer.echo(f"wrote {out}")


@app.command("list")
def list_attacks() -> None:
    """List the available attacks (built-in and plugins)."""
    for name, cls in sorted(available_attacks().items()):
        typer.echo(f"{name}\t{(cls.__doc__ or '').strip().splitlines()[0]}")


def _print_table(rows: list[dict]) -> None:
    table = Table(title="Attack results (means over successes where applicable)")
    cols = ["attack", "eps", "size", "FR_N", "FR_S", "NT_R", "SSIM", "linf"]
    for c in cols:
        table.add_column(c)
    for r in rows:
        table.add_row(*[_fmt(r.get(c)) for c in cols])
    Console().print(table)


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)
