"""The only importer of compiled code: validates, allocates, then calls the ``*_into`` kernels.

Every public function here takes ``out=`` buffers (so layers can reuse workspaces across
steps) and ``n_threads`` (see :func:`cconv.set_num_threads`). Inputs may be
non-contiguous, Fortran-ordered or read-only (floats in non-native byte order are
converted); outputs are C-contiguous in the input's float dtype. An ``out=`` buffer that
shares memory with an input is refused (element-wise kernels may write in place).
"""
import contextlib
import numbers
import os
import sys

import numpy as np

from . import _im2col, _ops, _pool
from ._config import last_level_cache_bytes, resolve_threads

# An im2col output that fits in half the last-level cache is written through the cache,
# where the GEMM that reads it next finds it; a larger one goes straight to memory with
# non-temporal stores (no read of lines that are only written, no eviction of the input).
# Where the cache size is unknown, _im2col keeps its default (STREAM_MIN_BYTES).
_LLC = last_level_cache_bytes()
if _LLC:
    _im2col.set_stream_min_bytes(_LLC // 2)


@contextlib.contextmanager
def _stream_threshold(nbytes):
    """Within the block, stream im2col outputs of nbytes or more (tests use 0 and 2**62
    to run both ways on small shapes)."""
    old = _im2col.set_stream_min_bytes(nbytes)
    try:
        yield
    finally:
        _im2col.set_stream_min_bytes(old)


def _physical_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 1 << 46


def as_float_array(a, name="x"):
    """Return ``a`` as a float32/float64 ndarray, converting or refusing other dtypes.

    float32 and float64 are kept. float16 becomes float32; bool and integer arrays become
    float64 (what the book's NumPy code computes with). Floats in non-native byte order
    (e.g. big-endian ``>f8`` read from a file) are converted to native order, same
    precision. Complex, object, string and other dtypes raise TypeError.
    """
    if not isinstance(a, np.ndarray):
        try:
            a = np.asarray(a)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(f"{name} must be an array of real numbers: {exc}") from None
    dt = a.dtype
    if dt.kind == "f" and not dt.isnative:
        a = a.astype(dt.newbyteorder("="))
        dt = a.dtype
    if dt == np.float32 or dt == np.float64:
        return a
    if dt == np.float16:
        return a.astype(np.float32)
    if dt.kind in "biu":
        return a.astype(np.float64)
    raise TypeError(f"{name} has dtype {dt}; cconv works on float32 or float64 "
                    "(integers and bool are converted to float64, float16 to float32)")


def _int(v, name):
    if type(v) is int:   # the common case, without the slower abstract-class checks
        return v
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an int, not {type(v).__name__} ({v!r})")
    return int(v)


def pair(v, name):
    """An int or an (h, w) pair of ints -> (h, w)."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair (h, w), not {v!r}")
        return _int(v[0], name), _int(v[1], name)
    i = _int(v, name)
    return i, i


def _check_4d(x, name):
    if x.ndim != 4:
        raise ValueError(f"{name} must be 4-D (N, C, H, W), got {x.ndim}-D with shape "
                         f"{x.shape}")


def _both(a, b):
    return (a, b) if a != b else a


def window_geometry(shape, fh, fw, stride, pad, what="filter"):
    """Validate a window (filter or pool) over an (N, C, H, W) shape; return the geometry.

    Returns ``(OH, OW, sh, sw, ph, pw)``. A filter's pad may be as large as the filter or
    larger, as in the book's im2col: the windows that see only padding give zeros. A pool's
    may not (the max of padding alone would be -inf). Every size the kernels compute with (window,
    stride, pad, padded input) must fit C's ``Py_ssize_t`` (``sys.maxsize``); larger
    values raise ValueError here rather than OverflowError in the compiled call.
    """
    fh = _int(fh, f"{what}_h")
    fw = _int(fw, f"{what}_w")
    sh, sw = pair(stride, "stride")
    ph, pw = pair(pad, "pad")
    N, C, H, W = (int(s) for s in shape)
    if min(N, C, H, W) < 0:
        raise ValueError(f"shape {tuple(shape)} has a negative dimension")
    if fh <= 0 or fw <= 0:
        raise ValueError(f"{what} size must be positive, got {fh}x{fw}")
    if sh <= 0 or sw <= 0:
        raise ValueError(f"stride must be positive, got {_both(sh, sw)}")
    if ph < 0 or pw < 0:
        raise ValueError(f"pad must be >= 0, got {_both(ph, pw)}")
    if max(sh, sw) > sys.maxsize:
        raise ValueError(f"stride {_both(sh, sw)} is larger than the largest supported "
                         f"size, sys.maxsize = {sys.maxsize}")
    if what == "pool" and (ph >= fh or pw >= fw):
        # a max over a window of padding alone is -inf; a filter's is 0, as in the book
        raise ValueError(f"pad {ph}x{pw} must be smaller than the {what} {fh}x{fw}: "
                         "a larger pad makes windows that see only padding")
    if H + 2 * ph < fh or W + 2 * pw < fw:
        raise ValueError(f"{what} {fh}x{fw} with pad {ph}x{pw} does not fit a {H}x{W} input")
    if max(N, C, H + 2 * ph, W + 2 * pw) > sys.maxsize:
        raise ValueError(f"input {H}x{W} with pad {ph}x{pw} (shape {tuple(shape)}) is "
                         f"larger than the largest supported size, sys.maxsize = "
                         f"{sys.maxsize}")
    oh = (H + 2 * ph - fh) // sh + 1
    ow = (W + 2 * pw - fw) // sw + 1
    return oh, ow, sh, sw, ph, pw


def _check_size(shape, dtype, name):
    n = 1
    for s in shape:
        n *= int(s)
    nbytes = n * np.dtype(dtype).itemsize
    mem = _physical_memory()
    if nbytes > mem:
        raise MemoryError(f"{name} of shape {tuple(shape)} ({np.dtype(dtype)}) would need "
                          f"{nbytes / 2**30:.1f} GiB, more than this machine's "
                          f"{mem / 2**30:.1f} GiB of memory")


def _overlaps(a, b):
    """True if arrays ``a`` and ``b`` may share an element (cheap bounds test first)."""
    if not np.may_share_memory(a, b):
        return False
    try:
        return bool(np.shares_memory(a, b, max_work=10_000))
    except np.exceptions.TooHardError:  # too costly to decide: assume they do
        return True


def _output(out, shape, dtype, name, inputs=()):
    """Allocate an output, or check a caller's ``out=`` buffer.

    ``inputs`` holds ``(array, name)`` pairs the kernel reads: an ``out`` that shares
    memory with one of them is refused, since the kernels write ``out`` while still
    reading their inputs (col2im zeroes ``dx`` before it reads ``col``).
    """
    shape = tuple(int(s) for s in shape)
    if out is None:
        _check_size(shape, dtype, name)
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array, not {type(out).__name__}")
    if out.shape != shape or out.dtype != dtype:
        raise ValueError(f"out for {name} must have shape {shape} and dtype {np.dtype(dtype)}, "
                         f"got {out.shape} {out.dtype}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"out for {name} must be C-contiguous and writeable")
    for a, a_name in inputs:
        if isinstance(a, np.ndarray) and _overlaps(out, a):
            raise ValueError(f"out for {name} overlaps {a_name} in memory (a view of the "
                             "same buffer); pass a separate output array")
    return out


def _prepare(x, name):
    # Validation only: the contiguous copy (if any) is made after the geometry checks.
    x = as_float_array(x, name)
    _check_4d(x, name)
    return x


def im2col(x, filter_h, filter_w, stride=1, pad=0, out=None, n_threads=None):
    """Unfold ``x`` (N, C, H, W) into ``col`` (N*OH*OW, C*FH*FW), the book's layout."""
    x = _prepare(x, "input_data")
    oh, ow, sh, sw, ph, pw = window_geometry(x.shape, filter_h, filter_w, stride, pad)
    N, C = x.shape[:2]
    col = _output(out, (N * oh * ow, C * filter_h * filter_w), x.dtype, "col",
                  [(x, "input_data")])
    x = np.ascontiguousarray(x)
    _im2col.im2col_into(x, col, filter_h, filter_w, sh, sw, ph, pw, resolve_threads(n_threads))
    return col


def _shape4(input_shape):
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise TypeError(f"input_shape must be (N, C, H, W), not {input_shape!r}") from None
    if len(shape) != 4:
        raise ValueError(f"input_shape must be (N, C, H, W), got {shape}")
    return tuple(_int(s, "input_shape") for s in shape)


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0, out=None, n_threads=None):
    """Fold ``col`` (N*OH*OW, C*FH*FW) back to (N, C, H, W), summing overlaps."""
    col = as_float_array(col, "col")
    shape = _shape4(input_shape)
    oh, ow, sh, sw, ph, pw = window_geometry(shape, filter_h, filter_w, stride, pad)
    N, C, H, W = shape
    want = (N * oh * ow, C * filter_h * filter_w)
    if col.ndim != 2 or col.shape != want:
        raise ValueError(f"col has shape {col.shape}, but input_shape {shape} with filter "
                         f"{filter_h}x{filter_w}, stride {stride}, pad {pad} needs {want}")
    col = np.ascontiguousarray(col)
    dx = _output(out, shape, col.dtype, "dx", [(col, "col")])
    _im2col.col2im_into(col, dx, filter_h, filter_w, sh, sw, ph, pw, resolve_threads(n_threads))
    return dx


ARG_DTYPE = np.dtype(np.uint16)   # max pooling's argmax: kh*pool_w + kw


def _check_arg_range(pool_h, pool_w):
    cells = pool_h * pool_w
    if cells > np.iinfo(ARG_DTYPE).max + 1:
        raise ValueError(f"a {pool_h}x{pool_w} max-pooling window has {cells:,} cells; "
                         f"its argmax is stored as uint16, so at most 65,536 are supported")


def maxpool_forward(x, pool_h, pool_w, stride=1, pad=0, out=None, arg=None, n_threads=None):
    """Max pooling: (N, C, H, W) -> (out, arg), both (N, C, OH, OW).

    ``arg`` (uint16) holds each window's first maximum as kh*pool_w + kw, the value
    ``np.argmax`` gives, in an eighth of the bytes of intp (the backward pass reads it
    once per gradient). Padding reads as -inf; NaN propagates (its position is the
    argmax), as with ``np.max``/``np.argmax``. Windows may have up to 65,536 cells.
    """
    x = _prepare(x, "x")
    oh, ow, sh, sw, ph, pw = window_geometry(x.shape, pool_h, pool_w, stride, pad, "pool")
    _check_arg_range(pool_h, pool_w)
    shape = x.shape[:2] + (oh, ow)
    out = _output(out, shape, x.dtype, "out", [(x, "x")])
    arg = _output(arg, shape, ARG_DTYPE, "arg", [(x, "x"), (out, "out")])
    x = np.ascontiguousarray(x)
    _pool.maxpool_forward_into(x, out, arg, pool_h, pool_w, sh, sw, ph, pw,
                               resolve_threads(n_threads))
    return out, arg


def _pool_grad(dout, x_shape, pool_h, pool_w, stride, pad):
    dout = as_float_array(dout, "dout")
    _check_4d(dout, "dout")
    shape = _shape4(x_shape)
    oh, ow, sh, sw, ph, pw = window_geometry(shape, pool_h, pool_w, stride, pad, "pool")
    want = shape[:2] + (oh, ow)
    if dout.shape != want:
        raise ValueError(f"dout has shape {dout.shape}, but x_shape {shape} with pool "
                         f"{pool_h}x{pool_w}, stride {stride}, pad {pad} gives {want}")
    return np.ascontiguousarray(dout), shape, (sh, sw, ph, pw)


def maxpool_backward(dout, arg, x_shape, pool_h, pool_w, stride=1, pad=0, out=None,
                     n_threads=None):
    """Route ``dout`` (N, C, OH, OW) to each window's argmax; returns dx of ``x_shape``."""
    dout, shape, (sh, sw, ph, pw) = _pool_grad(dout, x_shape, pool_h, pool_w, stride, pad)
    arg = np.asarray(arg)
    if arg.shape != dout.shape:
        raise ValueError(f"arg has shape {arg.shape}, dout has {dout.shape}; they must match")
    if arg.dtype.kind not in "iu":
        raise TypeError(f"arg must hold integers, got dtype {arg.dtype}")
    # one pass for unsigned argmaxes (what maxpool_forward returns), two for signed
    if arg.size and ((arg.dtype.kind == "i" and arg.min() < 0)
                     or arg.max() >= pool_h * pool_w):
        raise ValueError(f"arg values must lie in [0, {pool_h * pool_w}) for a "
                         f"{pool_h}x{pool_w} pool, got [{arg.min()}, {arg.max()}]")
    arg = np.ascontiguousarray(arg, dtype=ARG_DTYPE)   # values checked: they fit
    dx = _output(out, shape, dout.dtype, "dx", [(dout, "dout"), (arg, "arg")])
    _pool.maxpool_backward_into(dout, arg, dx, pool_h, pool_w, sh, sw, ph, pw,
                                resolve_threads(n_threads))
    return dx


def avgpool_forward(x, pool_h, pool_w, stride=1, pad=0, out=None, n_threads=None):
    """Average pooling (N, C, H, W) -> (N, C, OH, OW); divides by pool_h*pool_w."""
    x = _prepare(x, "x")
    oh, ow, sh, sw, ph, pw = window_geometry(x.shape, pool_h, pool_w, stride, pad, "pool")
    out = _output(out, x.shape[:2] + (oh, ow), x.dtype, "out", [(x, "x")])
    x = np.ascontiguousarray(x)
    _pool.avgpool_forward_into(x, out, pool_h, pool_w, sh, sw, ph, pw,
                               resolve_threads(n_threads))
    return out


def avgpool_backward(dout, x_shape, pool_h, pool_w, stride=1, pad=0, out=None,
                     n_threads=None):
    """Spread ``dout`` (N, C, OH, OW) evenly over each window; returns dx of ``x_shape``."""
    dout, shape, (sh, sw, ph, pw) = _pool_grad(dout, x_shape, pool_h, pool_w, stride, pad)
    dx = _output(out, shape, dout.dtype, "dx", [(dout, "dout")])
    _pool.avgpool_backward_into(dout, dx, pool_h, pool_w, sh, sw, ph, pw,
                                resolve_threads(n_threads))
    return dx


def _partial_overlap(out, inputs):
    # Element-wise kernels may write in place (out is the input itself, element for
    # element); only other overlaps are checked.
    if out is None:
        return []
    base = out.__array_interface__["data"][0] if isinstance(out, np.ndarray) else None
    return [(a, n) for a, n in inputs if a.__array_interface__["data"][0] != base]


# ---- the layers' fast path: per-sample transposed columns and element-wise kernels ----

def im2col_t(x, filter_h, filter_w, stride=1, pad=0, out=None, n_threads=None):
    """Unfold ``x`` (N, C, H, W) into ``colT`` (N, C*FH*FW, OH*OW).

    ``colT[n]`` is the transpose of sample n's rows of the book's ``col``, so
    ``W.reshape(FN, -1) @ colT[n]`` is that sample's (FN, OH*OW) output, already NCHW.
    """
    x = _prepare(x, "x")
    oh, ow, sh, sw, ph, pw = window_geometry(x.shape, filter_h, filter_w, stride, pad)
    N, C = x.shape[:2]
    col = _output(out, (N, C * filter_h * filter_w, oh * ow), x.dtype, "colT", [(x, "x")])
    x = np.ascontiguousarray(x)
    _im2col.im2col_t_into(x, col, filter_h, filter_w, sh, sw, ph, pw,
                          resolve_threads(n_threads))
    return col


def col2im_t(colT, input_shape, filter_h, filter_w, stride=1, pad=0, out=None,
             n_threads=None):
    """Fold ``colT`` (N, C*FH*FW, OH*OW) back to (N, C, H, W), summing overlaps."""
    colT = as_float_array(colT, "colT")
    shape = _shape4(input_shape)
    oh, ow, sh, sw, ph, pw = window_geometry(shape, filter_h, filter_w, stride, pad)
    N, C, H, W = shape
    want = (N, C * filter_h * filter_w, oh * ow)
    if colT.shape != want:
        raise ValueError(f"colT has shape {colT.shape}, but input_shape {shape} with filter "
                         f"{filter_h}x{filter_w}, stride {stride}, pad {pad} needs {want}")
    colT = np.ascontiguousarray(colT)
    dx = _output(out, shape, colT.dtype, "dx", [(colT, "colT")])
    _im2col.col2im_t_into(colT, dx, filter_h, filter_w, sh, sw, ph, pw,
                          resolve_threads(n_threads))
    return dx


def relu(x, out=None, n_threads=None):
    """``max(x, 0)`` with NaN passed through (the book's ``x[x <= 0] = 0``)."""
    x = np.ascontiguousarray(as_float_array(x, "x"))
    out = _output(out, x.shape, x.dtype, "out", _partial_overlap(out, [(x, "x")]))
    _ops.relu_into(x.reshape(-1), out.reshape(-1), resolve_threads(n_threads))
    return out


def relu_backward(dout, y, out=None, n_threads=None):
    """``dout`` where the ReLU output ``y`` is > 0 (or NaN), else 0."""
    y = np.ascontiguousarray(y)
    dout = np.ascontiguousarray(as_float_array(dout, "dout"), dtype=y.dtype)
    if dout.shape != y.shape:
        raise ValueError(f"dout has shape {dout.shape}, the forward output had {y.shape}")
    out = _output(out, y.shape, y.dtype, "dx",
                  _partial_overlap(out, [(dout, "dout"), (y, "y")]))
    _ops.relu_backward_into(dout.reshape(-1), y.reshape(-1), out.reshape(-1),
                            resolve_threads(n_threads))
    return out


def bias_add_(out3, b, n_threads=None):
    """In place: ``out3[n, f, :] += b[f]`` for a C-contiguous (N, F, P) array."""
    _ops.bias_add_into(out3, np.ascontiguousarray(b, dtype=out3.dtype),
                       resolve_threads(n_threads))
    return out3


def sum_channels(d3, out=None, n_threads=None):
    """``d3.sum(axis=(0, 2))`` for a C-contiguous (N, F, P) array, in a fixed order."""
    d3 = np.ascontiguousarray(d3)
    out = _output(out, (d3.shape[1],), d3.dtype, "db", [(d3, "d3")])
    _ops.sum_channels_into(d3, out, resolve_threads(n_threads))
    return out
