"""Evaluate brings-your-own models end to end: a residual factory with weights, a torch.export
program, an in-memory module through the Python API, and a model the verifier cannot encode
(attacked only, UNKNOWN with the reason once at the top of the report)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from mlrobust.cli.main import app
from mlrobust.datasets import load_dataset
from mlrobust.errors import InputError
from mlrobust.evaluate import EvaluationConfig, evaluate, evaluate_model
from mlrobust.rules import TopK
from tests.evaluate.helpers import tiny_dataset
from tests.evaluate.user_nets import residual, with_gelu

REF = "tests.evaluate.user_nets:residual"


def _config(tmp: Path, models: tuple[str, ...]) -> EvaluationConfig:
    return EvaluationConfig(
        models=models,
        dataset=str(tiny_dataset(tmp / "tiny.npz")),
        n=3,
        eps=(0.01, 0.3),
        rule=TopK(2),
        attacks=("mla-u",),
        target_sizes=(1,),
        attack_steps=20,
        verifier_timeout_s=60.0,
        layered=False,
        workers=1,
        out_dir=tmp / "rep",
    )


def test_residual_factory_with_weights_is_attacked_and_verified(tmp_path: Path) -> None:
    torch.manual_seed(3)
    state = {
        k: torch.randn_like(v) * 0.5 if v.is_floating_point() else v
        for k, v in residual().state_dict().items()
    }
    state["bn.running_var"] = state["bn.running_var"].abs() + 0.5
    save_file(state, str(tmp_path / "w.safetensors"))
    ref = f"{REF}@{tmp_path / 'w.safetensors'}"
    (rep,) = evaluate(_config(tmp_path, (ref,)))
    assert rep.folder.name == "residual-w"
    res = rep.result
    assert len(res.cells) == 3 * 2 * 2
    # the residual net goes through the verifier: the small ball is decided, nothing unknown
    small = [c for c in res.cells if c["eps"] == 0.01]
    assert small and all(c["verdict"] != "unknown" for c in small)
    assert any(c["verifier"] == "verified" for c in res.cells)
    assert not any("not verifiable" in n for n in res.notes)


def test_unverifiable_model_is_attacked_only(tmp_path: Path) -> None:
    (rep,) = evaluate(_config(tmp_path, ("tests.evaluate.user_nets:with_gelu",)))
    res = rep.result
    notes = [n for n in res.notes if "not verifiable" in n]
    assert len(notes) == 1 and "gelu" in notes[0].lower()
    assert all(c["verifier"] in (None, "unknown") for c in res.cells)
    assert all(c["verdict"] in ("falsified", "unknown") for c in res.cells)
    assert res.robustness[1]["falsified"] > 0  # eps 0.3: the attacks still find witnesses
    html = (rep.folder / "index.html").read_text()
    assert html.count("not verifiable") == 1


def test_exported_program_is_a_model(tmp_path: Path) -> None:
    model = residual().eval()
    path = tmp_path / "prog.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(1, 1, 4, 4),)), path)
    (rep,) = evaluate(_config(tmp_path, (str(path),)))
    assert rep.folder.name == "prog"
    assert any(c["verifier"] == "verified" for c in rep.result.cells)


def test_python_api_takes_a_module(tmp_path: Path) -> None:
    cfg = _config(tmp_path, ("replaced",))
    data = load_dataset(cfg.dataset, "test", 3)
    rep = evaluate_model(residual(), data, cfg, name="mine")
    assert rep.folder == tmp_path / "rep" / "mine"
    assert json.loads((rep.folder / "results.json").read_text())["model"] == "mine"
    # another model under the same name does not resume the stored cells
    with pytest.raises(InputError, match="other settings"):
        evaluate_model(with_gelu(), data, cfg, name="mine")
    again = evaluate_model(with_gelu(), data, cfg, name="mine", fresh=True)
    assert any("not verifiable" in n for n in again.result.notes)


def test_rule_is_required_without_metadata(tmp_path: Path) -> None:
    cfg = replace(_config(tmp_path, (REF,)), rule=None)
    with pytest.raises(InputError, match="carries no decision rule"):
        evaluate(cfg)
    assert not (tmp_path / "rep").exists()


def _cli(tmp_path: Path, *args: str) -> tuple[int, str]:
    tmp_path.mkdir(exist_ok=True)
    data = tiny_dataset(tmp_path / "tiny.npz")
    common = ["--dataset", str(data), "-n", "2", "--eps", "0.05", "--attacks", "mla-u"]
    common += ["--sizes", "1", "--steps", "5", "--workers", "1", "--no-layered", "--rule"]
    common += ["topk:2", "--out", str(tmp_path / "rep")]
    res = CliRunner().invoke(app, ["evaluate", *args, *common])
    return res.exit_code, res.output


def test_cli_weights_and_bad_models(tmp_path: Path) -> None:
    save_file(residual().state_dict(), str(tmp_path / "w.safetensors"))
    code, out = _cli(tmp_path, REF, "--weights", str(tmp_path / "w.safetensors"))
    assert code == 0, out
    assert (tmp_path / "rep" / "residual-w" / "results.json").exists()
    bad = {
        "tests.evaluate.nope:residual": "cannot import",
        "tests.evaluate.user_nets:resnet": "no function 'resnet'",
        "tests.evaluate.user_nets:not_a_model": "not a torch.nn.Module",
    }
    for ref, message in bad.items():
        code, out = _cli(tmp_path / "bad", ref)
        assert code == 2 and message in out and "Traceback" not in out, out
    state = residual().state_dict()
    state["head.bias"] = torch.zeros(9)
    save_file(state, str(tmp_path / "wrong.safetensors"))
    code, out = _cli(tmp_path / "bad", REF, "--weights", str(tmp_path / "wrong.safetensors"))
    assert code == 2 and "'head.bias' is (9,) in the file but (4,)" in out, out
    code, out = _cli(tmp_path / "bad", "double_mnist_none", "--weights", "w.safetensors")
    assert code == 2 and "exactly one factory model" in out
    assert not (tmp_path / "bad" / "rep").exists()  # nothing half-written


def test_verify_and_attack_commands_take_factories(tmp_path: Path) -> None:
    data = str(tiny_dataset(tmp_path / "tiny.npz"))
    save_file(residual().state_dict(), str(tmp_path / "w.safetensors"))
    weights = ["--weights", str(tmp_path / "w.safetensors"), "--rule", "topk:2"]
    res = CliRunner().invoke(
        app,
        ["verify", "--model", REF, *weights, "--dataset", data, "--n", "2", "--eps", "0.01"],
    )
    assert res.exit_code == 0, res.output
    assert "image 1:" in res.output and "VERIFIED" in res.output
    res = CliRunner().invoke(
        app,
        ["verify", "--model", "tests.evaluate.user_nets:with_gelu", "--rule", "topk:2"]
        + ["--dataset", data, "--n", "1"],
    )
    assert res.exit_code == 2 and "not verifiable" in res.output and "gelu" in res.output
    out = tmp_path / "a.json"
    res = CliRunner().invoke(
        app,
        ["attack", "run", REF, *weights, "--dataset", data, "-n", "3", "--attacks", "mla-u"]
        + ["--eps", "0.3", "--sizes", "1", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["rows"][0]["attack"] == "mla-u"


def test_a_dataset_with_a_subset_of_the_labels_is_matched_by_name(tmp_path: Path) -> None:
    """Every command matches labels by name: fewer labels are fine, unknown ones are named."""
    from PIL import Image

    from tests.evaluate.helpers import tiny_checkpoint

    ckpt = tiny_checkpoint(tmp_path / "m.safetensors")  # labels "0".."3"
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.new("L", (4, 4), color=40 * i).save(folder / f"{i}.png")
    (folder / "labels.csv").write_text("filename,labels\n0.png,2\n1.png,0;2\n2.png,0\n")
    common = ["--dataset", str(folder), "-n", "3"]
    evaluate_args = ["evaluate", str(ckpt), *common, "--eps", "0.05", "--attacks", "mla-u"]
    evaluate_args += ["--sizes", "1", "--steps", "5", "--workers", "1", "--no-layered"]
    out = tmp_path / "rep"
    res = CliRunner().invoke(app, [*evaluate_args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(
        app,
        ["attack", "run", str(ckpt), *common, "--attacks", "mla-u", "--eps", "0.05"]
        + ["--sizes", "1", "--out", str(tmp_path / "a.json")],
    )
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["verify", "--model", str(ckpt), *common, "--eps", "0.01"])
    assert res.exit_code == 0, res.output
    (folder / "labels.csv").write_text("filename,labels\n0.png,cat\n1.png,0\n2.png,0\n")
    for args in (evaluate_args, ["verify", "--model", str(ckpt), *common]):
        res = CliRunner().invoke(app, [*args, "--out", str(out)] if args[0] == "evaluate" else args)
        assert res.exit_code == 2 and "labels ['cat'] are not among the model's" in res.output
