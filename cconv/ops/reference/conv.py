"""The book's Convolution (common/layers.py) in NumPy: the reference of :mod:`cconv.ops.conv`.

Same names as the op: ``conv_forward`` returns ``(out, saved)`` and ``conv_backward``
takes that ``saved``; the book's arithmetic (``col @ col_W + b``, then a transpose).
"""
import numpy as np

from .im2col import _pair, col2im, im2col, out_size


class ConvSaved:
    """The book layer's state after forward: the input and its columns."""

    def __init__(self, x, col, stride, pad):
        self.x, self.col, self.stride, self.pad = x, col, stride, pad


def conv_forward(x, W, b, stride=1, pad=0):
    """``x`` (N, C, H, W) * ``W`` (FN, C, FH, FW) + ``b`` -> ((N, FN, OH, OW), saved)."""
    FN, C, FH, FW = W.shape
    N, _, H, Wd = x.shape
    (sh, sw), (ph, pw) = _pair(stride), _pair(pad)
    out_h, out_w = out_size(H, FH, sh, ph), out_size(Wd, FW, sw, pw)
    col = im2col(x, FH, FW, stride, pad)
    out = np.dot(col, W.reshape(FN, -1).T) + b
    out = out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)
    return out, ConvSaved(x, col, stride, pad)


def conv_backward(dout, saved, W, need_dx=True):
    """Gradients ``(dx, dW, db)`` of :func:`conv_forward` (``dx`` None if not needed)."""
    FN, C, FH, FW = W.shape
    dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
    db = np.sum(dout, axis=0)
    dW = np.dot(saved.col.T, dout).transpose(1, 0).reshape(FN, C, FH, FW)
    if not need_dx:
        return None, dW, db
    dcol = np.dot(dout, W.reshape(FN, -1))
    return col2im(dcol, saved.x.shape, FH, FW, saved.stride, saved.pad), dW, db


def conv_backward_from_pool(dpool, arg, saved, W, *, gate=None):
    """``(dW, db)`` of :func:`conv_forward` for the gradient a 2x2 stride-2 max pooling of
    its output gives back (``gate``: through the ReLU between them): the pooling's
    backward, then :func:`conv_backward`."""
    from .pooling import maxpool_backward
    N, _, ph, pw = dpool.shape
    FN, _, FH, FW = W.shape
    (sh, sw), (pdh, pdw) = _pair(saved.stride), _pair(saved.pad)
    shape = (N, FN, out_size(saved.x.shape[2], FH, sh, pdh), out_size(saved.x.shape[3], FW, sw, pdw))
    d = maxpool_backward(dpool, arg, shape, 2, 2, 2, 0, gate=gate)
    return conv_backward(d, saved, W, need_dx=False)[1:]
