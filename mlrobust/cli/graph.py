"""``mlrobust graph show|build|check``: look at, regenerate and validate label graphs."""

from __future__ import annotations

from pathlib import Path

import typer

from mlrobust.errors import MLRobustError

app = typer.Typer(help="Label hierarchies: show, build (WordNet) and check.", no_args_is_help=True)


def _load(source: str):  # noqa: ANN202 - LabelGraph, imported lazily to keep the CLI fast
    """A prebuilt name, a LabelGraph JSON file, an OpenImages hierarchy or an edge list."""
    from mlrobust.graphs import load_graph

    try:
        return load_graph(source)
    except MLRobustError as exc:
        _fail(exc)  # one "error:" line and exit 2, as every command


def _fail(exc: MLRobustError) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


@app.command()
def show(
    source: str = typer.Argument(..., help="Prebuilt name (voc, coco, ...) or a graph file."),
    png: Path | None = typer.Option(None, "--png", help="Also draw the tree into this PNG file."),
) -> None:
    """Print the hierarchy as a text tree (abstract nodes in [brackets]); optionally a PNG."""
    from mlrobust.graphs.render import tree_figure, tree_text

    try:
        graph = _load(source)
    except MLRobustError as exc:
        _fail(exc)
        return
    typer.echo(f"{graph!r}: {len(graph)} nodes")
    typer.echo(tree_text(graph, mark_abstract=True))
    if png is not None:
        fig = tree_figure(graph)
        fig.savefig(png, dpi=150)
        typer.echo(f"wrote {png}")


@app.command()
def build(
    names: list[str] = typer.Argument(None, help="Prebuilt graphs to rebuild (default: all)."),
    out_dir: Path | None = typer.Option(
        None, "--out-dir", help="Write here instead of the package's assets/graphs folder."
    ),
) -> None:
    """Rebuild prebuilt graphs from WordNet and the label lists under MLROBUST_DATA."""
    from mlrobust.graphs.prebuilt import PREBUILT, build_prebuilt, prebuilt_path

    try:
        for name in names or sorted(PREBUILT):
            graph = build_prebuilt(name)
            target = (out_dir / f"{name}.json") if out_dir else prebuilt_path(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            graph.save(target)
            typer.echo(
                f"{name}: {len(graph.leaves)} labels + {len(graph.abstract)} abstract = "
                f"{len(graph)} nodes -> {target}"
            )
    except MLRobustError as exc:
        _fail(exc)


@app.command()
def check(
    source: str = typer.Argument(..., help="Prebuilt name or graph file to validate."),
) -> None:
    """Validate a graph (acyclic, names known) and print its size and shape."""
    try:
        graph = _load(source)
    except MLRobustError as exc:
        _fail(exc)
        return
    multi = [v for v in graph.labels if len(graph.parents(v)) > 1]
    depth = max((len(graph.ancestors(v)) for v in graph.labels), default=0)
    typer.echo(
        f"ok: {len(graph)} nodes ({len(graph.leaves)} leaves, {len(graph.abstract)} abstract), "
        f"{graph.graph.number_of_edges()} edges, {len(graph.roots)} roots, depth {depth}, "
        f"{len(multi)} nodes with several parents"
    )
