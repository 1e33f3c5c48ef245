"""``mlrobust attack``: run attacks on a checkpoint and print a paper-001 Table-1 style table.

    mlrobust attack run double_mnist_none --dataset samples --attacks mla-u,mla-c \\
        --eps 0.005,0.01 --sizes 1,2 -n 100 --out attack.json
    mlrobust attack run runs/mf.safetensors --dataset multi_fashion --graph fashion_mnist
    mlrobust attack run mypkg.nets:resnet --weights w.safetensors --rule topk:2
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from mlrobust.attacks import AttackGoal, available_attacks, get_attack
from mlrobust.cli.common import Bars, console, friendly_errors, progress_bar
from mlrobust.engine import SerialExecutor, Store, run_pending
from mlrobust.errors import InputError
from mlrobust.metrics import attack_row
from mlrobust.rules import TopK, parse_rule
from mlrobust.threats import L2Ball, LinfBall

app = typer.Typer(help="Multi-label adversarial attacks.", no_args_is_help=True)


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise InputError(f"expected comma-separated numbers, got {text!r}") from exc


@app.command("run")
@friendly_errors
def run(
    checkpoint: str = typer.Argument(
        ...,
        help="shipped model name, checkpoint, .onnx or .pt2 file, or a factory "
        "package.module:function",
    ),
    weights: str = typer.Option(
        None, help="weights for a factory model (.safetensors, .pt state dict)"
    ),
    dataset: str = typer.Option(
        "samples", help="dataset name, voc:PATH, coco:PATH, .npz file or image folder"
    ),
    graph_source: str = typer.Option(
        "",
        "--graph",
        help="label graph for GMLA and FR_S: a prebuilt name (voc, coco, nuswide, "
        "fashion_mnist, cifar10), a graph JSON file, or none (default: the prebuilt graph "
        "whose nodes are the model's labels, if any)",
    ),
    split: str = typer.Option("test", help="dataset split"),
    n: int = typer.Option(100, "-n", "--n", help="number of images"),
    skip_bad_images: bool = typer.Option(
        False, "--skip-bad-images", help="leave out images that cannot be decoded (else: error)"
    ),
    attacks: str = typer.Option("mla-u,mla-c,gmla,mla-lp", help="comma-separated attack names"),
    eps: str = typer.Option("0.005,0.01,0.02,0.05", help="comma-separated radii"),
    sizes: str = typer.Option("1,2", help="comma-separated target-set sizes |Omega|"),
    norm: str = typer.Option("linf", help="linf or l2"),
    rule: str = typer.Option(
        "", help="decision rule threshold:T or topk:K (default: the checkpoint's rule)"
    ),
    seed: int = typer.Option(0, help="seed for the random target sets"),
    out: Path = typer.Option(Path("attack.json"), help="JSON file for all numbers"),
) -> None:
    """Attack a model on a dataset over an eps grid and target-set sizes."""
    from mlrobust.datasets import load_dataset
    from mlrobust.evaluate.models import common_shape, dataset_for, graph_for, load_model
    from mlrobust.graphs import load_graph
    from mlrobust.models import predict_logits
    from mlrobust.models.user import with_weights

    names = [a.strip() for a in attacks.split(",") if a.strip()]
    unknown = sorted(set(names) - set(available_attacks()))
    if unknown:
        raise InputError(f"unknown attacks {unknown}; see `mlrobust attack list`")
    if norm not in ("linf", "l2"):
        raise InputError("--norm must be linf or l2")
    ref = with_weights(checkpoint, weights) if weights is not None else checkpoint
    data = load_dataset(
        dataset, split, n, skip_bad_images=skip_bad_images, shape=common_shape([ref])
    )
    loaded = load_model(ref, parse_rule(rule) if rule else None, data.input_shape)
    model, decision = loaded.module, loaded.rule
    graph_source = graph_for(graph_source, loaded, data)
    graph = load_graph(graph_source) if graph_source else None
    data = dataset_for(loaded, data, dataset, graph)
    x, num_labels = data.x, data.num_labels
    goals = {}
    for size in (int(s) for s in _floats(sizes)):
        # under top-k, attack the predicted labels (hide a detected object), as evaluate does
        allowed = decision.predict(predict_logits(model, x)) if isinstance(decision, TopK) else None
        goals[size] = AttackGoal.random(
            len(x), num_labels, size=size, seed=seed, rule=decision, allowed=allowed, graph=graph
        )
    units = [(size, r, name) for size in goals for r in _floats(eps) for name in names]

    def run_unit(unit: tuple[int, float, str]) -> dict:
        size, radius, name = unit
        threat = LinfBall(radius) if norm == "linf" else L2Ball(radius)
        try:
            result = get_attack(name)(model, x, goals[size], threat)
        except InputError as exc:  # e.g. an l2 ball for an l_inf-only attack
            return {"attack": name, "eps": radius, "size": size, "skipped": str(exc)}
        return {"attack": name, "eps": radius, "size": size, **attack_row(x, result, graph)}

    # every finished unit is stored at once (OUT.sqlite beside OUT): a killed run loses only
    # the unit in flight, and the same command resumes
    settings = [ref, dataset, split, n, norm, str(decision), graph_source, seed, len(x)]
    store = Store(out.with_suffix(".sqlite"), json.dumps(settings), _MISMATCH)
    try:
        with progress_bar() as bars:
            run_pending(
                SerialExecutor(),
                run_unit,
                units,
                store,
                key=_unit_key,
                rows=lambda u, row: [(_unit_key(u), "attack", row)],
                progress=Bars(bars),
                description="attacks",
            )
        stored = store.payloads("attack")
    finally:
        store.close()
    rows = []
    for unit in units:
        row = stored[_unit_key(unit)]
        if "skipped" in row:
            typer.echo(f"skipped {row['attack']} at eps={row['eps']}: {row['skipped']}", err=True)
        else:
            rows.append(row)
    _print_table(rows)
    out.write_text(json.dumps({"checkpoint": str(checkpoint), "rows": rows}, indent=1))
    typer.echo(f"wrote {out}")


_MISMATCH = "Use another --out file, or delete its .sqlite to start afresh."


def _unit_key(unit: tuple[int, float, str]) -> str:
    size, radius, name = unit
    return f"attack/{name}/eps={radius!r}/size={size}"


@app.command("list")
def list_attacks() -> None:
    """List the available attacks (built-in and plugins)."""
    for name, cls in sorted(available_attacks().items()):
        typer.echo(f"{name}\t{(cls.__doc__ or '').strip().splitlines()[0]}")


def _print_table(rows: list[dict]) -> None:
    from mlrobust.reports.evaluation import fmt  # here: matplotlib stays out of CLI start-up

    table = Table(title="Attack results (means over successes where applicable)")
    cols = ["attack", "eps", "size", "FR_N", "FR_S", "NT_R", "SSIM", "linf"]
    for c in cols:
        table.add_column(c)
    for r in rows:
        table.add_row(*[fmt(r.get(c)) for c in cols])  # one dash for no value, as the reports
    console.print(table)
