"""Complementarity of our verifier configurations on a VNN-COMP 2021 subset (docs/portfolio.md).

Run first (OMP_NUM_THREADS=1; about 25 min on a loaded 2-core machine)::

    D=$MLROBUST_DATA/vnncomp2021
    mlrobust portfolio run --instances $D/mnistfc/mnistfc_instances.csv \\
        --instances $D/eran/eran_instances.csv --instances $D/verivital/verivital_instances.csv \\
        --stride 6 --timeout 15 --jobs 2 --store runs/vnncomp_subset.sqlite \\
        --config milp_highs --config milp_gurobi --config milp_plain --config bounds_only \\
        --config attack_only

then: ``PYTHONPATH=. python benchmarks/portfolio_ours.py runs/vnncomp_subset.sqlite 15``. Prints
per benchmark the instances each configuration solved, the pairwise "solved by the row but not
by the column" counts, and the instances that only one configuration solved.
"""

from __future__ import annotations

import sys

import numpy as np

from mlrobust.datasets.paths import data_file
from mlrobust.portfolio import (
    Answer,
    against_reference,
    read_consensus,
    read_run_store,
    to_matrix,
)


def main(store: str, limit: float) -> None:
    m = to_matrix(read_run_store(store), time_limit=limit)
    names = [str(v) for v in m.verifiers]
    bench = np.array([str(i).split(":")[0] for i in m.instances])
    solved = m.solved
    print(f"{len(m.instances)} instances, limit {limit} s")
    print("| benchmark | n | " + " | ".join(names) + " | any |")
    print("|---|---|" + "---|" * (len(names) + 1))
    for b in sorted(set(bench)):
        rows = bench == b
        cells = [str(int(solved[rows, j].sum())) for j in range(len(names))]
        print(
            f"| {b} | {rows.sum()} | "
            + " | ".join(cells)
            + f" | {int(solved[rows].any(1).sum())} |"
        )
    err = (m.answer == Answer.ERROR).sum(0)
    print("errors per configuration:", dict(zip(names, err.tolist(), strict=True)))
    print("\nsolved by row, not by column:")
    print("| | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for a, na in enumerate(names):
        cells = [str(int((solved[:, a] & ~solved[:, b]).sum())) for b in range(len(names))]
        print(f"| {na} | " + " | ".join(cells) + " |")
    print("\nsolved by exactly one configuration:")
    for i in np.nonzero(solved.sum(1) == 1)[0]:
        j = int(np.nonzero(solved[i])[0][0])
        print(
            f"  {m.instances[i]}: {names[j]} ({Answer(int(m.answer[i, j])).name.lower()}, "
            f"{m.time[i, j]:.1f} s)"
        )
    ref = read_consensus(data_file("vnncomp2021", "results", "derived_consensus.csv"))
    check = against_reference(m, ref)
    with_ref = sum(str(i) in ref for i in m.instances)
    print(f"\nconsensus: {with_ref} of {len(m.instances)} instances have a holds/violated majority")
    for v, a, c in zip(check.verifiers, check.agree, check.contradict, strict=True):
        print(f"  {v}: agree {a}, contradict {c}")


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
