"""Divergence: the checks a step runs before its update, and the error it raises."""
import math
import os

import numpy as np

from .rng import set_states

__all__ = ["TrainingDiverged", "all_finite", "describe", "restore_diverged"]


class TrainingDiverged(RuntimeError):
    """The loss (or a gradient) stopped being finite.

    Attributes
    ----------
    step : int
        The 1-based number of the step whose loss was not finite (``current_iter + 1``).
    epoch : int
        The 1-based epoch that step belongs to.
    loss : float
        The offending loss (nan or inf; the loss itself when only a gradient was bad).
    restored : str or None
        What the trainer's state was put back to: ``'start of step'``, a checkpoint
        description, or None when nothing finite was available.
    """

    def __init__(self, message, *, step, epoch, loss, restored):
        super().__init__(message)
        self.step = step
        self.epoch = epoch
        self.loss = loss
        self.restored = restored


def all_finite(arrays):
    """Whether every array of the dict is finite: one read pass each and no temporary (a
    sum is finite iff every element is, barring overflow, itself a sign of divergence)."""
    return all(math.isfinite(float(np.sum(a))) for a in arrays.values())


def describe(step, epoch, in_epoch, loss, grads_bad, restored, checkpoint):
    """The message of a :class:`TrainingDiverged`."""
    what = (f"a gradient is not finite (loss {loss})" if grads_bad
            else f"the loss is {loss}")
    msg = f"training diverged at step {step} (epoch {epoch}, step {in_epoch}): {what}; "
    if restored == "start of step":
        msg += "the parameters and optimizer are as at the start of that step"
    elif restored is None:
        msg += "the parameters are no longer finite and there is no checkpoint to restore"
    else:
        msg += f"restored {restored}"
    if checkpoint is not None:
        msg += f"; the last good checkpoint is {checkpoint}"
    return msg + ". Try a smaller learning rate."


def restore_diverged(trainer, step, epoch, loss, grads_bad):
    """Put the state back to the start of the failing step (or the last checkpoint when
    the parameters are no longer finite), report it and raise TrainingDiverged."""
    trainer._close_bar()
    set_states(trainer.rng, trainer._snapshot)    # the RNGs as at the start of the step
    restored = "start of step"
    have_ckpt = trainer.checkpoint_path is not None and os.path.exists(trainer.checkpoint_path)
    if not all_finite(trainer.network.params):
        restored = None
        if have_ckpt:
            trainer.load_checkpoint(trainer.checkpoint_path)
            restored = (f"checkpoint {trainer.checkpoint_path} (epoch {trainer.current_epoch}, "
                        f"step {trainer.current_iter})")
    msg = describe(step, epoch, step - trainer._epoch_end(epoch - 1), loss, grads_bad,
                   restored, trainer.checkpoint_path if have_ckpt else None)
    trainer._say(msg)
    trainer.log.write(event="diverged", step=step, epoch=epoch, loss=loss, restored=restored)
    raise TrainingDiverged(msg, step=step, epoch=epoch, loss=loss, restored=restored)
