import json

import pytest
import torch
from torch import nn

from mlrobust.datasets import MultiLabelDataset
from mlrobust.errors import CheckpointError, CorruptFileError, InputError
from mlrobust.models import (
    SHIPPED,
    ModelInfo,
    build_model,
    load_checkpoint,
    save_checkpoint,
    shipped_checkpoint,
)
from mlrobust.rules import Threshold, TopK
from mlrobust.training.train import Regime, TrainConfig, black_rectangles, clean_metrics, train

SUPPORTED = (nn.Linear, nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Sequential)


@pytest.mark.parametrize(
    "arch,shape", [("paper000_cnn", (1, 28, 56)), ("mlp", (1, 28, 56)), ("small_cnn", (1, 56, 56))]
)
def test_zoo_models_use_only_verifiable_layers(arch, shape) -> None:
    model = build_model(arch, shape, 7)
    assert model(torch.rand(3, *shape)).shape == (3, 7)
    assert all(isinstance(m, SUPPORTED) for m in model.modules())


def test_paper000_cnn_has_a_few_thousand_relus() -> None:
    model = build_model("paper000_cnn", (1, 28, 56), 10)
    sizes = []
    x = torch.rand(1, 1, 28, 56)
    for layer in model:
        x = layer(x)
        if isinstance(layer, nn.ReLU):
            sizes.append(x.numel())
    assert 1000 < sum(sizes) < 5000


def test_checkpoint_round_trip(tmp_path) -> None:
    model = build_model("paper000_cnn", (1, 28, 56), 10, normalization=([0.1], [0.3]))
    info = ModelInfo(
        architecture="paper000_cnn",
        input_shape=(1, 28, 56),
        label_names=tuple("abcdefghij"),
        rule="topk:2",
        normalization=([0.1], [0.3]),
        metrics={"subset_accuracy": 0.5},
    )
    save_checkpoint(tmp_path / "m", model, info)
    loaded, back = load_checkpoint(tmp_path / "m.json")
    assert back == info and back.decision_rule == TopK(2)
    x = torch.rand(4, 1, 28, 56)
    assert torch.equal(loaded(x), model.eval()(x))
    assert not loaded.training


def test_checkpoint_architecture_mismatch_is_named(tmp_path) -> None:
    model = build_model("paper000_cnn", (1, 28, 56), 10)
    info = ModelInfo(
        architecture="paper000_cnn", input_shape=(1, 28, 56), label_names=tuple("abcdefghij")
    )
    save_checkpoint(tmp_path / "m", model, info)
    meta = json.loads((tmp_path / "m.json").read_text())
    meta["label_names"] = list("abc")  # label count no longer matches the weights
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="does not match"):
        load_checkpoint(tmp_path / "m")
    (tmp_path / "m.json").write_text('{"architecture": "mlp"}')
    with pytest.raises(CorruptFileError, match="incomplete"):
        load_checkpoint(tmp_path / "m")
    (tmp_path / "m.safetensors").write_bytes(b"\x80\x04pickle!")
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(CorruptFileError, match="safetensors"):
        load_checkpoint(tmp_path / "m")


def test_shipped_models_load_and_predict_well() -> None:
    from mlrobust.datasets import shipped_samples

    data = shipped_samples()
    for name in SHIPPED:
        model, info = shipped_checkpoint(name)
        suffix = name.rsplit("_", 1)[1]
        assert info.regime == ("none" if suffix == "resnet" else suffix)
        metrics = clean_metrics(model, data, info.decision_rule)
        # the adversarially trained model trades clean accuracy for robustness
        floor = 0.85 if info.regime == "pgd" else 0.9
        assert metrics["subset_accuracy"] > floor, (name, metrics)
    with pytest.raises(CheckpointError, match="available"):
        shipped_checkpoint("resnet")


def _toy_data(n=256):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 8, 8, generator=g)
    y = torch.stack([x[:, 0, :4].mean((1, 2)) > 0.5, x[:, 0, 4:].mean((1, 2)) > 0.5], 1)
    return MultiLabelDataset(
        name="toy",
        x=x,
        y=y,
        masks=torch.zeros(n, 0, 8, 8, dtype=torch.bool),
        objects=torch.zeros(n, 0, dtype=torch.long),
        label_names=("a", "b"),
    )


@pytest.mark.parametrize("regime", list(Regime))
def test_each_regime_decreases_the_loss(regime) -> None:
    data = _toy_data()
    model = build_model("mlp", (1, 8, 8), 2, hidden=(32,))
    history = train(
        model,
        data,
        TrainConfig(
            epochs=4,
            batch_size=32,
            lr=1e-2,
            regime=regime,
            pgd_eps=0.02,
            pgd_steps=2,
            l0_max_side=2,
        ),
    )
    assert history.losses[-1] < history.losses[0]
    assert not model.training
    assert clean_metrics(model, data, Threshold(0.5))["hamming_loss"] < 0.4


def test_training_is_deterministic() -> None:
    data = _toy_data(64)
    a, b = (build_model("mlp", (1, 8, 8), 2, hidden=(8,)) for _ in range(2))
    b.load_state_dict(a.state_dict())
    cfg = TrainConfig(epochs=1, batch_size=16, regime=Regime.L0, l0_max_side=3)
    assert train(a, data, cfg).losses == train(b, data, cfg).losses


def test_black_rectangles_zero_a_box() -> None:
    x = torch.ones(50, 1, 10, 10)
    out = black_rectangles(x, 4, torch.Generator().manual_seed(1))
    zeros = (out == 0).flatten(1).sum(1)
    assert (zeros >= 1).all() and (zeros <= 16).all()


def test_bad_configs_and_label_mismatch() -> None:
    with pytest.raises(InputError):
        TrainConfig(epochs=0)
    with pytest.raises(InputError, match="Unknown architecture"):
        build_model("vit", (1, 8, 8), 2)
    with pytest.raises(InputError, match="labels"):
        clean_metrics(build_model("mlp", (1, 8, 8), 3, hidden=(4,)), _toy_data(8), Threshold())


def test_shipped_resnet_is_a_graph_the_verifier_reads() -> None:
    from mlrobust.datasets import shipped_samples
    from mlrobust.verify.from_torch import from_torch
    from mlrobust.verify.ops import Add

    model, info = shipped_checkpoint("double_mnist_resnet")
    net = from_torch(model, info.input_shape)
    assert len(net.of_type(Add)) == info.architecture_options["blocks"] == 2
    x = shipped_samples().x[:16]
    with torch.no_grad():
        torch.testing.assert_close(
            net.as_module()(x.double()), model(x).double(), atol=1e-5, rtol=0
        )


def test_a_mistyped_model_name_lists_the_shipped_ones() -> None:
    from mlrobust.errors import DataNotFoundError
    from mlrobust.models import resolve_model

    with pytest.raises(DataNotFoundError, match=r"did you mean 'double_mnist_none'\?.*resnet"):
        resolve_model("double_mnist_nonee")
    with pytest.raises(DataNotFoundError, match="Checkpoint file missing"):
        resolve_model("runs/missing")  # a path: the file is what is missing


def test_pgd_training_defaults_are_the_shipped_models() -> None:
    """`mlrobust train --regime pgd` with no options trains like the shipped PGD model."""
    _, info = shipped_checkpoint("double_mnist_pgd")
    defaults = TrainConfig()
    assert (defaults.pgd_eps, defaults.pgd_steps) == (
        info.training["pgd_eps"],
        info.training["pgd_steps"],
    )
