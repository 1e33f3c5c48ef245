"""Build a label hierarchy from WordNet hypernyms (paper 001, section 4.2).

1. Each label gets a noun synset: the explicit ``synsets`` mapping if it names the label, else
   the noun sense whose gloss shares most words with the label's ``descriptions`` entry, else
   the first noun sense. Label spellings are tried as given, lower-cased, with spaces and
   hyphens as underscores, and each ``/``-separated alternative (``"T-shirt/top"``).
2. Every hypernym path of every label synset is merged into one DAG.
3. A node with several parents keeps the one with the highest Wu-Palmer similarity to it
   (ties: the deeper parent, then the smaller synset name), which makes the DAG a tree.
4. Abstract nodes are kept only where they group labels: a node stays when at least two of its
   children lead to labels; chains with a single child are contracted.

Everything is sorted, so the same labels and WordNet version give the same graph.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx

from mlrobust.errors import InputError
from mlrobust.graphs.graph import ABSTRACT, LEAF, LabelGraph
from mlrobust.graphs.wordnet_data import load_wordnet

logger = logging.getLogger(__name__)

_STOPWORDS = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "that",
        "this",
        "from",
        "are",
        "was",
        "were",
        "has",
        "have",
        "its",
        "into",
        "used",
        "use",
        "any",
        "all",
        "not",
        "but",
        "which",
        "who",
        "whom",
        "whose",
        "one",
        "some",
        "such",
        "than",
        "then",
        "there",
        "their",
        "them",
        "they",
        "often",
        "usually",
    ]
)


def from_wordnet(
    labels: Sequence[str],
    *,
    synsets: Mapping[str, str] | None = None,
    descriptions: Mapping[str, str] | None = None,
) -> LabelGraph:
    """A :class:`LabelGraph` over ``labels`` plus the WordNet hypernyms that group them.

    Args:
        labels: the dataset's label names, in prediction order; they become the leaves.
        synsets: optional ``{label: "dog.n.01"}`` choices overriding the automatic sense.
        descriptions: optional ``{label: "free text"}``; picks the sense with the closest gloss.

    Raises:
        InputError: an empty or repeated label, a label with no noun sense, an unknown synset
            name, two labels on the same synset, or mapping keys that are not labels.
        DataNotFoundError: WordNet is not installed (the message says how to install it).

    Examples:
        >>> g = from_wordnet(["cat", "dog", "car"])  # doctest: +SKIP
        >>> g.parents("cat")  # doctest: +SKIP
        ('carnivore',)
    """
    labels = _check_labels(labels)
    synsets = dict(synsets or {})
    descriptions = dict(descriptions or {})
    for name, mapping in (("synsets", synsets), ("descriptions", descriptions)):
        extra = sorted(set(mapping) - set(labels))
        if extra:
            raise InputError(f"{name} has keys that are not labels: {extra[:5]!r}.")
    wn = load_wordnet()

    chosen = {label: _choose_synset(wn, label, synsets, descriptions) for label in labels}
    owner: dict[Any, str] = {}
    for label, syn in chosen.items():
        if syn in owner:
            raise InputError(
                f"Labels {owner[syn]!r} and {label!r} both map to WordNet synset {syn.name()}; "
                f"give one of them another sense with synsets={{{label!r}: '<word>.n.NN'}}."
            )
        owner[syn] = label

    tree = _hypernym_tree(chosen.values())
    kept_edges = _contract(tree, set(owner))
    names = _node_names(owner, kept_edges)

    g = nx.DiGraph(source="wordnet", wordnet_version=str(wn.get_version()))
    for syn, name in sorted(names.items(), key=lambda kv: kv[1]):
        g.add_node(
            name,
            kind=LEAF if syn in owner else ABSTRACT,
            synset=syn.name(),
            description=syn.definition(),
        )
    g.add_edges_from((names[p], names[c]) for p, c in kept_edges)
    graph = LabelGraph(g, leaves=labels)
    logger.info("WordNet graph: %d labels + %d abstract nodes", len(labels), len(graph.abstract))
    return graph


def _check_labels(labels: Sequence[str]) -> tuple[str, ...]:
    if isinstance(labels, str):
        raise InputError("labels must be a sequence of label names, not one string.")
    labels = tuple(labels)
    if not labels:
        raise InputError("labels is empty; pass the dataset's label names.")
    bad = [v for v in labels if not isinstance(v, str) or not v.strip()]
    if bad:
        raise InputError(f"Label names must be non-empty strings, got {bad[:3]!r}.")
    repeated = sorted({v for v in labels if labels.count(v) > 1})
    if repeated:
        raise InputError(f"Labels are repeated: {repeated[:5]!r}; list each label once.")
    return labels


def _spellings(label: str) -> list[str]:
    out: list[str] = []
    for part in [label, *label.split("/")]:
        part = part.strip()
        for form in (part, part.lower()):
            for candidate in (form, re.sub(r"[\s\-]+", "_", form)):
                if candidate and candidate not in out:
                    out.append(candidate)
    return out


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 2} - _STOPWORDS


def _choose_synset(
    wn: Any, label: str, synsets: dict[str, str], descriptions: dict[str, str]
) -> Any:
    from nltk.corpus.reader.wordnet import WordNetError

    if label in synsets:
        try:
            syn = wn.synset(synsets[label])
        except (WordNetError, ValueError):
            raise InputError(
                f"synsets[{label!r}] = {synsets[label]!r} is not a WordNet synset; use a name "
                "like 'dog.n.01' (see nltk's wordnet.synsets(word))."
            ) from None
        if syn.pos() != "n":
            raise InputError(f"synsets[{label!r}] = {syn.name()} is not a noun synset.")
        return syn
    senses: list[Any] = []
    for spelling in _spellings(label):
        senses = wn.synsets(spelling, pos="n")
        if senses:
            break
    if not senses:
        raise InputError(
            f"Label {label!r} has no WordNet noun sense; name one explicitly with "
            f"synsets={{{label!r}: '<word>.n.01'}} (e.g. 'dining_table.n.01' for 'diningtable')."
        )
    if label not in descriptions:
        return senses[0]
    wanted = _words(descriptions[label])

    def overlap(syn: Any) -> int:
        gloss = " ".join(
            [syn.definition(), *syn.examples(), *syn.lemma_names()]
            + [h.definition() for h in syn.hypernyms()]
        )
        return len(wanted & _words(gloss.replace("_", " ")))

    # max() keeps the first of equal scores, i.e. the more frequent sense.
    return max(senses, key=overlap)


def _hypernym_tree(label_synsets: Any) -> nx.DiGraph:
    dag = nx.DiGraph()
    for syn in sorted(label_synsets, key=lambda s: s.name()):
        dag.add_node(syn)
        for path in syn.hypernym_paths():
            nx.add_path(dag, path)
    tree = nx.DiGraph()
    tree.add_nodes_from(sorted(dag.nodes, key=lambda s: s.name()))
    for node in tree.nodes:
        parents = list(dag.predecessors(node))
        if parents:
            best = min(
                parents,
                key=lambda p: (-(node.wup_similarity(p) or 0.0), -p.max_depth(), p.name()),
            )
            tree.add_edge(best, node)
    return tree


def _contract(tree: nx.DiGraph, label_synsets: set[Any]) -> list[tuple[Any, Any]]:
    """Edges between kept nodes: labels, and nodes with >= 2 children that lead to labels."""
    leads: dict[Any, bool] = {}
    for node in reversed(list(nx.topological_sort(tree))):
        leads[node] = node in label_synsets or any(leads[c] for c in tree.successors(node))
    kept = {
        n
        for n in tree.nodes
        if n in label_synsets or sum(leads[c] for c in tree.successors(n)) >= 2
    }
    edges = []
    for node in sorted(kept, key=lambda s: s.name()):
        up = next(iter(tree.predecessors(node)), None)
        while up is not None and up not in kept:
            up = next(iter(tree.predecessors(up)), None)
        if up is not None:
            edges.append((up, node))
    return edges


def _node_names(owner: dict[Any, str], edges: list[tuple[Any, Any]]) -> dict[Any, str]:
    """Label synsets keep the label's name; abstract ones take their first lemma (or the
    synset name when that lemma is already taken)."""
    names = dict(owner)
    used = set(owner.values())
    abstract = sorted({n for e in edges for n in e} - set(owner), key=lambda s: s.name())
    for syn in abstract:
        lemma = syn.lemma_names()[0].replace("_", " ")
        name = lemma if lemma not in used else syn.name()
        names[syn] = name
        used.add(name)
    for syn in owner:  # a label with no kept neighbour is still a node
        names.setdefault(syn, owner[syn])
    return names
