"""Pictures of a label graph: an indented text tree and a matplotlib figure.

Examples:
    >>> from mlrobust.graphs.sources import from_edges
    >>> print(tree_text(from_edges([("animal", "cat"), ("animal", "dog")])))
    animal
    ├── cat
    └── dog
"""

from __future__ import annotations

from typing import Any

from mlrobust.graphs.graph import LabelGraph


def tree_text(graph: LabelGraph, *, mark_abstract: bool = False) -> str:
    """The hierarchy as an indented tree, roots and children in prediction order.

    A node with several parents is drawn under each of them.
    With ``mark_abstract`` the abstract nodes are shown in square brackets.
    """
    abstract = set(graph.abstract)

    def label(name: str) -> str:
        return f"[{name}]" if mark_abstract and name in abstract else name

    lines: list[str] = []

    def walk(name: str, prefix: str, last: bool) -> None:
        lines.append(prefix + ("└── " if last else "├── ") + label(name))
        kids = graph.children(name)
        for i, child in enumerate(kids):
            walk(child, prefix + ("    " if last else "│   "), i == len(kids) - 1)

    for root in graph.roots:
        lines.append(label(root))
        kids = graph.children(root)
        for i, child in enumerate(kids):
            walk(child, "", i == len(kids) - 1)
    return "\n".join(lines)


def tree_figure(graph: LabelGraph) -> Any:
    """A matplotlib ``Figure`` drawing the hierarchy top-down (leaves at the bottom).

    Nodes are placed by depth (rows) and by the order of their subtree's leaves (columns);
    abstract nodes are drawn in a different colour. The caller saves or shows the figure.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    order: list[str] = []
    depth: dict[str, int] = {}

    def place(name: str, d: int) -> None:
        if name in depth:  # a second parent: keep the first placement
            return
        depth[name] = d
        kids = graph.children(name)
        if not kids:
            order.append(name)
        for child in kids:
            place(child, d + 1)

    for root in graph.roots:
        place(root, 0)
    x: dict[str, float] = {name: float(i) for i, name in enumerate(order)}
    for name in sorted(depth, key=depth.__getitem__, reverse=True):
        if name not in x:
            xs = [x[c] for c in graph.children(name) if c in x]
            x[name] = sum(xs) / len(xs) if xs else 0.0
    max_depth = max(depth.values(), default=0)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(order)), 1.2 + 1.1 * max_depth))
    for parent, child in graph.graph.edges:
        ax.plot(
            [x[parent], x[child]], [-depth[parent], -depth[child]], color="0.6", lw=0.8, zorder=1
        )
    abstract = set(graph.abstract)
    for name in depth:
        ax.text(
            x[name],
            -depth[name],
            name,
            ha="center",
            va="center",
            fontsize=7,
            rotation=90 if not graph.children(name) else 0,
            zorder=2,
            bbox={
                "boxstyle": "round,pad=0.2",
                "fc": "#fde9c9" if name in abstract else "#d6e8f7",
                "ec": "0.5",
                "lw": 0.5,
            },
        )
    ax.set_xlim(-1, max(len(order), 1))
    ax.set_ylim(-max_depth - 0.8, 0.6)
    ax.axis("off")
    fig.tight_layout()
    return fig
