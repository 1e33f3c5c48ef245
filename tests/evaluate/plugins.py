"""A scripted verifier plugin for the runner tests: counts its calls, can die on a given call
or claim every property VERIFIED (to provoke a soundness conflict); otherwise it delegates to
the built-in complete verifier."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlrobust.verdicts import Verdict
from mlrobust.verify import MILPVerifier, Query, VerificationResult, Verifier

CALLS: list[int] = []
SCRIPT: dict[str, Any] = {"die_on": None, "always_verified": False}


@dataclass(frozen=True, kw_only=True)
class ScriptedConfig:
    timeout_unused: float = 0.0


class ScriptedVerifier(Verifier):
    name = "scripted"
    config_type = ScriptedConfig

    def _run(self, query: Query, time_limit_s: float, seed: int) -> tuple[VerificationResult, ...]:
        CALLS.append(1)
        if SCRIPT["die_on"] == len(CALLS):
            raise KeyboardInterrupt
        if SCRIPT["always_verified"]:
            return tuple(
                VerificationResult(Verdict.VERIFIED, -1.0, None, None, None, 0.0, 0, 0, "lie")
                for _ in query.specs
            )
        return MILPVerifier()(query, time_limit_s=time_limit_s, seed=seed)
