"""Sifting for the homogeneous MLA-LP ``max lam s.t. A s - lam b <= 0, -1 <= s <= 1`` (HiGHS).

Why a column working set instead of handing the whole LP to HiGHS: at 3x224x224 an MLA-LP has
~100 dense rows and 150,528 columns, and HiGHS's dual simplex needed ~850 pivots at 0.1-0.3 s
each (every pivot prices 15 M sparse-stored entries); its IPM and primal simplex were slower
still (docs/attacks.md). But an optimal vertex has at most m + 1 fractional columns and every
other s_j sits at -sign(a_j^T y) for the optimal row duals y. So we solve small restricted LPs
(the working columns W, plus each remaining column tied to a few shared "group" variables
mu_k in [-1, 1] with fixed signs) and price all columns with one dense BLAS product
g = A^T y per round. Exactness comes from weak duality, not from trusting the working set: any
y >= 0 with b^T y < 0 proves ||r||_inf >= -b^T y / ||A^T y||_1, and we stop only when this
bound meets the feasible point's 1 / lam (relative gap <= rtol).

Measured on LPs dumped from the 224x224 attack (docs/attacks.md): warm-starting each restricted
LP from the previous basis cut a 102-row solve from 21 s to 13 s (HiGHS on the whole LP: 75 s).
Pruning W every round (nonbasic, agreeing, far-from-kink columns back into the groups) made the
duals oscillate and stall; pruning only once W exceeds 8 x the per-round additions, with
smoothed pricing duals, converges and keeps the restricted LPs small (a 240-row LP: W stayed
at 2-4k columns instead of growing to 14k; 120 rounds, ~200 s on the loaded 2-core box).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from mlrobust.attacks.lp_forms import LAM_CAP, LPSolution, homogeneous_model
from mlrobust.errors import SolverError
from mlrobust.solvers import Backend, HighsSession, Status, basis_status

log = logging.getLogger(__name__)

# weight of the best-bound duals when pricing (Wentges smoothing, see sift_min_linf)
_SMOOTHING = 0.5
# W is pruned once it holds more than this many rounds of additions (see the module docstring)
_PRUNE_AT = 8


@dataclass
class _Sift:
    """Working-set state carried across rounds (and across re-solves with added rows)."""

    gid: np.ndarray  # [d] int: the column's group, -1 for the working set W (solved one by one)
    sign: np.ndarray  # [d] +-1: a group member's value is mu_gid * sign
    num_groups: int
    col_status: dict[int, object]  # HiGHS basis status of working columns, by column index
    tail_status: list[object] | None = None  # lam's status then the rows', from the last round


def sift_min_linf(
    a: np.ndarray,
    b: np.ndarray,
    *,
    dual_start: np.ndarray | None = None,
    time_limit: float | None = None,
    rtol: float = 1e-9,
    max_rounds: int = 200,
    work_per_row: int = 2,
) -> LPSolution:
    """Exact ``min ||r||_inf s.t. a r <= b`` by sifting (see the module docstring).

    ``dual_start`` (``[m]``, >= 0) seeds the first pricing; ``time_limit`` / ``max_rounds`` stop
    early with the best feasible point and its certified ``lower_bound`` (a warning logs the gap).
    """
    start = time.perf_counter()
    m, d = a.shape
    work = max(work_per_row * m, 200)  # columns added per round: a few times the basis size
    y = np.where(b < 0, 1.0, 0.0) if dual_start is None else np.maximum(dual_start, 0.0)
    if not (b @ y < 0):
        y = np.where(b < 0, 1.0, 0.0)
    g = y @ a
    # the transpose once (O(m d) memory): the per-round group sums need it contiguous, and
    # letting scipy copy it every round took 0.1 s a round at 102 rows (measured)
    a_t = np.ascontiguousarray(a.T)
    gid = np.zeros(d, np.int64)
    gid[_smallest(np.abs(g), work)] = -1
    state = _Sift(gid=gid, sign=np.where(g > 0, -1.0, 1.0), num_groups=1, col_status={})
    group_status: list[object] = [basis_status("upper")]
    best: tuple[float, np.ndarray] | None = None  # (lam, s): the best feasible point
    stab: tuple[float, np.ndarray, np.ndarray] = (-np.inf, y, g)  # (z_lo, y, g): the best bound
    rnd = 0
    for rnd in range(1, max_rounds + 1):
        work_idx = np.flatnonzero(state.gid < 0)
        cols = np.concatenate([a[:, work_idx], _aggregates(a_t, state)], axis=1)
        status = [state.col_status.get(int(j), _nearest_status(0.0)) for j in work_idx]
        v, lam, y, basis = _restricted(cols, b, status + group_status, state.tail_status)
        state.col_status = dict(zip(work_idx.tolist(), basis[: len(work_idx)], strict=True))
        state.tail_status = basis[len(cols[0]) :]
        s = np.zeros(d)
        s[work_idx] = v[: len(work_idx)]
        mus = v[len(work_idx) :]
        members = state.gid >= 0
        s[members] = mus[state.gid[members]] * state.sign[members]
        if lam > 0 and (best is None or lam > best[0]):
            best = (lam, s)
        g = y @ a
        z_lo = _dual_bound(b, y, g)
        if z_lo > stab[0]:
            stab = (z_lo, y, g)
        log.debug(
            "sifting round %d: |W| %d, %d groups, z in [%.9g, %.9g]",
            rnd,
            len(work_idx),
            state.num_groups,
            stab[0],
            1 / lam if lam > 0 else np.inf,
        )
        if stab[0] >= LAM_CAP:  # y proves no r (of sane size) satisfies the rows
            return LPSolution(
                r=np.zeros(d),
                feasible=False,
                solver=Backend.HIGHS,
                dual=stab[1],
                lower_bound=np.inf,
                rounds=rnd,
            )
        if best is not None and 1 / best[0] - stab[0] <= rtol / best[0]:
            return LPSolution(
                r=best[1] / best[0],
                feasible=True,
                solver=Backend.HIGHS,
                dual=y,
                lower_bound=stab[0],
                rounds=rnd,
            )
        if time_limit is not None and time.perf_counter() - start > time_limit:
            break
        # Wentges smoothing: price with a mix of the best-bound duals and the new ones. The
        # restricted LPs' duals jump between far-apart vertices (the bound went 0.0067, 0.0055,
        # 0.0072, ... on a 102-row LP); columns chosen near the kinks of the mixed duals are
        # more often the ones the optimum needs (measured: fewer rounds, docs/attacks.md).
        g_price = _SMOOTHING * stab[2] + (1 - _SMOOTHING) * g
        group_status = _next_working_set(state, s, mus, g_price, work)
    if best is None:
        raise SolverError(
            f"sifting found no feasible step for an MLA-LP problem ({m} rows, {d} columns) "
            "within its round / time limit; raise time_limit or use LPMethod.SIMPLEX."
        )
    lam, s = best
    log.debug(  # the attack folds these into one summary line per call
        "MLA-LP sifting stopped early: feasible step with ||r||_inf = %.6g, optimum "
        ">= %.6g (gap %.2e)",
        1 / lam,
        stab[0],
        1 / lam - stab[0],
    )
    return LPSolution(
        r=s / lam,
        feasible=True,
        solver=Backend.HIGHS,
        dual=stab[1],
        lower_bound=stab[0],
        rounds=rnd,
    )


def _dual_bound(b: np.ndarray, y: np.ndarray, g: np.ndarray) -> float:
    """Weak duality: ``y >= 0`` proves ``min ||r||_inf >= -b^T y / ||A^T y||_1`` (g = A^T y)."""
    l1 = float(np.abs(g).sum())
    num = float(-(b @ y))
    if num <= 0:
        return -np.inf
    return num / l1 if l1 > 0 else np.inf


def _nearest_status(value: float) -> object:
    return basis_status("upper" if value > 0 else "lower")


def _smallest(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` smallest values (any order; argpartition, not a full sort)."""
    if k >= len(values):
        return np.arange(len(values))
    return np.argpartition(values, k)[:k]


def _aggregates(a_t: np.ndarray, state: _Sift) -> np.ndarray:
    """``[m, num_groups]``: column k is ``sum_{j in group k} sign_j a_j``.

    One sparse product, O(m d) whatever the number of groups (a dense stack of group vectors
    cost a [m, d] x [d, k] product: seconds per round with ~170 groups at 240 rows).
    """
    import scipy.sparse as sp

    members = np.flatnonzero(state.gid >= 0)
    if state.num_groups == 0:
        return np.zeros((a_t.shape[1], 0))
    pick = sp.csr_matrix(
        (state.sign[members], (state.gid[members], members)),
        shape=(state.num_groups, a_t.shape[0]),
    )
    return np.asarray((pick @ a_t).T)


def _next_working_set(
    state: _Sift, s: np.ndarray, mus: np.ndarray, g: np.ndarray, work: int
) -> list[object]:
    """Update W and the groups so the current point stays representable (monotone lam).

    Groups stuck inside (-1, 1) are split by whether their members agree with the pricing duals
    (``g = A^T y``); groups at a bound are merged and re-split into agreeing / disagreeing
    members; the columns nearest their kink (small |g_j|) and the most violated ones join W.
    Returns the HiGHS basis status of each new group (a warm start; HiGHS repairs the rest).
    """
    basic, lower, upper = (basis_status(k) for k in ("basic", "lower", "upper"))
    gid, sign = state.gid, state.sign
    member = gid >= 0
    interior = np.abs(mus) < 1 - 1e-9
    at_bound = member.copy()
    at_bound[member] = ~interior[gid[member]]
    # at-bound members (and nonbasic at-bound columns of W when pruned) carry value bsign
    bsign = np.where(at_bound, np.sign(s), 0.0)
    if (~member).sum() > _PRUNE_AT * work:
        keep = 4 * work
        far = np.partition(np.abs(g), keep)[keep] if len(g) > keep else np.inf
        cand = np.flatnonzero(~member & (np.abs(g) > far) & (np.abs(s) >= 1 - 1e-9) & (s * g <= 0))
        drop = np.array(
            [j for j in cand.tolist() if state.col_status.get(j) != basic], dtype=np.int64
        )
        bsign[drop] = np.sign(s[drop])
        for j in drop.tolist():
            del state.col_status[j]
    outside = np.flatnonzero(member)
    add = outside[_smallest(np.abs(g[outside]), work // 2)]
    wrong = np.flatnonzero((bsign * g > 0) & member)
    add = np.union1d(add, wrong[_smallest(-np.abs(g[wrong]), work // 2)])
    for j in add.tolist():  # joins W at the bound nearest its value (alien basis is repaired)
        state.col_status[j] = _nearest_status(float(s[j]) if s[j] != 0 else -float(g[j]))
    # new group ids: interior group k -> 2 rank(k) (agree) / 2 rank(k) + 1 (flipped);
    # the at-bound pool -> 2 n (agree, value +1) / 2 n + 1 (flipped, value -1)
    rank = np.cumsum(interior) - 1
    n_int = int(interior.sum())
    new_gid = np.full(len(gid), -1, np.int64)
    new_sign = sign.copy()
    in_int = member & ~at_bound
    agree = sign * g < 0
    new_gid[in_int] = 2 * rank[gid[in_int]] + (~agree[in_int])
    new_sign[in_int & ~agree] *= -1
    pool = bsign != 0
    pool_agree = bsign * g <= 0
    new_gid[pool] = 2 * n_int + (~pool_agree[pool])
    new_sign[pool] = np.where(pool_agree[pool], bsign[pool], -bsign[pool])
    new_gid[add] = -1
    status = [basic, lower] * n_int + [upper, lower]
    used, state.gid = np.unique(new_gid, return_inverse=True)
    if used[0] == -1:
        state.gid = state.gid - 1
        used = used[1:]
    state.sign = new_sign
    state.num_groups = len(used)
    return [status[k] for k in used.tolist()]


def _restricted(
    cols: np.ndarray, b: np.ndarray, col_status: list[object], tail: list[object] | None
) -> tuple[np.ndarray, float, np.ndarray, list[object]]:
    """``max lam s.t. cols v - lam b <= 0, -1 <= v <= 1`` warm-started from the given statuses.

    Returns ``(v, lam, y, statuses)`` with ``y >= 0`` the row multipliers and ``statuses`` those
    of ``v``, then of lam, then of the rows.
    """
    m, n = cols.shape
    session = HighsSession(homogeneous_model(cols, b), presolve=False)
    if tail is None:
        tail = [basis_status("basic")] * (m + 1)
    session.set_basis([*col_status, tail[0]], list(tail[1:]))
    # minimise -lam rather than maximise lam: the row duals' signs below assume it
    out = session.solve(np.array([n]), -np.ones(1), 0.0, False, float("inf"))
    if out.status is not Status.OPTIMAL or out.x is None:
        # a warm basis can leave HiGHS's simplex in numerical trouble (status Unknown): solve
        # the same LP once more from scratch before giving up
        session = HighsSession(homogeneous_model(cols, b), presolve=True)
        out = session.solve(np.array([n]), -np.ones(1), 0.0, False, float("inf"))
    if out.status is not Status.OPTIMAL or out.x is None:
        raise SolverError(
            f"HiGHS stopped with status {session.status_text()} on a restricted MLA-LP "
            f"({m} rows, {n} columns); report the instance."
        )
    y = np.maximum(-session.row_duals(), 0.0)
    col_out, row_out = session.basis()
    return out.x[:n], float(out.x[n]), y, [*col_out, *row_out]
