"""``mlrobust data info DATASET``: what a dataset holds, before anything is run on it.

mlrobust data info samples
mlrobust data info voc:VOCdevkit/VOC2007 --split test
mlrobust data info coco:annotations/instances_val2017.json --json
"""

from __future__ import annotations

import json

import typer
from rich.table import Table

from mlrobust.cli.common import console, friendly_errors

app = typer.Typer(help="Datasets: what they hold.", no_args_is_help=True)


@app.command("info")
@friendly_errors
def info_command(
    dataset: str = typer.Argument(
        ..., help="samples, double_mnist, multi_fashion, voc:PATH, coco:PATH, .npz or a folder"
    ),
    split: str = typer.Option("test", help="dataset split"),
    as_json: bool = typer.Option(False, "--json", help="print JSON (nothing else on stdout)"),
) -> None:
    """Print the image count, the label names and how many images show each label."""
    from mlrobust.datasets.registry import describe

    info = describe(dataset, split)
    if as_json:
        typer.echo(json.dumps(info, indent=1))
        return
    freq = info["frequencies"]
    console.print(f"{info['dataset']}: {info['images']} images, {len(freq)} labels", soft_wrap=True)
    table = Table("label", "images", "share")
    for name, count in freq.items():
        table.add_row(name, str(count), f"{count / max(info['images'], 1):.3f}")
    console.print(table)
    for note in info["notes"]:
        console.print(f"note: {note}", soft_wrap=True, markup=False)
