"""The book's Pooling (common/layers.py) in NumPy, made dtype-preserving.

The reference of :mod:`cconv.ops.pooling` (same names, arrays (N, C, OH, OW), argmax as
the window index kh*PW + kw): the test oracle of the compiled kernels, and the book
baseline of the benchmarks. Max pooling pads with -inf (the book pads with 0, which makes
a padded window's max wrong for negative inputs) and the output size counts the pad (the
book ignores it).
"""
import numpy as np

from .activation import relu_backward
from .im2col import _pair, col2im, im2col, out_size


def _pool_cols(x, pool_h, pool_w, stride, pad, pad_value):
    N, C, H, W = x.shape
    sh, sw = _pair(stride)
    ph, pw = _pair(pad)
    out_h = out_size(H, pool_h, sh, ph)
    out_w = out_size(W, pool_w, sw, pw)
    col = im2col(x, pool_h, pool_w, stride, pad, pad_value)
    return col.reshape(-1, pool_h * pool_w), (N, C, out_h, out_w)


def maxpool_forward(x, pool_h, pool_w, stride=1, pad=0):
    """The book's Pooling.forward, with -inf padding; returns (out, arg) in NCHW."""
    col, (N, C, OH, OW) = _pool_cols(x, pool_h, pool_w, stride, pad, -np.inf)
    arg = np.argmax(col, axis=1)
    out = np.max(col, axis=1)
    out = out.reshape(N, OH, OW, C).transpose(0, 3, 1, 2)
    arg = arg.reshape(N, OH, OW, C).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(out), np.ascontiguousarray(arg)


def maxpool_backward(dout, arg, x_shape, pool_h, pool_w, stride=1, pad=0, *, gate=None):
    """The book's Pooling.backward: route each gradient to its window's argmax; with
    ``gate`` (the pooled ReLU output), the book's Relu.backward first, on the windows'
    maxima."""
    if gate is not None:
        dout = relu_backward(dout, y=gate)
    pool_size = pool_h * pool_w
    d = dout.transpose(0, 2, 3, 1)
    a = arg.transpose(0, 2, 3, 1)
    dmax = np.zeros((d.size, pool_size), dtype=dout.dtype)
    dmax[np.arange(a.size), a.flatten()] = d.flatten()
    dcol = dmax.reshape(d.shape[0] * d.shape[1] * d.shape[2], -1)
    return col2im(dcol, x_shape, pool_h, pool_w, stride, pad)


def avgpool_forward(x, pool_h, pool_w, stride=1, pad=0):
    """Average pooling in the book's style (im2col + mean); padding counts as 0."""
    col, (N, C, OH, OW) = _pool_cols(x, pool_h, pool_w, stride, pad, 0)
    out = np.mean(col, axis=1, dtype=x.dtype).astype(x.dtype, copy=False)
    return np.ascontiguousarray(out.reshape(N, OH, OW, C).transpose(0, 3, 1, 2))


def avgpool_backward(dout, x_shape, pool_h, pool_w, stride=1, pad=0):
    pool_size = pool_h * pool_w
    d = dout.transpose(0, 2, 3, 1).reshape(-1, 1)
    dcol = np.repeat(d / dout.dtype.type(pool_size), pool_size, axis=1)
    dcol = dcol.reshape(-1, x_shape[1] * pool_size)
    return col2im(dcol, x_shape, pool_h, pool_w, stride, pad)
