"""Every registered verifier — the built-ins and a plugin found through the
``mlrobust.verifiers`` entry point — on small random nets: VERIFIED never beside a
counterexample the reference search finds, every FALSIFIED witness lies in the box and flips the
property on the real model, and the time limit holds (with slack for a busy machine)."""

from __future__ import annotations

import time

import pytest
import torch

from mlrobust.rules import Threshold, TopK
from mlrobust.verdicts import Verdict
from mlrobust.verify import (
    Query,
    Verifier,
    available_verifiers,
    from_torch,
    get_verifier,
    label_spec,
)
from mlrobust.verify.oracle import TorchOracle
from tests.plugins import install_entry_points
from tests.verify.helpers import random_convnet, random_mlp
from tests.verify.reference import assert_witness, search_counterexample

BUILTIN = ("milp", "crown", "attack")
LIMIT_S = 10.0


@pytest.fixture
def with_plugin(tmp_path, monkeypatch) -> None:
    install_entry_points(
        tmp_path / "site",
        monkeypatch,
        {"mlrobust.verifiers": {"sampling": "tests.verify.plugins:SamplingVerifier"}},
    )


def _cases():
    """(model, input shape, rule) on fixed seeds: float64 and float32 MLPs, a max-pool CNN."""
    mlp64 = random_mlp([6, 12, 12, 4], seed=3)
    mlp32 = random_mlp([6, 10, 4], seed=4).float()
    conv = random_convnet(5)
    return [(mlp64, (6,), TopK(2)), (mlp32, (6,), Threshold(0.5)), (conv, (1, 6, 6), TopK(1))]


def test_the_plugin_is_registered_beside_the_builtins(with_plugin) -> None:
    assert set(available_verifiers()) >= {*BUILTIN, "sampling"}


@pytest.mark.parametrize("name", [*BUILTIN, "sampling"])
def test_verifier_conformance(name: str, with_plugin) -> None:
    check_verifier_conformance(get_verifier(name))


def check_verifier_conformance(verifier: Verifier) -> None:
    """The contract every verifier (built-in or plugin) must meet on the random nets."""
    name, cls = verifier.name, type(verifier)
    seen: dict[Verdict, int] = dict.fromkeys(Verdict, 0)
    for case, (model, shape, rule) in enumerate(_cases()):
        net = from_torch(model, shape)
        oracle = TorchOracle(model, shape)
        gen = torch.Generator().manual_seed(case)
        dtype = next(model.parameters()).dtype
        x = torch.rand(1, *shape, generator=gen).to(dtype)
        with torch.no_grad():
            clean = rule.predict(model(x))[0]
        specs = tuple(
            label_spec(rule, c, bool(clean[c]), net.n_outputs) for c in range(net.n_outputs)
        )
        for eps in (0.01, 0.4):
            lo, hi = (x[0] - eps).clamp(0, 1), (x[0] + eps).clamp(0, 1)
            t0 = time.monotonic()
            results = verifier(Query(net, lo, hi, specs, oracle), time_limit_s=LIMIT_S)
            assert time.monotonic() - t0 < 3 * LIMIT_S + 10, "time limit not respected"
            for spec, res in zip(specs, results, strict=True):
                seen[res.verdict] += 1
                if res.verdict is Verdict.FALSIFIED:
                    assert res.counterexample is not None
                    assert_witness(model, res.counterexample, lo, hi, spec)
                elif res.verdict is Verdict.VERIFIED:
                    cex = search_counterexample(model, lo, hi, spec)
                    assert cex is None, f"{name} VERIFIED {spec.name} at eps {eps}: {cex}"
    # the suite is not vacuous: each verifier gives the verdicts it claims it can give
    assert (seen[Verdict.VERIFIED] > 0) == cls.proves, seen
    assert (seen[Verdict.FALSIFIED] > 0) == cls.falsifies, seen
