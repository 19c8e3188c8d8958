"""The book's Affine (common/layers.py) in NumPy: the reference of :mod:`cconv.ops.linear`."""
import numpy as np


def affine_forward(x, W, b):
    """``(x.reshape(N, -1) @ W + b, x2)`` as the book computes it."""
    x2 = x.reshape(x.shape[0], -1)
    return np.dot(x2, W) + b, x2


def affine_backward(dout, x2, W):
    """``(dx, dW, db)`` of :func:`affine_forward`, dx (N, D)."""
    return np.dot(dout, W.T), np.dot(x2.T, dout), np.sum(dout, axis=0)
