"""Units of work, run in worker processes: module-level functions on small picklable tasks.

* :class:`AttackTask` — one Table-1 attack at one (eps, |Omega|) over all images.
* :class:`CellTask` — one (image, eps): its properties (one per label decision) are attacked
  with a margin loss (a witness counts only after an independent forward pass of the model
  confirms it) and handed to the verifier, whose own FALSIFIED witnesses are re-checked the same
  way. The parent combines the two verdicts per cell.

A worker loads each model once (cache keyed by reference) and times its components.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, fields
from typing import Any

import torch

from mlrobust.evaluate.models import LoadedModel, load_model
from mlrobust.rules import DecisionRule, Threshold, TopK
from mlrobust.threats import LinfBall
from mlrobust.verdicts import Verdict
from mlrobust.verify.milp import Tightening
from mlrobust.verify.spec import OutputSpec

log = logging.getLogger(__name__)

_MODELS: dict[str, LoadedModel] = {}
_GRAPHS: dict[str, Any] = {}

#: evaluate's own attacks run first, so a verifier's internal falsifier (where it has one)
#: gets a short budget
VERIFIER_FALSIFIER = {"attack_steps": 10, "attack_restarts": 2}


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
        from mlrobust.graphs import load_graph

        _GRAPHS[source] = load_graph(source)
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
    from mlrobust.attacks import AttackGoal, budgeted_attack
    from mlrobust.metrics import attack_row

    model = _model(task.model_ref, task.rule, task.input_shape)
    graph = _graph(task.graph)
    n, num_labels = task.x.shape[0], model.num_labels
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
        n, num_labels, size=size, seed=task.seed, rule=model.rule, allowed=allowed, graph=graph
    )
    attack = budgeted_attack(task.attack, steps=task.steps, eps=task.eps)
    t0 = time.perf_counter()
    result = attack(model.module, task.x, goal, LinfBall(task.eps))
    row: dict[str, Any] = {"attack": task.attack, "eps": task.eps, "size": task.size}
    row.update(attack_row(task.x, result, graph))
    row["success"] = result.success.tolist()
    row["timing"] = {"attacks": time.perf_counter() - t0}
    return row


def property_specs(rule: DecisionRule, clean: torch.Tensor) -> list[tuple[int, OutputSpec]]:
    """The properties of one image: one per label decision that defines the prediction.

    ``TopK(k)``: each predicted label stays in the top-k (together they fix the prediction);
    ``Threshold``: every label keeps its ON/OFF decision. ``clean``: bool ``[L]``.
    """
    from mlrobust.verify.api import label_spec

    n = clean.shape[0]
    if isinstance(rule, TopK):
        labels = clean.nonzero().flatten().tolist()
    elif isinstance(rule, Threshold):
        labels = list(range(n))
    else:
        raise TypeError(f"unsupported rule {rule!r}")
    return [(c, label_spec(rule, c, bool(clean[c]), n)) for c in labels]


@dataclass(frozen=True, kw_only=True)
class CellTask:
    """One image ``x [C, H, W]`` at one eps. ``verifier``: a registered verifier name, run
    with ``timeout_s`` per (image, eps) and the ``tightening`` level where it has one."""

    model_ref: str
    rule: DecisionRule
    input_shape: tuple[int, int, int]
    image: int
    eps: float
    x: torch.Tensor
    falsifier: str
    steps: int
    verifier: str
    timeout_s: float
    tightening: Tightening
    seed: int
    verify_falsified: bool
    restarts: int = 0
    labels: tuple[int, ...] | None = None  # only these label decisions (a retry round)


def run_cell_task(task: CellTask) -> list[dict[str, Any]]:
    """Per property: label, attack verdict (FALSIFIED or UNKNOWN), verifier verdict (or None
    when skipped), seconds per component."""
    from mlrobust.attacks import AttackGoal, budgeted_attack

    model = _model(task.model_ref, task.rule, task.input_shape)
    x = task.x.unsqueeze(0)
    with torch.no_grad():
        clean = model.rule.predict(model.module(x))[0]
    props = property_specs(model.rule, clean)
    if task.labels is not None:
        props = [p for p in props if p[0] in task.labels]
    labels = [c for c, _ in props]
    t0 = time.perf_counter()
    targets = torch.zeros(len(props), clean.shape[0], dtype=torch.bool)
    targets[torch.arange(len(props)), torch.tensor(labels, dtype=torch.long)] = True
    xs = x.expand(len(props), *x.shape[1:]).contiguous()
    attack = budgeted_attack(task.falsifier, steps=task.steps, eps=task.eps, margin=True)
    res = attack(model.module, xs, AttackGoal(targets, model.rule), LinfBall(task.eps))
    attack_v = [
        Verdict.FALSIFIED if ok else Verdict.UNKNOWN
        for ok in _recheck(model, res.x_adv, xs, labels, clean, task.eps)
    ]
    t_attack = time.perf_counter() - t0
    closest = _values(model, res, props)
    proven: list[float | None] = [None] * len(props)
    todo = [
        j for j in range(len(props)) if task.verify_falsified or attack_v[j] != Verdict.FALSIFIED
    ]
    ver_v: list[Verdict | None] = [None] * len(props)
    stages = dict.fromkeys(("attack", "bounds", "bab", "milp"), 0.0)
    t1 = time.perf_counter()
    if todo and model.net is None:  # attack-only model: the reason is in the report's notes
        for j in todo:
            ver_v[j] = Verdict.UNKNOWN
    elif todo:
        for j, r in zip(todo, _verify(task, model, [props[j][1] for j in todo]), strict=True):
            ver_v[j] = r.verdict
            if math.isfinite(r.objective_bound):
                proven[j] = float(r.objective_bound)
            if r.verdict is Verdict.FALSIFIED and not _witness_flips(
                task, model, r, labels[j], clean
            ):
                ver_v[j] = Verdict.UNKNOWN
            for k, v in r.stages.as_dict().items():
                stages[k] += v
    t_ver = time.perf_counter() - t1
    # the cells neither side answered get the stronger falsifier: random restarts, twice the
    # steps each (APGD's step control throughout), on just those labels
    open_cells = [
        j
        for j in range(len(props))
        if attack_v[j] is Verdict.UNKNOWN and ver_v[j] in (None, Verdict.UNKNOWN)
    ]
    if open_cells and task.restarts:
        t2 = time.perf_counter()
        flipped, values = _hard_falsify(
            task, model, xs[open_cells], targets[open_cells], [props[j] for j in open_cells], clean
        )
        for j, ok, v in zip(open_cells, flipped, values, strict=True):
            attack_v[j] = Verdict.FALSIFIED if ok else attack_v[j]
            closest[j] = max(closest[j], v)
        t_attack += time.perf_counter() - t2
    # the (image, eps) work is shared by its cells: each cell carries an equal share
    per = 1.0 / max(len(props), 1)
    spent = {
        "attacks": (t_attack + stages["attack"]) * per,
        "bounds": stages["bounds"] * per,
        "bab": stages["bab"] * per,
        "milp": stages["milp"] * per,
        "verifier_other": max(t_ver - sum(stages.values()), 0.0) * per,
    }
    spent = {k: v for k, v in spent.items() if v > 0}
    return [
        {
            "image": task.image,
            "eps": task.eps,
            "label": c,
            "attack": attack_v[j].value,
            "verifier": None if ver_v[j] is None else ver_v[j].value,  # type: ignore[union-attr]
            # distance to an answer: VERIFIED needs proven_bound < 0, FALSIFIED attack_value >= 0
            "proven_bound": proven[j],
            "attack_value": closest[j],
            "timing": dict(spent),
        }
        for j, c in enumerate(labels)
    ]


def _values(model: LoadedModel, res: Any, props: list[tuple[int, OutputSpec]]) -> list[float]:
    """How close the falsifier came, per property: its value at the attack's final candidate
    (``x_closest``; >= 0 means violated)."""
    x = res.x_closest if res.x_closest is not None else res.x_adv
    with torch.no_grad():
        logits = model.module(x).double()
    return [float(spec.value(logits[j : j + 1])[0]) for j, (_, spec) in enumerate(props)]


def _hard_falsify(
    task: CellTask,
    model: LoadedModel,
    xs: torch.Tensor,
    targets: torch.Tensor,
    props: list[tuple[int, OutputSpec]],
    clean: Any,
) -> tuple[list[bool], list[float]]:
    """The falsifier with ``task.restarts`` random restarts and twice the steps on the
    properties ``props`` of one image (``xs``, ``targets``: one row per property);
    (re-checked flips, closest values)."""
    from mlrobust.attacks import AttackGoal
    from mlrobust.attacks.registry import build_attack, get_attack_class

    cls = get_attack_class(task.falsifier)
    settings = cls.budget(steps=2 * task.steps, eps=task.eps, margin=True)
    if "restarts" in {f.name for f in fields(cls.config_type)}:
        settings.update(restarts=task.restarts, seed=task.seed)
    res = build_attack(cls, **settings)(
        model.module, xs, AttackGoal(targets, model.rule), LinfBall(task.eps)
    )
    flipped = _recheck(model, res.x_adv, xs, [c for c, _ in props], clean, task.eps)
    return flipped, _values(model, res, props)


def _verify(task: CellTask, model: LoadedModel, specs: list[OutputSpec]) -> tuple[Any, ...]:
    from mlrobust.verify.protocol import Query
    from mlrobust.verify.registry import verifier_for

    verifier = verifier_for(task.verifier, tightening=task.tightening, **VERIFIER_FALSIFIER)
    assert model.net is not None  # attack-only models never reach the verifier
    lo, hi = LinfBall(task.eps).bounds(task.x.unsqueeze(0))
    query = Query(model.net, lo[0], hi[0], tuple(specs), model.oracle)
    return verifier(query, time_limit_s=task.timeout_s, seed=task.seed)


def _witness_flips(
    task: CellTask, model: LoadedModel, result: Any, label: int, clean: torch.Tensor
) -> bool:
    """The verifier's witness, re-checked here like an attack's (zero tolerance)."""
    cex = result.counterexample
    x = task.x.unsqueeze(0)
    ok = (
        cex is not None
        and _recheck(model, cex.reshape(x.shape).to(x.dtype), x, [label], clean, task.eps)[0]
    )
    if not ok:
        log.warning(
            "verifier %s: witness for image %d label %d at eps %g does not flip the "
            "decision inside the ball; counted UNKNOWN",
            task.verifier,
            task.image,
            label,
            task.eps,
        )
    return bool(ok)


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


@dataclass(frozen=True, kw_only=True)
class LayeredTask:
    """Layered-epsilon synthesis of one image (``data``: that image alone)."""

    model_ref: str
    rule: DecisionRule
    input_shape: tuple[int, int, int]
    image: int
    data: Any
    timeout_s: float


def run_layered_task(task: LayeredTask) -> dict[str, Any]:
    from mlrobust.evaluate.layered import layered_row

    model = _model(task.model_ref, task.rule, task.input_shape)
    return layered_row(model, task.data, 0, task.image, task.timeout_s)
