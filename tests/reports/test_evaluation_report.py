"""The evaluation and comparison reports: files, strict JSON, and a real browser rendering."""

from __future__ import annotations

import base64
import csv
import json
import math
from pathlib import Path

import pytest

from mlrobust.errors import CorruptFileError, InputError
from mlrobust.metrics.robustness import EvaluationResult, robustness_rows
from mlrobust.reports.compare import write_comparison
from mlrobust.reports.evaluation import write_evaluation_report
from tests.reports.browser import colour_pixels, load_page

C0, C1, C2 = (31, 119, 180), (255, 127, 14), (44, 160, 44)  # matplotlib's first colours


def _result(name: str = "m", layered: bool = True) -> EvaluationResult:
    eps = (0.01, 0.02)
    cells = [
        {"image": i, "eps": e, "label": c, "attack": a, "verifier": v, "verdict": d}
        for e, rows in zip(
            eps,
            [
                [("unknown", "verified", "verified")] * 4,
                [
                    ("falsified", None, "falsified"),
                    ("unknown", "unknown", "unknown"),
                    ("unknown", "verified", "verified"),
                    ("unknown", "verified", "verified"),
                ],
            ],
            strict=True,
        )
        for i, (a, v, d) in enumerate(rows)
        for c in (0,)
    ]
    rob = robustness_rows(cells, eps, 4, [True, True, True, False])
    attacks = tuple(
        {
            "attack": "mla-u",
            "size": 1,
            "eps": e,
            "FR_N": fr,
            "FR_S": None,
            "NT_R": math.nan,
            "SSIM": 0.9,
            "linf": e,
            "seconds": 0.1,
        }
        for e, fr in zip(eps, (0.0, 0.5), strict=True)
    )
    lay = (
        (
            {
                "image": 0,
                "label": 1,
                "eps": [0.05, 0.02, 0.01],
                "layers": [[min(abs(r - 2), 2) for _ in range(6)] for r in range(6)],
                "verdict": "verified",
                "seconds": 1.0,
            },
        )
        if layered
        else None
    )
    return EvaluationResult(
        model=name,
        model_ref=name,
        rule="topk:2",
        label_names=("a", "b", "c"),
        n_images=4,
        eps=eps,
        clean={"subset_accuracy": 0.75, "mAP": math.nan},
        attack_table=attacks,
        robustness=tuple(rob),
        cells=tuple(cells),
        timing={"attacks": 2.0, "bounds": 1.0, "milp": 3.0, "verifier_other": 0.5},
        config={"models": [name]},
        versions={"python": "3"},
        layered=lay,
    )


def test_robustness_bounds_by_hand() -> None:
    rob = _result().robustness
    assert rob[0]["certified_fraction"] == 1.0 and rob[0]["not_falsified_fraction"] == 1.0
    assert rob[0]["certified_accuracy"] == 0.75  # image 3 is wrong on the clean input
    assert rob[1]["certified_fraction"] == 0.5 and rob[1]["not_falsified_fraction"] == 0.75
    assert rob[1]["unknown_gap"] == 0.25
    assert (rob[1]["verified"], rob[1]["falsified"], rob[1]["unknown"]) == (2, 1, 1)


def test_files_and_strict_json(tmp_path: Path) -> None:
    files = write_evaluation_report(_result(), tmp_path)
    assert files[0].name == "index.html"
    text = (tmp_path / "results.json").read_text()
    assert "NaN" not in text  # browsers' JSON.parse rejects NaN
    data = json.loads(text)
    assert data["schema_version"] == 1 and data["clean"]["mAP"] is None
    assert data["timing"]["reporting"] > 0
    with (tmp_path / "attack_table.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["FR_N"] for r in rows] == ["0.0", "0.5"]
    html = (tmp_path / "index.html").read_text()
    assert "http://" not in html and "https://" not in html  # opens offline
    for img in ("plot-robustness", "plot-fooling", "plot-layered", "plot-timing"):
        assert f'id="{img}"' in html
    for png in ("robustness_vs_eps.png", "fooling_rate_vs_eps.png", "layered_heatmaps.png"):
        assert base64.b64encode((tmp_path / png).read_bytes()).decode()[:200] in html


def test_report_renders_in_chromium(tmp_path: Path) -> None:
    write_evaluation_report(_result(), tmp_path)
    page = load_page(tmp_path / "index.html", tmp_path / "shot.png")
    assert page.console == []
    # the plots are drawn: their line/bar colours appear (text and tables are grey/black)
    for colour in (C0, C1, C2):
        assert colour_pixels(page.screenshot, colour) > 300, colour


def test_browser_check_detects_errors_and_blank_plots(tmp_path: Path) -> None:
    """Negative control: a script error is seen, and a broken image gives no plot colours."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<html><body><img src="data:image/png;base64,AAAA">'
        "<script>console.error('boom')</script></body></html>"
    )
    page = load_page(bad, tmp_path / "bad.png", height=800)
    assert any("boom" in line for line in page.console)
    assert colour_pixels(page.screenshot, C0) == 0


def test_compare_page(tmp_path: Path) -> None:
    write_evaluation_report(_result("none"), tmp_path / "none")
    write_evaluation_report(_result("pgd", layered=False), tmp_path / "pgd")
    files, rows = write_comparison([tmp_path / "none", tmp_path / "pgd"], tmp_path / "cmp")
    assert [r["model"] for r in rows] == ["none", "none", "pgd", "pgd"]
    assert rows[1]["best_FR_N"] == 0.5
    page = load_page(files.html, tmp_path / "cmp.png", height=1400)
    assert page.console == []
    # two models, two eps: short lines, so fewer pixels than the single-model page
    assert colour_pixels(page.screenshot, C0) > 100 and colour_pixels(page.screenshot, C1) > 100


def test_compare_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="No results.json"):
        write_comparison([tmp_path], tmp_path / "out")
    (tmp_path / "results.json").write_text('{"schema": "other"}')
    with pytest.raises(CorruptFileError, match="schema version 1"):
        write_comparison([tmp_path], tmp_path / "out")


def test_summary_table_by_hand(tmp_path: Path) -> None:
    from dataclasses import replace

    from mlrobust.metrics.robustness import summary_rows

    base = _result()
    lay = ({**base.layered[0], "w_eps": 0.08}, {**base.layered[0], "w_eps": 0.04})  # type: ignore[index]
    attacks = (*base.attack_table, {**base.attack_table[1], "attack": "mla-c", "FR_N": 0.75})
    rows = summary_rows(base.robustness, attacks, lay)
    assert [r["eps"] for r in rows] == [0.01, 0.02]
    # eps 0.02: 2 verified + 1 falsified of 4 cells decided; mla-c has the best FR_N there
    assert rows[1]["decided"] == 0.75 and rows[1]["best_attack"] == "mla-c |Ω|=1"
    assert rows[1]["FR_N"] == 0.75 and rows[0]["decided"] == 1.0
    assert rows[1]["certified_accuracy"] == base.robustness[1]["certified_accuracy"]
    assert rows[0]["layered_w_eps"] == pytest.approx(0.06)
    result = replace(
        base,
        summary=tuple(rows),
        clean_full={"images": 300.0, "subset_accuracy": 0.9, "mAP": 0.95},
        config={"models": ["m"], "split": "test"},
    )
    write_evaluation_report(result, tmp_path)
    html = (tmp_path / "index.html").read_text()
    assert html.index('id="summary"') < html.index("Clean quality")  # at the top
    assert "7 of 8 cells decided\n(87.5%)" in html  # the decided share, first thing on the page
    assert "full test split (300)" in html and "the 4 evaluated" in html
    assert ">nan<" not in html  # empty metrics are a dash everywhere


def test_unknown_cells_show_their_distance_to_an_answer(tmp_path: Path) -> None:
    from dataclasses import replace

    from mlrobust.metrics.robustness import distance

    near = {"attack_value": -0.01, "proven_bound": 2.0}  # the attack almost flipped it
    far = {"attack_value": -3.0, "proven_bound": 0.5}  # the proof lacks 0.5
    assert distance(near) == pytest.approx(0.01) and distance(far) == 0.5
    assert distance({"attack_value": -1.0, "proven_bound": None}) == 1.0  # no verifier ran
    base = _result()
    cells = tuple({**c, **near} if c["verdict"] == "unknown" else c for c in base.cells)
    write_evaluation_report(replace(base, cells=cells), tmp_path)
    html = (tmp_path / "index.html").read_text()
    assert "how far from an answer" in html and "<td>-0.01</td>" in html
    with (tmp_path / "cells.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["verdict"] == "unknown"]
    assert rows and all(r["proven_bound"] and r["attack_value"] for r in rows)


def test_summary_reconciles_cells_with_fr_n() -> None:
    from mlrobust.metrics.robustness import summary_rows

    base = _result()
    rows = summary_rows(base.robustness, base.attack_table, base.layered)
    # eps 0.02: image 0 has a falsified cell -> 1 of 4 images with a flipped label
    assert [r["any_label_flipped"] for r in rows] == [0.0, 0.25]


def test_fooling_axis_fits_the_rates_and_equal_curves_stay_visible() -> None:
    from mlrobust.reports.evaluation import fooling_rate_figure

    rows = [
        {"attack": a, "size": 1, "eps": e, "FR_N": fr, "FR_S": None}
        for a in ("mla-u", "mla-c")
        for e, fr in ((0.01, 0.1), (0.02, 0.25))
    ]
    ax = fooling_rate_figure(rows).axes[0]
    assert 0.25 < ax.get_ylim()[1] < 0.35  # not 0..1 for rates <= 0.25
    first, second = ax.get_lines()
    assert list(first.get_ydata()) == list(second.get_ydata())  # the same curve twice ...
    assert first.get_marker() != second.get_marker()  # ... told apart by marker and size
    assert first.get_markersize() > second.get_markersize()


def test_layered_heatmaps_scale_per_image_over_the_picture() -> None:
    from mlrobust.reports.evaluation import layered_figure

    row = _result().layered[0]  # type: ignore[index]
    small = {**row, "eps": [0.002, 0.001, 0.0005], "w_eps": 0.0012, "pixels": [[0.5] * 6] * 6}
    fig = layered_figure([{**row, "w_eps": 0.03, "pixels": [[0.2] * 6] * 6}, small])
    axes = [ax for ax in fig.axes if ax.get_images()]
    assert len(axes) == 2
    # per image: the picture under the heatmap, one colour per layer (inner layers stay
    # visible next to a large outer one) labelled with its eps, w.eps in the title
    assert all(len(ax.get_images()) == 2 for ax in axes)
    heat = axes[1].get_images()[1]
    assert heat.norm.boundaries.tolist() == [-0.5, 0.5, 1.5, 2.5]  # one band per layer
    bars = [a for a in fig.axes if not a.get_images() and a.get_yticklabels()]
    assert [t.get_text() for t in bars[1].get_yticklabels()] == ["0.002", "0.001", "0.0005"]
    assert "w.eps 0.0012" in axes[1].get_title()


def test_tables_fit_the_page_and_compare_legend_sits_beside_the_plot(tmp_path: Path) -> None:
    import re

    write_evaluation_report(_result(), tmp_path / "m")
    html = (tmp_path / "m" / "index.html").read_text()
    headers = re.findall(r"<th>([^<]*)</th>", html)
    assert "empirical accuracy" in headers and not [h for h in headers if "_" in h]

    from mlrobust.reports import compare

    captured = {}
    original = compare.style_robustness_axes

    def spy(ax, **kw):  # noqa: ANN001, ANN003
        original(ax, **kw)
        captured["ax"] = ax

    compare.style_robustness_axes = spy  # type: ignore[assignment]
    try:
        write_comparison([tmp_path / "m"], tmp_path / "cmp")
    finally:
        compare.style_robustness_axes = original  # type: ignore[assignment]
    ax = captured["ax"]
    renderer = ax.figure.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    assert legend.x0 >= ax.get_window_extent(renderer).x1  # the legend covers no data
