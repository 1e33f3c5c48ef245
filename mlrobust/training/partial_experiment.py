"""Paper 003's experiment at our scale: clean mAP and robustness of partial-label methods.

For every dataset, label attack (``T_s``, ``T_q``, ``R_q``) and loss (AN, WAN, pseudo-label)
one model is trained from the attacked labels and scored on clean test images by mAP (paper
003, Tables I-II) and by an empirical robustness measure from our own attack suite: the MLA-U
fooling rate (paper 001) at each eps of a grid, flipping one random label per image under a
top-k rule. Paper 003 measured robustness with D-Score instead; the question is the same: do
accuracy gains under missing labels bring robustness gains?
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from mlrobust.attacks import AttackGoal, get_attack
from mlrobust.datasets.label_attacks import LabelAttack, Removal, full_labels, remove_labels
from mlrobust.datasets.registry import load_dataset
from mlrobust.errors import InputError
from mlrobust.metrics.quality import mean_average_precision
from mlrobust.models.architectures import build_model
from mlrobust.models.checkpoint import predict_logits
from mlrobust.rules import TopK
from mlrobust.threats import LinfBall
from mlrobust.training.partial_losses import PartialLoss, PartialLossConfig
from mlrobust.training.partial_training import train_partial
from mlrobust.training.train import TrainConfig

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
    n_robust: int = 200  # test images attacked by MLA-U
    training: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=3, batch_size=64, lr=1e-2)
    )
    architecture: str | None = None  # None: DEFAULT_ARCH per dataset
    eps: tuple[float, ...] = (0.01, 0.03)  # l_inf radii of the robustness attack
    attack_steps: int = 100  # MLA-U iterations (paper 001 uses 300)
    # certified fraction (lower bound), only for the paper-000 CNN the MILP verifier can afford
    n_certify: int = 10
    certify_eps: float = 0.002
    certify_timeout_s: float = 2.0  # per (image, predicted label); UNKNOWN counts as not certified
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.datasets or not self.attacks or not self.losses:
            raise InputError("Give at least one dataset, one label attack and one loss.")
        if min(self.n_train, self.n_test, self.n_robust) < 1:
            raise InputError("n_train, n_test and n_robust must be >= 1.")
        if not self.eps or min(self.eps) <= 0 or self.attack_steps < 1:
            raise InputError("Give at least one eps > 0, and attack_steps >= 1.")
        if self.n_certify < 0 or self.certify_eps < 0 or self.certify_timeout_s <= 0:
            raise InputError("n_certify and certify_eps must be >= 0, certify_timeout_s > 0.")


@dataclass(frozen=True)
class PartialRun:
    """One trained model: its label attack, loss, clean mAP and MLA-U fooling rates."""

    dataset: str
    attack: str  # "T_s", "T_0.4", "R_0.2", or "full" for the unattacked baseline
    loss: str  # "an", "wan", "pseudo", or "bce" for the baseline
    q_hat: float  # share of training label entries removed
    map: float  # clean mAP on the test images
    fooling_rate: tuple[float, ...]  # MLA-U success share at each eps of the grid
    flipped_labels: tuple[float, ...]  # mean labels changed per attacked image, per eps
    seconds: float  # training wall time
    certified: float | None = None  # share of images whose top-k set is verified at certify_eps


@dataclass(frozen=True)
class PartialExperimentResult:
    runs: tuple[PartialRun, ...]
    eps: tuple[float, ...]
    k: dict[str, int]  # the top-k rule used for robustness, per dataset

    def table(self, dataset: str, eps_index: int | None = None) -> dict[str, dict[str, float]]:
        """``{loss: {attack: mAP}}`` for one dataset, or the fooling rate at
        ``eps[eps_index]``."""
        out: dict[str, dict[str, float]] = {}
        for run in self.runs:
            if run.dataset == dataset:
                value = run.map if eps_index is None else run.fooling_rate[eps_index]
                out.setdefault(run.loss, {})[run.attack] = value
        return out


def mla_u_fooling(
    model: nn.Module, x: torch.Tensor, rule: TopK, eps: tuple[float, ...], steps: int, seed: int = 0
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """MLA-U fooling rates and mean flipped labels of ``x [N, C, H, W]``, one per eps.

    Each image gets one random target label (the same at every eps), flipped relative to the
    model's clean top-k prediction; success is re-checked by the attack suite.
    """
    num_labels = int(predict_logits(model, x[:1]).shape[1])
    goal = AttackGoal.random(len(x), num_labels, size=1, seed=seed, rule=rule)
    attack = get_attack("mla-u", steps=steps)
    rates, flips = [], []
    for radius in eps:
        result = attack(model, x, goal, LinfBall(radius))
        rates.append(result.success_rate)
        flips.append(result.flips.sum(dim=1).float().mean().item())
    return tuple(rates), tuple(flips)


CERTIFIABLE = ("paper000_cnn",)  # architectures small enough for the MILP verifier here


def certified_fraction(
    model: nn.Module, x: torch.Tensor, rule: TopK, eps: float, timeout_s: float
) -> float:
    """Share of images ``x [N, C, H, W]`` whose every predicted label provably stays in the
    top-k within ``LinfBall(eps)`` (a lower bound on robust prediction; UNKNOWN counts as not
    certified)."""
    from mlrobust.verdicts import Verdict
    from mlrobust.verify import MILPVerifier, Tightening, VerifierConfig, verify_topk

    # interval tightening, as `mlrobust evaluate` does: with a budget of seconds, LP tightening
    # spends it all before the MILP starts
    verifier = MILPVerifier(VerifierConfig(tightening=Tightening.INTERVAL))
    predicted = rule.predict(predict_logits(model, x))
    certified = 0
    for i in range(len(x)):
        labels = predicted[i].nonzero().flatten().tolist()
        certified += all(
            verify_topk(
                model, x[i : i + 1], LinfBall(eps), label, rule.k, verifier, time_limit_s=timeout_s
            ).verdict
            is Verdict.VERIFIED
            for label in labels
        )
    return certified / max(len(x), 1)


def _score(
    model: nn.Module,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    rule: TopK,
    config: PartialExperimentConfig,
) -> tuple[float, tuple[float, ...], tuple[float, ...]]:
    ap = mean_average_precision(predict_logits(model, test_x), test_y)
    fool, flipped = mla_u_fooling(
        model, test_x[: config.n_robust], rule, config.eps, config.attack_steps, config.seed
    )
    return ap, fool, flipped


def run_partial_experiment(
    config: PartialExperimentConfig, progress: ExperimentProgress | None = None
) -> PartialExperimentResult:
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
        jobs += [
            (loss_name(loss), loss, attack) for attack in config.attacks for loss in config.losses
        ]
        for label, loss, attack in jobs:
            labels = (
                full_labels(train_set.y)
                if attack is None
                else remove_labels(train_set.y, attack, seed=config.seed)
            )
            attack_name = "full" if attack is None else attack.name
            if progress is not None:
                progress(done, total, f"{name} {attack_name} {label}")
            torch.manual_seed(config.seed)
            model = build_model(arch, train_set.input_shape, train_set.num_labels)
            history = train_partial(model, train_set, labels, config.training, loss)
            ap, fool, flipped = _score(model, test_set.x, test_set.y, TopK(k), config)
            certified = None
            if arch in CERTIFIABLE and config.n_certify > 0:
                certified = certified_fraction(
                    model,
                    test_set.x[: config.n_certify],
                    TopK(k),
                    config.certify_eps,
                    config.certify_timeout_s,
                )
            runs.append(
                PartialRun(
                    dataset=name,
                    attack=attack_name,
                    loss=label,
                    q_hat=labels.q_hat,
                    map=ap,
                    fooling_rate=fool,
                    flipped_labels=flipped,
                    seconds=history.seconds,
                    certified=certified,
                )
            )
            log.info(
                "%s %s %s: mAP %.4f, MLA-U fooling rates %s",
                name,
                attack_name,
                label,
                ap,
                [round(f, 3) for f in fool],
            )
            done += 1
    return PartialExperimentResult(runs=tuple(runs), eps=config.eps, k=ks)


__all__ = [
    "DEFAULT_ARCH",
    "PAPER_ATTACKS",
    "PAPER_LOSSES",
    "PartialExperimentConfig",
    "PartialExperimentResult",
    "PartialRun",
    "certified_fraction",
    "loss_name",
    "mla_u_fooling",
    "run_partial_experiment",
]
