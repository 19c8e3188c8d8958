"""The fully connected product ``x @ W + b`` and its gradients.

Kernel: the convolution engine's ``matmul`` (``src/conv/conv_template.h``: the same
register tiles as the convolutions, operands packed by all threads, one OpenMP region
per product, GIL released; each output value is one sum over k in order, so results do
not depend on the thread count, and no BLAS thread pool is involved). NumPy reference:
:mod:`cconv.ops.reference.linear` (the book's ``np.dot``).
"""
import numpy as np

from .._checks import float_array
from .._threads import resolve_threads
from ._buffers import same_dtype
from .conv import _engine

__all__ = ["affine_forward", "affine_backward"]


def _flat(x):
    # (N, ...) -> (N, D); unlike reshape(N, -1), also defined for an empty batch
    return x.reshape(x.shape[0], int(np.prod(x.shape[1:], dtype=np.int64)))


def _weights(W, b):
    W, b = float_array(W, "W"), float_array(b, "b")
    if W.ndim != 2:
        raise ValueError(f"W must be 2-D (D, M), got shape {W.shape}")
    if b.shape != (W.shape[1],):
        raise ValueError(f"b has shape {b.shape} but W of shape {W.shape} has "
                         f"{W.shape[1]} outputs: b must be ({W.shape[1]},)")
    return W, b


def affine_forward(x, W, b, n_threads=None, relu=False):
    """``x`` (N, D) or (N, ...) with D elements per sample -> ``(out, x2)``.

    ``out`` (N, M) is in the result dtype of ``x``, ``W``, ``b``; ``x2`` is ``x``
    flattened to (N, D), what :func:`affine_backward` needs. ``relu``: ``out`` is
    ``max(x @ W + b, 0)`` (0 where <= 0, NaN passes: :func:`cconv.ops.relu`'s values),
    applied as the sums are stored.
    """
    W, b = _weights(W, b)
    x = float_array(x, "x")
    if x.ndim == 0:
        raise ValueError("Affine needs a batch (N, D), got a scalar")
    x2 = _flat(x)
    if x2.shape[1] != W.shape[0]:
        raise ValueError(f"x of shape {x.shape} has {x2.shape[1]} features per sample, "
                         f"but W of shape {W.shape} expects {W.shape[0]}")
    N, M = x2.shape[0], W.shape[1]
    dt = np.result_type(x2.dtype, W.dtype, b.dtype)
    Wd, bd = same_dtype(W, dt), same_dtype(b, dt)
    out = np.empty((N, M), dtype=dt)
    _engine().matmul_into(same_dtype(x2, dt), Wd, out, np.ascontiguousarray(bd),
                          resolve_threads(n_threads), bool(relu))
    return out, x2


def affine_backward(dout, x2, W, n_threads=None):
    """Gradients of :func:`affine_forward`: ``(dx, dW, db)`` with dx (N, D) in ``x2``'s
    dtype; ``dout`` must be exactly (N, M)."""
    W = float_array(W, "W")
    dout = float_array(dout, "dout")
    N, D = x2.shape
    if W.ndim != 2 or W.shape[0] != D:
        raise ValueError(f"W has shape {W.shape}, the forward pass had {D} input features")
    M = W.shape[1]
    if dout.shape != (N, M):
        raise ValueError(f"dout has shape {dout.shape}, the forward output was {(N, M)}")
    dt = np.result_type(dout.dtype, W.dtype, x2.dtype)
    WT = same_dtype(W, dt).T
    xd = same_dtype(x2, dt)
    dout = np.ascontiguousarray(dout, dtype=dt)
    dx = np.empty((N, D), dtype=dt)
    dW = np.empty((D, M), dtype=dt)
    nt = resolve_threads(n_threads)
    none = np.zeros(0, dt)
    engine = _engine()
    engine.matmul_into(dout, WT, dx, none, nt)      # dx = dout @ W.T (W read transposed)
    engine.matmul_into(xd.T, dout, dW, none, nt)    # dW = x.T @ dout
    return same_dtype(dx, x2.dtype), dW, dout.sum(axis=0)
