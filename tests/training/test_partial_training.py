import pytest
import torch
from torch import nn

from mlrobust.datasets import MultiLabelDataset, multi_fashion
from mlrobust.datasets.label_attacks import LabelAttack, Removal, full_labels, remove_labels
from mlrobust.errors import InputError
from mlrobust.metrics.quality import mean_average_precision
from mlrobust.models import build_model, predict_logits
from mlrobust.training.partial_losses import PartialLoss, PartialLossConfig
from mlrobust.training.partial_training import train_partial
from mlrobust.training.train import Regime, TrainConfig, train
from tests.conftest import require_data


def _synthetic(n: int = 64) -> MultiLabelDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 6, 6, generator=g)
    y = torch.rand(n, 4, generator=g) < 0.4
    return MultiLabelDataset(
        name="synthetic",
        x=x,
        y=y,
        masks=torch.zeros(n, 0, 6, 6, dtype=torch.bool),
        objects=torch.zeros(n, 0, dtype=torch.long),
        label_names=("a", "b", "c", "d"),
    )


def _linear() -> nn.Sequential:
    torch.manual_seed(1)
    return nn.Sequential(nn.Flatten(), nn.Linear(36, 4))


def test_an_on_full_labels_reproduces_plain_training_exactly() -> None:
    data = _synthetic()
    config = TrainConfig(epochs=2, batch_size=16, lr=1e-2)
    a, b = _linear(), _linear()
    ha = train(a, data, config)
    hb = train_partial(
        b, data, full_labels(data.y), config, PartialLossConfig(method=PartialLoss.AN)
    )
    assert ha.losses == pytest.approx(hb.losses)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.allclose(pa, pb)


@pytest.mark.parametrize("regime", [Regime.L0, Regime.PGD])
@pytest.mark.parametrize("method", list(PartialLoss))
def test_every_method_runs_under_every_regime(method, regime) -> None:
    data = _synthetic(32)
    labels = remove_labels(data.y, LabelAttack(removal=Removal.RANDOM, q=0.4), seed=0)
    history = train_partial(
        _linear(),
        data,
        labels,
        TrainConfig(epochs=2, batch_size=16, regime=regime, l0_max_side=2, pgd_steps=2),
        PartialLossConfig(method=method),
    )
    assert len(history.losses) == 2 and all(torch.isfinite(torch.tensor(history.losses)))


def test_shape_mismatch_is_named() -> None:
    data = _synthetic(8)
    labels = full_labels(torch.zeros(4, 4, dtype=torch.bool))
    with pytest.raises(InputError, match="attack this dataset's labels"):
        train_partial(_linear(), data, labels, TrainConfig(epochs=1), PartialLossConfig())


@pytest.mark.parametrize(
    "loss",
    [
        PartialLossConfig(method=PartialLoss.AN),
        PartialLossConfig(method=PartialLoss.WAN),
        PartialLossConfig(method=PartialLoss.PSEUDO, initial_pseudo_label=0.0),
    ],
    ids=["an", "wan", "pseudo-init0"],
)
def test_short_t04_run_beats_a_constant_predictor(loss) -> None:
    require_data("fashion_mnist", "train-images-idx3-ubyte.gz")
    torch.set_num_threads(1)
    train_set = multi_fashion("train", 1500, seed=1)
    test_set = multi_fashion("test", 400, seed=2)
    labels = remove_labels(train_set.y, LabelAttack(removal=Removal.TARGETED, q=0.4), seed=0)
    model = build_model("small_cnn", train_set.input_shape, train_set.num_labels)
    train_partial(model, train_set, labels, TrainConfig(epochs=2, batch_size=64, lr=1e-2), loss)
    trained = mean_average_precision(predict_logits(model, test_set.x), test_set.y)
    constant = mean_average_precision(torch.zeros(len(test_set), 10), test_set.y)
    assert constant == pytest.approx(0.4, abs=0.05)  # 4 of 10 labels per image
    assert trained > constant + 0.1


def test_certified_fraction_is_exact_at_the_extremes() -> None:
    from mlrobust.datasets import shipped_samples
    from mlrobust.models import shipped_checkpoint
    from mlrobust.rules import TopK
    from mlrobust.training.partial_experiment import certified_fraction

    model, _ = shipped_checkpoint("double_mnist_none")
    x = shipped_samples().x[:2]
    # a zero-radius ball holds only x itself: its prediction is certified
    assert certified_fraction(model, x, TopK(2), 0.0, 60.0) == 1.0
    # at eps 0.3 MLA-U already hides digits of these images: nothing may be certified
    assert certified_fraction(model, x, TopK(2), 0.3, 60.0) == 0.0
