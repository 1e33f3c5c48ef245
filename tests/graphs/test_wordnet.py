"""The WordNet builder and the WordNet data resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlrobust.errors import DataNotFoundError, InputError
from mlrobust.graphs import wordnet_data
from mlrobust.graphs.wordnet import from_wordnet
from tests.conftest import missing


def test_groups_labels_under_shared_hypernyms_and_prunes_chains(wordnet: None) -> None:
    g = from_wordnet(["cat", "dog", "car", "bus"])
    assert g.leaves == ("cat", "dog", "car", "bus")
    assert g.parents("cat") == g.parents("dog") == ("carnivore",)
    # Every abstract node groups labels: it has at least two children.
    assert all(len(g.children(v)) >= 2 for v in g.abstract)
    # 'placental', 'mammal', ... between carnivore and the root were single-child chains.
    assert "mammal" not in g and "placental" not in g
    assert g.node_attrs("cat")["synset"] == "cat.n.01"
    assert len(g.roots) == 1


def test_is_deterministic(wordnet: None) -> None:
    labels = ["horse", "sheep", "boat", "bicycle", "bottle"]
    assert from_wordnet(labels).to_json() == from_wordnet(labels).to_json()


def test_explicit_synset_overrides_the_first_sense(wordnet: None) -> None:
    labels = ["mouse", "keyboard", "cat"]
    default = from_wordnet(labels)
    assert default.node_attrs("mouse")["synset"] == "mouse.n.01"  # the rodent
    mapped = from_wordnet(
        labels, synsets={"mouse": "mouse.n.04", "keyboard": "computer_keyboard.n.01"}
    )
    assert mapped.node_attrs("mouse")["synset"] == "mouse.n.04"
    assert "cat" not in mapped.descendants(mapped.parents("mouse")[0])


def test_description_picks_the_closest_gloss(wordnet: None) -> None:
    g = from_wordnet(
        ["kite", "ball"],
        descriptions={"kite": "a toy plaything of paper on a frame flown in the wind on a string"},
    )
    assert g.node_attrs("kite")["synset"] == "kite.n.03"


def test_plural_and_spaced_names_are_found(wordnet: None) -> None:
    g = from_wordnet(["birds", "traffic light", "T-shirt/top"])
    assert g.node_attrs("birds")["synset"] == "bird.n.01"
    assert g.node_attrs("traffic light")["synset"] == "traffic_light.n.01"


def test_errors_name_the_label_and_the_fix(wordnet: None) -> None:
    with pytest.raises(InputError, match="'stop sign' has no WordNet noun sense.*synsets="):
        from_wordnet(["stop sign", "car"])
    with pytest.raises(InputError, match="not a WordNet synset"):
        from_wordnet(["car"], synsets={"car": "car.n.99"})
    with pytest.raises(InputError, match="both map to WordNet synset car.n.01"):
        from_wordnet(["car", "automobile"])
    with pytest.raises(InputError, match="not labels"):
        from_wordnet(["car"], synsets={"bus": "bus.n.01"})
    with pytest.raises(InputError, match="repeated"):
        from_wordnet(["car", "car"])


def test_system_wordnet_is_prepared_into_a_cache(tmp_path: Path, wordnet: None) -> None:
    source = wordnet_data.system_wordnet_dir()
    if not (source / "data.noun").is_file():
        missing("no system WordNet (apt-get install wordnet-base wordnet-sense-index)")
    root = wordnet_data.prepare_system_wordnet(source, tmp_path)
    target = root / "corpora" / "wordnet"
    assert (target / "data.noun").is_file() and (target / "index.sense").is_file()
    lexnames = (target / "lexnames").read_text().splitlines()
    assert len(lexnames) == 45
    assert lexnames[3] == "03\tnoun.Tops\t1" and lexnames[44] == "44\tadj.ppl\t3"
    assert wordnet_data.prepare_system_wordnet(source, tmp_path) == root  # idempotent


def test_lexnames_fallback_matches_the_table() -> None:
    lines = wordnet_data.lexnames_lines()
    assert len(lines) == 45 and lines[0] == "00\tadj.all\t3" and lines[29] == "29\tverb.body\t2"


def test_missing_wordnet_explains_both_ways_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wordnet_data, "_nltk_has_wordnet", lambda: None)
    monkeypatch.setattr(wordnet_data, "_prepared_cache", lambda: None)
    monkeypatch.setenv(wordnet_data.SYSTEM_ENV, str(tmp_path / "nowhere"))
    monkeypatch.setenv(wordnet_data.CACHE_ENV, str(tmp_path / "cache"))
    wordnet_data.load_wordnet.cache_clear()
    try:
        assert not wordnet_data.wordnet_available()
        with pytest.raises(DataNotFoundError, match="nltk.downloader wordnet.*wordnet-base"):
            wordnet_data.load_wordnet()
        with pytest.raises(DataNotFoundError, match="lacks data.noun"):
            wordnet_data.prepare_system_wordnet(tmp_path, tmp_path / "cache")
    finally:
        wordnet_data.load_wordnet.cache_clear()
