"""Activation layers: Relu (compiled kernel, :mod:`cconv.ops.activation`), Sigmoid, Tanh."""
import numpy as np

from .. import ops
from .._checks import float_array, forward_done
from ..functions import sigmoid
from .base import Layer

__all__ = ["Relu", "Sigmoid", "Tanh"]


class Relu(Layer):
    """ReLU layer: ``out = max(0, x)``.

    Parameters
    ----------
    n_threads : int, optional
        Worker threads (default: :func:`cconv.get_num_threads`).

    Attributes
    ----------
    mask : ndarray of bool, shape of the last ``x``
        Where ``x <= 0`` (the book's mask), computed on demand from ``out``.
    out : ndarray
        The last output (kept instead of a boolean mask: backward reads it).

    Notes
    -----
    Book bug fixed: the book's ``backward`` writes zeros into ``dout`` in place, which
    corrupts the caller's array; here ``backward`` returns a new array and never
    modifies ``dout``. NaN inputs pass through, as in the book (``NaN <= 0`` is False).
    """

    def __init__(self, n_threads=None):
        self.out = None
        self.n_threads = n_threads

    @property
    def mask(self):
        return None if self.out is None else (self.out <= 0)

    def forward(self, x):
        """``x`` (any shape) -> ``max(0, x)``, same shape and dtype."""
        self.out = ops.relu(x, n_threads=self.n_threads)
        return self.out

    def backward(self, dout):
        """``dout`` (shape of the output) -> ``dx``, a new array; ``dout`` is left alone."""
        return ops.relu_backward(dout, forward_done(self, self.out), n_threads=self.n_threads)


class _FromOutput(Layer):
    """An activation whose gradient is a function of its output (kept in ``out``)."""

    def __init__(self):
        self.out = None

    def forward(self, x):
        """``x`` (any shape) -> the activation of ``x``, same shape and dtype."""
        self.out = self._f(x)
        return self.out

    def backward(self, dout):
        """``dout`` -> ``dout * f'(x)``, written with the output."""
        return self._backward(dout, forward_done(self, self.out))


class Sigmoid(_FromOutput):
    """Sigmoid layer (numerically stable :func:`cconv.functions.sigmoid`).

    ``backward``: ``dout * (1 - out) * out``. The last output is ``out``.
    """

    _f = staticmethod(sigmoid)

    @staticmethod
    def _backward(dout, out):
        return dout * (1 - out) * out


class Tanh(_FromOutput):
    """Tanh layer (not in the book; LeNet uses it).

    ``backward``: ``dout * (1 - out**2)``. The last output is ``out``.
    """

    @staticmethod
    def _f(x):
        return np.tanh(float_array(x, "x"))

    @staticmethod
    def _backward(dout, out):
        return dout * (1 - out * out)
