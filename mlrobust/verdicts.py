"""The three verdicts every robustness question ends in, and the rule that keeps them honest."""

from __future__ import annotations

from enum import Enum

from mlrobust.errors import SoundnessError


class Verdict(str, Enum):
    """VERIFIED: a verifier proved the property. FALSIFIED: a witness, re-checked by a forward
    pass of the real model, violates it. UNKNOWN: neither (time limit, numerical trouble,
    unsupported layer). Never read UNKNOWN as robust."""

    VERIFIED = "verified"
    FALSIFIED = "falsified"
    UNKNOWN = "unknown"


def combine(a: Verdict, b: Verdict, *, where: str = "") -> Verdict:
    """Merge two verdicts about the same cell; VERIFIED with FALSIFIED is a soundness bug."""
    if {a, b} == {Verdict.VERIFIED, Verdict.FALSIFIED}:
        raise SoundnessError(
            f"Cell {where or '(unnamed)'} is both VERIFIED and FALSIFIED: a verifier or attack is "
            "unsound. Please report this with the model and input."
        )
    if Verdict.VERIFIED in (a, b):
        return Verdict.VERIFIED
    if Verdict.FALSIFIED in (a, b):
        return Verdict.FALSIFIED
    return Verdict.UNKNOWN
