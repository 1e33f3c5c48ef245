"""Paper 004's ReLU experiments (eps = 0.012, 3600 s, 5 CPU verifiers) from its per-instance data.

The data (``nn_verification_assessment/ada_research``, the JMLR repository) has one file per
dataset x epsilon x verifier over all networks; the paper's ReLU category is the networks whose
``Category`` is ``Relu`` (MNIST also ``Relu+3Dims``: 25 networks x 100 images = 2500 instances
each for MNIST and CIFAR).
"""

from __future__ import annotations

from pathlib import Path

from mlrobust.errors import DataNotFoundError
from mlrobust.portfolio.readers import read_assessment_results, read_network_categories
from mlrobust.portfolio.table import PerformanceMatrix, concat_tables, to_matrix

TIME_LIMIT = 3600.0
VERIFIERS = ("babsb", "marabou", "neurify", "nnenum", "verinet")
RELU_CATEGORIES = {"mnist": ("Relu", "Relu+3Dims"), "cifar": ("Relu",)}

# Numbers the paper states in its text (section 6); its Table 2 is not in our copy.
REPORTED = {
    "mnist": {
        "n_instances": 2500,
        "solved": {"verinet": 1799, "nnenum": 1754},
        "mc_relative": {"neurify": 0.25, "verinet": 0.16},
        "shapley": {"verinet": 618},
        "portfolio": (("verinet", "nnenum"), 1817),
    },
    "cifar": {
        "n_instances": 2500,
        "solved": {"neurify": 915, "verinet": 841},
        "mc_relative": {"neurify": 0.75, "verinet": 0.20},
        "portfolio": (("neurify", "verinet"), 963),
    },
}


def load_relu(root: str | Path, dataset: str, *, eps_digits: str = "0012") -> PerformanceMatrix:
    """The ReLU-category matrix of ``dataset`` (``mnist`` or ``cifar``) at one epsilon
    (file-name digits: ``0012`` is 0.012)."""
    jmlr = Path(root) / "ada_research"
    folder = jmlr / "data" / "CPU" / dataset.upper()
    categories = read_network_categories(jmlr / "networks" / f"network_ids-{dataset}_clean.csv")
    nets = {n for n, c in categories.items() if c in RELU_CATEGORIES[dataset]}
    files = [folder / f"{dataset}_{eps_digits}_{v}_results.csv.gz" for v in VERIFIERS]
    absent = [str(f) for f in files if not f.exists()]
    if absent:
        raise DataNotFoundError(
            f"Paper-004 result files missing: {absent}. Point the data root at the folder "
            "holding nn_verification_assessment/ (MLROBUST_DATA)."
        )
    table = concat_tables([read_assessment_results(f, networks=nets) for f in files])
    return to_matrix(table, time_limit=TIME_LIMIT, verifiers=list(VERIFIERS))


def load_all_cpu(root: str | Path) -> PerformanceMatrix:
    """Every CPU result of the JMLR repository (both datasets, all epsilons, all networks):
    77,400 instances x 5 verifiers = 387,000 rows."""
    folder = Path(root) / "ada_research" / "data" / "CPU"
    files = sorted(folder.glob("*/*_results.csv.gz"))
    if not files:
        raise DataNotFoundError(f"No paper-004 CPU result files under {folder}.")
    table = concat_tables([read_assessment_results(f) for f in files])
    return to_matrix(table, time_limit=TIME_LIMIT, verifiers=list(VERIFIERS))
