"""Per-instance verifier results as data: the answer enum, the tidy long table, the dense matrix.

A *result table* has one row per (instance, verifier) run: ``instance``, ``verifier``,
``answer`` (an :class:`Answer`) and ``time`` (seconds). Every metric of paper 004 is computed on
the dense :class:`PerformanceMatrix` built from it by :func:`to_matrix`, which is where missing
and duplicate rows are caught.
"""

from __future__ import annotations

import enum
import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mlrobust.errors import CorruptFileError, InputError
from mlrobust.verdicts import Verdict

logger = logging.getLogger(__name__)


class Answer(enum.IntEnum):
    """What one verifier said about one instance.

    HOLDS (VNN-COMP ``holds``, DNNV ``unsat``): the property was proven.
    VIOLATED (``violated`` / ``sat``): a counterexample was reported.
    UNKNOWN: no decision within the resources (timeout, out of memory, inconclusive).
    ERROR: the tool failed (crash, unsupported network, translator error).
    """

    HOLDS = 0
    VIOLATED = 1
    UNKNOWN = 2
    ERROR = 3

    @property
    def decisive(self) -> bool:
        return self in (Answer.HOLDS, Answer.VIOLATED)

    def to_verdict(self) -> Verdict:
        if self is Answer.HOLDS:
            return Verdict.VERIFIED
        if self is Answer.VIOLATED:
            return Verdict.FALSIFIED
        return Verdict.UNKNOWN

    @classmethod
    def from_verdict(cls, verdict: Verdict) -> Answer:
        return {Verdict.VERIFIED: cls.HOLDS, Verdict.FALSIFIED: cls.VIOLATED}.get(
            verdict, cls.UNKNOWN
        )


# Vocabulary seen in VNN-COMP 2021 result CSVs, DNNV/paper-004 files and our own runner.
_WORDS: dict[str, Answer] = {
    "holds": Answer.HOLDS,
    "unsat": Answer.HOLDS,
    "verified": Answer.HOLDS,
    "safe": Answer.HOLDS,
    "robust": Answer.HOLDS,
    "violated": Answer.VIOLATED,
    "sat": Answer.VIOLATED,
    "falsified": Answer.VIOLATED,
    "unsafe": Answer.VIOLATED,
    "counterexample": Answer.VIOLATED,
    "unknown": Answer.UNKNOWN,
    "timeout": Answer.UNKNOWN,
    "timed_out": Answer.UNKNOWN,
    "run_instance_timeout": Answer.UNKNOWN,
    "outofmemory": Answer.UNKNOWN,
    "out_of_memory": Answer.UNKNOWN,
    "memout": Answer.UNKNOWN,
    "error": Answer.ERROR,
    "no_result_in_file": Answer.ERROR,
}
# Tool failures spelled as codes (error_exit_code_1, prepare_instance_error_2) or as a Python
# exception repr (DNNV: "BabTranslatorError(Unsupported activation type: tanh)").
_ERROR_PATTERNS = (
    re.compile(r"^(error|prepare_instance_error|run_instance_error)(_exit_code)?_?\d*$"),
    re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(Error|Exception)\b.*$", re.DOTALL),
)


def parse_answer(text: str, extra: Mapping[str, Answer] | None = None) -> Answer | None:
    """The :class:`Answer` a verdict string stands for, or None when the string is not known.

    Matching ignores case and surrounding blanks; ``extra`` adds or overrides words.
    """
    key = text.strip().lower()
    if extra:
        lowered = {k.strip().lower(): v for k, v in extra.items()}
        if key in lowered:
            return lowered[key]
    if key in _WORDS:
        return _WORDS[key]
    stripped = text.strip()
    if any(p.match(stripped if i else key) for i, p in enumerate(_ERROR_PATTERNS)):
        return Answer.ERROR
    return None


def parse_answers(
    texts: Iterable[str], *, extra: Mapping[str, Answer] | None = None, source: str = "input"
) -> np.ndarray:
    """Verdict strings to Answer codes ``[R] int8``; every unknown string is listed in the error."""
    texts = list(texts)
    # Few distinct strings, many rows: parse each distinct string once.
    cache: dict[str, int] = {}
    for text in dict.fromkeys(texts):
        answer = parse_answer(text, extra)
        cache[text] = -1 if answer is None else int(answer)
    codes = np.fromiter(map(cache.__getitem__, texts), np.int8, len(texts))
    unknown = Counter(t for t in texts if cache[t] < 0) if (codes < 0).any() else Counter()
    if unknown:
        seen = ", ".join(f"{t!r} ({n}x)" for t, n in unknown.most_common(20))
        known = sorted({*_WORDS, *(extra or {})})
        raise CorruptFileError(
            f"Unknown verdict strings in {source}: {seen}. Known words: {', '.join(known)} "
            "(plus error codes such as 'error_exit_code_1' and 'SomeError(...)'). Fix: map them "
            "explicitly, e.g. verdicts={'unsat/sat': Answer.ERROR} "
            "(CLI: --verdict 'unsat/sat=error')."
        )
    return codes


@dataclass(frozen=True, kw_only=True)
class ResultTable:
    """Tidy results, one row per run. Shapes: ``instance``, ``verifier`` ``[R]`` str;
    ``answer`` ``[R]`` int8 (:class:`Answer` codes); ``time`` ``[R]`` float64 seconds (NaN when
    the tool reported none)."""

    instance: np.ndarray
    verifier: np.ndarray
    answer: np.ndarray
    time: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.instance)
        if not (len(self.verifier) == len(self.answer) == len(self.time) == n):
            raise InputError(
                "ResultTable columns differ in length: "
                f"instance {n}, verifier {len(self.verifier)}, answer {len(self.answer)}, "
                f"time {len(self.time)}. Build every column from the same rows."
            )

    def __len__(self) -> int:
        return len(self.instance)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, Answer | int, float]]) -> ResultTable:
        """From ``(instance, verifier, answer, time)`` tuples."""
        rows = list(rows)
        return cls(
            instance=np.asarray([r[0] for r in rows], dtype=object),
            verifier=np.asarray([r[1] for r in rows], dtype=object),
            answer=np.asarray([int(r[2]) for r in rows], dtype=np.int8),
            time=np.asarray([r[3] for r in rows], dtype=np.float64),
        )

    def select(self, keep: np.ndarray) -> ResultTable:
        """The rows where the boolean mask ``keep [R]`` is true."""
        return ResultTable(
            instance=self.instance[keep],
            verifier=self.verifier[keep],
            answer=self.answer[keep],
            time=self.time[keep],
        )

    def rename(self, mapping: Mapping[str, str]) -> ResultTable:
        """Rename verifiers (names not in ``mapping`` stay)."""
        names = np.asarray([mapping.get(v, v) for v in self.verifier], dtype=object)
        return ResultTable(
            instance=self.instance, verifier=names, answer=self.answer, time=self.time
        )


def concat_tables(tables: Sequence[ResultTable]) -> ResultTable:
    """One table holding the rows of all ``tables`` in order."""
    if not tables:
        raise InputError("No result tables to concatenate: give at least one result file.")
    return ResultTable(
        instance=np.concatenate([t.instance for t in tables]),
        verifier=np.concatenate([t.verifier for t in tables]),
        answer=np.concatenate([t.answer for t in tables]),
        time=np.concatenate([t.time for t in tables]),
    )


@dataclass(frozen=True, kw_only=True)
class PerformanceMatrix:
    """Dense results. Shapes: ``instances [I]`` and ``verifiers [V]`` str; ``answer [I, V]`` int8
    (:class:`Answer`); ``time [I, V]`` float64 seconds (NaN: not reported); ``limit [I]`` float64,
    the time limit of each instance."""

    instances: np.ndarray
    verifiers: np.ndarray
    answer: np.ndarray
    time: np.ndarray
    limit: np.ndarray

    @property
    def decisive(self) -> np.ndarray:
        """``[I, V]`` bool: the verifier said holds or violated (at any time)."""
        return self.answer <= Answer.VIOLATED

    @property
    def solved(self) -> np.ndarray:
        """``[I, V]`` bool: a decisive answer within the instance's time limit."""
        with np.errstate(invalid="ignore"):
            return self.decisive & (self.time <= self.limit[:, None])

    def capped_time(self, penalty: float = 1.0) -> np.ndarray:
        """``[I, V]``: the run time where solved, else ``penalty`` times the limit."""
        return np.where(self.solved, self.time, penalty * self.limit[:, None])

    def verifier_index(self, names: Iterable[str]) -> list[int]:
        """Column indices of ``names``; a clear error naming the unknown ones."""
        known = {str(v): i for i, v in enumerate(self.verifiers)}
        names = list(names)
        missing = [n for n in names if n not in known]
        if missing:
            raise InputError(
                f"Unknown verifier(s) {missing}; the results hold {sorted(known)}. "
                "Use one of those names."
            )
        return [known[n] for n in names]

    def subset(self, verifiers: Sequence[str]) -> PerformanceMatrix:
        """The same instances with only the given verifier columns (in that order)."""
        cols = self.verifier_index(verifiers)
        return PerformanceMatrix(
            instances=self.instances,
            verifiers=self.verifiers[cols],
            answer=self.answer[:, cols],
            time=self.time[:, cols],
            limit=self.limit,
        )

    def select_instances(self, keep: np.ndarray) -> PerformanceMatrix:
        """Only the instances where ``keep [I]`` is true."""
        return PerformanceMatrix(
            instances=self.instances[keep],
            verifiers=self.verifiers,
            answer=self.answer[keep],
            time=self.time[keep],
            limit=self.limit[keep],
        )


class Missing(enum.Enum):
    """What :func:`to_matrix` does with an (instance, verifier) pair that has no row."""

    RAISE = "raise"
    UNKNOWN = "unknown"


def to_matrix(
    table: ResultTable,
    *,
    time_limit: float | Mapping[str, float],
    missing: Missing = Missing.RAISE,
    verifiers: Sequence[str] | None = None,
) -> PerformanceMatrix:
    """Pivot a tidy table into a :class:`PerformanceMatrix`.

    ``time_limit`` is one limit for all instances or a mapping instance -> limit (every instance
    needs one). Duplicate (instance, verifier) rows are an error; missing pairs are an error
    unless ``missing=Missing.UNKNOWN``, which fills them as UNKNOWN at NaN time and logs how many.
    ``verifiers`` fixes the column order (default: sorted names).
    """
    if len(table) == 0:
        raise InputError("The result table is empty: no runs to analyse.")
    inst_names, inst_idx = _factorize(table.instance)
    ver_names, ver_idx = _factorize(table.verifier)
    if verifiers is not None:
        order = {v: i for i, v in enumerate(ver_names)}
        unknown = [v for v in verifiers if v not in order]
        if unknown:
            raise InputError(f"Verifier(s) {unknown} have no rows; present: {list(ver_names)}.")
        remap = np.full(len(ver_names), -1)
        for new, name in enumerate(verifiers):
            remap[order[name]] = new
        keep = remap[ver_idx] >= 0
        inst_idx, ver_idx = inst_idx[keep], remap[ver_idx[keep]]
        answers, times = table.answer[keep], table.time[keep]
        ver_names = np.asarray(list(verifiers))
    else:
        answers, times = table.answer, table.time
    n_i, n_v = len(inst_names), len(ver_names)
    flat = inst_idx * n_v + ver_idx
    counts = np.bincount(flat, minlength=n_i * n_v)
    if (counts > 1).any():
        dup = np.flatnonzero(counts > 1)
        examples = [(str(inst_names[d // n_v]), str(ver_names[d % n_v])) for d in dup[:5]]
        raise CorruptFileError(
            f"{len(dup)} (instance, verifier) pairs have more than one row, e.g. {examples}. "
            "Fix: remove repeated runs (or repeated result files) before the analysis."
        )
    answer = np.full(n_i * n_v, int(Answer.UNKNOWN), dtype=np.int8)
    time = np.full(n_i * n_v, np.nan)
    answer[flat], time[flat] = answers, times
    absent = counts == 0
    if absent.any():
        per_ver = absent.reshape(n_i, n_v).sum(0)
        desc = ", ".join(f"{ver_names[j]}: {per_ver[j]}" for j in range(n_v) if per_ver[j])
        example = int(np.flatnonzero(absent)[0])
        if missing is Missing.RAISE:
            raise CorruptFileError(
                f"{int(absent.sum())} (instance, verifier) pairs have no result (missing per "
                f"verifier: {desc}; e.g. {inst_names[example // n_v]!r} for "
                f"{ver_names[example % n_v]!r}). Fix: add the missing results, restrict to common "
                "instances, or count them unsolved with missing=Missing.UNKNOWN "
                "(CLI: --missing unknown)."
            )
        logger.warning("Counting %d missing runs as UNKNOWN (%s).", int(absent.sum()), desc)
    limit = _limits(inst_names, time_limit)
    with np.errstate(invalid="ignore"):
        late = (answer <= Answer.VIOLATED).reshape(n_i, n_v) & (
            time.reshape(n_i, n_v) > limit[:, None]
        )
    if late.any():
        logger.info("%d decisive answers came after the time limit: counted unsolved.", late.sum())
    return PerformanceMatrix(
        instances=inst_names.astype(object),
        verifiers=np.asarray(ver_names, dtype=object),
        answer=answer.reshape(n_i, n_v),
        time=time.reshape(n_i, n_v),
        limit=limit,
    )


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique strings and each value's index into them. A dict pass, then sorting only
    the uniques: several times faster than ``np.unique`` on object arrays of ids."""
    codes = {v: k for k, v in enumerate(dict.fromkeys(values))}
    first = np.fromiter(map(codes.__getitem__, values), np.int64, len(values))
    names = np.asarray([str(k) for k in codes], dtype=object)
    order = np.argsort(names.astype(str), kind="stable")
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return names[order], rank[first]


def _limits(instances: np.ndarray, time_limit: float | Mapping[str, float]) -> np.ndarray:
    if isinstance(time_limit, Mapping):
        absent = [str(i) for i in instances if str(i) not in time_limit]
        if absent:
            raise InputError(
                f"No time limit for {len(absent)} instance(s), e.g. {absent[:3]}. Give a limit "
                "for every instance (e.g. from its instances CSV) or one limit for all."
            )
        limit = np.asarray([time_limit[str(i)] for i in instances], dtype=np.float64)
    else:
        limit = np.full(len(instances), float(time_limit))
    if not np.all(np.isfinite(limit) & (limit > 0)):
        raise InputError("Time limits must be positive finite seconds, e.g. time_limit=3600.")
    return limit
