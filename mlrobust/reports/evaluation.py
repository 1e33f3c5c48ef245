"""The per-model evaluation report: ``index.html`` (self-contained: PNGs inlined, no network),
``results.json`` (versioned schema), CSV tables and the PNG plots, in one folder."""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from matplotlib.figure import Figure

from mlrobust.metrics.robustness import EvaluationResult, distance
from mlrobust.reports.figures import b64, new_figure, png_bytes, save

logger = logging.getLogger(__name__)

ATTACK_COLUMNS = ("attack", "size", "eps", "FR_N", "FR_S", "NT_R", "SSIM", "linf", "seconds")
SUMMARY_COLUMNS = (
    "eps",
    "certified_accuracy",
    "empirical_accuracy",
    "decided",
    "any_label_flipped",
    "best_attack",
    "FR_N",
    "FR_S",
    "NT_R",
    "layered_w_eps",
)
ROBUSTNESS_COLUMNS = (
    "eps",
    "cells",
    "verified",
    "falsified",
    "unknown",
    "certified_fraction",
    "not_falsified_fraction",
    "unknown_gap",
    "certified_accuracy",
    "empirical_accuracy",
)
CELL_COLUMNS = (
    "image",
    "eps",
    "label",
    "attack",
    "verifier",
    "verdict",
    "proven_bound",
    "attack_value",
)
#: UNKNOWN cells listed in the page (all of them are in cells.csv)
UNKNOWN_SHOWN = 30


#: marker and size per curve: identical curves (e.g. two attacks that both fool every image)
#: stay visible as nested markers instead of hiding each other
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def fooling_rate_figure(rows: Sequence[dict[str, Any]]) -> Figure:
    """FR_N (solid) and FR_S (dashed, when a graph was given) against eps, one curve per
    attack and |Omega| (paper 001 Figure 5). The y-axis ends a little above the largest rate."""
    fig = new_figure()
    ax = fig.add_subplot()
    series: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        series.setdefault((r["attack"], r["size"]), []).append(r)
    top = 0.0
    for k, ((attack, size), rs) in enumerate(sorted(series.items())):
        rs = sorted(rs, key=lambda r: r["eps"])
        eps = [r["eps"] for r in rs]
        style: dict[str, Any] = {
            "color": f"C{k % 10}",
            "markersize": max(11 - 1.5 * k, 3),
            "markerfacecolor": "none",
            "linewidth": max(2.4 - 0.3 * k, 0.8),
        }
        fr_n = [_num(r["FR_N"]) for r in rs]
        ax.plot(
            eps, fr_n, marker=_MARKERS[k % len(_MARKERS)], label=f"{attack}, |Ω|={size}", **style
        )
        values = fr_n
        if any(r.get("FR_S") is not None for r in rs):
            fr_s = [_num(r.get("FR_S")) for r in rs]
            ax.plot(
                eps,
                fr_s,
                marker=_MARKERS[k % len(_MARKERS)],
                linestyle="--",
                label=f"{attack}, |Ω|={size} (FR_S)",
                **style,
            )
            values = values + fr_s
        top = max([top, *(v for v in values if not math.isnan(v))])
    ax.set_xlabel("eps (l_inf, [0,1] pixels)")
    ax.set_ylabel("fooling rate FR_N")
    ax.set_ylim(-0.02 * max(top, 0.05), min(1.02, max(top, 0.05) * 1.15))
    ax.grid(True, alpha=0.3)
    if series:
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def robustness_figure(rows: Sequence[dict[str, Any]], *, label: str = "") -> Figure:
    """Certified (verified, lower bound) and empirical (not yet falsified, upper bound) robust
    accuracy against eps; the shaded band is the UNKNOWN gap."""
    fig = new_figure()
    ax = fig.add_subplot()
    draw_robustness(ax, rows, color="C0", label=label)
    style_robustness_axes(ax, legend_fontsize="small")
    fig.tight_layout()
    return fig


def style_robustness_axes(ax: Any, *, legend_fontsize: str, legend_outside: bool = False) -> None:
    """Axis labels, limits, grid and legend of a robust-accuracy-versus-eps plot
    (``legend_outside``: right of the axes, for plots with many curves)."""
    ax.set_xlabel("eps (l_inf, [0,1] pixels)")
    ax.set_ylabel("robust accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, alpha=0.3)
    if legend_outside:
        ax.legend(fontsize=legend_fontsize, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend(fontsize=legend_fontsize)


def draw_robustness(ax: Any, rows: Sequence[dict[str, Any]], *, color: str, label: str) -> None:
    rows = sorted(rows, key=lambda r: r["eps"])
    eps = [r["eps"] for r in rows]
    lo = [r["certified_accuracy"] for r in rows]
    hi = [r["empirical_accuracy"] for r in rows]
    prefix = f"{label}: " if label else ""
    ax.fill_between(eps, lo, hi, color=color, alpha=0.18, label=f"{prefix}UNKNOWN gap")
    ax.plot(
        eps,
        hi,
        marker="o",
        color=color,
        linestyle="--",
        label=f"{prefix}empirical (not falsified, upper bound)",
    )
    ax.plot(eps, lo, marker="s", color=color, label=f"{prefix}certified (verified, lower bound)")


def timing_figure(timing: dict[str, float]) -> Figure:
    """Seconds per component (horizontal bars, with the share of the total)."""
    fig = new_figure(6.4, 2.8)
    ax = fig.add_subplot()
    names = list(timing)
    vals = [timing[k] for k in names]
    total = sum(vals) or 1.0
    ax.barh(names, vals, color=[f"C{k}" for k in range(len(names))])
    for k, v in enumerate(vals):
        ax.text(v, k, f" {v:.1f} s ({100 * v / total:.0f}%)", va="center", fontsize="small")
    ax.set_xlabel("seconds (summed over workers)")
    ax.set_xlim(0, max(vals + [1e-3]) * 1.35)
    fig.tight_layout()
    return fig


def layered_figure(rows: Sequence[dict[str, Any]]) -> Figure:
    """Per image: the image in grey and every pixel coloured by its Chebyshev layer, one colour
    per layer with the layer's certified eps on the colour bar (a shared continuous scale lets
    the large outermost layer wash out the inner ones); the perturbed object outlined and
    w.eps in the title."""
    from matplotlib.colors import BoundaryNorm

    fig = new_figure(3.4 * len(rows) + 0.6, 3.0)
    axes = fig.subplots(1, len(rows), squeeze=False)[0]
    for ax, r in zip(axes, rows, strict=True):
        eps = np.asarray(r["eps"], dtype=float)
        layers = np.clip(np.asarray(r["layers"], dtype=int), 0, eps.size - 1)
        if r.get("pixels") is not None:
            ax.imshow(np.asarray(r["pixels"], dtype=float), cmap="gray", vmin=0, vmax=1)
        norm = BoundaryNorm(np.arange(eps.size + 1) - 0.5, 256)  # spread over viridis
        im = ax.imshow(layers, cmap="viridis", norm=norm, alpha=0.65)
        ax.contour(layers == 0, levels=[0.5], colors="white", linewidths=0.8)
        w_eps = f", w.eps {r['w_eps']:.3g}" if r.get("w_eps") is not None else ""
        ax.set_title(f"image {r['image']}, label {r['label']}{w_eps}", fontsize="small")
        ax.set_axis_off()
        step = max(1, eps.size // 8)  # at most ~8 labelled layers on the bar
        bar = fig.colorbar(im, ax=ax, shrink=0.8, ticks=np.arange(0, eps.size, step))
        bar.ax.set_yticklabels([f"{e:.3g}" for e in eps[::step]], fontsize="x-small")
        bar.set_label("certified eps per layer", fontsize="small")
    return fig


_ENV = jinja2.Environment(autoescape=True)
# table headers: "empirical accuracy" may wrap between its words, "empirical_accuracy" not
_ENV.filters["hd"] = lambda name: str(name).replace("_", " ")
_TEMPLATE = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mlrobust evaluation: {{ r.model }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}
td,th{border:1px solid #ccc;padding:.25em .55em;text-align:right}
th{background:#f3f3f3;max-width:7em}td:first-child,th:first-child{text-align:left}
.note{background:#fff6dd;border:1px solid #d9b84c;padding:.5em;margin:1em 0}
div.wide{overflow-x:auto}img{max-width:100%}figure{margin:1em 0}
pre{background:#f7f7f7;padding:.6em;overflow:auto}
</style></head><body>
<h1>Robustness report: {{ r.model }}</h1>
<p>Model <code>{{ r.model_ref }}</code>, decision rule <code>{{ r.rule }}</code>,
{{ r.n_images }} images, {{ r.label_names|length }} labels, eps grid {{ r.eps|join(", ") }}
(l<sub>∞</sub> on [0,1] pixels). <strong>{{ decided }} of {{ total }} cells decided
({{ "%.1f"|format(100 * decided / total if total else 0) }}%)</strong>: VERIFIED or
FALSIFIED; the rest UNKNOWN.</p>
{% for n in r.notes %}<div class="note">{{ n }}</div>{% endfor %}
{% if r.summary %}<h2>Summary</h2>
<p>Per eps: robust accuracy proven (certified, a lower bound) and not refuted by any attack
(empirical, an upper bound), the share of cells decided (VERIFIED or FALSIFIED), the share of
images with any label decision flipped by the per-cell falsifier, the attack with the highest
fooling rate and its FR_S and NT_R{% if r.summary[0].layered_w_eps is not none %},
and the mean certified layered w.eps over {{ r.layered|length }} image(s){% endif %}.
The cells attack every label decision of an image, FR_N one random target set Ω of the
attack table: with |Ω| = 1, FR_N above "any label flipped" means the table's attack found
witnesses the per-cell falsifier missed.</p>
<div class="wide"><table id="summary"><tr>
{% for c in sum_cols %}<th>{{ c|hd }}</th>{% endfor %}</tr>
{% for row in r.summary %}<tr>{% for c in sum_cols %}<td>{{ fmt(row[c]) }}</td>{% endfor %}
</tr>{% endfor %}</table></div>{% endif %}
<h2>Clean quality</h2>
<table><tr><th>images</th>{% for k in r.clean %}<th>{{ k|hd }}</th>{% endfor %}</tr>
{% if r.clean_full %}<tr><td>full {{ r.config.split }} split ({{ r.clean_full.images|int }})</td>
{% for k in r.clean %}<td>{{ fmt(r.clean_full[k]) }}</td>{% endfor %}</tr>{% endif %}
<tr><td>the {{ r.n_images }} evaluated</td>
{% for v in r.clean.values() %}<td>{{ fmt(v) }}</td>{% endfor %}</tr></table>
<h2>Certified versus empirical robustness</h2>
<p>Each (image, eps, property) cell is VERIFIED (a verifier proved it), FALSIFIED (an attack
witness, re-checked by a forward pass of the model) or UNKNOWN. A property is one label decision
of the clean prediction. An image counts as <em>certified</em> when all its cells are VERIFIED
(lower bound) and <em>not falsified</em> when none is FALSIFIED (upper bound); robust accuracy
also needs the clean prediction to be correct. The gap between them is UNKNOWN, never robust.</p>
<div class="wide"><table><tr>{% for c in rob_cols %}<th>{{ c|hd }}</th>{% endfor %}</tr>
{% for row in r.robustness %}<tr>{% for c in rob_cols %}<td>{{ fmt(row[c]) }}</td>{% endfor %}
</tr>{% endfor %}</table></div>
<figure><img id="plot-robustness" alt="certified vs empirical robust accuracy"
src="data:image/png;base64,{{ imgs.robustness }}"></figure>
{% if unknown %}<h2>UNKNOWN cells: how far from an answer</h2>
<p>A cell is VERIFIED once the proven upper bound of its property's value falls below 0 and
FALSIFIED once an attack reaches a value of 0 or more; the true maximum lies between the two
columns. Closest to an answer first (the {{ unknown|length }} of {{ n_unknown }} shown; all in
cells.csv).</p>
<table><tr><th>image</th><th>eps</th><th>label</th><th>best attack value</th>
<th>proven bound</th></tr>
{% for c in unknown %}<tr><td>{{ c.image }}</td><td>{{ fmt(c.eps) }}</td><td>{{ c.label }}</td>
<td>{{ fmt(c.attack_value) }}</td><td>{{ fmt(c.proven_bound) }}</td></tr>{% endfor %}
</table>{% endif %}
<h2>Attacks (paper 001 Table 1 style)</h2>
<p>FR_N: share of images whose whole target set Ω flipped; FR_S: successes whose prediction is
consistent with the label graph (only with a graph); NT_R: share of labels outside the target set
that changed (over successes); SSIM and l<sub>∞</sub> over successes.</p>
<table><tr>{% for c in att_cols %}<th>{{ c|hd }}</th>{% endfor %}</tr>
{% for row in r.attack_table %}<tr>{% for c in att_cols %}<td>{{ fmt(row.get(c)) }}</td>
{% endfor %}</tr>{% endfor %}</table>
{% if imgs.fooling %}<figure><img id="plot-fooling" alt="fooling rate vs eps"
src="data:image/png;base64,{{ imgs.fooling }}"></figure>{% endif %}
<h2>Layered epsilons</h2>
{% if imgs.layered %}<figure><img id="plot-layered" alt="layered epsilon heatmaps"
src="data:image/png;base64,{{ imgs.layered }}"><figcaption>Certified radius per pixel (the eps
of its Chebyshev layer around the perturbed object, outlined in white), over the image; each
image has its own colour scale.</figcaption></figure>
{% else %}<p>Not computed in this run.</p>{% endif %}
<h2>Time per component</h2>
<table><tr><th>component</th><th>seconds</th></tr>
{% for k, v in r.timing.items() %}<tr><td>{{ k }}</td><td>{{ fmt(v) }}</td></tr>{% endfor %}
</table>
<figure><img id="plot-timing" alt="time per component"
src="data:image/png;base64,{{ imgs.timing }}"></figure>
<h2>Configuration</h2><pre>{{ config }}</pre>
<h2>Versions</h2><table>{% for k, v in r.versions.items() %}<tr><td>{{ k }}</td>
<td>{{ v }}</td></tr>{% endfor %}</table>
<p>Machine-readable: <code>results.json</code> (schema {{ schema }}), CSV tables beside this
file.</p>
</body></html>
"""
)


def fmt(value: Any) -> str:
    """One spelling for "no value" in every table: a dash, whether the metric is missing
    (None: no label graph) or a mean over no successes (nan)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _num(v: Any) -> float:
    return math.nan if v is None else float(v)


def write_csv(path: Path, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for r in rows:
            w.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
    return path


def write_evaluation_report(result: EvaluationResult, folder: str | Path) -> tuple[Path, ...]:
    """Write every file of one model's report; returns their paths (``index.html`` first).
    The time spent here is recorded as the "reporting" component before the files are written."""
    t0 = time.perf_counter()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pngs: dict[str, bytes] = {
        "robustness": png_bytes(robustness_figure(result.robustness)),
    }
    if result.attack_table:
        pngs["fooling"] = png_bytes(fooling_rate_figure(result.attack_table))
    if result.layered:
        pngs["layered"] = png_bytes(layered_figure(result.layered))
    result.timing["reporting"] = time.perf_counter() - t0
    pngs["timing"] = png_bytes(timing_figure(result.timing))
    names = {
        "robustness": "robustness_vs_eps.png",
        "fooling": "fooling_rate_vs_eps.png",
        "layered": "layered_heatmaps.png",
        "timing": "timing.png",
    }
    files = [save(data, folder / names[k]) for k, data in pngs.items()]
    files += [
        write_csv(folder / "attack_table.csv", result.attack_table, ATTACK_COLUMNS),
        write_csv(folder / "robustness.csv", result.robustness, ROBUSTNESS_COLUMNS),
        write_csv(folder / "cells.csv", result.cells, CELL_COLUMNS),
        write_csv(
            folder / "timing.csv",
            [{"component": k, "seconds": v} for k, v in result.timing.items()],
            ("component", "seconds"),
        ),
    ]
    (folder / "results.json").write_text(
        json.dumps(json_safe(result.to_json()), indent=1, allow_nan=False), encoding="utf-8"
    )
    unknown = sorted((c for c in result.cells if c["verdict"] == "unknown"), key=distance)
    page = _TEMPLATE.render(
        r=result,
        fmt=fmt,
        rob_cols=ROBUSTNESS_COLUMNS,
        att_cols=ATTACK_COLUMNS,
        sum_cols=SUMMARY_COLUMNS,
        unknown=unknown[:UNKNOWN_SHOWN],
        decided=sum(r["verified"] + r["falsified"] for r in result.robustness),
        total=sum(r["cells"] for r in result.robustness),
        n_unknown=len(unknown),
        imgs={k: b64(v) for k, v in pngs.items()},
        schema=result.to_json()["schema_version"],
        config=json.dumps(result.config, indent=1),
    )
    html = folder / "index.html"
    html.write_text(page, encoding="utf-8")
    logger.info("Wrote %s", html)
    return (html, folder / "results.json", *files)


def json_safe(value: Any) -> Any:
    """NaN/inf become null (strict JSON: browsers' JSON.parse rejects NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
