"""Portfolio measures of paper 004 on a :class:`PerformanceMatrix`: solved counts, average running
time with timeouts at the limit, PAR2, the virtual best solver, marginal contribution (eq. 1),
Shapley value (eq. 2), parallel portfolios with a split budget, and answer conflicts.

An instance counts as *solved* by a verifier when it answered holds or violated within the
instance's time limit (paper 004 counts both ``sat`` and ``unsat`` as solved).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mlrobust.errors import InputError
from mlrobust.portfolio.table import Answer, PerformanceMatrix

logger = logging.getLogger(__name__)

MAX_EXACT_PLAYERS = 20


def solved_counts(m: PerformanceMatrix) -> np.ndarray:
    """``[V]`` int: instances each verifier solved (paper 004: v({i}) - v(∅))."""
    return m.solved.sum(0)


def average_time(
    m: PerformanceMatrix, *, penalty: float = 1.0, instances: np.ndarray | None = None
) -> np.ndarray:
    """``[V]`` mean running time; unsolved runs count as ``penalty`` x the limit.

    ``penalty=1`` is paper 004's convention (a timeout costs exactly the limit); ``penalty=2`` is
    PAR2. ``instances`` (``[I]`` bool) restricts the mean, e.g. to instances some verifier solved.
    """
    t = m.capped_time(penalty)
    if instances is not None:
        t = t[instances]
    if t.shape[0] == 0:
        return np.full(t.shape[1], np.nan)
    return t.mean(0)


def par2(m: PerformanceMatrix, *, instances: np.ndarray | None = None) -> np.ndarray:
    """``[V]`` penalised average running time with unsolved runs at twice the limit."""
    return average_time(m, penalty=2.0, instances=instances)


@dataclass(frozen=True, kw_only=True)
class PortfolioRun:
    """Per-instance outcome of a (virtual or parallel) portfolio. Shapes ``[I]``: ``solved``
    bool; ``time`` float64 (seconds to the first decisive answer; the limit when unsolved);
    ``answer`` int8 (the first decisive answer, UNKNOWN when none); ``winner`` int (column of the
    verifier that answered first, -1 when none); ``conflict`` bool (members that solved it
    disagree: holds vs violated)."""

    members: tuple[str, ...]
    solved: np.ndarray
    time: np.ndarray
    answer: np.ndarray
    winner: np.ndarray
    conflict: np.ndarray

    @property
    def n_solved(self) -> int:
        return int(self.solved.sum())


def _first_answer(
    m: PerformanceMatrix, solved: np.ndarray, members: tuple[str, ...]
) -> PortfolioRun:
    t = np.where(solved, m.time, np.inf)
    winner = np.argmin(t, axis=1)  # ties go to the lower column: deterministic
    any_solved = np.asarray(solved.any(1))
    rows = np.arange(len(winner))
    answer = np.where(any_solved, m.answer[rows, winner], int(Answer.UNKNOWN)).astype(np.int8)
    holds = (solved & (m.answer == Answer.HOLDS)).any(1)
    violated = (solved & (m.answer == Answer.VIOLATED)).any(1)
    return PortfolioRun(
        members=members,
        solved=any_solved,
        time=np.where(any_solved, t[rows, winner], m.limit),
        answer=answer,
        winner=np.where(any_solved, winner, -1),
        conflict=holds & violated,
    )


def virtual_best(m: PerformanceMatrix) -> PortfolioRun:
    """The virtual best solver: per instance, the fastest verifier that solved it."""
    return _first_answer(m, m.solved, tuple(str(v) for v in m.verifiers))


def parallel_portfolio(
    m: PerformanceMatrix, members: Sequence[str], *, share: float | None = None
) -> PortfolioRun:
    """Run ``members`` in parallel, each with ``share`` of the instance's limit.

    Default share: ``1/len(members)`` (paper 004: two verifiers with half of 3600 s each, so the
    portfolio uses the same CPU time as one verifier). A member solves an instance when it
    answered decisively within its share; the portfolio's wall-clock time is that of its first
    decisive answer.
    """
    members = tuple(members)
    if not members or len(set(members)) != len(members):
        raise InputError(f"A portfolio needs distinct members, got {list(members)}.")
    share = 1.0 / len(members) if share is None else share
    if not 0 < share <= 1:
        raise InputError(f"share must lie in (0, 1], got {share}.")
    sub = m.subset(members)
    with np.errstate(invalid="ignore"):
        solved = sub.decisive & (sub.time <= share * sub.limit[:, None])
    return _first_answer(sub, solved, members)


@dataclass(frozen=True, kw_only=True)
class Contribution:
    """Per-verifier contribution measures, each ``[V]``: ``absolute`` (eq. 1: instances only this
    verifier solved), ``relative`` (absolute / sum of absolutes; NaN when the sum is 0),
    ``shapley`` (eq. 2 for v(S) = instances solved by some member of S)."""

    verifiers: tuple[str, ...]
    absolute: np.ndarray
    relative: np.ndarray
    shapley: np.ndarray


def marginal_contribution(m: PerformanceMatrix) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 1, ``MC_i = v(N) - v(N \\ {i})``: ``(absolute [V] int, relative [V] float)``."""
    solved = m.solved
    only = solved & (solved.sum(1, keepdims=True) == 1)
    absolute = only.sum(0)
    total = absolute.sum()
    relative = absolute / total if total else np.full(len(absolute), np.nan)
    return absolute, relative


def shapley_solved(m: PerformanceMatrix) -> np.ndarray:
    """Closed-form Shapley value ``[V]`` of the game v(S) = #instances solved by some i in S.

    The game is a sum of one "unanimity-like" game per instance that pays 1 as soon as any of its
    m solvers joins; by symmetry each of those m solvers gets 1/m. Cost O(I V).
    """
    solved = m.solved
    per = solved.sum(1)
    weights = np.divide(1.0, per, out=np.zeros(len(per)), where=per > 0)
    return weights @ solved


def solved_game(m: PerformanceMatrix) -> np.ndarray:
    """``[2^V]`` value table of v(S) = #instances solved by some member of S (S as a bitmask,
    bit j = column j). Computed by a subset-sum over the per-instance solver masks."""
    n = m.verifiers.shape[0]
    _check_players(n)
    bits = (m.solved.astype(np.int64) << np.arange(n)).sum(1)
    hist = np.bincount(bits, minlength=1 << n).astype(np.float64)
    # none_in[S] = #instances whose solver set lies inside S (zeta transform over subsets).
    none_in = hist.copy()
    for j in range(n):
        step = 1 << j
        view = none_in.reshape(-1, 2 * step)
        view[:, step:] += view[:, :step]
    full = (1 << n) - 1
    # An instance is solved by S unless its solver set lies inside the complement of S.
    return len(bits) - none_in[full ^ np.arange(1 << n)]


def shapley_exact(values: np.ndarray) -> np.ndarray:
    """Shapley values ``[n]`` of any game by enumerating every coalition (eq. 2).

    ``values`` is ``[2^n]``, ``values[S]`` the worth of the coalition with bitmask ``S``. Uses
    phi_i = sum_{S not containing i} |S|! (n-|S|-1)! / n! (v(S + i) - v(S)).
    """
    size = values.shape[0]
    n = size.bit_length() - 1
    if size != 1 << n or n == 0:
        raise InputError(f"values must have 2^n entries (n >= 1), got {size}.")
    _check_players(n)
    masks = np.arange(size)
    popcount = np.zeros(size, dtype=np.int64)
    for j in range(n):
        popcount += (masks >> j) & 1
    weight = np.asarray(
        [math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n) for k in range(n)]
    )
    phi = np.empty(n)
    for i in range(n):
        without = masks[(masks >> i) & 1 == 0]
        phi[i] = (weight[popcount[without]] * (values[without | (1 << i)] - values[without])).sum()
    return phi


def _check_players(n: int) -> None:
    if n > MAX_EXACT_PLAYERS:
        raise InputError(
            f"Exact enumeration over {n} verifiers needs 2^{n} coalitions; at most "
            f"{MAX_EXACT_PLAYERS} are allowed. Use shapley_solved (closed form) instead."
        )


def contributions(m: PerformanceMatrix) -> Contribution:
    """Marginal contributions and closed-form Shapley values of every verifier."""
    absolute, relative = marginal_contribution(m)
    return Contribution(
        verifiers=tuple(str(v) for v in m.verifiers),
        absolute=absolute,
        relative=relative,
        shapley=shapley_solved(m),
    )


@dataclass(frozen=True, kw_only=True)
class Disagreements:
    """Instances where one verifier said holds and another violated (at any time). Shapes:
    ``instances [K]`` str; ``holds [K, V]`` and ``violated [K, V]`` bool."""

    verifiers: tuple[str, ...]
    instances: np.ndarray
    holds: np.ndarray
    violated: np.ndarray

    def __len__(self) -> int:
        return len(self.instances)

    def rows(self) -> list[tuple[str, list[str], list[str]]]:
        """``(instance, verifiers saying holds, verifiers saying violated)`` per conflict."""
        v = np.asarray(self.verifiers, dtype=object)
        return [
            (str(i), list(v[h]), list(v[x]))
            for i, h, x in zip(self.instances, self.holds, self.violated, strict=True)
        ]


def disagreements(m: PerformanceMatrix) -> Disagreements:
    """Every holds-versus-violated conflict, logged as a warning; never resolved here.

    At least one side of each conflict is unsound (or the instance is ill-posed); which one can
    only be settled by re-checking the counterexample.
    """
    holds = m.answer == Answer.HOLDS
    violated = m.answer == Answer.VIOLATED
    rows = holds.any(1) & violated.any(1)
    if rows.any():
        logger.warning(
            "CONFLICT: %d instance(s) were reported both holds and violated, e.g. %s; at least "
            "one verifier is wrong there. Counted as solved for both (paper 004's convention).",
            int(rows.sum()),
            str(m.instances[rows][0]),
        )
    return Disagreements(
        verifiers=tuple(str(v) for v in m.verifiers),
        instances=m.instances[rows],
        holds=holds[rows],
        violated=violated[rows],
    )
