"""Local Response Normalization across channels (Krizhevsky et al. 2012, sec. 3.3).

Kernel: ``src/_lrn.pyx``; NumPy reference: :mod:`cconv.ops.reference.lrn`. PyTorch's
``LocalResponseNorm`` convention::

    scale[n, c, h, w] = k + alpha / size * sum(x[n, c', h, w] ** 2
                                               for c' in [c - size//2, c + (size-1)//2]
                                               clipped to [0, C))
    out = x * scale ** -beta

The paper multiplies the sum by ``alpha`` itself, so its ``alpha`` is this one divided by
``size`` (AlexNet: size 5, alpha 1e-4, beta 0.75, k 2). Every function checks its
arguments once, then runs the batch in one OpenMP call (fixed row blocks); inputs may
be non-contiguous or read-only; outputs are C-contiguous in the input's float dtype.
"""
import sys

import numpy as np

from .. import _lrn
from .._checks import float_array, integer, real
from .._threads import resolve_threads
from ._buffers import output
from .geometry import check_4d

__all__ = ["lrn_forward", "lrn_backward", "check_lrn_params"]

_BLOCK_BYTES = 1 << 18  # a work item's block of every channel stays within ~L2
# Elements per extra thread: below this, waking threads costs more than it saves (and on
# a busy machine far more). The result does not depend on the thread count.
_MIN_PER_THREAD = 1 << 14


def check_lrn_params(size, alpha, beta, k):
    """Validate LRN hyper-parameters; return ``(size, alpha, beta, k)`` as int and floats.

    ``size`` must be a positive int, ``alpha`` and ``beta`` finite and >= 0, ``k`` finite
    and > 0 (with ``k = 0`` an all-zero window of channels divides by zero).
    """
    size = integer(size, "size", high=sys.maxsize)   # the kernel's Py_ssize_t
    if size <= 0:
        raise ValueError(f"size (channels in the window) must be positive, got {size}")
    alpha = real(alpha, "alpha", low=0)
    beta = real(beta, "beta", low=0)
    k = real(k, "k")
    if k <= 0:
        raise ValueError(f"k must be > 0, got {k} (scale = k + alpha/size * sum of "
                         "squares must stay positive where a window is all zeros)")
    return size, alpha, beta, k


def _threads(n_threads, shape):
    n = 1
    for v in shape:
        n *= int(v)
    return max(1, min(resolve_threads(n_threads), n // _MIN_PER_THREAD))


def _rows(shape, itemsize, n_threads):
    """Pixel rows per work item: whole planes when the batch feeds every thread, else
    row blocks (about 4 work items per thread); capped so a block stays cache-sized."""
    N, C, H, W = shape
    if H == 0:
        return 1
    target = 4 * n_threads
    nblk = 1 if N >= target else min(H, -(-target // max(N, 1)))
    rows = -(-H // nblk)
    cap = max(1, _BLOCK_BYTES // max(1, C * W * itemsize))
    return max(1, min(rows, cap))


def _run(fn, x, n_threads):
    """``fn(nt, rows)`` once for the whole batch: the threads its size warrants and the
    pixel rows per work item (the kernel's one OpenMP loop shares the row blocks)."""
    nt = resolve_threads(n_threads)
    nt = _threads(nt, x.shape) if nt > 1 else 1
    fn(nt, _rows(x.shape, x.itemsize, nt))


def lrn_forward(x, size=5, alpha=1e-4, beta=0.75, k=2.0, out=None, scale=None,
                n_threads=None):
    """Local Response Normalization across the channels of ``x``.

    Parameters
    ----------
    x : array_like, shape (N, C, H, W)
        float32 or float64 (others are converted as by ``float_array``).
    size : int, default 5
        Channels in each window (the window is clipped at the first and last channel;
        ``size > C`` is allowed).
    alpha, beta, k : float, default 1e-4, 0.75, 2.0 (AlexNet's)
    out, scale : ndarray (N, C, H, W), optional
        C-contiguous, writeable buffers of ``x``'s dtype to write into.
    n_threads : int, optional
        Worker threads (see :func:`cconv.set_num_threads`); results do not depend on it.

    Returns
    -------
    out : ndarray, shape (N, C, H, W)
        ``x * scale ** -beta``.
    scale : ndarray, shape (N, C, H, W)
        ``k + alpha/size * (window sum of x**2)``, what :func:`lrn_backward` needs.
    """
    size, alpha, beta, k = check_lrn_params(size, alpha, beta, k)
    x = float_array(x, "x")
    check_4d(x, "x")
    out = output(out, x.shape, x.dtype, "out", inputs=[(x, "x")])
    scale = output(scale, x.shape, x.dtype, "scale", inputs=[(x, "x"), (out, "out")])
    x = np.ascontiguousarray(x)
    _run(lambda nt, rows: _lrn.lrn_forward_into(x, out, scale, size, alpha, beta, k, rows,
                                                nt), x, n_threads)
    return out, scale


def lrn_backward(dout, x, scale, size=5, alpha=1e-4, beta=0.75, k=2.0, out=None,
                 n_threads=None):
    """Exact gradient of :func:`lrn_forward` with respect to ``x``.

    Parameters
    ----------
    dout : array_like, shape (N, C, H, W)
        Gradient of the loss with respect to the LRN's output; converted to ``x``'s
        dtype.
    x : array_like, shape (N, C, H, W)
        The forward input.
    scale : ndarray, shape (N, C, H, W)
        The ``scale`` the forward pass returned (same dtype as ``x``).
    size, alpha, beta, k
        The forward pass's parameters (``k`` is only validated: it is inside ``scale``).
    out : ndarray (N, C, H, W), optional
        Buffer for ``dx``.
    n_threads : int, optional

    Returns
    -------
    dx : ndarray, shape (N, C, H, W), ``x``'s dtype
        ``dout * scale**-beta - 2*alpha*beta/size * x * S`` where ``S`` sums
        ``dout * x * scale**(-beta-1)`` over the channels whose window contains each
        channel.
    """
    size, alpha, beta, k = check_lrn_params(size, alpha, beta, k)
    x = float_array(x, "x")
    check_4d(x, "x")
    scale = float_array(scale, "scale")
    dout = float_array(dout, "dout")
    for a, name in ((scale, "scale"), (dout, "dout")):
        if a.shape != x.shape:
            raise ValueError(f"{name} has shape {a.shape}, x has {x.shape}; they must match")
    if scale.dtype != x.dtype:
        raise TypeError(f"scale has dtype {scale.dtype} but x has {x.dtype}; pass the scale "
                        "that lrn_forward returned for this x")
    dx = output(out, x.shape, x.dtype, "dx",
                inputs=[(x, "x"), (scale, "scale"), (dout, "dout")])
    dout = np.ascontiguousarray(dout, dtype=x.dtype)
    x = np.ascontiguousarray(x)
    scale = np.ascontiguousarray(scale)
    N, C, H, W = x.shape

    def run(nt, rows):
        items = N * (-(-H // rows)) if H else 0
        work = np.empty((max(1, min(nt, items)), (C + 1) * rows * W), dtype=x.dtype)
        _lrn.lrn_backward_into(dout, x, scale, dx, work, size, alpha, beta, rows, nt)
    _run(run, x, n_threads)
    return dx
