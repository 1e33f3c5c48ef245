"""Rebuild the embedded default shipped in ``mlrobust/assets``: Double-MNIST test samples with
masks and the three pretrained Double-MNIST models (no defence, L0, PGD).

    .venv/bin/python scripts/make_default_assets.py [--samples-only]

Needs MNIST under MLROBUST_DATA. Training all three takes a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from mlrobust.datasets import double_mnist, save_npz
from mlrobust.datasets.samples import SAMPLES

ASSETS = Path(__file__).resolve().parents[1] / "mlrobust" / "assets"
SAMPLE_COUNT = 300
SAMPLE_SEED = 2  # the same seed `mlrobust train` uses for its test images (seed + 2)
# PGD training costs ~6x a plain epoch, so it gets fewer epochs
REGIMES = {
    "none": ["--epochs", "12"],
    "l0": ["--epochs", "10"],
    "pgd": ["--epochs", "8", "--pgd-eps", "0.05", "--pgd-steps", "3"],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples-only", action="store_true")
    args = parser.parse_args()
    ASSETS.joinpath("models").mkdir(parents=True, exist_ok=True)
    save_npz(double_mnist("test", SAMPLE_COUNT, seed=SAMPLE_SEED), ASSETS / SAMPLES)
    if args.samples_only:
        return
    for regime, extra in REGIMES.items():
        out = ASSETS / "models" / f"double_mnist_{regime}"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "mlrobust.cli",
                "--threads",
                "1",
                "train",
                str(out),
                "--regime",
                regime,
                *extra,
            ],
            check=True,
        )
        print(json.loads(out.with_suffix(".json").read_text())["metrics"])


if __name__ == "__main__":
    main()
