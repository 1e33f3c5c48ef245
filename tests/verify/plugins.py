"""A third-party-style verifier for the conformance test: uniform sampling as a falsifier
(incomplete, never VERIFIED). Registered through the ``mlrobust.verifiers`` entry point."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from mlrobust.verdicts import Verdict
from mlrobust.verify import Query, VerificationResult, Verifier


@dataclass(frozen=True, kw_only=True)
class SamplingConfig:
    samples: int = 512


class SamplingVerifier(Verifier):
    name = "sampling"
    config_type = SamplingConfig
    proves = False

    def _run(self, query: Query, time_limit_s: float, seed: int) -> list[VerificationResult]:
        t0 = time.monotonic()
        gen = torch.Generator().manual_seed(seed)
        lo, hi = query.lo, query.hi
        xs = lo + (hi - lo) * torch.rand(
            self.config.samples, lo.numel(), generator=gen, dtype=lo.dtype
        )
        with torch.no_grad():
            ys = query.net.forward(xs)
        out = []
        for spec in query.specs:
            vals = spec.value(ys)
            best = int(vals.argmax())
            x = xs[best].reshape(query.net.input_shape)
            found = float(vals[best]) >= 0
            out.append(
                VerificationResult(
                    Verdict.FALSIFIED if found else Verdict.UNKNOWN,
                    math.inf,
                    float(vals[best]),
                    x if found else None,
                    x,
                    time.monotonic() - t0,
                    0,
                    0,
                    "sampling",
                )
            )
        return out
