"""The book's im2col / col2im (common/util.py) in NumPy, made dtype-preserving.

The reference of :mod:`cconv.ops.im2col` (same names): the test oracle of the compiled
kernels and the book baseline of the benchmarks, never a silent fallback for a failed
build. Differences from the book, all deliberate: outputs keep the input's float dtype
(the book's ``np.zeros`` upcasts to float64), stride and pad may be (h, w) pairs, and
``pad_value`` lets max pooling pad with -inf.
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


def im2col_t(x, filter_h, filter_w, stride=1, pad=0):
    """Per-sample transposed columns (N, C*FH*FW, OH*OW) of :func:`im2col`."""
    N = x.shape[0]
    col = im2col(x, filter_h, filter_w, stride, pad)
    return np.ascontiguousarray(col.reshape(N, -1, col.shape[1]).transpose(0, 2, 1))


def col2im_t(colT, input_shape, filter_h, filter_w, stride=1, pad=0):
    """The adjoint of :func:`im2col_t`."""
    N, K, P = colT.shape
    return col2im(colT.transpose(0, 2, 1).reshape(N * P, K), input_shape, filter_h,
                  filter_w, stride, pad)
