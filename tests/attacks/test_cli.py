import json
import sys
import types

import torch
from typer.testing import CliRunner

from mlrobust.cli.main import app
from tests.attacks.helpers import tiny_cnn


def test_attack_list():
    out = CliRunner().invoke(app, ["attack", "list"])
    assert out.exit_code == 0
    assert "gmla" in out.output and "mla-lp" in out.output


def test_attack_run_with_stub_loaders(monkeypatch, tmp_path):
    # the real loaders come from the models/datasets issues; stub them with the agreed signatures
    torch.set_num_threads(1)
    model = tiny_cnn(5, seed=0)
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    models = types.ModuleType("mlrobust.models")
    models.load_checkpoint = lambda path: (model, {})
    datasets = types.ModuleType("mlrobust.datasets")
    datasets.load_dataset = lambda name, split, n: (x[:n], None)
    monkeypatch.setitem(sys.modules, "mlrobust.models", models)
    monkeypatch.setitem(sys.modules, "mlrobust.datasets", datasets)
    out_file = tmp_path / "a.json"
    result = CliRunner().invoke(
        app,
        ["attack", "run", "m.pt", "--attacks", "mla-u,mla-c", "--eps", "0.3", "--sizes", "1",
         "-n", "4", "--out", str(out_file)],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(out_file.read_text())["rows"]
    assert [r["attack"] for r in rows] == ["mla-u", "mla-c"]
    assert all(0.0 <= r["FR_N"] <= 1.0 for r in rows)
