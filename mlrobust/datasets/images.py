"""Reading one image file for every dataset loader (folders, VOC, COCO)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlrobust.errors import CorruptFileError, DataNotFoundError


def read_image(
    path: Path, mode: str, size: tuple[int, int] | None = None
) -> tuple[np.ndarray, tuple[int, int]]:
    """``(pixels, source (width, height))``: the image converted to Pillow ``mode`` (``L`` or
    ``RGB``) and, with ``size = (width, height)``, resized (bilinear); ``uint8``. A file Pillow
    cannot decode (corrupt, truncated, empty) is a :class:`CorruptFileError` naming it."""
    from PIL import Image  # Pillow comes with matplotlib; imported here to keep startup light

    try:
        with Image.open(path) as img:
            source = img.size
            img = img.convert(mode)
            if size is not None and img.size != size:
                img = img.resize(size, Image.Resampling.BILINEAR)
            return np.asarray(img, dtype=np.uint8), source
    except FileNotFoundError as exc:
        raise DataNotFoundError(f"{path}: the dataset lists this image but it is missing.") from exc
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's decode errors
        raise CorruptFileError(
            f"{path}: cannot decode this image ({exc}); replace or remove it, or pass "
            "--skip-bad-images to leave such images out."
        ) from exc
