from __future__ import annotations

import pytest
import torch

from mlrobust.errors import InputError
from mlrobust.synthesis import LayeredBox, layer_map, layer_means, layer_sizes
from mlrobust.threats import PixelBox


def _brute(mask: torch.Tensor) -> torch.Tensor:
    pts = mask.nonzero()
    h, w = mask.shape
    out = torch.empty(h, w, dtype=torch.long)
    for i in range(h):
        for j in range(w):
            out[i, j] = (pts - torch.tensor([i, j])).abs().amax(1).min()
    return out


@pytest.mark.parametrize("seed", range(5))
def test_layer_map_is_chebyshev_distance(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(9, 13, generator=g) > 0.93
    mask[4, 6] = True
    assert torch.equal(layer_map(mask), _brute(mask))


def test_layers_cover_image_and_sizes() -> None:
    mask = torch.zeros(5, 7, dtype=torch.bool)
    mask[2, 3] = True
    lm = layer_map(mask)
    assert int(lm.max()) == 3 and int(lm[2, 3]) == 0
    assert layer_sizes(lm).tolist() == [1, 8, 16, 10]
    assert torch.allclose(layer_means(lm.float(), lm), torch.arange(4, dtype=torch.float64))


def test_empty_mask_and_bad_eps_are_rejected() -> None:
    with pytest.raises(InputError, match="empty"):
        layer_map(torch.zeros(3, 3, dtype=torch.bool))
    lm = layer_map(torch.eye(3, dtype=torch.bool))
    with pytest.raises(InputError, match="entries"):
        LayeredBox(torch.zeros(5), lm)
    with pytest.raises(InputError, match=">= 0"):
        LayeredBox(torch.tensor([0.1, -0.1]), lm)


def test_layered_box_is_a_pixel_box() -> None:
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask[0, 0] = True
    lm = layer_map(mask)
    box = LayeredBox(torch.tensor([0.3, 0.2, 0.1, 0.0]), lm)
    x = torch.full((2, 1, 4, 4), 0.9)
    lo, hi = box.bounds(x)
    assert isinstance(box.pixel_box(1), PixelBox)
    expect = (0.9 + torch.tensor([0.3, 0.2, 0.1, 0.0])[lm]).clamp(max=1.0)  # domain clipping
    assert torch.allclose(hi[0, 0], expect)
    assert torch.allclose(lo[0, 0, 0], torch.tensor([0.6, 0.7, 0.8, 0.9]))
    assert box.contains(lo, x) and not box.contains(lo - 0.01, x)
