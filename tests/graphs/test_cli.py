"""`mlrobust graph show|build|check`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mlrobust.cli.main import app
from mlrobust.graphs.prebuilt import load_prebuilt

runner = CliRunner()


def test_show_prints_the_tree_and_draws_a_png(tmp_path: Path) -> None:
    png = tmp_path / "voc.png"
    result = runner.invoke(app, ["graph", "show", "voc", "--png", str(png)])
    assert result.exit_code == 0, result.output
    assert "36 nodes" in result.output
    assert "[carnivore]" in result.output and "├── cat" in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_check_reports_size_and_rejects_a_cycle(tmp_path: Path) -> None:
    result = runner.invoke(app, ["graph", "check", "fashion_mnist"])
    assert result.exit_code == 0, result.output
    assert "16 nodes (10 leaves, 6 abstract)" in result.output
    edges = tmp_path / "cycle.txt"
    edges.write_text("a\tb\nb\ta\n")
    result = runner.invoke(app, ["graph", "check", str(edges)])
    assert result.exit_code == 2
    assert "cycle" in result.output


def test_build_writes_graphs_equal_to_the_shipped_ones(tmp_path: Path, wordnet: None) -> None:
    from tests.conftest import require_data

    require_data("cifar10", "class_names.txt")
    result = runner.invoke(app, ["graph", "build", "cifar10", "--out-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "cifar10: 10 labels + 8 abstract = 18 nodes" in result.output
    assert json.loads((tmp_path / "cifar10.json").read_text()) == load_prebuilt("cifar10").to_json()
