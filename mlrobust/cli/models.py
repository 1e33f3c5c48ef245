"""``mlrobust train`` and ``mlrobust info``."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer
from rich.table import Table

from mlrobust.cli.common import console, friendly_errors, progress_bar
from mlrobust.cli.partial import parse_label_attack, parse_partial_loss
from mlrobust.datasets import load_dataset, with_ancestors
from mlrobust.datasets.label_attacks import (
    LabelAttack,
    PartialLabels,
    full_labels,
    remove_labels,
)
from mlrobust.errors import InputError
from mlrobust.graphs import load_graph
from mlrobust.models import ModelInfo, build_model, resolve_model, save_checkpoint
from mlrobust.rules import parse_rule
from mlrobust.training.partial_experiment import loss_name
from mlrobust.training.partial_losses import PartialLossConfig
from mlrobust.training.partial_training import train_partial
from mlrobust.training.train import Regime, TrainConfig, clean_metrics, train

DEFAULT_ARCH = {"double_mnist": "paper000_cnn", "multi_fashion": "small_cnn"}


def _arch_options(items: list[str]) -> dict[str, int]:
    options = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key.isidentifier() or not value.strip().isdigit():
            raise InputError(f"--arch-option takes KEY=N (e.g. blocks=3), got {item!r}.")
        options[key] = int(value)
    return options


@friendly_errors
def train_command(
    out: Path = typer.Argument(..., help="Checkpoint to write: OUT.safetensors + OUT.json."),
    dataset: str = typer.Option(
        "double_mnist",
        help="double_mnist, multi_fashion, a .npz file "
        "or an image folder with labels.csv/labels.json.",
    ),
    architecture: str = typer.Option(
        "",
        "--arch",
        help="paper000_cnn, mlp, small_cnn or residual_cnn "
        "(default: paper000_cnn for Double-MNIST, small_cnn else).",
    ),
    arch_options: list[str] = typer.Option(
        [],
        "--arch-option",
        help="Architecture option KEY=N (repeatable), e.g. blocks=3 or channels=16 for "
        "residual_cnn.",
    ),
    regime: Regime = typer.Option(
        Regime.NONE, help="Defence: none, l0 (black rectangles) or pgd (adversarial training)."
    ),
    epochs: int = typer.Option(12, min=1, help="Passes over the training images."),
    batch_size: int = typer.Option(128, min=1, help="Images per optimiser step."),
    lr: float = typer.Option(1e-2, help="Peak learning rate (one-cycle schedule, Adam)."),
    rule: str = typer.Option(
        "",
        help="Decision rule stored with the model, 'topk:K' or "
        "'threshold:T' (default: topk:2 for Double-MNIST, threshold:0.5).",
    ),
    n_train: int = typer.Option(0, help="Training images (0 = the whole split)."),
    n_test: int = typer.Option(2000, help="Test images for the clean metrics."),
    pgd_eps: float = typer.Option(
        0.05, help="l_inf radius of PGD training (the shipped PGD model: 0.05)."
    ),
    pgd_steps: int = typer.Option(3, help="PGD steps per batch (the shipped PGD model: 3)."),
    seed: int = typer.Option(0, help="Random seed (weights, data order, sampling)."),
    label_attack: str = typer.Option(
        "", help="Remove training labels first (paper 003): 'targeted:Q', 'random:Q' or 'single'."
    ),
    partial_loss: str = typer.Option(
        "",
        help="Loss for partially observed labels: an, wan, "
        "pseudo or pseudo@V (default an with --label-attack).",
    ),
    download: bool = typer.Option(
        False, help="Fetch missing MNIST/Fashion files from the official mirrors."
    ),
    graph_source: str = typer.Option(
        "",
        "--graph",
        help="Train on leaf + ancestor labels of "
        "this label graph: a prebuilt name (e.g. fashion_mnist) "
        "or a graph JSON file.",
    ),
) -> None:
    """Train a multi-label classifier with BCE (optionally with a defence) and save it."""
    train_set = load_dataset(dataset, "train", n_train or None, seed=seed + 1, download=download)
    test_set = load_dataset(dataset, "test", n_test or None, seed=seed + 2, download=download)
    if graph_source:
        graph = load_graph(graph_source)
        train_set, test_set = with_ancestors(train_set, graph), with_ancestors(test_set, graph)
    arch = architecture or DEFAULT_ARCH.get(dataset, "small_cnn")
    decision = parse_rule(rule or ("topk:2" if dataset == "double_mnist" else "threshold:0.5"))
    options = _arch_options(arch_options)
    model = build_model(arch, train_set.input_shape, train_set.num_labels, None, **options)
    config = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        regime=regime,
        seed=seed,
        pgd_eps=pgd_eps,
        pgd_steps=pgd_steps,
    )
    attack = parse_label_attack(label_attack) if label_attack else None
    partial = parse_partial_loss(partial_loss or "an") if attack or partial_loss else None
    labels = None
    if partial is not None:
        labels = (
            remove_labels(train_set.y, attack, seed=seed)
            if attack is not None
            else full_labels(train_set.y)
        )
    with progress_bar() as bar:
        task = bar.add_task(f"training {arch} ({regime.value})", total=epochs)

        def report(epoch: int, batch: int, batches: int, loss: float) -> None:
            bar.update(
                task,
                completed=epoch + batch / batches,
                description=f"epoch {epoch + 1}/{epochs} loss {loss:.4f}",
            )

        if partial is not None and labels is not None:
            history = train_partial(model, train_set, labels, config, partial, progress=report)
        else:
            history = train(model, train_set, config, progress=report)
    metrics = clean_metrics(model, test_set, decision)
    info = ModelInfo(
        architecture=arch,
        architecture_options=options,
        input_shape=train_set.input_shape,
        label_names=train_set.label_names,
        rule=str(decision),
        dataset=dataset,
        regime=regime.value,
        training={
            **{k: (v.value if isinstance(v, Regime) else v) for k, v in asdict(config).items()},
            "losses": list(history.losses),
            "seconds": round(history.seconds, 1),
            "train_images": len(train_set),
            "test_images": len(test_set),
            **_partial_info(attack, partial, labels),
            **({"graph": graph_source} if graph_source else {}),
        },
        metrics=metrics,
    )
    path = save_checkpoint(out, model, info)
    console.print(
        f"saved {path} ({history.seconds:.0f} s, {history.images_per_second:.0f} images/s)"
    )
    console.print(_metrics_table(metrics, f"clean metrics on {len(test_set)} test images"))


@friendly_errors
def info_command(
    checkpoint: str = typer.Argument(..., help="A checkpoint path or a shipped model name."),
) -> None:
    """Show a checkpoint's architecture, labels, decision rule, training and metrics."""
    model, info = resolve_model(checkpoint)
    console.print(
        f"[bold]{checkpoint}[/]: {info.architecture} on input {info.input_shape}, "
        f"{len(info.label_names)} labels, rule {info.rule}, regime {info.regime}"
    )
    console.print(f"labels: {', '.join(info.label_names)}")
    params = sum(p.numel() for p in model.parameters())
    console.print(f"parameters: {params}")
    console.print(str(model))
    if info.metrics:
        console.print(_metrics_table(info.metrics, "clean metrics (stored at training time)"))


def _partial_info(
    attack: LabelAttack | None, partial: PartialLossConfig | None, labels: PartialLabels | None
) -> dict[str, object]:
    if partial is None or labels is None:
        return {}
    return {
        "label_attack": attack.name if attack is not None else "none",
        "q_hat": round(labels.q_hat, 6),
        "partial_loss": loss_name(partial),
    }


def _metrics_table(metrics: dict[str, float], title: str) -> Table:
    table = Table(title=title)
    for key in metrics:
        table.add_column(key, justify="right")
    table.add_row(*(f"{v:.4f}" for v in metrics.values()))
    return table
