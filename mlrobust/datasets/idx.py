"""Reader for the idx format of MNIST / Fashion-MNIST (optionally gzip-compressed).

Written by hand: the format is a 4-byte magic number, the dimensions and raw uint8 data, and the
only library readers (torchvision, python-mnist) would pull torchvision or add nothing we need.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import shutil
import urllib.request
from pathlib import Path

import numpy as np

from mlrobust.errors import CorruptFileError, DataNotFoundError

log = logging.getLogger(__name__)

_UBYTE = 0x08  # the only element type MNIST-style files use


def read_idx(path: Path) -> np.ndarray:
    """Read an idx file (``.gz`` or raw) into a uint8 array of its stated shape."""
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"idx file not found: {path}")
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise CorruptFileError(
            f"Cannot read {path}: {exc}. The file is damaged; delete it and copy or download "
            "it again."
        ) from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise CorruptFileError(f"{path} is not an idx file (bad magic number).")
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code != _UBYTE:
        raise CorruptFileError(f"{path}: idx element type 0x{dtype_code:02x} is not unsigned byte.")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise CorruptFileError(f"{path}: truncated idx header.")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape)) if shape else 0
    if len(raw) - header != expected:
        raise CorruptFileError(
            f"{path}: header promises {expected} bytes of data for shape {shape} but the file "
            f"holds {len(raw) - header}; the file is truncated or damaged, replace it."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


# Official mirrors and the MD5 sums they publish, for users who have internet.
MIRRORS = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion_mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
}
MD5 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}


def download(source: str, filename: str, folder: Path, mirrors: list[str] | None = None) -> Path:
    """Fetch ``filename`` of ``source`` into ``folder`` from the first mirror that works,
    checking the published MD5. Returns the local path."""
    if source not in MD5 or filename not in MD5[source]:
        raise DataNotFoundError(f"No known download for {source}/{filename}.")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / filename
    errors = []
    for base in mirrors if mirrors is not None else MIRRORS[source]:
        url = base + filename
        partial = target.with_suffix(target.suffix + ".part")
        try:
            log.info("downloading %s", url)
            with urllib.request.urlopen(url, timeout=60) as resp, open(partial, "wb") as out:
                shutil.copyfileobj(resp, out)
        except OSError as exc:
            errors.append(f"{url}: {exc}")
            continue
        digest = hashlib.md5(partial.read_bytes()).hexdigest()
        if digest != MD5[source][filename]:
            partial.unlink()
            errors.append(f"{url}: MD5 {digest} does not match the published value")
            continue
        partial.replace(target)
        return target
    raise DataNotFoundError(
        f"Could not download {filename}: "
        + "; ".join(errors)
        + f". Copy the file into {folder} by hand instead."
    )
