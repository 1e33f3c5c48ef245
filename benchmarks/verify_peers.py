"""mlrobust's verifier beside NeuralSAT on the same VNN-COMP 2021 instances, in the same run.

    PYTHONPATH=. python benchmarks/verify_peers.py --nets 256x2 [--limit 5] [--timeout T]
    PYTHONPATH=. python benchmarks/verify_peers.py --nets 256x4 --part 1/2   # and 2/2 beside it

NeuralSAT (PyPI ``neuralsat``, runner-up of VNN-COMP 2025) installs a top-level package named
``src`` and pulls its own torch and torchvision, so it gets its own virtual environment,
created here on first use (``--venv``; several GB: its torch is the CUDA build). Both tools
run as subprocesses with one thread each (OMP/MKL threads 1; ours with ``--threads 1``) at the
instance's limit from the benchmark's instances CSV (``--timeout`` overrides it). Answers are
checked against the reference of ``benchmarks/verify_vnncomp.py`` (the 2021 consensus); the
table gives per network: decided, wrong, and the time ratio on the instances both decide.
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.verify_vnncomp import _key, instances, part_of, reference, tool_answers
from mlrobust.datasets import data_file

WORDS = {"sat": "violated", "unsat": "holds"}


def ensure_venv(venv: Path) -> Path:
    """NeuralSAT's own environment; returns the folder of its ``src/main.py``."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} and installing neuralsat (its own torch: several GB) ...")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "neuralsat"], check=True)
    out = subprocess.run(
        [str(python), "-c", "import src, os; print(os.path.dirname(src.__file__))"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip())


def run_ours(onnx: Path, spec: Path, limit: float) -> tuple[str, float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "mlrobust", "--threads", "1", "verify"]
    cmd += ["--onnx", str(onnx), "--vnnlib", str(spec), "--timeout", str(limit)]
    t0 = time.monotonic()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    words = out.stdout.split()
    return (words[0] if words else "error"), time.monotonic() - t0


def run_neuralsat(
    src: Path, python: Path, onnx: Path, spec: Path, limit: float
) -> tuple[str, float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.txt"
        cmd = [str(python), "main.py", "--net", str(onnx), "--spec", str(spec), "--device", "cpu"]
        cmd += ["--timeout", str(limit), "--verbosity", "0", "--result_file", str(result)]
        t0 = time.monotonic()
        # its own limit is checked between iterations: give it 30 s of grace, then stop it
        try:
            subprocess.run(cmd, cwd=src, env=env, capture_output=True, timeout=limit + 30)
        except subprocess.TimeoutExpired:
            return "timeout", time.monotonic() - t0
        seconds = time.monotonic() - t0
        status = result.read_text().split()[0].split(",")[0] if result.exists() else "error"
    return status.lower(), seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--benchmark", default="mnistfc")
    ap.add_argument("--nets", nargs="*", default=[], help="keep networks whose name contains")
    ap.add_argument("--props", nargs="*", default=[], help="keep properties whose name contains")
    ap.add_argument("--limit", type=int, default=0, help="first N instances per net (0: all)")
    ap.add_argument(
        "--part", type=part_of, default=(1, 1), help="K/N: every N-th instance from the K-th"
    )
    ap.add_argument("--timeout", type=float, default=0.0, help="override the CSV's limits")
    ap.add_argument("--venv", type=Path, default=Path("/tmp/mlrobust-neuralsat-venv"))
    args = ap.parse_args()
    part, parts = args.part
    src = ensure_venv(args.venv)
    python = args.venv / "bin" / "python"
    root = data_file("vnncomp2021", args.benchmark)
    ref = reference(args.benchmark, tool_answers(args.benchmark))
    by_net: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
    for row in instances(args.benchmark):
        nets_ok = not args.nets or any(n in row[0] for n in args.nets)
        if nets_ok and (not args.props or any(p in row[1] for p in args.props)):
            by_net[row[0]].append(row)
    print(f"{'net':<24} {'tool':<10} {'decided':>8} {'wrong':>6} {'both':>5} {'time ratio':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for net, rows in by_net.items():
            rows = (rows[: args.limit] if args.limit else rows)[part - 1 :: parts]
            runs: dict[str, list[tuple[str, float, str]]] = {"mlrobust": [], "neuralsat": []}
            for onnx_name, prop, csv_limit in rows:
                limit = args.timeout or csv_limit
                onnx = root / onnx_name.removeprefix("./")
                path = root / prop.removeprefix("./")
                gz = path if path.exists() else path.with_name(path.name + ".gz")
                spec = Path(tmp) / gz.name.removesuffix(".gz")  # NeuralSAT reads plain text
                spec.write_bytes(
                    gzip.decompress(gz.read_bytes()) if gz.suffix == ".gz" else gz.read_bytes()
                )
                want = ref.get(_key(onnx_name, prop), "")
                runs["mlrobust"].append((*run_ours(onnx, spec, limit), want))
                runs["neuralsat"].append((*run_neuralsat(src, python, onnx, spec, limit), want))
                (ours, ours_s, _), (theirs, theirs_s, _) = (r[-1] for r in runs.values())
                print(
                    f"  {Path(prop).stem:<28} expected {want or '?':<9} mlrobust {ours:<8} "
                    f"{ours_s:6.1f} s  neuralsat {theirs:<8} {theirs_s:6.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
            both = [i for i in range(len(rows)) if all(runs[t][i][0] in WORDS for t in runs)]
            for tool, res in runs.items():
                decided = sum(a in WORDS for a, _, _ in res)
                wrong = sum(
                    a in WORDS and want in WORDS.values() and WORDS[a] != want for a, _, want in res
                )
                ours_t = sum(runs["mlrobust"][i][1] for i in both)
                theirs_t = sum(runs["neuralsat"][i][1] for i in both)
                ratio = f"{theirs_t / ours_t:.2f}x" if tool == "neuralsat" and ours_t else ""
                print(
                    f"{Path(net).stem:<24} {tool:<10} {decided:>5}/{len(rows):<2} {wrong:>6} "
                    f"{len(both):>5} {ratio:>11}"
                )


if __name__ == "__main__":
    main()
