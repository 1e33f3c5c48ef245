"""Graph-shaped networks (residual connections, concatenation, batch norm, global average
pooling) through the IR: forward passes against torch and onnxruntime, bounds that nest and
contain every sampled output, the MILP optimum against exact region enumeration, and the
errors a malformed graph gets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from torch import nn

from mlrobust.errors import CorruptFileError, InputError, UnsupportedLayerError
from mlrobust.solvers import Status, open_session
from mlrobust.verify.bounds import alpha_crown, crown, crown_bounds, interval_bounds
from mlrobust.verify.from_onnx import from_onnx
from mlrobust.verify.from_torch import from_torch
from mlrobust.verify.ir import Network
from mlrobust.verify.milp import encode
from mlrobust.verify.ops import Add, Concat
from mlrobust.verify.spec import Clause
from tests.verify.exact import exact_max


class ResidualCNN(nn.Module):
    """A stem, ``blocks`` residual blocks (conv-BN-ReLU-conv-BN plus the skip, one of them a
    subtraction), a two-branch concatenation, pooling, global average pooling and a head."""

    def __init__(self, blocks: int, pool: str, channels: int = 3, classes: int = 5) -> None:
        super().__init__()
        c = channels
        self.stem = nn.Sequential(nn.Conv2d(2, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU())
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(c, c, 3, padding=1),
                nn.BatchNorm2d(c),
                nn.ReLU(),
                nn.Conv2d(c, c, 3, padding=1),
                nn.BatchNorm2d(c),
            )
            for _ in range(blocks)
        )
        self.left, self.right = nn.Conv2d(c, 2, 1), nn.Conv2d(c, 3, 3, padding=1)
        self.pool = nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(5, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for i, block in enumerate(self.blocks):
            h = torch.relu(h - block(h) if i % 2 else h + block(h))
        h = torch.cat([torch.relu(self.left(h)), torch.relu(self.right(h)) * 0.5], dim=1)
        h = self.gap(self.pool(h))
        return self.head(torch.flatten(h, 1))


class ResidualMLP(nn.Module):
    """Tiny enough for exact region enumeration: a skip connection and a concatenation."""

    def __init__(self, n_in: int = 3, width: int = 4) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(n_in, width), nn.Linear(width, width)
        self.side, self.out = nn.Linear(n_in, 2), nn.Linear(width + 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc1(x))
        h = torch.relu(self.fc2(h) + h)
        return self.out(torch.cat([h, torch.relu(self.side(x))], dim=1))


def _random(model: nn.Module, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    for p in model.parameters():
        nn.init.uniform_(p, -0.6, 0.6)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):  # non-trivial inference statistics
            m.running_mean.uniform_(-0.3, 0.3)  # type: ignore[operator]
            m.running_var.uniform_(0.5, 2.0)  # type: ignore[operator]
    return model.eval()


def residual_cnn(seed: int) -> nn.Module:
    return _random(ResidualCNN(blocks=1 + seed % 3, pool=("max", "avg")[seed % 2]), seed)


SHAPE = (2, 6, 6)
SEEDS = [0, 1, 2, 3]


@pytest.mark.parametrize("seed", SEEDS)
def test_ir_forward_matches_torch(seed: int) -> None:
    model = residual_cnn(seed)
    net = from_torch(model.double(), SHAPE)
    assert net.of_type(Add) and net.of_type(Concat)  # really a graph, not a chain
    x = torch.rand(8, *SHAPE, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    with torch.no_grad():
        assert (net.forward(x) - model(x)).abs().max() < 1e-9
        single = model.float()(x.float()).double()
    assert (from_torch(model, SHAPE).forward(x.float()) - single).abs().max() < 1e-5


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript exporter's notice
@pytest.mark.parametrize("seed", SEEDS)
def test_ir_of_the_onnx_export_matches_onnxruntime(seed: int, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path / "res.onnx"
    torch.onnx.export(residual_cnn(seed).float(), (torch.zeros(1, *SHAPE),), path, dynamo=False)
    net = from_onnx(path)
    assert net.of_type(Add) and net.of_type(Concat)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    for _ in range(3):
        x = rng.random((1, *SHAPE)).astype(np.float32)
        ref = sess.run(None, {sess.get_inputs()[0].name: x})[0].reshape(-1)
        got = net.forward(torch.from_numpy(x))[0].numpy()
        assert np.abs(ref - got).max() < 1e-5


def _samples(net: Network, lo: torch.Tensor, hi: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Uniform points of the box plus random vertices (where piecewise-linear extremes lie)."""
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, lo.numel(), generator=g, dtype=torch.float64)
    v = torch.randint(0, 2, (n, lo.numel()), generator=g).double()
    return torch.cat([lo + u * (hi - lo), lo + v * (hi - lo)])


@pytest.mark.parametrize("seed", SEEDS)
def test_interval_contains_crown_contains_alpha_crown_contains_samples(seed: int) -> None:
    net = from_torch(residual_cnn(seed).double(), SHAPE)
    x = torch.rand(net.input_size, generator=torch.Generator().manual_seed(seed)).double()
    lo, hi = x - 0.05, x + 0.05
    ibp = interval_bounds(net, lo, hi)
    cr, al = crown_bounds(net, lo, hi), crown_bounds(net, lo, hi, alpha_steps=10)
    pts = _samples(net, lo, hi, 500, seed)
    eye = torch.eye(net.n_outputs, dtype=torch.float64)
    out_cr = crown(net, cr, eye)
    out_al = alpha_crown(net, al, eye, steps=10)
    y = net.forward(pts)
    tol = 1e-9
    for outer, inner in [((ibp.lower[-1], ibp.upper[-1]), out_cr), (out_cr, out_al)]:
        assert (outer[0] <= inner[0] + tol).all() and (inner[1] <= outer[1] + tol).all()
    assert (out_al[0] - tol <= y).all() and (y <= out_al[1] + tol).all()
    assert (out_al[1] - out_al[0]).sum() < (ibp.upper[-1] - ibp.lower[-1]).sum()  # not vacuous
    for k in range(1, len(net.nodes)):  # every intermediate node's bounds hold too
        h = net.forward(pts, upto=k)
        for b in (ibp, cr, al):
            assert (b.lower[k] - tol <= h).all() and (h <= b.upper[k] + tol).all(), k


@pytest.mark.parametrize("seed", range(6))
def test_milp_optimum_equals_exact_enumeration(seed: int) -> None:
    net = from_torch(_random(ResidualMLP(), seed).double(), (3,))
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(3, generator=g, dtype=torch.float64)
    lo, hi = x - 0.3, x + 0.3
    bounds = crown_bounds(net, lo, hi)
    builder, cols = encode(net, bounds)
    session = open_session(builder.data(), fallback=False)
    for _ in range(3):
        c = torch.randn(1, net.n_outputs, generator=g, dtype=torch.float64)
        clause = Clause(c, torch.zeros(1, dtype=torch.float64), 1)
        exact = exact_max(net, lo.numpy(), hi.numpy(), [clause])[0]
        res = session.solve(cols[net.output], c[0].numpy(), 0.0, True, 60.0)
        assert res.status is Status.OPTIMAL
        assert res.value == pytest.approx(exact.value, abs=1e-6)
        # the solver's input is a real maximiser: the real network reaches the value there
        assert res.x is not None
        at = net.forward(torch.from_numpy(res.x[: net.input_size]).reshape(1, -1))
        assert float((c @ at[0]).item()) == pytest.approx(exact.value, abs=1e-6)


# ---- malformed graphs: one clear error each -------------------------------------------------


def _onnx(
    tmp_path: Path,
    nodes: list[onnx.NodeProto],
    outputs: list[tuple[str, list[int]]],
    extra: list[onnx.TensorProto] = (),
) -> Path:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
        initializer=[
            helper.make_tensor("w", TensorProto.FLOAT, [4, 3], np.ones(12, dtype=np.float32)),
            *extra,
        ],
    )
    path = tmp_path / "graph.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    return path


def test_onnx_cycle_is_rejected(tmp_path: Path) -> None:
    path = _onnx(
        tmp_path,
        [
            helper.make_node("Add", ["x", "b"], ["a"], name="first"),
            helper.make_node("Relu", ["a"], ["b"], name="second"),
        ],
        [("b", [1, 4])],
    )
    with pytest.raises(CorruptFileError, match="cycle"):
        from_onnx(path)


def test_onnx_dangling_input_is_rejected(tmp_path: Path) -> None:
    path = _onnx(
        tmp_path, [helper.make_node("Add", ["x", "ghost"], ["y"], name="add")], [("y", [1, 4])]
    )
    with pytest.raises(CorruptFileError, match="ghost"):
        from_onnx(path)


@pytest.mark.parametrize("shape", [[1, 4, 1], [4, 1]])
def test_onnx_variables_that_would_broadcast_are_refused(tmp_path: Path, shape: list[int]) -> None:
    # x [1, 4] + reshape(x) [1, 4, 1] broadcasts to [1, 4, 4]: never read as an elementwise sum
    path = _onnx(
        tmp_path,
        [
            helper.make_node("Reshape", ["x", "shape"], ["h"], name="r"),
            helper.make_node("Add", ["x", "h"], ["y"], name="bad_add"),
        ],
        [("y", [1, 4, 4])],
        [helper.make_tensor("shape", TensorProto.INT64, [len(shape)], np.array(shape))],
    )
    with pytest.raises(UnsupportedLayerError, match="bad_add.*do not broadcast"):
        from_onnx(path)


def test_same_values_in_another_shape_still_add(tmp_path: Path) -> None:
    path = _onnx(
        tmp_path,
        [
            helper.make_node("Reshape", ["x", "shape"], ["h"], name="r"),
            helper.make_node("Add", ["x", "h"], ["y"], name="add"),
        ],
        [("y", [1, 4])],
        [helper.make_tensor("shape", TensorProto.INT64, [1], np.array([4]))],
    )
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    assert from_onnx(path).forward(x).tolist() == [[2.0, 4.0, 6.0, 8.0]]


def test_output_must_be_a_flat_logit_vector(tmp_path: Path) -> None:
    path = _onnx(
        tmp_path,
        [helper.make_node("Reshape", ["x", "shape"], ["y"], name="r")],
        [("y", [1, 2, 2])],
        [helper.make_tensor("shape", TensorProto.INT64, [3], np.array([1, 2, 2]))],
    )
    with pytest.raises(InputError, match="flat vector of logits"):
        from_onnx(path)

    class Spatial(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 2.0

    with pytest.raises(InputError, match="flat vector of logits"):
        from_torch(Spatial(), (1, 2, 2))


def test_unsupported_operator_names_operator_and_node() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x) * torch.tanh(x)

    class Outer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = Block()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.block(x)

    with pytest.raises(UnsupportedLayerError, match="tanh") as err:
        from_torch(Outer(), (3,))
    assert "block" in str(err.value)  # the module path of the node
