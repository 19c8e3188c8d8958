"""The optimizers' fused update steps.

Kernel: ``src/_optimizer.pyx``; NumPy reference: :mod:`cconv.ops.reference.optimizer`.
"""
import numpy as np

from .. import _optimizer
from .._threads import resolve_threads

__all__ = ["fusable", "adam_update"]


def fusable(p, *others):
    """Whether the compiled update can take these arrays: one float dtype, all
    C-contiguous, no two overlapping (grads of another dtype or layout, or a grad that
    is the parameter itself, take the NumPy path, which casts and copies as NumPy does)."""
    arrays = (p, *others)
    if p.dtype not in (np.float32, np.float64) or not all(
            isinstance(a, np.ndarray) and a.dtype == p.dtype and a.flags.c_contiguous
            and a.shape == p.shape for a in arrays):
        return False
    return not any(np.may_share_memory(a, b)
                   for i, a in enumerate(arrays) for b in arrays[i + 1:])


def adam_update(p, g, m, v, lr_t, one_minus_b1, one_minus_b2, eps=1e-7, n_threads=None):
    """The book's Adam step in place, in one pass, the same bits as its NumPy form
    (for any ``n_threads``: each element's update is its own).

    ``m += (1-b1)*(g-m); v += (1-b2)*(g*g-v); p -= lr_t*m / (sqrt(v)+eps)``. Returns
    False, changing nothing, when the arrays do not pass :func:`fusable` (the caller
    then takes the NumPy path), else True.
    """
    if not fusable(p, g, m, v):
        return False
    _optimizer.adam_into(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
                         float(lr_t), float(one_minus_b1), float(one_minus_b2), float(eps),
                         resolve_threads(n_threads))
    return True
