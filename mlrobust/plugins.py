"""Third-party plugins: classes named in an entry-point group (``mlrobust.attacks``,
``mlrobust.verifiers``), loaded the same way for every registry."""

from __future__ import annotations

import logging
from collections.abc import Collection
from importlib.metadata import entry_points
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


def plugin_classes(group: str, base: type[T], skip: Collection[str] = ()) -> dict[str, type[T]]:
    """The subclasses of ``base`` registered in entry-point ``group``, by name. Names in
    ``skip`` (the built-ins, which win) are ignored; a plugin that fails to load or is not a
    ``base`` subclass is logged and left out, so it cannot break the built-ins."""
    found: dict[str, type[T]] = {}
    for ep in entry_points(group=group):
        if ep.name in skip:
            continue
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plugin must not break the built-ins
            log.warning("could not load plugin %r of %s (%s): %s", ep.name, group, ep.value, exc)
            continue
        if not (isinstance(cls, type) and issubclass(cls, base)):
            log.warning(
                "plugin %r of %s is not a %s subclass; ignored", ep.name, group, base.__name__
            )
            continue
        found[ep.name] = cls
    return found
