"""Portfolio analysis speed.

1. Paper 004's complete CPU data (JMLR repository: 2 datasets x 9 epsilons x all networks,
   77,400 instances x 5 verifiers = 387,000 rows): read, pivot, every measure. Target < 5 s.
2. Shapley values for 10 verifiers on 77,400 instances: closed form (target < 1 s) and, as the
   baseline, exact enumeration of all 1024 coalitions; both must agree.

Run: PYTHONPATH=. python benchmarks/portfolio.py   (data root from MLROBUST_DATA)
"""

from __future__ import annotations

import time

import numpy as np

from mlrobust.datasets.paths import data_file
from mlrobust.portfolio import (
    PerformanceMatrix,
    parallel_portfolio,
    shapley_exact,
    shapley_solved,
    solved_game,
    summarize,
)
from mlrobust.portfolio.paper004 import load_all_cpu


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    root = data_file("nn_verification_assessment")

    def analysis():
        m = load_all_cpu(root)
        s = summarize(m)
        pairs = [parallel_portfolio(m, ["verinet", v]).n_solved for v in m.verifiers[:-1]]
        return m, s, pairs

    (m, s, pairs), wall, cpu = _timed(analysis)
    print(
        f"paper-004 CPU data: {m.answer.shape[0]} instances x {m.answer.shape[1]} verifiers "
        f"= {m.answer.size} rows; read + all measures: {wall:.2f} s wall, {cpu:.2f} s CPU "
        "(target < 5 s)"
    )
    print(
        f"  solved {dict(zip(s.verifiers, s.solved.tolist(), strict=True))}, "
        f"VBS {s.vbs.n_solved}, conflicts {len(s.conflicts)}"
    )

    rng = np.random.default_rng(0)
    n_i, n_v = 77_400, 10
    solved = rng.random((n_i, n_v)) < rng.uniform(0.05, 0.6, n_v)
    big = PerformanceMatrix(
        instances=np.arange(n_i).astype(str).astype(object),
        verifiers=np.array([f"v{k}" for k in range(n_v)], dtype=object),
        answer=np.where(solved, 0, 2).astype(np.int8),
        time=np.where(solved, 1.0, 100.0),
        limit=np.full(n_i, 100.0),
    )
    closed, wall_c, _ = _timed(lambda: shapley_solved(big))
    exact, wall_e, _ = _timed(lambda: shapley_exact(solved_game(big)))
    assert np.allclose(closed, exact), (closed, exact)
    print(
        f"Shapley, {n_v} verifiers x {n_i} instances: closed form {wall_c * 1e3:.1f} ms "
        f"(target < 1 s); exact enumeration of {2**n_v} coalitions {wall_e * 1e3:.1f} ms; "
        f"max |difference| {np.abs(closed - exact).max():.2e}"
    )


if __name__ == "__main__":
    main()
