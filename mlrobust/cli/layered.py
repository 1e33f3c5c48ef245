"""``mlrobust layered --model double_mnist_none --n 5``: certified layered epsilons per image."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer

from mlrobust.cli.common import friendly_errors
from mlrobust.errors import InputError, MLRobustError


@friendly_errors
def layered_command(
    model: str = typer.Option("double_mnist_none", help="Shipped model name or checkpoint path."),
    n: int = typer.Option(
        5, "-n", "--n", help="Images (the first usable shipped Double-MNIST samples)."
    ),
    start: int = typer.Option(0, help="First sample index to consider."),
    method: str = typer.Option("guided", help="guided | naive"),
    cutting: str = typer.Option("fixed", help="fixed | sensitivity (guided only)"),
    weights: str = typer.Option("uniform", help="uniform | decreasing (layer weights w)"),
    max_calls: int = typer.Option(30, help="Candidates per image (guided)."),
    bisections: int = typer.Option(4, help="Binary-search probes per layer (naive)."),
    milp_timeout: float = typer.Option(5.0, help="Seconds per MILP call."),
    time_limit: float = typer.Option(120.0, help="Seconds per image for the search."),
    out: Path = typer.Option(
        Path("reports/layered"), help="Folder for heatmap PNGs and CSV (beside evaluate's)."
    ),
) -> None:
    """Synthesise certified layered epsilons (paper 000): target = left digit, perturbed
    object = right digit; writes one heatmap PNG per image and a summary CSV."""
    from mlrobust.datasets import shipped_samples
    from mlrobust.models import resolve_model
    from mlrobust.reports.layered import write_layered_csv, write_layered_heatmap
    from mlrobust.synthesis import (
        CuttingWeights,
        LayerWeights,
        OracleConfig,
        SynthesisConfig,
        guided_synthesis,
        naive_synthesis,
    )
    from mlrobust.synthesis.cases import layered_case, pick_images

    if method not in ("guided", "naive"):
        raise InputError(f"unknown method {method!r}; use guided or naive.")
    try:
        cw, lw = CuttingWeights(cutting.lower()), LayerWeights(weights.lower())
    except ValueError:
        raise InputError(
            f"unknown cutting {cutting!r} or weights {weights!r}; use "
            "fixed|sensitivity and uniform|decreasing."
        ) from None
    if n < 1 or milp_timeout <= 0 or time_limit <= 0:
        raise InputError("--n, --milp-timeout and --time-limit must be positive.")
    try:
        net, _ = resolve_model(model)
        ds = shipped_samples()
        oracle = OracleConfig()
        cfg = SynthesisConfig(
            oracle=replace(oracle, milp=replace(oracle.milp, timeout_s=milp_timeout)),
            weights=lw,
            cutting=cw,
            max_calls=max_calls,
            bisections=bisections,
            time_limit_s=time_limit,
            final_milp=replace(oracle.milp, timeout_s=2 * milp_timeout),
        )
        run = guided_synthesis if method == "guided" else naive_synthesis
        rows = []
        for i in pick_images([net], ds, n, start=start):
            prob = layered_case(net, ds, i)
            res = run(prob, cfg)
            png = write_layered_heatmap(out / f"layered_{i}.png", ds.x[i], res)
            rows.append((i, res))
            up = "-" if res.upper_size is None else f"{res.upper_size:.4f}"
            typer.echo(
                f"image {i} target {res.target}: w.eps {res.size:.4f} (upper {up}) "
                f"calls attack {res.calls.attack} crown {res.calls.crown} milp "
                f"{res.calls.milp}, {res.seconds:.1f}s, final {res.final_verdict.value}"
                f" -> {png}"
            )
        csv_path = write_layered_csv(out / "layered.csv", rows)
        typer.echo(f"wrote {csv_path}")
    except MLRobustError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
