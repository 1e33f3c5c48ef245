import gzip

import numpy as np
import pytest
import torch

from mlrobust.datasets import double_mnist, multi_fashion, with_ancestors
from mlrobust.datasets.compose import load_source
from mlrobust.datasets.idx import read_idx
from mlrobust.errors import CorruptFileError, DataNotFoundError, InputError
from tests.conftest import require_data


@pytest.fixture(scope="module")
def dm():
    require_data("mnist", "t10k-images-idx3-ubyte.gz")
    return double_mnist("test", 500, seed=3)


def test_double_mnist_shapes_and_distinct_labels(dm) -> None:
    assert dm.x.shape == (500, 1, 28, 56) and dm.masks.shape == (500, 2, 28, 56)
    assert (dm.y.sum(1) == 2).all()  # two digits, and they are distinct
    assert (dm.objects[:, 0] != dm.objects[:, 1]).all()
    assert dm.y.gather(1, dm.objects).all()
    assert dm.x.min() >= 0.0 and dm.x.max() <= 1.0


def test_masks_match_the_digits_pixels(dm) -> None:
    images, labels = load_source("mnist", "test")
    lit = dm.x[:, 0] > 0
    union = dm.masks.any(1)
    assert torch.equal(lit, union)  # every lit pixel belongs to a digit and vice versa
    # each mask is the placed digit: same pixel count as one MNIST digit of that class
    counts = dm.masks.flatten(2).sum(2)
    digit_counts = torch.from_numpy((images > 0).reshape(len(images), -1).sum(1))
    assert set(counts[:, 0].tolist()) <= set(digit_counts.tolist())
    # left object lies in the left part, right object in the right part (jitter <= 3)
    cols = torch.arange(56)
    left_max = (dm.masks[:, 0].any(1) * cols).amax(1)
    right_min = torch.where(dm.masks[:, 1].any(1), cols, 99).amin(1)
    assert (left_max <= 30).all() and (right_min >= 25).all()


def test_double_mnist_is_deterministic_and_seed_dependent(dm) -> None:
    again = double_mnist("test", 500, seed=3)
    assert torch.equal(dm.x, again.x) and torch.equal(dm.masks, again.masks)
    other = double_mnist("test", 500, seed=4)
    assert not torch.equal(dm.x, other.x)


def test_jitter_moves_objects() -> None:
    require_data("mnist", "t10k-images-idx3-ubyte.gz")
    fixed = double_mnist("test", 200, seed=0, jitter=0)
    moved = double_mnist("test", 200, seed=0, jitter=3)
    assert torch.equal(fixed.objects, moved.objects)  # same digits, only their placement differs

    def first_col(d, obj):
        return d.masks[:, obj].any(1).float().argmax(1)

    left_shift = first_col(moved, 0) - first_col(fixed, 0)
    right_shift = first_col(fixed, 1) - first_col(moved, 1)
    for shift in (left_shift, right_shift):
        assert shift.min() >= 0 and shift.max() <= 3
        assert len(set(shift.tolist())) == 4  # every offset 0..3 occurs
    with pytest.raises(InputError, match="jitter"):
        double_mnist("test", 10, jitter=20)


def test_multi_fashion_grid_and_ancestors() -> None:
    require_data("fashion_mnist", "t10k-images-idx3-ubyte.gz")
    mf = multi_fashion("test", 100, seed=1)
    assert mf.x.shape == (100, 1, 56, 56) and mf.masks.shape == (100, 4, 56, 56)
    assert (mf.y.sum(1) == 4).all()
    # object o lives in its own grid cell
    assert not mf.masks[:, 0, 28:, :].any() and not mf.masks[:, 3, :28, :].any()

    class TinyGraph:  # the LabelGraph protocol used by with_ancestors
        labels = (*mf.label_names, "footwear", "thing")
        _parents = {
            "Sandal": ["footwear"],
            "Sneaker": ["footwear"],
            "Ankle boot": ["footwear"],
            "footwear": ["thing"],
            "Bag": ["thing"],
        }

        def parents(self, name):
            return self._parents.get(name, [])

    ext = with_ancestors(mf, TinyGraph())
    shoe = mf.y[:, [5, 7, 9]].any(1)
    assert torch.equal(ext.y[:, 10], shoe)
    assert torch.equal(ext.y[:, 11], shoe | mf.y[:, 8])
    assert torch.equal(ext.y[:, :10], mf.y)


def test_missing_data_dir_names_the_place(tmp_path) -> None:
    with pytest.raises(DataNotFoundError, match="MLROBUST_DATA") as err:
        double_mnist("test", 5, root=tmp_path)
    assert str(tmp_path) in str(err.value)


def test_corrupt_idx_files(tmp_path) -> None:
    bad = tmp_path / "x.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(CorruptFileError):
        read_idx(bad)
    truncated = tmp_path / "t-idx3-ubyte.gz"
    header = bytes([0, 0, 8, 3]) + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    with gzip.open(truncated, "wb") as fh:
        fh.write(header + bytes(100))
    with pytest.raises(CorruptFileError, match="truncated"):
        read_idx(truncated)
    good = tmp_path / "g-idx1-ubyte"
    good.write_bytes(bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes([1, 2, 3]))
    assert np.array_equal(read_idx(good), [1, 2, 3])
