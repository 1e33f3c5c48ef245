"""The verifier configurations that ``mlrobust portfolio run`` knows by name.

Each is a module-level function ``fn(onnx_path, vnnlib_path, timeout) -> ConfigAnswer`` so that
the runner's child process can import it by name. torch and the verifier are imported inside the
functions: registering the configurations (``builtin_configs()``) stays cheap.

All of them fail closed like :mod:`mlrobust.verify`: *violated* only with a witness re-checked on
the real network (onnxruntime), *holds* only with a proven bound; anything else is *unknown*.

=================  =====================================================================
``bab``            the default verifier: PGD falsifier, ReLU-split branch and bound with
                   alpha/beta-CROWN (Linear/ReLU networks), then LP tightening and MILP (HiGHS)
``milp_highs``     PGD falsifier, alpha-CROWN, LP tightening, MILP (HiGHS); no branch and bound
``milp_gurobi``    ``milp_highs`` with Gurobi; the size-limited pip licence (2000 variables or
                   constraints) makes larger models fall back to HiGHS, noted in the run's text
``milp_plain``     MILP on interval bounds only: no tightening and no falsifier (ablation)
``bounds_only``    CROWN intermediate bounds + alpha-CROWN on the property; incomplete: holds
                   or unknown, never violated
``attack_only``    PGD falsifier with fresh restarts until the timeout or ``ATTACK_ROUNDS``
                   rounds; incomplete: violated (re-checked witness) or unknown, never holds
=================  =====================================================================
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrobust.metrics.portfolio.table import Answer

#: PGD rounds of ``attack_only`` (each ``ATTACK_STEPS`` steps x ``ATTACK_RESTARTS`` restarts,
#: a new seed per round). Bounded so that an instance that holds does not always cost the whole
#: timeout: the falsifier gives up, as a real one would.
ATTACK_ROUNDS = 3
ATTACK_STEPS = 150
ATTACK_RESTARTS = 32
_MARGIN = 1e-4  # as VerifierConfig.margin: holds needs a proven bound below -margin


@dataclass(frozen=True)
class ConfigAnswer:
    """What a configuration returns: the answer and a note stored in the run's text column
    (e.g. that Gurobi fell back to HiGHS, or which stage decided)."""

    answer: Answer
    note: str = ""


def _setup() -> None:
    # one thread: the runs share a small machine, and oversubscription costs ~8x
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


def _from_vnnlib_answer(word: str) -> Answer:
    return {"sat": Answer.VIOLATED, "unsat": Answer.HOLDS}.get(word, Answer.UNKNOWN)


def _methods(res: Any) -> str:
    return ",".join(sorted({r.method for r in res.results})) or "-"


def _left(start: float, timeout: float) -> float:
    """What is left of ``timeout`` after the imports (torch takes seconds on a loaded box)."""
    return max(float(timeout) - (time.monotonic() - start), 0.1)


def _run_verifier(onnx: Path, vnnlib: Path, timeout: float, **settings: Any) -> ConfigAnswer:
    start = time.monotonic()
    _setup()
    from mlrobust.verify.api import verify_vnnlib
    from mlrobust.verify.verifier import VerifierConfig

    res = verify_vnnlib(onnx, vnnlib, VerifierConfig(timeout_s=_left(start, timeout), **settings))
    return ConfigAnswer(_from_vnnlib_answer(res.answer), f"last stage: {_methods(res)}")


def bab(onnx: Path, vnnlib: Path, timeout: float) -> ConfigAnswer:
    """Default verifier: attack, branch and bound (alpha/beta-CROWN), then LP tightening and
    MILP (HiGHS) for what is left."""
    return _run_verifier(onnx, vnnlib, timeout)


def milp_highs(onnx: Path, vnnlib: Path, timeout: float) -> ConfigAnswer:
    """Attack, alpha-CROWN, LP tightening, MILP with HiGHS (no branch and bound)."""
    from mlrobust.verify.backends import Backend

    return _run_verifier(onnx, vnnlib, timeout, backend=Backend.HIGHS, bab=False)


class _FallbackCounter(logging.Handler):
    """Counts the backend's 'falling back to HiGHS' warnings (Gurobi licence error 10010)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "10010" in record.getMessage():
            self.count += 1


def milp_gurobi(onnx: Path, vnnlib: Path, timeout: float) -> ConfigAnswer:
    """The default verifier with Gurobi. Models over the size-limited licence (2000 variables /
    constraints) are solved by HiGHS instead; the note says how many."""
    from mlrobust.verify.backends import Backend

    counter = _FallbackCounter()
    backend_log = logging.getLogger("mlrobust.verify.backends")
    backend_log.addHandler(counter)
    try:
        out = _run_verifier(onnx, vnnlib, timeout, backend=Backend.GUROBI, bab=False)
    finally:
        backend_log.removeHandler(counter)
    if counter.count:
        note = (
            f"{out.note}; Gurobi licence too small for {counter.count} model(s) "
            "(error 10010): those were solved by HiGHS"
        )
    else:
        note = f"{out.note}; no model exceeded the Gurobi licence (no HiGHS fallback)"
    return ConfigAnswer(out.answer, note)


def milp_plain(onnx: Path, vnnlib: Path, timeout: float) -> ConfigAnswer:
    """MILP on interval bounds: no bound tightening, no falsifier, plain CROWN on the property."""
    from mlrobust.verify.milp import Tightening

    return _run_verifier(
        onnx,
        vnnlib,
        timeout,
        tightening=Tightening.INTERVAL,
        attack_steps=0,
        alpha_steps=0,
        bab=False,
    )


def _load(onnx: Path, vnnlib: Path) -> tuple[Any, Any]:
    from mlrobust.errors import InputError
    from mlrobust.verify.from_onnx import from_onnx
    from mlrobust.verify.vnnlib import read_vnnlib

    net, prop = from_onnx(onnx), read_vnnlib(vnnlib)
    if prop.n_inputs != net.input_size or prop.n_outputs != net.n_outputs:
        raise InputError(
            f"{vnnlib} declares {prop.n_inputs} inputs / {prop.n_outputs} outputs "
            f"but {onnx} has {net.input_size} / {net.n_outputs}."
        )
    return net, prop


def bounds_only(onnx: Path, vnnlib: Path, timeout: float, alpha_steps: int = 20) -> ConfigAnswer:
    """CROWN intermediate bounds and alpha-CROWN on the property rows: HOLDS when every clause of
    every region has a proven upper bound below ``-margin``, else UNKNOWN (never VIOLATED)."""
    start = time.monotonic()
    _setup()
    import torch

    from mlrobust.verify.bounds import alpha_crown
    from mlrobust.verify.ir import DTYPE
    from mlrobust.verify.milp import Tightening, TighteningConfig, tighten

    deadline = start + float(timeout)
    net, prop = _load(onnx, vnnlib)
    worst = -math.inf
    for region in prop.regions:
        if time.monotonic() > deadline:
            return ConfigAnswer(Answer.UNKNOWN, "time limit")
        bounds = tighten(
            net,
            region.lo,
            region.hi,
            TighteningConfig(level=Tightening.CROWN, alpha_steps=alpha_steps),
        )
        for cl in region.spec.clauses:
            _, up = alpha_crown(
                net, bounds, cl.c.to(DTYPE), cl.d.to(DTYPE), steps=alpha_steps, deadline=deadline
            )
            # a clause is violated when at_least rows are >= 0: bound its at_least-th largest
            ub = float(torch.topk(up, cl.at_least).values[-1])
            worst = max(worst, ub)
            if not ub < -_MARGIN:
                return ConfigAnswer(
                    Answer.UNKNOWN, f"bound {ub:.4g} not below -{_MARGIN} (incomplete method)"
                )
    return ConfigAnswer(Answer.HOLDS, f"largest clause bound {worst:.4g}")


def attack_only(onnx: Path, vnnlib: Path, timeout: float) -> ConfigAnswer:
    """PGD falsifier alone: VIOLATED with a witness that violates the property on the real
    network (onnxruntime), else UNKNOWN (never HOLDS)."""
    start = time.monotonic()
    _setup()
    import torch

    from mlrobust.verify.attack import AttackConfig, pgd_candidates
    from mlrobust.verify.oracle import OnnxOracle, snap_into_box

    deadline = start + float(timeout)
    net, prop = _load(onnx, vnnlib)
    oracle = OnnxOracle(onnx)
    for rnd in range(ATTACK_ROUNDS):
        for region in prop.regions:
            left = deadline - time.monotonic()
            if left <= 0:
                return ConfigAnswer(Answer.UNKNOWN, f"time limit after {rnd} round(s)")
            cfg = AttackConfig(steps=ATTACK_STEPS, restarts=ATTACK_RESTARTS, time_s=left, seed=rnd)
            cands = pgd_candidates(net, region.lo, region.hi, region.spec, cfg)
            for x in cands[:8]:
                snapped = snap_into_box(
                    x.numpy(), region.lo.numpy(), region.hi.numpy(), oracle.dtype
                )
                if snapped is None:
                    continue
                y = torch.from_numpy(oracle(snapped[None, :]))
                if bool(region.spec.violated(y)[0]):
                    value = float(region.spec.value(y)[0])
                    return ConfigAnswer(
                        Answer.VIOLATED,
                        f"witness re-checked on onnxruntime (value {value:.4g}, round {rnd + 1})",
                    )
    return ConfigAnswer(Answer.UNKNOWN, f"no counterexample in {ATTACK_ROUNDS} PGD rounds")


BUILTIN = {
    "bab": bab,
    "milp_highs": milp_highs,
    "milp_gurobi": milp_gurobi,
    "milp_plain": milp_plain,
    "bounds_only": bounds_only,
    "attack_only": attack_only,
}
