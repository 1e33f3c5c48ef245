"""``mlrobust verify``: VNN-COMP mode (``--onnx NET --vnnlib PROP``) prints ``sat|unsat|unknown
seconds``; model mode (``--model M --dataset D``) certifies each image's label decisions."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import typer

from mlrobust.cli.common import friendly_errors
from mlrobust.errors import InputError, MLRobustError
from mlrobust.solvers import Backend
from mlrobust.verify.milp import Tightening
from mlrobust.verify.protocol import Verifier


@friendly_errors
def verify(
    onnx: Path = typer.Option(None, "--onnx", help="ONNX network (VNN-COMP mode)."),
    vnnlib: Path = typer.Option(None, "--vnnlib", help="VNN-LIB 1.0 property (.vnnlib or .gz)."),
    model: str = typer.Option(
        None,
        "--model",
        help="Shipped model name, checkpoint, .pt2 file or factory package.module:function.",
    ),
    weights: str = typer.Option(
        None, "--weights", help="Weights for a factory --model (.safetensors, .pt state dict)."
    ),
    dataset: str = typer.Option("samples", "--dataset", help="Dataset name (model mode)."),
    n: int = typer.Option(10, "-n", "--n", help="Number of images (model mode)."),
    skip_bad_images: bool = typer.Option(
        False, "--skip-bad-images", help="Leave out images that cannot be decoded (model mode)."
    ),
    eps: float = typer.Option(0.01, "--eps", help="L-inf radius (model mode)."),
    prop: str = typer.Option(
        "labels",
        "--property",
        help="labels: every label's decision; topk: predicted labels stay "
        "in the top-k (model mode).",
    ),
    rule: str = typer.Option("", "--rule", help="threshold:T | topk:K (default: the model's)."),
    timeout: float = typer.Option(
        60.0, "--timeout", help="Seconds per instance (VNN-COMP) or per image (model)."
    ),
    verifier: str = typer.Option(
        "milp", "--verifier", help="Verifier name: milp (complete), crown, attack, or a plugin."
    ),
    tightening: str = typer.Option("lp", help="interval | crown | lp | mip"),
    backend: str = typer.Option("highs", help="highs | gurobi | mosek"),
    bab: bool = typer.Option(
        True,
        "--bab/--no-bab",
        help="Branch and bound before the MILP (max-pools rewritten as ReLUs).",
    ),
) -> None:
    """Complete verification of VNN-COMP instances or of our own models on a dataset."""
    from mlrobust.verify.registry import verifier_for

    try:
        level = Tightening[tightening.upper()]
        solver = Backend(backend.lower())
    except (KeyError, ValueError):
        raise InputError(
            f"unknown tightening {tightening!r} or backend {backend!r}; use "
            "interval|crown|lp|mip and highs|gurobi|mosek."
        ) from None
    if timeout <= 0:
        raise InputError("--timeout must be > 0 seconds.")
    import torch

    try:
        # one core per branch-and-bound process: the global --threads (default: one per core)
        chosen = verifier_for(
            verifier,
            tightening=level,
            backend=solver,
            bab=bab,
            bab_processes=torch.get_num_threads(),
        )
        if onnx is not None or vnnlib is not None:
            if onnx is None or vnnlib is None:
                raise InputError("VNN-COMP mode needs both --onnx and --vnnlib.")
            from mlrobust.verify.api import verify_vnnlib

            ans = verify_vnnlib(onnx, vnnlib, chosen, time_limit_s=timeout)
            typer.echo(f"{ans.answer} {ans.time_s:.2f}")
            return
        if model is None:
            raise InputError("Give --model (with --dataset) or --onnx and --vnnlib.")
        if weights is not None:
            from mlrobust.models.user import with_weights

            model = with_weights(model, weights)
        _verify_model(model, dataset, n, eps, prop, rule, chosen, timeout, skip_bad_images)
    except MLRobustError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _verify_model(
    model_name: str,
    dataset: str,
    n: int,
    eps: float,
    prop: str,
    rule_text: str,
    verifier: Verifier,
    timeout: float,
    skip_bad_images: bool = False,
) -> None:
    from mlrobust.datasets import load_dataset
    from mlrobust.evaluate.models import common_shape, dataset_for, load_model
    from mlrobust.rules import TopK, parse_rule
    from mlrobust.threats import LinfBall
    from mlrobust.verify.api import certify_labels

    if prop not in ("labels", "topk"):
        raise InputError(f"Unknown --property {prop!r}; use labels or topk.")
    if n < 1 or eps < 0:
        raise InputError("--n must be >= 1 and --eps >= 0.")
    # torch threads: the global --threads option (default: torch's, one per core)
    data = load_dataset(
        dataset, "test", n, skip_bad_images=skip_bad_images, shape=common_shape([model_name])
    )
    loaded = load_model(model_name, parse_rule(rule_text) if rule_text else None, data.input_shape)
    if loaded.net is None:
        raise InputError(f"{model_name} is {loaded.not_verifiable}; attack it instead.")
    if loaded.label_names:  # matched by name, as in evaluate and attack run
        data = dataset_for(loaded, data, dataset)
    rule = loaded.rule
    if prop == "topk" and not isinstance(rule, TopK):
        raise InputError(
            f"--property topk needs a top-k rule, the model uses {rule}; pass --rule topk:K."
        )
    net = loaded.module
    names = loaded.label_names or (
        data.label_names
        if data.num_labels == loaded.num_labels
        else tuple(str(c) for c in range(loaded.num_labels))
    )
    totals: Counter[str] = Counter()
    t_all = time.monotonic()
    for i in range(len(data)):
        t0 = time.monotonic()
        cert = certify_labels(
            net, data.x[i : i + 1], LinfBall(eps), rule, verifier, time_limit_s=timeout
        )
        on = [c for c in range(len(names)) if bool(cert.clean[0, c])]
        labels = on if prop == "topk" else list(range(len(names)))
        verdicts = {c: cert.verdicts[0][c] for c in labels}
        totals.update(v.name for v in verdicts.values())
        shown = " ".join(
            f"{names[c]}{'+' if c in on else '-'}:{verdicts[c].name[0]}" for c in labels
        )
        typer.echo(f"image {i}: {shown}  ({time.monotonic() - t0:.2f}s)")
    typer.echo(
        f"{prop} eps={eps} rule={rule}: VERIFIED {totals['VERIFIED']} FALSIFIED "
        f"{totals['FALSIFIED']} UNKNOWN {totals['UNKNOWN']} "
        f"in {time.monotonic() - t_all:.1f}s"
    )
