"""The evaluation's one configuration value, and its TOML form.

Every knob of a run lives in :class:`EvaluationConfig` (frozen, keyword-only). The TOML file
uses the same field names; unknown keys are rejected by name so a typo never silently falls
back to a default.

Example ``eval.toml``::

    models = ["double_mnist_none", "runs/mine.safetensors"]
    dataset = "samples"
    n = 20
    eps = [0.002, 0.005, 0.01]
    attacks = ["mla-u", "mla-c"]
    verifier = "milp"
    verifier_timeout_s = 5.0
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser from PyPI
    import tomli as tomllib  # type: ignore[no-redef]

import mlrobust
from mlrobust.engine.executor import EXECUTORS
from mlrobust.errors import CorruptFileError, InputError
from mlrobust.rules import DecisionRule, parse_rule
from mlrobust.verify.milp import Tightening

log = logging.getLogger(__name__)

DEFAULT_EPS = (0.002, 0.005, 0.01, 0.02)
#: the main job's models: paper 000's CNN without defence, with l0 and with PGD training (the
#: shipped ResNet, ``double_mnist_resnet``, is left out to keep the default run's time)
DEFAULT_MODELS = ("double_mnist_none", "double_mnist_l0", "double_mnist_pgd")


#: each retry round gives the pairs it retries this many times the previous round's limit
RETRY_FACTOR = 4.0


@dataclass(frozen=True, kw_only=True)
class EvaluationConfig:
    """Everything one ``mlrobust evaluate`` run does.

    Attributes:
        models: shipped model names, checkpoint paths (``.safetensors``/``.json``) or ``.onnx``.
        dataset, split, n: images to evaluate (``mlrobust.datasets.load_dataset``); the first n.
        skip_bad_images: leave out images of a folder that cannot be decoded (else an error).
        graph: label graph (prebuilt name or JSON path) for GMLA and FR_S; ``""`` = the
            prebuilt graph whose nodes are the model's labels, if one is; ``"none"`` = none.
        rule: decision rule; ``None`` = the checkpoint's (required for ONNX models).
        attacks, attack_steps, target_sizes: the Table-1 attacks, their iterations and |Omega|.
        eps: the l_inf radii (on [0, 1] pixels), one axis of every result.
        falsifier: attack that looks for a witness per (image, eps, property) cell (margin loss).
        falsifier_restarts: random restarts (twice ``attack_steps`` each) of the falsifier on
            the cells that neither it nor the verifier answered.
        verifier: a registered verifier (:mod:`mlrobust.verify.registry`) for the certified side.
        verifier_timeout_s, tightening: the verifier's limit per (image, eps) and bound ladder.
        retry_budget_s: seconds of worker time for retry rounds after the first pass: the
            (image, eps) pairs with UNKNOWN cells, closest to an answer first, get
            :data:`RETRY_FACTOR` times the previous limit, round after round (0 = none).
        budget_s: seconds of worker time per model for the whole grid's verification, charged
            by limit: the cheap pass costs ``verifier_timeout_s`` per (image, eps) pair and the
            rest pays for retry rounds (0 = no total: the cheap pass, then ``retry_budget_s``).
        verify_falsified: also run the verifier on cells an attack already falsified (a
            soundness cross-check; costs the time limit on each such cell).
        layered, layered_samples: layered-epsilon synthesis on a few images when available.
        workers: processes for the cells (1 = in this process).
        executor, ray_address: "pool" (processes of this machine) or "ray" (a local Ray
            instance, or the cluster at ``ray_address``: HOST:PORT, ray://HOST:PORT or auto).
        seed: target sets and verifier restarts.
        out_dir: reports go to ``out_dir/<model-name>/``.
    """

    models: tuple[str, ...] = DEFAULT_MODELS
    dataset: str = "samples"
    split: str = "test"
    n: int = 8
    skip_bad_images: bool = False
    graph: str = ""
    rule: DecisionRule | None = None
    attacks: tuple[str, ...] = ("mla-u", "mla-c")
    attack_steps: int = 50
    target_sizes: tuple[int, ...] = (1, 2)
    eps: tuple[float, ...] = DEFAULT_EPS
    falsifier: str = "mla-u"
    falsifier_restarts: int = 0
    verifier: str = "milp"
    verifier_timeout_s: float = 2.0
    retry_budget_s: float = 0.0
    budget_s: float = 0.0
    tightening: Tightening = Tightening.CROWN
    verify_falsified: bool = False
    layered: bool = True
    layered_samples: int = 2
    workers: int = 2
    executor: str = "pool"
    ray_address: str = ""
    seed: int = 0
    out_dir: Path = field(default=Path("reports"))

    def __post_init__(self) -> None:
        if not self.models:
            raise InputError("No models to evaluate; give at least one model name or path.")
        if self.n < 1:
            raise InputError(f"n must be at least 1, got {self.n}.")
        if not self.eps or any(not (0 < e < 1) for e in self.eps):
            raise InputError(f"eps must be a non-empty list of radii in (0, 1), got {self.eps}.")
        if len(set(self.eps)) != len(self.eps):
            raise InputError(f"eps has repeated values: {self.eps}.")
        if any(s < 1 for s in self.target_sizes):
            raise InputError(f"target_sizes must be positive, got {self.target_sizes}.")
        if self.falsifier_restarts < 0:
            raise InputError(f"falsifier_restarts must be >= 0, got {self.falsifier_restarts}.")
        if self.attack_steps < 1:
            raise InputError(f"attack_steps must be at least 1, got {self.attack_steps}.")
        if not self.verifier_timeout_s > 0:
            raise InputError("verifier_timeout_s must be positive.")
        first_retry = self.verifier_timeout_s * RETRY_FACTOR
        if self.retry_budget_s < 0 or 0 < self.retry_budget_s < first_retry:
            raise InputError(
                f"retry_budget_s = {self.retry_budget_s:g} s cannot pay for one retry: a "
                f"retried (image, eps) pair gets {first_retry:g} s ({RETRY_FACTOR:g} x "
                f"verifier_timeout_s). Give at least {first_retry:g} s, or 0 for no retry rounds."
            )
        if self.budget_s < 0:
            raise InputError(f"budget_s must be >= 0 (0 = no grid budget), got {self.budget_s:g}.")
        if self.budget_s and self.retry_budget_s:
            raise InputError(
                "Give either budget_s (the whole grid) or retry_budget_s (the retry rounds "
                "after the cheap pass), not both."
            )
        if self.workers < 1:
            raise InputError(f"workers must be at least 1, got {self.workers}.")
        if self.executor not in EXECUTORS:
            raise InputError(
                f"executor must be one of {', '.join(EXECUTORS)}; got {self.executor!r}."
            )
        names = [model_name(m) for m in self.models]
        if len(set(names)) != len(names):
            raise InputError(f"Two models share a report folder name: {names}; rename one file.")

    def cheap_pass_s(self, images: int) -> float:
        """What the cheap pass over ``images`` images costs, charged by limit."""
        return images * len(self.eps) * self.verifier_timeout_s

    def retry_budget(self, images: int) -> float:
        """Seconds left for retry rounds after the cheap pass over ``images`` images."""
        if not self.budget_s:
            return self.retry_budget_s
        return self.budget_s - self.cheap_pass_s(images)

    def check_budget(self, images: int) -> None:
        """Raise InputError when ``budget_s`` cannot pay for the cheap pass."""
        need = self.cheap_pass_s(images)
        if self.budget_s and self.budget_s < need:
            raise InputError(
                f"budget_s = {self.budget_s:g} s is too small for the cheap pass: {images} "
                f"images x {len(self.eps)} eps x {self.verifier_timeout_s:g} s "
                f"(verifier_timeout_s) = {need:g} s per model. Give at least {need:g} s, fewer "
                "images or eps, or 0 for no grid budget."
            )

    def fingerprint(self, model: str, weights: str = "") -> str:
        """Hash of the settings that change a stored cell's result (not the grid, n, workers),
        of the model's weights (``weights``: their digest) and of the mlrobust version (a new
        release may answer differently): a report folder written with other settings or another
        model under the same name is refused instead of mixed."""
        keep = {
            "mlrobust": mlrobust.__version__,
            "model": model,
            "weights": weights,
            "dataset": self.dataset,
            "split": self.split,
            "skip_bad_images": self.skip_bad_images,
            "graph": self.graph,
            "rule": str(self.rule),
            "attack_steps": self.attack_steps,
            "falsifier": self.falsifier,
            "falsifier_restarts": self.falsifier_restarts,
            "verifier": self.verifier,
            "verifier_timeout_s": self.verifier_timeout_s,
            "retry_budget_s": self.retry_budget_s,
            "budget_s": self.budget_s,
            "tightening": self.tightening.name,
            "verify_falsified": self.verify_falsified,
            "seed": self.seed,
        }
        return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types, the shape :func:`config_from_mapping` reads back."""
        out = asdict(self)
        out["rule"] = None if self.rule is None else str(self.rule)
        out["tightening"] = self.tightening.name.lower()
        out["out_dir"] = str(self.out_dir)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def model_name(ref: str) -> str:
    """Report folder name of a model reference: the stem of a path, the shipped name, or a
    factory's function name (plus its weights' stem)."""
    from mlrobust.models.user import factory_name, is_factory_ref

    if is_factory_ref(ref):
        return factory_name(ref)
    p = Path(ref)
    return (
        p.with_suffix("").name if p.suffix in (".safetensors", ".json", ".onnx", ".pt2") else p.name
    )


def default_config(**overrides: Any) -> EvaluationConfig:
    """The embedded default: the default models (:data:`DEFAULT_MODELS`) that are installed."""
    assets = Path(__file__).resolve().parent.parent / "assets" / "models"
    present = tuple(m for m in DEFAULT_MODELS if (assets / f"{m}.safetensors").exists())
    missing = sorted(set(DEFAULT_MODELS) - set(present))
    if missing:
        log.warning("shipped models not installed, left out: %s", ", ".join(missing))
    return replace(EvaluationConfig(models=present or DEFAULT_MODELS[:1]), **overrides)


_TUPLES = {"models": str, "attacks": str, "eps": float, "target_sizes": int}


def config_from_mapping(
    data: dict[str, Any], *, base: EvaluationConfig | None = None, source: str = "config"
) -> EvaluationConfig:
    """Build a config from plain values (TOML/JSON); unknown keys are an error naming them."""
    known = {f.name for f in fields(EvaluationConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(
            f"{source}: unknown key(s) {', '.join(map(repr, unknown))}; known keys: "
            f"{', '.join(sorted(known))}."
        )
    values: dict[str, Any] = {}
    for key, value in data.items():
        try:
            if key in _TUPLES:
                items = value if isinstance(value, list) else [value]
                values[key] = tuple(_TUPLES[key](v) for v in items)
            elif key == "rule":
                values[key] = None if value in (None, "") else parse_rule(str(value))
            elif key == "tightening":
                values[key] = _tightening(str(value))
            elif key == "out_dir":
                values[key] = Path(value)
            else:
                values[key] = value
        except (TypeError, ValueError) as exc:
            raise InputError(f"{source}: bad value for {key!r}: {value!r} ({exc}).") from exc
    for key in ("n", "attack_steps", "layered_samples", "workers", "seed"):
        if key in values and (isinstance(values[key], bool) or not isinstance(values[key], int)):
            raise InputError(f"{source}: {key!r} must be an integer, got {values[key]!r}.")
    return replace(base or default_config(), **values)


def _tightening(text: str) -> Tightening:
    try:
        return Tightening[text.upper()]
    except KeyError:
        raise InputError(
            f"Unknown tightening {text!r}; use one of "
            f"{', '.join(t.name.lower() for t in Tightening)}."
        ) from None


def load_config(path: str | Path, *, base: EvaluationConfig | None = None) -> EvaluationConfig:
    """Read a TOML file (top-level keys = :class:`EvaluationConfig` fields)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Config file not found: {path}.")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CorruptFileError(f"{path} is not valid TOML: {exc}") from exc
    return config_from_mapping(data, base=base, source=str(path))
