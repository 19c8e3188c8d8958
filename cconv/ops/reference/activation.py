"""The book's ReLU (common/layers.py) in NumPy: the reference of :mod:`cconv.ops.activation`."""
import numpy as np


def relu(x):
    """``x`` with every element ``<= 0`` set to 0 (the book's mask; NaN passes)."""
    out = x.copy()
    out[x <= 0] = 0
    return out


def relu_backward(dout, y):
    """``dout`` where the forward output ``y`` was not ``<= 0``, else 0 (a new array)."""
    dx = np.array(dout, dtype=y.dtype, copy=True)
    dx[y <= 0] = 0
    return dx
