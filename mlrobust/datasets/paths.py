"""Where the data lives: ``MLROBUST_DATA`` (default ``../shared/data`` beside the checkout)."""

from __future__ import annotations

import os
from pathlib import Path

from mlrobust.errors import DataNotFoundError

ENV_VAR = "MLROBUST_DATA"


def data_dir() -> Path:
    """The data root: ``$MLROBUST_DATA`` if set, else ``../shared/data`` from the working dir."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path("..", "shared", "data").resolve()


def data_file(*parts: str) -> Path:
    """Path to a file or folder under the data root; a clear error if it is missing."""
    path = data_dir().joinpath(*parts)
    if not path.exists():
        raise DataNotFoundError(
            f"Data not found: {path}. Looked under the data root {data_dir()} "
            f"(set {ENV_VAR} to the folder holding e.g. mnist/ and fashion_mnist/, "
            "or pass download=True where supported)."
        )
    return path
