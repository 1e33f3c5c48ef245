"""All per-verifier measures of paper 004 in one value, for reports and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlrobust.portfolio.measures import (
    Disagreements,
    PortfolioRun,
    average_time,
    disagreements,
    marginal_contribution,
    shapley_solved,
    solved_counts,
    virtual_best,
)
from mlrobust.portfolio.table import PerformanceMatrix


@dataclass(frozen=True, kw_only=True)
class PortfolioSummary:
    """Per-verifier columns, each ``[V]``: ``solved`` (int), ``avg_time`` (timeouts at the limit,
    all instances), ``avg_time_solvable`` (the same over instances some verifier solved, paper
    004's repository convention), ``par2``, ``mc_absolute`` (int), ``mc_relative``, ``shapley``.
    ``vbs`` is the virtual best solver; ``conflicts`` the holds-versus-violated instances."""

    verifiers: tuple[str, ...]
    n_instances: int
    solved: np.ndarray
    avg_time: np.ndarray
    avg_time_solvable: np.ndarray
    par2: np.ndarray
    mc_absolute: np.ndarray
    mc_relative: np.ndarray
    shapley: np.ndarray
    vbs: PortfolioRun
    conflicts: Disagreements

    def rows(self) -> list[dict[str, float | int | str]]:
        """One dict per verifier (for tables)."""
        return [
            {
                "verifier": v,
                "solved": int(self.solved[j]),
                "avg_time": float(self.avg_time[j]),
                "avg_time_solvable": float(self.avg_time_solvable[j]),
                "par2": float(self.par2[j]),
                "mc_absolute": int(self.mc_absolute[j]),
                "mc_relative": float(self.mc_relative[j]),
                "shapley": float(self.shapley[j]),
            }
            for j, v in enumerate(self.verifiers)
        ]


def summarize(m: PerformanceMatrix) -> PortfolioSummary:
    """Every measure of :mod:`mlrobust.portfolio.measures` for every verifier."""
    absolute, relative = marginal_contribution(m)
    vbs = virtual_best(m)
    return PortfolioSummary(
        verifiers=tuple(str(v) for v in m.verifiers),
        n_instances=len(m.instances),
        solved=solved_counts(m),
        avg_time=average_time(m),
        avg_time_solvable=average_time(m, instances=vbs.solved),
        par2=average_time(m, penalty=2.0),
        mc_absolute=absolute,
        mc_relative=relative,
        shapley=shapley_solved(m),
        vbs=vbs,
        conflicts=disagreements(m),
    )
