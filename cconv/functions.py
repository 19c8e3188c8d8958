"""The book's ``common/functions.py``: activations, softmax and losses, dtype-preserving.

Every function keeps the float dtype of its input (float32 stays float32); integer and
bool inputs are computed in float64, as NumPy would. Differences from the book, all
deliberate: ``sigmoid`` is numerically stable (no overflow warning for large negative
inputs), ``step_function`` no longer uses the removed ``np.int``, ``relu_grad`` no longer
calls ``np.zeros(x)`` (a crash in the book), and the losses check their targets' shapes
and labels and say what is wrong.
"""
import numpy as np

from ._checks import float_array as as_float_array

__all__ = ["np", "identity_function", "step_function", "sigmoid", "sigmoid_grad", "relu",
           "relu_grad", "softmax", "sum_squared_error", "cross_entropy_error",
           "softmax_loss", "tanh", "tanh_grad"]

_EPS_LOG = 1e-7  # the book's guard against log(0)


def _ret(a):
    """0-d arrays come back as NumPy scalars, as NumPy's own ufuncs return them."""
    return a[()] if isinstance(a, np.ndarray) and a.ndim == 0 else a


def identity_function(x):
    """Return ``x`` unchanged (the output activation of a regression network).

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    x : the same object
    """
    return x


def step_function(x):
    """Heaviside step: 1 where ``x > 0``, else 0.

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    y : ndarray, same shape
        In ``x``'s dtype when ``x`` is float32/float64; an int array otherwise (the book
        returns ``np.int``, which NumPy has removed).
    """
    a = np.asarray(x)
    if a.dtype == np.float32 or a.dtype == np.float64:
        return _ret((a > 0).astype(a.dtype))
    return _ret((a > 0).astype(np.int_))


def sigmoid(x):
    """Logistic sigmoid ``1 / (1 + exp(-x))``, numerically stable.

    The book's ``1 / (1 + np.exp(-x))`` overflows (with a warning) for ``x < -709`` in
    float64 and ``x < -88`` in float32; here ``exp`` only ever sees ``-|x|``.

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    y : ndarray, same shape and float dtype as ``x``, values in [0, 1]
    """
    x = as_float_array(x)
    e = np.exp(-np.abs(x))          # in (0, 1]: never overflows
    one = x.dtype.type(1)
    y = np.where(x >= 0, one / (one + e), e / (one + e))
    return _ret(y.astype(x.dtype, copy=False))


def sigmoid_grad(x):
    """Derivative of :func:`sigmoid` at ``x``: ``(1 - s) * s`` with ``s = sigmoid(x)``.

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    g : ndarray, same shape and float dtype as ``x``
    """
    s = sigmoid(x)
    return (1 - s) * s


def relu(x):
    """Rectified linear unit ``max(0, x)``.

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    y : ndarray, same shape and float dtype as ``x``
    """
    x = as_float_array(x)
    return _ret(np.maximum(x, x.dtype.type(0)))


def relu_grad(x):
    """Derivative of :func:`relu`: 1 where ``x >= 0``, else 0 (the book's convention at 0).

    The book writes ``np.zeros(x)``, which fails; this is ``np.zeros_like(x)``. Note that
    the :class:`cconv.layers.Relu` layer, like the book's, uses 0 at ``x == 0``.

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    g : ndarray, same shape and float dtype as ``x``
    """
    x = as_float_array(x)
    return _ret((x >= 0).astype(x.dtype))


def tanh(x):
    """Hyperbolic tangent (not in the book; LeNet uses it).

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    y : ndarray, same shape and float dtype as ``x``
    """
    return _ret(np.tanh(as_float_array(x)))


def tanh_grad(x):
    """Derivative of :func:`tanh`: ``1 - tanh(x)**2``.

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    g : ndarray, same shape and float dtype as ``x``
    """
    y = np.tanh(as_float_array(x))
    return _ret(1 - y * y)


def softmax(x):
    """Softmax over the last axis, stabilised by subtracting the row maximum.

    Parameters
    ----------
    x : array_like, shape (K,) or (N, K)
        Scores of one sample or of a batch (any number of leading axes works).

    Returns
    -------
    y : ndarray, same shape and float dtype as ``x``
        Non-negative, each row sums to 1.
    """
    x = as_float_array(x)
    if x.ndim == 0:
        raise ValueError("softmax needs at least one axis of scores, got a scalar")
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def sum_squared_error(y, t):
    """Sum of squared errors ``0.5 * sum((y - t)**2)`` (the book's loss; not averaged).

    Parameters
    ----------
    y : array_like, any shape
        Network output.
    t : array_like, same shape as ``y``
        Targets (one-hot for classification); converted to ``y``'s dtype.

    Returns
    -------
    loss : NumPy scalar of ``y``'s float dtype
    """
    y = as_float_array(y, "y")
    t = np.asarray(t)
    if t.shape != y.shape:
        raise ValueError(f"y has shape {y.shape} but t has shape {t.shape}; "
                         "sum_squared_error needs them equal (one-hot targets)")
    d = y - t.astype(y.dtype, copy=False)
    return y.dtype.type(0.5) * np.sum(d * d, dtype=y.dtype)


def target_labels(t):
    """Targets -> class labels (N,): one-hot (N, K) by argmax, a column (N, 1) of labels
    (as the book's gradient check passes them) flattened, labels (N,) as they are.

    Only the shape decides (a one-hot target of a single class, (N, 1), is label 0
    either way).
    """
    t = np.asarray(t)
    if t.ndim == 2:
        return t[:, 0] if t.shape[1] == 1 else np.argmax(t, axis=1)
    return t


def _check_one_hot(t):
    """Targets shaped like the scores must be one-hot (or soft) rows: values in [0, 1]
    summing to 1. Labels of a single sample's shape (K,) would otherwise be taken as a
    one-hot row, and the loss and its gradient would disagree."""
    if t.dtype.kind not in "biuf":
        raise TypeError(f"one-hot targets must be numbers, got dtype {t.dtype}")
    if t.size == 0:
        return
    rows = t.sum(axis=1, dtype=np.float64)
    bad = np.flatnonzero((np.abs(rows - 1) > 1e-3) | np.any((t < 0) | (t > 1), axis=1))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"targets of the scores' shape {t.shape} must be one-hot rows "
                         f"(values in [0, 1] summing to 1); row {i} is {t[i][:10]}"
                         f"{'...' if t.shape[1] > 10 else ''} (integer labels of one "
                         f"sample: pass t as shape (1,))")


def _labels(y, t):
    """Targets -> integer labels of shape (N,), given y of shape (N, K)."""
    t = np.asarray(t)
    N, K = y.shape
    if t.shape == y.shape:          # one-hot (the book takes its argmax)
        if K > 1:                   # (N, 1) of one class: label 0 either way
            _check_one_hot(t)
        return np.argmax(t, axis=1)
    if t.shape == (N, 1):           # a column of labels, as the book's gradient check
        t = t[:, 0]
    if t.shape == (N,):
        if t.dtype.kind not in "iu":
            raise TypeError(f"label targets must be integers, got dtype {t.dtype} "
                            "(pass one-hot targets of shape (N, K) or integer labels)")
        if t.size and (t.min() < 0 or t.max() >= K):
            raise ValueError(f"labels must lie in [0, {K}) for {K} classes, got "
                             f"[{t.min()}, {t.max()}]")
        return t
    raise ValueError(f"y has shape {y.shape}; t must be one-hot {y.shape} or labels "
                     f"({N},) or ({N}, 1), got {t.shape}")


def cross_entropy_error(y, t):
    """Mean cross-entropy ``-sum(log(y[n, t_n] + 1e-7)) / N`` (the book's loss).

    Parameters
    ----------
    y : array_like, shape (K,) or (N, K)
        Probabilities (e.g. a softmax output).
    t : array_like, shape like ``y`` (one-hot), or integer labels (N,), (N, 1) or a scalar
        One-hot targets are reduced to their argmax, as in the book. A column of labels
        (N, 1), which the book's gradient check passes, is read as the labels (N,). (The
        book's ``y[np.arange(N), t]`` gets it right only for N = 1: for N > 1 it broadcasts
        to (N, N) and pairs every sample with every label.)

    Returns
    -------
    loss : NumPy scalar of ``y``'s float dtype
    """
    y = as_float_array(y, "y")
    t = np.asarray(t)
    if y.ndim == 1:
        t = t.reshape(1, t.size) if t.shape == y.shape else t.reshape(-1)
        y = y.reshape(1, y.size)
    if y.ndim != 2:
        raise ValueError(f"y must be (K,) or (N, K), got shape {y.shape}")
    labels = _labels(y, t)
    N = y.shape[0]
    if N == 0:
        raise ValueError("cross_entropy_error of an empty batch is undefined")
    p = y[np.arange(N), labels]
    s = -np.sum(np.log(p + y.dtype.type(_EPS_LOG)), dtype=y.dtype)
    return y.dtype.type(s / y.dtype.type(N))


def softmax_loss(X, t):
    """Cross-entropy of the softmax of the scores: ``cross_entropy_error(softmax(X), t)``.

    Parameters
    ----------
    X : array_like, shape (K,) or (N, K)
        Scores.
    t : array_like, one-hot like ``X`` or integer labels (N,)

    Returns
    -------
    loss : NumPy scalar of ``X``'s float dtype
    """
    return cross_entropy_error(softmax(X), t)
