"""Units of work, run in worker processes: module-level functions on small picklable tasks.

* :class:`AttackTask` — one Table-1 attack at one (eps, |Omega|) over all images.
* :class:`CellTask` — one (image, eps): its properties (one per label decision) are attacked
  with a margin loss (a witness counts only after an independent forward pass of the model
  confirms it) and handed to the verifier. The parent combines the two verdicts per cell.

A worker loads each model once (cache keyed by reference) and times its components.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from mlrobust.evaluate import timing
from mlrobust.evaluate.models import LoadedModel, load_model
from mlrobust.evaluate.verifiers import VerifierSettings, get_verifier
from mlrobust.rules import DecisionRule, Threshold, TopK
from mlrobust.threats import LinfBall
from mlrobust.verdicts import Verdict
from mlrobust.verify.spec import OutputSpec, threshold_spec, topk_spec

_MODELS: dict[str, LoadedModel] = {}
_GRAPHS: dict[str, Any] = {}


def init_worker() -> None:
    """Process-pool initialiser: one torch thread per worker (the cores are the workers)."""
    torch.set_num_threads(1)
    timing.install()


def register_model(model: LoadedModel) -> None:
    """Make an in-memory model available to in-process tasks (``workers = 1``)."""
    _MODELS[model.ref] = model


def _model(ref: str, rule: DecisionRule | None, shape: tuple[int, int, int]) -> LoadedModel:
    if ref not in _MODELS:
        _MODELS[ref] = load_model(ref, rule, shape)
    return _MODELS[ref]


def _graph(source: str) -> Any:
    if not source:
        return None
    if source not in _GRAPHS:
        from pathlib import Path

        from mlrobust.graphs import LabelGraph, load_prebuilt

        _GRAPHS[source] = (
            LabelGraph.load(Path(source)) if source.endswith(".json") else load_prebuilt(source)
        )
    return _GRAPHS[source]


@dataclass(frozen=True, kw_only=True)
class AttackTask:
    """``x [N, C, H, W]``; the result row is keyed by ``key``."""

    key: str
    model_ref: str
    rule: DecisionRule
    input_shape: tuple[int, int, int]
    attack: str
    eps: float
    size: int
    steps: int
    seed: int
    graph: str
    x: torch.Tensor


def run_attack_task(task: AttackTask) -> dict[str, Any]:
    from mlrobust.attacks import AttackGoal, get_attack
    from mlrobust.metrics import (
        consistent_predictions,
        distortion,
        fooling_rate,
        mean_ssim,
        nontarget_flip_rate,
        semantic_fooling_rate,
    )

    model = _model(task.model_ref, task.rule, task.input_shape)
    graph = _graph(task.graph)
    n, num_labels = task.x.shape[0], _num_labels(model)
    size = min(task.size, num_labels)
    allowed = None
    if isinstance(model.rule, TopK):
        # Under top-k the targets are drawn among the predicted labels: the attack hides a
        # detected object, the same question the verifier answers per cell (labels that
        # come on in exchange count in NT_R).
        size = min(size, model.rule.k)
        with torch.no_grad():
            allowed = model.rule.predict(model.module(task.x))
    goal = AttackGoal.random(
        n, num_labels, size=size, seed=task.seed, rule=model.rule, allowed=allowed
    )
    settings: dict[str, Any] = _attack_settings(task.attack, task.steps, task.eps)
    if task.attack == "gmla" and graph is not None:
        settings["graph"] = graph
    t0 = time.perf_counter()
    with timing.measure() as inner:
        result = get_attack(task.attack, **settings)(model.module, task.x, goal, LinfBall(task.eps))
    s = result.success
    row: dict[str, Any] = {
        "attack": task.attack,
        "eps": task.eps,
        "size": task.size,
        "FR_N": fooling_rate(s),
        "FR_S": (
            semantic_fooling_rate(s, consistent_predictions(graph, result.adv_pred, goal.targets))
            if graph is not None
            else None
        ),
        "NT_R": nontarget_flip_rate(result.clean_pred, result.adv_pred, result.target_set, s),
        "SSIM": mean_ssim(task.x, result.x_adv, s),
        "linf": distortion(task.x, result.x_adv, s).linf,
        "seconds": result.seconds,
        "success": s.tolist(),
    }
    row["timing"] = {"attacks": time.perf_counter() - t0 - sum(inner.values()), **inner}
    return row


def _attack_settings(name: str, steps: int, eps: float) -> dict[str, Any]:
    # gradient attacks: a step of eps/2 (APGD halves it as progress stalls); the default 0.012
    # would overshoot small balls on every step
    if name in ("mla-u", "mla-c", "gmla"):
        return {"steps": steps, "step_size": max(eps / 2, 1e-4)}
    return {}


def falsifier_settings(name: str, steps: int, eps: float) -> dict[str, Any]:
    """A margin loss (top-k aware: pushes a label past the k-th rival) where the attack has one."""
    from dataclasses import fields

    from mlrobust.attacks import available_attacks
    from mlrobust.attacks.losses import LossKind

    settings = _attack_settings(name, steps, eps)
    names = {f.name for f in fields(available_attacks()[name].config_type)}
    if "loss" in names:
        settings["loss"] = LossKind.MARGIN
    if "kappa" in names:
        settings["kappa"] = 0.05
    return settings


def _num_labels(model: LoadedModel) -> int:
    return model.net.n_outputs


def property_specs(rule: DecisionRule, clean: torch.Tensor) -> list[tuple[int, OutputSpec]]:
    """The properties of one image: one per label decision that defines the prediction.

    ``TopK(k)``: each predicted label stays in the top-k (together they fix the prediction);
    ``Threshold``: every label keeps its ON/OFF decision. ``clean``: bool ``[L]``.
    """
    n = clean.shape[0]
    if isinstance(rule, TopK):
        return [(c, topk_spec(c, rule.k, n)) for c in clean.nonzero().flatten().tolist()]
    if isinstance(rule, Threshold):
        return [(c, threshold_spec(c, bool(clean[c]), rule.logit_threshold, n)) for c in range(n)]
    raise TypeError(f"unsupported rule {rule!r}")


@dataclass(frozen=True, kw_only=True)
class CellTask:
    """One image ``x [C, H, W]`` at one eps; ``keys[j]`` names the cell of the j-th property."""

    model_ref: str
    rule: DecisionRule
    input_shape: tuple[int, int, int]
    image: int
    eps: float
    x: torch.Tensor
    falsifier: str
    steps: int
    verifier: str
    settings: VerifierSettings
    verify_falsified: bool


def run_cell_task(task: CellTask) -> list[dict[str, Any]]:
    """Per property: label, attack verdict (FALSIFIED or UNKNOWN), verifier verdict (or None
    when skipped), seconds per component."""
    from mlrobust.attacks import AttackGoal, get_attack

    model = _model(task.model_ref, task.rule, task.input_shape)
    x = task.x.unsqueeze(0)
    with torch.no_grad():
        clean = model.rule.predict(model.module(x))[0]
    props = property_specs(model.rule, clean)
    labels = [c for c, _ in props]
    t0 = time.perf_counter()
    targets = torch.zeros(len(props), clean.shape[0], dtype=torch.bool)
    targets[torch.arange(len(props)), torch.tensor(labels, dtype=torch.long)] = True
    xs = x.expand(len(props), *x.shape[1:]).contiguous()
    attack = get_attack(task.falsifier, **falsifier_settings(task.falsifier, task.steps, task.eps))
    res = attack(model.module, xs, AttackGoal(targets, model.rule), LinfBall(task.eps))
    attack_v = [
        Verdict.FALSIFIED if ok else Verdict.UNKNOWN
        for ok in _recheck(model, res.x_adv, xs, labels, clean, task.eps)
    ]
    t_attack = time.perf_counter() - t0
    todo = [
        j for j in range(len(props)) if task.verify_falsified or attack_v[j] != Verdict.FALSIFIED
    ]
    ver_v: list[Verdict | None] = [None] * len(props)
    t1 = time.perf_counter()
    with timing.measure() as inner:
        if todo:
            out = get_verifier(task.verifier)(
                model, task.x, task.eps, [props[j][1] for j in todo], task.settings
            )
            for j, v in zip(todo, out, strict=True):
                ver_v[j] = v
    t_ver = time.perf_counter() - t1
    # the (image, eps) work is shared by its cells: each cell carries an equal share
    per = 1.0 / max(len(props), 1)
    spent = {
        "attacks": t_attack * per,
        "verifier_other": max(t_ver - sum(inner.values()), 0.0) * per,
    }
    for k, sec in inner.items():
        spent[k] = spent.get(k, 0.0) + sec * per
    return [
        {
            "image": task.image,
            "eps": task.eps,
            "label": c,
            "attack": attack_v[j].value,
            "verifier": None if ver_v[j] is None else ver_v[j].value,  # type: ignore[union-attr]
            "timing": dict(spent),
        }
        for j, c in enumerate(labels)
    ]


def _recheck(
    model: LoadedModel,
    x_adv: torch.Tensor,
    x: torch.Tensor,
    labels: list[int],
    clean: torch.Tensor,
    eps: float,
) -> list[bool]:
    """A witness counts only if it lies in the ball (and [0, 1]) and a fresh forward pass of the
    model flips its label's decision."""
    lo, hi = LinfBall(eps).bounds(x)
    inside = ((x_adv >= lo) & (x_adv <= hi)).flatten(1).all(1)
    with torch.no_grad():
        adv = model.rule.predict(model.module(x_adv))
    idx = torch.arange(len(labels))
    flipped = adv[idx, torch.tensor(labels, dtype=torch.long)] != clean[labels]
    return [bool(a and b) for a, b in zip(inside, flipped, strict=True)]
