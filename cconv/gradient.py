"""The book's ``common/gradient.py`` (numerical gradients), plus gradient-check helpers.

``numerical_gradient(f, x)`` perturbs ``x`` *in place* and calls ``f`` — exactly the
book's contract, which networks rely on: ``f = lambda W: net.loss(x, t)`` ignores its
argument and sees the perturbation because ``x`` is one of ``net.params``.

:func:`gradient_check` compares a network's backprop ``gradient(x, t)`` with numerical
gradients; :func:`gradient_check_layer` does the same for one layer's ``backward``.
Both return ``{name: relative_error}`` (see :func:`relative_error`).
"""
import inspect

import numpy as np

__all__ = ["np", "numerical_gradient", "numerical_gradient_1d", "numerical_gradient_2d",
           "relative_error", "gradient_check", "gradient_check_layer", "default_h"]

_H = {np.dtype(np.float64): 1e-4, np.dtype(np.float32): 1e-2}
_GRAD_NAMES = {"W": "dW", "b": "db", "gamma": "dgamma", "beta": "dbeta"}


def default_h(dtype):
    """The finite-difference step for ``dtype``: 1e-4 for float64 (the book's), 1e-2 for
    float32.

    In float32 a loss near 1 is only known to ~1e-7, so with the book's h = 1e-4 the
    rounding error of ``(f(x+h) - f(x-h)) / 2h`` is ~1e-3, as large as many gradients;
    h = 1e-2 brings it to ~1e-5 while the O(h**2) truncation error stays small for smooth
    functions. For tight checks, build the network or layer in float64.
    """
    try:
        return _H[np.dtype(dtype)]
    except KeyError:
        raise TypeError(f"numerical gradients need a float32 or float64 array, got dtype "
                        f"{np.dtype(dtype)}") from None


def numerical_gradient(f, x, h=None):
    """Central-difference gradient of the scalar function ``f`` at ``x`` (the book's).

    Each element of ``x`` is set to ``x + h`` and ``x - h`` in place, ``f(x)`` is
    evaluated, and the element is restored, so ``x`` is unchanged on return (also if
    ``f`` raises).

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar``. It may ignore its argument and read ``x`` through a shared
        reference (the book's ``lambda W: net.loss(x, t)``).
    x : ndarray, any shape, float32 or float64, writeable
        Perturbed in place.
    h : float, optional
        Step; default :func:`default_h` of ``x``'s dtype (1e-4 for float64, as the book;
        1e-2 for float32). The difference is divided by the step actually taken
        (``x + h`` and ``x - h`` rounded to ``x``'s dtype), not by ``2h``.

    Returns
    -------
    grad : ndarray, shape and dtype of ``x``
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a numpy array (it is perturbed in place), not "
                        f"{type(x).__name__}")
    if h is None:
        h = default_h(x.dtype)
    else:
        default_h(x.dtype)  # dtype check
        if not h > 0:
            raise ValueError(f"h must be positive, got {h}")
    if not x.flags.writeable:
        raise ValueError("x must be writeable: numerical_gradient perturbs it in place")
    grad = np.zeros_like(x)
    dt = x.dtype.type
    for idx in np.ndindex(x.shape):     # the book's np.nditer walk, in C order
        tmp_val = x[idx]
        xp, xm = dt(float(tmp_val) + h), dt(float(tmp_val) - h)
        try:
            x[idx] = xp
            fxh1 = float(f(x))
            x[idx] = xm
            fxh2 = float(f(x))
        finally:
            x[idx] = tmp_val
        grad[idx] = (fxh1 - fxh2) / (float(xp) - float(xm))
    return grad


def numerical_gradient_1d(f, x, h=None):
    """The book's ``_numerical_gradient_1d``: :func:`numerical_gradient` for a 1-D ``x``."""
    if np.ndim(x) != 1:
        raise ValueError(f"x must be 1-D, got shape {np.shape(x)}")
    return numerical_gradient(f, x, h)


def numerical_gradient_2d(f, X, h=None):
    """The book's ``numerical_gradient_2d``: for a 2-D ``X``, the gradient of ``f`` at each
    row (``f`` takes one row); for a 1-D ``X``, :func:`numerical_gradient`."""
    if X.ndim == 1:
        return numerical_gradient(f, X, h)
    grad = np.zeros_like(X)
    for idx, x in enumerate(X):
        grad[idx] = numerical_gradient(f, x, h)
    return grad


def relative_error(a, b, tiny=1e-30):
    """``max |a - b| / max(max(|a| + |b|), tiny)`` computed in float64.

    0 when equal, about 1 when unrelated; float64 backprop against central differences
    typically gives 1e-10 to 1e-7, float32 1e-5 to 1e-2.

    Parameters
    ----------
    a, b : array_like, same shape

    Returns
    -------
    err : float
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare gradients of shapes {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return float("inf")
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(a) + np.abs(b))), tiny))


def _loss_kwargs(network):
    try:
        params = inspect.signature(network.loss).parameters
    except (TypeError, ValueError):
        return {}
    return {"train_flg": True} if "train_flg" in params else {}


def gradient_check(network, x, t, keys=None, h=None):
    """Compare a network's backprop gradients with numerical ones (the book's ch. 5 check).

    Parameters
    ----------
    network : object
        With ``params`` (dict of ndarrays), ``gradient(x, t)`` (backprop) and ``loss(x, t)``.
        Its own ``numerical_gradient(x, t)`` is used when it has one (the book's networks
        do), else every parameter is differenced through ``loss(x, t)`` (with
        ``train_flg=True`` when ``loss`` takes it). Dropout must be off: a fresh random
        mask on every call makes numerical gradients meaningless.
    x : ndarray, shape (N, ...)
        A small batch (the numerical gradient costs two losses per parameter element).
    t : ndarray
        Labels (N,) or one-hot (N, K).
    keys : iterable of str, optional
        Which parameters to check (default: all of ``network.params``). Only honoured
        when the network has no ``numerical_gradient`` of its own.
    h : float, optional
        Finite-difference step (default :func:`default_h` of each parameter's dtype).

    Returns
    -------
    errors : dict of str to float
        ``{key: relative_error(backprop, numerical)}``.
    """
    grad_bp = network.gradient(x, t)
    grad_bp = {k: np.array(v, copy=True) for k, v in grad_bp.items()}
    if keys is None and h is None and hasattr(network, "numerical_gradient"):
        grad_num = network.numerical_gradient(x, t)
    else:
        kw = _loss_kwargs(network)
        keys = list(network.params) if keys is None else list(keys)
        grad_num = {}
        for key in keys:
            grad_num[key] = numerical_gradient(lambda _: network.loss(x, t, **kw),
                                               network.params[key], h)
    missing = [k for k in grad_num if k not in grad_bp]
    if missing:
        raise KeyError(f"network.gradient() returned no gradient for {missing}")
    return {k: relative_error(grad_bp[k], grad_num[k]) for k in grad_num}


def gradient_check_layer(layer, x, *args, dout=None, params=None, h=None, seed=0,
                         forward_kwargs=None):
    """Check one layer's ``backward`` against numerical gradients.

    The function differenced is ``L = sum(layer.forward(x, *args) * dout)`` with a fixed
    random ``dout``, so ``backward(dout)`` must return ``dL/dx`` and set ``dW``, ``db``,
    ``dgamma``, ``dbeta`` to ``dL/dW`` etc.

    Parameters
    ----------
    layer : object with ``forward`` and ``backward``
        Its forward pass must be deterministic (a training-mode Dropout is not).
        ``running_mean``/``running_var`` are restored afterwards (same objects, same
        values).
    x : ndarray
        Input; a copy is differenced, ``x`` itself is not modified.
    *args
        Further positional arguments of ``forward`` (e.g. the targets of
        ``SoftmaxWithLoss``).
    dout : ndarray or scalar, optional
        Upstream gradient (default: standard normal of the output's shape and dtype, from
        ``seed``).
    params : iterable of str, optional
        Parameter attributes to check (default: those of ``W, b, gamma, beta`` the layer
        has). The gradient of ``p`` is read from ``d<p>``.
    h : float, optional
        Finite-difference step (default :func:`default_h` of each array's dtype).
    seed : int
        Seed of the default ``dout``.
    forward_kwargs : dict, optional
        Keyword arguments of ``forward`` (e.g. ``{"train_flg": True}``).

    Returns
    -------
    errors : dict of str to float
        ``{"x": ..., "W": ..., "b": ...}``, relative errors (see :func:`relative_error`).
    """
    kw = dict(forward_kwargs or {})
    x = np.array(x, copy=True)
    if params is None:
        params = [p for p in _GRAD_NAMES if isinstance(getattr(layer, p, None), np.ndarray)]
    saved = {a: getattr(layer, a) for a in ("running_mean", "running_var")
             if hasattr(layer, a)}
    values = {a: v.copy() for a, v in saved.items() if isinstance(v, np.ndarray)}
    try:
        out = layer.forward(x, *args, **kw)
        if dout is None:
            # a seed sequence of its own, so dout never equals an x drawn from seed too
            rng = np.random.default_rng([seed, 0x6C61796572])
            dt = out.dtype if isinstance(out, np.ndarray) else np.asarray(out).dtype
            if np.ndim(out) == 0:
                dout = dt.type(rng.standard_normal())
            else:
                dout = rng.standard_normal(np.shape(out)).astype(dt)
        dout_arr = np.asarray(dout, dtype=np.float64)
        dx = layer.backward(np.array(dout, copy=True) if np.ndim(dout) else dout)
        analytic = {"x": None if dx is None else np.array(dx, copy=True)}
        for p in params:
            g = getattr(layer, _GRAD_NAMES.get(p, "d" + p))
            analytic[p] = np.array(g, copy=True)

        def f(_):
            o = np.asarray(layer.forward(x, *args, **kw), dtype=np.float64)
            return float(np.sum(o * dout_arr))

        errors = {}
        if analytic["x"] is not None:
            errors["x"] = relative_error(analytic["x"], numerical_gradient(f, x, h))
        for p in params:
            errors[p] = relative_error(analytic[p], numerical_gradient(f, getattr(layer, p), h))
        return errors
    finally:
        for a, v in saved.items():      # the same objects, with their old values
            if a in values:
                v[...] = values[a]
            setattr(layer, a, v)
