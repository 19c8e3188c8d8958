"""Learning-rate schedules: the book's constant rate, or cosine annealing to 0."""
import math

from .._checks import real

__all__ = ["LR_SCHEDULES", "check_schedule", "lr_at", "set_lr"]

LR_SCHEDULES = (None, "constant", "cosine")


def check_schedule(name, optimizer):
    """``(schedule, base_lr)``: None for a constant rate, else the name and the optimizer's
    ``lr`` when the Trainer is made (ValueError/TypeError for what cannot be scheduled)."""
    if name not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {name!r}")
    if name in (None, "constant"):
        return None, None
    try:
        return name, real(getattr(optimizer, "lr", None), "lr")
    except (TypeError, ValueError):
        raise TypeError(f"lr_schedule={name!r} needs an optimizer with a numeric 'lr'; "
                        f"{type(optimizer).__name__} has "
                        f"{getattr(optimizer, 'lr', None)!r}") from None


def lr_at(schedule, base_lr, step, max_iter):
    """The rate of step ``step`` (0-based): ``base_lr * (1 + cos(pi * step / max_iter)) / 2``
    (cosine annealing without restarts, Loshchilov & Hutter 2017)."""
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * step / max_iter))


def set_lr(optimizer, lr):
    """Give ``optimizer`` the rate ``lr`` (its public hyper-parameter API when it has one)."""
    setter = getattr(optimizer, "set_hyperparameters", None)
    if callable(setter):
        setter(lr=lr)
    else:   # a book-style optimizer object: its plain attribute
        optimizer.lr = lr
