"""One solver layer for every LP and MILP in mlrobust (MLA-LP and the verifier).

A model is data (:class:`ModelData`: ``row_lo <= A x <= row_hi``, column bounds, integrality);
:func:`open_session` returns a :class:`Session` that solves it with changing objectives. HiGHS is
the default. Gurobi and MOSEK are used when asked for and able; when one is not — not
installed, no licence, or a model over the licence-free Gurobi size limit (error 10010) — the
session falls back to HiGHS here, once, with one warning per backend and reason (later ones are
counted in :func:`fallbacks` and logged at debug level), or raises
:class:`~mlrobust.errors.SolverError` when ``fallback=False``.

Examples:
    >>> import numpy as np, scipy.sparse as sp
    >>> data = ModelData(sp.csr_matrix(np.ones((1, 2))), np.array([-np.inf]), np.array([1.0]),
    ...                  np.zeros(2), np.ones(2), np.zeros(2, dtype=bool))
    >>> out = open_session(data).solve(np.arange(2), np.array([1.0, 2.0]), 0.0, True, 5.0)
    >>> out.status.value, round(out.value, 6)
    ('optimal', 2.0)
"""

from __future__ import annotations

import logging
import math
from collections import Counter

import numpy as np

from mlrobust.errors import SolverError
from mlrobust.solvers.highs import HighsSession, basis_status
from mlrobust.solvers.model import (
    Backend,
    ModelData,
    Outcome,
    Session,
    Status,
    Unavailable,
    no_bound,
)

log = logging.getLogger(__name__)

_fallbacks: Counter[tuple[Backend, str]] = Counter()


def fallbacks() -> Counter[tuple[Backend, str]]:
    """How often each (backend, reason) fell back to HiGHS in this process (a copy)."""
    return Counter(_fallbacks)


def _note_fallback(backend: Backend, reason: str) -> None:
    kind = reason.split(";")[0].split("(")[0].strip()
    first = (backend, kind) not in _fallbacks
    _fallbacks[(backend, kind)] += 1
    log.log(
        logging.WARNING if first else logging.DEBUG,
        "%s cannot solve this model (%s); using HiGHS instead.%s",
        backend.value,
        reason,
        " Further fallbacks of this kind are logged at debug level." if first else "",
    )


def _primary(data: ModelData, backend: Backend, threads: int, seed: int, presolve: bool) -> Session:
    if backend is Backend.GUROBI:
        from mlrobust.solvers.gurobi import GurobiSession

        return GurobiSession(data, threads, seed, presolve)
    if backend is Backend.MOSEK:
        from mlrobust.solvers.mosek import MosekSession

        return MosekSession(data, threads, seed, presolve)
    return HighsSession(data, threads, seed, presolve)


class _FallbackSession:
    """A Gurobi or MOSEK session that becomes a HiGHS one when the backend cannot go on."""

    def __init__(
        self,
        data: ModelData,
        backend: Backend,
        threads: int,
        seed: int,
        presolve: bool,
        fallback: bool,
    ) -> None:
        self._args = (data, threads, seed, presolve)
        self._wanted, self._fallback = backend, fallback
        self._session: Session
        try:
            self._session = _primary(data, backend, threads, seed, presolve)
        except Unavailable as exc:
            self._session = self._to_highs(exc)

    @property
    def backend(self) -> Backend:
        return self._session.backend

    def _to_highs(self, exc: Unavailable) -> Session:
        if not self._fallback:
            raise SolverError(
                f"{self._wanted.value} cannot solve this model ({exc}); install "
                "or license it, or use the HiGHS backend."
            ) from exc
        _note_fallback(self._wanted, str(exc))
        data, threads, seed, presolve = self._args
        return HighsSession(data, threads, seed, presolve)

    def solve(
        self,
        idx: np.ndarray,
        coef: np.ndarray,
        const: float,
        maximize: bool,
        time_limit: float,
        stop_below: float = -math.inf,
        stop_above: float = math.inf,
    ) -> Outcome:
        try:
            return self._session.solve(
                idx, coef, const, maximize, time_limit, stop_below, stop_above
            )
        except Unavailable as exc:  # e.g. Gurobi's size limit shows at the first optimize
            self._session = self._to_highs(exc)
            return self._session.solve(
                idx, coef, const, maximize, time_limit, stop_below, stop_above
            )


def open_session(
    data: ModelData,
    backend: Backend = Backend.HIGHS,
    *,
    threads: int = 1,
    seed: int = 0,
    presolve: bool = True,
    fallback: bool = True,
) -> Session:
    """A solver session on ``data`` (see the module docstring for the fallback)."""
    if backend is Backend.HIGHS:
        return HighsSession(data, threads, seed, presolve)
    return _FallbackSession(data, backend, threads, seed, presolve, fallback)


__all__ = [
    "Backend",
    "HighsSession",
    "ModelData",
    "Outcome",
    "Session",
    "Status",
    "Unavailable",
    "basis_status",
    "fallbacks",
    "no_bound",
    "open_session",
]
