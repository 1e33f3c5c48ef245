"""Bring-your-own models: factories with weights, state dicts, torch.export programs; every bad
input is one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from mlrobust.errors import CheckpointError, CorruptFileError, DataNotFoundError, InputError
from mlrobust.models.user import (
    factory_name,
    is_factory_ref,
    load_factory,
    load_program,
    load_state,
    with_weights,
)
from tests.evaluate.user_nets import residual

REF = "tests.evaluate.user_nets:residual"


def _trained_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(7)
    return {
        k: torch.randn_like(v) if v.is_floating_point() else v + 3
        for k, v in residual().state_dict().items()
    }


def test_factory_refs_parse() -> None:
    assert is_factory_ref(REF) and is_factory_ref(REF + "@w/x.safetensors")
    for not_ref in ("double_mnist_none", "runs/m.safetensors", "C:/m.onnx", "a:b:c", "x.pt2"):
        assert not is_factory_ref(not_ref)
    assert with_weights(REF, "w/x.safetensors") == REF + "@w/x.safetensors"
    assert factory_name(REF + "@w/x.safetensors") == "residual-x"
    with pytest.raises(InputError, match="--weights goes with a factory model"):
        with_weights("double_mnist_none", "w.safetensors")


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_weights_load_into_the_factory_model(tmp_path: Path, suffix: str) -> None:
    state = _trained_state()
    path = tmp_path / f"w{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save({"state_dict": state}, path)  # the common training-script wrapper
    model = load_factory(f"{REF}@{path}")
    assert not model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_mismatching_weights_name_the_first_key_and_shapes(tmp_path: Path) -> None:
    state = _trained_state()
    state["head.weight"] = torch.zeros(5, 2)
    save_file(state, str(tmp_path / "w.safetensors"))
    with pytest.raises(
        CheckpointError, match=r"'head.weight' is \(5, 2\) in the file but \(4, 2\)"
    ):
        load_factory(f"{REF}@{tmp_path / 'w.safetensors'}")
    del state["head.weight"]
    save_file(state, str(tmp_path / "m.safetensors"))
    with pytest.raises(CheckpointError, match=r"tensor 'head.weight' \(4, 2\) is missing"):
        load_factory(f"{REF}@{tmp_path / 'm.safetensors'}")


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple[object, ...]:
            return (print, ("unpickled!",))

    torch.save({"state_dict": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CorruptFileError, match=r"weights_only=True"):
        load_state(tmp_path / "evil.pt")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(CorruptFileError, match="not a valid safetensors file"):
        load_state(tmp_path / "junk.safetensors")
    with pytest.raises(DataNotFoundError, match="Weights file not found"):
        load_state(tmp_path / "none.pt")


def test_bad_factories_say_what_is_wrong() -> None:
    with pytest.raises(InputError, match=r"cannot import 'tests.evaluate.nope'.*PYTHONPATH"):
        load_factory("tests.evaluate.nope:residual")
    with pytest.raises(InputError, match=r"no function 'resnet'; callables there: .*residual"):
        load_factory("tests.evaluate.user_nets:resnet")
    with pytest.raises(InputError, match="returned int, not a torch.nn.Module"):
        load_factory("tests.evaluate.user_nets:not_a_model")


def test_exported_programs_load_without_pickle(tmp_path: Path) -> None:
    model = residual().eval()
    x = torch.rand(3, 1, 4, 4)
    torch.export.save(torch.export.export(model, (x[:1],)), tmp_path / "m.pt2")
    loaded = load_program(tmp_path / "m.pt2").module()
    torch.testing.assert_close(loaded(x[:1]), model(x[:1]))
    (tmp_path / "bad.pt2").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CorruptFileError, match="not a torch.export program"):
        load_program(tmp_path / "bad.pt2")


def test_readme_example_package_loads_the_shipped_resnet_weights(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlrobust.datasets import shipped_samples
    from mlrobust.models import shipped_checkpoint

    root = Path(__file__).resolve().parents[2]
    monkeypatch.syspath_prepend(str(root / "examples"))
    weights = root / "mlrobust" / "assets" / "models" / "double_mnist_resnet.safetensors"
    mine = load_factory(f"my_nets:resnet@{weights}")
    shipped, _ = shipped_checkpoint("double_mnist_resnet")
    x = shipped_samples().x[:8]
    with torch.no_grad():
        torch.testing.assert_close(mine(x), shipped(x))
