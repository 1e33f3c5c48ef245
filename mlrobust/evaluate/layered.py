"""Layered-epsilon synthesis (paper 000, :mod:`mlrobust.synthesis`) inside an evaluation.

Each row: the image, the target label, the certified eps per Chebyshev layer (lower bound) and
the layer map, from which the report draws a per-pixel heatmap of the certified radius.
"""

from __future__ import annotations

import logging
from typing import Any

from mlrobust.datasets.base import MultiLabelDataset
from mlrobust.evaluate.models import LoadedModel
from mlrobust.rules import TopK
from mlrobust.synthesis import SynthesisConfig, guided_synthesis
from mlrobust.synthesis.cases import layered_case, pick_images
from mlrobust.verify.verifier import VerifierConfig

log = logging.getLogger(__name__)


def layered_images(model: LoadedModel, data: MultiLabelDataset, samples: int) -> list[int] | None:
    """The first ``samples`` images usable for layered synthesis (:func:`pick_images`: the
    target, object 0, is predicted), or None when the model has no top-k rule or the dataset
    no object masks. As in paper 000 the target is object 0 (label ``c_t``) and the layers are
    Chebyshev distances to object 1, the perturbed object."""
    if not isinstance(model.rule, TopK) or data.masks.shape[1] < 2 or samples < 1:
        return None
    return pick_images([model.module], data, samples, k=model.rule.k)


def layered_row(
    model: LoadedModel, data: MultiLabelDataset, i: int, image: int, timeout_s: float
) -> dict[str, Any]:
    """Synthesise the layered epsilons of ``data``'s image ``i`` (``image``: its index in the
    evaluation): the certified eps per layer (lower bound), the layer map and the final
    verdict."""
    assert isinstance(model.rule, TopK)
    cfg = SynthesisConfig(
        max_calls=20, time_limit_s=timeout_s * 5, final_milp=VerifierConfig(timeout_s=timeout_s)
    )
    prob = layered_case(model.module, data, i, model.rule.k)
    res = guided_synthesis(prob, cfg)
    return {
        "image": image,
        "label": prob.target,
        "eps": res.eps.tolist(),
        "layers": prob.layers.tolist(),
        "verdict": res.final_verdict.value,
        "w_eps": res.size,
        "seconds": res.seconds,
    }
