"""The book's ``common/layers.py`` on cconv's compiled kernels.

Same class names, constructor arguments, attributes and ``forward``/``backward``
contracts as the book, so ``from cconv.layers import *`` replaces
``from common.layers import *``. Parameters (``W``, ``b``, ``gamma``, ``beta``) are the
very arrays passed in — never copies — so the book's optimizers, which update
``params[key]`` in place, are seen by the layers. Everything works in float32 and in
float64: outputs keep the input's dtype, gradients ``dW``/``db``/``dgamma``/``dbeta`` keep
the parameter's dtype, ``dx`` keeps the dtype of ``x``.

Fixes of the book's bugs are noted in each class's docstring. Beyond the book, every
``backward`` called before its ``forward`` raises RuntimeError ("call forward first"),
parameters and gradients of complex, string or object dtype raise TypeError (the dtype
policy of :func:`cconv._kernels.as_float_array`), and empty batches (N = 0) work.
"""
import numpy as np

from . import _im2col, _kernels, _ops, _parallel, _pool
from ._config import resolve_threads
from .functions import *  # noqa: F401,F403  (the book's layers.py re-exports them too)
from .functions import __all__ as _functions_all
from .functions import cross_entropy_error, sigmoid, softmax
from .functions import _labels
from .util import col2im, im2col  # noqa: F401  (re-exported, as in the book)

__all__ = list(_functions_all) + [
    "im2col", "col2im",
    "Relu", "Sigmoid", "Tanh", "Affine", "SoftmaxWithLoss", "Dropout",
    "BatchNormalization", "Convolution", "Pooling", "AvgPooling", "LRN",
]


def _as_dtype(a, dtype):
    return a if a.dtype == dtype else a.astype(dtype)


def _param(p, name):
    if not isinstance(p, np.ndarray):
        raise TypeError(f"{name} must be a numpy array (it is shared with the optimizer "
                        f"and updated in place), not {type(p).__name__}")
    if p.dtype.kind not in "biuf":  # complex, object, str...: the kernels' dtype policy
        raise TypeError(f"{name} has dtype {p.dtype}; cconv works on float32 or float64")
    return p


def _scalar_or_param(b, name):
    """A bias that may be one number for every output (the book's ``Convolution(w, 0)``)."""
    if isinstance(b, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number or a numpy array, not bool")
    if isinstance(b, (int, float, np.integer, np.floating)):
        return b
    return _param(b, name)


def _forward_done(layer, value):
    """``value`` (state the last forward left), or RuntimeError if there was none."""
    if value is None:
        raise RuntimeError(f"{type(layer).__name__}.backward called before forward: "
                           "call forward first")
    return value


def _flat(x):
    # (N, ...) -> (N, D); unlike reshape(N, -1), also defined for an empty batch
    return x.reshape(x.shape[0], int(np.prod(x.shape[1:], dtype=np.int64)))


def _sample_bytes(x):
    return int(np.prod(x.shape[1:], dtype=np.int64)) * x.itemsize


_EW_CHUNK = 1 << 18  # elements per chunk of an element-wise kernel (1 MiB of float32)


def _elementwise(kernel, arrays, n_threads):
    """Run ``kernel(*flat_chunks, 1)`` over fixed chunks of same-size contiguous arrays.

    The chunks are shared among cconv's worker threads (see :mod:`cconv._parallel`), so
    the layers use one thread pool, never OpenMP and BLAS threads against each other.
    """
    flats = [a.reshape(-1) for a in arrays]
    n = flats[0].shape[0]
    nch = -(-n // _EW_CHUNK)

    def work(lo, hi):
        for c in range(lo, hi):
            s = slice(c * _EW_CHUNK, min(n, (c + 1) * _EW_CHUNK))
            kernel(*[f[s] for f in flats], 1)
    _parallel.run_chunks(work, nch, resolve_threads(n_threads))


class Relu:
    """ReLU layer: ``out = max(0, x)``.

    Parameters
    ----------
    n_threads : int, optional
        OpenMP threads of the element-wise kernels (default: :func:`cconv.get_num_threads`).

    Attributes
    ----------
    mask : ndarray of bool, shape of the last ``x``
        Where ``x <= 0`` (the book's mask), computed on demand from ``out``.
    out : ndarray
        The last output (kept instead of a boolean mask: backward reads it).

    Notes
    -----
    Book bug fixed: the book's ``backward`` writes zeros into ``dout`` in place, which
    corrupts the caller's array; here ``backward`` returns a new array and never
    modifies ``dout``. NaN inputs pass through, as in the book (``NaN <= 0`` is False).
    """

    def __init__(self, n_threads=None):
        self.out = None
        self.n_threads = n_threads

    @property
    def mask(self):
        return None if self.out is None else (self.out <= 0)

    def forward(self, x):
        """``x`` (any shape) -> ``max(0, x)``, same shape and dtype."""
        x = np.ascontiguousarray(_kernels.as_float_array(x, "x"))
        out = np.empty_like(x)
        _elementwise(_ops.relu_into, (x, out), self.n_threads)
        self.out = out
        return out

    def backward(self, dout):
        """``dout`` (shape of the output) -> ``dx``, a new array; ``dout`` is left alone."""
        y = _forward_done(self, self.out)
        dout = np.ascontiguousarray(_kernels.as_float_array(dout, "dout"), dtype=y.dtype)
        if dout.shape != y.shape:
            raise ValueError(f"dout has shape {dout.shape}, the forward output had {y.shape}")
        dx = np.empty_like(y)
        _elementwise(_ops.relu_backward_into, (dout, y, dx), self.n_threads)
        return dx


class Sigmoid:
    """Sigmoid layer (numerically stable :func:`cconv.functions.sigmoid`).

    Attributes
    ----------
    out : ndarray
        The last output, used by ``backward``.
    """

    def __init__(self):
        self.out = None

    def forward(self, x):
        """``x`` (any shape) -> ``sigmoid(x)``, same shape and dtype."""
        out = sigmoid(x)
        self.out = out
        return out

    def backward(self, dout):
        """``dout`` -> ``dout * (1 - out) * out``."""
        out = _forward_done(self, self.out)
        return dout * (1 - out) * out


class Tanh:
    """Tanh layer (not in the book; LeNet uses it).

    Attributes
    ----------
    out : ndarray
        The last output, used by ``backward``.
    """

    def __init__(self):
        self.out = None

    def forward(self, x):
        """``x`` (any shape) -> ``tanh(x)``, same shape and dtype."""
        self.out = np.tanh(_kernels.as_float_array(x, "x"))
        return self.out

    def backward(self, dout):
        """``dout`` -> ``dout * (1 - out**2)``."""
        out = _forward_done(self, self.out)
        return dout * (1 - out * out)


class Affine:
    """Fully connected layer ``out = x @ W + b``.

    Parameters
    ----------
    W : ndarray, shape (D, M)
        Weights, kept by identity (``layer.W is W``).
    b : ndarray, shape (M,)
        Bias, kept by identity.

    Attributes
    ----------
    x : ndarray, shape (N, D)
        The last input, flattened.
    original_x_shape : tuple
        The last input's shape, e.g. (N, C, H, W); ``backward`` returns ``dx`` in it.
    dW : ndarray, shape (D, M), in ``W``'s dtype
    db : ndarray, shape (M,), in ``b``'s dtype

    Notes
    -----
    Inputs with more than two axes are flattened to (N, -1) like the book (a
    convolution's (N, C, H, W) output feeds an Affine layer directly).
    """

    def __init__(self, W, b, n_threads=None):
        self.W = _param(W, "W")
        self.b = _param(b, "b")
        self.n_threads = n_threads
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def forward(self, x):
        """``x`` (N, D) or (N, ...) with D elements per sample -> (N, M)."""
        x = _kernels.as_float_array(x, "x")
        if x.ndim == 0:
            raise ValueError("Affine needs a batch (N, D), got a scalar")
        self.original_x_shape = x.shape
        x = _flat(x)
        if x.shape[1] != self.W.shape[0]:
            raise ValueError(f"x of shape {self.original_x_shape} has {x.shape[1]} features "
                             f"per sample, but W of shape {self.W.shape} expects "
                             f"{self.W.shape[0]}")
        self.x = x
        N, M = x.shape[0], self.W.shape[1]
        dt = np.result_type(x.dtype, self.W.dtype, self.b.dtype)
        W = self.W if self.W.dtype == dt else self.W.astype(dt)
        b = self.b if self.b.dtype == dt else self.b.astype(dt)
        out = np.empty((N, M), dtype=dt)

        def rows(c, s):
            np.matmul(x[s], W, out=out[s])
            out[s] += b
        _parallel.for_batch(rows, N, x.shape[1] * x.itemsize, resolve_threads(self.n_threads))
        return out

    def backward(self, dout):
        """``dout`` (N, M) -> ``dx`` in the input's original shape; sets ``dW``, ``db``."""
        x = _forward_done(self, self.x)
        dout = _kernels.as_float_array(dout, "dout")
        N, D = x.shape
        M = self.W.shape[1]
        if dout.shape != (N, M):
            raise ValueError(f"dout has shape {dout.shape}, the forward output was {(N, M)}")
        dt = np.result_type(dout.dtype, self.W.dtype, x.dtype)
        WT = (self.W if self.W.dtype == dt else self.W.astype(dt)).T
        xd = x if x.dtype == dt else x.astype(dt)
        dout = np.ascontiguousarray(dout, dtype=dt)
        dx = np.empty((N, D), dtype=dt)
        dW = np.empty((D, M), dtype=dt)
        # Blocks of the D features: block s owns dx[:, s] = dout @ W[s].T and
        # dW[s] = x[:, s].T @ dout, each a whole product over the batch, so no partial
        # sums and no thread has more than its share. The blocks depend on the shape
        # only: results are the same for any thread count.
        nb = max(1, min(8, D, N * D * M // (1 << 18)))
        bs = -(-D // nb)

        def cols(lo, hi):
            for c in range(lo, hi):
                s = slice(c * bs, min(D, (c + 1) * bs))
                np.matmul(dout, WT[:, s], out=dx[:, s])
                np.matmul(xd[:, s].T, dout, out=dW[s])
        _parallel.run_chunks(cols, -(-D // bs) if D else 0, resolve_threads(self.n_threads))
        self.dW = _as_dtype(dW, self.W.dtype)
        self.db = _as_dtype(dout.sum(axis=0), self.b.dtype)
        return _as_dtype(dx, x.dtype).reshape(*self.original_x_shape)


class SoftmaxWithLoss:
    """Softmax followed by the cross-entropy loss (the output layer for training).

    Attributes
    ----------
    loss : NumPy scalar
        The last loss, in the scores' dtype.
    y : ndarray, shape (N, K)
        The last softmax output.
    t : ndarray
        The last targets, one-hot (N, K) or integer labels (N,).

    Notes
    -----
    ``backward(dout)`` multiplies the gradient by ``dout`` (the book ignores it; with the
    default ``dout=1`` the result is the book's). A single sample of shape (K,) is
    treated as a batch of one.
    """

    def __init__(self):
        self.loss = None
        self.y = None
        self.t = None

    def forward(self, x, t):
        """Scores ``x`` (N, K) and targets ``t`` (one-hot (N, K) or labels (N,)) -> loss."""
        x = _kernels.as_float_array(x, "x")
        self.t = np.asarray(t)
        self.y = softmax(x)
        self.loss = cross_entropy_error(self.y, self.t)
        return self.loss

    def backward(self, dout=1):
        """Gradient of ``dout * loss`` w.r.t. the scores: ``dout * (y - t) / N``."""
        y = _forward_done(self, self.y)
        one = y.ndim == 1
        if one:
            y = y.reshape(1, -1)
            t = self.t.reshape(1, -1) if self.t.shape == self.y.shape else self.t.reshape(-1)
        else:
            t = self.t
        batch_size = y.shape[0]
        if t.shape == y.shape:          # one-hot: (y - t), the book's formula
            dx = y - t.astype(y.dtype, copy=False)
        else:                           # labels: subtract 1 at each sample's label
            dx = y.copy()
            dx[np.arange(batch_size), _labels(y, t)] -= 1
        scale = y.dtype.type(1) / y.dtype.type(batch_size)
        if not (isinstance(dout, (int, float)) and dout == 1):
            scale = scale * np.asarray(dout, dtype=y.dtype)
        dx *= scale
        return dx.reshape(self.y.shape) if one else dx


class Dropout:
    """Dropout: in training, zero each unit with probability ``dropout_ratio``.

    Parameters
    ----------
    dropout_ratio : float, default 0.5
        Probability of dropping a unit, in [0, 1).
    rng : numpy.random.Generator, optional
        Source of the masks (default: NumPy's global RNG, as in the book, so
        ``np.random.seed`` makes runs repeatable).

    Attributes
    ----------
    mask : ndarray of bool
        Units kept in the last training forward pass.

    Notes
    -----
    Kept as the book on purpose: training does *not* rescale the kept units, and test
    mode (``train_flg=False``) returns ``x * (1 - dropout_ratio)`` instead (the original
    dropout, not "inverted dropout"). The scale is applied in ``x``'s dtype, and the
    mask multiply keeps it: float32 stays float32.
    """

    def __init__(self, dropout_ratio=0.5, rng=None):
        if not 0 <= dropout_ratio < 1:
            raise ValueError(f"dropout_ratio must be in [0, 1), got {dropout_ratio}")
        self.dropout_ratio = dropout_ratio
        self.rng = rng
        self.mask = None

    def forward(self, x, train_flg=True):
        """``x`` (any shape) -> ``x * mask`` (training) or ``x * (1 - ratio)`` (test)."""
        x = _kernels.as_float_array(x, "x")
        if train_flg:
            u = self.rng.random(x.shape) if self.rng is not None else np.random.rand(*x.shape)
            self.mask = u > self.dropout_ratio
            return x * self.mask
        return x * x.dtype.type(1.0 - self.dropout_ratio)

    def backward(self, dout):
        """``dout`` -> ``dout * mask`` (the mask of the last training forward)."""
        return dout * _forward_done(self, self.mask)


class BatchNormalization:
    """Batch normalisation (Ioffe & Szegedy 2015), as in the book.

    Parameters
    ----------
    gamma : ndarray, shape (D,)
        Scale, kept by identity. For 4-D input (N, C, H, W), D = C*H*W: like the book,
        the input is flattened to (N, -1) and every element is normalised on its own
        (not per channel).
    beta : ndarray, shape (D,)
        Shift, kept by identity.
    momentum : float, default 0.9
        ``running = momentum * running + (1 - momentum) * batch_statistic``.
    running_mean, running_var : ndarray, shape (D,), optional
        Statistics used at test time; zeros of ``x``'s dtype on the first forward if None.

    Attributes
    ----------
    dgamma, dbeta : ndarray, shape (D,), in ``gamma``/``beta``'s dtype
    xc, xn, std, batch_size, input_shape
        Values the backward pass uses, as in the book.

    Notes
    -----
    The book's epsilon ``10e-7`` (= 1e-6) is kept, and applied in ``x``'s dtype.
    """

    eps = 10e-7

    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None):
        self.gamma = _param(gamma, "gamma")
        self.beta = _param(beta, "beta")
        self.momentum = momentum
        self.input_shape = None
        self.running_mean = running_mean
        self.running_var = running_var
        self.batch_size = None
        self.xc = None
        self.xn = None
        self.std = None
        self.dgamma = None
        self.dbeta = None

    def forward(self, x, train_flg=True):
        """``x`` (N, D) or (N, ...) -> normalised, scaled and shifted, same shape."""
        x = _kernels.as_float_array(x, "x")
        self.input_shape = x.shape
        if x.ndim != 2:
            if x.ndim == 0:
                raise ValueError("BatchNormalization needs a batch, got a scalar")
            x = _flat(x)
        if x.shape[1] != self.gamma.size:
            raise ValueError(f"x of shape {self.input_shape} has {x.shape[1]} features per "
                             f"sample, but gamma has {self.gamma.size}")
        out = self._forward(x, train_flg)
        return out.reshape(*self.input_shape)

    def _forward(self, x, train_flg):
        dt = x.dtype.type
        if self.running_mean is None:
            D = x.shape[1]
            self.running_mean = np.zeros(D, dtype=x.dtype)
            self.running_var = np.zeros(D, dtype=x.dtype)
        eps = dt(self.eps)
        if train_flg:
            if x.shape[0] == 0:
                raise ValueError("BatchNormalization cannot train on an empty batch")
            mu = x.mean(axis=0)
            xc = x - mu
            var = np.mean(xc * xc, axis=0)
            std = np.sqrt(var + eps)
            xn = xc / std
            self.batch_size = x.shape[0]
            self.xc = xc
            self.xn = xn
            self.std = std
            m = self.momentum
            rdt = self.running_mean.dtype.type
            self.running_mean = rdt(m) * self.running_mean + rdt(1 - m) * mu
            self.running_var = rdt(m) * self.running_var + rdt(1 - m) * var
        else:
            xc = x - self.running_mean.astype(x.dtype, copy=False)
            xn = xc / np.sqrt(self.running_var.astype(x.dtype, copy=False) + eps)
        return self.gamma * xn + self.beta

    def backward(self, dout):
        """``dout`` (shape of the input) -> ``dx``; sets ``dgamma``, ``dbeta``."""
        _forward_done(self, self.xn)  # set by a training forward
        dout = _kernels.as_float_array(dout, "dout")
        if dout.ndim != 2:
            dout = _flat(dout)
        dx = self._backward(dout)
        return dx.reshape(*self.input_shape)

    def _backward(self, dout):
        dbeta = dout.sum(axis=0)
        dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        dvar = dstd / (2 * self.std)
        dxc = dxc + (2 * dvar / self.batch_size) * self.xc
        dmu = np.sum(dxc, axis=0)
        dx = dxc - dmu / self.batch_size
        self.dgamma = _as_dtype(dgamma, self.gamma.dtype)
        self.dbeta = _as_dtype(dbeta, self.beta.dtype)
        return _as_dtype(dx, self.xc.dtype)


class Convolution:
    """2-D convolution (cross-correlation, as in the book) by im2col + GEMM.

    Parameters
    ----------
    W : ndarray, shape (FN, C, FH, FW)
        Filters, kept by identity (``layer.W is W``).
    b : ndarray, shape (FN,), or a number
        Bias, kept by identity. A number (e.g. ``Convolution(w, 0)``, the book's filter
        demo) or a 0-d array is one bias shared by every filter, as the book's
        broadcasting ``+ self.b`` adds it; ``db`` is still (FN,), as in the book.
    stride : int or (int, int), default 1
    pad : int or (int, int), default 0
        Zero padding on each side.
    need_dx : bool, default True
        False for a network's first layer: ``backward`` then computes only ``dW`` and
        ``db``, skips the ``dx`` GEMM and col2im, and returns None.
    n_threads : int, optional
        Worker threads (default: :func:`cconv.get_num_threads`).

    Attributes
    ----------
    x : ndarray, shape (N, C, H, W)
        The last input.
    col : ndarray, shape (N*OH*OW, C*FH*FW)
        The last input unfolded by im2col in the book's layout (made on demand from the
        per-sample columns the layer keeps, see Notes).
    col_W : ndarray, shape (C*FH*FW, FN)
        ``W.reshape(FN, -1).T`` (a view of ``W``).
    dW : ndarray, shape (FN, C, FH, FW), in ``W``'s dtype
    db : ndarray, shape (FN,), in ``b``'s dtype

    Notes
    -----
    The output is ``(N, FN, OH, OW)`` with ``OH = (H + 2*pad - FH) // stride + 1``, and
    C-contiguous. How it is computed differs from the book, not what: the input is
    unfolded per sample as ``colT[n]`` (C*FH*FW, OH*OW), so ``W2 @ colT[n]`` is sample n's
    output already in NCHW order (the book's ``col @ col_W`` needs a transpose copy
    after it); the batch is cut into chunks whose columns fit in cache and multiplied
    right after they are made, on cconv's worker threads with single-threaded BLAS;
    ``dW`` sums per-chunk partial products in chunk order, so results do not depend on
    the thread count. The chunks' ``dx`` columns are folded back at once (col2im) and
    never stored whole.
    """

    def __init__(self, W, b, stride=1, pad=0, need_dx=True, n_threads=None):
        self.W = _param(W, "W")
        if self.W.ndim != 4:
            raise ValueError(f"W must be 4-D (FN, C, FH, FW), got shape {self.W.shape}")
        self.b = _scalar_or_param(b, "b")
        if np.ndim(self.b) != 0 and self.b.size != self.W.shape[0]:
            raise ValueError(f"b has {self.b.size} elements but W has {self.W.shape[0]} "
                             "filters")
        self.stride = stride
        self.pad = pad
        self.need_dx = bool(need_dx)
        self.n_threads = n_threads
        self.x = None
        self._colT = None
        self.col_W = None
        self.dW = None
        self.db = None

    def forward(self, x):
        """``x`` (N, C, H, W) -> (N, FN, OH, OW), C-contiguous."""
        FN, C, FH, FW = self.W.shape
        x = _kernels.as_float_array(x, "x")
        if x.ndim != 4:
            raise ValueError(f"x must be 4-D (N, C, H, W), got shape {x.shape}")
        N = x.shape[0]
        if x.shape[1] != C:
            raise ValueError(f"x has {x.shape[1]} channels but W of shape {self.W.shape} "
                             f"expects {C}")
        oh, ow, sh, sw, ph, pw = _kernels.window_geometry(x.shape, FH, FW, self.stride,
                                                          self.pad)
        x = np.ascontiguousarray(x)
        K, P = C * FH * FW, oh * ow
        # Per-sample columns (N, K, OH*OW): W2 @ colT[n] is sample n's output, already
        # NCHW, so no transpose copy follows the GEMM. The buffer is kept for backward
        # and reused while the batch shape stays the same.
        colT = self._colT
        if colT is None or colT.shape != (N, K, P) or colT.dtype != x.dtype:
            colT = np.empty((N, K, P), dtype=x.dtype)
        W2 = self.W.reshape(FN, -1)
        if W2.dtype != x.dtype:
            W2 = W2.astype(x.dtype)
        b = np.ascontiguousarray(np.broadcast_to(self.b, (FN,)) if np.ndim(self.b) == 0
                                 else self.b, dtype=x.dtype)
        out = np.empty((N, FN, P), dtype=x.dtype)
        cs = _parallel.chunk_size(K * P * x.itemsize, N)
        geo = (FH, FW, sh, sw, ph, pw)

        def work(lo, hi):
            # each chunk's columns are multiplied while they are still in cache
            for c in range(lo, hi):
                s = slice(c * cs, min(N, (c + 1) * cs))
                _im2col.im2col_t_into(x[s], colT[s], *geo, 1)
                np.matmul(W2, colT[s], out=out[s])
                _ops.bias_add_into(out[s], b, 1)
        _parallel.run_chunks(work, -(-N // cs), resolve_threads(self.n_threads))
        self._colT = colT
        self._geo = geo
        self.x = x
        self.col_W = W2.T
        return out.reshape(N, FN, oh, ow)

    @property
    def col(self):
        """The last input in the book's im2col layout (N*OH*OW, C*FH*FW), made on demand."""
        if self._colT is None:
            return None
        N, K, P = self._colT.shape
        return self._colT.transpose(0, 2, 1).reshape(N * P, K)

    def backward(self, dout):
        """``dout`` (N, FN, OH, OW) -> ``dx`` (N, C, H, W), or None if ``need_dx=False``.

        Sets ``dW`` and ``db``.
        """
        FN, C, FH, FW = self.W.shape
        colT = _forward_done(self, self._colT)
        N, K, P = colT.shape
        dt = colT.dtype
        d3 = np.ascontiguousarray(_kernels.as_float_array(dout, "dout"), dtype=dt)
        if d3.size != N * FN * P or d3.shape[:2] != (N, FN):
            raise ValueError(f"dout has shape {np.shape(dout)}, the forward output was "
                             f"({N}, {FN}, {P} positions)")
        d3 = d3.reshape(N, FN, P)
        cs = _parallel.chunk_size(K * P * dt.itemsize, N)
        nch = -(-N // cs)
        # per-chunk partial sums, added in chunk order: thread-count independent. dW is
        # summed transposed, colT[n] @ d3[n].T (K, FN): BLAS runs that GEMM 1.2-1.8x
        # faster than d3[n] @ colT[n].T for these shapes.
        dWTp = np.empty((nch, K, FN), dtype=dt)
        dbp = np.empty((nch, FN), dtype=dt)
        W2 = self.W.reshape(FN, -1)
        if W2.dtype != dt:
            W2 = W2.astype(dt)
        W2T = W2.T
        dx = np.empty(self.x.shape, dtype=dt) if self.need_dx else None
        geo = self._geo

        def work(lo, hi):
            buf = np.empty((cs, K, P), dtype=dt) if dx is not None else None
            for c in range(lo, hi):
                s = slice(c * cs, min(N, (c + 1) * cs))
                n = s.stop - s.start
                _ops.sum_channels_into(d3[s], dbp[c], 1)
                if n == 1:
                    np.matmul(colT[s.start], d3[s.start].T, out=dWTp[c])
                else:
                    np.sum(np.matmul(colT[s], d3[s].transpose(0, 2, 1)), axis=0, out=dWTp[c])
                if dx is not None:
                    np.matmul(W2T, d3[s], out=buf[:n])
                    _im2col.col2im_t_into(buf[:n], dx[s], *geo, 1)
        _parallel.run_chunks(work, nch, resolve_threads(self.n_threads))
        bdt = self.b.dtype if isinstance(self.b, np.ndarray) else self.W.dtype  # a number b
        self.db = _as_dtype(dbp.sum(axis=0), bdt)
        self.dW = _as_dtype(np.ascontiguousarray(dWTp.sum(axis=0).T).reshape(FN, C, FH, FW),
                            self.W.dtype)
        return dx


class _Pool:
    """What max and average pooling share: geometry, checks, batch chunks."""

    def __init__(self, pool_h, pool_w, stride=1, pad=0, n_threads=None):
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.n_threads = n_threads
        self.x = None

    @property
    def _window(self):
        return (self.pool_h, self.pool_w, self.stride, self.pad)

    def _input(self, x):
        """``x`` checked and contiguous, and the output shape (N, C, OH, OW); sets
        ``self._geo``, the kernels' window arguments (PH, PW, sh, sw, ph, pw)."""
        x = _kernels.as_float_array(x, "x")
        if x.ndim != 4:
            raise ValueError(f"x must be 4-D (N, C, H, W), got {x.ndim}-D with shape {x.shape}")
        oh, ow, sh, sw, ph, pw = _kernels.window_geometry(x.shape, *self._window, "pool")
        self._geo = (int(self.pool_h), int(self.pool_w), sh, sw, ph, pw)   # validated above
        return np.ascontiguousarray(x), x.shape[:2] + (oh, ow)

    def _dout(self, dout):
        """``dout`` checked against the last forward; returns (x, dout)."""
        x = _forward_done(self, self.x)
        dout = np.ascontiguousarray(_as_dtype(_kernels.as_float_array(dout, "dout"), x.dtype))
        want = self._input(x)[1]
        if dout.shape != want:
            raise ValueError(f"dout has shape {dout.shape}, the forward output was {want}")
        return x, dout

    def _chunks(self, fn, x):
        """``fn(s)`` over fixed batch chunks ``s``, on cconv's worker threads. The chunks
        call the compiled kernels directly: the layer has checked the shapes once, and
        the argmax it passes back is its own."""
        _parallel.for_batch(lambda c, s: fn(s), x.shape[0], _sample_bytes(x),
                            resolve_threads(self.n_threads))


class Pooling(_Pool):
    """Max pooling over ``pool_h x pool_w`` windows.

    Parameters
    ----------
    pool_h, pool_w : int
    stride : int or (int, int), default 1
    pad : int or (int, int), default 0
        Padding never wins the max (it reads as -inf).
    n_threads : int, optional
        Worker threads (default: :func:`cconv.get_num_threads`).

    Attributes
    ----------
    x : ndarray, shape (N, C, H, W)
        The last input.
    arg_max : ndarray of uint16, shape (N, C, OH, OW)
        Each window's first maximum as ``kh * pool_w + kw`` (the book keeps the same
        indices flattened in (N, OH, OW, C) order).

    Notes
    -----
    Book bug fixed: the book computes the output size as ``1 + (H - pool_h) / stride``,
    ignoring ``pad``, so any ``pad > 0`` crashes or gives wrong shapes; here
    ``OH = (H + 2*pad - pool_h) // stride + 1``. The book also pads with 0, which beats
    negative inputs in the max; here padding is -inf.
    """

    def __init__(self, pool_h, pool_w, stride=1, pad=0, n_threads=None):
        super().__init__(pool_h, pool_w, stride, pad, n_threads)
        self.arg_max = None

    def forward(self, x):
        """``x`` (N, C, H, W) -> (N, C, OH, OW), the maximum of each window."""
        x, shape = self._input(x)
        out = np.empty(shape, dtype=x.dtype)
        _kernels._check_arg_range(self.pool_h, self.pool_w)
        arg = np.empty(shape, dtype=_kernels.ARG_DTYPE)
        self._chunks(lambda s: _pool.maxpool_forward_into(x[s], out[s], arg[s], *self._geo,
                                                          1), x)
        self.x = x
        self.arg_max = arg
        return out

    def backward(self, dout):
        """``dout`` (N, C, OH, OW) -> ``dx`` (N, C, H, W): each gradient to its argmax."""
        x, dout = self._dout(dout)
        dx = np.empty(x.shape, dtype=x.dtype)
        arg = self.arg_max
        self._chunks(lambda s: _pool.maxpool_backward_into(dout[s], arg[s], dx[s], *self._geo,
                                                           1), x)
        return dx


class AvgPooling(_Pool):
    """Average pooling over ``pool_h x pool_w`` windows (not in the book's common/).

    Parameters
    ----------
    pool_h, pool_w : int
    stride : int or (int, int), default 1
    pad : int or (int, int), default 0
        Padding counts as zeros and every window divides by ``pool_h * pool_w``.
    n_threads : int, optional
        Worker threads (default: :func:`cconv.get_num_threads`).

    Attributes
    ----------
    x : ndarray, shape (N, C, H, W)
        The last input.
    """

    def forward(self, x):
        """``x`` (N, C, H, W) -> (N, C, OH, OW), the mean of each window."""
        x, shape = self._input(x)
        out = np.empty(shape, dtype=x.dtype)
        self._chunks(lambda s: _pool.avgpool_forward_into(x[s], out[s], *self._geo, 1), x)
        self.x = x
        return out

    def backward(self, dout):
        """``dout`` (N, C, OH, OW) -> ``dx`` (N, C, H, W), spread evenly over windows."""
        x, dout = self._dout(dout)
        dx = np.empty(x.shape, dtype=x.dtype)
        self._chunks(lambda s: _pool.avgpool_backward_into(dout[s], dx[s], *self._geo, 1), x)
        return dx


from .layers_extra import LRN  # noqa: E402  (AlexNet's layer; its module imports this one's helpers)
