"""The verifier registry: built-in verifiers by name, plus third-party ones from entry points.

A third-party package adds a verifier by declaring, in its ``pyproject.toml``::

    [project.entry-points."mlrobust.verifiers"]
    my-verifier = "my_package.verifiers:MyVerifier"

where ``MyVerifier`` subclasses :class:`mlrobust.verify.protocol.Verifier`. It then appears in
``mlrobust evaluate --verifier``, ``mlrobust portfolio run --config`` and the conformance test
(``docs/extending.md``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from mlrobust.errors import InputError
from mlrobust.plugins import plugin_classes
from mlrobust.verify.milp import Tightening  # noqa: F401 - used by the doctest
from mlrobust.verify.protocol import Verifier
from mlrobust.verify.verifier import MILPVerifier
from mlrobust.verify.verifiers import AttackVerifier, CrownVerifier

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "mlrobust.verifiers"

#: the built-in verifiers, by name
VERIFIERS: Mapping[str, type[Verifier]] = MappingProxyType(
    {cls.name: cls for cls in (MILPVerifier, CrownVerifier, AttackVerifier)}
)


def _plugins() -> dict[str, type[Verifier]]:
    return plugin_classes(
        ENTRY_POINT_GROUP,
        Verifier,  # type: ignore[type-abstract]
        skip=VERIFIERS,
    )


def available_verifiers() -> dict[str, type[Verifier]]:
    """All verifiers by name: the built-ins plus entry-point plugins."""
    return {**VERIFIERS, **_plugins()}


def verifier_class(name: str) -> type[Verifier]:
    """The verifier class registered as ``name``; an error listing the names otherwise."""
    verifiers = available_verifiers()
    if name not in verifiers:
        raise InputError(f"Unknown verifier {name!r}; available: {', '.join(sorted(verifiers))}.")
    return verifiers[name]


def get_verifier(name: str, **config: Any) -> Verifier:
    """Build the verifier ``name`` with its config's keyword arguments.

    >>> get_verifier("crown", alpha_steps=5).config.alpha_steps
    5
    """
    cls = verifier_class(name)
    try:
        cfg = cls.config_type(**config)
    except TypeError as exc:
        raise InputError(f"Bad settings for verifier {name!r}: {exc}") from exc
    return cls(cfg)


def verifier_for(name: str, **wanted: Any) -> Verifier:
    """Build the verifier ``name`` with those of ``wanted`` that its config has fields for
    (:meth:`~mlrobust.verify.protocol.Verifier.settings`): how evaluate and the CLI pass their
    tightening level, solver backend and falsifier budget to any verifier.

    >>> verifier_for("crown", tightening=Tightening.CROWN, bab=False).config.tightening.name
    'CROWN'
    """
    return get_verifier(name, **verifier_class(name).settings(**wanted))
