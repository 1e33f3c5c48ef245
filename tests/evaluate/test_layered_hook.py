import torch

from mlrobust.datasets import shipped_samples
from mlrobust.evaluate.layered import run_layered
from mlrobust.evaluate.models import load_model


def test_layered_hook_targets_one_digit_and_layers_around_the_other() -> None:
    data = shipped_samples().subset(slice(0, 3))
    model = load_model("double_mnist_none", None, data.input_shape)
    rows = run_layered(model, data, samples=1, timeout_s=1.0)
    assert rows is not None and len(rows) == 1
    row = rows[0]
    i = row["image"]
    assert row["label"] == int(data.objects[i, 0])
    layers = torch.tensor(row["layers"])
    # layer 0 is exactly the perturbed (right) digit's mask
    assert torch.equal(layers == 0, data.masks[i, 1])
    eps = torch.tensor(row["eps"])
    assert len(eps) == int(layers.max()) + 1 and (eps >= 0).all()
    assert row["verdict"] in ("verified", "unknown")
