"""Several models side by side: read each report folder's ``results.json`` and write
``compare.html`` (self-contained), ``compare.csv`` and ``compare_robustness.png``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from mlrobust.errors import CorruptFileError, InputError
from mlrobust.metrics.robustness import SCHEMA_VERSION
from mlrobust.reports.evaluation import draw_robustness, fmt, style_robustness_axes, write_csv
from mlrobust.reports.figures import b64, new_figure, png_bytes, save

COMPARE_COLUMNS = (
    "model",
    "eps",
    "certified_accuracy",
    "empirical_accuracy",
    "unknown_gap",
    "verified",
    "falsified",
    "unknown",
    "best_FR_N",
)


def read_results(folder: str | Path) -> dict[str, Any]:
    """One report's ``results.json``, checked for its schema version."""
    path = Path(folder) / "results.json"
    if not path.is_file():
        raise InputError(
            f"No results.json in {folder}; run `mlrobust evaluate` for that model "
            "first (reports/<model-name>/)."
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CorruptFileError(f"{path}: invalid JSON ({exc.msg}, line {exc.lineno}).") from exc
    if data.get("schema") != "mlrobust.evaluation" or data.get("schema_version") != SCHEMA_VERSION:
        raise CorruptFileError(
            f"{path} is not an mlrobust evaluation result of schema version "
            f"{SCHEMA_VERSION}; re-run `mlrobust evaluate` to rewrite it."
        )
    return data


def comparison_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (model, eps): robust-accuracy bounds and the best attack's FR_N there."""
    rows = []
    for res in results:
        for r in res["robustness"]:
            frs = [
                a["FR_N"]
                for a in res["attack_table"]
                if a["eps"] == r["eps"] and a["FR_N"] is not None
            ]
            rows.append(
                {
                    "model": res["model"],
                    **{k: r[k] for k in COMPARE_COLUMNS[1:-1]},
                    "best_FR_N": max(frs) if frs else None,
                }
            )
    return rows


@dataclass(frozen=True)
class CompareFiles:
    html: Path
    csv: Path
    png: Path


_TEMPLATE = jinja2.Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mlrobust comparison</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}
td,th{border:1px solid #ccc;padding:.25em .55em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%}
</style></head><body>
<h1>Model comparison</h1>
<table><tr><th>model</th><th>rule</th><th>images</th>{% for k in clean_keys %}<th>{{ k }}</th>
{% endfor %}</tr>{% for r in results %}<tr><td>{{ r.model }}</td><td>{{ r.rule }}</td>
<td>{{ r.n_images }}</td>{% for k in clean_keys %}<td>{{ fmt(r.clean.get(k)) }}</td>{% endfor %}
</tr>{% endfor %}</table>
<h2>Certified (lower) and empirical (upper) robust accuracy</h2>
<figure><img id="plot-compare" alt="robust accuracy per model"
src="data:image/png;base64,{{ img }}"></figure>
<table><tr>{% for c in cols %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for c in cols %}<td>{{ fmt(row[c]) }}</td>{% endfor %}</tr>
{% endfor %}</table>
</body></html>
"""
)


def write_comparison(
    folders: list[str | Path], out: str | Path
) -> tuple[CompareFiles, list[dict[str, Any]]]:
    """Compare the reports in ``folders``; files go to ``out``."""
    if len(folders) < 1:
        raise InputError("Give at least one report folder to compare.")
    results = [read_results(f) for f in folders]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig = new_figure(10.5, 4.6)
    ax = fig.add_subplot()
    for k, res in enumerate(results):
        draw_robustness(ax, res["robustness"], color=f"C{k % 10}", label=res["model"])
    style_robustness_axes(ax, legend_fontsize="x-small", legend_outside=True)
    fig.tight_layout()
    png = png_bytes(fig)
    rows = comparison_rows(results)
    clean_keys = sorted({k for r in results for k in r["clean"]})
    html = out / "compare.html"
    html.write_text(
        _TEMPLATE.render(
            results=results,
            rows=rows,
            cols=COMPARE_COLUMNS,
            clean_keys=clean_keys,
            fmt=fmt,
            img=b64(png),
        ),
        encoding="utf-8",
    )
    files = CompareFiles(
        html,
        write_csv(out / "compare.csv", rows, COMPARE_COLUMNS),
        save(png, out / "compare_robustness.png"),
    )
    return files, rows
