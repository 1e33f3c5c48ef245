"""Open a page in headless Chromium (Debian's ``chromium``): console messages and a screenshot.

Our pages carry no scripts, so any console line (an error, a blocked resource) is a defect.
Chromium prints console messages to stderr as ``INFO:CONSOLE`` with ``--enable-logging``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import missing


def chromium_or_skip() -> str:
    """The browser binary; skip locally / FAIL under CI=true when missing."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    missing("chromium not installed (apt-get install -y chromium)")
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class PageLoad:
    console: list[str]
    screenshot: Path


def load_page(html: Path, shot: Path, *, width: int = 1200, height: int = 4000) -> PageLoad:
    browser = chromium_or_skip()
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                f"--window-size={width},{height}",
                "--hide-scrollbars",
                f"--screenshot={shot}",
                html.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert shot.exists(), f"chromium wrote no screenshot (rc={proc.returncode}): {proc.stderr}"
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return PageLoad(console, shot)


def colour_pixels(shot: Path, rgb: tuple[int, int, int], tol: int = 12) -> int:
    """How many pixels of the screenshot are within ``tol`` of ``rgb``."""
    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    return int((np.abs(a - np.array(rgb)).max(axis=2) <= tol).sum())
