"""docs/extending.md's verifier and attack, exactly as written, registered through real entry
points: they appear in evaluate, the portfolio runner and both conformance tests with no
other edit (issue: "a new verifier is one file ... a new attack is one file plus one registry
line")."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from mlrobust.attacks import available_attacks, budgeted_attack, get_attack
from mlrobust.evaluate import evaluate
from mlrobust.portfolio import Answer
from mlrobust.portfolio.configs import available_configurations, run_configuration
from mlrobust.threats import LinfBall
from mlrobust.verify import available_verifiers, get_verifier
from tests.attacks.test_conformance import check_attack_contract
from tests.evaluate.helpers import tiny_config
from tests.plugins import install_entry_points
from tests.verify.test_conformance import check_verifier_conformance

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def _blocks() -> dict[str, str]:
    """The doc's python blocks by the file name in their first comment line."""
    out, rest = {}, []
    for block in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S):
        first = block.splitlines()[0]
        if first.startswith("# ") and first.endswith(".py"):
            out[first[2:]] = block
        else:
            rest.append(block)
    out["__rest__"] = "\n".join(rest)
    return out


@pytest.fixture
def doc_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    blocks = _blocks()
    site = tmp_path / "site"
    site.mkdir()
    for name in ("my_verifiers.py", "my_attacks.py"):
        (site / name).write_text(blocks[name])
    install_entry_points(
        site,
        monkeypatch,
        {
            "mlrobust.verifiers": {"grid-sampler": "my_verifiers:GridSampler"},
            "mlrobust.attacks": {"one-step": "my_attacks:OneStep"},
        },
    )
    return blocks


def test_the_doc_names_its_files() -> None:
    assert {"my_verifiers.py", "my_attacks.py"} <= set(_blocks())


def test_the_doc_verifier_and_attack_plug_in_everywhere(doc_plugins, tmp_path: Path) -> None:
    # the doc's remaining snippets run as written
    exec(compile(doc_plugins["__rest__"], str(DOC), "exec"), {})
    assert "grid-sampler" in available_verifiers() and "one-step" in available_attacks()
    check_verifier_conformance(get_verifier("grid-sampler"))
    check_attack_contract(get_attack("one-step", steps=3), LinfBall(0.3))
    assert budgeted_attack("one-step", steps=4, eps=0.05).config.steps == 4
    # evaluate: the plugin verifier certifies nothing, its witnesses count as falsified
    cfg = replace(
        tiny_config(tmp_path),
        eps=(0.3,),
        verifier="grid-sampler",
        attacks=("one-step",),
        falsifier="one-step",
        verify_falsified=True,
    )
    (rep,) = evaluate(cfg)
    verdicts = {c["verifier"] for c in rep.result.cells}
    assert verdicts <= {"falsified", "unknown"} and "falsified" in verdicts
    assert [r["attack"] for r in rep.result.attack_table] == ["one-step"]
    # the portfolio runner knows it by name
    assert "grid-sampler" in available_configurations()


def test_the_doc_verifier_in_a_portfolio_configuration(doc_plugins, tiny) -> None:
    out = run_configuration("grid-sampler", tiny / "tiny.onnx", tiny / "violated.vnnlib", 10.0)
    assert out.answer is Answer.VIOLATED, out.note
    out = run_configuration("grid-sampler", tiny / "tiny.onnx", tiny / "holds.vnnlib", 10.0)
    assert out.answer is Answer.UNKNOWN  # a falsifier never proves
