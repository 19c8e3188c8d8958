"""The output layer for training: SoftmaxWithLoss."""
import numpy as np

from .._checks import float_array, forward_done
from ..functions import _labels, cross_entropy_error, softmax
from .base import Layer

__all__ = ["SoftmaxWithLoss"]


class SoftmaxWithLoss(Layer):
    """Softmax followed by the cross-entropy loss (the output layer for training).

    Attributes
    ----------
    loss : NumPy scalar
        The last loss, in the scores' dtype.
    y : ndarray, shape (N, K)
        The last softmax output.
    t : ndarray
        The last targets, one-hot (N, K) or integer labels (N,).

    Notes
    -----
    ``backward(dout)`` multiplies the gradient by ``dout`` (the book ignores it; with the
    default ``dout=1`` the result is the book's). A single sample of shape (K,) is
    treated as a batch of one.
    """

    def __init__(self):
        self.loss = None
        self.y = None
        self.t = None

    def forward(self, x, t):
        """Scores ``x`` (N, K) and targets ``t`` (one-hot (N, K) or labels (N,)) -> loss."""
        x = float_array(x, "x")
        self.t = np.asarray(t)
        self.y = softmax(x)
        self.loss = cross_entropy_error(self.y, self.t)
        return self.loss

    def backward(self, dout=1):
        """Gradient of ``dout * loss`` w.r.t. the scores: ``dout * (y - t) / N``."""
        y = forward_done(self, self.y)
        one = y.ndim == 1
        if one:
            y = y.reshape(1, -1)
            t = self.t.reshape(1, -1) if self.t.shape == self.y.shape else self.t.reshape(-1)
        else:
            t = self.t
        batch_size = y.shape[0]
        if t.shape == y.shape and y.shape[1] > 1:   # one-hot: (y - t), the book's formula
            dx = y - t.astype(y.dtype, copy=False)
        else:                           # labels: subtract 1 at each sample's label
            dx = y.copy()
            dx[np.arange(batch_size), _labels(y, t)] -= 1
        scale = y.dtype.type(1) / y.dtype.type(batch_size)
        if not (isinstance(dout, (int, float)) and dout == 1):
            scale = scale * np.asarray(dout, dtype=y.dtype)
        dx *= scale
        return dx.reshape(self.y.shape) if one else dx
