"""Convolution (cross-correlation, as in the book) by im2col + GEMM, and its gradients.

Kernels: ``src/_im2col.pyx`` (the per-sample columns) and ``src/_conv.pyx`` (bias add,
bias gradient); NumPy reference: :mod:`cconv.ops.reference.conv`. :func:`conv_forward`
and :func:`conv_backward` are the door the :class:`~cconv.nn.conv.Convolution` layer
goes through: each checks its arguments once, taking every size from the arrays it is
handed, then runs the batch in cache-sized chunks on cconv's worker threads.

How, not what, differs from the book: the input is unfolded per sample as ``colT[n]``
(C*FH*FW, OH*OW), so ``W2 @ colT[n]`` is sample n's output already in NCHW order (the
book's ``col @ col_W`` needs a transpose copy after it); each chunk's columns are
multiplied right after they are made, with single-threaded BLAS; ``dW`` sums per-chunk
partial products in chunk order, so results do not depend on the thread count.
"""
import threading

import numpy as np

from .. import _conv, _im2col
from .._checks import float_array
from .._threads import resolve_threads
from . import _parallel
from ._buffers import output, same_dtype
from .geometry import check_4d, window_geometry
from .im2col import configure_streaming

__all__ = ["ConvSaved", "conv_forward", "conv_backward", "bias_add_", "sum_channels"]

_CHUNK_BYTES = 384 << 10   # one chunk's columns stay in L2 while the GEMM reads them


class ConvSaved:
    """What :func:`conv_backward` needs from a forward pass.

    Attributes
    ----------
    x : ndarray (N, C, H, W)
        The forward's input (C-contiguous).
    colT : ndarray (N, C*FH*FW, OH*OW)
        Its per-sample columns.
    w_shape : tuple
        ``W.shape`` of the forward, (FN, C, FH, FW).
    geometry : tuple
        ``(FH, FW, sh, sw, ph, pw)``, the kernels' window arguments.
    out_shape : tuple
        (N, FN, OH, OW), the shape ``dout`` must have.
    """

    __slots__ = ("x", "colT", "w_shape", "geometry", "out_shape")

    def __init__(self, x, colT, w_shape, geometry, out_shape):
        self.x, self.colT, self.w_shape = x, colT, w_shape
        self.geometry, self.out_shape = geometry, out_shape

    @property
    def col(self):
        """The columns in the book's im2col layout (N*OH*OW, C*FH*FW), made on demand."""
        N, K, P = self.colT.shape
        return self.colT.transpose(0, 2, 1).reshape(N * P, K)


def _weights(W, b):
    W = float_array(W, "W")
    b = float_array(b, "b")
    if W.ndim != 4:
        raise ValueError(f"W must be 4-D (FN, C, FH, FW), got shape {W.shape}")
    if b.ndim != 1 or b.shape[0] != W.shape[0]:
        raise ValueError(f"b has shape {b.shape} but W of shape {W.shape} has "
                         f"{W.shape[0]} filters: b must be ({W.shape[0]},)")
    return W, b


def conv_forward(x, W, b, stride=1, pad=0, *, n_threads=None, saved=None):
    """Convolve ``x`` (N, C, H, W) with filters ``W`` (FN, C, FH, FW), add ``b`` (FN,).

    Returns ``(out, saved)``: ``out`` (N, FN, OH, OW), C-contiguous in ``x``'s dtype,
    ``OH = (H + 2*pad - FH) // stride + 1``; ``saved``, a :class:`ConvSaved` for
    :func:`conv_backward`. Passing the previous ``saved`` reuses its column buffer when
    the shapes are the same.
    """
    W, b = _weights(W, b)
    x = float_array(x, "x")
    check_4d(x, "x")
    FN, C, FH, FW = W.shape
    if x.shape[1] != C:
        raise ValueError(f"x has {x.shape[1]} channels but W of shape {W.shape} expects {C}")
    oh, ow, sh, sw, ph, pw = window_geometry(x.shape, FH, FW, stride, pad)
    N = x.shape[0]
    x = np.ascontiguousarray(x)
    K, P = C * FH * FW, oh * ow
    colT = saved.colT if saved is not None else None
    if colT is None or colT.shape != (N, K, P) or colT.dtype != x.dtype:
        colT = output(None, (N, K, P), x.dtype, "colT")
    W2 = same_dtype(W.reshape(FN, -1), x.dtype)
    b = np.ascontiguousarray(b, dtype=x.dtype)
    out = output(None, (N, FN, P), x.dtype, "out")
    geo = (FH, FW, sh, sw, ph, pw)
    configure_streaming()

    def chunk(c, s):
        # each chunk's columns are multiplied while they are still in cache
        _im2col.im2col_t_into(x[s], colT[s], *geo, 1)
        np.matmul(W2, colT[s], out=out[s])
        _conv.bias_add_into(out[s], b, 1)
    _parallel.for_batch(chunk, N, K * P * x.itemsize, resolve_threads(n_threads),
                        _CHUNK_BYTES)
    return out.reshape(N, FN, oh, ow), ConvSaved(x, colT, W.shape, geo, (N, FN, oh, ow))


def conv_backward(dout, saved, W, *, need_dx=True, n_threads=None):
    """Gradients of :func:`conv_forward`: returns ``(dx, dW, db)``.

    ``dout`` must have exactly the forward output's shape (N, FN, OH, OW); ``W`` the
    forward's filter shape. ``dx`` (N, C, H, W) is None when ``need_dx`` is False (a
    network's first layer: the ``dx`` GEMM and col2im are skipped). Arrays are in the
    forward input's dtype.
    """
    if not isinstance(saved, ConvSaved):
        raise TypeError(f"saved must be the ConvSaved of conv_forward, not "
                        f"{type(saved).__name__}")
    W = float_array(W, "W")
    if W.shape != saved.w_shape:
        raise ValueError(f"W has shape {W.shape}, the forward pass used {saved.w_shape}")
    colT = saved.colT
    N, K, P = colT.shape
    FN = W.shape[0]
    dt = colT.dtype
    dout = float_array(dout, "dout")
    if dout.shape != saved.out_shape:
        raise ValueError(f"dout has shape {dout.shape}, the forward output was "
                         f"{saved.out_shape}")
    d3 = np.ascontiguousarray(dout, dtype=dt).reshape(N, FN, P)
    cs = _parallel.chunk_size(K * P * dt.itemsize, N, _CHUNK_BYTES)
    nch = _parallel.n_chunks(N, cs)
    # per-chunk partial sums, added in chunk order: thread-count independent. dW is
    # summed transposed, colT[n] @ d3[n].T (K, FN): BLAS runs that GEMM 1.2-1.8x
    # faster than d3[n] @ colT[n].T for these shapes.
    dWTp = np.empty((nch, K, FN), dtype=dt)
    dbp = np.empty((nch, FN), dtype=dt)
    W2T = same_dtype(W.reshape(FN, -1), dt).T
    dx = np.empty(saved.x.shape, dtype=dt) if need_dx else None
    geo = saved.geometry
    local = threading.local()   # each thread's dx columns, reused across its chunks

    def chunk(c, s):
        n = s.stop - s.start
        _conv.sum_channels_into(d3[s], dbp[c], 1)
        if n == 1:
            np.matmul(colT[s.start], d3[s.start].T, out=dWTp[c])
        else:
            np.sum(np.matmul(colT[s], d3[s].transpose(0, 2, 1)), axis=0, out=dWTp[c])
        if dx is not None:
            buf = getattr(local, "buf", None)
            if buf is None:
                buf = local.buf = np.empty((cs, K, P), dtype=dt)
            np.matmul(W2T, d3[s], out=buf[:n])
            _im2col.col2im_t_into(buf[:n], dx[s], *geo, 1)
    _parallel.for_chunks(chunk, N, cs, resolve_threads(n_threads))
    db = dbp.sum(axis=0)
    dW = np.ascontiguousarray(dWTp.sum(axis=0).T).reshape(W.shape)
    return dx, dW, db


def bias_add_(out3, b, n_threads=None):
    """In place: ``out3[n, f, :] += b[f]`` for a C-contiguous, writeable (N, F, P) array."""
    if not isinstance(out3, np.ndarray) or out3.ndim != 3 or out3.dtype not in (
            np.float32, np.float64):
        raise ValueError("out3 must be a float32/float64 (N, F, P) array, got "
                         f"{getattr(out3, 'shape', out3)!r}")
    if not out3.flags.c_contiguous or not out3.flags.writeable:
        raise ValueError("out3 must be C-contiguous and writeable (it is changed in place)")
    b = float_array(b, "b")
    if b.shape != (out3.shape[1],):
        raise ValueError(f"b has shape {b.shape}, out3 of shape {out3.shape} needs "
                         f"({out3.shape[1]},)")
    _conv.bias_add_into(out3, np.ascontiguousarray(b, dtype=out3.dtype),
                        resolve_threads(n_threads))
    return out3


def sum_channels(d3, out=None, n_threads=None):
    """``d3.sum(axis=(0, 2))`` for an (N, F, P) array, in a fixed order."""
    d3 = float_array(d3, "d3")
    if d3.ndim != 3:
        raise ValueError(f"d3 must be 3-D (N, F, P), got shape {d3.shape}")
    d3 = np.ascontiguousarray(d3)
    out = output(out, (d3.shape[1],), d3.dtype, "db", [(d3, "d3")])
    _conv.sum_channels_into(d3, out, resolve_threads(n_threads))
    return out
