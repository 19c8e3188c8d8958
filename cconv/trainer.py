"""The book's ``common/trainer.py`` path: :class:`cconv.training.loop.Trainer`."""
from .training.checkpoint import CHECKPOINT_NAME
from .training.divergence import TrainingDiverged
from .training.loop import LR_SCHEDULES, Trainer
from .training.signals import DeferSigint as _DeferSigint  # noqa: F401  (the old name)

__all__ = ["Trainer", "TrainingDiverged", "CHECKPOINT_NAME", "LR_SCHEDULES"]
