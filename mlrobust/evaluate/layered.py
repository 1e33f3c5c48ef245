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


def run_layered(
    model: LoadedModel, data: MultiLabelDataset, samples: int, timeout_s: float
) -> list[dict[str, Any]] | None:
    """Synthesise layered epsilons for the first ``samples`` usable images of ``data``. As in
    paper 000 the target is object 0 (label ``c_t``) and the layers are Chebyshev distances to
    object 1, the perturbed object; images whose target is not predicted are skipped
    (:func:`mlrobust.synthesis.cases.pick_images`). None when the model has no top-k rule or
    the dataset no object masks."""
    if not isinstance(model.rule, TopK) or data.masks.shape[1] < 2 or samples < 1:
        return None
    cfg = SynthesisConfig(
        max_calls=20, time_limit_s=timeout_s * 5, final_milp=VerifierConfig(timeout_s=timeout_s)
    )
    rows = []
    for i in pick_images([model.module], data, samples, k=model.rule.k):
        prob = layered_case(model.module, data, i, model.rule.k)
        res = guided_synthesis(prob, cfg)
        rows.append(
            {
                "image": i,
                "label": prob.target,
                "eps": res.eps.tolist(),
                "layers": prob.layers.tolist(),
                "verdict": res.final_verdict.value,
                "seconds": res.seconds,
            }
        )
    return rows
