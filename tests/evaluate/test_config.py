from __future__ import annotations

from pathlib import Path

import pytest

from mlrobust.errors import CorruptFileError, InputError
from mlrobust.evaluate import EvaluationConfig, load_config
from mlrobust.rules import TopK
from mlrobust.verify.milp import Tightening


def test_toml_round_trip(tmp_path: Path) -> None:
    p = tmp_path / "eval.toml"
    p.write_text(
        'models = ["a.safetensors"]\nn = 5\neps = [0.01, 0.02]\nrule = "topk:2"\n'
        'tightening = "lp"\nattacks = ["mla-c"]\n'
    )
    cfg = load_config(p)
    assert cfg.models == ("a.safetensors",) and cfg.n == 5 and cfg.eps == (0.01, 0.02)
    assert cfg.rule == TopK(2) and cfg.tightening == Tightening.LP
    assert cfg.attacks == ("mla-c",)


def test_unknown_key_named(tmp_path: Path) -> None:
    p = tmp_path / "eval.toml"
    p.write_text("n = 5\nepsilon = [0.1]\n")
    with pytest.raises(InputError, match="unknown key.*'epsilon'.*known keys: .*eps"):
        load_config(p)


def test_bad_values(tmp_path: Path) -> None:
    p = tmp_path / "eval.toml"
    p.write_text("n = 'five'\n")
    with pytest.raises(InputError, match="'n' must be an integer"):
        load_config(p)
    p.write_text("eps = [0.0]\n")
    with pytest.raises(InputError, match="eps must be"):
        load_config(p)
    p.write_text("tightening = 'magic'\n")
    with pytest.raises(InputError, match="Unknown tightening 'magic'; use one of interval"):
        load_config(p)
    p.write_text("n = [\n")
    with pytest.raises(CorruptFileError, match="not valid TOML"):
        load_config(p)
    with pytest.raises(InputError, match="not found"):
        load_config(tmp_path / "missing.toml")


def test_fingerprint_ignores_grid_but_not_limits() -> None:
    a = EvaluationConfig(models=("m",))
    assert a.fingerprint("m") == EvaluationConfig(
        models=("m",), eps=(0.1,), n=3, workers=1
    ).fingerprint("m")
    assert a.fingerprint("m") != EvaluationConfig(models=("m",), verifier_timeout_s=9).fingerprint(
        "m"
    )


def test_fingerprint_changes_with_the_mlrobust_version(monkeypatch: pytest.MonkeyPatch) -> None:
    import mlrobust

    cfg = EvaluationConfig(models=("m",))
    before = cfg.fingerprint("m")
    monkeypatch.setattr(mlrobust, "__version__", "99.0.0")
    assert cfg.fingerprint("m") != before
