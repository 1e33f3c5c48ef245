"""``mlrobust demo``: clean metrics and a first attack on the shipped models and samples."""

from __future__ import annotations

import torch
import typer
from rich.table import Table

from mlrobust.cli.common import console, friendly_errors
from mlrobust.datasets import shipped_samples
from mlrobust.models import SHIPPED, predict_logits, shipped_checkpoint
from mlrobust.models.training import clean_metrics, pgd_bce


@friendly_errors
def demo_command(
    eps: float = typer.Option(0.05, help="l_inf radius of the demonstration attack."),
    n: int = typer.Option(200, help="Number of shipped sample images to use."),
) -> None:
    """Clean metrics of the three shipped Double-MNIST models and a PGD attack on each."""
    data = shipped_samples().subset(slice(0, n))
    table = Table(title=f"Shipped Double-MNIST models on {len(data)} sample images "
                        f"(attack: 20-step PGD on BCE, eps={eps:g})")
    for col in ("model", "rule", "subset acc.", "hamming", "micro F1", "mAP",
                "label set changed by attack"):
        table.add_column(col, justify="right")
    for name in SHIPPED:
        model, info = shipped_checkpoint(name)
        rule = info.decision_rule
        metrics = clean_metrics(model, data, rule)
        x_adv = pgd_bce(model, data.x, data.y.float(), eps, 20, eps / 8,
                        torch.Generator().manual_seed(0))
        clean = rule.predict(predict_logits(model, data.x))
        adv = rule.predict(predict_logits(model, x_adv))
        changed = (clean != adv).any(1).float().mean().item()
        table.add_row(name, info.rule, f"{metrics['subset_accuracy']:.3f}",
                      f"{metrics['hamming_loss']:.4f}", f"{metrics['micro_f1']:.3f}",
                      f"{metrics['mAP']:.3f}", f"{changed:.1%}")
    console.print(table)
