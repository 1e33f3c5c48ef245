"""PASCAL VOC and COCO datasets: labels, object masks, resizing, ``data info``, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from mlrobust.cli.main import app
from mlrobust.datasets import load_dataset
from mlrobust.datasets.voc import VOC_CLASSES
from mlrobust.errors import CorruptFileError, DataNotFoundError, InputError
from tests.datasets.fixtures import write_coco, write_voc


def test_voc_labels_masks_and_difficult(tmp_path: Path) -> None:
    root = write_voc(tmp_path / "VOC")
    data = load_dataset(f"voc:{root}", "test", shape=(3, 20, 30))
    assert data.label_names == VOC_CLASSES and len(data) == 3
    assert tuple(data.x.shape) == (3, 3, 20, 30)
    on = [sorted(VOC_CLASSES[j] for j in row.nonzero().flatten().tolist()) for row in data.y]
    # image 2's bottle is difficult only: ON, as VOC's reference code trains it
    assert on == [["dog", "person"], ["bottle", "car"], ["cat"]]
    # masks: largest object first, none for difficult objects, boxes scaled to 20x30
    dog = VOC_CLASSES.index("dog")
    assert data.objects[0, 0] == dog and data.objects[0, 1] == VOC_CLASSES.index("person")
    mask = data.masks[0, 0]  # dog: columns 2..29 of 40 -> 1.5..22.5 of 30, rows 2..19 of 30
    assert mask[5, 10] and not mask[18, 28] and not mask[5, 25]
    assert data.masks[1, 0].all() and not data.masks[1, 1].any()  # car only; bottle: no mask
    grey = load_dataset(f"voc:{root}", "train", shape=(1, 8, 8))
    assert tuple(grey.x.shape) == (1, 1, 8, 8)


def test_coco_from_file_or_folder_with_polygons(tmp_path: Path) -> None:
    path = write_coco(tmp_path / "coco")
    data = load_dataset(f"coco:{path}", shape=(3, 10, 20))
    assert data.label_names == ("person", "car", "dog")  # category-id order
    assert data.y.tolist() == [[True, False, True], [False, True, False], [False, False, False]]
    same = load_dataset(f"coco:{tmp_path / 'coco'}", "val", shape=(3, 10, 20))  # split by prefix
    assert torch.equal(same.x, data.x) and torch.equal(same.y, data.y)
    person = data.masks[0, 1]  # the triangle (20,0)-(40,0)-(40,20) scaled to x/2, y/2
    assert data.objects[0, 1] == 0 and person[1, 18] and not person[8, 11]
    assert data.masks[1, 0][5, 7] and not data.masks[2].any()  # crowd box; no objects


def test_folder_images_resized_to_the_model(tmp_path: Path) -> None:
    from PIL import Image

    for name, size in (("a.png", (12, 10)), ("b.png", (20, 20))):
        Image.new("RGB", size, (255, 0, 0)).save(tmp_path / name)
    (tmp_path / "labels.csv").write_text("filename,labels\na.png,x\nb.png,y\n")
    with pytest.raises(InputError, match="different sizes"):
        load_dataset(str(tmp_path))
    data = load_dataset(str(tmp_path), shape=(1, 8, 8))
    assert tuple(data.x.shape) == (2, 1, 8, 8)
    assert torch.allclose(data.x, torch.full_like(data.x, 76 / 255), atol=1 / 255)  # red -> L


def test_voc_bad_input(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="no Annotations folder"):
        load_dataset(f"voc:{tmp_path}")
    root = write_voc(tmp_path / "VOC")
    with pytest.raises(InputError, match="available: test, train"):
        load_dataset(f"voc:{root}", "val")
    (root / "Annotations" / "000002.xml").write_text("<annotation>\n<object><name>car</name>\n")
    with pytest.raises(CorruptFileError, match=r"000002\.xml:3:0: the XML does not parse"):
        load_dataset(f"voc:{root}")
    with pytest.raises(InputError, match="give the dataset's path"):
        load_dataset("voc:")


def test_coco_bad_input(tmp_path: Path) -> None:
    path = write_coco(tmp_path / "coco")
    data = json.loads(path.read_text())
    data["annotations"][0]["image_id"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(CorruptFileError, match=r"annotation image id\(s\) are not among .*\[99\]"):
        load_dataset(f"coco:{path}")
    data["annotations"][0]["image_id"] = 7
    data["annotations"][0]["bbox"] = [1, 2, 3]
    path.write_text(json.dumps(data))
    with pytest.raises(CorruptFileError, match=r"annotation 1 has a malformed bbox"):
        load_dataset(f"coco:{path}")
    path.write_text("[1, 2]")
    with pytest.raises(CorruptFileError, match=r"not a COCO instances file: lists \['images'"):
        load_dataset(f"coco:{path}")
    path.write_text('{"images": [')
    with pytest.raises(CorruptFileError, match=r"instances_val2017\.json:1: invalid JSON"):
        load_dataset(f"coco:{path}")
    with pytest.raises(InputError, match="no instances JSON for split 'test'; available: val2017"):
        load_dataset(f"coco:{tmp_path / 'coco'}")
    other = write_coco(tmp_path / "c2")
    for img in (tmp_path / "c2" / "val2017").iterdir():
        img.unlink()
    with pytest.raises(DataNotFoundError, match=r"a\.jpg is in none of"):
        load_dataset(f"coco:{other}")


def test_a_bad_image_is_named_or_skipped(tmp_path: Path) -> None:
    root = write_voc(tmp_path / "VOC")
    (root / "JPEGImages" / "000003.jpg").write_bytes(b"\xff\xd8\xff truncated")
    with pytest.raises(CorruptFileError, match=r"000003\.jpg: cannot decode"):
        load_dataset(f"voc:{root}")
    assert len(load_dataset(f"voc:{root}", skip_bad_images=True)) == 2


def test_data_info_cli(tmp_path: Path) -> None:
    root = write_voc(tmp_path / "VOC")
    res = CliRunner().invoke(app, ["data", "info", f"voc:{root}", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["images"] == 3 and info["frequencies"]["dog"] == 1
    assert len(info["frequencies"]) == 20 and "difficult" in info["notes"][0]
    res = CliRunner().invoke(app, ["data", "info", f"coco:{write_coco(tmp_path / 'c')}"])
    assert res.exit_code == 0 and "3 images, 3 labels" in res.stdout and "person" in res.stdout
    res = CliRunner().invoke(app, ["data", "info", f"voc:{tmp_path}"])
    assert res.exit_code == 2 and "no Annotations folder" in res.output


def _voc_graph_model(path: Path) -> Path:
    """A small random model over the prebuilt VOC graph's 36 labels, on 3x16x16 images."""
    from mlrobust.graphs import load_graph
    from mlrobust.models import ModelInfo, build_model, save_checkpoint

    torch.manual_seed(0)
    labels = load_graph("voc").labels
    info = ModelInfo(
        architecture="mlp",
        input_shape=(3, 16, 16),
        label_names=labels,
        rule="threshold:0.5",
        architecture_options={"hidden": [8]},
    )
    return save_checkpoint(path, build_model("mlp", (3, 16, 16), len(labels), hidden=(8,)), info)


def test_voc_graph_picked_for_a_model_over_its_labels(tmp_path: Path) -> None:
    from mlrobust.evaluate.models import dataset_for, graph_for, load_model
    from mlrobust.graphs import load_graph

    root = write_voc(tmp_path / "VOC")
    ckpt = str(_voc_graph_model(tmp_path / "voc_mlp.safetensors"))
    data = load_dataset(f"voc:{root}", shape=(3, 16, 16))
    model = load_model(ckpt, None, data.input_shape)
    assert graph_for("", model, data) == "voc" and graph_for("none", model, data) == ""
    digits = load_model("double_mnist_none", None, (1, 28, 56))
    assert graph_for("", digits, load_dataset("samples", n=2)) == ""
    aligned = dataset_for(model, data, "voc", load_graph("voc"))
    names = aligned.label_names
    # the dog image shows its WordNet ancestors too (ground truth extended over the graph)
    assert aligned.y[0, names.index("dog")] and aligned.y[0, names.index("carnivore")]
    assert not aligned.y[1, names.index("carnivore")]

    out = tmp_path / "attack.json"
    res = CliRunner().invoke(
        app,
        ["attack", "run", ckpt, "--dataset", f"voc:{root}", "--attacks", "gmla", "--eps", "0.3"]
        + ["--sizes", "1", "-n", "3", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(out.read_text())["rows"]
    assert rows and all(r.get("FR_S") is not None for r in rows if "skipped" not in r)


def test_evaluate_on_voc_resizes_and_picks_the_graph(tmp_path: Path) -> None:
    from mlrobust.evaluate import EvaluationConfig, evaluate

    root = write_voc(tmp_path / "VOC")
    ckpt = str(_voc_graph_model(tmp_path / "voc_mlp.safetensors"))
    cfg = EvaluationConfig(
        models=(ckpt,),
        dataset=f"voc:{root}",
        n=2,
        eps=(0.01,),
        attacks=("gmla",),
        target_sizes=(1,),
        attack_steps=5,
        verifier_timeout_s=5.0,
        workers=1,
        out_dir=tmp_path / "rep",
    )
    report = evaluate(cfg)[0]
    result = json.loads((report.folder / "results.json").read_text())
    assert result["config"]["graph"] == "voc" and result["n_images"] == 2
    assert result["attack_table"][0]["FR_S"] is not None
