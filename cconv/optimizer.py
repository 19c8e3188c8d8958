"""The book's ``common/optimizer.py``: SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam.

Each optimizer's ``update(params, grads)`` changes every ``params[key]`` in place (the
arrays keep their identity, so layers that hold them see the new values), with the book's
arithmetic in the book's order of operations, but without the book's temporaries: every
step writes through ``out=`` into a scratch buffer that is allocated once and reused.

Differences from the book:

- dtype is preserved: float32 parameters stay float32, the state arrays (``v``, ``h``,
  ``m``) take each parameter's dtype, and scalar hyper-parameters (``lr``, ``lr_t`` of
  Adam, ``1e-7``) are cast to that dtype, so a float64 ``lr`` (``10 ** np.random.uniform``
  in a hyper-parameter search) never upcasts a float32 step.
- every optimizer counts its steps in ``iter`` (the book only does it in Adam) and has
  ``state_dict()`` / ``load_state_dict(d)`` so that a checkpoint restores it exactly.
- :func:`get_optimizer` looks the book's names up case-insensitively (the book's Trainer
  misspells ``'rmsprpo'``, so ``'rmsprop'`` failed there).
- a decaying state entry (Momentum's and Nesterov's ``v``, RMSprop's ``h``, Adam's ``m``
  and ``v``, where a gradient stays zero) that falls below its dtype's smallest normal
  number is set to +0: in the subnormal range some CPUs compute many times slower, and
  such a value moves no parameter anyway.
"""
import math

import numpy as np

from ._checks import integer, real
from .ops import adam_update

__all__ = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam",
           "get_optimizer", "OPTIMIZERS"]

_EPS = 1e-7  # the book's guard against division by zero in AdaGrad, RMSprop and Adam


class _Optimizer:
    """Shared machinery: per-key state arrays, the scratch workspace, state_dict."""

    hyper_names = ("lr",)   # scalar hyper-parameters, in constructor order
    #: (low, low_open, high) bounds of each hyper-parameter, for set_hyperparameters
    hyper_bounds = {"lr": (0.0, False, None)}
    _state_names = ()       # per-parameter state arrays, e.g. ("m", "v")
    _n_scratch = 1          # scratch buffers one update needs

    def __init__(self, lr):
        self.lr = self._checked("lr", lr)
        self.iter = 0
        for s in self._state_names:
            setattr(self, s, None)
        self._work = {}  # dtype -> flat scratch buffer, grown on demand

    def __repr__(self):
        args = ", ".join(f"{h}={v!r}" for h, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"

    # -- hyper-parameters ----------------------------------------------------------------
    def hyperparameters(self):
        """``{name: float}`` of the scalar hyper-parameters, in constructor order."""
        return {h: float(getattr(self, h)) for h in self.hyper_names}

    def _checked(self, name, value):
        low, low_open, high = self.hyper_bounds.get(name, (None, False, None))
        return real(value, name, low=low, low_open=low_open, high=high)

    def set_hyperparameters(self, **values):
        """Set hyper-parameters by name (e.g. ``lr=0.01`` for a schedule), validated.

        Raises KeyError for a name this optimizer does not have, TypeError/ValueError
        for a value out of its range; nothing is set unless every value is good.
        """
        unknown = sorted(set(values) - set(self.hyper_names))
        if unknown:
            raise KeyError(f"{type(self).__name__} has no hyper-parameter {unknown}; its "
                           f"hyper-parameters are {list(self.hyper_names)}")
        checked = {h: self._checked(h, v) for h, v in values.items()}
        for h, v in checked.items():
            setattr(self, h, v)

    def _kind(self):
        """The book class this optimizer is (a subclass of Adam saves and loads as Adam)."""
        for c in type(self).__mro__:
            if c.__module__ == __name__ and not c.__name__.startswith("_"):
                return c.__name__
        return type(self).__name__  # pragma: no cover

    # -- state -------------------------------------------------------------------------
    def _prepare(self, params, grads):
        """Create/validate the state arrays; return ``[(key, p, g, scratch...)]``."""
        for key, p in params.items():
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
                raise TypeError(f"params[{key!r}] must be a float ndarray updated in place, "
                                f"got {type(p).__name__}"
                                f"{'' if not isinstance(p, np.ndarray) else ' ' + str(p.dtype)}")
            try:
                g = grads[key]
            except KeyError:
                raise KeyError(f"grads has no entry for parameter {key!r} "
                               f"(grads keys: {sorted(grads)})") from None
            if np.shape(g) != p.shape:
                raise ValueError(f"grads[{key!r}] has shape {np.shape(g)} but params[{key!r}] "
                                 f"has shape {p.shape}")
        for s in self._state_names:
            st = getattr(self, s)
            if st is None:
                st = {key: np.zeros_like(p) for key, p in params.items()}
                setattr(self, s, st)
                continue
            for key, p in params.items():
                a = st.get(key)
                if a is None:
                    raise ValueError(f"{type(self).__name__} has no state {s}[{key!r}]: the "
                                     f"parameters changed since the first update (state "
                                     f"keys: {sorted(st)})")
                if a.shape != p.shape:
                    raise ValueError(f"{type(self).__name__} state {s}[{key!r}] has shape "
                                     f"{a.shape} but the parameter has shape {p.shape}")
                if a.dtype != p.dtype:  # e.g. state loaded from a float64 checkpoint
                    st[key] = a.astype(p.dtype)
        # one flat workspace per dtype, as large as the largest parameter times n_scratch
        need = {}
        for p in params.values():
            need[p.dtype] = max(need.get(p.dtype, 0), p.size)
        for dt, n in need.items():
            w = self._work.get(dt)
            if w is None or w.size < n * self._n_scratch:
                self._work[dt] = np.empty(n * self._n_scratch, dtype=dt)
        items = []
        for key, p in params.items():
            w = self._work[p.dtype]
            scratch = [w[i * p.size:(i + 1) * p.size].reshape(p.shape)
                       for i in range(self._n_scratch)]
            items.append((key, p, grads[key], *scratch))
        return items

    def state_dict(self):
        """The optimizer's full state as a flat dict of plain numbers and arrays.

        Returns
        -------
        dict
            ``'optimizer'`` (the book class name; a subclass of Adam saves as Adam), the
            hyper-parameters (floats), ``'iter'`` (steps taken, int) and, once the first
            update has run, one copy of every state array under ``'<state>/<param key>'``
            (e.g. ``'m/W1'``, shape and dtype of ``params['W1']``).
        """
        d = {"optimizer": self._kind(), "iter": int(self.iter)}
        d.update(self.hyperparameters())
        for s in self._state_names:
            st = getattr(self, s)
            if st is not None:
                for key, a in st.items():
                    d[f"{s}/{key}"] = a.copy()
        return d

    def load_state_dict(self, d):
        """Restore a state saved by :meth:`state_dict` (copies the arrays).

        Raises
        ------
        ValueError
            If ``d`` belongs to another optimizer class or is missing entries.
        """
        kind = self._kind()
        name = d.get("optimizer", kind)
        if str(name).lower() != kind.lower():
            raise ValueError(f"state_dict is for optimizer {name!r}, not {kind}")
        missing = [k for k in ("iter", *self.hyper_names) if k not in d]
        if missing:
            raise ValueError(f"{kind} state_dict lacks {missing}")
        hyper = {h: self._checked(h, d[h]) for h in self.hyper_names}
        it = d["iter"]
        try:
            it = integer(it, "state_dict 'iter'", low=0)
        except (TypeError, ValueError):
            raise ValueError(f"state_dict 'iter' must be an int >= 0, got {it!r}") from None
        states = {}
        for s in self._state_names:
            prefix = s + "/"
            st = {k[len(prefix):]: np.array(v, copy=True) for k, v in d.items()
                  if isinstance(k, str) and k.startswith(prefix)}
            states[s] = st or None
        if len({st is None for st in states.values()}) > 1:
            raise ValueError(f"{kind} state_dict has only some of the state "
                             f"arrays {list(self._state_names)}")
        for h, v in hyper.items():
            setattr(self, h, v)
        self.iter = int(it)
        for s, st in states.items():
            setattr(self, s, st)

    def update(self, params, grads):  # pragma: no cover - abstract
        raise NotImplementedError


class _WithMomentum(_Optimizer):
    """What Momentum and Nesterov share: the ``momentum`` and a velocity ``v``."""

    hyper_names = ("lr", "momentum")
    hyper_bounds = {"lr": (0.0, False, None), "momentum": (0.0, False, None)}
    _state_names = ("v",)
    _n_scratch = 2

    def __init__(self, lr=0.01, momentum=0.9):
        super().__init__(lr)
        self.momentum = self._checked("momentum", momentum)


class SGD(_Optimizer):
    """Stochastic gradient descent: ``W -= lr * dW``.

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate.
    """

    def __init__(self, lr=0.01):
        super().__init__(lr)

    def update(self, params, grads):
        """Update every ``params[key]`` (any shape) in place from ``grads[key]`` (same shape).

        Parameters
        ----------
        params : dict of str -> ndarray
            float32 or float64 arrays; changed in place, identity and dtype kept.
        grads : dict of str -> ndarray
            One gradient per parameter key, of the parameter's shape.
        """
        for _key, p, g, tmp in self._prepare(params, grads):
            lr = p.dtype.type(self.lr)
            np.multiply(g, lr, out=tmp)   # book: params[key] -= self.lr * grads[key]
            np.subtract(p, tmp, out=p)
        self.iter += 1


class Momentum(_WithMomentum):
    """Momentum SGD: ``v = momentum * v - lr * dW; W += v``.

    Parameters
    ----------
    lr : float, default 0.01
    momentum : float, default 0.9

    Attributes
    ----------
    v : dict of str -> ndarray or None
        The velocity, one array per parameter (its shape and dtype); None before the
        first update.
    """

    def update(self, params, grads):
        """Update every ``params[key]`` in place (see :meth:`SGD.update`)."""
        for key, p, g, tmp, scratch in self._prepare(params, grads):
            v = self.v[key]
            t = p.dtype.type
            # book: v = momentum * v - lr * grads; params += v
            np.multiply(v, t(self.momentum), out=v)
            np.multiply(g, t(self.lr), out=tmp)
            np.subtract(v, tmp, out=v)
            _flush_subnormal(v, tmp, scratch)
            np.add(p, v, out=p)
        self.iter += 1


class Nesterov(_WithMomentum):
    """Nesterov's accelerated gradient, in the book's form (arXiv:1212.0901).

    ``v = momentum * v - lr * dW; W += momentum**2 * v - (1 + momentum) * lr * dW``.

    Parameters
    ----------
    lr : float, default 0.01
    momentum : float, default 0.9
    """

    def update(self, params, grads):
        """Update every ``params[key]`` in place (see :meth:`SGD.update`)."""
        m = self.momentum
        for key, p, g, tmp, scratch in self._prepare(params, grads):
            v = self.v[key]
            t = p.dtype.type
            np.multiply(v, t(m), out=v)                 # v *= momentum
            np.multiply(g, t(self.lr), out=tmp)         # v -= lr * grads
            np.subtract(v, tmp, out=v)
            _flush_subnormal(v, tmp, scratch)
            np.multiply(v, t(m * m), out=tmp)           # params += momentum*momentum*v
            np.add(p, tmp, out=p)
            np.multiply(g, t((1 + m) * self.lr), out=tmp)  # params -= (1+momentum)*lr*grads
            np.subtract(p, tmp, out=p)
        self.iter += 1


class AdaGrad(_Optimizer):
    """AdaGrad: ``h += dW * dW; W -= lr * dW / (sqrt(h) + 1e-7)``.

    Parameters
    ----------
    lr : float, default 0.01
    """

    _state_names = ("h",)
    _n_scratch = 2

    def __init__(self, lr=0.01):
        super().__init__(lr)

    def update(self, params, grads):
        """Update every ``params[key]`` in place (see :meth:`SGD.update`)."""
        for key, p, g, tmp, den in self._prepare(params, grads):
            h = self.h[key]
            t = p.dtype.type
            np.multiply(g, g, out=tmp)                  # h += grads * grads
            np.add(h, tmp, out=h)
            _scaled_step(p, g, h, t(self.lr), t(_EPS), tmp, den)
        self.iter += 1


class RMSprop(_Optimizer):
    """RMSprop: ``h = decay_rate * h + (1 - decay_rate) * dW * dW;
    W -= lr * dW / (sqrt(h) + 1e-7)``.

    Parameters
    ----------
    lr : float, default 0.01
    decay_rate : float, default 0.99
    """

    hyper_names = ("lr", "decay_rate")
    hyper_bounds = {"lr": (0.0, False, None), "decay_rate": (0.0, False, None)}
    _state_names = ("h",)
    _n_scratch = 2

    def __init__(self, lr=0.01, decay_rate=0.99):
        super().__init__(lr)
        self.decay_rate = self._checked("decay_rate", decay_rate)

    def update(self, params, grads):
        """Update every ``params[key]`` in place (see :meth:`SGD.update`)."""
        d = self.decay_rate
        for key, p, g, tmp, den in self._prepare(params, grads):
            h = self.h[key]
            t = p.dtype.type
            np.multiply(h, t(d), out=h)                 # h *= decay_rate
            np.multiply(g, t(1 - d), out=tmp)           # h += (1 - decay_rate) * g * g
            np.multiply(tmp, g, out=tmp)
            np.add(h, tmp, out=h)
            _flush_subnormal(h, tmp, den)
            _scaled_step(p, g, h, t(self.lr), t(_EPS), tmp, den)
        self.iter += 1


class Adam(_Optimizer):
    """Adam (arXiv:1412.6980) in the book's form, bias correction folded into ``lr_t``.

    ``lr_t = lr * sqrt(1 - beta2**iter) / (1 - beta1**iter)``,
    ``m += (1 - beta1) * (dW - m)``, ``v += (1 - beta2) * (dW**2 - v)``,
    ``W -= lr_t * m / (sqrt(v) + 1e-7)``.

    Parameters
    ----------
    lr : float, default 0.001
    beta1 : float, default 0.9
    beta2 : float, default 0.999
    """

    hyper_names = ("lr", "beta1", "beta2")
    hyper_bounds = {"lr": (0.0, False, None), "beta1": (0.0, False, 1.0),
                    "beta2": (0.0, False, 1.0)}
    _state_names = ("m", "v")
    _n_scratch = 2

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        super().__init__(lr)
        self.beta1 = self._checked("beta1", beta1)
        self.beta2 = self._checked("beta2", beta2)

    def update(self, params, grads):
        """Update every ``params[key]`` in place (see :meth:`SGD.update`)."""
        items = self._prepare(params, grads)
        self.iter += 1
        b1, b2 = self.beta1, self.beta2
        lr_t = self.lr * math.sqrt(1.0 - b2 ** self.iter) / (1.0 - b1 ** self.iter)
        for key, p, g, tmp, den in items:
            m, v = self.m[key], self.v[key]
            if adam_update(p, g, m, v, lr_t, 1 - b1, 1 - b2, _EPS):
                continue   # one compiled pass, the same bits as the NumPy path below
            t = p.dtype.type
            np.subtract(g, m, out=tmp)                  # m += (1 - beta1) * (g - m)
            np.multiply(tmp, t(1 - b1), out=tmp)
            np.add(m, tmp, out=m)
            np.multiply(g, g, out=tmp)                  # v += (1 - beta2) * (g**2 - v)
            np.subtract(tmp, v, out=tmp)
            np.multiply(tmp, t(1 - b2), out=tmp)
            np.add(v, tmp, out=v)
            _flush_subnormal(m, tmp, den)               # as the compiled step does
            _flush_subnormal(v, tmp, den)
            np.multiply(m, t(lr_t), out=tmp)            # params -= lr_t * m / (sqrt(v)+eps)
            np.sqrt(v, out=den)
            np.add(den, t(_EPS), out=den)
            np.divide(tmp, den, out=tmp)
            np.subtract(p, tmp, out=p)


def _flush_subnormal(a, tmp, scratch):
    """Set the entries of ``a`` smaller in magnitude than its dtype's smallest normal
    number to +0, through two scratch arrays of its shape: a decaying moment would
    otherwise sink into the subnormal range, where some CPUs compute many times slower."""
    np.abs(a, out=tmp)
    flat = scratch.reshape(-1)
    mask = flat.view(np.bool_)[:a.size].reshape(a.shape)
    np.less(tmp, np.finfo(a.dtype).tiny, out=mask)
    np.copyto(a, 0, where=mask)


def _scaled_step(p, g, h, lr, eps, tmp, den):
    """``p -= lr * g / (sqrt(h) + eps)`` in the book's order, through two scratch buffers."""
    np.multiply(g, lr, out=tmp)
    np.sqrt(h, out=den)
    np.add(den, eps, out=den)
    np.divide(tmp, den, out=tmp)
    np.subtract(p, tmp, out=p)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov,
              "adagrad": AdaGrad, "rmsprop": RMSprop, "adam": Adam}


def get_optimizer(name, **kwargs):
    """Make an optimizer from its book name.

    Parameters
    ----------
    name : str
        ``'sgd'``, ``'momentum'``, ``'nesterov'``, ``'adagrad'``, ``'rmsprop'`` or
        ``'adam'``, in any case (``'SGD'``, ``'Adam'``, ...).
    **kwargs
        The optimizer's hyper-parameters, e.g. ``lr=0.001``.

    Returns
    -------
    SGD, Momentum, Nesterov, AdaGrad, RMSprop or Adam

    Raises
    ------
    ValueError
        For an unknown name (the message lists the choices).
    """
    if not isinstance(name, str):
        raise TypeError(f"optimizer name must be a str, not {type(name).__name__}")
    cls = OPTIMIZERS.get(name.strip().lower())
    if cls is None:
        raise ValueError(f"unknown optimizer {name!r}; choose one of "
                         f"{', '.join(repr(c.__name__) for c in OPTIMIZERS.values())} "
                         "(case-insensitive)")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise TypeError(f"{cls.__name__}: {exc}") from None
