"""``mlrobust demo``: clean metrics and a first attack on the shipped models and samples."""

from __future__ import annotations

import typer
from rich.table import Table

from mlrobust.attacks import MLAU, AttackGoal, MLAUConfig
from mlrobust.cli.common import console, friendly_errors
from mlrobust.datasets import shipped_samples
from mlrobust.models import SHIPPED, predict_logits, shipped_checkpoint
from mlrobust.threats import LinfBall
from mlrobust.training.train import clean_metrics


@friendly_errors
def demo_command(
    eps: float = typer.Option(0.05, help="l_inf radius of the demonstration attack."),
    n: int = typer.Option(100, "-n", "--n", help="Number of shipped sample images to use."),
    steps: int = typer.Option(50, help="MLA-U iterations."),
) -> None:
    """Clean metrics of the shipped Double-MNIST models and an MLA-U attack on each."""
    data = shipped_samples().subset(slice(0, n))
    table = Table(
        title=f"Shipped Double-MNIST models on {len(data)} sample images "
        f"(MLA-U, {steps} steps, l_inf eps={eps:g}: push one predicted digit "
        "out of the top 2)"
    )
    for col in ("model", "rule", "subset acc.", "hamming", "micro F1", "mAP", "fooling rate"):
        table.add_column(col, justify="right", no_wrap=col == "model")
    for name in SHIPPED:
        model, info = shipped_checkpoint(name)
        rule = info.decision_rule
        metrics = clean_metrics(model, data, rule)
        predicted = rule.predict(predict_logits(model, data.x))
        goal = AttackGoal.random(
            len(data), data.num_labels, size=1, seed=0, rule=rule, allowed=predicted
        )
        result = MLAU(MLAUConfig(steps=steps))(model, data.x, goal, LinfBall(eps))
        table.add_row(
            name,
            info.rule,
            f"{metrics['subset_accuracy']:.3f}",
            f"{metrics['hamming_loss']:.4f}",
            f"{metrics['micro_f1']:.3f}",
            f"{metrics['mAP']:.3f}",
            f"{result.success_rate:.1%}",
        )
    console.print(table)
