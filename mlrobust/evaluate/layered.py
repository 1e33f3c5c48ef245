"""Hook for layered-epsilon synthesis (paper 000, :mod:`mlrobust.synthesis`) when installed.

Returns ``None`` when the subpackage is absent, and the report says so. Each row: the image,
the target label, the certified eps per Chebyshev layer (lower bound) and the layer map, from
which the report draws a per-pixel heatmap of the certified radius.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

from mlrobust.datasets.base import MultiLabelDataset
from mlrobust.evaluate.models import LoadedModel
from mlrobust.rules import TopK

log = logging.getLogger(__name__)


def layered_available() -> bool:
    return importlib.util.find_spec("mlrobust.synthesis") is not None


def run_layered(
    model: LoadedModel, data: MultiLabelDataset, samples: int, timeout_s: float
) -> list[dict[str, Any]] | None:
    """Synthesise layered epsilons for the first ``samples`` usable images of ``data``. As in
    paper 000 the target is object 0 (label ``c_t``) and the layers are Chebyshev distances to
    object 1, the perturbed object; images whose target is not predicted are skipped
    (:func:`mlrobust.synthesis.cases.pick_images`)."""
    if (
        not layered_available()
        or not isinstance(model.rule, TopK)
        or data.masks.shape[1] < 2
        or samples < 1
    ):
        return None
    synthesis: Any = importlib.import_module("mlrobust.synthesis")
    from mlrobust.synthesis.cases import pick_images
    from mlrobust.verify.verifier import VerifierConfig

    cfg = synthesis.SynthesisConfig(
        max_calls=20, time_limit_s=timeout_s * 5, final_milp=VerifierConfig(timeout_s=timeout_s)
    )
    rows = []
    for i in pick_images([model.module], data, samples, k=model.rule.k):
        target = int(data.objects[i, 0])
        layers = synthesis.layer_map(data.masks[i, 1])
        res = synthesis.guided_synthesis(
            synthesis.make_problem(model.module, data.x[i], target, layers, model.rule.k), cfg
        )
        rows.append(
            {
                "image": i,
                "label": target,
                "eps": res.eps.tolist(),
                "layers": layers.tolist(),
                "verdict": res.final_verdict.value,
                "seconds": res.seconds,
            }
        )
    return rows
