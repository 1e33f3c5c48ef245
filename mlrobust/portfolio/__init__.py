"""Verifier portfolios (paper 004): per-instance results as data and the measures on them.

>>> from mlrobust.portfolio import ResultTable, Answer, to_matrix, summarize
>>> t = ResultTable.from_rows([
...     ("i1", "a", Answer.HOLDS, 1.0), ("i1", "b", Answer.UNKNOWN, 9.0),
...     ("i2", "a", Answer.ERROR, 0.1), ("i2", "b", Answer.VIOLATED, 2.0)])
>>> s = summarize(to_matrix(t, time_limit=10.0))
>>> s.solved.tolist(), s.shapley.tolist()
([1, 1], [1.0, 1.0])
"""

from mlrobust.portfolio.measures import (
    Contribution,
    Disagreements,
    PortfolioRun,
    average_time,
    contributions,
    disagreements,
    marginal_contribution,
    par2,
    parallel_portfolio,
    shapley_exact,
    shapley_solved,
    solved_counts,
    solved_game,
    virtual_best,
)
from mlrobust.portfolio.readers import (
    InstanceSpec,
    normalize_path,
    read_assessment_results,
    read_instances,
    read_network_categories,
    read_run_store,
    read_vnncomp_results,
    vnncomp_instance_id,
)
from mlrobust.portfolio.reference import ReferenceCheck, against_reference, read_consensus
from mlrobust.portfolio.summary import PortfolioSummary, summarize
from mlrobust.portfolio.table import (
    Answer,
    Missing,
    PerformanceMatrix,
    ResultTable,
    concat_tables,
    parse_answer,
    parse_answers,
    to_matrix,
)

__all__ = [
    "Answer",
    "Contribution",
    "Disagreements",
    "InstanceSpec",
    "Missing",
    "PerformanceMatrix",
    "PortfolioRun",
    "PortfolioSummary",
    "ReferenceCheck",
    "ResultTable",
    "against_reference",
    "average_time",
    "concat_tables",
    "contributions",
    "disagreements",
    "marginal_contribution",
    "normalize_path",
    "par2",
    "parallel_portfolio",
    "parse_answer",
    "parse_answers",
    "read_assessment_results",
    "read_consensus",
    "read_instances",
    "read_network_categories",
    "read_run_store",
    "read_vnncomp_results",
    "shapley_exact",
    "shapley_solved",
    "solved_counts",
    "solved_game",
    "summarize",
    "to_matrix",
    "virtual_best",
    "vnncomp_instance_id",
]
