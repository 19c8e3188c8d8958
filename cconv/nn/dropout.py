"""Dropout, the book's (original, not inverted) version."""
import numpy as np

from .._checks import dout_array, float_array, forward_done, real
from .base import Layer

__all__ = ["Dropout"]


def _ratio(v):
    return real(v, "dropout_ratio", low=0.0, high=1.0)


class Dropout(Layer):
    """Dropout: in training, zero each unit with probability ``dropout_ratio``.

    Parameters
    ----------
    dropout_ratio : float, default 0.5
        Probability of dropping a unit, in [0, 1).
    rng : numpy.random.Generator, optional
        Source of the masks (default: NumPy's global RNG, as in the book, so
        ``np.random.seed`` makes runs repeatable).

    Attributes
    ----------
    mask : ndarray of bool
        Units kept in the last training forward pass.
    training : bool or None
        The mode of the last forward pass.

    Notes
    -----
    Kept as the book on purpose: training does *not* rescale the kept units, and test
    mode (``train_flg=False``) returns ``x * (1 - dropout_ratio)`` instead (the original
    dropout, not "inverted dropout"). The scale is applied in ``x``'s dtype, and the
    mask multiply keeps it: float32 stays float32. ``backward`` differentiates the last
    forward: ``dout * mask`` after a training pass, ``dout * (1 - dropout_ratio)`` after
    a test pass (the book reuses the last training mask there).
    """

    hyper_names = ("dropout_ratio",)
    takes_train_flg = True

    def __init__(self, dropout_ratio=0.5, rng=None):
        _ratio(dropout_ratio)
        self.dropout_ratio = dropout_ratio
        self.rng = rng
        self.mask = None
        self._scale = None

    def forward(self, x, train_flg=True):
        """``x`` (any shape) -> ``x * mask`` (training) or ``x * (1 - ratio)`` (test)."""
        ratio = _ratio(self.dropout_ratio)
        rng = self.rng
        if train_flg and rng is not None and not isinstance(rng, (np.random.Generator,
                                                                  np.random.RandomState)):
            raise TypeError(f"Dropout.rng must be a numpy.random.Generator (or None: "
                            f"numpy's global RNG), not {type(rng).__name__} ({rng!r:.40})")
        x = float_array(x, "x")
        self._out = (x.shape, x.dtype)
        self.training = bool(train_flg)
        if train_flg:
            u = rng.random(x.shape) if rng is not None else np.random.rand(*x.shape)
            self.mask = u > ratio
            return x * self.mask
        self._scale = x.dtype.type(1.0 - ratio)
        return x * self._scale

    def backward(self, dout):
        """``dout * mask`` (training forward) or ``dout * (1 - ratio)`` (test forward).

        ``dout`` must have the forward output's shape (its dtype is converted to the
        output's float dtype)."""
        if self.training is False:
            shape, dtype = self._out
            return dout_array(self, dout, shape, dtype) * self._scale
        mask = forward_done(self, self.mask)
        out = getattr(self, "_out", None)   # (None: a subclass that sets only the mask)
        return dout_array(self, dout, mask.shape, out and out[1]) * mask
