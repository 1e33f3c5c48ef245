"""Benchmark: our verifier on VNN-COMP 2021 benchmarks at VNN-COMP's own per-instance time
limits (each benchmark's instances CSV), beside what the 2021 tools decided within the same
limits, and optionally a plain-MILP baseline (interval bounds, no attack, no branch and bound).

Usage:
    PYTHONPATH=. python benchmarks/verify_vnncomp.py --benchmark mnistfc --nets 256x2 256x4
    PYTHONPATH=. python benchmarks/verify_vnncomp.py --benchmark verivital
    PYTHONPATH=. python benchmarks/verify_vnncomp.py --benchmark cifar10_resnet --timeout 60

``--timeout`` overrides every instance's limit (a quick run); ``--nets`` keeps the instances
whose network name contains one of the given strings; ``--limit N`` the first N per network;
``--part K/N`` every N-th of those from the K-th (run N parts side by side, one per core).
Prints per instance the answer, time and the reference answer (the consensus of
results/derived_consensus.csv, or for benchmarks it does not cover the majority of the 2021
tools, RPM left out), then per network: solved, wrong, total time, peak resident memory, and
the 2021 tools' solved counts within the same limits (answers the reference confirms). Every
``sat`` answer's counterexample is re-checked here with onnxruntime and the input regions
(zero tolerance). Runs single-threaded (shared 2-core machine); ``--processes N`` shares each
instance's branch and bound between N single-thread processes (what ``mlrobust verify`` does
with one process per core).
"""

from __future__ import annotations

import argparse
import csv
import logging
import resource
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch

from mlrobust.datasets.paths import data_file
from mlrobust.portfolio.readers import read_vnncomp_results, vnncomp_instance_id
from mlrobust.portfolio.table import Answer
from mlrobust.verify.api import verify_vnnlib
from mlrobust.verify.milp import Tightening
from mlrobust.verify.verifier import MILPVerifier, VerifierConfig
from tests.verify.reference import assert_onnx_witness

WORDS = {Answer.HOLDS: "holds", Answer.VIOLATED: "violated"}


def instances(bench: str) -> list[tuple[str, str, float]]:
    """(onnx, vnnlib, limit) rows of the benchmark's instances CSV (paths as written there)."""
    root = data_file("vnncomp2021", bench)
    with open(root / f"{bench}_instances.csv") as fh:
        return [(r[0].strip(), r[1].strip(), float(r[2])) for r in csv.reader(fh) if r]


def _key(onnx: str, vnnlib: str) -> tuple[str, str]:
    return onnx.removeprefix("./"), vnnlib.removeprefix("./").removesuffix(".gz")


def tool_answers(bench: str) -> dict[str, dict[tuple[str, str], tuple[Answer, float]]]:
    """Per 2021 tool, its answer and time per instance of the benchmark."""
    out: dict[str, dict[tuple[str, str], tuple[Answer, float]]] = {}
    ids = {vnncomp_instance_id(bench, o, v): _key(o, v) for o, v, _ in instances(bench)}
    for path in sorted(data_file("vnncomp2021", "results", "results_csv").glob("*.csv")):
        table = read_vnncomp_results(path, benchmarks={bench})
        answers = {}
        for inst, ans, t in zip(table.instance, table.answer, table.time, strict=True):
            if inst in ids:
                answers[ids[inst]] = (Answer(ans), float(t))
        out[path.stem] = answers
    return out


def reference(bench: str, tools: dict) -> dict[tuple[str, str], str]:  # type: ignore[type-arg]
    """The consensus file's majority where it covers the benchmark, else the tools' majority
    (RPM, which answers "violated" almost everywhere, left out)."""
    ref: dict[tuple[str, str], str] = {}
    with open(data_file("vnncomp2021", "results", "derived_consensus.csv")) as fh:
        for r in csv.DictReader(fh):
            if r["benchmark"] == bench:
                ref[_key(r["onnx"], r["vnnlib"])] = r["majority"]
    if ref:
        return ref
    votes: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for tool, answers in tools.items():
        if tool == "RPM":
            continue
        for key, (ans, _) in answers.items():
            if ans in WORDS:
                votes[key][WORDS[ans]] += 1
    for key, c in votes.items():
        (top, n), *rest = c.most_common() + [("", 0)]
        ref[key] = top if not rest or n > rest[0][1] else "tie"
    return ref


def part_of(value: str) -> tuple[int, int]:
    """``--part K/N`` (1 <= K <= N) as ``(K, N)``; argparse reports a malformed value."""
    k, _, n = value.partition("/")
    if not (k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N, e.g. 1/2; got {value!r}")
    return int(k), int(n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--benchmark", default="mnistfc")
    ap.add_argument("--nets", nargs="*", default=[], help="keep networks whose name contains")
    ap.add_argument(
        "--props", nargs="*", default=[], help="keep properties whose file name contains"
    )
    ap.add_argument("--timeout", type=float, default=0.0, help="override the CSV's limits")
    ap.add_argument("--limit", type=int, default=0, help="first N instances per net (0: all)")
    ap.add_argument(
        "--part", type=part_of, default=(1, 1), help="K/N: every N-th instance from the K-th"
    )
    ap.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=False)
    ap.add_argument(
        "--processes", type=int, default=1, help="branch-and-bound processes per instance"
    )
    args = ap.parse_args()
    part, parts = args.part
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.ERROR)
    bench = args.benchmark
    root = data_file("vnncomp2021", bench)
    rows = instances(bench)
    if args.nets:
        rows = [r for r in rows if any(n in r[0] for n in args.nets)]
    if args.props:
        rows = [r for r in rows if any(p in r[1] for p in args.props)]
    by_net: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
    for r in rows:
        by_net[r[0]].append(r)
    tools = tool_answers(bench)
    ref = reference(bench, tools)
    configs = {"ours": MILPVerifier(VerifierConfig(bab_processes=args.processes))}
    if args.baseline:
        plain = VerifierConfig(
            tightening=Tightening.INTERVAL, attack_steps=0, alpha_steps=0, bab=False
        )
        configs["plain-milp"] = MILPVerifier(plain)
    for onnx_name, inst in by_net.items():
        if args.limit:
            inst = inst[: args.limit]
        inst = inst[part - 1 :: parts]
        for name, verifier in configs.items():
            solved, wrong, total_t = 0, 0, 0.0
            for onnx, prop, csv_limit in inst:
                limit = args.timeout or csv_limit
                path = root / prop.removeprefix("./")
                vnn = path if path.exists() else path.with_name(path.name + ".gz")
                t0 = time.monotonic()
                ans = verify_vnnlib(
                    root / onnx.removeprefix("./"), vnn, verifier, time_limit_s=limit
                )
                dt = time.monotonic() - t0
                if ans.answer == "sat":
                    assert_onnx_witness(root / onnx.removeprefix("./"), vnn, ans.counterexample)
                exp = ref.get(_key(onnx, prop), "unknown")
                bad = (ans.answer == "sat" and exp == "holds") or (
                    ans.answer == "unsat" and exp == "violated"
                )
                solved += ans.answer != "unknown"
                wrong += bad
                total_t += dt
                print(
                    f"{Path(onnx).stem:24s} {name:10s} {Path(prop).name:36s} {ans.answer:8s} "
                    f"{dt:7.2f}s / {limit:.0f}s  reference={exp}"
                    f"{'  CONTRADICTS' if bad else ''}",
                    flush=True,
                )
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"== {Path(onnx_name).stem} {name}: solved {solved}/{len(inst)}, wrong {wrong}"
                f", total {total_t:.1f}s, peak RSS so far {peak:.0f} MiB",
                flush=True,
            )
        keys = {_key(o, p): args.timeout or lim for o, p, lim in inst}
        per_tool, union = {}, set()
        for tool, answers in tools.items():
            ok = {
                k
                for k, (a, t) in answers.items()
                if k in keys
                and np.isfinite(t)
                and t <= keys[k]
                and WORDS.get(a) is not None
                and ref.get(k) == WORDS[a]
            }
            per_tool[tool] = len(ok)
            union |= ok
        best = sorted(per_tool.items(), key=lambda kv: -kv[1])[:5]
        limits = sorted(set(keys.values()))
        print(
            f"== {Path(onnx_name).stem} VNN-COMP 2021 tools within the same limits "
            f"({', '.join(f'{v:.0f}' for v in limits)} s, their machines): virtual best "
            f"{len(union)}/{len(inst)}; " + ", ".join(f"{k} {v}" for k, v in best),
            flush=True,
        )


if __name__ == "__main__":
    main()
