"""``mlrobust train --graph``: training on leaf + ancestor labels."""

import json

import networkx as nx
from typer.testing import CliRunner

from mlrobust.cli.main import app
from mlrobust.graphs import LabelGraph
from mlrobust.models import load_checkpoint


def _digit_graph(path) -> None:  # noqa: ANN001
    digits = [str(i) for i in range(10)]
    edges = [("even" if int(d) % 2 == 0 else "odd", d) for d in digits]
    LabelGraph(nx.DiGraph(edges), leaves=digits).save(path)


def test_train_with_graph_adds_ancestor_labels(tmp_path) -> None:
    _digit_graph(tmp_path / "g.json")
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
            "--graph",
            str(tmp_path / "g.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "m.json").read_text())
    assert meta["label_names"][:10] == [str(i) for i in range(10)]
    assert sorted(meta["label_names"][10:]) == ["even", "odd"]
    assert meta["training"]["graph"] == str(tmp_path / "g.json")
    model, _ = load_checkpoint(tmp_path / "m")
    assert model[-1].out_features == 12


def test_train_with_missing_graph_is_a_clear_error(tmp_path) -> None:
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
            "--graph",
            str(tmp_path / "nope.json"),
        ],
    )
    assert result.exit_code != 0
    assert "not found" in result.output
