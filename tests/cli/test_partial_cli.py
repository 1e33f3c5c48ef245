import json

import pytest
import torch
from typer.testing import CliRunner

from mlrobust.cli.main import app
from mlrobust.cli.partial import parse_label_attack, parse_partial_loss
from mlrobust.datasets.label_attacks import LabelAttack, Removal
from mlrobust.errors import InputError
from mlrobust.rules import TopK
from mlrobust.training.partial_experiment import (
    PartialExperimentConfig,
    mla_u_fooling,
    run_partial_experiment,
)
from mlrobust.training.partial_losses import PartialLoss, PartialLossConfig
from mlrobust.training.train import TrainConfig


@pytest.mark.parametrize(
    "text,expected",
    [
        ("targeted:0.4", LabelAttack(removal=Removal.TARGETED, q=0.4)),
        ("T_0.6", LabelAttack(removal=Removal.TARGETED, q=0.6)),
        ("random:0.2", LabelAttack(removal=Removal.RANDOM, q=0.2)),
        ("R_0.2", LabelAttack(removal=Removal.RANDOM, q=0.2)),
        ("single", LabelAttack(removal=Removal.SINGLE)),
        ("T_s", LabelAttack(removal=Removal.SINGLE)),
    ],
)
def test_parse_label_attack(text, expected) -> None:
    assert parse_label_attack(text) == expected


@pytest.mark.parametrize("text", ["targeted", "drop:0.2", "random:x", "random:2"])
def test_parse_label_attack_errors(text) -> None:
    with pytest.raises(InputError):
        parse_label_attack(text)


def test_parse_partial_loss() -> None:
    assert parse_partial_loss("wan") == PartialLossConfig(method=PartialLoss.WAN)
    assert parse_partial_loss("pseudo@0").initial_pseudo_label == 0.0
    for bad in ("bce", "an@0", "pseudo@x"):
        with pytest.raises(InputError):
            parse_partial_loss(bad)


def test_mla_u_fooling_grows_with_eps() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    x = torch.rand(16, 1, 2, 2)
    rates, flips = mla_u_fooling(model, x, TopK(1), (1e-4, 1.0), steps=50)
    assert rates[0] < rates[1]
    # under top-1 a success swaps the predicted label: exactly 2 labels change
    assert flips[1] >= 2 * rates[1] - 1e-6


def test_experiment_on_the_shipped_samples() -> None:
    config = PartialExperimentConfig(
        datasets=("samples",),
        attacks=(LabelAttack(removal=Removal.SINGLE),),
        losses=(
            PartialLossConfig(method=PartialLoss.AN),
            PartialLossConfig(method=PartialLoss.PSEUDO),
        ),
        n_train=64,
        n_test=32,
        n_robust=8,
        architecture="mlp",
        training=TrainConfig(epochs=1, batch_size=32),
        attack_steps=2,
    )
    result = run_partial_experiment(config)
    assert [(r.attack, r.loss) for r in result.runs] == [
        ("full", "bce"),
        ("T_s", "an"),
        ("T_s", "pseudo"),
    ]
    assert result.runs[0].q_hat == 0.0 and result.runs[1].q_hat == pytest.approx(0.9)
    assert result.k == {"samples": 2}
    assert set(result.table("samples")) == {"bce", "an", "pseudo"}
    assert all(len(r.fooling_rate) == 2 for r in result.runs)


def test_cli_runs_and_writes_json(tmp_path) -> None:
    out = tmp_path / "r.json"
    result = CliRunner().invoke(
        app,
        [
            "partial-labels",
            "--datasets",
            "samples",
            "--attacks",
            "random:0.4",
            "--losses",
            "wan",
            "--no-baseline",
            "--n-train",
            "32",
            "--n-test",
            "16",
            "--n-robust",
            "4",
            "--epochs",
            "1",
            "--arch",
            "mlp",
            "--attack-steps",
            "2",
            "--eps",
            "0.02",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    runs = json.loads(out.read_text())["runs"]
    assert [(r["attack"], r["loss"]) for r in runs] == [("R_0.4", "wan")]
    assert runs[0]["q_hat"] == pytest.approx(0.4, abs=0.01)


def test_cli_bad_attack_is_one_line(tmp_path) -> None:
    result = CliRunner().invoke(
        app, ["partial-labels", "--datasets", "samples", "--attacks", "drop:0.2"]
    )
    assert result.exit_code == 2
    assert "Unknown label attack" in result.output


def test_train_with_label_attack(tmp_path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "train",
            str(tmp_path / "m"),
            "--dataset",
            "samples",
            "--arch",
            "mlp",
            "--epochs",
            "1",
            "--n-test",
            "16",
            "--label-attack",
            "targeted:0.4",
            "--partial-loss",
            "pseudo",
        ],
    )
    assert result.exit_code == 0, result.output
    training = json.loads((tmp_path / "m.json").read_text())["training"]
    assert training["label_attack"] == "T_0.4" and training["partial_loss"] == "pseudo"
    assert training["q_hat"] == pytest.approx(0.8 + 0.2 * 0.4, abs=0.01)
