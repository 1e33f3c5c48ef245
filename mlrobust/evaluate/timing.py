"""Time per component (attacks, bound propagation, MILP) inside one worker.

The verifier exposes only its total time, so its stages are timed by wrapping the module-level
functions it calls (``tighten`` and ``_clause_upper_crown`` = bound propagation and
tightening, ``_milp_clause`` = MILP,
``_attack`` = its PGD pre-pass). When a later verifier version renames them the wrappers are
simply not installed and that time shows as "verifier, other" — never lost, never double-counted.
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

COMPONENTS = ("attacks", "bounds", "milp", "verifier_other", "reporting")

_totals: defaultdict[str, float] = defaultdict(float)
_installed = False
_WRAP = {
    "tighten": "bounds",
    "_clause_upper_crown": "bounds",
    "_milp_clause": "milp",
    "_attack": "attacks",
}


def _wrap(fn: Callable[..., Any], component: str) -> Callable[..., Any]:
    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _totals[component] += time.perf_counter() - t0

    return timed


def install() -> None:
    """Wrap the verifier's stages once per process."""
    global _installed
    if _installed:
        return
    from mlrobust.verify import verifier

    for name, component in _WRAP.items():
        fn = getattr(verifier, name, None)
        if callable(fn):
            setattr(verifier, name, _wrap(fn, component))
    _installed = True


@contextmanager
def measure() -> Iterator[dict[str, float]]:
    """Collect the wrapped stages' seconds spent inside the block into the yielded dict."""
    before = dict(_totals)
    out: dict[str, float] = {}
    try:
        yield out
    finally:
        for k, v in _totals.items():
            d = v - before.get(k, 0.0)
            if d > 0:
                out[k] = d
