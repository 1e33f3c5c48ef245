"""Benchmark of ``mlrobust evaluate``: decided share, wall time, peak memory, time per component.

    PYTHONPATH=. python benchmarks/evaluate.py                       # the default run
    PYTHONPATH=. python benchmarks/evaluate.py --grid large          # 100 images x 3 eps
    PYTHONPATH=. python benchmarks/evaluate.py --budgets 1,2,4,8     # UNKNOWN share vs budget
    PYTHONPATH=. python benchmarks/evaluate.py --retry-budget 60     # + retry rounds per model
    PYTHONPATH=. python benchmarks/evaluate.py --baseline /path/to/old/checkout --budgets 1,8

Runs the command as a user would (a subprocess, fresh report folder, OMP threads 1), then
reads each model's results.json: per model and eps the decided share (VERIFIED + FALSIFIED over
all cells), and the components' seconds. ``--budgets`` scales the verifier's time limit per
(image, eps) (the default run's 2 s is 1x) and prints the UNKNOWN share of the whole grid at each
scale; ``--baseline`` runs the same with another checkout's code (``PYTHONPATH`` set to it), so
before and after come from the same machine and run. Peak memory: the largest resident set of
the main process and of any worker (RUSAGE_CHILDREN: the maximum over waited-for descendants).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_TIMEOUT_S = 2.0
#: the issue's larger grid: 100 images x three radii on the three shipped default models
LARGE = ["-n", "100", "--eps", "0.005,0.01,0.02", "--no-layered"]


def run(code: Path, out: Path, extra: list[str], workers: int) -> tuple[float, float]:
    """Run ``mlrobust evaluate`` with the package at ``code``; (wall seconds, peak RSS MiB)."""
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(code)}
    cmd = [sys.executable, "-m", "mlrobust", "--threads", "1", "evaluate"]
    cmd += ["--workers", str(workers), "--out", str(out), *extra]
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, cwd=code)
    wall = time.perf_counter() - t0
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def decided_table(out: Path) -> tuple[int, int, dict[str, float]]:
    """Print per model and eps the cells and the decided share; returns (unknown, cells, the
    components' seconds summed over models)."""
    unknown = cells = 0
    totals: dict[str, float] = {}
    print(
        f"{'model':<20} {'eps':>6} {'cells':>6} {'verified':>9} {'falsified':>10} "
        f"{'unknown':>8} {'decided':>8}"
    )
    for path in sorted(out.glob("*/results.json")):
        result = json.loads(path.read_text())
        for row in result["robustness"]:
            decided = (row["verified"] + row["falsified"]) / max(row["cells"], 1)
            print(
                f"{result['model']:<20} {row['eps']:>6} {row['cells']:>6} {row['verified']:>9} "
                f"{row['falsified']:>10} {row['unknown']:>8} {decided:>8.1%}"
            )
            unknown += row["unknown"]
            cells += row["cells"]
        for k, v in result["timing"].items():
            totals[k] = totals.get(k, 0.0) + (v or 0.0)
        spent = sum(v or 0.0 for v in result["timing"].values())
        print(
            f"{result['model']:<20} {'all':>6} {'':>6} {'':>9} {'':>10} {'':>8} {'':>8}"
            f"  {spent:.0f} s of worker time"
        )
    return unknown, cells, totals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--grid", choices=("default", "large"), default="default")
    ap.add_argument("--budgets", default="1", help="comma-separated multiples of the 2 s limit")
    ap.add_argument(
        "--retry-budget", type=float, default=0.0, help="seconds of retry rounds per model"
    )
    ap.add_argument("--baseline", type=Path, help="another checkout to run the same way")
    ap.add_argument("--out", type=Path, default=Path("/tmp/mlrobust-bench-evaluate"))
    args = ap.parse_args()
    codes = {"this checkout": Path(__file__).resolve().parent.parent}
    if args.baseline:
        codes = {"baseline": args.baseline.resolve(), **codes}
    print(f"`mlrobust evaluate`, {args.grid} grid, {args.workers} workers, {os.cpu_count()} CPUs")
    curve: dict[str, list[str]] = {}
    for label, code in codes.items():
        for scale in (float(s) for s in args.budgets.split(",")):
            extra = ["--timeout", str(DEFAULT_TIMEOUT_S * scale)]
            extra += LARGE if args.grid == "large" else []
            extra += ["--retry-budget", str(args.retry_budget)] if args.retry_budget else []
            out = args.out / f"{label.replace(' ', '_')}-x{scale:g}"
            print(
                f"\n== {label} ({code}), verifier budget {scale:g}x "
                f"({DEFAULT_TIMEOUT_S * scale:g} s per image and eps)"
            )
            wall, peak = run(code, out, extra, args.workers)
            unknown, cells, totals = decided_table(out)
            share = unknown / max(cells, 1)
            print(
                f"wall time {wall:.1f} s, peak RSS of one process {peak:.0f} MiB, "
                f"UNKNOWN {unknown}/{cells} = {share:.1%}"
            )
            busy = sum(totals.values()) or 1.0
            print("component        seconds   share (summed over workers)")
            for k, v in sorted(totals.items(), key=lambda kv: -kv[1]):
                print(f"{k:<16} {v:8.1f}   {100 * v / busy:5.1f}%")
            curve.setdefault(label, []).append(f"{scale:g}x: {share:.1%} ({wall:.0f} s)")
    print("\nUNKNOWN share of the grid by verifier budget")
    for label, points in curve.items():
        print(f"{label:<14} " + "   ".join(points))


if __name__ == "__main__":
    main()
