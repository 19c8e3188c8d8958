"""AlexNet's Local Response Normalization across channels, LRN (math in
:mod:`cconv.ops.lrn`, kernel ``src/_lrn.pyx``, reference :mod:`cconv.ops.reference.lrn`,
tests ``tests/test_lrn.py``)."""
from .. import ops
from .._checks import forward_done
from .base import Layer

__all__ = ["LRN"]


class LRN(Layer):
    """Local Response Normalization across channels (AlexNet, Krizhevsky et al. 2012).

    ``out[n, c] = x[n, c] / (k + alpha/size * sum_{c'} x[n, c']**2) ** beta`` where ``c'``
    runs over the ``size`` channels ``[c - size//2, c + (size-1)//2]``, clipped at the
    first and last channel. It has no parameters.

    Parameters
    ----------
    size : int, default 5
        Channels in each window (``size > C`` is allowed; the window is clipped).
    alpha : float, default 1e-4
        Multiplies the *mean* of the squares (``alpha/size`` times their sum), PyTorch's
        ``LocalResponseNorm`` convention. The paper's formula multiplies the sum by
        ``alpha`` itself: to reproduce it, pass ``alpha = paper_alpha * size``.
    beta : float, default 0.75
        Exponent, ``>= 0``. ``beta = 0.75`` takes a faster path (square roots).
    k : float, default 2.0
        Offset, ``> 0`` (so the denominator never vanishes).
    n_threads : int, optional
        OpenMP threads of the kernel (default: :func:`cconv.get_num_threads`).

    Attributes
    ----------
    x : ndarray, shape (N, C, H, W)
        The last input.
    scale : ndarray, shape (N, C, H, W)
        ``k + alpha/size * (window sum of x**2)`` of the last input, kept for
        ``backward``.

    Raises
    ------
    ValueError, TypeError
        At construction, for ``size <= 0``, negative ``alpha``/``beta``, ``k <= 0`` or
        non-finite values; in ``forward``, for an input that is not 4-D.

    Examples
    --------
    >>> import numpy as np
    >>> from cconv.layers import LRN
    >>> lrn = LRN(size=5, alpha=1e-4, beta=0.75, k=2.0)
    >>> x = np.ones((1, 3, 2, 2), dtype=np.float32)
    >>> lrn.forward(x).dtype
    dtype('float32')
    """

    hyper_names = ("size", "alpha", "beta", "k")

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=2.0, n_threads=None):
        self.size, self.alpha, self.beta, self.k = ops.check_lrn_params(size, alpha, beta, k)
        self.n_threads = n_threads
        self.x = None
        self.scale = None
        self._params = None   # the (size, alpha, beta, k) of the last forward

    def forward(self, x):
        """``x`` (N, C, H, W) -> (N, C, H, W), same dtype (float32 or float64)."""
        p = (self.size, self.alpha, self.beta, self.k)
        out, self.scale = ops.lrn_forward(x, *p, n_threads=self.n_threads)
        self.x = ops.as_float_array(x, "x")
        self._params = p
        return out

    def backward(self, dout):
        """``dout`` (N, C, H, W) -> ``dx`` (N, C, H, W), the exact gradient, ``x``'s dtype."""
        x = forward_done(self, self.x)
        return ops.lrn_backward(dout, x, self.scale, *self._params, n_threads=self.n_threads)
