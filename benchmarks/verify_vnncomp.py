"""Benchmark: VNN-COMP 2021 mnistfc with our verifier (attack, branch and bound, MILP) vs plain
MILP (interval bounds, no attack, no branch and bound).

Usage:
    python benchmarks/verify_vnncomp.py --nets 256x2 256x4 256x6 --timeout 120 [--limit N]

Prints per-instance answer/time for both configurations, solved counts, agreement with the
VNN-COMP consensus and the peak resident memory, and beside them what the VNN-COMP 2021 tools
decided within the same timeout (their own machines, from the results CSVs; answers that
the consensus does not confirm are not counted). Runs single-threaded (shared 2-core machine).
"""

from __future__ import annotations

import argparse
import csv
import logging
import resource
import time
from pathlib import Path

import numpy as np
import torch

from mlrobust.datasets.paths import data_file
from mlrobust.portfolio.readers import read_vnncomp_results, vnncomp_instance_id
from mlrobust.portfolio.table import Answer
from mlrobust.verify.api import verify_vnnlib
from mlrobust.verify.milp import Tightening
from mlrobust.verify.verifier import MILPVerifier, VerifierConfig


def vnncomp2021_solved(
    results_dir: Path,
    onnx_name: str,
    props: list[str],
    timeout: float,
    consensus: dict[tuple[str, str], str],
) -> tuple[dict[str, int], int]:
    """Per 2021 tool, the instances of ``props`` it decided within ``timeout`` as the consensus
    did; and the virtual best (union over tools)."""
    expected = {
        vnncomp_instance_id("mnistfc", onnx_name, p): consensus.get((onnx_name, p)) for p in props
    }
    per_tool: dict[str, int] = {}
    union: set[str] = set()
    for path in sorted(results_dir.glob("*.csv")):
        table = read_vnncomp_results(path, benchmarks={"mnistfc"})
        solved = set()
        for inst, ans, t in zip(table.instance, table.answer, table.time, strict=True):
            if inst not in expected or not (np.isfinite(t) and t <= timeout):
                continue
            right = {Answer.HOLDS: "holds", Answer.VIOLATED: "violated"}.get(Answer(ans))
            # only answers the consensus confirms: on "unknown" instances no tool it trusts
            # decided (RPM's unconfirmed "violated" answers are not in the consensus)
            if right is not None and expected[inst] == right:
                solved.add(inst)
        per_tool[path.stem] = len(solved)
        union |= solved
    return per_tool, len(union)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nets", nargs="+", default=["256x2", "256x4", "256x6"])
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument(
        "--baseline-timeout",
        type=float,
        default=0.0,
        help="timeout of the plain-MILP baseline (0: same as --timeout)",
    )
    ap.add_argument("--limit", type=int, default=0, help="first N instances per net (0: all)")
    ap.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.ERROR)
    root = data_file("vnncomp2021", "mnistfc")
    with open(data_file("vnncomp2021", "results", "derived_consensus.csv")) as fh:
        consensus = {
            (r["onnx"], r["vnnlib"]): r["majority"]
            for r in csv.DictReader(fh)
            if r["benchmark"] == "mnistfc"
        }
    configs = {"ours": (MILPVerifier(), args.timeout)}
    if args.baseline:
        plain = VerifierConfig(
            tightening=Tightening.INTERVAL, attack_steps=0, alpha_steps=0, bab=False
        )
        configs["plain-milp"] = (MILPVerifier(plain), args.baseline_timeout or args.timeout)
    with open(root / "mnistfc_instances.csv") as fh:
        rows = [r for r in csv.reader(fh) if r]
    for net in args.nets:
        onnx_name = f"mnist-net_{net}.onnx"
        inst = [r[1] for r in rows if r[0] == onnx_name]
        if args.limit:
            inst = inst[: args.limit]
        summary = {}
        for name, (verifier, limit) in configs.items():
            solved, wrong, total_t = 0, 0, 0.0
            for prop in inst:
                t0 = time.monotonic()
                ans = verify_vnnlib(
                    root / onnx_name, root / (prop + ".gz"), verifier, time_limit_s=limit
                )
                dt = time.monotonic() - t0
                exp = consensus.get((onnx_name, prop), "unknown")
                bad = (ans.answer == "sat" and exp == "holds") or (
                    ans.answer == "unsat" and exp == "violated"
                )
                solved += ans.answer != "unknown"
                wrong += bad
                total_t += dt
                print(
                    f"{net} {name:10s} {prop:22s} {ans.answer:8s} {dt:7.2f}s "
                    f"consensus={exp}{'  CONTRADICTS' if bad else ''}",
                    flush=True,
                )
            summary[name] = (solved, len(inst), wrong, total_t)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        for name, (s, n, w, t) in summary.items():
            print(
                f"== {net} {name}: solved {s}/{n}, contradictions {w}, total {t:.1f}s, "
                f"peak RSS so far {peak:.0f} MiB",
                flush=True,
            )
        tools, vbs = vnncomp2021_solved(
            data_file("vnncomp2021", "results", "results_csv"),
            onnx_name,
            inst,
            args.timeout,
            consensus,
        )
        best = sorted(tools.items(), key=lambda kv: -kv[1])[:4]
        print(
            f"== {net} VNN-COMP 2021 tools within {args.timeout:.0f} s (their machines): "
            f"virtual best {vbs}/{len(inst)}; " + ", ".join(f"{k} {v}" for k, v in best),
            flush=True,
        )


if __name__ == "__main__":
    main()
