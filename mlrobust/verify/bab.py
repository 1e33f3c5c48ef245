"""ReLU-split branch and bound with alpha/beta-CROWN bounds (complete: Linear/ReLU/Add/Concat).

A *domain* is the input box together with a set of ReLU split decisions: neuron ``n`` of the
ReLU at layer ``j`` is fixed active (``z_n >= 0``) or inactive (``z_n <= 0``). On a domain

* the split neurons are exact (identity or zero), because their pre-activation bounds are clamped
  to the split's half-line; the other intermediate bounds are the root's (still sound: a domain
  is a subset of the root box);
* each split constraint ``s_n z_n >= 0`` enters the backward bound with a Lagrange multiplier
  ``beta_n >= 0`` (beta-CROWN): ``g(x) >= g(x) - beta_n s_n z_n`` on the domain, so adding
  ``-beta_n s_n`` to the coefficient of ``z_n`` keeps the bound sound for every ``beta >= 0`` and
  lets the split tighten the layers *below* it;
* lower-relaxation slopes ``alpha`` in ``[0, 1]`` are free as in alpha-CROWN.

alpha and beta are optimised by projected Adam, batched over domains; any value is sound, so
the best bound per domain is kept. A domain is closed when the clause's ``at_least``-th largest
upper bound is ``< -margin``; otherwise it is split on the unstable neuron with the largest
BaBSR-style intercept score. The box corner that minimises each bound is also evaluated on the
network: a violating corner is a counterexample candidate for the caller to re-check on the real
model. When no domain is left, the clause is proven.

A domain with every ReLU split is a polytope on which the network is affine: an exact LP
closes it or yields a witness, so the search is complete. Max-pool networks are searched after
:func:`mlrobust.verify.rewrite.pools_as_relus` has rewritten each pool as pairwise ReLU maxima,
so splitting a pool is splitting one of those ReLUs.

Written here because no installable library does this beside torch 2.x (auto_LiRPA / abcrown
do not install, see DESIGN.md). :func:`supports_bab` says which networks are handled.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from mlrobust.verify.bounds import LayerBounds, adam_step
from mlrobust.verify.ir import DTYPE, Network
from mlrobust.verify.ops import Add, Concat, Linear, ReLU, relu_relaxation
from mlrobust.verify.spec import DEFAULT_MARGIN, Clause

log = logging.getLogger(__name__)

#: a re-checked counterexample and its clause value
Hit = tuple[torch.Tensor, float]
#: re-check a candidate counterexample on the real model; returns it (and its value) if real
Checker = Callable[[np.ndarray], "Hit | None"]


# the float32 steps stop once every domain's bound is this far below ``-margin``: the float64
# pass after them, which alone decides, then closes them too (float32 rounding is far smaller)
_CLOSE_SLACK = 1e-3


@dataclass(frozen=True, kw_only=True)
class BaBConfig:
    """Settings of :func:`branch_and_bound`. ``batch``: domains split per round (each gives two
    children); ``steps``: Adam steps on alpha/beta per round; ``max_domains``: open domains kept
    in memory, further capped so that their alpha/beta/splits fit in ``memory_mb`` (beyond it
    the search stops with UNKNOWN). ``processes``: processes (one core each) that share the
    open domains once the search has run ``parallel_after_s`` (:mod:`mlrobust.verify.bab_pool`;
    ``max_domains`` and ``memory_mb`` then apply to the processes together)."""

    batch: int = 256
    steps: int = 10
    lr_alpha: float = 0.1
    lr_beta: float = 0.05
    root_steps: int = 30
    max_domains: int = 100_000
    memory_mb: int = 2048
    margin: float = DEFAULT_MARGIN
    processes: int = 1
    parallel_after_s: float = 1.0


@dataclass(frozen=True)
class BaBResult:
    """``proven``: every domain closed (the clause value is ``< -margin`` on the whole box).
    ``counterexample``: ``[input_size]`` witness already re-checked by the caller's checker.
    ``bound``: proven upper bound of the clause value over the box (when not proven: the
    largest bound of the domains left open; ``inf`` with a counterexample).
    ``domains``: domains bounded; ``open_domains``: left when stopped; ``processes``: processes
    that searched a share of the domains (:mod:`mlrobust.verify.bab_pool`)."""

    proven: bool
    counterexample: torch.Tensor | None
    value: float | None
    bound: float
    domains: int
    open_domains: int
    time_s: float
    processes: int = 1


def supports_bab(net: Network) -> bool:
    """True when :func:`branch_and_bound` takes the network as it is: with every ReLU's phase
    fixed it is affine (Linear, ReLU, Add and Concat only). A network with max-pools is taken
    after :func:`mlrobust.verify.rewrite.pools_as_relus`."""
    return all(isinstance(n.op, (Linear, ReLU, Add, Concat)) for n in net.nodes[1:])


@dataclass
class _Domains:
    """Open domains, stored column-wise. ``splits[j]`` ``[D, n_j]`` in {-1, 0, 1} (float),
    ``alpha[j]``/``beta[j]`` ``[D, R, n_j]`` (float32), ``ub`` ``[D]`` the clause upper bound,
    ``branch`` ``[D, 2]`` (ReLU position in ``relus``, neuron) chosen for the next split."""

    splits: list[torch.Tensor]
    alpha: list[torch.Tensor]
    beta: list[torch.Tensor]
    ub: torch.Tensor
    branch: torch.Tensor

    def __len__(self) -> int:
        return int(self.ub.shape[0])

    def take(self, idx: torch.Tensor) -> _Domains:
        return _Domains(
            [s[idx] for s in self.splits],
            [a[idx] for a in self.alpha],
            [b[idx] for b in self.beta],
            self.ub[idx],
            self.branch[idx],
        )

    @staticmethod
    def cat(parts: list[_Domains]) -> _Domains:
        n = len(parts[0].splits)
        return _Domains(
            [torch.cat([p.splits[j] for p in parts]) for j in range(n)],
            [torch.cat([p.alpha[j] for p in parts]) for j in range(n)],
            [torch.cat([p.beta[j] for p in parts]) for j in range(n)],
            torch.cat([p.ub for p in parts]),
            torch.cat([p.branch for p in parts]),
        )


class _Bounder:
    """Batched alpha/beta-CROWN over domains for one clause on one root :class:`LayerBounds`."""

    def __init__(self, net: Network, bounds: LayerBounds, clause: Clause) -> None:
        self.net = net
        self.relus = net.relus
        self.pos_of = {j: p for p, j in enumerate(self.relus)}  # node index -> ReLU position
        self.root = [bounds.ins(net, j)[0] for j in self.relus]
        self.box = bounds.box
        self.net_bounds = bounds
        self.order = [j for j in reversed(net.ancestors(net.output)) if j]
        # lower bounds of -(C y + d): rows of the spec negated
        self.c = -clause.c.to(DTYPE)
        self.d = clause.d.to(DTYPE)
        self.at_least = clause.at_least
        self.clause = clause
        # float32 copies for the alpha/beta search steps (~2x faster on CPU); any alpha/beta is
        # sound, so only the float64 pass that scores the result must be exact
        self.fast = _Float32Copy(net, self.root, self.box, self.c)

    def relu_bounds(
        self, splits: list[torch.Tensor], fast: bool = False
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        out = []
        for (lo, hi), s in zip(self.fast.root if fast else self.root, splits, strict=True):
            out.append(
                (torch.where(s > 0, lo.clamp_min(0), lo), torch.where(s < 0, hi.clamp_max(0), hi))
            )
        return out

    def backward(
        self,
        splits: list[torch.Tensor],
        alpha: list[torch.Tensor],
        beta: list[torch.Tensor],
        want_score: bool = False,
        fast: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Lower bounds ``[D, R]`` of ``-(C y + d)``, the minimising box corners ``[D, R, n_in]``
        and (with ``want_score``) per-ReLU intercept scores ``[D, R, n_j]``. ``fast``: in
        float32 (alpha/beta must be float32): for the search only, never a reported bound.

        The nodes are visited in reverse topological order; a node read by several others
        (a residual branch point) sums their coefficients before its own step."""
        dtype = torch.float32 if fast else DTYPE
        dom = splits[0].shape[0] if splits else 1
        c = (self.fast.c if fast else self.c).expand(dom, -1, -1)
        acc: dict[int, torch.Tensor] = {self.net.output: c}
        const = torch.zeros(c.shape[:2], dtype=dtype)
        splits = [s.to(dtype) for s in splits]
        rb = self.relu_bounds(splits, fast)
        scores: list[torch.Tensor] = [torch.empty(0)] * len(self.relus)
        for j in self.order:
            a = acc.pop(j, None)
            if a is None:
                continue
            op = self.net.op(j)
            if isinstance(op, ReLU):
                p = self.pos_of[j]
                lo, hi = rb[p]
                # per domain [D, 1, n] against per-row slopes [D, R, n]
                slope, s_up, b_up = relu_relaxation(lo.unsqueeze(1), hi.unsqueeze(1), alpha[p])
                pos, neg = a.clamp_min(0), a.clamp_max(0)
                if want_score:
                    scores[p] = -neg * b_up
                const = const + (neg * b_up).sum(-1)
                parts = [pos * slope + neg * s_up - beta[p].clamp_min(0.0) * splits[p].unsqueeze(1)]
            else:
                if isinstance(op, Linear) and fast:
                    op = self.fast.linear[j]
                parts, c_j = op.backward(a, [])  # Linear, Add, Concat: no bounds needed
                const = const + c_j
            for i, part in zip(self.net.nodes[j].inputs, parts, strict=True):
                acc[i] = acc[i] + part if i in acc else part
        a = acc[0]
        lo_in, hi_in = self.fast.box if fast else self.box
        corner = torch.where(a > 0, lo_in, hi_in)
        low = (a.clamp_min(0) * lo_in).sum(-1) + (a.clamp_max(0) * hi_in).sum(-1) + const
        return low, corner.detach(), scores

    def clause_ub(self, low: torch.Tensor) -> torch.Tensor:
        """Upper bound ``[D]`` of the clause value from the rows' lower bounds ``[D, R]``."""
        ub_rows = -low + self.d
        return ub_rows.topk(self.at_least, dim=1).values[:, -1]

    def optimise(
        self, dom: _Domains, steps: int, cfg: BaBConfig, deadline: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Adam on alpha/beta in float32 (in place in ``dom``), then float64 passes with the last
        values and with, per domain, those of the step whose float32 bound was best: returns the
        better clause upper bound ``[D]`` (the only bound reported) and its box corners
        ``[D, R, n_in]``; the next split is chosen from the last values."""
        params = [t.requires_grad_(True) for t in dom.alpha + dom.beta]
        lrs = [cfg.lr_alpha] * len(dom.alpha) + [cfg.lr_beta] * len(dom.beta)
        m1 = [torch.zeros_like(t) for t in params]
        m2 = [torch.zeros_like(t) for t in params]
        # per domain, the values of the step with the best (float32) bound: Adam need not
        # improve it at every step
        best = torch.full((len(dom),), math.inf)
        kept = [t.detach().clone() for t in params]
        for t in range(1, steps + 1):
            if time.monotonic() > deadline:
                break
            low, _, _ = self.backward(dom.splits, dom.alpha, dom.beta, fast=True)
            ub = self.clause_ub(low.detach())
            better = ub < best
            best = torch.where(better, ub, best)
            for k, prm in zip(kept, params, strict=True):
                k[better] = prm.detach()[better]
            if not low.requires_grad:
                break  # nothing to optimise (no ReLU)
            if bool((best < -cfg.margin - _CLOSE_SLACK).all()):
                break  # every domain closes: more steps only tighten a bound no one needs
            grads = torch.autograd.grad(-low.sum(), params, allow_unused=True)
            adam_step(params, grads, m1, m2, lrs, t)
        for prm in params:
            prm.requires_grad_(False)
        with torch.no_grad():
            for a in dom.alpha:
                a.clamp_(0.0, 1.0)
            for b in dom.beta:
                b.clamp_(min=0.0)
            low, corner, scores = self.backward(
                dom.splits,
                [a.to(DTYPE) for a in dom.alpha],
                [b.to(DTYPE) for b in dom.beta],
                want_score=True,
            )
            ub = self.clause_ub(low)
            dom.branch = self._choose(dom, scores, -low + self.d)
            # the best step's values, scored in float64 too (the children start from the last)
            n = len(dom.alpha)
            low_best, corner_best, _ = self.backward(
                dom.splits,
                [a.clamp(0.0, 1.0).to(DTYPE) for a in kept[:n]],
                [b.clamp_min(0.0).to(DTYPE) for b in kept[n:]],
            )
            ub_best = self.clause_ub(low_best)
            use = ub_best < ub
            corner[use] = corner_best[use]
        return torch.where(use, ub_best, ub), corner

    def _choose(
        self, dom: _Domains, scores: list[torch.Tensor], ub_rows: torch.Tensor
    ) -> torch.Tensor:
        """Per domain, the unsplit unstable neuron with the largest intercept score summed over
        the rows not yet proven (ties broken by the widest relaxation)."""
        rb = self.relu_bounds(dom.splits)
        open_rows = (ub_rows >= -1e-12).to(DTYPE).unsqueeze(-1)  # [D, R, 1]
        best_val = torch.full((len(dom),), -1.0, dtype=DTYPE)
        best = torch.full((len(dom), 2), -1, dtype=torch.long)
        for p, ((lo, hi), sc) in enumerate(zip(rb, scores, strict=True)):
            free = (lo < 0) & (hi > 0) & (dom.splits[p] == 0)
            width = relu_relaxation(lo, hi)[2]  # upper line's intercept: -l u / (u - l)
            val = (sc * open_rows).sum(1) + 1e-6 * width
            val = torch.where(free, val, torch.full_like(val, -1.0))
            v, idx = val.max(dim=1)
            better = v > best_val
            best_val = torch.where(better, v, best_val)
            best[better, 0] = p
            best[better, 1] = idx[better]
        return best


class _Float32Copy:
    """The float32 network pieces :meth:`_Bounder.backward` uses with ``fast=True``."""

    def __init__(
        self,
        net: Network,
        root: list[tuple[torch.Tensor, torch.Tensor]],
        box: tuple[torch.Tensor, torch.Tensor],
        c: torch.Tensor,
    ) -> None:
        f32 = torch.float32
        self.root = [(lo.to(f32), hi.to(f32)) for lo, hi in root]
        self.box = (box[0].to(f32), box[1].to(f32))
        self.c = c.to(f32)
        self.linear = {j: net.op(j).to(f32) for j in net.of_type(Linear)}  # type: ignore[attr-defined]


def branch_and_bound(
    net: Network,
    bounds: LayerBounds,
    clause: Clause,
    check: Checker,
    deadline: float,
    config: BaBConfig = BaBConfig(),
) -> BaBResult:
    """Prove ``clause`` never violated over ``bounds.box`` (or find a counterexample).

    ``bounds``: sound root bounds over the box (e.g. tightened); ``check``: re-checks a
    candidate input on the real model and returns ``(witness, value)`` when it reproduces.
    With ``config.processes > 1`` the open domains are shared out between that many processes
    once the search has run ``config.parallel_after_s`` (:mod:`mlrobust.verify.bab_pool`).
    """
    if not supports_bab(net):
        raise ValueError(
            "branch_and_bound handles Linear, ReLU, Add and Concat only (rewrite max-pools "
            "with mlrobust.verify.rewrite.pools_as_relus first); see supports_bab"
        )
    t0 = time.monotonic()
    bnd = _Bounder(net, bounds, clause)
    rows = clause.c.shape[0]
    sizes = [bnd.root[p][0].numel() for p in range(len(bnd.relus))]
    root = _Domains(
        [torch.zeros(1, n, dtype=DTYPE) for n in sizes],
        [(hi >= -lo).to(torch.float32).expand(1, rows, -1).clone() for lo, hi in bnd.root],
        [torch.zeros(1, rows, n, dtype=torch.float32) for n in sizes],
        torch.full((1,), math.inf, dtype=DTYPE),
        torch.zeros(1, 2, dtype=torch.long),
    )
    # float32 alpha and beta per row and neuron, float64 split signs per neuron
    per_domain = max(1, sum(n * (8 + 2 * 4 * rows) for n in sizes))
    cap = min(config.max_domains, max(2 * config.batch, config.memory_mb * 2**20 // per_domain))
    ub, corner = bnd.optimise(root, config.root_steps, config, deadline)
    root.ub = ub
    hit = _try_corners(net, clause, corner, check)
    if hit is not None:
        return BaBResult(False, hit[0], hit[1], math.inf, 1, 1, time.monotonic() - t0)
    search = _Search(bnd, check, config, cap)
    search.add(root)
    search.done = 1
    if config.processes > 1:
        from mlrobust.verify.bab_pool import search_in_parallel

        hit, tally, procs = search_in_parallel(search, (net, bounds, clause, config), deadline)
    else:
        hit, tally, procs = search.run(deadline), search.tally(), 1
    elapsed = time.monotonic() - t0
    if hit is not None:
        return BaBResult(False, hit[0], hit[1], math.inf, tally.done, tally.open, elapsed, procs)
    proven = tally.open == 0 and tally.stuck == 0
    log.debug(  # one per clause: at INFO it would flood an evaluation's console
        "BaB: %s after %d domains, %d open, %.1f s, %d process(es)",
        "proven" if proven else "stopped",
        tally.done,
        tally.open,
        elapsed,
        procs,
    )
    # every region of the box is in a closed, a stuck or an open domain: the largest of their
    # bounds is a proven upper bound of the clause value even when the search stopped
    return BaBResult(proven, None, None, tally.bound, tally.done, tally.open, elapsed, procs)


@dataclass
class _Tally:
    """Where one search stands. ``stuck``: fully split domains that the exact LP could not
    close either (or not examined before the deadline); ``bound``: the largest bound of the
    closed, stuck and open domains, a proven upper bound of the clause value over the region
    the search was given; ``capped``: stopped because its open domains exceeded the cap."""

    done: int = 0
    open: int = 0
    stuck: int = 0
    bound: float = -math.inf
    capped: bool = False

    def __add__(self, other: _Tally) -> _Tally:
        return _Tally(
            self.done + other.done,
            self.open + other.open,
            self.stuck + other.stuck,
            max(self.bound, other.bound),
            self.capped or other.capped,
        )


class _Search:
    """The open domains of one search (the whole box, or the share of one process) and what it
    has closed. :meth:`step` is one round: examine fully split domains exactly, split the
    ``batch`` domains with the largest bounds, bound the children, drop the closed ones."""

    def __init__(self, bnd: _Bounder, check: Checker, config: BaBConfig, cap: int) -> None:
        self.bnd, self.check, self.config, self.cap = bnd, check, config, cap
        self.open: _Domains | None = None
        self.done = 0
        self.worst_closed = -math.inf
        self.stuck = 0
        self.worst_stuck = -math.inf
        self.capped = False

    def __len__(self) -> int:
        return 0 if self.open is None else len(self.open)

    def add(self, dom: _Domains) -> None:
        """Take over open domains (already bounded); the closed ones are counted closed."""
        margin = self.config.margin
        closing = dom.ub < -margin
        if bool(closing.any()):
            self.worst_closed = max(self.worst_closed, float(dom.ub[closing].max()))
        dom = dom.take(torch.nonzero(~closing)[:, 0])
        self.open = dom if self.open is None else _Domains.cat([self.open, dom])

    def give(self, count: int) -> _Domains:
        """Hand ``count`` open domains to another search: every other one in bound order, so
        both keep a similar mix of hard and easy domains."""
        assert self.open is not None
        order = torch.argsort(self.open.ub, descending=True)
        given, kept = order[1::2][:count], torch.cat([order[::2], order[1::2][count:]])
        out = self.open.take(given)
        self.open = self.open.take(kept)
        return out

    def tally(self) -> _Tally:
        worst_open = float(self.open.ub.max()) if self.open is not None and len(self) else -math.inf
        bound = max(self.worst_closed, self.worst_stuck, worst_open)
        return _Tally(self.done, len(self), self.stuck, bound, self.capped)

    def run(self, deadline: float) -> Hit | None:
        """Rounds until no domain is open, the deadline or the cap; a re-checked
        counterexample when one is found."""
        while len(self) and time.monotonic() <= deadline and not self.capped:
            hit = self.step(deadline)
            if hit is not None:
                return hit
        return None

    def step(self, deadline: float) -> Hit | None:
        """One round (class docstring); a re-checked counterexample when one is found."""
        config, bnd = self.config, self.bnd
        if self.open is None or not len(self.open):
            return None
        if len(self.open) > self.cap:
            log.info(
                "BaB: %d open domains exceed the cap of %d (max_domains, memory_mb): stopping",
                len(self.open),
                self.cap,
            )
            self.capped = True
            return None
        open_dom = self.open
        leaf = open_dom.branch[:, 0] < 0
        for i in torch.nonzero(leaf)[:, 0].tolist():
            if time.monotonic() > deadline:
                self.stuck += 1  # not examined: the search cannot claim it closed
                self.worst_stuck = max(self.worst_stuck, float(open_dom.ub[i]))
                continue
            out = _leaf_lp(
                bnd, [s[i] for s in open_dom.splits], bnd.clause, self.check, config.margin
            )
            if isinstance(out, tuple):
                return out
            if out is None:
                self.stuck += 1
                self.worst_stuck = max(self.worst_stuck, float(open_dom.ub[i]))
            else:
                self.worst_closed = max(self.worst_closed, out)
        open_dom = self.open = open_dom.take(torch.nonzero(~leaf)[:, 0])
        if not len(open_dom):
            return None
        order = torch.argsort(open_dom.ub, descending=True)
        pick, rest = order[: config.batch], order[config.batch :]
        parents = open_dom.take(pick)
        children = _split(parents)
        ub, corner = bnd.optimise(children, config.steps, config, deadline)
        # a child is a subset of its parent: the parent's bound holds for it too
        children.ub = torch.minimum(ub, parents.ub.repeat(2))
        self.done += len(children)
        hit = _try_corners(bnd.net, bnd.clause, corner, self.check)
        if hit is not None:
            return hit
        self.open = open_dom.take(rest)
        self.add(children)
        log.debug(
            "BaB: %d bounded, %d open, worst open bound %.4g",
            self.done,
            len(self.open),
            float(self.open.ub.max()) if len(self.open) else -math.inf,
        )
        return None


def _split(parents: _Domains) -> _Domains:
    """Two children per parent: the chosen neuron fixed active (+1) and inactive (-1)."""
    kids = []
    for sign in (1.0, -1.0):
        k = parents.take(torch.arange(len(parents)))  # advanced indexing copies
        rows = torch.arange(len(parents))
        for p in range(len(k.splits)):
            sel = parents.branch[:, 0] == p
            k.splits[p][rows[sel], parents.branch[sel, 1]] = sign
        kids.append(k)
    return _Domains.cat(kids)


def _leaf_lp(
    bnd: _Bounder, splits: list[torch.Tensor], clause: Clause, check: Checker, margin: float
) -> float | Hit | None:
    """A domain with every ReLU fixed is a polytope on which the network is affine: solve the
    clause exactly by LP (HiGHS via SciPy). A float: closed, with that proven bound (``-inf``
    when the split constraints leave no input; else every form ``< -margin``); a tuple: a
    re-checked counterexample; None: still open (``at_least > 1``, or an LP optimum
    ``>= -margin`` that does not reproduce on the real model)."""
    from scipy.optimize import linprog

    lo_in, hi_in = bnd.box
    n_in = lo_in.numel()
    net = bnd.net
    maps = {0: (torch.eye(n_in, dtype=DTYPE), torch.zeros(n_in, dtype=DTYPE))}
    rows_a, rows_b = [], []  # s z >= 0 as  -s A x <= s c
    rb = bnd.relu_bounds([s.unsqueeze(0) for s in splits])
    for j in reversed(bnd.order):  # topological order
        node = net.nodes[j]
        ins = [maps[i] for i in node.inputs]
        if j in bnd.pos_of:
            p = bnd.pos_of[j]
            s = splits[p]
            on = s != 0
            a_in, c_in = ins[0]
            rows_a.append(-s[on].unsqueeze(1) * a_in[on])
            rows_b.append(s[on] * c_in[on])
            box = [(rb[p][0][0], rb[p][1][0])]
        else:
            box = bnd.net_bounds.ins(net, j)
        out = net.op(j).affine(ins, box)
        if out is None:
            return None  # an unsplit unstable neuron (not a leaf): leave the domain open
        maps[j] = out
    a_map, c_map = maps[net.output]
    forms_a = -bnd.c @ a_map  # bnd.c holds the negated rows
    forms_b = -bnd.c @ c_map + bnd.d
    a_ub = torch.cat(rows_a).numpy() if rows_a else None
    b_ub = torch.cat(rows_b).numpy() if rows_b else None
    box = list(zip(lo_in.tolist(), hi_in.tolist(), strict=True))
    best = -math.inf
    for r in range(forms_a.shape[0]):
        res = linprog(-forms_a[r].numpy(), A_ub=a_ub, b_ub=b_ub, bounds=box, method="highs")
        if res.status == 2:
            return -math.inf  # infeasible: the split constraints leave no input
        if res.status != 0:
            return None
        value = -float(res.fun) + float(forms_b[r])
        best = max(best, value)
        if value >= -margin:
            if clause.at_least > 1:
                return None
            return check(np.asarray(res.x))
    return best if clause.at_least == 1 and best < -margin else None


def bound_corners(net: Network, bounds: LayerBounds, clause: Clause) -> torch.Tensor:
    """Per form of ``clause``, the box corner ``[R, n_in]`` that minimises CROWN's lower bound
    of its negation over ``bounds`` (the slopes a search starts from, nothing split): where the
    relaxation lets the form come closest to violated. Cheap (one backward pass) starting
    points for an attack, which finds witnesses from them that random starts miss (mnistfc
    256x6 prop_3_0.05: random-start PGD ends at -0.73 in every setting, from the corners it
    violates the spec within a few steps)."""
    if not supports_bab(net):
        raise ValueError("bound_corners needs a network that supports_bab (see its docstring)")
    bnd = _Bounder(net, bounds, clause)
    rows = clause.c.shape[0]
    splits = [torch.zeros(1, lo.numel(), dtype=DTYPE) for lo, _ in bnd.root]
    alpha = [(hi >= -lo).to(DTYPE).expand(1, rows, -1) for lo, hi in bnd.root]
    beta = [torch.zeros(1, rows, lo.numel(), dtype=DTYPE) for lo, _ in bnd.root]
    with torch.no_grad():
        _, corner, _ = bnd.backward(splits, alpha, beta)
    return corner.reshape(rows, -1)


def _try_corners(net: Network, clause: Clause, corner: torch.Tensor, check: Checker) -> Hit | None:
    """Evaluate the bound-minimising box corners; re-check the most violating ones."""
    pts = corner.reshape(-1, corner.shape[-1])
    with torch.no_grad():
        vals = clause.value(net.forward(pts))
    order = torch.argsort(vals, descending=True)
    for i in order[:4].tolist():
        if float(vals[i]) < 0:
            break
        hit = check(pts[i].numpy())
        if hit is not None:
            return hit
    return None
