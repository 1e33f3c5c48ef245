"""``mlrobust portfolio``: run verifier configurations over instances, analyse results."""

from __future__ import annotations

import gzip
import logging
from enum import Enum
from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from mlrobust.cli.common import console as common_console
from mlrobust.errors import MLRobustError
from mlrobust.portfolio import (
    Answer,
    Missing,
    ResultTable,
    against_reference,
    concat_tables,
    parallel_portfolio,
    parse_answer,
    read_assessment_results,
    read_consensus,
    read_instances,
    read_run_store,
    read_vnncomp_results,
    summarize,
    to_matrix,
)

app = typer.Typer(help="Verifier portfolios (paper 004): run configurations, analyse results.")
logger = logging.getLogger(__name__)
console = common_console


class Format(str, Enum):
    auto = "auto"
    vnncomp = "vnncomp"
    assessment = "assessment"
    store = "store"


def _fail(err: Exception) -> typer.Exit:
    console.print(f"[bold red]error:[/] {err}")
    return typer.Exit(2)


def _detect(path: Path) -> Format:
    if path.suffix in (".sqlite", ".db", ".sqlite3"):
        return Format.store
    if not path.exists():
        raise MLRobustError(f"Result file not found: {path}.")
    with gzip.open(path, "rt") if path.suffix == ".gz" else open(path) as fh:
        head = fh.readline()
    return Format.assessment if "ProblemId" in head or "Verifier" in head else Format.vnncomp


def _read(
    path: Path, fmt: Format, verdicts: dict[str, Answer], benchmarks: list[str]
) -> ResultTable:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.name.endswith((".csv", ".csv.gz")))
        if not files:
            raise MLRobustError(f"No .csv or .csv.gz result files in {path}.")
        return concat_tables([_read(f, fmt, verdicts, benchmarks) for f in files])
    fmt = _detect(path) if fmt is Format.auto else fmt
    if fmt is Format.store:
        return read_run_store(path)
    if fmt is Format.assessment:
        return read_assessment_results(path, verdicts=verdicts)
    return read_vnncomp_results(path, verdicts=verdicts, benchmarks=benchmarks or None)


def _parse_verdicts(items: list[str]) -> dict[str, Answer]:
    out = {}
    for item in items:
        text, _, word = item.rpartition("=")
        answer = parse_answer(word)
        if not text or answer is None:
            raise MLRobustError(
                f"--verdict {item!r}: expected TEXT=WORD with WORD one of holds, violated, "
                "unknown, error."
            )
        out[text] = answer
    return out


@app.command()
def analyze(
    sources: list[Path] = typer.Argument(
        ...,
        help="Result files or folders (VNN-COMP CSVs, paper-004 files, or a run store .sqlite).",
    ),
    fmt: Format = typer.Option(Format.auto, "--format", help="Input format."),
    time_limit: float = typer.Option(None, help="Time limit in seconds for every instance."),
    instances: list[Path] = typer.Option(
        [],
        "--instances",
        help="Instances CSV(s): per-instance limits; only these instances are analysed.",
    ),
    benchmark: list[str] = typer.Option([], help="Keep only these VNN-COMP benchmarks."),
    verdict: list[str] = typer.Option([], help="Map an extra verdict string: 'TEXT=holds'."),
    missing: Missing = typer.Option(Missing.RAISE, help="Missing (instance, verifier) runs."),
    portfolio: list[str] = typer.Option([], help="Parallel portfolio to evaluate: 'a,b'."),
    report: Path = typer.Option(None, help="Folder for the HTML report and PNG plots."),
    reference: Path = typer.Option(
        None,
        help="Reference answers to check every verifier "
        "against (VNN-COMP results/derived_consensus.csv).",
    ),
) -> None:
    """Solved counts, running times, marginal contributions, Shapley values, conflicts."""
    try:
        if not instances and time_limit is None:
            raise MLRobustError("Give --time-limit SECONDS or --instances CSV for the limits.")
        verdicts = _parse_verdicts(verdict)
        table = concat_tables([_read(p, fmt, verdicts, benchmark) for p in sources])
        limits: float | dict[str, float]
        if instances:
            specs = [s for f in instances for s in read_instances(f)]
            limits = {s.id: s.timeout for s in specs}
            keep = np.fromiter((i in limits for i in table.instance), bool, len(table))
            logger.info("Keeping %d of %d rows on the listed instances.", keep.sum(), len(table))
            table = table.select(keep)
            absent = set(limits) - set(table.instance)
            if absent:
                console.print(
                    f"[yellow]{len(absent)} listed instance(s) have no results at all "
                    f"(e.g. {sorted(absent)[0]}); they are left out.[/]"
                )
        else:
            limits = time_limit
        m = to_matrix(table, time_limit=limits, missing=missing)
        s = summarize(m)
        groups = [[x.strip() for x in p.split(",") if x.strip()] for p in portfolio]
        counts = [(g, parallel_portfolio(m, g).n_solved) for g in groups]
        check = against_reference(m, read_consensus(reference)) if reference else None
    except MLRobustError as err:
        raise _fail(err) from err
    out = Table(title=f"{s.n_instances} instances")
    for col in ("verifier", "solved", "avg time", "PAR2", "marginal", "relative", "Shapley"):
        out.add_column(col, justify="left" if col == "verifier" else "right")
    for r in s.rows():
        out.add_row(
            str(r["verifier"]),
            str(r["solved"]),
            f"{r['avg_time']:.1f}",
            f"{r['par2']:.1f}",
            str(r["mc_absolute"]),
            f"{r['mc_relative']:.3f}",
            f"{r['shapley']:.1f}",
        )
    out.add_row("virtual best", str(s.vbs.n_solved), f"{s.vbs.time.mean():.1f}", "", "", "", "")
    console.print(out)
    for g, n in counts:
        console.print(f"portfolio {' + '.join(g)} (budget split {len(g)} ways): {n} solved")
    if len(s.conflicts):
        console.print(
            f"[bold red]CONFLICT: {len(s.conflicts)} instance(s) reported both holds "
            "and violated:[/]"
        )
        for inst, h, v in s.conflicts.rows()[:20]:
            console.print(f"[red]  {inst}: holds {h} / violated {v}[/]")
    if check is not None:
        ref = Table(title=f"against the reference {reference.name}")
        for col in ("verifier", "agree", "CONTRADICT", "no reference"):
            ref.add_column(col, justify="left" if col == "verifier" else "right")
        for name, a, c, u in zip(
            check.verifiers, check.agree, check.contradict, check.unreferenced, strict=True
        ):
            ref.add_row(name, str(a), f"[bold red]{c}[/]" if c else "0", str(u))
        console.print(ref)
        for where, who, ans, want in check.conflicts[:20]:
            console.print(
                f"[red]  CONFLICT {where}: {who} says {ans.name.lower()}, reference "
                f"{want.name.lower()}[/]"
            )
    if report is not None:
        from mlrobust.reports.portfolio import write_portfolio_report

        files = write_portfolio_report(m, s, report, pairs=None)
        console.print(f"report: {files.html}")


@app.command()
def run(
    instances: list[Path] = typer.Option(..., "--instances", help="VNN-COMP instances CSV(s)."),
    config: list[str] = typer.Option(..., "--config", help="Verifier configuration name(s)."),
    store: Path = typer.Option(Path("runs/portfolio.sqlite"), help="SQLite result store."),
    memory_mb: int = typer.Option(4096, help="Memory (address space) limit per run in MiB."),
    jobs: int = typer.Option(1, help="Runs at a time."),
    executor: str = typer.Option(
        "pool", help="pool (threads here, one child each) or ray (each run a Ray task)"
    ),
    ray_address: str = typer.Option(
        "", help="Ray cluster to join (HOST:PORT, ray://HOST:PORT, auto); empty: local Ray"
    ),
    timeout: float = typer.Option(None, help="Override every instance's timeout (seconds)."),
    rerun_errors: bool = typer.Option(False, help="Run again pairs stored with an error."),
    stride: int = typer.Option(1, min=1, help="Keep every STRIDE-th instance of each CSV."),
    limit: int = typer.Option(None, min=1, help="Keep at most LIMIT instances of each CSV."),
) -> None:
    """Run configurations over instances, one subprocess per run; resumable. Configurations:
    bab, milp_highs, milp_gurobi, milp_plain, bounds_only, attack_only, and every registered
    verifier by its name (milp, crown, attack, plugins)."""
    from mlrobust.engine import make_executor
    from mlrobust.portfolio.runner import RunnerConfig, run_portfolio

    try:
        specs = [s for f in instances for s in read_instances(f)[::stride][:limit]]
        runner = RunnerConfig(
            memory_limit_mb=memory_mb, jobs=jobs, timeout=timeout, rerun_errors=rerun_errors
        )
        ex = make_executor(jobs, threads=True, kind=executor, address=ray_address)
        try:
            summary = run_portfolio(specs, config, store, config=runner, executor=ex)
        finally:
            ex.close()
    except MLRobustError as err:
        raise _fail(err) from err
    console.print(
        f"{len(summary.completed)} runs done, {summary.skipped} already stored in "
        f"{summary.store}. Analyse with: mlrobust portfolio analyze {summary.store} "
        + " ".join(f"--instances {f}" for f in instances)
    )
