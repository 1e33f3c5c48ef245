"""A scripted verifier plugin for the runner tests: counts its calls, can die on a given call
or claim every property VERIFIED (to provoke a soundness conflict); otherwise it delegates to
the built-in complete verifier."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mlrobust.verdicts import Verdict
from mlrobust.verify import MILPVerifier, Query, VerificationResult, Verifier

CALLS: list[int] = []
LIMITS: list[float] = []  # the time limit of every call
#: die_on: raise on that call; always_verified: lie; unknown_below_s: answer UNKNOWN (sound)
#: when given less time than this, as a verifier that needs time would
SCRIPT: dict[str, Any] = {"die_on": None, "always_verified": False, "unknown_below_s": 0.0}


@dataclass(frozen=True, kw_only=True)
class ScriptedConfig:
    timeout_unused: float = 0.0


class ScriptedVerifier(Verifier):
    name = "scripted"
    config_type = ScriptedConfig

    def _run(self, query: Query, time_limit_s: float, seed: int) -> tuple[VerificationResult, ...]:
        CALLS.append(1)
        LIMITS.append(time_limit_s)
        if SCRIPT["die_on"] == len(CALLS):
            raise KeyboardInterrupt
        if SCRIPT["always_verified"]:
            return tuple(
                VerificationResult(Verdict.VERIFIED, -1.0, None, None, None, 0.0, 0, 0, "lie")
                for _ in query.specs
            )
        if time_limit_s < SCRIPT["unknown_below_s"]:
            return tuple(
                VerificationResult(Verdict.UNKNOWN, math.inf, None, None, None, 0.0, 0, 0, "slow")
                for _ in query.specs
            )
        return MILPVerifier()(query, time_limit_s=time_limit_s, seed=seed)
