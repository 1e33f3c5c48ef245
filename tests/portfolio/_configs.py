"""Test-only verifier plugins for the portfolio runner (registered through entry points, so
its child processes find them by name): each misbehaves in one way."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from typing import Any

from mlrobust.verdicts import Verdict
from mlrobust.verify import Query, VerificationResult, Verifier


@dataclass(frozen=True, kw_only=True)
class NoSettings:
    pass


def _all(query: Query, verdict: Verdict) -> tuple[VerificationResult, ...]:
    return tuple(
        VerificationResult(verdict, -1.0, None, None, None, 0.0, 0, 0, "test") for _ in query.specs
    )


class AnswersFromName(Verifier):
    """VERIFIED when the property file's name contains "holds", else UNKNOWN."""

    name = "answer"
    config_type = NoSettings

    def _run(self, query: Query, time_limit_s: float, seed: int) -> Any:
        holds = all("holds" in s.name for s in query.specs)
        return _all(query, Verdict.VERIFIED if holds else Verdict.UNKNOWN)


class Raises(Verifier):
    name = "raise"
    config_type = NoSettings

    def _run(self, query: Query, time_limit_s: float, seed: int) -> Any:
        raise RuntimeError("solver exploded on purpose")


class Segfaults(Verifier):
    name = "segv"
    config_type = NoSettings

    def _run(self, query: Query, time_limit_s: float, seed: int) -> Any:
        os.kill(os.getpid(), signal.SIGSEGV)


class Sleeps(Verifier):
    name = "sleep"
    config_type = NoSettings

    def _run(self, query: Query, time_limit_s: float, seed: int) -> Any:
        time.sleep(60)
        return _all(query, Verdict.VERIFIED)


class HogsMemory(Verifier):
    name = "hog"
    config_type = NoSettings

    def _run(self, query: Query, time_limit_s: float, seed: int) -> Any:
        block = bytearray(2 * 1024**3)  # 2 GiB, over the test's limit
        return _all(query, Verdict.VERIFIED if block else Verdict.UNKNOWN)


class ReturnsJunk(Verifier):
    name = "junk"
    config_type = NoSettings

    def _run(self, query: Query, time_limit_s: float, seed: int) -> Any:
        return 42


class FalselyFalsifies(Verifier):
    """Claims FALSIFIED with a point that is no counterexample: the protocol must refuse it."""

    name = "liar"
    config_type = NoSettings

    def _run(self, query: Query, time_limit_s: float, seed: int) -> Any:
        x = ((query.lo + query.hi) / 2).reshape(query.net.input_shape)
        return tuple(
            VerificationResult(Verdict.FALSIFIED, 0.0, 0.0, x, x, 0.0, 0, 0, "liar")
            for _ in query.specs
        )


PLUGINS = {
    cls.name: f"tests.portfolio._configs:{cls.__name__}"
    for cls in (
        AnswersFromName,
        Raises,
        Segfaults,
        Sleeps,
        HogsMemory,
        ReturnsJunk,
        FalselyFalsifies,
    )
}
