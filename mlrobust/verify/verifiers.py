"""The incomplete built-in verifiers: bounds only (``crown``) and a falsifier only (``attack``).

The complete one, ``milp``, is :class:`mlrobust.verify.verifier.MILPVerifier`. All three are
listed in :mod:`mlrobust.verify.registry`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

from mlrobust.verdicts import Verdict
from mlrobust.verify.attack import AttackConfig, pgd_candidates
from mlrobust.verify.bounds import clause_upper_bound
from mlrobust.verify.milp import Tightening, TighteningConfig, supports_milp, tighten
from mlrobust.verify.oracle import recheck
from mlrobust.verify.protocol import (
    Query,
    StageTimes,
    Stopwatch,
    VerificationResult,
    Verifier,
    unknown,
)
from mlrobust.verify.rewrite import pools_as_relus, rewritten_bounds
from mlrobust.verify.spec import DEFAULT_MARGIN


@dataclass(frozen=True, kw_only=True)
class CrownConfig:
    """``tightening``: how the hidden layers are bounded (``INTERVAL``: interval arithmetic,
    fast; ``CROWN``: CROWN per layer, with alpha-CROWN when ``alpha_steps > 0``; ``LP``/``MIP``
    also run, at their cost); ``alpha_steps``: slope steps on the spec's own rows (0: CROWN)."""

    tightening: Tightening = Tightening.INTERVAL
    alpha_steps: int = 0
    margin: float = DEFAULT_MARGIN


class CrownVerifier(Verifier):
    """Bounds only: VERIFIED when every clause's bound is below ``-margin``, else UNKNOWN
    (never FALSIFIED). The default (interval hidden bounds, CROWN on the spec rows) is the fast
    incomplete verifier of ``mlrobust evaluate --verifier crown``."""

    name = "crown"
    config_type = CrownConfig
    falsifies = False

    def _run(self, query: Query, time_limit_s: float, seed: int) -> tuple[VerificationResult, ...]:
        cfg: CrownConfig = self.config
        t0 = time.monotonic()
        deadline = t0 + time_limit_s
        clock = Stopwatch()
        out = []
        # LP and MIP tightening need an exact encoding (no sigmoid): CROWN at most otherwise
        level = (
            cfg.tightening if supports_milp(query.net) else min(cfg.tightening, Tightening.CROWN)
        )
        # CROWN goes through the pools-as-ReLUs rewrite (the same function, a tighter
        # relaxation behind any max-pools); LP tightening keeps the original, where the
        # rewrite's extra ReLU inputs cost more LPs than its bounds save
        net, start = query.net, query.bounds
        if level <= Tightening.CROWN:
            net = pools_as_relus(query.net)[0]
            start = None if start is None else rewritten_bounds(query.net, start)
        with clock.stage("bounds"):
            bounds = tighten(
                net,
                query.lo,
                query.hi,
                TighteningConfig(
                    level=level, alpha_steps=cfg.alpha_steps, total_time_s=time_limit_s
                ),
                start=start,
            )
            for spec in query.specs:
                worst, message = -math.inf, ""
                for cl in spec.clauses:
                    if time.monotonic() > deadline:
                        worst, message = math.inf, "time limit"
                        break
                    worst = max(
                        worst, clause_upper_bound(net, bounds, cl, cfg.alpha_steps, deadline)
                    )
                    if not worst < -cfg.margin:
                        message = f"bound {worst:.4g} not below -{cfg.margin} (incomplete method)"
                        break
                proved = worst < -cfg.margin
                out.append(
                    VerificationResult(
                        Verdict.VERIFIED if proved else Verdict.UNKNOWN,
                        worst if proved else math.inf,
                        None,
                        None,
                        None,
                        time.monotonic() - t0,
                        0,
                        0,
                        "crown",
                        message,
                    )
                )
        share = clock.share(len(out))
        return tuple(_with(r, share) for r in out)


@dataclass(frozen=True, kw_only=True)
class AttackOnlyConfig:
    """PGD on the IR: ``rounds`` of ``steps`` steps x ``restarts`` starts per goal, a new seed
    per round. Bounded, so a property that holds does not always cost the whole time limit."""

    rounds: int = 3
    steps: int = 150
    restarts: int = 32


class AttackVerifier(Verifier):
    """A falsifier alone: FALSIFIED with a witness re-checked on the real model, else UNKNOWN
    (never VERIFIED)."""

    name = "attack"
    config_type = AttackOnlyConfig
    proves = False

    def _run(self, query: Query, time_limit_s: float, seed: int) -> tuple[VerificationResult, ...]:
        cfg: AttackOnlyConfig = self.config
        t0 = time.monotonic()
        deadline = t0 + time_limit_s
        clock = Stopwatch()
        lo, hi = query.lo.numpy(), query.hi.numpy()
        out = []
        with clock.stage("attack"):
            for spec in query.specs:
                res = unknown(f"no counterexample in {cfg.rounds} PGD rounds", "attack")
                for rnd in range(cfg.rounds):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        res = unknown(f"time limit after {rnd} round(s)", "attack")
                        break
                    cands = pgd_candidates(
                        query.net,
                        query.lo,
                        query.hi,
                        spec,
                        AttackConfig(
                            steps=cfg.steps, restarts=cfg.restarts, time_s=left, seed=seed + rnd
                        ),
                    )
                    hit = next(
                        (
                            h
                            for h in (
                                recheck(x.numpy(), lo, hi, spec, query.oracle) for x in cands[:8]
                            )
                            if h is not None
                        ),
                        None,
                    )
                    if hit is not None:
                        x = hit[0].reshape(query.net.input_shape)
                        res = VerificationResult(
                            Verdict.FALSIFIED,
                            math.inf,
                            hit[1],
                            x,
                            x,
                            0.0,
                            0,
                            0,
                            "attack",
                            f"witness re-checked on the real model (value {hit[1]:.4g}, "
                            f"round {rnd + 1})",
                        )
                        break
                out.append(res)
        share = clock.share(len(out))
        elapsed = time.monotonic() - t0
        return tuple(_with(r, share, elapsed) for r in out)


def _with(
    res: VerificationResult, stages: StageTimes, time_s: float | None = None
) -> VerificationResult:
    return replace(res, stages=stages, time_s=res.time_s if time_s is None else time_s)
