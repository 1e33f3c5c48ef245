"""The attack registry: built-in attacks by name, plus third-party ones from entry points.

A third-party package adds an attack by declaring, in its ``pyproject.toml``::

    [project.entry-points."mlrobust.attacks"]
    my-attack = "my_package.attacks:MyAttack"

where ``MyAttack`` subclasses :class:`mlrobust.attacks.Attack`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from mlrobust.attacks.base import Attack
from mlrobust.attacks.deepfool import MLDeepFool
from mlrobust.attacks.gmla import GMLA
from mlrobust.attacks.mla import MLAC, MLAU
from mlrobust.attacks.mla_lp import MLALP
from mlrobust.attacks.torchattacks_adapter import TorchAttacksAdapter
from mlrobust.errors import InputError
from mlrobust.plugins import plugin_classes

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "mlrobust.attacks"

#: the built-in attacks, by name
ATTACKS: Mapping[str, type[Attack]] = MappingProxyType(
    {cls.name: cls for cls in (MLAU, MLAC, GMLA, MLALP, MLDeepFool, TorchAttacksAdapter)}
)


def _plugins() -> dict[str, type[Attack]]:
    return plugin_classes(
        ENTRY_POINT_GROUP,
        Attack,  # type: ignore[type-abstract]
        skip=ATTACKS,
    )


def available_attacks() -> dict[str, type[Attack]]:
    """All attacks by name: the built-ins plus entry-point plugins."""
    return {**ATTACKS, **_plugins()}


def get_attack(name: str, **config: Any) -> Attack:
    """Build the attack ``name`` with its config's keyword arguments.

    >>> get_attack("mla-u", steps=10).config.steps
    10
    """
    return build_attack(get_attack_class(name), **config)


def budgeted_attack(name: str, *, steps: int, eps: float, margin: bool = False) -> Attack:
    """The attack ``name`` set up for ``steps`` iterations at radius ``eps`` (see
    :meth:`Attack.budget`): how ``evaluate`` builds every attack, built-in or plugin.

    >>> budgeted_attack("mla-u", steps=7, eps=0.01).config.steps
    7
    """
    cls = get_attack_class(name)
    return build_attack(cls, **cls.budget(steps=steps, eps=eps, margin=margin))


def get_attack_class(name: str) -> type[Attack]:
    """The attack class registered as ``name``; an error listing the names otherwise."""
    attacks = available_attacks()
    if name not in attacks:
        raise InputError(f"Unknown attack {name!r}; available: {', '.join(sorted(attacks))}.")
    return attacks[name]


def build_attack(cls: type[Attack], **config: Any) -> Attack:
    """``cls`` with its config built from keyword arguments (a clear error for bad ones)."""
    name = cls.name
    try:
        cfg = cls.config_type(**config)
    except TypeError as exc:
        raise InputError(f"Bad settings for attack {name!r}: {exc}") from exc
    return cls(cfg)
