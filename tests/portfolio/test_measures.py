import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlrobust.errors import InputError
from mlrobust.portfolio import (
    Answer,
    PerformanceMatrix,
    ResultTable,
    average_time,
    contributions,
    disagreements,
    marginal_contribution,
    par2,
    parallel_portfolio,
    shapley_exact,
    shapley_solved,
    solved_counts,
    solved_game,
    summarize,
    to_matrix,
    virtual_best,
)

H, V, U, E = Answer.HOLDS, Answer.VIOLATED, Answer.UNKNOWN, Answer.ERROR
ROWS = {  # instance: [(answer, time) for verifiers a, b, c]; limit 10
    "i1": [(H, 1.0), (H, 2.0), (U, 10.0)],
    "i2": [(U, 10.0), (V, 5.0), (V, 4.0)],
    "i3": [(H, 3.0), (E, 0.5), (U, 10.0)],
    "i4": [(U, 10.0), (U, 10.0), (U, 10.0)],
    "i5": [(V, 8.0), (U, 10.0), (H, 9.0)],
}


@pytest.fixture
def m():
    rows = [(i, "abc"[j], a, t) for i, runs in ROWS.items() for j, (a, t) in enumerate(runs)]
    return to_matrix(ResultTable.from_rows(rows), time_limit=10.0)


def test_counts_and_times(m) -> None:
    assert solved_counts(m).tolist() == [3, 2, 2]
    assert average_time(m).tolist() == pytest.approx([32 / 5, 37 / 5, 43 / 5])
    assert par2(m).tolist() == pytest.approx([52 / 5, 67 / 5, 73 / 5])
    some = virtual_best(m).solved
    assert average_time(m, instances=some).tolist() == pytest.approx([22 / 4, 27 / 4, 33 / 4])


def test_virtual_best(m) -> None:
    vbs = virtual_best(m)
    assert vbs.n_solved == 4
    assert vbs.time.tolist() == [1.0, 4.0, 3.0, 10.0, 8.0]
    assert vbs.winner.tolist() == [0, 2, 0, -1, 0]
    assert vbs.answer.tolist() == [H, V, H, U, V]
    assert vbs.conflict.tolist() == [False, False, False, False, True]


def test_marginal_and_shapley(m) -> None:
    absolute, relative = marginal_contribution(m)
    assert absolute.tolist() == [1, 0, 0]
    assert relative.tolist() == [1.0, 0.0, 0.0]
    assert shapley_solved(m).tolist() == pytest.approx([2.0, 1.0, 1.0])
    assert shapley_exact(solved_game(m)).tolist() == pytest.approx([2.0, 1.0, 1.0])
    c = contributions(m)
    assert c.verifiers == ("a", "b", "c") and c.shapley.sum() == pytest.approx(4.0)


def test_parallel_portfolio_splits_the_budget(m) -> None:
    run = parallel_portfolio(m, ["b", "c"])  # 5 s each
    assert run.solved.tolist() == [True, True, False, False, False]
    assert run.time.tolist() == [2.0, 4.0, 10.0, 10.0, 10.0]
    assert run.winner.tolist() == [0, 1, -1, -1, -1]
    full = parallel_portfolio(m, ["c", "a"], share=1.0)
    assert full.n_solved == 4 and full.conflict.tolist() == [False] * 4 + [True]
    # i1 (a, 1 s), i2 (c, 4 s), i3 (a, 3 s); i5 needs 8 s.
    assert parallel_portfolio(m, ["a", "c"], share=0.5).n_solved == 3
    with pytest.raises(InputError, match="distinct"):
        parallel_portfolio(m, ["a", "a"])
    with pytest.raises(InputError, match="share"):
        parallel_portfolio(m, ["a"], share=1.5)


def test_disagreements_are_listed_and_logged(m, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        d = disagreements(m)
    assert d.rows() == [("i5", ["c"], ["a"])]
    assert "CONFLICT: 1 instance" in caplog.text
    s = summarize(m)
    assert len(s.conflicts) == 1 and s.solved.tolist() == [3, 2, 2]
    assert s.rows()[0]["shapley"] == pytest.approx(2.0)


def test_exact_shapley_of_a_known_game() -> None:
    # Glove game: player 0 holds a left glove, players 1 and 2 right gloves; a pair is worth 1.
    v = np.array([1.0 if (s & 1) and (s & 6) else 0.0 for s in range(8)])
    assert shapley_exact(v).tolist() == pytest.approx([2 / 3, 1 / 6, 1 / 6])
    with pytest.raises(InputError, match="2\\^n"):
        shapley_exact(np.zeros(6))


def _random_matrix(solved: np.ndarray) -> PerformanceMatrix:
    n_i, n_v = solved.shape
    return PerformanceMatrix(
        instances=np.array([f"i{k}" for k in range(n_i)], dtype=object),
        verifiers=np.array([f"v{k}" for k in range(n_v)], dtype=object),
        answer=np.where(solved, int(H), int(U)).astype(np.int8),
        time=np.where(solved, 1.0, 10.0),
        limit=np.full(n_i, 10.0),
    )


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 7), st.integers(0, 40), st.integers(0, 2**31 - 1))
def test_closed_form_equals_enumeration(n_v, n_i, seed) -> None:
    rng = np.random.default_rng(seed)
    m = _random_matrix(rng.random((n_i, n_v)) < rng.random())
    game = solved_game(m)
    brute = np.array(
        [(m.solved[:, [j for j in range(n_v) if s >> j & 1]].any(1)).sum() for s in range(1 << n_v)]
    )
    assert game.tolist() == brute.tolist()
    phi = shapley_exact(game)
    assert phi == pytest.approx(shapley_solved(m))
    assert phi.sum() == pytest.approx(game[-1])  # efficiency
    full = (1 << n_v) - 1
    mc, _ = marginal_contribution(m)
    assert mc.tolist() == [game[full] - game[full ^ (1 << j)] for j in range(n_v)]
    assert solved_counts(m).tolist() == [game[1 << j] for j in range(n_v)]


def test_exact_enumeration_refuses_huge_games() -> None:
    m = _random_matrix(np.ones((2, 21), bool))
    with pytest.raises(InputError, match="closed form"):
        solved_game(m)
