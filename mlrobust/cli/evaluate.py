"""``mlrobust evaluate`` (the main job) and ``mlrobust compare``.

mlrobust evaluate                                  # shipped Double-MNIST models, reports/
mlrobust evaluate runs/mine.safetensors --dataset multi_fashion -n 50 --eps 0.005,0.01
mlrobust evaluate --config eval.toml --workers 4
mlrobust evaluate mypkg.nets:resnet --weights w.safetensors --rule topk:2 --dataset samples
mlrobust compare reports/double_mnist_none reports/double_mnist_pgd
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from mlrobust.cli.common import Bars, console, friendly_errors, progress_bar
from mlrobust.errors import InputError


def _split(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def _shown(key: str) -> str:
    """The built-in default of config key ``key`` as --help shows it (the options default to
    None so that a --config file can fill them; the value shown is what applies without one)."""
    from dataclasses import MISSING, fields
    from enum import Enum

    from mlrobust.evaluate.config import EvaluationConfig

    f = next(f for f in fields(EvaluationConfig) if f.name == key)
    value = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc,operator]
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, Enum):
        return value.name.lower()
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if value != "" else "none"


@friendly_errors
def evaluate_command(
    models: list[str] = typer.Argument(
        None,
        help="shipped model names, checkpoints, .onnx or .pt2 (torch.export) files, or "
        "your own factory package.module:function (default: the shipped Double-MNIST models)",
    ),
    weights: str = typer.Option(
        None,
        help="weights (.safetensors, or a .pt/.pth state dict) for the one factory model "
        "package.module:function given",
    ),
    config: Path = typer.Option(
        None,
        "--config",
        help="TOML file with EvaluationConfig keys; options given here override it",
    ),
    dataset: str = typer.Option(
        None,
        help="samples, double_mnist, multi_fashion, voc:PATH, coco:PATH, .npz or an image folder",
        show_default=_shown("dataset"),
    ),
    split: str = typer.Option(None, help="dataset split", show_default=_shown("split")),
    n: int = typer.Option(None, "-n", "--n", help="number of images", show_default=_shown("n")),
    skip_bad_images: bool = typer.Option(
        None,
        "--skip-bad-images",
        help="leave out images that cannot be decoded (else: error)",
        show_default=_shown("skip_bad_images"),
    ),
    graph: str = typer.Option(
        None,
        help="label graph for GMLA and FR_S: prebuilt name or JSON (default: the prebuilt graph "
        "whose labels match the dataset's, if any)",
    ),
    rule: str = typer.Option(
        None, help="decision rule threshold:T or topk:K (default: the model's own rule)"
    ),
    attacks: str = typer.Option(
        None, help="comma-separated attacks for the attack table", show_default=_shown("attacks")
    ),
    eps: str = typer.Option(None, help="comma-separated l_inf radii", show_default=_shown("eps")),
    sizes: str = typer.Option(
        None, help="comma-separated target-set sizes |Omega|", show_default=_shown("target_sizes")
    ),
    falsifier: str = typer.Option(
        None, help="attack that searches witnesses per cell", show_default=_shown("falsifier")
    ),
    falsifier_restarts: int = typer.Option(
        None,
        help="random restarts of the falsifier on cells both sides left UNKNOWN",
        show_default=_shown("falsifier_restarts"),
    ),
    verifier: str = typer.Option(
        None, help="verifier name (milp, crown, plugins)", show_default=_shown("verifier")
    ),
    timeout: float = typer.Option(
        None,
        help="verifier time limit per (image, eps), seconds",
        show_default=_shown("verifier_timeout_s"),
    ),
    retry_budget: float = typer.Option(
        None,
        help="seconds of worker time for retry rounds on UNKNOWN cells (4x the limit each round, "
        "closest to an answer first; 0 = none)",
        show_default=_shown("retry_budget_s"),
    ),
    budget: float = typer.Option(
        None,
        help="seconds of worker time per model for the whole grid, charged by limit: the cheap "
        "pass (--timeout per image and eps), then retry rounds with the rest (0 = none)",
        show_default=_shown("budget_s"),
    ),
    tightening: str = typer.Option(
        None, help="interval, crown, lp or mip", show_default=_shown("tightening")
    ),
    steps: int = typer.Option(None, help="attack iterations", show_default=_shown("attack_steps")),
    verify_falsified: bool = typer.Option(
        None,
        "--verify-falsified/--skip-falsified",
        help="also verify cells an attack falsified",
        show_default=_shown("verify_falsified"),
    ),
    layered: bool = typer.Option(
        None,
        "--layered/--no-layered",
        help="layered-epsilon synthesis on a few images (top-k models, datasets with masks)",
        show_default=_shown("layered"),
    ),
    workers: int = typer.Option(
        None, help="worker processes (1 = in this process)", show_default=_shown("workers")
    ),
    executor: str = typer.Option(
        None,
        help="pool (this machine's processes) or ray (a local Ray or a cluster)",
        show_default=_shown("executor"),
    ),
    ray_address: str = typer.Option(
        None, help="Ray cluster to join: HOST:PORT, ray://HOST:PORT or auto (--executor ray)"
    ),
    seed: int = typer.Option(
        None, help="seed of the target sets and verifier restarts", show_default=_shown("seed")
    ),
    out: Path = typer.Option(
        None, help="reports folder (one subfolder per model)", show_default=_shown("out_dir")
    ),
    fresh: bool = typer.Option(False, help="discard stored cells instead of resuming"),
) -> None:
    """Attack and verify models; write reports/<model>/index.html, results.json, CSV, PNG.
    Re-running the same command resumes: finished cells are skipped."""
    from mlrobust.evaluate import config_from_mapping, default_config, evaluate, load_config
    from mlrobust.models.user import is_factory_ref, with_weights

    cfg = load_config(config) if config is not None else default_config()
    if weights is not None:
        factories = [m for m in models or [] if is_factory_ref(m)]
        if len(factories) != 1:
            raise InputError(
                "--weights needs exactly one factory model `package.module:function` among "
                f"the models; got {len(factories)}. Give several as package.module:function@W."
            )
        models = [with_weights(m, weights) if is_factory_ref(m) else m for m in models]
    given: dict[str, Any] = {
        "models": models or None,
        "dataset": dataset,
        "split": split,
        "n": n,
        "skip_bad_images": skip_bad_images,
        "graph": graph,
        "rule": rule,
        "attacks": _split(attacks),
        "eps": _split(eps),
        "target_sizes": _split(sizes),
        "falsifier": falsifier,
        "falsifier_restarts": falsifier_restarts,
        "verifier": verifier,
        "verifier_timeout_s": timeout,
        "retry_budget_s": retry_budget,
        "budget_s": budget,
        "tightening": tightening,
        "attack_steps": steps,
        "verify_falsified": verify_falsified,
        "layered": layered,
        "workers": workers,
        "executor": executor,
        "ray_address": ray_address,
        "seed": seed,
        "out_dir": out,
    }
    cfg = config_from_mapping(
        {k: v for k, v in given.items() if v is not None}, base=cfg, source="command line"
    )
    with progress_bar() as bars:
        reports = evaluate(cfg, progress=Bars(bars), fresh=fresh)
    for rep in reports:
        _print_summary(rep.result)
        console.print(f"report: {rep.folder / 'index.html'}")


def _print_summary(result: Any) -> None:
    from mlrobust.reports.evaluation import fmt

    table = Table(title=f"{result.model}: robust accuracy (certified <= true <= empirical)")
    for c in ("eps", "verified", "falsified", "unknown", "certified", "empirical"):
        table.add_column(c)
    for r in result.robustness:
        table.add_row(
            fmt(r["eps"]),
            str(r["verified"]),
            str(r["falsified"]),
            str(r["unknown"]),
            fmt(r["certified_accuracy"]),
            fmt(r["empirical_accuracy"]),
        )
    console.print(table)
    decided = sum(r["verified"] + r["falsified"] for r in result.robustness)
    total = sum(r["cells"] for r in result.robustness)
    console.print(
        f"{result.model}: {decided} of {total} cells decided ({decided / max(total, 1):.1%})"
    )


@friendly_errors
def compare_command(
    folders: list[Path] = typer.Argument(..., help="report folders written by evaluate"),
    out: Path = typer.Option(Path("reports/compare"), help="folder for compare.html/.csv"),
) -> None:
    """Put several models' reports side by side (compare.html, compare.csv)."""
    from mlrobust.reports.compare import COMPARE_COLUMNS, write_comparison
    from mlrobust.reports.evaluation import fmt

    files, rows = write_comparison(list(folders), out)
    table = Table(title="Robust accuracy by model")
    for c in COMPARE_COLUMNS:
        table.add_column(c)
    for r in rows:
        table.add_row(*[fmt(r[c]) for c in COMPARE_COLUMNS])
    console.print(table)
    console.print(f"report: {files.html}")
