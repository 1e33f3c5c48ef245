"""Label hierarchies and consistent target sets (paper 001, section 4.2 and Algorithm 1).

Build a :class:`LabelGraph` from WordNet, the OpenImages hierarchy, an edge list, or load a
prebuilt one; then ask for the consistent target set of an attack or check consistency.

Examples:
    >>> from mlrobust.graphs import load_prebuilt, consistent_target_set
    >>> g = load_prebuilt("voc")
    >>> len(g.leaves)
    20
"""

from mlrobust.graphs.consistency import (
    consistent_batch,
    consistent_target_set,
    consistent_target_sets,
    is_consistent,
    is_locally_consistent,
    locally_consistent_batch,
)
from mlrobust.graphs.graph import LabelGraph
from mlrobust.graphs.prebuilt import load_graph, load_prebuilt

__all__ = [
    "LabelGraph",
    "consistent_batch",
    "consistent_target_set",
    "consistent_target_sets",
    "is_consistent",
    "is_locally_consistent",
    "load_graph",
    "load_prebuilt",
    "locally_consistent_batch",
]
