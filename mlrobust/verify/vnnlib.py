"""A VNN-LIB 1.0 reader (the format of VNN-COMP 2021/2022).

Hand-written because the PyPI ``vnnlib`` package reads only VNN-LIB 2.0. A VNN-LIB file asserts
the *counterexample* region: ``sat`` means some input in the region makes the outputs satisfy
the output constraints. We read ``declare-const`` of ``X_i``/``Y_j`` and ``assert`` formulas
built from ``and``, ``or``, ``<=``, ``>=``, ``<``, ``>`` over linear terms (``+``, ``-``, ``*``
by constants), bring the conjunction of all asserts to disjunctive normal form, and return one
input box per distinct set of input bounds with the output constraints as an
:class:`~mlrobust.verify.spec.OutputSpec` (each DNF term a clause needing all its rows). Strict
and non-strict comparisons are read alike (the boundary counts as a counterexample). Errors
name the line. Files may be gzip-compressed (``.gz``).
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import torch

from mlrobust.errors import CorruptFileError, DataNotFoundError
from mlrobust.verify.ir import DTYPE
from mlrobust.verify.spec import Clause, OutputSpec

MAX_DNF_TERMS = 100_000


@dataclass(frozen=True)
class Tok:
    text: str
    line: int


Sexp = Union[Tok, list["Sexp"]]  # noqa: UP007 - recursive alias
Linear = tuple[dict[str, float], float]  # coefficients by variable, constant


@dataclass(frozen=True, eq=False)
class Region:
    """One input box and the output constraints whose satisfaction is a counterexample.
    Shapes: ``lo``/``hi`` ``[n_inputs]`` float64."""

    lo: torch.Tensor
    hi: torch.Tensor
    spec: OutputSpec


@dataclass(frozen=True, eq=False)
class VnnlibProperty:
    """A parsed property: the counterexample set is the union over regions."""

    regions: tuple[Region, ...]
    n_inputs: int
    n_outputs: int


def read_vnnlib(path: str | Path) -> VnnlibProperty:
    """Parse a VNN-LIB 1.0 file."""
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"VNN-LIB file not found: {path}.")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as fh:  # type: ignore[operator]
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorruptFileError(f"{path}: cannot read as text: {exc}") from exc
    return parse_vnnlib(text, str(path))


def parse_vnnlib(text: str, source: str = "<string>") -> VnnlibProperty:
    """Parse VNN-LIB 1.0 text; ``source`` names it in error messages."""
    exprs = _parse_sexps(_tokenize(text), source)
    xs: set[int] = set()
    ys: set[int] = set()
    formulas: list[Sexp] = []
    for e in exprs:
        if not isinstance(e, list) or not e or not isinstance(e[0], Tok):
            raise CorruptFileError(
                f"{source}:{_line(e)}: expected (declare-const ...) or (assert ...)."
            )
        head = e[0].text
        if head == "declare-const":
            if len(e) != 3 or not isinstance(e[1], Tok):
                raise CorruptFileError(f"{source}:{e[0].line}: malformed declare-const.")
            m = re.fullmatch(r"([XY])_(\d+)", e[1].text)
            if not m:
                raise CorruptFileError(
                    f"{source}:{e[0].line}: variable {e[1].text!r} is not X_i or Y_j."
                )
            (xs if m.group(1) == "X" else ys).add(int(m.group(2)))
        elif head == "assert":
            if len(e) != 2:
                raise CorruptFileError(f"{source}:{e[0].line}: assert takes one formula.")
            formulas.append(e[1])
        else:
            raise CorruptFileError(f"{source}:{e[0].line}: unknown command {head!r}.")
    n_in, n_out = _count(xs, "X", source), _count(ys, "Y", source)
    dnf: list[list[tuple[Linear, int]]] = [[]]
    for f in formulas:
        dnf = [a + b for a in dnf for b in _dnf(f, source)]
        if len(dnf) > MAX_DNF_TERMS:
            raise CorruptFileError(
                f"{source}:{_line(f)}: the property expands to more than {MAX_DNF_TERMS} cases."
            )
    groups: dict[tuple[tuple[float, ...], tuple[float, ...]], list[Clause]] = {}
    for term in dnf:
        lo, hi = [-float("inf")] * n_in, [float("inf")] * n_in
        rows: list[tuple[dict[str, float], float]] = []
        for (coefs, const), line in term:
            kinds = {v[0] for v in coefs}
            if kinds == {"X"}:
                if len(coefs) != 1:
                    raise CorruptFileError(
                        f"{source}:{line}: input constraints must bound one "
                        "variable each (X_i vs a constant)."
                    )
                ((var, a),) = coefs.items()
                i = int(var[2:])
                bound = -const / a  # a x + const >= 0
                if a > 0:
                    lo[i] = max(lo[i], bound)
                else:
                    hi[i] = min(hi[i], bound)
            elif kinds == {"Y"}:
                rows.append((coefs, const))
            elif not kinds:
                if const < 0:  # constant constraint that is false: the term is empty
                    break
            else:
                raise CorruptFileError(f"{source}:{line}: a constraint mixes inputs and outputs.")
        else:
            for i in range(n_in):
                if lo[i] == -float("inf") or hi[i] == float("inf"):
                    raise CorruptFileError(
                        f"{source}: input X_{i} is unbounded; every input "
                        "needs a lower and an upper bound."
                    )
                if lo[i] > hi[i]:
                    raise CorruptFileError(
                        f"{source}: input X_{i} has an empty range [{lo[i]}, {hi[i]}]."
                    )
            c = torch.zeros(max(len(rows), 1), n_out, dtype=DTYPE)
            d = torch.zeros(max(len(rows), 1), dtype=DTYPE)
            for r, (coefs, const) in enumerate(rows):
                for var, a in coefs.items():
                    c[r, int(var[2:])] += a
                d[r] = const
            groups.setdefault((tuple(lo), tuple(hi)), []).append(Clause(c, d, c.shape[0]))
    if not groups:
        raise CorruptFileError(f"{source}: the property has no satisfiable case.")
    regions = tuple(
        Region(
            torch.tensor(lo, dtype=DTYPE),
            torch.tensor(hi, dtype=DTYPE),
            OutputSpec(tuple(cls), n_out, source),
        )
        for (lo, hi), cls in groups.items()
    )
    return VnnlibProperty(regions, n_in, n_out)


def _count(ids: set[int], name: str, source: str) -> int:
    if not ids:
        raise CorruptFileError(f"{source}: no {name}_i variables declared.")
    if ids != set(range(len(ids))):
        raise CorruptFileError(f"{source}: {name} variables are not numbered 0..{len(ids) - 1}.")
    return len(ids)


def _tokenize(text: str) -> list[Tok]:
    toks = []
    for ln, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(";", 1)[0]
        for t in re.findall(r"\(|\)|[^\s()]+", line):
            toks.append(Tok(t, ln))
    return toks


def _parse_sexps(toks: list[Tok], source: str) -> list[Sexp]:
    stack: list[list[Sexp]] = [[]]
    opens: list[Tok] = []
    for t in toks:
        if t.text == "(":
            stack.append([])
            opens.append(t)
        elif t.text == ")":
            if len(stack) == 1:
                raise CorruptFileError(f"{source}:{t.line}: unbalanced ')'.")
            done = stack.pop()
            opens.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(t)
    if opens:
        raise CorruptFileError(f"{source}:{opens[-1].line}: '(' is never closed.")
    return stack[0]


def _line(e: Sexp) -> int:
    if isinstance(e, Tok):
        return e.line
    return _line(e[0]) if e else 0


def _dnf(f: Sexp, source: str) -> list[list[tuple[Linear, int]]]:
    if not isinstance(f, list) or not f or not isinstance(f[0], Tok):
        raise CorruptFileError(f"{source}:{_line(f)}: expected a formula (op ...).")
    op, args = f[0].text, f[1:]
    if op == "and":
        out: list[list[tuple[Linear, int]]] = [[]]
        for a in args:
            out = [x + y for x in out for y in _dnf(a, source)]
        return out
    if op == "or":
        return [t for a in args for t in _dnf(a, source)]
    if op in ("<=", ">=", "<", ">"):
        if len(args) != 2:
            raise CorruptFileError(f"{source}:{f[0].line}: {op} takes two terms.")
        lhs, rhs = _term(args[0], source), _term(args[1], source)
        first, second = (rhs, lhs) if op in ("<=", "<") else (lhs, rhs)  # first - second >= 0
        coefs = dict(first[0])
        for v, c in second[0].items():
            coefs[v] = coefs.get(v, 0.0) - c
        coefs = {v: c for v, c in coefs.items() if c != 0}
        return [[((coefs, first[1] - second[1]), f[0].line)]]
    raise CorruptFileError(
        f"{source}:{f[0].line}: unsupported operator {op!r} (VNN-LIB 1.0 "
        "supports and, or, <=, >=, <, >)."
    )


def _term(t: Sexp, source: str) -> Linear:
    if isinstance(t, Tok):
        if re.fullmatch(r"[XY]_\d+", t.text):
            return {t.text: 1.0}, 0.0
        try:
            return {}, float(t.text)
        except ValueError:
            raise CorruptFileError(
                f"{source}:{t.line}: {t.text!r} is neither a number nor an X_i/Y_j variable."
            ) from None
    if not t or not isinstance(t[0], Tok):
        raise CorruptFileError(f"{source}:{_line(t)}: malformed term.")
    op = t[0].text
    parts = [_term(a, source) for a in t[1:]]
    if op == "+" or (op == "-" and len(parts) >= 2):
        coefs: dict[str, float] = {}
        const = 0.0
        for n, (cf, c0) in enumerate(parts):
            sign = -1.0 if op == "-" and n > 0 else 1.0
            for v, c in cf.items():
                coefs[v] = coefs.get(v, 0.0) + sign * c
            const += sign * c0
        return coefs, const
    if op == "-" and len(parts) == 1:
        return {v: -c for v, c in parts[0][0].items()}, -parts[0][1]
    if op == "*" and len(parts) == 2:
        (c1, k1), (c2, k2) = parts
        if c1 and c2:
            raise CorruptFileError(f"{source}:{t[0].line}: product of two variables is not linear.")
        if c1:
            return {v: c * k2 for v, c in c1.items()}, k1 * k2
        return {v: c * k1 for v, c in c2.items()}, k1 * k2
    raise CorruptFileError(f"{source}:{t[0].line}: unsupported term operator {op!r}.")
