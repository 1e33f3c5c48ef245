"""Benchmark: consistent target sets for 10,000 predictions over the 601-node OpenImages hierarchy.

Each prediction is consistent (1-8 random graph leaves ON, plus all their ancestors); each gets
1-5 targets drawn from its ON labels, as an attack would. Times the vectorised batch function
(the issue's budget: at most 2 s on one core) and, as a baseline, the per-image scalar function.

Run: MLROBUST_DATA=/path/to/data python benchmarks/graphs.py [--n 10000] [--seed 0]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the budget says
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from mlrobust.datasets.paths import data_file  # noqa: E402
from mlrobust.graphs import consistent_target_set, consistent_target_sets  # noqa: E402
from mlrobust.graphs.sources import from_openimages  # noqa: E402


def make_batch(graph, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    size = len(graph)
    graph_leaves = np.array([graph.index(v) for v in graph.labels if not graph.children(v)])
    ancestors = np.zeros((size, size), dtype=bool)
    for v in graph.labels:
        i = graph.index(v)
        ancestors[i, i] = True
        for a in graph.ancestors(v):
            ancestors[i, graph.index(a)] = True
    preds = np.zeros((n, size), dtype=bool)
    targets = np.zeros((n, size), dtype=bool)
    for row in range(n):
        chosen = rng.choice(graph_leaves, size=rng.integers(1, 9), replace=False)
        preds[row] = ancestors[chosen].any(axis=0)
        on = np.flatnonzero(preds[row])
        k = min(int(rng.integers(1, 6)), on.size)
        targets[row, rng.choice(on, size=k, replace=False)] = True
    return preds, targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--scalar-n", type=int, default=2_000, help="images for the scalar baseline"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)

    graph = from_openimages(data_file("openimages", "bbox_labels_600_hierarchy.json"))
    rng = np.random.default_rng(args.seed)
    preds, targets = make_batch(graph, args.n, rng)
    print(
        f"graph: {len(graph)} nodes; {args.n} predictions, |targets| 1..5, "
        f"mean ON labels {preds.sum(1).mean():.1f}"
    )

    consistent_target_sets(graph, preds[:100], targets[:100])  # warm-up (lineage cache etc.)
    t0, c0 = time.perf_counter(), time.process_time()
    psi = consistent_target_sets(graph, preds, targets)
    batch_s, batch_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"batch  (numpy): total {batch_s:.3f} s wall ({batch_cpu:.3f} s CPU), "
        f"{1e6 * batch_s / args.n:.1f} us/image, "
        f"mean |Psi| {psi.sum(1).mean():.2f}"
    )

    t_preds, t_targets = torch.from_numpy(preds), torch.from_numpy(targets)
    t0 = time.perf_counter()
    psi_t = consistent_target_sets(graph, t_preds, t_targets)
    torch_s = time.perf_counter() - t0
    assert np.array_equal(psi_t.numpy(), psi)
    print(f"batch  (torch in/out): total {torch_s:.3f} s, {1e6 * torch_s / args.n:.1f} us/image")

    m = min(args.scalar_n, args.n)
    t0 = time.perf_counter()
    for row in range(m):
        got = consistent_target_set(graph, preds[row], np.flatnonzero(targets[row]).tolist())
        assert got == set(np.flatnonzero(psi[row]))
    scalar_s = time.perf_counter() - t0
    print(
        f"scalar (per image, {m} images): {1e6 * scalar_s / m:.1f} us/image, "
        f"extrapolated {scalar_s * args.n / m:.3f} s for {args.n}"
    )
    verdict = "OK" if batch_cpu <= 2.0 else "OVER"
    print(f"budget: 2 s for {args.n} -> {verdict} (CPU time; wall time depends on machine load)")


if __name__ == "__main__":
    main()
