"""Max and average pooling on NCHW arrays, forward and backward.

Kernel: ``src/_pooling.pyx``; NumPy reference: :mod:`cconv.ops.reference.pooling`.
x (N, C, H, W) -> out (N, C, OH, OW). Max pooling also returns ``arg`` (uint16), each
window's first maximum as ``kh * pool_w + kw`` (``np.argmax``'s value; padding reads as
-inf; NaN propagates). Average pooling divides by ``pool_h * pool_w`` (padding counts as
0). Each function checks its arguments once, then runs the batch in one OpenMP call
whose threads take planes dynamically; results do not depend on the thread count.
"""
import numpy as np

from .. import _pooling
from .._checks import float_array
from .._threads import resolve_threads
from ._buffers import output, same_dtype
from .geometry import check_4d, shape4, window_geometry

__all__ = ["ARG_DTYPE", "maxpool_forward", "maxpool_backward", "avgpool_forward",
           "avgpool_backward"]

ARG_DTYPE = np.dtype(np.uint16)   # max pooling's argmax: kh*pool_w + kw


def _check_arg_range(pool_h, pool_w):
    cells = pool_h * pool_w
    if cells > np.iinfo(ARG_DTYPE).max + 1:
        raise ValueError(f"a {pool_h}x{pool_w} max-pooling window has {cells:,} cells; "
                         f"its argmax is stored as uint16, so at most 65,536 are supported")


def _forward_input(x, pool_h, pool_w, stride, pad):
    x = float_array(x, "x")
    check_4d(x, "x")
    oh, ow, sh, sw, ph, pw = window_geometry(x.shape, pool_h, pool_w, stride, pad, "pool")
    geo = (int(pool_h), int(pool_w), sh, sw, ph, pw)
    return np.ascontiguousarray(x), x.shape[:2] + (oh, ow), geo


def _grad_input(dout, x_shape, pool_h, pool_w, stride, pad, dtype=None):
    dout = float_array(dout, "dout")
    check_4d(dout, "dout")
    shape = shape4(x_shape, "x_shape")
    oh, ow, sh, sw, ph, pw = window_geometry(shape, pool_h, pool_w, stride, pad, "pool")
    want = shape[:2] + (oh, ow)
    if dout.shape != want:
        raise ValueError(f"dout has shape {dout.shape}, but x_shape {shape} with pool "
                         f"{pool_h}x{pool_w}, stride {stride}, pad {pad} gives {want}")
    if dtype is not None:
        dout = same_dtype(dout, dtype)
    return np.ascontiguousarray(dout), shape, (int(pool_h), int(pool_w), sh, sw, ph, pw)


def route_args(dout, arg, gate, x_shape, pool_h, pool_w, stride, pad, dtype=None):
    """A max pooling's backward arguments checked and converted (see
    :func:`maxpool_backward`): ``(dout, arg, gate, x_shape, window)``, C-contiguous, arg
    as uint16 with its values checked against the window's cells."""
    dout, shape, geo = _grad_input(dout, x_shape, pool_h, pool_w, stride, pad, dtype)
    if gate is not None:
        gate = float_array(gate, "gate")
        if gate.shape != dout.shape:
            raise ValueError(f"gate has shape {gate.shape}, dout has {dout.shape}; "
                             f"they must match")
        gate = np.ascontiguousarray(same_dtype(gate, dout.dtype))
    arg = np.asarray(arg)
    if arg.shape != dout.shape:
        raise ValueError(f"arg has shape {arg.shape}, dout has {dout.shape}; they must match")
    if arg.dtype.kind not in "iu":
        raise TypeError(f"arg must hold integers, got dtype {arg.dtype}")
    cells = geo[0] * geo[1]
    # one pass for unsigned argmaxes (what maxpool_forward returns), two for signed
    if arg.size and ((arg.dtype.kind == "i" and arg.min() < 0) or arg.max() >= cells):
        raise ValueError(f"arg values must lie in [0, {cells}) for a "
                         f"{pool_h}x{pool_w} pool, got [{arg.min()}, {arg.max()}]")
    arg = np.ascontiguousarray(arg, dtype=ARG_DTYPE)   # values checked: they fit
    return dout, arg, gate, shape, geo


def maxpool_forward(x, pool_h, pool_w, stride=1, pad=0, out=None, arg=None, n_threads=None):
    """Max pooling: (N, C, H, W) -> (out, arg), both (N, C, OH, OW).

    ``arg`` (uint16) holds each window's first maximum as kh*pool_w + kw, the value
    ``np.argmax`` gives, in an eighth of the bytes of intp (the backward pass reads it
    once per gradient). Padding reads as -inf; NaN propagates (its position is the
    argmax), as with ``np.max``/``np.argmax``. Windows may have up to 65,536 cells.
    """
    x, shape, geo = _forward_input(x, pool_h, pool_w, stride, pad)
    _check_arg_range(geo[0], geo[1])
    out = output(out, shape, x.dtype, "out", [(x, "x")])
    arg = output(arg, shape, ARG_DTYPE, "arg", [(x, "x"), (out, "out")])
    _pooling.maxpool_forward_into(x, out, arg, *geo, resolve_threads(n_threads))
    return out, arg


def maxpool_backward(dout, arg, x_shape, pool_h, pool_w, stride=1, pad=0, out=None,
                     n_threads=None, dtype=None, *, gate=None):
    """Route ``dout`` (N, C, OH, OW) to each window's argmax; returns dx of ``x_shape``.

    ``dtype`` converts ``dout`` first (a layer passes its forward input's dtype).
    ``gate`` folds in the backward of a ReLU before the pooling: the pooling's forward
    output (of ``dout``'s shape), whose values are the windows' maxima of the ReLU's
    output; a gradient whose window maximum is <= 0 routes 0 (NaN passes), exactly
    ``maxpool_backward(relu_backward(dout, y=gate), ...)`` in one pass.
    """
    dout, arg, gate, shape, geo = route_args(dout, arg, gate, x_shape, pool_h, pool_w,
                                             stride, pad, dtype)
    inputs = [(dout, "dout"), (arg, "arg")] + ([(gate, "gate")] if gate is not None else [])
    dx = output(out, shape, dout.dtype, "dx", inputs)
    _pooling.maxpool_backward_into(dout, arg, dx, *geo, resolve_threads(n_threads), gate)
    return dx


def avgpool_forward(x, pool_h, pool_w, stride=1, pad=0, out=None, n_threads=None):
    """Average pooling (N, C, H, W) -> (N, C, OH, OW); divides by pool_h*pool_w."""
    x, shape, geo = _forward_input(x, pool_h, pool_w, stride, pad)
    out = output(out, shape, x.dtype, "out", [(x, "x")])
    _pooling.avgpool_forward_into(x, out, *geo, resolve_threads(n_threads))
    return out


def avgpool_backward(dout, x_shape, pool_h, pool_w, stride=1, pad=0, out=None,
                     n_threads=None, dtype=None):
    """Spread ``dout`` (N, C, OH, OW) evenly over each window; returns dx of ``x_shape``."""
    dout, shape, geo = _grad_input(dout, x_shape, pool_h, pool_w, stride, pad, dtype)
    dx = output(out, shape, dout.dtype, "dx", [(dout, "dout")])
    _pooling.avgpool_backward_into(dout, dx, *geo, resolve_threads(n_threads))
    return dx
