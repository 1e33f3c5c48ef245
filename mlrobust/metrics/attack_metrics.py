"""Attack metrics (pure functions, data first).

* FR_N, FR_S (paper 001 eq. 12): share of attacked images whose attack succeeded, and whose
  successful adversarial prediction is moreover semantically consistent on the label graph.
* NT_R (eq. 13): mean over successful images of the share of labels outside Psi whose
  prediction changed. Psi is the consistent target set of Omega on the label graph for every
  attack, as in the paper and its reference code (a baseline that flips the parents a
  consistent prediction needs is not charged for them); Psi = Omega without a graph.
* SSIM between clean and adversarial images of the successful samples ([0, 1] images).
* l_2, l_inf (on [0, 1] pixels) and RMSD (on 0-255 pixels, as paper 002), means over successes.
* Attack success rate (paper 002) = FR_N.

Means over an empty set of successes are ``nan`` (not 0: "no success" must not read as "no
distortion").

Examples:
    >>> import torch
    >>> fooling_rate(torch.tensor([True, False, True, True]))
    0.75
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from mlrobust.errors import InputError

if TYPE_CHECKING:
    from mlrobust.attacks import AttackResult


def fooling_rate(success: torch.Tensor) -> float:
    """FR_N = |A| / |I| for success bool ``[N]`` (also the attack success rate)."""
    _check_vector(success, "success")
    return float(success.float().mean()) if success.numel() else math.nan


attack_success_rate = fooling_rate


def semantic_fooling_rate(success: torch.Tensor, consistent: torch.Tensor) -> float:
    """FR_S = |A_G| / |I|: successes whose adversarial prediction is consistent (bool ``[N]``)."""
    _check_vector(success, "success")
    _check_vector(consistent, "consistent", success.shape[0])
    return float((success & consistent).float().mean()) if success.numel() else math.nan


def consistent_predictions(
    graph: Any, adv_pred: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """bool ``[N]``: the adversarial prediction is consistent around every original target.

    Uses :func:`mlrobust.graphs.locally_consistent_batch` (``graph.labels`` in prediction order).
    """
    from mlrobust.graphs import locally_consistent_batch

    return locally_consistent_batch(graph, adv_pred.cpu(), targets.cpu()).to(torch.bool)


def nontarget_flip_rate(
    clean_pred: torch.Tensor,
    adv_pred: torch.Tensor,
    target_set: torch.Tensor,
    success: torch.Tensor,
) -> float:
    """NT_R (eq. 13). Shapes: preds / target_set bool ``[N, L]``, success bool ``[N]``.

    A successful sample whose attacked set covers every label has no non-target label and adds 0.
    """
    _check_vector(success, "success")
    for name, t in (("clean_pred", clean_pred), ("adv_pred", adv_pred), ("target_set", target_set)):
        if t.shape != (success.shape[0], clean_pred.shape[1]):
            raise InputError(f"{name} must have shape [N, L] = {tuple(clean_pred.shape)}.")
    if not success.any():
        return math.nan
    rest = ~target_set[success]
    changed = (clean_pred[success] != adv_pred[success]) & rest
    per_sample = changed.sum(dim=1).float() / rest.sum(dim=1).clamp_min(1).float()
    return float(per_sample.mean())


def mean_ssim(x: torch.Tensor, x_adv: torch.Tensor, success: torch.Tensor) -> float:
    """Mean SSIM (pytorch-msssim, data range 1) over the successful samples ``[N, C, H, W]``."""
    from pytorch_msssim import ssim

    _check_pair(x, x_adv, success)
    if not success.any():
        return math.nan
    a, b = x[success].float(), x_adv[success].float()
    # the Gaussian window must fit the image; pytorch-msssim needs an odd size
    win = min(11, min(a.shape[-2:]))
    win = win if win % 2 == 1 else win - 1
    values = ssim(a, b, data_range=1.0, size_average=False, win_size=max(win, 1))
    return float(values.mean())


@dataclass(frozen=True)
class Distortion:
    """Mean perturbation sizes over successful samples (``nan`` if none succeeded)."""

    l2: float
    linf: float
    rmsd: float


def distortion(x: torch.Tensor, x_adv: torch.Tensor, success: torch.Tensor) -> Distortion:
    """l_2 and l_inf on [0, 1] pixels and RMSD on 0-255 pixels, means over successes."""
    _check_pair(x, x_adv, success)
    if not success.any():
        return Distortion(math.nan, math.nan, math.nan)
    delta = (x_adv[success] - x[success]).flatten(1).double()
    l2 = delta.norm(dim=1)
    linf = delta.abs().amax(dim=1)
    rmsd = (255.0 * delta).pow(2).mean(dim=1).sqrt()
    return Distortion(float(l2.mean()), float(linf.mean()), float(rmsd.mean()))


def attack_row(x: torch.Tensor, result: AttackResult, graph: Any = None) -> dict[str, Any]:
    """One row of paper 001's Table 1 for an attack ``result`` on images ``x [N, C, H, W]``:
    FR_N, FR_S (``None`` without a label graph), NT_R, mean SSIM and l_inf distortion over the
    successes, and the attack's seconds. Every table of attacks (``evaluate``, ``attack run``,
    the benchmarks) computes its rows here."""
    s = result.success
    fr_s = None
    psi = result.target_set
    if graph is not None:
        from mlrobust.graphs import consistent_target_sets

        fr_s = semantic_fooling_rate(
            s, consistent_predictions(graph, result.adv_pred, result.goal_targets)
        )
        clean, targets = result.clean_pred.cpu(), result.goal_targets.cpu()
        psi = psi | consistent_target_sets(graph, clean, targets).to(psi.device)
    return {
        "FR_N": fooling_rate(s),
        "FR_S": fr_s,
        "NT_R": nontarget_flip_rate(result.clean_pred, result.adv_pred, psi, s),
        "SSIM": mean_ssim(x, result.x_adv, s),
        "linf": distortion(x, result.x_adv, s).linf,
        "seconds": result.seconds,
    }


def _check_vector(t: torch.Tensor, name: str, n: int | None = None) -> None:
    if t.dim() != 1 or t.dtype != torch.bool:
        raise InputError(f"{name} must be a bool vector [N], got {t.dtype} {tuple(t.shape)}.")
    if n is not None and t.shape[0] != n:
        raise InputError(f"{name} has {t.shape[0]} entries, expected {n}.")


def _check_pair(x: torch.Tensor, x_adv: torch.Tensor, success: torch.Tensor) -> None:
    if x.shape != x_adv.shape or x.dim() != 4:
        raise InputError(
            f"x and x_adv must both be [N, C, H, W] of one shape, got {tuple(x.shape)} and "
            f"{tuple(x_adv.shape)}."
        )
    _check_vector(success, "success", x.shape[0])
