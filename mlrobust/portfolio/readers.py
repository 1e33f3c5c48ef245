"""Readers of per-instance result files into a tidy :class:`ResultTable`.

Formats:

* VNN-COMP 2021 ``results_csv/<tool>.csv``: no header; ``benchmark, onnx, vnnlib,
  prepare_time, result, run_time``. Each benchmark block starts with an overhead run on
  ``test/test_tiny`` labelled with that benchmark's name, and the ``test`` benchmark itself only
  measures overhead: both are skipped by default.
* Paper 004 (JMLR repository, ``data/CPU/<DS>/<ds>_<eps>_<verifier>_results.csv.gz``): header
  ``ProblemId,Result,TotalTime``; the epsilon and verifier come from the file name.
* Paper 004 (preprint repositories, one file per category): columns ``Dataset, Epsilon, Network,
  Image, Result, TotalTime, Verifier`` among others.
* Our runner's store (see :mod:`mlrobust.portfolio.runner`).

Instance ids: VNN-COMP ``<benchmark>:<onnx>:<vnnlib>`` with paths relative to the benchmark folder
(no leading ``./``, no ``.gz``), the same id :func:`read_instances` gives, so our runs and the
competition's can be analysed together. Paper 004: ``<problem id>@<epsilon>`` (e.g.
``MNIST_P30_N10@0.012``).
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import posixpath
import re
import sqlite3
from collections.abc import Collection, Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlrobust.errors import CorruptFileError, DataNotFoundError, InputError
from mlrobust.portfolio.table import Answer, ResultTable, parse_answers

logger = logging.getLogger(__name__)


def _open_text(path: Path) -> io.StringIO:
    # Whole-file read: line-by-line reading through GzipFile costs more than the CSV parsing.
    if not path.exists():
        raise DataNotFoundError(f"Result file not found: {path}. Check the path.")
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise CorruptFileError(f"{path} is not a valid gzip file: {err}.") from err
    try:
        return io.StringIO(data.decode("utf-8-sig"), newline="")
    except UnicodeDecodeError as err:
        raise CorruptFileError(f"{path} is not UTF-8 text: {err}.") from err


def _times(texts: list[str], answers: np.ndarray, source: Path) -> np.ndarray:
    """Seconds as floats (blank: NaN). A malformed time is an error on a decisive answer; on a
    failed run it becomes NaN with a warning, since unsolved runs are costed at the limit."""
    try:  # fast path: every cell is a plain number
        return np.asarray(texts, dtype=np.float64)
    except ValueError:
        pass
    out = np.empty(len(texts))
    bad = []
    for k, text in enumerate(texts):
        try:
            out[k] = float(text) if text.strip() else np.nan
        except ValueError:
            out[k] = np.nan
            bad.append(k)
    if bad:
        decisive = [k for k in bad if answers[k] <= Answer.VIOLATED]
        if decisive:
            raise CorruptFileError(
                f"{source}: non-numeric time {texts[decisive[0]]!r} on a decisive answer (data "
                f"row {decisive[0] + 1}; {len(decisive)} such rows). Fix the file."
            )
        logger.warning(
            "%s: %d non-numeric time(s) on failed runs (e.g. %r) read as NaN.",
            source,
            len(bad),
            texts[bad[0]],
        )
    return out


def normalize_path(path: str, benchmark: str | None = None) -> str:
    """A path inside a benchmark as VNN-COMP files spell it in different places, made uniform:
    no ``./``, no ``benchmarks/<benchmark>/`` prefix, no ``.gz``, forward slashes."""
    p = posixpath.normpath(path.strip().replace("\\", "/"))
    if benchmark and p.startswith(f"benchmarks/{benchmark}/"):
        p = p[len(f"benchmarks/{benchmark}/") :]
    return p[:-3] if p.endswith(".gz") else p


def vnncomp_instance_id(benchmark: str, onnx: str, vnnlib: str) -> str:
    """The id of a VNN-COMP-style instance (shared by results readers and the runner)."""
    return f"{benchmark}:{normalize_path(onnx, benchmark)}:{normalize_path(vnnlib, benchmark)}"


def read_vnncomp_results(
    path: str | Path,
    *,
    verifier: str | None = None,
    benchmarks: Collection[str] | None = None,
    skip_overhead: bool = True,
    verdicts: Mapping[str, Answer] | None = None,
) -> ResultTable:
    """One VNN-COMP 2021 tool CSV. ``verifier`` defaults to the file stem (``nnenum.csv`` ->
    ``nnenum``); ``benchmarks`` keeps only those benchmark names; ``verdicts`` maps extra
    verdict strings."""
    path = Path(path)
    name = verifier or re.sub(r"\.csv(\.gz)?$", "", path.name)
    inst, results, times = [], [], []
    with _open_text(path) as fh:
        for line_no, row in enumerate(csv.reader(fh), 1):
            if not row or not "".join(row).strip():
                continue
            if len(row) < 6:
                raise CorruptFileError(
                    f"{path}:{line_no}: expected 6 columns (benchmark, onnx, vnnlib, "
                    f"prepare_time, result, run_time), got {len(row)}: {row}."
                )
            bench, onnx, vnnlib, _prep, result, run_time = (c.strip() for c in row[:6])
            if skip_overhead and (bench == "test" or "benchmarks/test/" in onnx):
                continue
            if benchmarks is not None and bench not in benchmarks:
                continue
            inst.append(vnncomp_instance_id(bench, onnx, vnnlib))
            results.append(result)
            times.append(run_time)
    answers = parse_answers(results, extra=verdicts, source=str(path))
    return ResultTable(
        instance=np.asarray(inst, dtype=object),
        verifier=np.full(len(inst), name, dtype=object),
        answer=answers,
        time=_times(times, answers, path),
    )


_JMLR_NAME = re.compile(r"^(?P<ds>[a-z0-9]+)_(?P<eps>\d+)_(?P<verifier>.+)_results\.csv(\.gz)?$")


def _eps_from_digits(digits: str) -> str:
    # The JMLR file names drop the decimal point: 0012 -> 0.012, 001 -> 0.01, 0025 -> 0.025.
    return f"{float(digits[0] + '.' + digits[1:]):g}"


def read_assessment_results(
    path: str | Path,
    *,
    verifier: str | None = None,
    networks: Collection[str] | None = None,
    verdicts: Mapping[str, Answer] | None = None,
) -> ResultTable:
    """One per-instance file of paper 004's data (either repository layout).

    ``networks`` keeps only problems on those network ids (e.g. the ReLU category from
    :func:`read_network_categories`); ``verdicts`` maps extra verdict strings (the GPU files
    contain ``unsat/sat``, which is deliberately not guessed).
    """
    path = Path(path)
    with _open_text(path) as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise CorruptFileError(f"{path} is empty; expected a header row.") from None
        rows = list(reader)
    short = [k for k, r in enumerate(rows) if len(r) != len(header)]
    if short:
        raise CorruptFileError(
            f"{path}: data row {short[0] + 1} has {len(rows[short[0]])} cells, the header "
            f"{len(header)} ({len(short)} such rows). Fix the file."
        )
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(header)
    col = {h: i for i, h in enumerate(header)}
    if {"ProblemId", "Result", "TotalTime"} <= col.keys():
        match = _JMLR_NAME.match(path.name)
        if match is None and verifier is None:
            raise InputError(
                f"Cannot tell verifier and epsilon from the file name {path.name!r} (expected "
                "<dataset>_<eps digits>_<verifier>_results.csv[.gz]); rename it."
            )
        eps = _eps_from_digits(match["eps"]) if match else "?"
        name = verifier or match["verifier"]  # type: ignore[index]
        pid, res, tim = col["ProblemId"], col["Result"], col["TotalTime"]
        problems = columns[pid]
        suffix = f"@{eps}"
        ids = [p + suffix for p in problems]
        nets = [p.rsplit("_", 1)[-1] for p in problems] if networks is not None else []
        verifiers = [name] * len(rows)
    elif {"Epsilon", "Network", "Image", "Result", "TotalTime", "Verifier"} <= col.keys():
        res, tim = col["Result"], col["TotalTime"]
        e, n, i, v = col["Epsilon"], col["Network"], col["Image"], col["Verifier"]
        ids, nets = [], []
        for r in rows:
            eps = f"{float(r[e]):g}"
            image, net = r[i].strip(), r[n].strip()
            # CPU files name the problem ("MNIST_P30_N10"); GPU files give an image index.
            ids.append(f"{image}@{eps}" if image.endswith("_" + net) else f"{net}:{image}@{eps}")
            nets.append(net)
        verifiers = [verifier or r[v] for r in rows]
    else:
        raise CorruptFileError(
            f"{path}: unknown layout, header {header}. Expected ProblemId,Result,TotalTime or "
            "Dataset,Epsilon,Network,Image,Result,TotalTime,Verifier."
        )
    if networks is not None:
        wanted = set(networks)
        keep = np.fromiter((n in wanted for n in nets), bool, len(nets))
    answers = parse_answers(columns[res], extra=verdicts, source=str(path))
    table = ResultTable(
        instance=np.asarray(ids, dtype=object),
        verifier=np.asarray(verifiers, dtype=object),
        answer=answers,
        time=_times(list(columns[tim]), answers, path),
    )
    return table if networks is None else table.select(keep)


def read_network_categories(path: str | Path) -> dict[str, str]:
    """Network id -> category (``Relu``, ``Relu+Maxpool``, ...) from paper 004's
    ``network_ids-*.csv`` (semicolon separated)."""
    path = Path(path)
    with _open_text(path) as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    if not rows or not {"network_id", "Category"} <= rows[0].keys():
        raise CorruptFileError(f"{path}: expected columns network_id and Category.")
    return {r["network_id"]: r["Category"] for r in rows}


@dataclass(frozen=True, kw_only=True)
class InstanceSpec:
    """One VNN-COMP-style instance: an ONNX network, a VNN-LIB property and a time limit."""

    id: str
    onnx: Path
    vnnlib: Path
    timeout: float


def _resolve(folder: Path, rel: str) -> Path:
    p = (folder / rel.strip()).resolve()
    if not p.exists() and Path(str(p) + ".gz").exists():
        return Path(str(p) + ".gz")  # our data copies store properties gzipped
    return p


def read_instances(path: str | Path, *, benchmark: str | None = None) -> list[InstanceSpec]:
    """A VNN-COMP instances CSV (``onnx, vnnlib, timeout``; no header). Relative paths resolve
    against the CSV's folder; ``benchmark`` (default: that folder's name) prefixes the ids."""
    path = Path(path)
    folder = path.resolve().parent
    bench = benchmark or folder.name
    specs = []
    with _open_text(path) as fh:
        for line_no, row in enumerate(csv.reader(fh), 1):
            if not row or not "".join(row).strip():
                continue
            if len(row) != 3:
                raise CorruptFileError(
                    f"{path}:{line_no}: expected 3 columns (onnx, vnnlib, timeout), got {row}."
                )
            try:
                timeout = float(row[2])
            except ValueError:
                raise CorruptFileError(
                    f"{path}:{line_no}: timeout {row[2]!r} is not a number."
                ) from None
            onnx, vnnlib = _resolve(folder, row[0]), _resolve(folder, row[1])
            for p in (onnx, vnnlib):
                if not p.exists():
                    raise DataNotFoundError(f"{path}:{line_no}: {p} does not exist.")
            specs.append(
                InstanceSpec(
                    id=vnncomp_instance_id(bench, row[0], row[1]),
                    onnx=onnx,
                    vnnlib=vnnlib,
                    timeout=timeout,
                )
            )
    if not specs:
        raise CorruptFileError(f"{path} lists no instances.")
    return specs


def read_run_store(path: str | Path) -> ResultTable:
    """The runs recorded by :func:`mlrobust.portfolio.runner.run_portfolio` in its store (also
    the ``runs`` table that stores written before the shared engine used)."""
    from mlrobust.engine.store import read_payloads

    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"Run store not found: {path}. Run `mlrobust portfolio run` first.")
    payloads = read_payloads(path, "run")
    if payloads is not None:
        rows = [(p["instance"], p["verifier"], p["answer"], p["time"]) for p in payloads.values()]
    else:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
            try:
                rows = con.execute("SELECT instance, verifier, answer, time FROM runs").fetchall()
            except sqlite3.DatabaseError as err:
                raise CorruptFileError(f"{path} is not a portfolio run store: {err}.") from err
    return ResultTable(
        instance=np.asarray([r[0] for r in rows], dtype=object),
        verifier=np.asarray([r[1] for r in rows], dtype=object),
        answer=parse_answers([r[2] for r in rows], source=str(path)),
        time=np.asarray([np.nan if r[3] is None else r[3] for r in rows], dtype=np.float64),
    )
