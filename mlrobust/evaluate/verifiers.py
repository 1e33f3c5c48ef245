"""Verifier registry for the evaluation: name -> a function certifying properties of one image.

A verifier is ``fn(model, x [C, H, W], eps, specs, settings) -> [Verdict per spec]``.
Built-ins: ``milp`` (complete: bounds, tightening, MILP, :func:`mlrobust.verify.verify`) and
``crown`` (incomplete, fast: interval then CROWN bounds; VERIFIED or UNKNOWN, never FALSIFIED).
Third parties add one with ``[project.entry-points."mlrobust.verifiers"] name = "pkg.mod:fn"``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points

import torch

from mlrobust.errors import InputError
from mlrobust.evaluate.models import LoadedModel
from mlrobust.threats import LinfBall
from mlrobust.verdicts import Verdict
from mlrobust.verify.milp import Tightening
from mlrobust.verify.spec import OutputSpec

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "mlrobust.verifiers"


@dataclass(frozen=True, kw_only=True)
class VerifierSettings:
    timeout_s: float
    tightening: Tightening
    seed: int = 0


VerifierFn = Callable[
    [LoadedModel, torch.Tensor, float, Sequence[OutputSpec], VerifierSettings], list[Verdict]
]


def milp_verifier(
    model: LoadedModel,
    x: torch.Tensor,
    eps: float,
    specs: Sequence[OutputSpec],
    settings: VerifierSettings,
) -> list[Verdict]:
    """The complete MILP verifier; the attacks run separately, so its own PGD pre-pass is short."""
    from mlrobust.verify.verifier import VerifierConfig, verify

    lo, hi = LinfBall(eps).bounds(x.unsqueeze(0))
    cfg = VerifierConfig(
        timeout_s=settings.timeout_s,
        tightening=settings.tightening,
        attack_steps=10,
        attack_restarts=2,
        seed=settings.seed,
    )
    return [r.verdict for r in verify(model.net, lo[0], hi[0], specs, model.oracle, cfg)]


def crown_verifier(
    model: LoadedModel,
    x: torch.Tensor,
    eps: float,
    specs: Sequence[OutputSpec],
    settings: VerifierSettings,
) -> list[Verdict]:
    """Bounds only: interval bounds on the hidden layers, CROWN on the spec rows; VERIFIED when
    every clause value is proven below ``-1e-4``. (CROWN on every hidden layer is ~100x slower
    here on the shipped CNN and rarely changes the answer at small eps.)"""
    from mlrobust.verify.bounds import crown, interval_bounds
    from mlrobust.verify.ir import DTYPE

    lo, hi = LinfBall(eps).bounds(x.unsqueeze(0))
    bounds = interval_bounds(model.net, lo[0].reshape(-1).to(DTYPE), hi[0].reshape(-1).to(DTYPE))
    out = []
    for spec in specs:
        ok = True
        for cl in spec.clauses:
            _, up = crown(model.net, bounds, cl.c.to(DTYPE), cl.d.to(DTYPE))
            ok &= float(up.topk(cl.at_least).values[-1]) < -1e-4
        out.append(Verdict.VERIFIED if ok else Verdict.UNKNOWN)
    return out


VERIFIERS: dict[str, VerifierFn] = {"milp": milp_verifier, "crown": crown_verifier}


def available_verifiers() -> dict[str, VerifierFn]:
    """Built-ins plus entry-point plugins (a broken plugin is logged and skipped)."""
    found = dict(VERIFIERS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:
            continue
        try:
            found[ep.name] = ep.load()
        except Exception as exc:  # a broken plugin must not break the built-ins
            log.warning("could not load verifier plugin %r: %s", ep.name, exc)
    return found


def get_verifier(name: str) -> VerifierFn:
    verifiers = available_verifiers()
    if name not in verifiers:
        raise InputError(f"Unknown verifier {name!r}; available: {', '.join(sorted(verifiers))}.")
    return verifiers[name]
