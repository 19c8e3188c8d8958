"""Layers beyond the book's ``common/layers.py`` that the classic networks need.

``LRN``: AlexNet's Local Response Normalization across channels, on the compiled kernel
``cconv._lrn`` (re-exported by :mod:`cconv.layers`). ``Normalize``: LeNet's fixed input
standardisation.
"""
import numpy as np

from . import _kernels_lrn, _parallel
from ._config import resolve_threads
from ._kernels import as_float_array

__all__ = ["LRN", "Normalize"]


class LRN:
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
    >>> from cconv.layers_extra import LRN
    >>> lrn = LRN(size=5, alpha=1e-4, beta=0.75, k=2.0)
    >>> x = np.ones((1, 3, 2, 2), dtype=np.float32)
    >>> lrn.forward(x).dtype
    dtype('float32')
    """

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=2.0, n_threads=None):
        self.size, self.alpha, self.beta, self.k = _kernels_lrn.check_lrn_params(
            size, alpha, beta, k)
        self.n_threads = n_threads
        self.x = None
        self.scale = None

    def forward(self, x):
        """``x`` (N, C, H, W) -> (N, C, H, W), same dtype (float32 or float64)."""
        x = as_float_array(x, "x")
        if x.ndim != 4:
            raise ValueError(f"LRN input must be 4-D (N, C, H, W), got {x.ndim}-D with "
                             f"shape {x.shape}")
        self.x = x
        x = np.ascontiguousarray(x)
        out, scale = np.empty(x.shape, x.dtype), np.empty(x.shape, x.dtype)
        p = (self.size, self.alpha, self.beta, self.k)
        # batch chunks on cconv's worker threads (one thread pool, see cconv._parallel)
        _parallel.for_batch(
            lambda c, s: _kernels_lrn.lrn_forward(x[s], *p, out=out[s], scale=scale[s],
                                                  n_threads=1),
            x.shape[0], x[0].nbytes if x.shape[0] else 0, resolve_threads(self.n_threads))
        self.scale = scale
        return out

    def backward(self, dout):
        """``dout`` (N, C, H, W) -> ``dx`` (N, C, H, W), the exact gradient, ``x``'s dtype."""
        if self.x is None:
            raise RuntimeError("LRN.backward called before forward")
        x = np.ascontiguousarray(self.x)
        dout = np.ascontiguousarray(as_float_array(dout, "dout"), dtype=x.dtype)
        if dout.shape != x.shape:
            raise ValueError(f"dout has shape {dout.shape}, x has {x.shape}; they must match")
        dx = np.empty(x.shape, x.dtype)
        p = (self.size, self.alpha, self.beta, self.k)
        _parallel.for_batch(
            lambda c, s: _kernels_lrn.lrn_backward(dout[s], x[s], self.scale[s], *p,
                                                   out=dx[s], n_threads=1),
            x.shape[0], x[0].nbytes if x.shape[0] else 0, resolve_threads(self.n_threads))
        return dx

    def __repr__(self):
        return f"LRN(size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k})"


class Normalize:
    """Fixed standardisation of the input, ``(x - mean) / std``; no parameters.

    LeCun et al. (1998) scaled MNIST so that the background is -0.1 and the ink 1.175,
    "which makes the mean input roughly 0, and the variance roughly 1": with tanh units
    and average pooling this matters (LeNet reaches 98.8% on MNIST in 20 epochs with it,
    98.5% without). As the network's first layer, the rule travels with the parameters
    and every caller (training, ``predict``, the visualisations) feeds raw ``[0, 1]``
    pixels.

    Parameters
    ----------
    mean : float
    std : float, > 0

    Notes
    -----
    ``forward`` keeps the input's dtype (mean and std are converted to it);
    ``backward`` returns ``dout / std``.
    """

    def __init__(self, mean, std):
        mean, std = float(mean), float(std)
        if not np.isfinite(mean) or not (np.isfinite(std) and std > 0):
            raise ValueError(f"Normalize needs a finite mean and a finite std > 0, got "
                             f"mean={mean!r}, std={std!r}")
        self.mean, self.std = mean, std
        self.dtype = None

    def forward(self, x):
        """``x`` (any shape) -> ``(x - mean) / std``, same shape and dtype."""
        x = as_float_array(x, "x")
        t = x.dtype.type
        self.dtype = x.dtype
        out = np.subtract(x, t(self.mean))
        out /= t(self.std)
        return out

    def backward(self, dout):
        """``dout`` -> ``dout / std`` (in the dtype of the last input)."""
        if self.dtype is None:
            raise RuntimeError("Normalize.backward called before forward")
        dout = np.asarray(dout, dtype=self.dtype)
        return dout / self.dtype.type(self.std)
