"""Branch-and-bound throughput of one verification at 1 and 2 torch threads (same run), and
of 2 single-thread processes side by side.

    PYTHONPATH=. python benchmarks/bab_threads.py [--seconds 30] [--threads 1,2] [--processes 2]

One hard VNN-COMP 2021 mnistfc 256x4 clause (prop_9_0.03: undecided within 30 s, so the branch
and bound runs the whole budget at each setting) is verified in a fresh subprocess per thread
count; the branch and bound logs its domain count and seconds, from which domains per second
follow. Batched bound passes are torch matrix products, so intra-op threads are the one knob
that uses more cores for a single verification; the printed ratio says how well it scales.
``--processes N``: N single-thread subprocesses run the same clause at once, and their summed
domains per second is what one process per sub-tree of the search could reach at best (sub-trees
share nothing while they are searched), against which the threads' ratio is compared.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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
    ap.add_argument("--processes", type=int, default=2, help="0: skip the process measurement")
    args = ap.parse_args()
    data = Path(os.environ.get("MLROBUST_DATA", "../shared/data")) / "vnncomp2021" / "mnistfc"
    net, prop = data / "mnist-net_256x4.onnx", data / f"{args.prop}.vnnlib.gz"
    print(f"mnistfc 256x4 {args.prop}, {args.seconds:g} s each, {os.cpu_count()} CPUs")
    rates = {}
    for t in (int(s) for s in args.threads.split(",")):
        row = _wait(_start(t, net, prop, args.seconds))
        rates[t] = row["domains"] / max(row["seconds"], 1e-9)
        print(
            f"{t} thread(s): {row['answer']:<8} {row['domains']:>7} domains in "
            f"{row['seconds']:6.1f} s of branch and bound = {rates[t]:7.0f} domains/s"
        )
    first = next(iter(rates.values()))
    for t, r in rates.items():
        print(f"speed-up at {t} thread(s): {r / first:.2f}x")
    if args.processes > 1:
        procs = [_start(1, net, prop, args.seconds) for _ in range(args.processes)]
        rows = [_wait(p) for p in procs]
        total = sum(r["domains"] / max(r["seconds"], 1e-9) for r in rows)
        print(
            f"{args.processes} processes x 1 thread at once: {total:7.0f} domains/s in all "
            f"= {total / first:.2f}x one thread"
        )


def _start(threads: int, net: Path, prop: Path, seconds: float) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-c", CHILD, str(threads), str(net), str(prop), str(seconds)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)


def _wait(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"benchmark child failed with exit code {proc.returncode}")
    return json.loads(out.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
