"""The verifier configurations ``mlrobust portfolio run --config`` knows by name.

A configuration is a registered verifier (:mod:`mlrobust.verify.registry`) with settings. The
named ones below are the ablations of the portfolio analysis (docs/portfolio.md); besides them
every registered verifier — built-in or an entry-point plugin — is a configuration under its own
name with its default settings, so a new verifier runs in a portfolio with no edit here.

All of them fail closed (the :class:`~mlrobust.verify.protocol.Verifier` template): *violated*
only with a witness re-checked on the real network (onnxruntime), *holds* only with a proven
bound; anything else is *unknown*.

=================  =====================================================================
``bab``            ``milp``, the default verifier: PGD falsifier, ReLU-split branch and bound
                   with alpha/beta-CROWN, then LP tightening and MILP (HiGHS)
``milp_highs``     PGD falsifier, alpha-CROWN, LP tightening, MILP (HiGHS); no branch and bound
``milp_gurobi``    ``milp_highs`` with Gurobi; models over the size-limited pip licence (2000
                   variables or constraints) are solved by HiGHS, noted in the run's text
``milp_plain``     MILP on interval bounds only: no tightening and no falsifier (ablation)
``bounds_only``    ``crown``: CROWN intermediate bounds + alpha-CROWN on the property;
                   incomplete: holds or unknown, never violated
``attack_only``    ``attack``: PGD falsifier with fresh restarts until the timeout or three
                   rounds; incomplete: violated (re-checked witness) or unknown, never holds
=================  =====================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mlrobust.errors import InputError
from mlrobust.portfolio.table import Answer


@dataclass(frozen=True)
class Configuration:
    """A registered verifier and the settings it runs with."""

    verifier: str
    settings: Mapping[str, Any] = field(default_factory=dict)


def _named() -> dict[str, Configuration]:
    from mlrobust.solvers import Backend
    from mlrobust.verify.milp import Tightening

    no_bab = {"bab": False}
    return {
        "bab": Configuration("milp"),
        "milp_highs": Configuration("milp", {**no_bab, "backend": Backend.HIGHS}),
        "milp_gurobi": Configuration("milp", {**no_bab, "backend": Backend.GUROBI}),
        "milp_plain": Configuration(
            "milp",
            {**no_bab, "tightening": Tightening.INTERVAL, "attack_steps": 0, "alpha_steps": 0},
        ),
        "bounds_only": Configuration("crown", {"tightening": Tightening.CROWN, "alpha_steps": 20}),
        "attack_only": Configuration("attack"),
    }


def available_configurations() -> Mapping[str, Configuration]:
    """Every configuration by name: the named ablations and each registered verifier."""
    from mlrobust.verify.registry import available_verifiers

    out = {name: Configuration(name) for name in available_verifiers()}
    out.update(_named())
    return MappingProxyType(out)


def resolve(name: str) -> Configuration:
    """The configuration ``name``; an error listing the names otherwise."""
    configs = available_configurations()
    if name not in configs:
        raise InputError(
            f"Unknown verifier configuration {name!r}; available: {', '.join(sorted(configs))}."
        )
    return configs[name]


@dataclass(frozen=True)
class ConfigAnswer:
    """What one run answers, and a note stored in the run's text column (which stage decided,
    the verifier's messages, solver fallbacks)."""

    answer: Answer
    note: str = ""


def run_configuration(name: str, onnx: Path, vnnlib: Path, timeout: float) -> ConfigAnswer:
    """Run configuration ``name`` on one VNN-COMP instance within ``timeout`` seconds."""
    from mlrobust.solvers import fallbacks
    from mlrobust.verify.api import verify_vnnlib
    from mlrobust.verify.registry import get_verifier

    config = resolve(name)
    verifier = get_verifier(config.verifier, **config.settings)
    before = fallbacks()
    res = verify_vnnlib(onnx, vnnlib, verifier, time_limit_s=timeout)
    answer = {"sat": Answer.VIOLATED, "unsat": Answer.HOLDS}.get(res.answer, Answer.UNKNOWN)
    methods = ",".join(sorted({r.method for r in res.results})) or "-"
    notes = [f"last stage: {methods}"]
    notes += sorted({r.message for r in res.results if r.message})
    fell_back = fallbacks() - before
    if fell_back:
        notes += [
            f"{backend.value} could not solve {n} model(s) ({why}): those were solved by HiGHS"
            for (backend, why), n in sorted(fell_back.items())
        ]
    elif config.settings.get("backend") not in (None, "highs"):
        notes.append(f"no {config.settings['backend'].value} model fell back to HiGHS")
    return ConfigAnswer(answer, "; ".join(notes))
