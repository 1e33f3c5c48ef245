"""Branch-and-bound throughput of one verification on more cores: 1 and 2 torch threads, and
the search shared between 2 single-thread processes (same run).

    PYTHONPATH=. python benchmarks/bab_threads.py [--seconds 30] [--threads 1,2] [--processes 2]

One hard VNN-COMP 2021 mnistfc 256x4 clause (prop_9_0.03: undecided within 30 s, so the branch
and bound runs its whole share of the limit at each setting) is verified in a fresh subprocess
per setting; the branch and bound logs its domain count (summed over its processes) and
seconds, from which domains per second follow. Threads: the batched bound passes are torch
matrix products, so intra-op threads use more cores for one verification. ``--processes N``:
the verification's open domains are shared between N processes of one thread each
(``VerifierConfig.bab_processes``, :mod:`mlrobust.verify.bab_pool`; what ``mlrobust verify``
does with one process per ``--threads``), helpers' start-up included.
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
from mlrobust.verify.verifier import MILPVerifier, VerifierConfig
seen = {"domains": 0, "seconds": 0.0}
class Count(logging.Handler):
    def emit(self, rec):
        m = re.search(r"after (\\d+) domains, \\d+ open, ([\\d.]+) s", rec.getMessage())
        if m:
            seen["domains"] += int(m.group(1)); seen["seconds"] += float(m.group(2))
log = logging.getLogger("mlrobust.verify.bab"); log.setLevel(logging.DEBUG); log.addHandler(Count())
verifier = MILPVerifier(VerifierConfig(bab_processes=int(sys.argv[5])))
answer = verify_vnnlib(sys.argv[2], sys.argv[3], verifier, time_limit_s=float(sys.argv[4]))
print(json.dumps({"answer": answer.answer, **seen}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--prop", default="prop_9_0.03")
    ap.add_argument("--processes", type=int, default=2, help="< 2: skip the shared search")
    args = ap.parse_args()
    data = Path(os.environ.get("MLROBUST_DATA", "../shared/data")) / "vnncomp2021" / "mnistfc"
    net, prop = data / "mnist-net_256x4.onnx", data / f"{args.prop}.vnnlib.gz"
    print(f"mnistfc 256x4 {args.prop}, {args.seconds:g} s each, {os.cpu_count()} CPUs")
    rates = {}
    settings = [(f"{t} thread(s)", t, 1) for t in (int(x) for x in args.threads.split(","))]
    if args.processes > 1:
        settings.append((f"{args.processes} processes", 1, args.processes))
    for name, threads, processes in settings:
        row = _wait(_start(threads, processes, net, prop, args.seconds))
        rates[name] = row["domains"] / max(row["seconds"], 1e-9)
        print(
            f"{name:14s}: {row['answer']:<8} {row['domains']:>7} domains in "
            f"{row['seconds']:6.1f} s of branch and bound = {rates[name]:7.0f} domains/s"
        )
    first = next(iter(rates.values()))
    for name, r in rates.items():
        print(f"speed-up at {name}: {r / first:.2f}x")


def _start(
    threads: int, processes: int, net: Path, prop: Path, seconds: float
) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-c", CHILD, str(threads), str(net), str(prop), str(seconds)]
    cmd.append(str(processes))
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)


def _wait(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"benchmark child failed with exit code {proc.returncode}")
    return json.loads(out.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
