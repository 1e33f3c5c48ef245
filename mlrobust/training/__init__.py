"""Training: the Double-MNIST regimes (none, L0, PGD adversarial training) and paper 003's
partial-label losses and experiment. Above the model zoo, the metrics and the attacks it uses.

>>> from mlrobust.training import TrainConfig, Regime
>>> TrainConfig(epochs=1, regime=Regime.PGD).regime.value
'pgd'
"""

from mlrobust.training.train import Regime, TrainConfig, clean_metrics, train

__all__ = ["Regime", "TrainConfig", "clean_metrics", "train"]
