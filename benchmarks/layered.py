"""Layered-epsilon synthesis on the shipped Double-MNIST models (paper 000).

For the same test images on every model: mean w . eps for the oracle-guided synthesis with fixed
and with sensitivity cutting weights and for the naive layer-by-layer binary search; oracle
calls by kind (attack / CROWN / MILP) and wall time per image, all in one run.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/layered.py --n 3 --json out.json
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import replace

import torch

from mlrobust.datasets import shipped_samples
from mlrobust.errors import DataNotFoundError
from mlrobust.models import resolve_model
from mlrobust.synthesis import (
    CuttingWeights,
    OracleConfig,
    SynthesisConfig,
    guided_synthesis,
    naive_synthesis,
)
from mlrobust.synthesis.cases import layered_case, pick_images
from mlrobust.synthesis.result import milp_calls_to_reach
from mlrobust.verify.milp import Tightening
from mlrobust.verify.verifier import VerifierConfig


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="double_mnist_none,double_mnist_l0,double_mnist_pgd")
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--milp-timeout", type=float, default=3.0)
    ap.add_argument("--max-calls", type=int, default=30)
    ap.add_argument("--bisections", type=int, default=4)
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument(
        "--naive-time-limit",
        type=float,
        default=0.0,
        help="time limit of the naive search (0: --time-limit); a large value runs "
        "it to completion so its MILP count is not capped by time",
    )
    ap.add_argument("--milp-gap", type=float, default=1.0)
    ap.add_argument("--tightening", default="crown", choices=["interval", "crown", "lp"])
    ap.add_argument("--images", default="", help="comma-separated sample indices (else picked)")
    ap.add_argument(
        "--methods",
        default="guided-fixed,guided-sens,naive",
        help="comma-separated subset of guided-fixed, guided-sens, naive",
    )
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.WARNING)
    ds = shipped_samples()
    # CROWN and above: the oracle's selective CROWN bounds are handed to the verifier
    tight = Tightening[args.tightening.upper()]
    oracle = OracleConfig(
        milp=VerifierConfig(timeout_s=args.milp_timeout, tightening=tight, alpha_steps=0),
        milp_gap=args.milp_gap,
    )
    base = SynthesisConfig(
        oracle=oracle,
        max_calls=args.max_calls,
        bisections=args.bisections,
        time_limit_s=args.time_limit,
        final_milp=VerifierConfig(timeout_s=2 * args.milp_timeout, tightening=tight, alpha_steps=0),
    )
    methods = {
        "guided-fixed": (guided_synthesis, base),
        "guided-sens": (guided_synthesis, replace(base, cutting=CuttingWeights.SENSITIVITY)),
        # the paper's naive search asks the verifier on every probe: no CROWN-gap filter
        "naive": (
            naive_synthesis,
            replace(
                base,
                oracle=replace(oracle, milp_gap=float("inf")),
                time_limit_s=args.naive_time_limit or args.time_limit,
            ),
        ),
    }
    unknown = set(args.methods.split(",")) - set(methods)
    if unknown:
        ap.error(f"unknown methods {sorted(unknown)}; choose from {sorted(methods)}")
    methods = {m: methods[m] for m in args.methods.split(",")}
    rows = []
    models = {}
    for name in args.models.split(","):
        try:
            models[name] = resolve_model(name)[0]
        except DataNotFoundError as exc:
            print(f"{name}: skipped ({exc})")
    if args.images:
        idx = [int(v) for v in args.images.split(",")]
    else:
        idx = pick_images(list(models.values()), ds, args.n)
    print("images", idx)
    for name, model in models.items():
        for i in idx:
            prob = layered_case(model, ds, i)
            for meth, (fn, cfg) in methods.items():
                t0 = time.monotonic()
                res = fn(prob, cfg)
                rows.append(
                    {
                        "model": name,
                        "image": i,
                        "method": meth,
                        "size": res.size,
                        "upper": res.upper_size,
                        "attack": res.calls.attack,
                        "crown": res.calls.crown,
                        "milp": res.calls.milp,
                        "attack_s": res.calls.attack_s,
                        "crown_s": res.calls.crown_s,
                        "milp_s": res.calls.milp_s,
                        "final": res.final_verdict.value,
                        "depth": res.depth,
                        "seconds": time.monotonic() - t0,
                        "progress": [list(p) for p in res.progress],
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    print("\nmodel              method        images  mean w.eps  attack  crown  milp  s/image")
    for name in args.models.split(","):
        for meth in methods:
            sel = [r for r in rows if r["model"] == name and r["method"] == meth]
            if not sel:
                continue
            n = len(sel)

            def mean(key: str, sel: list = sel, n: int = n) -> float:
                return sum(r[key] for r in sel) / n

            print(
                f"{name:18s} {meth:13s} {n:6d} {mean('size'):11.4f} {mean('attack'):7.1f} "
                f"{mean('crown'):6.1f} {mean('milp'):5.1f} {mean('seconds'):8.1f}"
            )
    print(
        "\nMILP calls guided / naive per image (goal <= 0.2 at an equal or larger w.eps); "
        "'to reach': guided's MILP calls until its certified w.eps first reached naive's"
    )
    for name in args.models.split(","):
        naive = {r["image"]: r for r in rows if r["model"] == name and r["method"] == "naive"}
        for meth in ("guided-fixed", "guided-sens"):
            pairs = [
                (r, naive[r["image"]])
                for r in rows
                if r["model"] == name and r["method"] == meth and r["image"] in naive
            ]
            if not pairs:
                continue
            ratios = [g["milp"] / max(nv["milp"], 1) for g, nv in pairs]
            ok = sum(
                q <= 0.2 and g["size"] >= nv["size"]
                for q, (g, nv) in zip(ratios, pairs, strict=True)
            )
            reach = [milp_calls_to_reach(g["progress"], nv["size"]) for g, nv in pairs]
            reach_ok = sum(
                c is not None and c <= 0.2 * nv["milp"]
                for c, (_, nv) in zip(reach, pairs, strict=True)
            )
            print(
                f"{name:18s} {meth:13s} mean ratio {sum(ratios) / len(ratios):.3f}, "
                f"max {max(ratios):.3f}; <= 0.2 with w.eps >= naive on {ok}/{len(pairs)}; "
                f"to reach naive's w.eps: {reach} calls, <= 0.2 of naive's on "
                f"{reach_ok}/{len(pairs)}"
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
