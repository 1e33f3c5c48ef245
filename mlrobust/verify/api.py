"""Entry points for our own torch models and for VNN-COMP instances; each runs a
:class:`~mlrobust.verify.protocol.Verifier` (default: the complete ``milp`` verifier).

* :func:`certify_labels` — per image and label, is the label's decision (threshold or top-k rule)
  unchanged over the whole neighbourhood?
* :func:`verify_topk` — does ``target_label`` stay in the top-k over the neighbourhood (one MILP
  with counting binaries)? Gives the weakest point and objective value for synthesis.
* :func:`verify_vnnlib` — an ONNX network against a VNN-LIB 1.0 property: ``sat``/``unsat``/
  ``unknown``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from mlrobust.errors import InputError
from mlrobust.rules import DecisionRule, Threshold, TopK
from mlrobust.threats import ThreatModel
from mlrobust.validation import check_images
from mlrobust.verdicts import Verdict
from mlrobust.verify.from_onnx import from_onnx
from mlrobust.verify.from_torch import from_torch
from mlrobust.verify.oracle import OnnxOracle, TorchOracle
from mlrobust.verify.protocol import Query, VerificationResult, Verifier
from mlrobust.verify.spec import OutputSpec, enters_topk_spec, threshold_spec, topk_spec
from mlrobust.verify.verifier import MILPVerifier
from mlrobust.verify.vnnlib import read_vnnlib

#: time limit of the entry points when none is given (seconds per call)
DEFAULT_TIME_LIMIT_S = 60.0


@dataclass(frozen=True)
class LabelCertificates:
    """Per-label verdicts. Shapes: ``verdicts`` and ``results`` ``[N][L]``; ``clean`` bool
    ``[N, L]`` (the rule's prediction on the clean images, the decisions being certified)."""

    verdicts: tuple[tuple[Verdict, ...], ...]
    results: tuple[tuple[VerificationResult, ...], ...]
    clean: torch.Tensor


def certify_labels(
    model: nn.Module,
    x: torch.Tensor,
    threat: ThreatModel,
    rule: DecisionRule,
    verifier: Verifier | None = None,
    *,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    seed: int = 0,
) -> LabelCertificates:
    """Certify, for each image of ``x [N, C, H, W]`` and each label, that the rule's decision on
    that label (ON/OFF) holds for every input of ``threat`` around the image
    (``time_limit_s`` per image).

    Example:
        >>> from mlrobust.threats import LinfBall
        >>> m = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
        >>> cert = certify_labels(m, torch.rand(1, 1, 2, 2), LinfBall(0.0), Threshold(0.5))
        >>> len(cert.verdicts[0])
        3
    """
    check_images(x)
    verifier = verifier or MILPVerifier()
    net = from_torch(model, tuple(x.shape[1:]))
    oracle = TorchOracle(model, tuple(x.shape[1:]))
    with torch.no_grad():
        logits = torch.from_numpy(oracle(x.reshape(x.shape[0], -1).numpy()))
    clean = rule.predict(logits)
    n_lab = logits.shape[1]
    lows, highs = threat.bounds(x)
    verdicts, results = [], []
    for i in range(x.shape[0]):
        specs = tuple(label_spec(rule, c, bool(clean[i, c]), n_lab) for c in range(n_lab))
        res = verifier(
            Query(net, lows[i], highs[i], specs, oracle), time_limit_s=time_limit_s, seed=seed
        )
        results.append(res)
        verdicts.append(tuple(r.verdict for r in res))
    return LabelCertificates(tuple(verdicts), tuple(results), clean)


def label_spec(rule: DecisionRule, label: int, on: bool, n: int) -> OutputSpec:
    """The property "label ``label`` keeps its decision (``on``)" under ``rule`` (violated when
    the decision flips). The linear clauses include the tie points (sound for proofs);
    ``decides`` applies the rule itself, so a counterexample must really flip it (e.g. a logit
    exactly at the threshold is still ON; top-k ties go to the lower index)."""
    if isinstance(rule, Threshold):
        spec = threshold_spec(label, on, rule.logit_threshold, n)
    elif isinstance(rule, TopK):
        spec = topk_spec(label, rule.k, n) if on else enters_topk_spec(label, rule.k, n)
    else:
        raise InputError(f"Unknown decision rule {rule!r}; use Threshold or TopK.")
    return replace(spec, decides=_flip_test(rule, label, on))


def _flip_test(rule: DecisionRule, label: int, on: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    def flipped(y: torch.Tensor) -> torch.Tensor:
        return rule.predict(y)[:, label] != on

    return flipped


def verify_topk(
    model: nn.Module,
    x: torch.Tensor,
    threat: ThreatModel,
    target_label: int,
    k: int,
    verifier: Verifier | None = None,
    *,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    seed: int = 0,
) -> VerificationResult:
    """Does ``target_label`` stay among the ``k`` highest logits for every input of ``threat``
    around the single image ``x [1, C, H, W]`` (or ``[C, H, W]``)? ``objective_bound`` bounds the
    k-th largest ``f_j - f_target`` over rivals j (paper 000's objective; < 0 means robust).
    Use ``MILPVerifier(VerifierConfig(exact_objective=True))`` to get the weakest point and its
    value even when robust.
    """
    if x.dim() == 3:
        x = x.unsqueeze(0)
    check_images(x)
    if x.shape[0] != 1:
        raise InputError(f"verify_topk takes one image, got a batch of {x.shape[0]}.")
    net = from_torch(model, tuple(x.shape[1:]))
    lo, hi = threat.bounds(x)
    spec = label_spec(TopK(k), target_label, True, net.n_outputs)
    query = Query(net, lo[0], hi[0], (spec,), TorchOracle(model, tuple(x.shape[1:])))
    return (verifier or MILPVerifier())(query, time_limit_s=time_limit_s, seed=seed)[0]


@dataclass(frozen=True)
class VnnlibAnswer:
    """``answer`` is ``"sat"`` (counterexample found and re-checked), ``"unsat"`` (proved) or
    ``"unknown"``; ``counterexample`` ``[input_size]`` when sat; one result per input region
    examined."""

    answer: str
    time_s: float
    counterexample: torch.Tensor | None
    results: tuple[VerificationResult, ...]


def verify_vnnlib(
    onnx_path: str | Path,
    vnnlib_path: str | Path,
    verifier: Verifier | None = None,
    *,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    seed: int = 0,
) -> VnnlibAnswer:
    """Check an ONNX network against a VNN-LIB 1.0 property: the property fails (``sat``) when
    some input region holds a counterexample (re-checked with onnxruntime), and holds
    (``unsat``) when every region is proven. Regions share ``time_limit_s``."""
    t0 = time.monotonic()
    net = from_onnx(onnx_path)
    prop = read_vnnlib(vnnlib_path)
    if prop.n_inputs != net.input_size:
        raise InputError(
            f"The property declares {prop.n_inputs} inputs but the network takes "
            f"{net.input_size}; check that the files belong together."
        )
    if prop.n_outputs != net.n_outputs:
        raise InputError(
            f"The property declares {prop.n_outputs} outputs but the network has {net.n_outputs}."
        )
    verifier = verifier or MILPVerifier()
    oracle = OnnxOracle(onnx_path)
    results: list[VerificationResult] = []
    for region in prop.regions:
        left = time_limit_s - (time.monotonic() - t0)
        if left <= 0:
            return VnnlibAnswer("unknown", time.monotonic() - t0, None, tuple(results))
        query = Query(net, region.lo, region.hi, (region.spec,), oracle)
        res = verifier(query, time_limit_s=left, seed=seed)[0]
        results.append(res)
        if res.verdict == Verdict.FALSIFIED and res.counterexample is not None:
            return VnnlibAnswer(
                "sat", time.monotonic() - t0, res.counterexample.reshape(-1), tuple(results)
            )
    answer = "unsat" if all(r.verdict == Verdict.VERIFIED for r in results) else "unknown"
    return VnnlibAnswer(answer, time.monotonic() - t0, None, tuple(results))
