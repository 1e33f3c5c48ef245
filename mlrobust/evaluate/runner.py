"""The orchestrator: clean metrics -> attacks per (eps, |Omega|) -> per (image, eps, property)
cells (attack witness, then verifier) -> layered epsilons when available -> report.

Finished work is stored at once (:class:`~mlrobust.engine.Store`, by the shared engine
:func:`~mlrobust.engine.run_pending`); a re-run skips it. A cell both VERIFIED and FALSIFIED
raises :class:`~mlrobust.errors.SoundnessError` and stops the run (the cells stored before it
stay, the conflicting one is not stored).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
import platform
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mlrobust.engine import Executor, LogProgress, Progress, Row, Store, make_executor, run_pending
from mlrobust.errors import InputError
from mlrobust.evaluate import tasks as T
from mlrobust.evaluate.config import RETRY_FACTOR, EvaluationConfig, model_name
from mlrobust.evaluate.layered import layered_images
from mlrobust.evaluate.models import (
    LoadedModel,
    common_shape,
    dataset_for,
    graph_for,
    load_model,
)
from mlrobust.metrics.robustness import (
    EvaluationResult,
    distance,
    final_verdict,
    propagate_over_eps,
    robustness_rows,
    summary_rows,
    timing_totals,
)
from mlrobust.models import predict_logits
from mlrobust.rules import DecisionRule
from mlrobust.verdicts import Verdict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelReport:
    result: EvaluationResult
    folder: Path
    files: tuple[Path, ...]


def check_names(config: EvaluationConfig) -> None:
    """Unknown attack/verifier names fail before any work, listing what exists."""
    from mlrobust.attacks import get_attack_class
    from mlrobust.verify.registry import verifier_class

    for name in (*config.attacks, config.falsifier):
        get_attack_class(name)
    verifier_class(config.verifier)


def prepare_folder(folder: Path, fresh: bool = False) -> None:
    """Create the report folder and prove it is writable (clear error otherwise)."""
    try:
        if fresh and (folder / "cells.sqlite").exists():
            (folder / "cells.sqlite").unlink()
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise InputError(
            f"Cannot write the report folder {folder} ({exc.strerror}); choose "
            "another with --out or fix its permissions."
        ) from exc


def evaluate(
    config: EvaluationConfig,
    *,
    progress: Progress | None = None,
    executor: Executor | None = None,
    fresh: bool = False,
    models: dict[str, LoadedModel] | None = None,
    data: Any = None,
) -> list[ModelReport]:
    """Evaluate every model of ``config``; one report folder each under ``config.out_dir``.

    ``models``: in-memory models by reference (used with ``workers = 1``); ``data``: an
    in-memory :class:`~mlrobust.datasets.MultiLabelDataset` instead of ``config.dataset``.
    """
    from mlrobust.datasets import load_dataset
    from mlrobust.graphs import load_graph

    check_names(config)
    if data is None:  # the whole split, for the clean quality; the first n are evaluated
        full = load_dataset(
            config.dataset,
            config.split,
            None,
            seed=config.seed,
            skip_bad_images=config.skip_bad_images,
            shape=common_shape(r for r in config.models if r not in (models or {})),
        )
    else:
        full = data
    data = full.subset(slice(0, config.n))
    if len(data) < config.n:
        log.warning("dataset has only %d images; evaluating those", len(data))
    config.check_budget(len(data))
    # every model loads before any folder is made: a bad model leaves nothing half-written
    loaded = {
        ref: (models or {}).get(ref) or load_model(ref, config.rule, data.input_shape)
        for ref in config.models
    }
    # each model's label graph (given, or the prebuilt one its labels fit) and labels, matched
    # once on the whole split; the evaluated images are its first n
    graphs = {ref: graph_for(config.graph, m, full) for ref, m in loaded.items()}
    full_for = {
        ref: dataset_for(m, full, config.dataset, load_graph(graphs[ref]) if graphs[ref] else None)
        for ref, m in loaded.items()
    }
    data_for = {ref: d.subset(slice(0, config.n)) for ref, d in full_for.items()}
    for ref, m in loaded.items():
        if models and ref in models:
            T.register_model(m)
    for ref in config.models:
        prepare_folder(config.out_dir / model_name(ref), fresh)
    own = executor is None
    ex = executor or make_executor(config.workers, kind=config.executor, address=config.ray_address)
    try:
        return [
            _evaluate_model(
                replace(config, graph=graphs[ref]),
                loaded[ref],
                data_for[ref],
                full_for[ref],
                ex,
                progress or LogProgress(),
                fresh,
            )
            for ref in config.models
        ]
    finally:
        if own:
            ex.close()


def evaluate_model(
    model: nn.Module,
    dataset: Any = "samples",
    config: EvaluationConfig | None = None,
    *,
    rule: DecisionRule | None = None,
    name: str = "model",
    progress: Progress | None = None,
    fresh: bool = False,
) -> ModelReport:
    """Evaluate an in-memory torch model (any ``nn.Module`` from ``[N, C, H, W]`` pixels in
    ``[0, 1]`` to ``[N, L]`` logits) and write its report to ``config.out_dir / name``.

    ``dataset``: a dataset name / path or a ``MultiLabelDataset``; ``rule``: the decision rule
    (default ``config.rule``, else ``threshold:0.5``). Runs in this process (the model is not
    re-loaded by workers). A model the verifier cannot encode is attacked only; the report says
    why at the top.

    Examples:
        >>> report = evaluate_model(my_net, "samples", EvaluationConfig(n=4, eps=(0.01,)),
        ...                         rule=TopK(2), name="mine")  # doctest: +SKIP
    """
    from mlrobust.datasets import MultiLabelDataset, load_dataset
    from mlrobust.evaluate.models import model_from_module
    from mlrobust.rules import Threshold

    base = config or EvaluationConfig()
    if isinstance(dataset, MultiLabelDataset):
        data = dataset
    else:
        data = load_dataset(  # the whole split, as evaluate() loads it: clean quality on it
            str(dataset), base.split, None, seed=base.seed, skip_bad_images=base.skip_bad_images
        )
    decision = rule or base.rule or Threshold(0.5)
    cfg = replace(base, models=(name,), workers=1, executor="pool", rule=decision)
    if not isinstance(dataset, MultiLabelDataset):
        cfg = replace(cfg, dataset=str(dataset))
    shape = tuple(data.input_shape)
    loaded = model_from_module(name, model, decision, shape)  # type: ignore[arg-type]
    return evaluate(cfg, progress=progress, fresh=fresh, models={name: loaded}, data=data)[0]


def _evaluate_model(
    config: EvaluationConfig,
    model: LoadedModel,
    data: Any,
    full: Any,
    ex: Executor,
    progress: Progress,
    fresh: bool,
) -> ModelReport:
    from mlrobust.metrics import quality_report
    from mlrobust.reports.evaluation import write_evaluation_report

    name = model_name(model.ref)
    folder = config.out_dir / name
    store = Store(folder / "cells.sqlite", config.fingerprint(model.ref, weights_digest(model)))
    try:
        x = data.x
        with torch.no_grad():
            logits = model.module(x)
        pred = model.rule.predict(logits)
        clean = quality_report(torch.sigmoid(logits), pred, data.y)
        correct = (pred == data.y).all(1).tolist()
        full_logits = predict_logits(model.module, full.x)
        clean_full = {
            "images": float(len(full)),
            **quality_report(torch.sigmoid(full_logits), model.rule.predict(full_logits), full.y),
        }
        _run_attacks(config, model, x, store, ex, progress, name)
        _run_cells(config, model, x, store, ex, progress, name)
        _retry_rounds(config, model, x, store, ex, progress, name)
        layered = _layered(config, model, data, store, ex, progress, name)
        result = _collect(config, model, data, store, clean, correct, layered)
        result = replace(
            result,
            clean_full=clean_full,
            summary=tuple(summary_rows(result.robustness, result.attack_table, result.layered)),
        )
        files = write_evaluation_report(result, folder)
        return ModelReport(result, folder, files)
    finally:
        store.close()


def weights_digest(model: LoadedModel) -> str:
    """SHA-256 over the module's named tensors: a changed model never resumes stale cells."""
    h = hashlib.sha256()
    for key, tensor in sorted(model.module.state_dict().items()):
        h.update(key.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _attack_key(name: str, eps: float, size: int) -> str:
    return f"attack/{name}/eps={eps!r}/size={size}"


def _cell_prefix(image: int, eps: float) -> str:
    return f"cell/img={image}/eps={eps!r}/"


def _run_attacks(
    config: EvaluationConfig,
    model: LoadedModel,
    x: torch.Tensor,
    store: Store,
    ex: Executor,
    progress: Progress,
    name: str,
) -> None:
    keys = [(a, e, s) for s in config.target_sizes for e in config.eps for a in config.attacks]
    tasks = [
        T.AttackTask(
            key=_attack_key(a, e, s),
            model_ref=model.ref,
            rule=model.rule,
            input_shape=model.input_shape,
            attack=a,
            eps=e,
            size=s,
            steps=config.attack_steps,
            seed=config.seed,
            graph=config.graph,
            x=x,
        )
        for a, e, s in keys
    ]
    run_pending(
        ex,
        T.run_attack_task,
        tasks,
        store,
        key=lambda t: t.key,
        rows=lambda t, row: [(t.key, "attack", row)],
        progress=progress,
        description=f"{name}: attacks",
    )


def _run_cells(
    config: EvaluationConfig,
    model: LoadedModel,
    x: torch.Tensor,
    store: Store,
    ex: Executor,
    progress: Progress,
    name: str,
) -> None:
    done_prefixes = {k.rsplit("/", 1)[0] + "/" for k in store.done() if k.startswith("cell/")}
    tasks = [_cell_task(config, model, x, i, e) for e in config.eps for i in range(x.shape[0])]
    run_pending(
        ex,
        T.run_cell_task,
        tasks,
        store,
        key=lambda t: _cell_prefix(t.image, t.eps),
        rows=_cell_rows,
        done=done_prefixes,
        progress=progress,
        description=f"{name}: (image, eps) pairs",  # each holds one cell per label decision
    )


def _cell_task(
    config: EvaluationConfig, model: LoadedModel, x: torch.Tensor, image: int, eps: float
) -> T.CellTask:
    return T.CellTask(
        model_ref=model.ref,
        rule=model.rule,
        input_shape=model.input_shape,
        image=image,
        eps=eps,
        x=x[image],
        falsifier=config.falsifier,
        steps=config.attack_steps,
        verifier=config.verifier,
        timeout_s=config.verifier_timeout_s,
        tightening=config.tightening,
        seed=config.seed,
        verify_falsified=config.verify_falsified,
        restarts=config.falsifier_restarts,
    )


def _grid_cells(config: EvaluationConfig, store: Store, n: int) -> list[dict[str, Any]]:
    eps = set(config.eps)
    return [c for c in store.payloads("cell").values() if c["eps"] in eps and c["image"] < n]


def _retry_rounds(
    config: EvaluationConfig,
    model: LoadedModel,
    x: torch.Tensor,
    store: Store,
    ex: Executor,
    progress: Progress,
    name: str,
) -> None:
    """Rounds after the cheap pass, paid from ``config.retry_budget`` (``retry_budget_s``, or
    what ``budget_s`` leaves after the cheap pass): the UNKNOWN cells (after the nested-ball
    inference: what a smaller eps falsified or a larger one verified is not retried) get the
    falsifier and verifier again with :data:`RETRY_FACTOR` times the previous time limit, the
    (image, eps) pairs closest to an answer first, as many as the rest of the budget pays for
    at that limit. The budget is charged by limit, not by measured time, so the same settings
    retry the same pairs; each retried pair leaves a marker row, so a killed run resumes
    inside a round."""
    budget, limit = config.retry_budget(x.shape[0]), config.verifier_timeout_s
    for round_no in itertools.count(1):
        limit *= RETRY_FACTOR
        if budget < limit:
            return
        plan_key = f"retry/{round_no}/plan"
        plan = store.payloads("retry-plan").get(plan_key)
        if plan is None:  # planned once and stored: a resumed run retries the same pairs
            open_pairs: dict[tuple[int, float], list[dict[str, Any]]] = {}
            for c in propagate_over_eps(_grid_cells(config, store, x.shape[0])):
                if c["verdict"] == Verdict.UNKNOWN.value:
                    open_pairs.setdefault((c["image"], c["eps"]), []).append(c)
            order = sorted(
                open_pairs, key=lambda p: (min(distance(c) for c in open_pairs[p]), p[1], p[0])
            )
            plan = {
                "pairs": [
                    [image, eps, sorted(c["label"] for c in open_pairs[(image, eps)])]
                    for image, eps in order[: int(budget // limit)]
                ]
            }
            store.put(plan_key, "retry-plan", plan)
        if not plan["pairs"]:
            return
        budget -= len(plan["pairs"]) * limit
        tasks = [
            replace(_cell_task(config, model, x, image, eps), timeout_s=limit, labels=tuple(labels))
            for image, eps, labels in plan["pairs"]
        ]
        run_pending(
            ex,
            T.run_cell_task,
            tasks,
            store,
            key=functools.partial(_retry_key, round_no),
            rows=functools.partial(_retry_rows, store=store, round_no=round_no),
            progress=progress,
            description=f"{name}: retry round {round_no} ({limit:g} s each)",
        )


def _retry_key(round_no: int, task: T.CellTask) -> str:
    return f"retry/{round_no}/img={task.image}/eps={task.eps!r}"


def _retry_rows(
    task: T.CellTask, cells: list[dict[str, Any]], store: Store, round_no: int
) -> list[Row]:
    """A retried pair's cells replace the stored ones, with both rounds' time; its marker."""
    before = store.payloads("cell")
    rows = _cell_rows(task, cells)
    for key, _, cell in rows:
        old = before.get(key, {}).get("timing", {})
        cell["timing"] = {
            k: cell["timing"].get(k, 0.0) + old.get(k, 0.0) for k in {*cell["timing"], *old}
        }
        cell["retried"] = round_no
    return [*rows, (_retry_key(round_no, task), "retry", {"image": task.image, "eps": task.eps})]


def _cell_rows(task: T.CellTask, cells: list[dict[str, Any]]) -> list[Row]:
    rows = []
    for c in cells:
        c["verdict"] = final_verdict(c).value  # SoundnessError stops the run here
        rows.append((_cell_prefix(task.image, task.eps) + f"label={c['label']}", "cell", c))
    return rows


def _layered(
    config: EvaluationConfig,
    model: LoadedModel,
    data: Any,
    store: Store,
    ex: Executor,
    progress: Progress,
    name: str,
) -> list[dict[str, Any]] | None:
    """One unit per image on the run engine: a progress bar, workers, and a re-run resumes."""
    if not config.layered or model.net is None:
        return None
    images = layered_images(model, data, config.layered_samples)
    if images is None:
        return None
    tasks = [
        T.LayeredTask(
            model_ref=model.ref,
            rule=model.rule,
            input_shape=model.input_shape,
            image=i,
            data=data.subset([i]),
            timeout_s=config.verifier_timeout_s,
        )
        for i in images
    ]
    run_pending(
        ex,
        T.run_layered_task,
        tasks,
        store,
        key=lambda t: f"layered/img={t.image}",
        rows=lambda t, row: [(f"layered/img={t.image}", "layered", row)],
        progress=progress,
        description=f"{name}: layered eps",
    )
    stored = store.payloads("layered")
    # the grey image under each heatmap (3 decimals: a picture, not data)
    return [
        {**stored[f"layered/img={i}"], "pixels": data.x[i].mean(0).round(decimals=3).tolist()}
        for i in images
    ]


def _collect(
    config: EvaluationConfig,
    model: LoadedModel,
    data: Any,
    store: Store,
    clean: dict[str, float],
    correct: list[bool],
    layered: list[dict[str, Any]] | None,
) -> EvaluationResult:
    n = len(data)
    wanted_attacks = {
        _attack_key(a, e, s)
        for s in config.target_sizes
        for e in config.eps
        for a in config.attacks
    }
    attacks = [r for k, r in sorted(store.payloads("attack").items()) if k in wanted_attacks]
    attacks.sort(key=lambda r: (r["size"], r["attack"], r["eps"]))
    cells = _grid_cells(config, store, n)
    timing = timing_totals([*attacks, *cells])
    cells = propagate_over_eps(cells)  # nested balls: also a cross-eps soundness check
    notes = []
    lost = sorted(p["unit"] for p in store.payloads("error").values())
    if lost:
        notes.append(
            f"{len(lost)} unit(s) lost: their worker or node died after every retry "
            f"({', '.join(lost[:5])}{', ...' if len(lost) > 5 else ''}); re-run to retry them."
        )
    if model.not_verifiable:
        notes.append(
            f"Certified side off for this model: {model.not_verifiable}. Its cells are "
            "attacked only; every verifier verdict is UNKNOWN."
        )
    if layered is None:
        notes.append(
            "No layered epsilons: switched off, or the model has no top-k rule or the "
            "dataset no object masks; no heatmaps."
        )
    return EvaluationResult(
        model=model_name(model.ref),
        model_ref=model.ref,
        rule=str(model.rule),
        label_names=model.label_names or tuple(data.label_names),
        n_images=n,
        eps=tuple(config.eps),
        clean=clean,
        attack_table=tuple({k: v for k, v in r.items() if k != "success"} for r in attacks),
        robustness=tuple(robustness_rows(cells, config.eps, n, correct)),
        cells=tuple(cells),
        timing=timing,
        config=config.to_json(),
        versions=versions(),
        layered=None if layered is None else tuple(layered),
        notes=tuple(notes),
    )


def versions() -> dict[str, str]:
    """Versions of Python, mlrobust and the libraries the numbers depend on."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("mlrobust", "torch", "numpy", "highspy", "matplotlib"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out
