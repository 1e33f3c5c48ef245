"""Paper 003's experiment at our scale: clean mAP and robustness of partial-label methods.

For every dataset, label attack (``T_s``, ``T_q``, ``R_q``) and loss (AN, WAN, pseudo-label)
one model is trained from the attacked labels and scored on clean test images by mAP (paper
003, Tables I-II) and by an empirical robustness measure of our own: the fooling rate of a
multi-label l_inf PGD at a fixed eps, i.e. the share of test images whose predicted label set
changes. Paper 003 measured robustness with D-Score instead; the question is the same: do
accuracy gains under missing labels bring robustness gains?
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from mlrobust.datasets.label_attacks import LabelAttack, Removal, full_labels, remove_labels
from mlrobust.datasets.registry import load_dataset
from mlrobust.errors import InputError
from mlrobust.metrics.quality import mean_average_precision
from mlrobust.models.architectures import build_model
from mlrobust.models.checkpoint import predict_logits
from mlrobust.models.partial_losses import PartialLoss, PartialLossConfig
from mlrobust.models.partial_training import train_partial
from mlrobust.models.training import TrainConfig, pgd_bce
from mlrobust.rules import TopK

log = logging.getLogger(__name__)

PAPER_ATTACKS = (
    LabelAttack(removal=Removal.SINGLE),
    *(LabelAttack(removal=Removal.TARGETED, q=q) for q in (0.6, 0.4, 0.2)),
    *(LabelAttack(removal=Removal.RANDOM, q=q) for q in (0.6, 0.4, 0.2)),
)
PAPER_LOSSES = (
    PartialLossConfig(method=PartialLoss.AN),
    PartialLossConfig(method=PartialLoss.WAN),
    PartialLossConfig(method=PartialLoss.PSEUDO),
)
DEFAULT_ARCH = {"double_mnist": "paper000_cnn", "multi_fashion": "small_cnn"}

# called before each run with (run index, number of runs, description)
ExperimentProgress = Callable[[int, int, str], None]


def loss_name(loss: PartialLossConfig) -> str:
    """A short row name: ``an``, ``wan``, ``pseudo`` (``pseudo@0`` for another start value)."""
    name = loss.method.value
    if loss.method is PartialLoss.PSEUDO and loss.initial_pseudo_label != 1.0:
        name += f"@{loss.initial_pseudo_label:g}"
    return name


@dataclass(frozen=True, kw_only=True)
class PartialExperimentConfig:
    """What to train and how to score it; the defaults are the small scale of the docs."""

    datasets: tuple[str, ...] = ("multi_fashion", "double_mnist")
    attacks: tuple[LabelAttack, ...] = PAPER_ATTACKS
    losses: tuple[PartialLossConfig, ...] = PAPER_LOSSES
    full_label_baseline: bool = True  # also train plain BCE on the unattacked labels
    n_train: int = 4000
    n_test: int = 1000
    n_robust: int = 200  # test images attacked by PGD
    training: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=3, batch_size=64, lr=1e-2))
    architecture: str | None = None  # None: DEFAULT_ARCH per dataset
    eps: float = 0.05
    pgd_steps: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.datasets or not self.attacks or not self.losses:
            raise InputError("Give at least one dataset, one label attack and one loss.")
        if min(self.n_train, self.n_test, self.n_robust) < 1:
            raise InputError("n_train, n_test and n_robust must be >= 1.")
        if self.eps < 0 or self.pgd_steps < 1:
            raise InputError("eps must be >= 0 and pgd_steps >= 1.")


@dataclass(frozen=True)
class PartialRun:
    """One trained model: its label attack, loss, clean mAP and PGD fooling rate."""

    dataset: str
    attack: str  # "T_s", "T_0.4", "R_0.2", or "full" for the unattacked baseline
    loss: str  # "an", "wan", "pseudo", or "bce" for the baseline
    q_hat: float  # share of training label entries removed
    map: float  # clean mAP on the test images
    fooling_rate: float  # share of attacked images whose top-k label set changed
    flipped_labels: float  # mean number of labels entering or leaving the top-k set
    seconds: float  # training wall time


@dataclass(frozen=True)
class PartialExperimentResult:
    runs: tuple[PartialRun, ...]
    eps: float
    k: dict[str, int]  # the top-k rule used for robustness, per dataset

    def table(self, dataset: str, value: str = "map") -> dict[str, dict[str, float]]:
        """``{loss: {attack: value}}`` for one dataset (``value``: a PartialRun field)."""
        out: dict[str, dict[str, float]] = {}
        for run in self.runs:
            if run.dataset == dataset:
                out.setdefault(run.loss, {})[run.attack] = getattr(run, value)
        return out


def pgd_fooling(model: nn.Module, x: torch.Tensor, rule: TopK, eps: float, steps: int,
                seed: int = 0) -> tuple[float, float]:
    """(fooling rate, mean flipped labels) of l_inf PGD on ``x [N, C, H, W]``.

    The PGD maximises BCE against the model's own clean top-k prediction (as attacks in this
    suite do), with 2.5 * eps / steps step size and a random start.
    """
    model.eval()
    clean = rule.predict(predict_logits(model, x))
    generator = torch.Generator().manual_seed(seed)
    x_adv = pgd_bce(model, x, clean.float(), eps, steps, 2.5 * eps / steps, generator)
    # an independent forward pass decides what changed
    adv = rule.predict(predict_logits(model, x_adv))
    changed = adv != clean
    return changed.any(dim=1).float().mean().item(), changed.sum(dim=1).float().mean().item()


def _score(model: nn.Module, test_x: torch.Tensor, test_y: torch.Tensor, rule: TopK,
           config: PartialExperimentConfig) -> tuple[float, float, float]:
    scores = predict_logits(model, test_x)
    ap = mean_average_precision(scores, test_y)
    fool, flipped = pgd_fooling(model, test_x[: config.n_robust], rule, config.eps,
                                config.pgd_steps, config.seed)
    return ap, fool, flipped


def run_partial_experiment(config: PartialExperimentConfig,
                           progress: ExperimentProgress | None = None) -> PartialExperimentResult:
    """Train and score every (dataset, attack, loss) combination of ``config``."""
    per_dataset = len(config.attacks) * len(config.losses) + int(config.full_label_baseline)
    total, done = per_dataset * len(config.datasets), 0
    runs: list[PartialRun] = []
    ks: dict[str, int] = {}
    for name in config.datasets:
        train_set = load_dataset(name, "train", config.n_train, seed=config.seed + 1)
        test_set = load_dataset(name, "test", config.n_test, seed=config.seed + 2)
        arch = config.architecture or DEFAULT_ARCH.get(name, "small_cnn")
        # rank-based like mAP: k = the typical number of objects per image
        k = max(1, round(train_set.y.sum(dim=1).float().mean().item()))
        ks[name] = k
        jobs: list[tuple[str, PartialLossConfig, LabelAttack | None]] = []
        if config.full_label_baseline:
            jobs.append(("bce", PartialLossConfig(method=PartialLoss.AN), None))
        jobs += [(loss_name(loss), loss, attack) for attack in config.attacks
                 for loss in config.losses]
        for label, loss, attack in jobs:
            labels = (full_labels(train_set.y) if attack is None else
                      remove_labels(train_set.y, attack, seed=config.seed))
            attack_name = "full" if attack is None else attack.name
            if progress is not None:
                progress(done, total, f"{name} {attack_name} {label}")
            torch.manual_seed(config.seed)
            model = build_model(arch, train_set.input_shape, train_set.num_labels)
            history = train_partial(model, train_set, labels, config.training, loss)
            ap, fool, flipped = _score(model, test_set.x, test_set.y, TopK(k), config)
            runs.append(PartialRun(dataset=name, attack=attack_name, loss=label,
                                   q_hat=labels.q_hat, map=ap, fooling_rate=fool,
                                   flipped_labels=flipped, seconds=history.seconds))
            log.info("%s %s %s: mAP %.4f, fooling rate %.3f", name, attack_name, label, ap, fool)
            done += 1
    return PartialExperimentResult(runs=tuple(runs), eps=config.eps, k=ks)


__all__ = ["DEFAULT_ARCH", "PAPER_ATTACKS", "PAPER_LOSSES", "PartialExperimentConfig",
           "PartialExperimentResult", "PartialRun", "loss_name", "pgd_fooling",
           "run_partial_experiment"]
