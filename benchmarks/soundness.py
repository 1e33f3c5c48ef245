"""The randomised soundness harness at benchmark size: thousands of (case, configuration)
verdicts, counted agree / unknown / WRONG per configuration and category, with the share of
near-boundary cases each configuration decided.

    PYTHONPATH=. python benchmarks/soundness.py [--nets 3] [--points 2] [--time-limit 300]

The harness itself (references, configurations, judging) is tests/verify/soundness.py, which
the test suite also runs at CI size. Exit status 1 if any verdict is WRONG.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from mlrobust.verdicts import Verdict
from tests.verify import soundness as S


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nets", type=int, default=3, help="random nets per kind")
    ap.add_argument("--points", type=int, default=2, help="input points per net")
    ap.add_argument("--vnnlib", type=int, default=6, help="VNN-LIB files (two regions each)")
    ap.add_argument("--time-limit", type=float, default=300.0, help="seconds per call")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.monotonic()
    cases = S.make_cases(nets=args.nets, points=args.points, seed=args.seed)
    files = S.vnnlib_cases(nets=args.vnnlib, seed=args.seed)
    built = time.monotonic() - t0
    configs = S.configurations()
    tally = S.run(cases, configs, time_limit_s=args.time_limit)
    S.run_vnnlib(files, configs, tally, time_limit_s=args.time_limit)
    print(S.report(tally))
    total = sum(tally.outcomes.values())
    wrong = len(tally.wrong)
    cats = sorted({k for _, k, _ in tally.verdicts})
    one_sided = [
        k
        for k in cats
        if not all(
            sum(
                n
                for (c, kk, v), n in tally.verdicts.items()
                if kk == k and v is verdict and c.startswith("milp/")
            )
            > 0
            for verdict in (Verdict.VERIFIED, Verdict.FALSIFIED)
        )
    ]
    print(
        f"\n{len(cases)} cases + {len(files)} VNN-LIB files x {len(configs)} configurations "
        f"= {total} verdicts judged; WRONG {wrong}; references built in {built:.0f} s, "
        f"verifiers ran {tally.seconds:.0f} s"
    )
    print(
        f"categories with both verdicts (complete verifier): {len(cats) - len(one_sided)} of "
        f"{len(cats)}" + (f"; one-sided: {', '.join(one_sided)}" if one_sided else "")
    )
    for line in tally.wrong:
        print("WRONG:", line)
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main()
