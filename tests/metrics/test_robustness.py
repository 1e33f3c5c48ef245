import pytest

from mlrobust.errors import SoundnessError
from mlrobust.metrics.robustness import propagate_over_eps


def _cell(eps, verdict, label=0):
    return {"image": 0, "label": label, "eps": eps, "verdict": verdict}


def test_verified_flows_down_and_falsified_flows_up() -> None:
    cells = [
        _cell(0.01, "unknown"),
        _cell(0.02, "verified"),
        _cell(0.03, "unknown"),
        _cell(0.04, "falsified"),
        _cell(0.05, "unknown"),
        _cell(0.01, "unknown", label=1),
    ]
    out = {(c["label"], c["eps"]): c for c in propagate_over_eps(cells)}
    assert out[(0, 0.01)]["verdict"] == "verified" and out[(0, 0.01)]["inferred"]
    assert out[(0, 0.03)]["verdict"] == "unknown"
    assert out[(0, 0.05)]["verdict"] == "falsified" and out[(0, 0.05)]["inferred"]
    assert out[(1, 0.01)]["verdict"] == "unknown"
    assert "inferred" not in out[(0, 0.02)]
    assert cells[0]["verdict"] == "unknown"  # inputs are not modified


def test_verified_above_a_falsified_eps_is_a_soundness_error() -> None:
    with pytest.raises(SoundnessError, match="FALSIFIED"):
        propagate_over_eps([_cell(0.01, "falsified"), _cell(0.02, "verified")])
