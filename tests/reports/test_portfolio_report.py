import base64
import re

import numpy as np
import pytest

from mlrobust.portfolio import Answer, ResultTable, summarize, to_matrix
from mlrobust.reports.portfolio import (
    cumulative_solved_figure,
    runtime_scatter_figure,
    top_pairs,
    write_png,
    write_portfolio_report,
)


@pytest.fixture
def m():
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        for v in ("alpha", "beta", "gamma"):
            t = float(rng.uniform(0.1, 120))
            a = Answer.HOLDS if t < 60 else Answer.UNKNOWN
            rows.append((f"i{i}", v, a, t))
    rows[0] = ("i0", "alpha", Answer.VIOLATED, 1.0)  # a conflict if beta or gamma says holds
    rows[1] = ("i0", "beta", Answer.HOLDS, 2.0)
    return to_matrix(ResultTable.from_rows(rows), time_limit=100.0)


def test_figures_show_one_curve_per_verifier_plus_vbs(m) -> None:
    fig = cumulative_solved_figure(m)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 4
    ys = [line.get_ydata() for line in ax.get_lines()]
    solved = m.solved.sum(0)
    # Each curve ends at its verifier's solved fraction; the VBS at the union's.
    assert [y[-1] for y in ys[:3]] == pytest.approx(list(solved / 40))
    assert ys[3][-1] == pytest.approx(m.solved.any(1).mean())
    sc = runtime_scatter_figure(m, "alpha", "beta").axes[0]
    points = sum(len(c.get_offsets()) for c in sc.collections)
    assert points == 40


def test_html_is_self_contained_and_flags_conflicts(m, tmp_path) -> None:
    s = summarize(m)
    files = write_portfolio_report(m, s, tmp_path / "rep", title="Test <portfolio>")
    page = files.html.read_text()
    assert "Test &lt;portfolio&gt;" in page  # escaped
    assert "CONFLICT: 1 instance" in page and "i0" in page
    assert not re.search(r'src="(?!data:)', page)  # no external resources
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 1 + len(top_pairs(s))
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert len(files.pngs) == len(images)
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in files.pngs)
    out = write_png(cumulative_solved_figure(m), tmp_path / "a" / "cdf.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
