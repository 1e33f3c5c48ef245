"""Attack plugins for the registry test: one good, one that is not an Attack."""

from mlrobust.attacks import MLAU


class PluginAttack(MLAU):
    """MLA-U under another name."""

    name = "plugin-attack"


class NotAnAttack:
    pass
