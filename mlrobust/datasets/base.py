"""The dataset value every part of mlrobust consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from mlrobust.errors import InputError
from mlrobust.validation import check_images, check_labels


@dataclass(frozen=True)
class MultiLabelDataset:
    """Images with multi-hot labels and one pixel mask per object.

    Shapes:
        x: ``[N, C, H, W]`` float in [0, 1].
        y: ``[N, L]`` bool, ``L = len(label_names)``.
        masks: ``[N, O, H, W]`` bool, the pixels of object ``o`` (``O = 0`` when unknown).
        objects: ``[N, O]`` long, the label index each object shows.
    """

    name: str
    x: torch.Tensor
    y: torch.Tensor
    masks: torch.Tensor
    objects: torch.Tensor
    label_names: tuple[str, ...]
    info: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        check_images(self.x, name=f"{self.name} images")
        check_labels(self.y, len(self.label_names), name=f"{self.name} labels")
        n, _, h, w = self.x.shape
        if self.y.shape[0] != n:
            raise InputError(f"{self.name}: {n} images but {self.y.shape[0]} label rows.")
        if self.masks.dim() != 4 or self.masks.shape[0] != n or self.masks.shape[2:] != (h, w):
            raise InputError(
                f"{self.name}: masks must have shape [N, O, {h}, {w}], "
                f"got {tuple(self.masks.shape)}."
            )
        if tuple(self.objects.shape) != tuple(self.masks.shape[:2]):
            raise InputError(f"{self.name}: objects must have shape [N, O] matching the masks.")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.x.shape[1:]
        return int(c), int(h), int(w)

    def subset(self, index: slice | torch.Tensor | list[int]) -> MultiLabelDataset:
        """A new dataset with the selected rows (a slice, index list or bool mask)."""
        return MultiLabelDataset(
            name=self.name,
            x=self.x[index],
            y=self.y[index],
            masks=self.masks[index],
            objects=self.objects[index],
            label_names=self.label_names,
            info=dict(self.info),
        )
