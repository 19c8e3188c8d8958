"""The book's ``common/util.py``: im2col, col2im, conv_output_size, smooth_curve,
shuffle_dataset — with im2col/col2im on the compiled kernels.

Differences from the book: results keep the input's float dtype (the book upcasts to
float64), ``stride`` and ``pad`` may also be (h, w) pairs, bad shapes raise a ValueError
naming the numbers, and ``n_threads``/``out`` are accepted as keywords.
"""
import numpy as np

from . import ops as _ops


def smooth_curve(x):
    """Smooth a loss curve (the book's Kaiser-window moving average).

    Parameters
    ----------
    x : array_like, shape (L,)
        The values; at least 1 long. Curves shorter than the window are returned as is.
    """
    x = np.asarray(x, dtype=float)
    window_len = 11
    if x.ndim != 1:
        raise ValueError(f"smooth_curve takes a 1-D sequence, got shape {x.shape}")
    if x.size < window_len:
        return x.copy()
    s = np.r_[x[window_len - 1:0:-1], x, x[-1:-window_len:-1]]
    w = np.kaiser(window_len, 2)
    y = np.convolve(w / w.sum(), s, mode="valid")
    return y[5:len(y) - 5]


def shuffle_dataset(x, t, rng=None):
    """Shuffle ``x`` and ``t`` with one permutation (the book's function).

    Parameters
    ----------
    x : ndarray, shape (N, ...) 
    t : ndarray, shape (N, ...)
    rng : numpy.random.Generator, optional
        Source of the permutation (default: numpy's global RNG, as in the book).
    """
    if len(x) != len(t):
        raise ValueError(f"x and t differ in length: {len(x)} vs {len(t)}")
    permutation = rng.permutation(len(x)) if rng is not None else np.random.permutation(len(x))
    x = x[permutation, :] if x.ndim == 2 else x[permutation, :, :, :]
    t = t[permutation]
    return x, t


def conv_output_size(input_size, filter_size, stride=1, pad=0):
    """The output length of a convolution or pooling along one axis."""
    return (input_size + 2 * pad - filter_size) // stride + 1


def im2col(input_data, filter_h, filter_w, stride=1, pad=0, *, out=None, n_threads=None):
    """Unfold image patches into rows (the book's im2col).

    Parameters
    ----------
    input_data : ndarray, shape (N, C, H, W)
        float32 or float64 (kept); integers/bool become float64, float16 float32.
    filter_h, filter_w : int
    stride, pad : int or (int, int)
    out : ndarray, shape (N*OH*OW, C*FH*FW), optional
        A C-contiguous buffer of the input's dtype to write into.
    n_threads : int, optional
        OpenMP threads (default: :func:`cconv.get_num_threads`).

    Returns
    -------
    col : ndarray, shape (N*OH*OW, C*FH*FW)
        Rows ordered (n, oh, ow), columns (c, kh, kw); padding reads as 0.
    """
    return _ops.im2col(input_data, filter_h, filter_w, stride, pad, out=out,
                           n_threads=n_threads)


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0, *, out=None,
           n_threads=None):
    """Fold rows back into images, summing overlaps (the adjoint of :func:`im2col`).

    Parameters
    ----------
    col : ndarray, shape (N*OH*OW, C*FH*FW)
    input_shape : tuple (N, C, H, W)
    filter_h, filter_w : int
    stride, pad : int or (int, int)
    out : ndarray, shape (N, C, H, W), optional
    n_threads : int, optional

    Returns
    -------
    img : ndarray, shape (N, C, H, W), in col's dtype
    """
    return _ops.col2im(col, input_shape, filter_h, filter_w, stride, pad, out=out,
                           n_threads=n_threads)
