"""Checking verifiers against a reference answer per instance (e.g. the VNN-COMP 2021 consensus).

A reference is only a majority of other tools, not ground truth: a verifier that contradicts it
is flagged for a re-check of its witness or proof, never silently marked wrong.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlrobust.errors import CorruptFileError
from mlrobust.portfolio.readers import _open_text, vnncomp_instance_id
from mlrobust.portfolio.table import Answer, PerformanceMatrix

logger = logging.getLogger(__name__)

# the consensus file's words: 'tie' (as many holds as violated) and 'unknown' give no reference
_CONSENSUS = {"holds": Answer.HOLDS, "violated": Answer.VIOLATED}
_NO_REFERENCE = {"tie", "unknown"}


def read_consensus(path: str | Path) -> dict[str, Answer]:
    """``results/derived_consensus.csv`` (header ``benchmark,onnx,vnnlib,majority,...``):
    instance id -> HOLDS or VIOLATED; ties and unknowns are left out (no reference)."""
    path = Path(path)
    out: dict[str, Answer] = {}
    reader = csv.DictReader(_open_text(path))
    need = {"benchmark", "onnx", "vnnlib", "majority"}
    if not need <= set(reader.fieldnames or ()):
        raise CorruptFileError(
            f"{path}: expected columns {sorted(need)}, got "
            f"{reader.fieldnames}; is this a consensus file?"
        )
    seen: dict[str, int] = {}
    for row in reader:
        word = row["majority"].strip().lower()
        iid = vnncomp_instance_id(row["benchmark"], row["onnx"], row["vnnlib"])
        if word in _CONSENSUS:
            out[iid] = _CONSENSUS[word]
        elif word not in _NO_REFERENCE:
            seen[word] = seen.get(word, 0) + 1
    if seen:
        raise CorruptFileError(
            f"{path}: unknown majority word(s) {seen}; expected holds, violated, tie or unknown."
        )
    return out


@dataclass(frozen=True)
class ReferenceCheck:
    """Per verifier (``verifiers [V]``): ``agree [V]`` decisive answers equal to the reference,
    ``contradict [V]`` decisive answers opposite to it, ``unreferenced [V]`` decisive answers on
    instances without a reference. ``conflicts``: every (instance, verifier, answer, reference)
    contradiction."""

    verifiers: tuple[str, ...]
    agree: np.ndarray
    contradict: np.ndarray
    unreferenced: np.ndarray
    conflicts: tuple[tuple[str, str, Answer, Answer], ...]


def against_reference(m: PerformanceMatrix, reference: dict[str, Answer]) -> ReferenceCheck:
    """Compare every decisive answer of ``m`` (at any time) with ``reference``; contradictions
    are logged as a warning and listed, never resolved."""
    ref = np.array([int(reference.get(str(i), Answer.UNKNOWN)) for i in m.instances], np.int8)
    has_ref = ref <= Answer.VIOLATED
    decisive = m.decisive
    same = decisive & has_ref[:, None] & (m.answer == ref[:, None])
    opposite = decisive & has_ref[:, None] & (m.answer != ref[:, None])
    conflicts = tuple(
        (str(m.instances[i]), str(m.verifiers[v]), Answer(int(m.answer[i, v])), Answer(int(ref[i])))
        for i, v in zip(*np.nonzero(opposite), strict=True)
    )
    if conflicts:
        logger.warning(
            "CONFLICT with the reference: %d answer(s), e.g. %s says %s where the "
            "reference says %s; re-check them.",
            len(conflicts),
            conflicts[0][1],
            conflicts[0][2].name,
            conflicts[0][3].name,
        )
    return ReferenceCheck(
        verifiers=tuple(str(v) for v in m.verifiers),
        agree=same.sum(0),
        contradict=opposite.sum(0),
        unreferenced=(decisive & ~has_ref[:, None]).sum(0),
        conflicts=conflicts,
    )
