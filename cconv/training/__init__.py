"""Training: the loop and the small pieces it uses.

:mod:`~cconv.training.loop` (Trainer), :mod:`~cconv.training.sampling` (batches),
:mod:`~cconv.training.checkpoint` (the checkpoint file, RNG states included),
:mod:`~cconv.training.progress` (progress bars), :mod:`~cconv.training.log` (the JSON
log), :mod:`~cconv.training.signals` (Ctrl-C deferral),
:mod:`~cconv.training.divergence` (non-finite loss or gradients, and the rewind),
:mod:`~cconv.training.rng` (the two seeded RNGs), :mod:`~cconv.training.evaluate`
(the calls into the network: gradient and loss, accuracies).
"""
from .checkpoint import CHECKPOINT_NAME
from .divergence import TrainingDiverged
from .loop import Trainer

__all__ = ["Trainer", "TrainingDiverged", "CHECKPOINT_NAME"]
