"""Imports flow one way: model and data -> attacks / verify -> metrics -> reports, with the
orchestrators (evaluate, the portfolio runner, training experiments) and the CLI on top.

Every ``import`` in the package (module level or inside a function; type-only imports under
``if TYPE_CHECKING:`` aside) is read from the source, and an import of a higher layer fails."""

from __future__ import annotations

import ast
from pathlib import Path

import mlrobust

ROOT = Path(mlrobust.__file__).parent

#: lowest layer first; a module belongs to the layer of its longest listed prefix
LAYERS: list[tuple[str, ...]] = [
    (
        "mlrobust",
        "mlrobust.errors",
        "mlrobust.verdicts",
        "mlrobust.rules",
        "mlrobust.threats",
        "mlrobust.validation",
    ),
    (
        "mlrobust.datasets",
        "mlrobust.graphs",
        "mlrobust.models",
        "mlrobust.solvers",
        "mlrobust.engine",
    ),
    ("mlrobust.attacks", "mlrobust.verify"),
    ("mlrobust.synthesis",),
    ("mlrobust.metrics", "mlrobust.portfolio"),  # the portfolio package: its analysis
    ("mlrobust.reports",),
    (
        "mlrobust.evaluate",
        "mlrobust.training",
        "mlrobust.portfolio.runner",
        "mlrobust.portfolio.configs",
        "mlrobust.portfolio.child",
    ),
    ("mlrobust.cli", "mlrobust.__main__"),
]


def layer_of(module: str) -> int:
    best, layer = -1, -1
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, layer = len(p), i
    assert layer >= 0, f"{module} is in no layer; add it to LAYERS"
    return layer


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return lines


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported mlrobust module) for every runtime import in the file."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_lines(tree)
    out = []
    for node in ast.walk(tree):
        if node.lineno in skip if hasattr(node, "lineno") else False:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mlrobust"):
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("mlrobust")]
    return out


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = []
    for path in sorted(ROOT.rglob("*.py")):
        name = _module_name(path)
        mine = layer_of(name)
        for line, target in imports(path):
            if layer_of(target) > mine:
                upward.append(f"{path.relative_to(ROOT.parent)}:{line} {name} -> {target}")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The walker itself: a planted upward import (even inside a function) is found, a
    type-only one is not."""
    src = tmp_path / "mod.py"
    src.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import mlrobust.cli\n"
        "def f():\n    from mlrobust.reports import evaluation\n"
    )
    found = imports(src)
    assert found == [(5, "mlrobust.reports")]
    assert layer_of("mlrobust.reports.evaluation") > layer_of("mlrobust.verify.bab")
    assert layer_of("mlrobust.portfolio.runner") > layer_of("mlrobust.portfolio.readers")
