"""From an evaluation's stored cells to the numbers of its report (pure functions): verdicts
per cell, robust accuracy per eps, time per component, and the ``results.json`` value."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mlrobust.verdicts import Verdict

SCHEMA_VERSION = 1
#: where an evaluation's time goes: its attacks (and the verifier's own falsifier), bound
#: propagation and tightening, branch and bound, MILP, the verifier's remaining time, reports
COMPONENTS = ("attacks", "bounds", "bab", "milp", "verifier_other", "reporting")


@dataclass(frozen=True)
class EvaluationResult:
    """Everything one model's report shows; ``to_json`` is the ``results.json`` schema (v1).

    ``cells``: one dict per (image, eps, property): image, eps, label, attack, verifier,
    verdict. ``robustness``: one dict per eps (see :func:`robustness_rows`). ``attack_table``:
    one dict per (attack, eps, |Omega|). ``timing``: seconds per component.
    """

    model: str
    model_ref: str
    rule: str
    label_names: tuple[str, ...]
    n_images: int
    eps: tuple[float, ...]
    clean: dict[str, float]
    attack_table: tuple[dict[str, Any], ...]
    robustness: tuple[dict[str, Any], ...]
    cells: tuple[dict[str, Any], ...]
    timing: dict[str, float]
    config: dict[str, Any]
    versions: dict[str, str]
    layered: tuple[dict[str, Any], ...] | None = None
    notes: tuple[str, ...] = field(default=())
    clean_full: dict[str, float] | None = None
    summary: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "mlrobust.evaluation",
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "model_ref": self.model_ref,
            "rule": self.rule,
            "label_names": list(self.label_names),
            "n_images": self.n_images,
            "eps": list(self.eps),
            "clean": self.clean,
            "attack_table": list(self.attack_table),
            "robustness": list(self.robustness),
            "cells": list(self.cells),
            "timing": self.timing,
            "config": self.config,
            "versions": self.versions,
            "layered": None if self.layered is None else list(self.layered),
            "notes": list(self.notes),
            "clean_full": self.clean_full,
            "summary": list(self.summary),
        }


def summary_rows(
    robustness: Sequence[dict[str, Any]],
    attack_table: Sequence[dict[str, Any]],
    layered: Sequence[dict[str, Any]] | None,
) -> list[dict[str, Any]]:
    """The report's one quotable table, per eps: certified and empirical robust accuracy, the
    decided share of the cells (VERIFIED + FALSIFIED), the share of images with some label
    decision flipped by the per-cell falsifier, the attack with the best FR_N (over
    attacks and |Omega|) with its FR_S and NT_R, and the mean certified layered w.eps (the same
    on every row: layered synthesis has no eps grid)."""
    w_eps = [r["w_eps"] for r in layered or () if r.get("w_eps") is not None]
    rows = []
    for r in robustness:
        at = [a for a in attack_table if a["eps"] == r["eps"] and a.get("FR_N") is not None]
        best = max(at, key=lambda a: a["FR_N"], default=None)
        rows.append(
            {
                "eps": r["eps"],
                "certified_accuracy": r["certified_accuracy"],
                "empirical_accuracy": r["empirical_accuracy"],
                "decided": (r["verified"] + r["falsified"]) / r["cells"] if r["cells"] else None,
                # reconciles the two views: the cells attack every label decision of an image,
                # FR_N one random target set, so with |Omega| = 1 this is >= FR_N when the
                # falsifier is as strong as the table's attack
                "any_label_flipped": 1.0 - r["not_falsified_fraction"],
                "best_attack": None if best is None else f"{best['attack']} |Ω|={best['size']}",
                "FR_N": None if best is None else best["FR_N"],
                "FR_S": None if best is None else best.get("FR_S"),
                "NT_R": None if best is None else best.get("NT_R"),
                "layered_w_eps": sum(w_eps) / len(w_eps) if w_eps else None,
            }
        )
    return rows


def distance(cell: dict[str, Any]) -> float:
    """How far an UNKNOWN cell stayed from an answer: the smaller of what the attack still
    lacked (its best value up to 0) and what the proof still lacked (its bound down to 0)."""
    gaps = [-cell["attack_value"]] if cell.get("attack_value") is not None else []
    gaps += [cell["proven_bound"]] if cell.get("proven_bound") is not None else []
    return max(min(gaps), 0.0) if gaps else math.inf


def final_verdict(cell: dict[str, Any]) -> Verdict:
    """Attack verdict combined with the verifier's (raises SoundnessError on a conflict)."""
    from mlrobust.verdicts import combine

    a = Verdict(cell["attack"])
    v = Verdict(cell["verifier"]) if cell.get("verifier") else Verdict.UNKNOWN
    where = f"image={cell['image']} eps={cell['eps']} label={cell['label']}"
    return combine(a, v, where=where)


def robustness_rows(
    cells: Sequence[dict[str, Any]], eps: Sequence[float], n_images: int, correct: Sequence[bool]
) -> list[dict[str, Any]]:
    """Per eps: cell verdict counts and image-level bounds.

    An image is *certified* when all its properties are VERIFIED (lower bound on robustness)
    and *not falsified* when none is FALSIFIED (upper bound); the UNKNOWN gap lies between.
    ``*_accuracy`` also needs the clean prediction to equal the ground truth.
    """
    by_img: dict[tuple[float, int], list[str]] = defaultdict(list)
    for c in cells:
        by_img[(c["eps"], c["image"])].append(c["verdict"])
    rows = []
    for e in eps:
        verdicts = [by_img.get((e, i), []) for i in range(n_images)]
        flat = [v for vs in verdicts for v in vs]
        cert = [bool(vs) and all(v == Verdict.VERIFIED.value for v in vs) for vs in verdicts]
        alive = [Verdict.FALSIFIED.value not in vs for vs in verdicts]
        rows.append(
            {
                "eps": e,
                "cells": len(flat),
                "verified": flat.count(Verdict.VERIFIED.value),
                "falsified": flat.count(Verdict.FALSIFIED.value),
                "unknown": flat.count(Verdict.UNKNOWN.value),
                "certified_fraction": sum(cert) / n_images,
                "not_falsified_fraction": sum(alive) / n_images,
                "certified_accuracy": sum(c and k for c, k in zip(cert, correct, strict=True))
                / n_images,
                "empirical_accuracy": sum(a and k for a, k in zip(alive, correct, strict=True))
                / n_images,
            }
        )
    for r in rows:
        r["unknown_gap"] = r["not_falsified_fraction"] - r["certified_fraction"]
    return rows


def timing_totals(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Sum the per-row ``timing`` dicts into one dict over :data:`COMPONENTS`."""
    out = dict.fromkeys(COMPONENTS, 0.0)
    for r in rows:
        for k, v in r.get("timing", {}).items():
            out[k] = out.get(k, 0.0) + float(v)
    return out


def propagate_over_eps(cells: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Use that l_inf balls are nested: a property VERIFIED at some eps holds at every smaller
    eps, and one FALSIFIED at some eps (its witness lies in every larger ball) fails at every
    larger eps. UNKNOWN cells are upgraded accordingly and marked ``"inferred": True``.

    A property VERIFIED at a larger eps but FALSIFIED at a smaller one is a soundness error.
    """
    from mlrobust.errors import SoundnessError

    groups: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for c in cells:
        groups[(c["image"], c["label"])].append(dict(c))
    out = []
    for (image, label), row in groups.items():
        row.sort(key=lambda c: c["eps"])
        verified = [c["eps"] for c in row if c["verdict"] == Verdict.VERIFIED.value]
        falsified = [c["eps"] for c in row if c["verdict"] == Verdict.FALSIFIED.value]
        top_verified = max(verified, default=None)
        low_falsified = min(falsified, default=None)
        if top_verified is not None and low_falsified is not None and low_falsified <= top_verified:
            raise SoundnessError(
                f"image={image} label={label}: VERIFIED at eps={top_verified} but FALSIFIED at "
                f"the smaller or equal eps={low_falsified}; a verifier or attack is unsound."
            )
        for c in row:
            if c["verdict"] != Verdict.UNKNOWN.value:
                continue
            if top_verified is not None and c["eps"] <= top_verified:
                c.update(verdict=Verdict.VERIFIED.value, inferred=True)
            elif low_falsified is not None and c["eps"] >= low_falsified:
                c.update(verdict=Verdict.FALSIFIED.value, inferred=True)
        out.extend(row)
    out.sort(key=lambda c: (c["eps"], c["image"], c["label"]))
    return out
