"""Portfolio report: cumulative solved-versus-time curves (paper 004 Fig. 2), pairwise runtime
scatter plots (Fig. 1), PNG files and one self-contained offline HTML page (images inlined)."""

from __future__ import annotations

import base64
import html
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import jinja2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mlrobust.portfolio import (
    PerformanceMatrix,
    PortfolioSummary,
    parallel_portfolio,
)

logger = logging.getLogger(__name__)


def cumulative_solved_figure(m: PerformanceMatrix, *, include_vbs: bool = True) -> Figure:
    """Fraction of instances solved within t seconds, one step curve per verifier (log time)."""
    fig = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    n = len(m.instances)
    curves = [(str(v), m.time[:, j][m.solved[:, j]]) for j, v in enumerate(m.verifiers)]
    if include_vbs:
        t = np.where(m.solved, m.time, np.inf).min(1)
        curves.append(("virtual best", t[np.isfinite(t)]))
    lo = max(min((c.min() for _, c in curves if c.size), default=1e-2), 1e-3)
    # More than ten curves: tab20 so that no two verifiers share a colour.
    palette = [f"C{k}" for k in range(10)] if len(curves) <= 11 else _tab20()
    for k, (name, times) in enumerate(curves):
        times = np.sort(np.maximum(times, lo))
        vbs = name == "virtual best"
        ax.step(
            np.r_[lo, times],
            np.r_[0, np.arange(1, times.size + 1)] / n,
            where="post",
            label=f"{name} ({times.size})",
            color="black" if vbs else palette[k % len(palette)],
            linestyle="--" if vbs else "-",
        )
    ax.set_xscale("log")
    ax.set_xlim(lo, float(m.limit.max()))
    ax.set_ylim(0, 1)
    ax.set_xlabel("running time [s]")
    ax.set_ylabel("fraction of instances solved")
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def _tab20() -> list[tuple[float, ...]]:
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    return [tuple(cmap(k / 19)) for k in range(20)]


def runtime_scatter_figure(m: PerformanceMatrix, a: str, b: str) -> Figure:
    """Per-instance running time of ``a`` against ``b``; unsolved runs sit at the limit."""
    ja, jb = m.verifier_index([a, b])
    fig = Figure(figsize=(4.6, 4.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    t = m.capped_time()
    lo = max(float(np.nanmin(t)) if t.size else 1e-2, 1e-3)
    top = float(m.limit.max())
    x, y = np.maximum(t[:, ja], lo), np.maximum(t[:, jb], lo)
    both = m.solved[:, ja] & m.solved[:, jb]
    ax.scatter(x[both], y[both], s=6, alpha=0.5, label="both solved")
    ax.scatter(x[~both], y[~both], s=6, alpha=0.5, marker="x", label="at most one solved")
    ax.plot([lo, top], [lo, top], color="grey", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, top * 1.5)
    ax.set_ylim(lo, top * 1.5)
    ax.set_xlabel(f"{a} running time [s]")
    ax.set_ylabel(f"{b} running time [s]")
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def write_png(fig: Figure, path: str | Path) -> Path:
    """Save one figure as PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_png(fig))
    return path


def top_pairs(summary: PortfolioSummary, k: int = 3) -> list[tuple[str, str]]:
    """Pairs among the ``k`` verifiers with the largest Shapley values (the paper's Fig. 1)."""
    order = np.argsort(-summary.shapley, kind="stable")[:k]
    best = [summary.verifiers[i] for i in order]
    return list(combinations(best, 2))


@dataclass(frozen=True, kw_only=True)
class ReportFiles:
    html: Path
    pngs: tuple[Path, ...]


_TEMPLATE = jinja2.Template(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.conflict{background:#fde2e2;border:2px solid #c00;padding:.8em;margin:1em 0}
.ok{background:#e6f4e6;border:1px solid #393;padding:.5em;margin:1em 0}
img{max-width:100%}
</style></head><body>
<h1>{{ title }}</h1>
<p>{{ s.n_instances }} instances, {{ s.verifiers|length }} verifiers. Solved = holds or violated
within the instance's time limit. Average time counts unsolved runs at the limit; PAR2 at twice
the limit. Marginal contribution (eq. 1) = instances only this verifier solved; Shapley value
(eq. 2) of the game "instances solved by some member".</p>
{% if conflicts %}
<div class="conflict"><strong>CONFLICT: {{ conflicts|length }} instance(s) were reported both
holds and violated.</strong> At least one verifier is wrong on each; they are counted as solved
for both sides and not resolved here.
<table><tr><th>instance</th><th>holds</th><th>violated</th></tr>
{% for inst, h, v in conflicts[:200] %}<tr><td>{{ inst }}</td><td>{{ h|join(", ") }}</td>
<td>{{ v|join(", ") }}</td></tr>{% endfor %}</table>
{% if conflicts|length > 200 %}<p>... and {{ conflicts|length - 200 }} more.</p>{% endif %}</div>
{% else %}<div class="ok">No holds-versus-violated conflicts.</div>{% endif %}
<h2>Per verifier</h2>
<table><tr><th>verifier</th><th>solved</th><th>avg time [s]</th><th>avg time, solvable [s]</th>
<th>PAR2 [s]</th><th>marginal</th><th>relative marginal</th><th>Shapley</th></tr>
{% for r in rows %}<tr><td>{{ r.verifier }}</td><td>{{ r.solved }}</td>
<td>{{ "%.1f"|format(r.avg_time) }}</td><td>{{ "%.1f"|format(r.avg_time_solvable) }}</td>
<td>{{ "%.1f"|format(r.par2) }}</td><td>{{ r.mc_absolute }}</td>
<td>{{ "%.3f"|format(r.mc_relative) }}</td><td>{{ "%.1f"|format(r.shapley) }}</td></tr>{% endfor %}
<tr><td><em>virtual best</em></td><td>{{ s.vbs.n_solved }}</td>
<td>{{ "%.1f"|format(vbs_time) }}</td><td colspan="5"></td></tr></table>
{% if portfolios %}<h2>Parallel portfolios (budget split evenly)</h2>
<table><tr><th>members</th><th>solved</th></tr>
{% for name, n in portfolios %}<tr><td>{{ name }}</td><td>{{ n }}</td></tr>{% endfor %}
</table>{% endif %}
<h2>Solved versus time</h2><img alt="cumulative solved" src="data:image/png;base64,{{ cdf }}">
{% if scatters %}<h2>Pairwise running times</h2>
{% for name, img in scatters %}<figure><img alt="{{ name }}" src="data:image/png;base64,{{ img }}">
<figcaption>{{ name }}</figcaption></figure>{% endfor %}{% endif %}
</body></html>
""",
    autoescape=True,
)


def write_portfolio_report(
    m: PerformanceMatrix,
    summary: PortfolioSummary,
    folder: str | Path,
    *,
    title: str = "Verifier portfolio",
    pairs: Sequence[tuple[str, str]] | None = None,
) -> ReportFiles:
    """Write ``portfolio.html`` (self-contained) plus the PNGs it shows into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pairs = list(pairs) if pairs is not None else top_pairs(summary)
    cdf = _png(cumulative_solved_figure(m))
    pngs = [folder / "solved_vs_time.png"]
    pngs[0].write_bytes(cdf)
    scatters = []
    for a, b in pairs:
        img = _png(runtime_scatter_figure(m, a, b))
        path = folder / f"scatter_{_safe(a)}_vs_{_safe(b)}.png"
        path.write_bytes(img)
        pngs.append(path)
        scatters.append((f"{a} vs {b}", base64.b64encode(img).decode()))
    portfolios = [(" + ".join(p), parallel_portfolio(m, p).n_solved) for p in pairs]
    page = _TEMPLATE.render(
        title=title,
        s=summary,
        rows=summary.rows(),
        vbs_time=float(summary.vbs.time.mean()) if summary.n_instances else float("nan"),
        conflicts=summary.conflicts.rows(),
        portfolios=portfolios,
        cdf=base64.b64encode(cdf).decode(),
        scatters=scatters,
    )
    out = folder / "portfolio.html"
    out.write_text(page, encoding="utf-8")
    logger.info("Wrote %s", out)
    return ReportFiles(html=out, pngs=tuple(pngs))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in html.unescape(name))
