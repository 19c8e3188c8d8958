"""The book's ReLU (common/layers.py), and tanh, in NumPy: the references of
:mod:`cconv.ops.activation`."""
import numpy as np


def relu(x, *, mask=None):
    """``x`` with every element ``<= 0`` set to 0 (the book's mask; NaN passes); the
    mask ``x <= 0`` is written into ``mask`` when given."""
    out = x.copy()
    m = x <= 0
    out[m] = 0
    if mask is not None:
        mask[...] = m
    return out


def relu_backward(dout, y=None, *, mask=None):
    """``dout`` where the forward output ``y`` was not ``<= 0`` (or where the book's
    ``mask`` is False), else 0 (a new array)."""
    if mask is None:
        dx = np.array(dout, dtype=y.dtype, copy=True)
        dx[y <= 0] = 0
    else:
        dx = np.array(dout, copy=True)
        dx[mask] = 0
    return dx


def tanh(x):
    """NumPy's ``tanh``."""
    return np.tanh(x)


def tanh_backward(dout, y):
    """``dout * (1 - y * y)`` for the forward output ``y``."""
    return dout * (1 - y * y)
