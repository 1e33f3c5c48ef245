"""``mlrobust partial-labels``: paper 003's experiment, and the label-attack / loss parsers
that ``mlrobust train`` shares."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer
from rich.table import Table

from mlrobust.cli.common import console, friendly_errors, progress_bar
from mlrobust.datasets.label_attacks import LabelAttack, Removal
from mlrobust.errors import InputError
from mlrobust.training.partial_experiment import (
    PAPER_ATTACKS,
    PartialExperimentConfig,
    PartialExperimentResult,
    run_partial_experiment,
)
from mlrobust.training.partial_losses import PartialLoss, PartialLossConfig
from mlrobust.training.train import TrainConfig

_ATTACK_HELP = "'targeted:Q' (T_q), 'random:Q' (R_q) or 'single' (T_s); also T_0.4, R_0.2, T_s"


def parse_label_attack(text: str) -> LabelAttack:
    """``targeted:0.4`` / ``T_0.4``, ``random:0.2`` / ``R_0.2``, ``single`` / ``T_s``."""
    spec = text.strip()
    lowered = spec.lower()
    if lowered in ("single", "t_s"):
        return LabelAttack(removal=Removal.SINGLE)
    kinds = {
        "targeted": Removal.TARGETED,
        "t": Removal.TARGETED,
        "random": Removal.RANDOM,
        "r": Removal.RANDOM,
    }
    sep = ":" if ":" in lowered else "_"
    kind, _, value = lowered.partition(sep)
    if kind not in kinds or not value:
        raise InputError(f"Unknown label attack {text!r}; use {_ATTACK_HELP}.")
    try:
        q = float(value)
    except ValueError:
        raise InputError(
            f"The q of label attack {text!r} is not a number; use {_ATTACK_HELP}."
        ) from None
    return LabelAttack(removal=kinds[kind], q=q)


def parse_partial_loss(text: str) -> PartialLossConfig:
    """``an``, ``wan``, ``pseudo``, or ``pseudo@V`` (pseudo-labels starting at V, not 1)."""
    name, _, init = text.strip().lower().partition("@")
    try:
        method = PartialLoss(name)
    except ValueError:
        raise InputError(
            f"Unknown partial-label loss {text!r}; use an, wan, pseudo or pseudo@V."
        ) from None
    if not init:
        return PartialLossConfig(method=method)
    if method is not PartialLoss.PSEUDO:
        raise InputError(f"{text!r}: only pseudo takes a start value (pseudo@V).")
    try:
        return PartialLossConfig(method=method, initial_pseudo_label=float(init))
    except ValueError:
        raise InputError(f"The start value in {text!r} is not a number.") from None


def _split(text: str) -> list[str]:
    return [part for part in (p.strip() for p in text.split(",")) if part]


@friendly_errors
def partial_labels_command(
    datasets: str = typer.Option(
        "multi_fashion,double_mnist",
        "--datasets",
        help="Comma-separated: multi_fashion, double_mnist.",
    ),
    attacks: str = typer.Option(
        ",".join(a.name for a in PAPER_ATTACKS),
        help=f"Comma-separated label attacks: {_ATTACK_HELP}.",
    ),
    losses: str = typer.Option(
        "an,wan,pseudo",
        help="Comma-separated: an, wan, pseudo, pseudo@V (pseudo-labels start at V instead of 1).",
    ),
    baseline: bool = typer.Option(True, help="Also train plain BCE on the full labels."),
    n_train: int = typer.Option(4000, min=1, help="Training images per dataset."),
    n_test: int = typer.Option(1000, min=1, help="Test images for mAP."),
    n_robust: int = typer.Option(200, min=1, help="Test images attacked by MLA-U."),
    epochs: int = typer.Option(3, min=1, help="Passes over the training images."),
    batch_size: int = typer.Option(64, min=1, help="Images per optimiser step."),
    lr: float = typer.Option(1e-2, help="Peak learning rate (one-cycle schedule, Adam)."),
    architecture: str = typer.Option(
        "",
        "--arch",
        help="Zoo model (default: paper000_cnn for Double-MNIST, small_cnn for Multi-Fashion).",
    ),
    eps: str = typer.Option(
        "0.01,0.03", help="Comma-separated l_inf radii of the MLA-U robustness attack."
    ),
    attack_steps: int = typer.Option(100, min=1, help="MLA-U iterations."),
    seed: int = typer.Option(0, help="Random seed (weights, data order, sampling)."),
    json_out: Path = typer.Option(None, "--json", help="Write every run as JSON here."),
) -> None:
    """Train AN / WAN / pseudo-label models under paper 003's label attacks; report clean mAP
    (paper 003, Tables I-II) and the MLA-U fooling rate per method and attack."""
    try:
        radii = tuple(float(e) for e in _split(eps))
    except ValueError:
        raise InputError(f"--eps must be comma-separated numbers, got {eps!r}.") from None
    config = PartialExperimentConfig(
        datasets=tuple(_split(datasets)),
        attacks=tuple(parse_label_attack(a) for a in _split(attacks)),
        losses=tuple(parse_partial_loss(s) for s in _split(losses)),
        full_label_baseline=baseline,
        n_train=n_train,
        n_test=n_test,
        n_robust=n_robust,
        training=TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed),
        architecture=architecture or None,
        eps=radii,
        attack_steps=attack_steps,
        seed=seed,
    )
    with progress_bar() as bar:
        task = bar.add_task("partial labels", total=1)

        def report(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=what)

        result = run_partial_experiment(config, progress=report)
        bar.update(task, completed=bar.tasks[0].total or 1)
    for name in config.datasets:
        console.print(_table(result, name, None))
        for index in range(len(radii)):
            console.print(_table(result, name, index))
        certified = {
            (r.loss, r.attack): r.certified
            for r in result.runs
            if r.dataset == name and r.certified is not None
        }
        if certified:
            console.print(
                f"{name}: certified fraction at eps {config.certify_eps:g} "
                f"({config.n_certify} images): "
                + ", ".join(
                    f"{loss}/{attack} {100 * v:.0f}%" for (loss, attack), v in certified.items()
                )
            )
    if json_out is not None:
        payload = {
            "scale": {
                "n_train": n_train,
                "n_test": n_test,
                "n_robust": n_robust,
                "epochs": epochs,
                "batch_size": batch_size,
                "lr": lr,
                "architecture": architecture or "default",
                "eps": list(radii),
                "attack": "mla-u",
                "attack_steps": attack_steps,
                "seed": seed,
                "top_k": result.k,
            },
            "runs": [asdict(run) for run in result.runs],
        }
        json_out.write_text(json.dumps(payload, indent=2))
        console.print(f"wrote {json_out}")


def _table(result: PartialExperimentResult, dataset: str, eps_index: int | None) -> Table:
    values = result.table(dataset, eps_index)
    columns = list(dict.fromkeys(a for row in values.values() for a in row))
    what = (
        "clean mAP %"
        if eps_index is None
        else f"MLA-U fooling rate % at eps {result.eps[eps_index]:g} (top-{result.k[dataset]})"
    )
    table = Table(title=f"{dataset}: {what}")
    table.add_column("loss")
    for column in columns:
        table.add_column(column, justify="right")
    for loss, row in values.items():
        table.add_row(loss, *(f"{100 * row[c]:.1f}" if c in row else "" for c in columns))
    return table
