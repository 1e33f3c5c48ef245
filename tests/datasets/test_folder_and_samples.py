import json

import numpy as np
import pytest
import torch
from PIL import Image

from mlrobust.datasets import image_folder, load_dataset, load_npz, save_npz, shipped_samples
from mlrobust.datasets.idx import download
from mlrobust.errors import CorruptFileError, DataNotFoundError, InputError
from tests.conftest import require_data


def _write_images(folder, n=3, size=(8, 6)):
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, size, dtype=np.uint8)).save(folder / f"im{i}.png")


def test_folder_with_csv(tmp_path) -> None:
    _write_images(tmp_path)
    (tmp_path / "labels.csv").write_text(
        "filename,labels\nim0.png,cat;dog\nim1.png,dog\nim2.png,\n"
    )
    data = image_folder(tmp_path)
    assert data.label_names == ("cat", "dog")
    assert data.x.shape == (3, 1, 8, 6)
    assert data.y.tolist() == [[True, True], [False, True], [False, False]]
    assert data.masks.shape == (3, 0, 8, 6)


def test_folder_with_json_and_errors(tmp_path) -> None:
    _write_images(tmp_path, 2)
    (tmp_path / "labels.json").write_text(json.dumps({"im0.png": ["a"], "im1.png": ["b", "a"]}))
    data = image_folder(tmp_path, mode="RGB")
    assert data.x.shape == (2, 3, 8, 6) and data.y.sum().item() == 3
    with pytest.raises(InputError, match="not in the label list"):
        image_folder(tmp_path, label_names=("a",))
    (tmp_path / "labels.json").write_text("{bad json")
    with pytest.raises(CorruptFileError, match="line 1"):
        image_folder(tmp_path)
    with pytest.raises(DataNotFoundError):
        image_folder(tmp_path / "nowhere")


def test_npz_round_trip_and_shipped_samples(tmp_path) -> None:
    samples = shipped_samples()
    assert samples.x.shape[1:] == (1, 28, 56) and len(samples) >= 200
    assert samples.masks.shape == (len(samples), 2, 28, 56)
    assert torch.equal(samples.x[:, 0] > 0, samples.masks.any(1))
    path = tmp_path / "s.npz"
    save_npz(samples.subset(slice(0, 10)), path)
    back = load_npz(path)
    assert torch.equal(back.x, samples.x[:10]) and torch.equal(back.masks, samples.masks[:10])
    assert load_dataset("samples", n=5).x.shape[0] == 5
    with pytest.raises(InputError, match="Unknown dataset"):
        load_dataset("imagenet")


def test_download_checks_md5_through_a_local_mirror(tmp_path) -> None:
    source = require_data("mnist", "t10k-labels-idx1-ubyte.gz").parent
    got = download("mnist", "t10k-labels-idx1-ubyte.gz", tmp_path / "m", [source.as_uri() + "/"])
    assert got.read_bytes() == (source / "t10k-labels-idx1-ubyte.gz").read_bytes()
    # a mirror serving the wrong file is rejected by the MD5 check
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "t10k-images-idx3-ubyte.gz").write_bytes(b"junk")
    with pytest.raises(DataNotFoundError, match="MD5"):
        download("mnist", "t10k-images-idx3-ubyte.gz", tmp_path / "m2", [wrong.as_uri() + "/"])


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(b""),  # empty
        lambda p: p.write_bytes(p.read_bytes()[:40]),  # truncated
        lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10),  # corrupt
    ],
    ids=["empty", "truncated", "corrupt"],
)
def test_undecodable_images_are_named_or_skipped(tmp_path, damage) -> None:
    _write_images(tmp_path, n=4)
    (tmp_path / "labels.csv").write_text(
        "filename,labels\n" + "".join(f"im{i}.png,a;b\n" for i in range(4))
    )
    damage(tmp_path / "im2.png")
    with pytest.raises(CorruptFileError, match=r"im2.png: cannot decode .*--skip-bad-images"):
        load_dataset(str(tmp_path))
    data = load_dataset(str(tmp_path), skip_bad_images=True)
    assert len(data) == 3 and data.y.all()
