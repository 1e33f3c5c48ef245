from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mlrobust.errors import CorruptFileError, InputError, UnsupportedLayerError
from mlrobust.verify.from_onnx import from_onnx
from mlrobust.verify.from_torch import from_torch
from mlrobust.verify.ops import Linear, MaxPool, ReLU
from tests.conftest import require_data


class Normalize(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.3, 0.5]))
        self.register_buffer("std", torch.tensor([0.2, 0.4]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.view(1, -1, 1, 1)) / self.std.view(1, -1, 1, 1)


def test_torch_lowering_matches_forward() -> None:
    m = nn.Sequential(
        Normalize(),
        nn.Conv2d(2, 4, 3, stride=2, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 3, 2),
        nn.ReLU(),
        nn.AvgPool2d(2, padding=1),
        nn.Flatten(),
        nn.Linear(12, 5),
    ).eval()
    with torch.no_grad():
        m[2].running_mean.uniform_()
        m[2].running_var.uniform_(0.5, 2.0)
    net = from_torch(m, (2, 12, 12))
    # normalisation and BatchNorm folded into the convolution
    assert [type(n.op) for n in net.nodes[1:]] == [Linear, ReLU, MaxPool, Linear, ReLU, Linear]
    x = torch.rand(4, 2, 12, 12)
    ref = m.double()(x.double())
    assert torch.allclose(net.forward(x), ref, atol=1e-9)
    float_ref = m.float()(x)
    assert (net.forward(x) - float_ref.double()).abs().max() < 1e-5


def test_unsupported_layer_is_named() -> None:
    m = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.Tanh())
    with pytest.raises(UnsupportedLayerError, match="Tanh"):
        from_torch(m, (1, 2, 2))


def test_input_shape_mismatch() -> None:
    with pytest.raises(InputError):
        from_torch(nn.Sequential(nn.Flatten(), nn.Linear(5, 3)), (1, 2, 2))


NETS = [
    "mnistfc/mnist-net_256x2.onnx",
    "verivital/Convnet_avgpool.onnx",
    "verivital/Convnet_maxpool.onnx",
    "eran/nets/mnist_relu_9_200.onnx",
    "eran/nets/ffnnSIGMOID__Point_6x200.onnx",
    "test/test_tiny.onnx",
    "test/test_small.onnx",
    "test/test_sat.onnx",
    "cifar10_resnet/onnx/resnet_2b.onnx",
    "cifar10_resnet/onnx/resnet_4b.onnx",
]


@pytest.mark.parametrize("name", NETS)
def test_onnx_matches_onnxruntime(name: str) -> None:
    ort = pytest.importorskip("onnxruntime")
    path = require_data("vnncomp2021", *name.split("/"))
    net = from_onnx(path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in inp.shape]
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.random(shape).astype(np.float32)
        ref = sess.run(None, {inp.name: x})[0].reshape(-1)
        got = net.forward(torch.from_numpy(x).reshape(1, -1))[0].numpy()
        assert np.abs(ref - got).max() < 1e-5


def test_sigmoid_net_has_no_milp_encoding() -> None:
    from mlrobust.verify.bounds import interval_bounds
    from mlrobust.verify.milp import encode, supports_milp

    net = from_onnx(require_data("vnncomp2021", "eran", "nets", "ffnnSIGMOID__Point_6x200.onnx"))
    assert not supports_milp(net)
    lo = torch.zeros(net.input_size, dtype=torch.float64)
    with pytest.raises(UnsupportedLayerError, match="Sigmoid"):
        encode(net, interval_bounds(net, lo, lo + 0.01))


def test_malformed_onnx(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a protobuf \x00\xff\x12")
    with pytest.raises(CorruptFileError):
        from_onnx(bad)
