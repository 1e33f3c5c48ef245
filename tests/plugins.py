"""Register test plugins through real entry points: a throwaway ``.dist-info`` folder on
``sys.path`` is what an installed third-party package looks like to ``importlib.metadata``
(and, through PYTHONPATH, to the portfolio runner's child processes)."""

from __future__ import annotations

from pathlib import Path

import pytest


def install_entry_points(
    root: Path, monkeypatch: pytest.MonkeyPatch, groups: dict[str, dict[str, str]]
) -> None:
    """Make the entries of each group (group -> {name: ``module:attr``}) visible."""
    root.mkdir(parents=True, exist_ok=True)
    dist = root / "mlrobust_test_plugins-0.1.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: mlrobust-test-plugins\nVersion: 0.1\n"
    )
    lines = []
    for group, entries in groups.items():
        lines += [f"[{group}]"] + [f"{name} = {target}" for name, target in entries.items()]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
    monkeypatch.syspath_prepend(str(root))
