"""The book's NumPy algorithms (common/util.py, common/layers.py), made dtype-preserving.

This is the test oracle for the compiled kernels and the baseline that the benchmarks
compare against. It is never a silent fallback for a failed build. Differences from the
book, all deliberate: outputs keep the input's float dtype (the book's ``np.zeros``
upcasts to float64), stride and pad may be (h, w) pairs, and max pooling pads with -inf
(the book pads with 0, which makes a padded window's max wrong for negative inputs).
Pooling arrays are (N, C, OH, OW), argmax holds the window index kh*PW + kw.
"""
import numpy as np


def _pair(v):
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def out_size(size, filt, stride, pad):
    return (size + 2 * pad - filt) // stride + 1


def im2col(input_data, filter_h, filter_w, stride=1, pad=0, pad_value=0):
    """The book's im2col: (N, C, H, W) -> (N*OH*OW, C*FH*FW)."""
    N, C, H, W = input_data.shape
    sh, sw = _pair(stride)
    ph, pw = _pair(pad)
    out_h = out_size(H, filter_h, sh, ph)
    out_w = out_size(W, filter_w, sw, pw)
    img = np.pad(input_data, [(0, 0), (0, 0), (ph, ph), (pw, pw)], "constant",
                 constant_values=pad_value)
    col = np.zeros((N, C, filter_h, filter_w, out_h, out_w), dtype=input_data.dtype)
    for y in range(filter_h):
        y_max = y + sh * out_h
        for x in range(filter_w):
            x_max = x + sw * out_w
            col[:, :, y, x, :, :] = img[:, :, y:y_max:sh, x:x_max:sw]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * out_h * out_w, -1)


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """The book's col2im: the adjoint of im2col, overlapping windows add up."""
    N, C, H, W = input_shape
    sh, sw = _pair(stride)
    ph, pw = _pair(pad)
    out_h = out_size(H, filter_h, sh, ph)
    out_w = out_size(W, filter_w, sw, pw)
    col = col.reshape(N, out_h, out_w, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((N, C, H + 2 * ph + sh - 1, W + 2 * pw + sw - 1), dtype=col.dtype)
    for y in range(filter_h):
        y_max = y + sh * out_h
        for x in range(filter_w):
            x_max = x + sw * out_w
            img[:, :, y:y_max:sh, x:x_max:sw] += col[:, :, y, x, :, :]
    return img[:, :, ph:H + ph, pw:W + pw]


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


def maxpool_backward(dout, arg, x_shape, pool_h, pool_w, stride=1, pad=0):
    """The book's Pooling.backward: route each gradient to its window's argmax."""
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
