"""The fully connected layer, Affine (math in :mod:`cconv.ops.linear`)."""
import numpy as np

from .. import ops
from .._checks import forward_done, param_array
from ..ops._buffers import grad_like
from .base import Layer

__all__ = ["Affine"]


class Affine(Layer):
    """Fully connected layer ``out = x @ W + b``.

    Parameters
    ----------
    W : ndarray, shape (D, M)
        Weights, kept by identity (``layer.W is W``).
    b : ndarray, shape (M,)
        Bias, kept by identity.
    n_threads : int, optional
        Worker threads (default: :func:`cconv.get_num_threads`).

    Attributes
    ----------
    x : ndarray, shape (N, D)
        The last input, flattened.
    original_x_shape : tuple
        The last input's shape, e.g. (N, C, H, W); ``backward`` returns ``dx`` in it.
    dW : ndarray, shape (D, M), in ``W``'s dtype
    db : ndarray, shape (M,), in ``b``'s dtype

    Notes
    -----
    Inputs with more than two axes are flattened to (N, -1) like the book (a
    convolution's (N, C, H, W) output feeds an Affine layer directly).
    """

    param_names = ("W", "b")

    def __init__(self, W, b, n_threads=None):
        self.W = param_array(W, "W")
        self.b = param_array(b, "b")
        self.n_threads = n_threads
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    @property
    def window(self):
        return None   # every output sees every input position

    def forward(self, x):
        """``x`` (N, D) or (N, ...) with D elements per sample -> (N, M)."""
        return self._forward(x, False)

    def forward_relu(self, x):
        """``max(forward(x), 0)`` in one pass: the ReLU applied as the sums are stored
        (NaN passes, as in the book's mask). ``backward`` still differentiates the Affine
        alone; a network pairs this with :meth:`Relu.take_output`."""
        return self._forward(x, True)

    def _forward(self, x, relu):
        out, x2 = ops.affine_forward(x, self.W, self.b, n_threads=self.n_threads, relu=relu)
        self.original_x_shape = tuple(np.shape(x))
        self.x = x2
        return out

    def backward(self, dout):
        """``dout`` (N, M) -> ``dx`` in the input's original shape; sets ``dW``, ``db``."""
        x = forward_done(self, self.x)
        dx, dW, db = ops.affine_backward(dout, x, self.W, n_threads=self.n_threads)
        self.dW = grad_like(dW, self.W)
        self.db = grad_like(db, self.b)
        return dx.reshape(*self.original_x_shape)
