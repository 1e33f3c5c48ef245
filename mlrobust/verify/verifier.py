"""The complete verifier: attack, bounds, tightening and MILP, with fail-closed verdicts.

For each spec (a disjunction of clauses over the logits, see :mod:`mlrobust.verify.spec`):

1. a short PGD attack on the IR looks for a counterexample (re-checked on the real model):
   a fifth of its steps, then branch and bound from plain CROWN root bounds for at most
   ``probe_s`` or a twentieth of the limit (easy specs close there), then all its steps on
   what is left; once more later from the box corners the alpha-CROWN root bounds
   point to (after the first search of step 2, or before it on long limits);
2. ReLU-split branch and bound with alpha/beta-CROWN bounds (:mod:`mlrobust.verify.bab`; on
   max-pool networks over the pools-as-ReLUs rewrite, :mod:`mlrobust.verify.rewrite`) gets
   ``bab_fraction`` of the time left, clause by clause; on long limits, clauses still open
   after ``refine_after_s`` get a second search from MIP-refined intermediate bounds;
3. what is still open: bounds are tightened (once per input box, shared by all specs), alpha-CROWN
   on each clause's forms may prove it, and otherwise one MILP per clause maximises the clause
   value (``at_least``-th largest form) — per form when ``at_least = 1``, with counting binaries
   when ``1 < at_least < m``.

VERIFIED needs a proven upper bound ``< -margin`` (``VerifierConfig.margin``, default ``1e-4``
on the logit scale) on every clause: the margin absorbs solver tolerances and the float32 vs
float64 gap between the real model and the IR. FALSIFIED needs a witness that, snapped into the
box in the model's dtype, makes the *real model's* logits violate the spec. Anything else —
time limit, a witness that does not reproduce, numerical trouble — is UNKNOWN.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from mlrobust.solvers import Backend, Status, open_session
from mlrobust.verdicts import Verdict
from mlrobust.verify.attack import AttackConfig, pgd_candidates
from mlrobust.verify.bab import BaBConfig, bound_corners, branch_and_bound, supports_bab
from mlrobust.verify.bounds import (
    LayerBounds,
    clause_upper_bound,
    crown,
    crown_bounds,
    unstable_count,
)
from mlrobust.verify.ir import DTYPE, Network
from mlrobust.verify.milp import Tightening, TighteningConfig, encode, supports_milp, tighten
from mlrobust.verify.ops import MaxPool
from mlrobust.verify.oracle import Oracle, recheck
from mlrobust.verify.protocol import Query, Stopwatch, VerificationResult, Verifier
from mlrobust.verify.rewrite import bounds_read_back, pools_as_relus, rewritten_bounds
from mlrobust.verify.spec import DEFAULT_MARGIN, Clause, OutputSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class VerifierConfig:
    """Settings of the complete verifier (:class:`MILPVerifier`, :func:`verify`). Times in
    seconds; ``timeout_s`` and ``seed`` are used by :func:`verify` (a :class:`MILPVerifier` gets
    both at call time).

    ``bab``: branch and bound before the MILP (complete given time); ``bab_maxpool``: on
    networks with max-pool too, each pool rewritten as pairwise ReLU maxima
    (:func:`mlrobust.verify.rewrite.pools_as_relus`) so that splitting it is splitting a ReLU;
    ``bab_processes``: processes (one core each) that share one branch and bound's domains
    (:mod:`mlrobust.verify.bab_pool`).

    ``refine``: when branch and bound has at least ``refine_min_s`` left after its first
    ``refine_after_s`` and clauses are still open, the intermediate bounds are tightened by one
    MIP per unstable neuron (``refine_backend``, ``refine_neuron_time_s`` each, loosest first,
    layer by layer, within ``refine_fraction`` of the time left; it stops at the first layer the
    backend cannot take, e.g. over Gurobi's licence-free size limit) and branch and bound
    starts again on the open clauses from those bounds, with ``bab_fraction`` of the time then
    left.

    ``probe_s``: before the alpha-CROWN root, branch and bound from plain CROWN root bounds for
    at most this long (or a twentieth of the limit, if less), between a fifth of the attack's
    steps and the rest of them; only when the caller passes no bounds (0: never)."""

    tightening: Tightening = Tightening.LP
    backend: Backend = Backend.HIGHS
    timeout_s: float = 60.0
    tighten_fraction: float = 0.5
    lp_neuron_time_s: float = 2.0
    mip_neuron_time_s: float = 1.0
    margin: float = DEFAULT_MARGIN
    attack_steps: int = 100
    attack_restarts: int = 16
    attack_time_s: float = 5.0
    alpha_steps: int = 20
    bab: bool = True
    bab_maxpool: bool = True
    bab_fraction: float = 0.7
    bab_processes: int = 1
    refine: bool = True
    refine_backend: Backend = Backend.GUROBI
    refine_after_s: float = 30.0
    refine_min_s: float = 60.0
    refine_fraction: float = 0.5
    refine_neuron_time_s: float = 1.0
    probe_s: float = 1.0
    exact_objective: bool = False
    threads: int = 1
    seed: int = 0


def verify(
    net: Network,
    lo: torch.Tensor,
    hi: torch.Tensor,
    specs: Sequence[OutputSpec],
    oracle: Oracle,
    config: VerifierConfig = VerifierConfig(),
    bounds: LayerBounds | None = None,
) -> tuple[VerificationResult, ...]:
    """Verify each spec over the input box ``[lo, hi]`` (shape of one input, any layout) with
    the complete verifier: ``MILPVerifier(config)`` called with ``config.timeout_s`` and
    ``config.seed`` (so its witnesses pass the protocol's re-check too).

    ``bounds``: sound layer bounds the caller already has over this exact box (e.g. from
    :func:`mlrobust.verify.bounds.crown_bounds`); tightening then starts from them instead of
    recomputing CROWN. Unsound bounds make the verdict unsound: pass only computed ones.
    """
    query = Query(net, lo, hi, tuple(specs), oracle, bounds)
    return MILPVerifier(config)(query, time_limit_s=config.timeout_s, seed=config.seed)


class MILPVerifier(Verifier):
    """The complete verifier (module docstring): attack, branch and bound, tightening, MILP."""

    name = "milp"
    config_type = VerifierConfig

    def _run(self, query: Query, time_limit_s: float, seed: int) -> tuple[VerificationResult, ...]:
        config = replace(self.config, timeout_s=time_limit_s, seed=seed)
        clock = Stopwatch()
        results = _pipeline(query, config, clock)
        share = clock.share(len(results))
        return tuple(replace(r, stages=share) for r in results)


@dataclass
class _Call:
    """What the stages of one verification call share: the settings, the start time, the specs
    (an open spec is replaced by its open clauses as branch and bound closes the others), the
    results so far, and per spec branch and bound's proven bounds of its closed clauses
    (``proven``) and of the clauses it left open (``left``)."""

    oracle: Oracle
    config: VerifierConfig
    t0: float
    specs: list[OutputSpec]
    results: dict[int, VerificationResult] = field(default_factory=dict)
    proven: dict[int, float] = field(default_factory=dict)
    left: dict[int, float] = field(default_factory=dict)

    def attacked(self, i: int, hit: tuple[torch.Tensor, float] | None, net: Network) -> None:
        """Spec ``i`` is FALSIFIED when an attack's witness (already re-checked) came back."""
        if hit is not None:
            x, val = hit
            self.results[i] = _done(
                Verdict.FALSIFIED, math.inf, val, x, x, self.t0, 0, 0, "attack", net
            )

    def still_open(self, todo: list[int]) -> list[int]:
        return [i for i in todo if i not in self.results]


def _pipeline(
    query: Query, config: VerifierConfig, clock: Stopwatch
) -> tuple[VerificationResult, ...]:
    t0 = time.monotonic()
    deadline = t0 + config.timeout_s
    net, lo, hi, oracle, bounds = query.net, query.lo, query.hi, query.oracle, query.bounds
    call = _Call(oracle, config, t0, list(query.specs))
    specs, results = call.specs, call.results
    # the rewrite is the network itself when it has no max-pool
    bab_net = pools_as_relus(net)[0]
    use_bab = (
        config.bab
        and not config.exact_objective
        and supports_bab(bab_net)
        and (config.bab_maxpool or not net.of_type(MaxPool))
    )
    # one budget for all specs of the call (see _attack_budget_s); with a probe (see _probe),
    # a fifth of the attack's steps before it and all of them, on what it leaves, after it
    attack_end = t0 + _attack_budget_s(config)
    # at most a twentieth of the limit: on the 2-s cells of `mlrobust evaluate` the CNNs' plain
    # CROWN root (0.02-0.07 s, sparse) closes the easy cells without alpha-CROWN's (0.14-0.2 s),
    # and a hard cell loses only 0.1 s of its search (docs/verify.md, the probe on short limits)
    probe_s = min(config.probe_s, 0.05 * config.timeout_s)
    probe = use_bab and bounds is None and probe_s > 0
    quick = replace(config, attack_steps=config.attack_steps // 5) if probe else config
    parallel = use_bab and config.bab_processes > 1
    if parallel and not probe:
        _start_helpers(config)  # they start up while the attack runs
    with clock.stage("attack"):
        todo = _attack_pass(call, net, lo, hi, list(range(len(specs))), quick, attack_end)
    if todo and probe:
        with clock.stage("bab"):
            todo = _probe(call, net, lo, hi, bab_net, todo, probe_s)
        if todo and parallel:
            # only now: the specs the probe closes never pay their start-up (~3 s of a core)
            _start_helpers(config)
        with clock.stage("attack"):
            todo = _attack_pass(call, net, lo, hi, todo, config, attack_end)
    exact = supports_milp(net)  # every operator has a MILP encoding (no sigmoid)
    if todo and use_bab:
        bab_end = time.monotonic() + config.bab_fraction * (deadline - time.monotonic())
        refine = (
            config.refine
            and exact
            and bab_end - time.monotonic() >= config.refine_after_s + config.refine_min_s
        )
        with clock.stage("bab"):
            root = (
                bounds
                if bounds is not None
                else crown_bounds(net, lo, hi, config.alpha_steps, deadline=bab_end)
            )
            # behind pools the rewrite's bounds are tighter than CROWN's on net, so the MILP
            # stage starts from them too
            root = rewritten_bounds(net, root, deadline=bab_end)
            bounds = bounds_read_back(net, root)
        if refine:
            # a long limit: the corners first, their ~1 s is nothing beside the search, and a
            # violated spec the search cannot settle is not kept waiting for it
            with clock.stage("attack"):
                todo = _corner_attack(call, bab_net, root, todo)
        first_end = time.monotonic() + config.refine_after_s if refine else bab_end
        with clock.stage("bab"):
            todo = _bab_round(call, bab_net, root, todo, first_end)
        if not refine:
            with clock.stage("attack"):
                todo = _corner_attack(call, bab_net, root, todo)
        if todo and refine:
            # the refinement and the second search share out the time left as the first did
            # (the MILP stage after them keeps its share)
            with clock.stage("bounds"):
                refine_end = time.monotonic() + config.refine_fraction * (
                    deadline - time.monotonic()
                )
                root = rewritten_bounds(
                    net, _refine(net, lo, hi, bounds, config, refine_end), deadline=deadline
                )
                bounds = bounds_read_back(net, root)
            bab_end = time.monotonic() + config.bab_fraction * (deadline - time.monotonic())
            with clock.stage("bab"):
                todo = _bab_round(call, bab_net, root, todo, bab_end)
    if not todo:
        return tuple(results[i] for i in range(len(specs)))
    level = config.tightening if exact else min(config.tightening, Tightening.CROWN)
    tcfg = TighteningConfig(
        level=level,
        lp_time_s=config.lp_neuron_time_s,
        mip_time_s=config.mip_neuron_time_s,
        backend=config.backend,
        total_time_s=(deadline - time.monotonic()) * config.tighten_fraction,
        threads=config.threads,
        alpha_steps=config.alpha_steps,
    )
    with clock.stage("bounds"):
        tight = tighten(net, lo, hi, tcfg, start=bounds)
    n_unst = unstable_count(net, tight)
    for k, i in enumerate(todo):
        # an equal share of what is left: one hard spec's MILP cannot starve the others (a spec
        # that finishes early leaves its time to the ones after it)
        share_end = time.monotonic() + (deadline - time.monotonic()) / (len(todo) - k)
        res = _verify_spec(
            net, tight, specs[i], oracle, config, t0, share_end, n_unst, exact, clock
        )
        if i in call.proven:
            # both bound the open clauses: keep the tighter (a FALSIFIED result has none)
            open_bound = res.objective_bound
            if res.verdict is not Verdict.FALSIFIED:
                open_bound = min(open_bound, call.left[i])
            res = replace(
                res, objective_bound=max(open_bound, call.proven[i]), method=f"bab+{res.method}"
            )
        results[i] = res
    return tuple(results[i] for i in range(len(specs)))


def _start_helpers(config: VerifierConfig) -> None:
    """Start branch and bound's helper processes now; they start up while the attack and the
    root bounds run, and a search shares its domains with those ready
    (:mod:`mlrobust.verify.bab_pool`)."""
    from mlrobust.verify.bab_pool import start_helpers

    start_helpers(config.bab_processes - 1)


def _probe(
    call: _Call,
    net: Network,
    lo: torch.Tensor,
    hi: torch.Tensor,
    bab_net: Network,
    todo: list[int],
    probe_s: float,
) -> list[int]:
    """Branch and bound from plain CROWN root bounds for ``probe_s`` at most. Easy specs close
    here at a fraction of alpha-CROWN's root: on the mnistfc 256x6 holds VNN-COMP calls easy,
    0.07 s against 0.6-1.5 s for the nine clauses. What it leaves open goes on from the
    alpha-CROWN root, each spec reduced to its open clauses."""
    end = time.monotonic() + probe_s
    cheap = rewritten_bounds(net, crown_bounds(net, lo, hi, deadline=end), deadline=end)
    return _bab_round(call, bab_net, cheap, todo, end)


def _bab_round(
    call: _Call, net: Network, root: LayerBounds, todo: list[int], end: float
) -> list[int]:
    """Branch and bound on the specs ``todo`` until ``end``, an equal share of the time per spec
    (as in the MILP stage). Decided specs go to ``call.results``; an open one is replaced in
    ``call.specs`` by its open clauses, with the proven bound of its closed clauses in
    ``call.proven`` (kept over rounds) and that of the open ones in ``call.left``. Returns the
    specs still open."""
    for k, i in enumerate(todo):
        share_end = time.monotonic() + (end - time.monotonic()) / (len(todo) - k)
        out = _bab_spec(net, root, call.specs[i], call.oracle, call.config, call.t0, share_end)
        if isinstance(out, VerificationResult):
            if out.verdict is Verdict.VERIFIED and i in call.proven:
                out = replace(out, objective_bound=max(out.objective_bound, call.proven[i]))
            call.results[i] = out
        else:
            call.specs[i] = out[0]
            call.proven[i] = max(call.proven.get(i, -math.inf), out[1])
            call.left[i] = out[2]
    return call.still_open(todo)


def _refine(
    net: Network,
    lo: torch.Tensor,
    hi: torch.Tensor,
    bounds: LayerBounds,
    config: VerifierConfig,
    end: float,
) -> LayerBounds:
    """``bounds`` tightened by one MIP per unstable neuron until ``end`` (see
    :class:`VerifierConfig`): every domain of a branch and bound started from them has a
    tighter relaxation (mnistfc 256x4 prop_3_0.03: 4-16x fewer domains per clause)."""
    tcfg = TighteningConfig(
        level=Tightening.MIP,
        lp_time_s=config.lp_neuron_time_s,
        mip_time_s=config.refine_neuron_time_s,
        backend=config.refine_backend,
        total_time_s=max(end - time.monotonic(), 0.0),
        threads=config.threads,
        alpha_steps=config.alpha_steps,
        fallback=False,  # HiGHS's MIPs are too slow here: the time is better spent searching
        processes=config.bab_processes,  # the search's helpers share the neurons
    )
    t0 = time.monotonic()
    tight = tighten(net, lo, hi, tcfg, start=bounds)
    log.info(
        "MIP-refined bounds in %.1f s: %d -> %d unstable ReLUs",
        time.monotonic() - t0,
        unstable_count(net, bounds),
        unstable_count(net, tight),
    )
    return tight


def _bab_spec(
    net: Network,
    bounds: LayerBounds,
    spec: OutputSpec,
    oracle: Oracle,
    config: VerifierConfig,
    t0: float,
    deadline: float,
) -> VerificationResult | tuple[OutputSpec, float, float]:
    """Branch and bound clause by clause until ``deadline``. Returns the final result when
    every clause is proven or one is falsified; otherwise the spec reduced to its open clauses
    (for the MILP stage), the largest proven bound of the closed ones and that of the open
    ones (``inf`` when one was not reached)."""
    lo, hi = bounds.box
    bab_cfg = BaBConfig(margin=config.margin, processes=config.bab_processes)
    open_clauses, bound, left, domains = [], -math.inf, -math.inf, 0
    for cl in spec.clauses:
        if time.monotonic() > deadline:
            open_clauses.append(cl)
            left = math.inf
            continue
        res = branch_and_bound(
            net,
            bounds,
            cl,
            lambda x: recheck(x, lo.numpy(), hi.numpy(), spec, oracle),
            deadline,
            bab_cfg,
        )
        domains += res.domains
        if res.counterexample is not None:
            return _done(
                Verdict.FALSIFIED,
                math.inf,
                res.value,
                res.counterexample,
                res.counterexample,
                t0,
                domains,
                0,
                "bab",
                net,
            )
        if res.proven:
            bound = max(bound, res.bound)
        else:
            open_clauses.append(cl)
            left = max(left, res.bound)
    if not open_clauses:
        return _done(Verdict.VERIFIED, bound, None, None, None, t0, domains, 0, "bab", net)
    return replace(spec, clauses=tuple(open_clauses)), bound, left


def _done(
    verdict: Verdict,
    bound: float,
    value: float | None,
    cex: torch.Tensor | None,
    weak: torch.Tensor | None,
    t0: float,
    nodes: int,
    n_unst: int,
    method: str,
    net: Network,
    message: str = "",
) -> VerificationResult:
    shape = net.input_shape
    return VerificationResult(
        verdict,
        bound,
        value,
        None if cex is None else cex.reshape(shape),
        None if weak is None else weak.reshape(shape),
        time.monotonic() - t0,
        nodes,
        n_unst,
        method,
        message,
    )


def _attack(
    net: Network,
    lo: torch.Tensor,
    hi: torch.Tensor,
    spec: OutputSpec,
    oracle: Oracle,
    config: VerifierConfig,
    time_s: float,
    starts: torch.Tensor | None = None,
) -> tuple[torch.Tensor, float] | None:
    """Batched PGD on the IR (see :mod:`mlrobust.verify.attack`), from random points or from
    ``starts``; the best few candidates are re-checked on the real model."""
    if config.attack_steps <= 0 or time_s <= 0:
        return None
    acfg = AttackConfig(
        steps=config.attack_steps, restarts=config.attack_restarts, time_s=time_s, seed=config.seed
    )
    cands = pgd_candidates(net, lo, hi, spec, acfg, starts)
    if not len(cands):
        return None
    with torch.no_grad():
        vals = spec.value(net.forward(cands))
    for j in range(min(len(cands), 8)):
        if vals[j] < -1e-6:
            break
        hit = recheck(cands[j].numpy(), lo.numpy(), hi.numpy(), spec, oracle)
        if hit is not None:
            return hit
    return None


def _attack_pass(
    call: _Call,
    net: Network,
    lo: torch.Tensor,
    hi: torch.Tensor,
    todo: list[int],
    config: VerifierConfig,
    end: float,
    starts: Callable[[OutputSpec], torch.Tensor] | None = None,
) -> list[int]:
    """:func:`_attack` on each spec of ``todo`` until ``end`` (from ``starts(spec)`` when
    given, else from random points); witnesses go to ``call.results``. Returns the specs
    still open."""
    for i in todo:
        if config.attack_steps <= 0 or time.monotonic() > end:
            break
        spec = call.specs[i]
        begin = None if starts is None else starts(spec)
        hit = _attack(net, lo, hi, spec, call.oracle, config, end - time.monotonic(), begin)
        call.attacked(i, hit, net)
    return call.still_open(todo)


def _attack_budget_s(config: VerifierConfig) -> float:
    """Seconds of one attack pass over all specs of a call (the first one, and the one from the
    bound corners): a fifth of the limit at most, so many labels cannot eat the timeout."""
    return min(config.attack_time_s, 0.2 * config.timeout_s)


def _corner_attack(call: _Call, net: Network, root: LayerBounds, todo: list[int]) -> list[int]:
    """The attack again on the specs the first search left open (each reduced to its open
    clauses: a witness of those is one of the spec), every goal started from the box corners
    where the root bounds let the clauses come closest to violated
    (:func:`mlrobust.verify.bab.bound_corners`), within the first attack's budget; witnesses
    go to ``call.results``. On short limits after the first search, not before it: a spec it
    proves pays nothing (on the 2-s cells of ``mlrobust evaluate`` every tenth of a second
    counts); on long ones before it (see :func:`_pipeline`). Returns the specs still open."""

    def corners(spec: OutputSpec) -> torch.Tensor:
        return torch.cat([bound_corners(net, root, cl) for cl in spec.clauses])

    end = time.monotonic() + _attack_budget_s(call.config)
    return _attack_pass(call, net, *root.box, todo, call.config, end, corners)


def _verify_spec(
    net: Network,
    bounds: LayerBounds,
    spec: OutputSpec,
    oracle: Oracle,
    config: VerifierConfig,
    t0: float,
    deadline: float,
    n_unst: int,
    exact: bool,
    clock: Stopwatch,
) -> VerificationResult:
    """Per clause: alpha-CROWN, then (``exact``: the network has a MILP encoding) the MILP."""
    lo, hi = bounds.box
    best_bound, best_val, best_x, nodes = -math.inf, None, None, 0
    method = "crown"
    for j, cl in enumerate(spec.clauses):
        if time.monotonic() > deadline:
            # still a finite answer to "how far from a proof": plain CROWN (one backward pass
            # per clause, no deadline) over the bounds at hand
            left = max(clause_upper_bound(net, bounds, c) for c in spec.clauses[j:])
            bound = max(best_bound, left)
            # the clauses before j are proven; when that pass proves the rest, so is the spec
            # (a spec branch and bound's share of the time did not reach, e.g. the second label
            # of a 2-s cell of the shipped ResNet, CROWN bound -12.9)
            proven = bound < -config.margin
            return _done(
                Verdict.VERIFIED if proven else Verdict.UNKNOWN,
                bound,
                best_val,
                None,
                _t(best_x),
                t0,
                nodes,
                n_unst,
                method,
                net,
                "" if proven else "time limit",
            )
        with clock.stage("bounds"):
            ub = clause_upper_bound(net, bounds, cl, config.alpha_steps, deadline)
        if ub < -config.margin and not config.exact_objective:
            best_bound = max(best_bound, ub)
            continue
        if not exact:
            return _done(
                Verdict.UNKNOWN,
                math.inf,
                best_val,
                None,
                _t(best_x),
                t0,
                nodes,
                n_unst,
                method,
                net,
                "bounds inconclusive and the network has no "
                "exact MILP encoding (sigmoid): incomplete",
            )
        method = "milp"
        with clock.stage("milp"):
            out = _milp_clause(net, bounds, cl, config, deadline)
        nodes += out[3]
        bound, val, x = min(out[0], ub), out[1], out[2]
        best_bound = max(best_bound, bound)
        if val is not None and (best_val is None or val > best_val):
            best_val, best_x = val, x
        if x is not None and val is not None and val >= -config.margin:
            hit = recheck(x, lo.numpy(), hi.numpy(), spec, oracle)
            if hit is not None:
                return _done(
                    Verdict.FALSIFIED,
                    best_bound,
                    hit[1],
                    hit[0],
                    hit[0],
                    t0,
                    nodes,
                    n_unst,
                    method,
                    net,
                )
            log.warning(
                "MILP witness (value %.3g) does not reproduce on the real model; "
                "not reported as a counterexample",
                val,
            )
        if bound >= -config.margin:
            return _done(
                Verdict.UNKNOWN,
                max(best_bound, bound),
                best_val,
                None,
                _t(best_x),
                t0,
                nodes,
                n_unst,
                method,
                net,
                "time limit or unreproduced witness",
            )
    return _done(
        Verdict.VERIFIED, best_bound, best_val, None, _t(best_x), t0, nodes, n_unst, method, net
    )


def _t(x: np.ndarray | None) -> torch.Tensor | None:
    return None if x is None else torch.from_numpy(x)


def _milp_clause(
    net: Network, bounds: LayerBounds, cl: Clause, config: VerifierConfig, deadline: float
) -> tuple[float, float | None, np.ndarray | None, int]:
    """Maximise the clause value; returns (proven upper bound, best value, best x, nodes)."""
    builder, outs = encode(net, bounds)
    y = outs[net.output]
    n_in = net.input_size
    c, d = cl.c.numpy(), cl.d.numpy()
    m, k = c.shape[0], cl.at_least
    flo_t, fhi_t = crown(net, bounds, cl.c.to(DTYPE), cl.d.to(DTYPE))
    flo, fhi = flo_t.numpy(), fhi_t.numpy()
    if k == 1:
        session = open_session(
            builder.data(), config.backend, threads=config.threads, seed=config.seed
        )
        best: tuple[float, float | None, np.ndarray | None, int] = (-math.inf, None, None, 0)
        order = np.argsort(-fhi)
        for r in order:
            left = deadline - time.monotonic()
            if left <= 0:
                return (math.inf, best[1], best[2], best[3])
            stop = (-config.margin, 0.0) if not config.exact_objective else (-math.inf, math.inf)
            res = session.solve(y, c[r], float(d[r]), True, left, *stop)
            nodes = best[3] + res.nodes
            bound = min(res.bound, float(fhi[r]))
            if res.status in (Status.INFEASIBLE, Status.ERROR):
                bound = math.inf  # always feasible: infeasible means numerical trouble
            val = res.value
            better = val is not None and (best[1] is None or val > best[1])
            best = (
                max(best[0], bound),
                val if better else best[1],
                res.x[:n_in] if better and res.x is not None else best[2],
                nodes,
            )
            if res.status != Status.OPTIMAL and bound >= -config.margin:
                return (math.inf, best[1], best[2], nodes)
            if val is not None and val >= 0 and not config.exact_objective:
                break  # a candidate counterexample: let the caller re-check it
        return best
    # k > 1: s <= g_r + M_r (1 - b_r), sum b = k (b fixed to 1 when k == m); maximise s
    s_hi = float(np.sort(fhi)[::-1][k - 1])
    s_lo = float(np.sort(flo)[::-1][k - 1])
    s = int(builder.add_cols(np.array([s_lo]), np.array([s_hi]))[0])
    counting = k < m
    bvars = builder.add_cols(np.zeros(m), np.ones(m), integer=True) if counting else None
    for r in range(m):
        nz = np.nonzero(c[r])[0]
        big = s_hi - float(flo[r])
        cols = [s, *y[nz].tolist()]
        vals = [1.0, *(-c[r][nz]).tolist()]
        rhs = float(d[r])
        if counting and bvars is not None:
            cols.append(int(bvars[r]))
            vals.append(big)
            rhs += big
        builder.add_rows(
            np.zeros(len(cols)),
            np.array(cols),
            np.array(vals),
            np.array([-np.inf]),
            np.array([rhs]),
        )
    if counting and bvars is not None:
        builder.add_rows(np.zeros(m), bvars, np.ones(m), np.array([float(k)]), np.array([float(k)]))
    session = open_session(builder.data(), config.backend, threads=config.threads, seed=config.seed)
    left = deadline - time.monotonic()
    if left <= 0:
        return (math.inf, None, None, 0)
    stop = (-config.margin, 0.0) if not config.exact_objective else (-math.inf, math.inf)
    res = session.solve(np.array([s]), np.ones(1), 0.0, True, left, *stop)
    x = res.x[:n_in] if res.x is not None else None
    bound = min(res.bound, s_hi) if res.status in (Status.OPTIMAL, Status.TIME_LIMIT) else math.inf
    if res.status == Status.INFEASIBLE:
        bound = math.inf  # the encoding is always feasible: infeasible means numerical trouble
    return (bound, res.value, x, res.nodes)
