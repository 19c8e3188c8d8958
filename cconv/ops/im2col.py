"""im2col / col2im: the book's unfolding of sliding windows into columns, and its adjoint.

Kernel: ``src/_im2col.pyx``; NumPy reference: :mod:`cconv.ops.reference.im2col`. The
book's layout: ``col`` is (N*OH*OW, C*FH*FW), rows ordered (n, oh, ow), columns
(c, kh, kw). The ``_t`` variants are the layers' per-sample transposed layout ``colT``
(N, C*FH*FW, OH*OW). Every function takes ``out=`` (checked) and ``n_threads``.
"""
import contextlib

import numpy as np

from .. import _im2col
from .._checks import float_array
from .._threads import last_level_cache_bytes, resolve_threads
from ._buffers import output
from .geometry import check_4d, shape4, window_geometry

__all__ = ["im2col", "col2im", "im2col_t", "col2im_t", "stream_threshold",
           "configure_streaming"]

_streaming = {"configured": False}


def configure_streaming():
    """Stream im2col outputs larger than half the last-level cache (once, on first use).

    An output that fits in half the last-level cache is written through the cache, where
    the GEMM that reads it next finds it; a larger one goes straight to memory with
    non-temporal stores. Where the cache size is unknown, ``_im2col`` keeps its default
    (``STREAM_MIN_BYTES``). Called by the first im2col op, not at import: importing
    cconv changes no state.
    """
    if not _streaming["configured"]:
        llc = last_level_cache_bytes()
        if llc:
            _im2col.set_stream_min_bytes(llc // 2)
        _streaming["configured"] = True
    return int(_im2col.get_stream_min_bytes())


@contextlib.contextmanager
def stream_threshold(nbytes):
    """Within the block, stream im2col outputs of nbytes or more (tests use 0 and 2**62
    to run both ways on small shapes)."""
    configure_streaming()
    old = _im2col.set_stream_min_bytes(nbytes)
    try:
        yield
    finally:
        _im2col.set_stream_min_bytes(old)


def _prepare(x, name):
    # Validation only: the contiguous copy (if any) is made after the geometry checks.
    x = float_array(x, name)
    check_4d(x, name)
    return x


def _check_cols(col, name, shape, fh, fw, stride, pad, want):
    if col.shape != want:
        raise ValueError(f"{name} has shape {col.shape}, but input_shape {shape} with filter "
                         f"{fh}x{fw}, stride {stride}, pad {pad} needs {want}")


def im2col(x, filter_h, filter_w, stride=1, pad=0, out=None, n_threads=None):
    """Unfold ``x`` (N, C, H, W) into ``col`` (N*OH*OW, C*FH*FW), the book's layout."""
    x = _prepare(x, "input_data")
    oh, ow, sh, sw, ph, pw = window_geometry(x.shape, filter_h, filter_w, stride, pad)
    N, C = x.shape[:2]
    col = output(out, (N * oh * ow, C * filter_h * filter_w), x.dtype, "col",
                 [(x, "input_data")])
    x = np.ascontiguousarray(x)
    configure_streaming()
    _im2col.im2col_into(x, col, filter_h, filter_w, sh, sw, ph, pw, resolve_threads(n_threads))
    return col


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0, out=None, n_threads=None):
    """Fold ``col`` (N*OH*OW, C*FH*FW) back to (N, C, H, W), summing overlaps."""
    col = float_array(col, "col")
    shape = shape4(input_shape)
    oh, ow, sh, sw, ph, pw = window_geometry(shape, filter_h, filter_w, stride, pad)
    N, C, H, W = shape
    _check_cols(col, "col", shape, filter_h, filter_w, stride, pad,
                (N * oh * ow, C * filter_h * filter_w))
    col = np.ascontiguousarray(col)
    dx = output(out, shape, col.dtype, "dx", [(col, "col")])
    _im2col.col2im_into(col, dx, filter_h, filter_w, sh, sw, ph, pw, resolve_threads(n_threads))
    return dx


def im2col_t(x, filter_h, filter_w, stride=1, pad=0, out=None, n_threads=None):
    """Unfold ``x`` (N, C, H, W) into ``colT`` (N, C*FH*FW, OH*OW).

    ``colT[n]`` is the transpose of sample n's rows of the book's ``col``, so
    ``W.reshape(FN, -1) @ colT[n]`` is that sample's (FN, OH*OW) output, already NCHW.
    """
    x = _prepare(x, "x")
    oh, ow, sh, sw, ph, pw = window_geometry(x.shape, filter_h, filter_w, stride, pad)
    N, C = x.shape[:2]
    col = output(out, (N, C * filter_h * filter_w, oh * ow), x.dtype, "colT", [(x, "x")])
    x = np.ascontiguousarray(x)
    configure_streaming()
    _im2col.im2col_t_into(x, col, filter_h, filter_w, sh, sw, ph, pw,
                          resolve_threads(n_threads))
    return col


def col2im_t(colT, input_shape, filter_h, filter_w, stride=1, pad=0, out=None,
             n_threads=None):
    """Fold ``colT`` (N, C*FH*FW, OH*OW) back to (N, C, H, W), summing overlaps."""
    colT = float_array(colT, "colT")
    shape = shape4(input_shape)
    oh, ow, sh, sw, ph, pw = window_geometry(shape, filter_h, filter_w, stride, pad)
    N, C, H, W = shape
    _check_cols(colT, "colT", shape, filter_h, filter_w, stride, pad,
                (N, C * filter_h * filter_w, oh * ow))
    colT = np.ascontiguousarray(colT)
    dx = output(out, shape, colT.dtype, "dx", [(colT, "colT")])
    _im2col.col2im_t_into(colT, dx, filter_h, filter_w, sh, sw, ph, pw,
                          resolve_threads(n_threads))
    return dx
