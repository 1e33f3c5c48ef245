"""End to end on a tiny model: cells, resume, soundness stop, bad input."""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from mlrobust.errors import InputError, SoundnessError
from mlrobust.evaluate import evaluate
from mlrobust.verdicts import Verdict
from tests.evaluate import plugins
from tests.evaluate.helpers import tiny_checkpoint, tiny_config
from tests.plugins import install_entry_points


@pytest.fixture
def scripted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The scripted verifier plugin, registered as ``scripted``; returns its call log."""
    install_entry_points(
        tmp_path / "site",
        monkeypatch,
        {"mlrobust.verifiers": {"scripted": "tests.evaluate.plugins:ScriptedVerifier"}},
    )
    plugins.CALLS.clear()
    monkeypatch.setitem(plugins.SCRIPT, "die_on", None)
    monkeypatch.setitem(plugins.SCRIPT, "always_verified", False)
    monkeypatch.setitem(plugins.SCRIPT, "unknown_below_s", 0.0)
    plugins.LIMITS.clear()
    return plugins.CALLS


def test_end_to_end_tiny(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path)
    (rep,) = evaluate(cfg)
    res = rep.result
    # TopK(2): two properties per image, per eps
    assert len(res.cells) == 3 * 2 * 2
    assert {c["verdict"] for c in res.cells} <= {v.value for v in Verdict}
    for row in res.robustness:
        assert row["certified_accuracy"] <= row["empirical_accuracy"]
        assert row["verified"] + row["falsified"] + row["unknown"] == row["cells"] == 6
    # the tiny MLP is decided completely by the MILP at both radii: no UNKNOWN
    assert all(c["verdict"] != "unknown" for c in res.cells)
    # eps = 0.3 on a random 6-unit MLP: the attack finds witnesses
    assert res.robustness[1]["falsified"] > 0
    data = json.loads((rep.folder / "results.json").read_text())
    assert data["schema_version"] == 1 and data["model"] == "tiny"
    for name in (
        "index.html",
        "attack_table.csv",
        "robustness.csv",
        "cells.csv",
        "timing.csv",
        "robustness_vs_eps.png",
        "fooling_rate_vs_eps.png",
        "timing.png",
    ):
        assert (rep.folder / name).stat().st_size > 0, name
    assert len(res.attack_table) == 2  # one attack x 2 eps x 1 size
    assert set(res.timing) >= {"attacks", "bounds", "milp", "reporting"}


def test_falsified_cells_are_real_witnesses(tmp_path: Path) -> None:
    """A FALSIFIED cell from the attack side must reproduce: the falsifier is re-run by hand
    (deterministic, same settings), and each of its points is checked here, independently of
    the runner, to lie in the ball (zero tolerance) and to flip the label on a fresh forward
    pass; the cells FALSIFIED are exactly those."""
    from mlrobust.attacks import AttackGoal, budgeted_attack
    from mlrobust.datasets import load_dataset
    from mlrobust.evaluate.tasks import property_specs
    from mlrobust.models import load_checkpoint
    from mlrobust.threats import LinfBall

    cfg = replace(tiny_config(tmp_path), eps=(0.02, 0.3))
    (rep,) = evaluate(cfg)
    cells = {(c["eps"], c["image"], c["label"]): c["attack"] for c in rep.result.cells}
    assert "falsified" in cells.values() and "unknown" in cells.values()
    model, info = load_checkpoint(cfg.models[0])
    data = load_dataset(cfg.dataset, cfg.split, cfg.n)
    for eps, i in [(e, i) for e in cfg.eps for i in range(cfg.n)]:
        attack = budgeted_attack(cfg.falsifier, steps=cfg.attack_steps, eps=eps, margin=True)
        x = data.x[i : i + 1]
        with torch.no_grad():
            clean = info.decision_rule.predict(model(x))[0]
        labels = [c for c, _ in property_specs(info.decision_rule, clean)]
        targets = torch.zeros(len(labels), clean.shape[0], dtype=torch.bool)
        targets[torch.arange(len(labels)), torch.tensor(labels)] = True
        xs = x.expand(len(labels), *x.shape[1:]).contiguous()
        res = attack(model, xs, AttackGoal(targets, info.decision_rule), LinfBall(eps))
        lo, hi = (xs - eps).clamp(0, 1), (xs + eps).clamp(0, 1)
        with torch.no_grad():
            adv = info.decision_rule.predict(model(res.x_adv))
        for j, label in enumerate(labels):
            inside = bool(((res.x_adv[j] >= lo[j]) & (res.x_adv[j] <= hi[j])).all())
            flipped = bool(adv[j, label] != clean[label])
            assert cells[(eps, i, label)] == ("falsified" if inside and flipped else "unknown")
    falsified = [c for c in rep.result.cells if c["attack"] == "falsified"]
    assert all(c["verifier"] is None for c in falsified)  # skipped: verify_falsified=False


def test_resume_skips_finished_cells(tmp_path: Path, scripted: list[int]) -> None:
    cfg = replace(tiny_config(tmp_path), verify_falsified=True, verifier="scripted")
    first = evaluate(cfg)[0].result
    assert len(scripted) == 3 * 2  # one verifier call per (image, eps)
    scripted.clear()
    second = evaluate(cfg)[0].result
    assert scripted == []
    assert second.cells == first.cells
    # a grown grid runs only the new (image, eps) pairs
    evaluate(replace(cfg, eps=(0.01, 0.3, 0.1)))
    assert len(scripted) == 3


def test_killed_run_keeps_finished_cells(
    tmp_path: Path, scripted: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(plugins.SCRIPT, "die_on", 3)
    cfg = replace(tiny_config(tmp_path), verify_falsified=True, verifier="scripted")
    with pytest.raises(KeyboardInterrupt):
        evaluate(cfg)
    with closing(sqlite3.connect(cfg.out_dir / "tiny" / "cells.sqlite")) as db:
        keys = [k for (k,) in db.execute("SELECT key FROM cells")]
    assert len([k for k in keys if k.startswith("cell/")]) == 2 * 2
    monkeypatch.setitem(plugins.SCRIPT, "die_on", None)
    (rep,) = evaluate(cfg)
    assert len(rep.result.cells) == 12


def test_soundness_conflict_stops_the_run(
    tmp_path: Path, scripted: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(plugins.SCRIPT, "always_verified", True)
    cfg = replace(tiny_config(tmp_path), eps=(0.3,), verify_falsified=True, verifier="scripted")
    with pytest.raises(SoundnessError, match="both VERIFIED and FALSIFIED"):
        evaluate(cfg)
    assert not (cfg.out_dir / "tiny" / "results.json").exists()


def test_unknown_names_list_the_available(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"Unknown attack 'nope'; available: .*mla-u"):
        evaluate(replace(tiny_config(tmp_path), attacks=("nope",)))
    with pytest.raises(InputError, match=r"Unknown verifier 'z3'; available: attack, crown, milp"):
        evaluate(replace(tiny_config(tmp_path), verifier="z3"))


def test_labels_are_matched_by_name(tmp_path: Path) -> None:
    cfg = replace(tiny_config(tmp_path), eps=(0.01,))
    # the dataset's labels 0-3 are a subset of the model's 0-4: fine, matched by name
    five = tiny_checkpoint(tmp_path / "five.safetensors", labels=5)
    (rep,) = evaluate(replace(cfg, models=(str(five),)))
    assert rep.result.label_names == ("0", "1", "2", "3", "4")
    # label 3 is unknown to a 3-label model: named, nothing evaluated
    three = tiny_checkpoint(tmp_path / "three.safetensors", labels=3)
    with pytest.raises(InputError, match=r"labels \['3'\] are not among the model's"):
        evaluate(replace(cfg, models=(str(three),)))


def test_unwritable_report_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.access(locked, os.W_OK):  # root writes through permissions: sysfs refuses even root
        locked = Path("/sys/mlrobust-report")
    try:
        with pytest.raises(InputError, match="Cannot write the report folder"):
            evaluate(replace(tiny_config(tmp_path), out_dir=locked))
    finally:
        (tmp_path / "locked").chmod(0o700)


def test_report_folder_that_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "rep"
    blocker.write_text("not a folder")
    with pytest.raises(InputError, match="Cannot write the report folder"):
        evaluate(tiny_config(tmp_path))


def test_changed_settings_refuse_to_mix(tmp_path: Path) -> None:
    cfg = replace(tiny_config(tmp_path), eps=(0.01,))
    evaluate(cfg)
    with pytest.raises(InputError, match="other settings"):
        evaluate(replace(cfg, attack_steps=21))
    (rep,) = evaluate(replace(cfg, attack_steps=21), fresh=True)
    assert rep.result.config["attack_steps"] == 21


def test_process_pool_matches_serial(tmp_path: Path) -> None:
    serial = evaluate(replace(tiny_config(tmp_path), eps=(0.3,)))[0].result
    pooled = evaluate(
        replace(tiny_config(tmp_path), eps=(0.3,), workers=2, out_dir=tmp_path / "pool")
    )[0].result
    assert [c["verdict"] for c in pooled.cells] == [c["verdict"] for c in serial.cells]
    assert torch.tensor([r["FR_N"] for r in pooled.attack_table]).tolist() == [
        r["FR_N"] for r in serial.attack_table
    ]


def _verdicts(result) -> dict[tuple[float, int, int], str]:  # noqa: ANN001
    return {(c["eps"], c["image"], c["label"]): c["verdict"] for c in result.cells}


def _retried(folder: Path) -> list[str]:
    with closing(sqlite3.connect(folder / "cells.sqlite")) as db:
        keys = [k for (k,) in db.execute("SELECT key FROM cells")]
    return sorted(k for k in keys if k.startswith("retry/") and not k.endswith("/plan"))


def test_retry_rounds_decide_what_the_first_pass_left_open(
    tmp_path: Path, scripted: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a verifier that needs >= 3 s: the first pass (1 s) leaves its cells UNKNOWN
    monkeypatch.setitem(plugins.SCRIPT, "unknown_below_s", 3.0)
    base = replace(tiny_config(tmp_path), verifier="scripted", verifier_timeout_s=1.0)
    cheap = _verdicts(evaluate(replace(base, out_dir=tmp_path / "cheap"))[0].result)
    assert "unknown" in cheap.values()
    # the exhaustive answer: every pair with enough time from the start
    full = _verdicts(
        evaluate(replace(base, verifier_timeout_s=4.0, out_dir=tmp_path / "all"))[0].result
    )
    assert "unknown" not in full.values()
    plugins.LIMITS.clear()
    retried = replace(base, retry_budget_s=100.0, out_dir=tmp_path / "retry")
    after = _verdicts(evaluate(retried)[0].result)
    assert after == full  # the rounds (and their nested-ball shortcuts) change no verdict
    assert all(after[k] == v for k, v in cheap.items() if v != "unknown")
    assert 4.0 in plugins.LIMITS  # the retries ran with 4x the limit
    open_pairs = {(e, i) for (e, i, _), v in cheap.items() if v == "unknown"}
    assert len(_retried(tmp_path / "retry" / "tiny")) <= len(open_pairs)
    scripted.clear()
    evaluate(retried)  # resumed: the rounds are stored too
    assert scripted == []


def test_retry_budget_picks_the_same_pairs_every_time(
    tmp_path: Path, scripted: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(plugins.SCRIPT, "unknown_below_s", 3.0)
    cfg = replace(tiny_config(tmp_path), verifier="scripted", verifier_timeout_s=1.0)
    picked = []
    for run in ("a", "b"):
        # 4 s pays for one retried pair: the one closest to an answer
        evaluate(replace(cfg, retry_budget_s=4.0, out_dir=tmp_path / run))
        picked.append(_retried(tmp_path / run / "tiny"))
    assert len(picked[0]) == 1 and picked[0] == picked[1]
    with pytest.raises(InputError, match="cannot pay for one retry.*at least 4 s"):
        replace(cfg, retry_budget_s=3.0)


def test_a_grid_budget_pays_the_cheap_pass_then_retry_rounds(
    tmp_path: Path, scripted: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(plugins.SCRIPT, "unknown_below_s", 3.0)
    cfg = replace(tiny_config(tmp_path), verifier="scripted", verifier_timeout_s=1.0)
    cheap = cfg.n * len(cfg.eps) * cfg.verifier_timeout_s  # 3 images x 2 eps x 1 s
    # the whole grid's budget: the cheap pass plus 8 s, i.e. the same two retried pairs as a
    # retry budget of 8 s, and the same verdicts
    by_total = evaluate(replace(cfg, budget_s=cheap + 8.0, out_dir=tmp_path / "total"))
    by_retry = evaluate(replace(cfg, retry_budget_s=8.0, out_dir=tmp_path / "retry"))
    assert _verdicts(by_total[0].result) == _verdicts(by_retry[0].result)
    retried = _retried(tmp_path / "total" / "tiny")
    assert len(retried) == 2 and retried == _retried(tmp_path / "retry" / "tiny")
    # exactly the cheap pass: no retry round
    evaluate(replace(cfg, budget_s=cheap, out_dir=tmp_path / "cheap"))
    assert _retried(tmp_path / "cheap" / "tiny") == []


def test_a_grid_budget_too_small_for_the_cheap_pass_is_refused_before_any_work(
    tmp_path: Path,
) -> None:
    cfg = replace(tiny_config(tmp_path), verifier_timeout_s=2.0, budget_s=11.0)
    with pytest.raises(InputError, match=r"too small for the cheap pass: 3 images x 2 eps x 2 s.*"
                       r"at least 12 s"):  # fmt: skip
        evaluate(cfg)
    assert not (cfg.out_dir / "tiny").exists()
    with pytest.raises(InputError, match="either budget_s .* or retry_budget_s"):
        replace(cfg, retry_budget_s=8.0)
    with pytest.raises(InputError, match="budget_s must be >= 0"):
        replace(cfg, budget_s=-1.0)


def test_a_run_killed_inside_a_retry_round_resumes_its_plan(
    tmp_path: Path, scripted: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(plugins.SCRIPT, "unknown_below_s", 3.0)
    # 8 s pays for two retried pairs in round 1 (4 s each) and nothing after
    cfg = replace(
        tiny_config(tmp_path), verifier="scripted", verifier_timeout_s=1.0, retry_budget_s=8.0
    )
    cheap_run = evaluate(replace(cfg, retry_budget_s=0.0, out_dir=tmp_path / "count"))
    cheap = _verdicts(cheap_run[0].result)
    assert len({(e, i) for (e, i, _), v in cheap.items() if v == "unknown"}) >= 3
    first_pass = len(scripted)
    scripted.clear()
    monkeypatch.setitem(plugins.SCRIPT, "die_on", first_pass + 2)  # inside round 1
    with pytest.raises(KeyboardInterrupt):
        evaluate(cfg)
    folder = cfg.out_dir / "tiny"
    assert len(_retried(folder)) == 1  # one retried pair stored before the kill
    monkeypatch.setitem(plugins.SCRIPT, "die_on", None)
    after = _verdicts(evaluate(cfg)[0].result)
    # the stored plan was finished, not re-planned: two pairs retried in all, not three
    assert len(_retried(folder)) == 2
    unknown = [v for v in after.values() if v == "unknown"]
    assert 0 < len(unknown) < sum(v == "unknown" for v in cheap.values())
