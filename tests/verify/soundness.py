"""The randomised soundness harness: every verifier configuration against independent
references on small random nets, per category (model kind x property kind).

References (none of them uses mlrobust's bounds or MILP):

* the exact maximum of the property's clause value over the box, by activation-region
  enumeration with SciPy (:mod:`tests.verify.exact`), where it fits its budget;
* a counterexample search on the *real* model (uniform samples, corners, signed-gradient ascent
  from random starts; :func:`tests.verify.reference.search_counterexample`).

A verdict is WRONG when VERIFIED meets a counterexample (found by the search, or an exact
maximum ``>= 0``) or when a FALSIFIED witness fails the zero-tolerance check on the real model
(outside the box, or not violating). Cases include eps just below and just above the exact
robust radius. ``tests/verify/test_soundness.py`` runs a CI-sized set; ``benchmarks/soundness.py``
runs thousands and prints the counts.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from mlrobust.rules import Threshold, TopK
from mlrobust.verdicts import Verdict
from mlrobust.verify import (
    MILPVerifier,
    Query,
    Tightening,
    Verifier,
    VerifierConfig,
    available_verifiers,
    from_torch,
    get_verifier,
    label_spec,
    verify_vnnlib,
)
from mlrobust.verify.ir import Network
from mlrobust.verify.oracle import TorchOracle
from mlrobust.verify.spec import Clause, OutputSpec
from mlrobust.verify.verifiers import (
    AttackOnlyConfig,
    AttackVerifier,
    CrownConfig,
    CrownVerifier,
)
from tests.verify.exact import TooManyRegions, exact_max
from tests.verify.reference import search_counterexample

#: |exact maximum| below this: the float32 model may fall either side; no exact verdict
AMBIGUOUS = 1e-6


# ------------------------------------------------------------------------------- the nets
def _init(model: nn.Module, seed: int, gain: float = 1.0) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            fan_in = p[0].numel() if p.dim() > 1 else 4
            p.copy_(gain * torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))
    return model.eval()


def mlp(seed: int, dtype: torch.dtype) -> nn.Sequential:
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4)
    )
    return _init(model, seed).to(dtype)  # type: ignore[return-value]


def cnn(seed: int, dtype: torch.dtype, pool: str) -> nn.Sequential:
    pooling = nn.MaxPool2d(2, 1) if pool == "max" else nn.AvgPool2d(2, 1)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3),
        nn.ReLU(),
        pooling,
        nn.Flatten(),
        nn.Linear(8, 6),
        nn.ReLU(),
        nn.Linear(6, 4),
    )
    # a larger gain: small random CNNs are otherwise too flat for both verdicts at these eps
    return _init(model, seed, gain=2.5).to(dtype)  # type: ignore[return-value]


class ResidualMLP(nn.Module):
    """Two branches from one hidden layer, a skip connection and a concatenation."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(4, 6), nn.Linear(6, 6), nn.Linear(6, 4)
        self.out = nn.Linear(10, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc1(x.flatten(1)))
        a = torch.relu(self.fc2(h) + h)  # residual
        b = torch.relu(self.fc3(h))
        return self.out(torch.cat([a, b], dim=1))


class ResidualCNN(nn.Module):
    """Conv, batch norm, a residual block, global average pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.stem, self.bn = nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.fc = nn.Linear(2, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.stem(x)))
        h = torch.relu(self.conv(h) + h)
        return self.fc(h.mean(dim=(2, 3)))


def residual_cnn(seed: int, dtype: torch.dtype) -> nn.Module:
    model = _init(ResidualCNN(), seed, gain=2.5)
    with torch.no_grad():  # non-trivial inference statistics
        model.bn.running_mean.uniform_(-0.2, 0.2)  # type: ignore[operator]
        model.bn.running_var.uniform_(0.5, 1.5)  # type: ignore[operator]
    return model.to(dtype)


NETS = {  # name -> (builder(seed), one input's shape, a large eps the exact reference fits)
    "mlp-f64": (lambda s: mlp(s, torch.float64), (4,), 0.15),
    "mlp-f32": (lambda s: mlp(s, torch.float32), (4,), 0.15),
    "cnn-max-f64": (lambda s: cnn(s, torch.float64, "max"), (1, 5, 5), 0.05),
    "cnn-avg-f32": (lambda s: cnn(s, torch.float32, "avg"), (1, 5, 5), 0.15),
    "res-mlp-f64": (lambda s: _init(ResidualMLP(), s).double(), (4,), 0.15),
    "res-cnn-f32": (lambda s: residual_cnn(s, torch.float32), (1, 5, 5), 0.05),
}


# ------------------------------------------------------------------------------ the cases
@dataclass(frozen=True, eq=False)
class Case:
    """One property over one box of one net, with its references. ``truth``: ``"holds"``,
    ``"violated"`` or ``""`` (neither reference decided)."""

    net_kind: str
    prop_kind: str
    model: nn.Module
    shape: tuple[int, ...]
    lo: torch.Tensor
    hi: torch.Tensor
    spec: OutputSpec
    exact: float | None
    truth: str
    near: bool = False

    @property
    def category(self) -> str:
        return f"{self.net_kind} / {self.prop_kind}"


def _properties(model: nn.Module, x: torch.Tensor, n: int) -> list[tuple[str, OutputSpec]]:
    """One of each property kind at ``x [1, ...]`` (labels chosen from the clean logits)."""
    with torch.no_grad():
        y = model(x).double()[0]
    order = torch.argsort(y, descending=True).tolist()
    on, off = order[0], order[-1]

    def threshold(logit: float) -> Threshold:
        return Threshold(1 / (1 + math.exp(-logit)))

    c = torch.zeros(2, n, dtype=torch.float64)
    c[0, order[1]], c[0, on], c[1, order[2]], c[1, on] = 1, -1, 1, -1
    disjunction = OutputSpec(
        (
            Clause(c, torch.zeros(2, dtype=torch.float64), 2),
            Clause(-c[:1], torch.tensor([-0.5], dtype=torch.float64), 1),
        ),
        n,
        "disjunction",
    )
    return [
        ("top-1", label_spec(TopK(1), on, True, n)),
        ("top-2 ON", label_spec(TopK(2), order[1], True, n)),
        ("top-2 entering", label_spec(TopK(2), order[2], False, n)),
        # thresholds just below / above the label's logit: small balls keep the decision,
        # larger ones flip it
        ("threshold ON", label_spec(threshold(float(y[on]) - 0.1), on, True, n)),
        ("threshold OFF", label_spec(threshold(float(y[off]) + 0.1), off, False, n)),
        ("disjunction", disjunction),
    ]


def _references(
    model: nn.Module,
    net: Network,
    shape: tuple[int, ...],
    lo: torch.Tensor,
    hi: torch.Tensor,
    specs: list[OutputSpec],
    max_regions: int,
    seed: int,
) -> list[tuple[float | None, str]]:
    """Per spec: the exact maximum of its value over the box (None past the budget) and the
    truth, ``holds`` / ``violated`` / ``""``."""
    clauses = [cl for spec in specs for cl in spec.clauses]
    values: list[float] | None = None
    with contextlib.suppress(TooManyRegions):  # too many regions: the search alone decides
        values = [e.value for e in exact_max(net, lo.numpy(), hi.numpy(), clauses, max_regions)]
    out, at = [], 0
    for spec in specs:
        exact = None if values is None else max(values[at : at + len(spec.clauses)])
        at += len(spec.clauses)
        cex = search_counterexample(model, lo.reshape(shape), hi.reshape(shape), spec, seed=seed)
        if cex is not None or (exact is not None and exact >= AMBIGUOUS):
            out.append((exact, "violated"))
        elif exact is not None and exact < -AMBIGUOUS:
            out.append((exact, "holds"))
        else:
            out.append((exact, ""))
    return out


def _radius(
    net: Network,
    x: torch.Tensor,
    spec: OutputSpec,
    max_regions: int,
    upper: float,
    iters: int = 12,
) -> float | None:
    """The exact robust radius of ``spec`` at ``x`` (l_inf, clipped to [0, 1]) by bisection on
    the exact maximum in ``[0, upper]``; None when the enumeration does not fit, the property
    fails at x or holds on the whole ``upper`` ball."""

    def value(eps: float) -> float:
        lo, hi = (x - eps).clamp(0, 1).reshape(-1), (x + eps).clamp(0, 1).reshape(-1)
        return max(
            e.value
            for e in exact_max(
                net, lo.double().numpy(), hi.double().numpy(), spec.clauses, max_regions
            )
        )

    try:
        if value(0.0) >= 0 or value(upper) < 0:
            return None
        a, b = 0.0, upper
        for _ in range(iters):
            m = (a + b) / 2
            a, b = (m, b) if value(m) < 0 else (a, m)
        return (a + b) / 2
    except TooManyRegions:
        return None


def make_cases(
    nets: int = 1, points: int = 1, near: bool = True, seed: int = 0, max_regions: int = 300
) -> list[Case]:
    """Every net kind x ``nets`` seeds x ``points`` inputs x two radii (0.02 and the net's
    large one) x every property kind, plus near-boundary boxes (0.9 and 1.1 times the exact
    radius) where the exact radius is found within the budget."""
    cases: list[Case] = []
    for kind, (build, shape, large) in NETS.items():
        eps = (0.02, large)
        for k in range(nets):
            model = build(seed + k)
            net = from_torch(model, shape)
            dtype = next(model.parameters()).dtype
            gen = torch.Generator().manual_seed(seed + 100 * k)
            for _ in range(points):
                x = torch.rand(1, *shape, generator=gen).to(dtype)
                n = model(x).shape[1]
                props = _properties(model, x, n)
                boxes: list[tuple[float, bool, list[tuple[str, OutputSpec]]]] = [
                    (e, False, props) for e in eps
                ]
                if near:
                    for prop_kind, spec in props:
                        r = _radius(net, x.double(), spec, max_regions // 5, 2 * large)
                        if r is not None:
                            boxes += [
                                (0.9 * r, True, [(prop_kind, spec)]),
                                (1.1 * r, True, [(prop_kind, spec)]),
                            ]
                for e, is_near, specs in boxes:
                    # one box per eps, shared by its properties (one verifier call)
                    lo = (x - e).clamp(0, 1).reshape(-1).double()
                    hi = (x + e).clamp(0, 1).reshape(-1).double()
                    refs = _references(
                        model, net, shape, lo, hi, [s for _, s in specs], max_regions, seed + k
                    )
                    for (prop_kind, spec), (exact, truth) in zip(specs, refs, strict=True):
                        cases.append(
                            Case(kind, prop_kind, model, shape, lo, hi, spec, exact, truth, is_near)
                        )
    return cases


# ------------------------------------------------------------------- verifier configurations
def configurations(fast: bool = False) -> dict[str, Verifier]:
    """Every registered verifier (plugins with their defaults) and, for the built-ins, every
    tightening level with and without branch and bound (max-pool nets: opt-in BaB too), and
    branch and bound on MIP-refined bounds.
    ``fast``: shorter internal falsifiers (no proof path changes), for CI."""
    falsifier = {"attack_steps": 30, "attack_restarts": 4} if fast else {}
    out: dict[str, Verifier] = {}
    for level in Tightening:
        for bab in (True, False):
            cfg = VerifierConfig(tightening=level, bab=bab, bab_maxpool=bab, **falsifier)
            out[f"milp/{level.name.lower()}/{'bab' if bab else 'no-bab'}"] = MILPVerifier(cfg)
        out[f"crown/{level.name.lower()}"] = CrownVerifier(CrownConfig(tightening=level))
    # branch and bound restarted on MIP-refined bounds at once (normally only after 30 s)
    out["milp/lp/bab+refine"] = MILPVerifier(
        VerifierConfig(refine_after_s=0.0, refine_min_s=0.0, **falsifier)
    )
    out["crown/crown+alpha"] = CrownVerifier(
        CrownConfig(tightening=Tightening.CROWN, alpha_steps=20)
    )
    out["attack"] = AttackVerifier(
        AttackOnlyConfig(rounds=1, steps=60, restarts=8) if fast else AttackOnlyConfig()
    )
    for name in available_verifiers():
        if name not in ("milp", "crown", "attack"):
            out[name] = get_verifier(name)
    return out


# ------------------------------------------------------------------------------ judging
def witness_ok(case: Case, witness: torch.Tensor | None) -> bool:
    """Zero tolerance: inside the box in float64, exact in the model's dtype, and violating
    the spec on a fresh forward pass of the real model."""
    if witness is None:
        return False
    w = witness.reshape(-1).double()
    if not bool((w >= case.lo).all() and (w <= case.hi).all()):
        return False
    dtype = next(case.model.parameters()).dtype
    if not torch.equal(w.to(dtype).double(), w):
        return False
    with torch.no_grad():
        y = case.model(w.to(dtype).reshape(1, *case.shape)).double()
    return bool(case.spec.violated(y)[0])


def judge(case: Case, verdict: Verdict, witness: torch.Tensor | None) -> str:
    """``agree``, ``unknown`` or ``WRONG`` (see the module docstring)."""
    if verdict is Verdict.FALSIFIED:
        return "agree" if witness_ok(case, witness) else "WRONG"
    if verdict is Verdict.VERIFIED:
        return "WRONG" if case.truth == "violated" else "agree"
    return "unknown"


@dataclass
class Tally:
    """Counts per (configuration, category): agree / unknown / WRONG and verdicts seen."""

    outcomes: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    verdicts: Counter[tuple[str, str, Verdict]] = field(default_factory=Counter)
    near: Counter[tuple[str, str]] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, config: str, case: Case, verdict: Verdict, outcome: str) -> None:
        self.outcomes[(config, case.category, outcome)] += 1
        self.verdicts[(config, case.category, verdict)] += 1
        if case.near:
            self.near[(config, "cases")] += 1
            self.near[(config, "decided")] += verdict is not Verdict.UNKNOWN
        if outcome == "WRONG":
            self.wrong.append(
                f"{config} on {case.category}: {verdict.value} "
                f"(exact {case.exact}, truth {case.truth or '?'})"
            )


def run(cases: list[Case], configs: dict[str, Verifier], time_limit_s: float = 30.0) -> Tally:
    """Every configuration on every case; the cases of one box share a verifier call."""
    tally = Tally()
    t0 = time.monotonic()
    groups: dict[tuple[int, int, int], list[Case]] = {}
    for c in cases:
        groups.setdefault((id(c.model), id(c.lo), id(c.hi)), []).append(c)
    for name, verifier in configs.items():
        for group in groups.values():
            first = group[0]
            net = from_torch(first.model, first.shape)
            query = Query(
                net,
                first.lo,
                first.hi,
                tuple(c.spec for c in group),
                TorchOracle(first.model, first.shape),
            )
            results = verifier(query, time_limit_s=time_limit_s)
            for case, res in zip(group, results, strict=True):
                tally.add(name, case, res.verdict, judge(case, res.verdict, res.counterexample))
    tally.seconds = time.monotonic() - t0
    return tally


# ------------------------------------------------------------------ VNN-LIB: several regions
def mlp_onnx(model: nn.Sequential, path: Path) -> None:
    """The MLP as an ONNX graph of Gemm and Relu nodes (float32), written with onnx.helper."""
    nodes, inits, cur, k = [], [], "x", 0
    for m in model:
        if isinstance(m, nn.Linear):
            w, b = f"w{k}", f"b{k}"
            inits += [
                numpy_helper.from_array(m.weight.detach().float().numpy(), w),
                numpy_helper.from_array(m.bias.detach().float().numpy(), b),
            ]
            nodes.append(helper.make_node("Gemm", [cur, w, b], [f"g{k}"], transB=1))
            cur, k = f"g{k}", k + 1
        elif isinstance(m, nn.ReLU):
            nodes.append(helper.make_node("Relu", [cur], [f"r{k}"]))
            cur = f"r{k}"
    n_in = model[1].in_features
    n_out = [m for m in model if isinstance(m, nn.Linear)][-1].out_features
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n_in])],
        [helper.make_tensor_value_info(cur, TensorProto.FLOAT, [1, n_out])],
        inits,
    )
    out = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    out.ir_version = 8
    onnx.save(out, str(path))


def vnnlib_text(boxes: list[tuple[np.ndarray, np.ndarray]], spec: OutputSpec) -> str:
    """A VNN-LIB 1.0 file: the union of ``boxes`` as input regions, ``spec`` as the unsafe
    output set, written as a disjunction of conjunctions (a clause "at least one row >= 0"
    becomes one single-row conjunction per row)."""
    n_in, n_out = boxes[0][0].size, spec.n_outputs
    lines = [f"(declare-const X_{i} Real)" for i in range(n_in)]
    lines += [f"(declare-const Y_{j} Real)" for j in range(n_out)]
    regions = []
    for lo, hi in boxes:
        atoms = [f"(>= X_{i} {float(lo[i])!r}) (<= X_{i} {float(hi[i])!r})" for i in range(n_in)]
        regions.append(f"(and {' '.join(atoms)})")
    lines.append(f"(assert (or {' '.join(regions)}))")

    def row(cl: Clause, r: int) -> str:
        terms = " ".join(
            f"(* {float(cl.c[r, j])!r} Y_{j})" for j in range(n_out) if float(cl.c[r, j]) != 0.0
        )
        return f"(>= (+ {terms} {float(cl.d[r])!r}) 0.0)"

    conjunctions = []
    for cl in spec.clauses:
        m = cl.c.shape[0]
        assert cl.at_least in (1, m), "a clause VNN-LIB can say: any row, or all rows"
        groups = [[r] for r in range(m)] if cl.at_least == 1 else [list(range(m))]
        conjunctions += [f"(and {' '.join(row(cl, r) for r in g)})" for g in groups]
    lines.append(f"(assert (or {' '.join(conjunctions)}))")
    return "\n".join(lines) + "\n"


def vnnlib_cases(nets: int = 2, seed: int = 0) -> list[tuple[str, Case, list[Case]]]:
    """MLPs written to ONNX, each with a two-region VNN-LIB property: the top-1 label at x
    keeps its place over two small boxes (net 0: both near x, usually holds) or over a small
    and a large box (net 1 on: usually violated). The truth of a file is the disjunction of
    its regions' truths."""
    folder = Path(tempfile.mkdtemp(prefix="mlrobust-soundness-"))
    out = []
    for k in range(nets):
        model = mlp(seed + 50 + k, torch.float32)
        gen = torch.Generator().manual_seed(seed + k)
        x = torch.rand(1, 4, generator=gen)
        spec = _properties(model, x, 4)[0][1]  # top-1
        shift = torch.full_like(x, 0.01)
        boxes = [(x, 0.01), (x + shift, 0.01)] if k % 2 == 0 else [(x, 0.01), (x, 0.3)]
        regions = []
        for centre, e in boxes:
            lo, hi = (centre - e).clamp(0, 1).reshape(-1), (centre + e).clamp(0, 1).reshape(-1)
            lo, hi = lo.double(), hi.double()
            ((exact, truth),) = _references(
                model, from_torch(model, (4,)), (4,), lo, hi, [spec], 300, seed
            )
            regions.append(Case("mlp-f32 onnx", "vnnlib", model, (4,), lo, hi, spec, exact, truth))
        onnx_path, prop = folder / f"net{k}.onnx", folder / f"prop{k}.vnnlib"
        mlp_onnx(model, onnx_path)
        prop.write_text(vnnlib_text([(r.lo.numpy(), r.hi.numpy()) for r in regions], spec))
        out.append((str(onnx_path), regions[0], regions))
    return out


def run_vnnlib(
    files: list[tuple[str, Case, list[Case]]],
    configs: dict[str, Verifier],
    tally: Tally,
    time_limit_s: float = 30.0,
) -> None:
    """``verify_vnnlib`` (onnxruntime re-checks) on each file against its regions' truth."""
    for onnx_path, _, regions in files:
        prop = (
            Path(onnx_path)
            .with_name(Path(onnx_path).name.replace("net", "prop"))
            .with_suffix(".vnnlib")
        )
        truth = (
            "violated"
            if any(r.truth == "violated" for r in regions)
            else "holds"
            if all(r.truth == "holds" for r in regions)
            else ""
        )
        case = replace(regions[0], truth=truth)
        for name, verifier in configs.items():
            ans = verify_vnnlib(onnx_path, prop, verifier, time_limit_s=time_limit_s)
            verdict = {"sat": Verdict.FALSIFIED, "unsat": Verdict.VERIFIED}.get(
                ans.answer, Verdict.UNKNOWN
            )
            if verdict is Verdict.FALSIFIED:
                inside = [
                    r
                    for r in regions
                    if bool(
                        (ans.counterexample >= r.lo).all() and (ans.counterexample <= r.hi).all()
                    )
                ]
                ok = bool(inside) and witness_ok(inside[0], ans.counterexample)
                outcome = "agree" if ok else "WRONG"
            else:
                outcome = judge(case, verdict, None)
            tally.add(name, case, verdict, outcome)


def report(tally: Tally) -> str:
    """The counts per configuration and category, as a table."""
    configs = sorted({k[0] for k in tally.outcomes})
    cats = sorted({k[1] for k in tally.outcomes})
    lines = [f"{'configuration':24} {'category':32} agree unknown WRONG  V  F"]
    for c in configs:
        for cat in cats:
            a, u, w = (tally.outcomes[(c, cat, o)] for o in ("agree", "unknown", "WRONG"))
            if a + u + w == 0:
                continue
            v, f = (
                tally.verdicts[(c, cat, Verdict.VERIFIED)],
                tally.verdicts[(c, cat, Verdict.FALSIFIED)],
            )
            lines.append(f"{c:24} {cat:32} {a:5} {u:7} {w:5} {v:2} {f:2}")
    lines.append("near-boundary cases decided, per configuration:")
    for c in configs:
        n = tally.near[(c, "cases")]
        if n:
            lines.append(f"  {c:24} {tally.near[(c, 'decided')]}/{n}")
    return "\n".join(lines)
