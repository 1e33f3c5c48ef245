"""Branch-and-bound throughput of one verification at 1 and 2 torch threads (same run).

    PYTHONPATH=. python benchmarks/bab_threads.py [--seconds 30] [--threads 1,2]

One hard VNN-COMP 2021 mnistfc 256x4 clause (prop_9_0.03: undecided within 30 s, so the branch
and bound runs the whole budget at each setting) is verified in a fresh subprocess per thread
count; the branch and bound logs its domain count and seconds, from which domains per second
follow. Batched bound passes are torch matrix products, so intra-op threads are the one knob
that uses more cores for a single verification; the printed ratio says how well it scales.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, logging, re, sys, torch
torch.set_num_threads(int(sys.argv[1]))
from mlrobust.verify.api import verify_vnnlib
seen = {"domains": 0, "seconds": 0.0}
class Count(logging.Handler):
    def emit(self, rec):
        m = re.search(r"after (\\d+) domains, \\d+ open, ([\\d.]+) s", rec.getMessage())
        if m:
            seen["domains"] += int(m.group(1)); seen["seconds"] += float(m.group(2))
log = logging.getLogger("mlrobust.verify.bab"); log.setLevel(logging.DEBUG); log.addHandler(Count())
answer = verify_vnnlib(sys.argv[2], sys.argv[3], time_limit_s=float(sys.argv[4]))
print(json.dumps({"answer": answer.answer, **seen}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--prop", default="prop_9_0.03")
    args = ap.parse_args()
    data = Path(os.environ.get("MLROBUST_DATA", "../shared/data")) / "vnncomp2021" / "mnistfc"
    net, prop = data / "mnist-net_256x4.onnx", data / f"{args.prop}.vnnlib.gz"
    print(f"mnistfc 256x4 {args.prop}, {args.seconds:g} s each, {os.cpu_count()} CPUs")
    rates = {}
    for t in (int(s) for s in args.threads.split(",")):
        env = {**os.environ, "OMP_NUM_THREADS": str(t), "MKL_NUM_THREADS": str(t)}
        cmd = [sys.executable, "-c", CHILD, str(t), str(net), str(prop), str(args.seconds)]
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        rates[t] = row["domains"] / max(row["seconds"], 1e-9)
        print(
            f"{t} thread(s): {row['answer']:<8} {row['domains']:>7} domains in "
            f"{row['seconds']:6.1f} s of branch and bound = {rates[t]:7.0f} domains/s"
        )
    first = next(iter(rates.values()))
    for t, r in rates.items():
        print(f"speed-up at {t} thread(s): {r / first:.2f}x")


if __name__ == "__main__":
    main()
