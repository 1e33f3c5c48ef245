"""The randomised soundness harness at CI size (tests/verify/soundness.py): every verifier
configuration — each registered verifier, every tightening level, with and without branch and
bound — on float32 and float64 MLPs and on CNNs with max and average pooling, for every
property kind (top-1, top-k ON, top-k entering, threshold ON and OFF, a disjunction of
conjunctions, VNN-LIB files with two input regions), against an exact reference and a
counterexample search on the real model. benchmarks/soundness.py runs the same at larger size.

The limits are generous (300 s a call): on these tiny nets the complete verifier finishes by
itself, so the assertions do not depend on the machine's speed."""

from __future__ import annotations

import pytest

from mlrobust.verdicts import Verdict
from tests.verify import soundness as S

LIMIT_S = 300.0


@pytest.fixture(scope="module")
def tally() -> S.Tally:
    cases = S.make_cases()
    out = S.run(cases, S.configurations(fast=True), time_limit_s=LIMIT_S)
    S.run_vnnlib(S.vnnlib_cases(), S.configurations(fast=True), out, time_limit_s=LIMIT_S)
    print(S.report(out))
    return out


def _count(tally: S.Tally, verdict: Verdict, *, config: str = "milp/", cat: str = "") -> int:
    return sum(
        n
        for (c, k, v), n in tally.verdicts.items()
        if c.startswith(config) and cat in k and v is verdict
    )


def test_no_wrong_verdict(tally: S.Tally) -> None:
    assert tally.wrong == []
    assert sum(tally.outcomes.values()) >= 500  # a few hundred cases per run, not a handful


@pytest.mark.parametrize(
    "kind",
    [
        "top-1",
        "top-2 ON",
        "top-2 entering",
        "threshold ON",
        "threshold OFF",
        "disjunction",
        "vnnlib",
    ],
)
def test_every_property_kind_sees_both_verdicts(tally: S.Tally, kind: str) -> None:
    assert _count(tally, Verdict.VERIFIED, cat=f"/ {kind}") > 0
    assert _count(tally, Verdict.FALSIFIED, cat=f"/ {kind}") > 0


@pytest.mark.parametrize("net", sorted(S.NETS))
def test_every_net_kind_sees_both_verdicts(tally: S.Tally, net: str) -> None:
    assert _count(tally, Verdict.VERIFIED, cat=f"{net} /") > 0
    assert _count(tally, Verdict.FALSIFIED, cat=f"{net} /") > 0


def test_each_verifier_gives_what_it_claims(tally: S.Tally) -> None:
    for config in {c for c, _, _ in tally.verdicts}:
        verified = _count(tally, Verdict.VERIFIED, config=config)
        falsified = _count(tally, Verdict.FALSIFIED, config=config)
        if config.startswith("milp/"):
            assert verified > 0 and falsified > 0, config
        elif config.startswith("crown/"):
            assert verified > 0 and falsified == 0, config
        elif config == "attack":
            assert verified == 0 and falsified > 0, config


def test_the_complete_verifier_decides_the_near_boundary_cases(tally: S.Tally) -> None:
    configs = {c for c, _ in tally.near if c.startswith("milp/")}
    assert configs
    for c in configs:
        assert tally.near[(c, "cases")] >= 8
        assert tally.near[(c, "decided")] == tally.near[(c, "cases")], c
