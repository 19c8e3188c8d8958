"""The layer protocol: what every cconv layer declares, and what networks derive from it.

A layer lists the *names* of its attributes by role, as class attributes:

``param_names``
    Learned arrays, e.g. ``('W', 'b')``: ``getattr(layer, 'W')`` is the very array that
    ``network.params`` holds. The gradient of parameter ``p`` is attribute ``'d' + p``
    (the book's ``dW``, ``db``, ``dgamma``, ``dbeta``), None before the first backward.
``buffer_names``
    State that is saved with the parameters but not learned (BatchNormalization's
    running statistics); a value may be None before the first forward.
``hyper_names``
    Settings (``stride``, ``pad``, ``dropout_ratio``, ...), plain attributes a user may
    reassign; they are validated when they are used.
``takes_train_flg``
    True for the layers whose forward is the book's ``forward(x, train_flg=True)``
    (Dropout, BatchNormalization); networks call :meth:`Layer.call`, never a type check.

From these, :class:`Layer` gives ``parameters()``, ``gradients()``, ``buffers()``,
``set_buffer()``, ``hyperparameters()``, ``call()``, ``window`` and a ``repr`` that
prints the hyperparameters and parameter shapes. A new layer is one file: a subclass
with these class attributes and ``forward``/``backward``.
"""
import numpy as np

from .._checks import float_array

__all__ = ["Layer", "POINTWISE", "DeferredOutput", "made_on_read"]

#: ``Layer.window`` of a layer that maps each position to itself.
POINTWISE = (1, 1, 1, 1, 0, 0)


class DeferredOutput:
    """An activation that a training step does not read, computed on first use.

    A network runs Convolution -> Relu -> 2x2 max Pooling as one pass that pools the
    sums while they are in cache; in a training step nothing reads the rectified
    convolution output itself (the pooling's backward takes the ReLU's through the
    pooled maxima), so it is not written. The Relu's ``out`` and ``mask`` and the
    Pooling's ``x`` still give it, as the book's layers do: the first of them to be read
    calls ``fn`` once (a recomputation from the step's input and a snapshot of the
    weights, the same values as the pass would have written), and all then share that
    one array. ``shape`` and ``dtype`` are known without computing it.
    """

    __slots__ = ("_fn", "_value", "shape", "dtype")

    def __init__(self, fn, shape, dtype):
        self._fn, self._value = fn, None
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)

    def value(self):
        """The array (computed on the first call)."""
        if self._value is None:
            self._value, self._fn = self._fn(), None
        return self._value


def made_on_read(name, doc):
    """A property over the attribute ``name`` that may hold a DeferredOutput: reading it
    makes the array (once) and keeps it there."""
    def get(self):
        v = getattr(self, name)
        if isinstance(v, DeferredOutput):
            v = v.value()
            setattr(self, name, v)
        return v

    def set(self, value):
        setattr(self, name, value)
    return property(get, set, doc=doc)


class Layer:
    """Base class of every cconv layer (the protocol above)."""

    param_names = ()
    buffer_names = ()
    hyper_names = ()
    takes_train_flg = False
    #: The mode of the last forward pass (True: training), None before any.
    training = None

    # -- the protocol ----------------------------------------------------------------
    @staticmethod
    def grad_name(name):
        """The attribute holding the gradient of parameter ``name`` (``'W'`` -> ``'dW'``)."""
        return "d" + name

    def parameters(self):
        """``{name: array}`` of the learned parameters, in ``param_names`` order."""
        return {n: getattr(self, n) for n in self.param_names}

    def gradients(self):
        """``{name: gradient}`` of the last backward (values None before it)."""
        return {n: getattr(self, self.grad_name(n), None) for n in self.param_names}

    def buffers(self):
        """``{name: array or None}`` of the non-learned state saved with the parameters."""
        return {n: getattr(self, n, None) for n in self.buffer_names}

    def set_buffer(self, name, value):
        """Set buffer ``name`` from ``value`` (a copy, checked by :meth:`check_buffer`)."""
        if name not in self.buffer_names:
            raise KeyError(f"{type(self).__name__} has no buffer {name!r}; its buffers are "
                           f"{list(self.buffer_names)}")
        setattr(self, name, self.check_buffer(name, value))

    def check_buffer(self, name, value):
        """``value`` as buffer ``name`` would hold it, or ValueError (nothing is set).

        The default: a finite float array, copied. Layers add shape checks.
        """
        a = np.array(float_array(value, name), copy=True)
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{type(self).__name__}.{name} contains NaN or inf")
        return a

    def hyperparameters(self):
        """``{name: value}`` of the settings (what the ``repr`` shows)."""
        return {n: getattr(self, n) for n in self.hyper_names}

    def call(self, x, train_flg=False):
        """What a network calls: ``forward(x, train_flg)`` or ``forward(x)``."""
        if self.takes_train_flg:
            return self.forward(x, train_flg)
        return self.forward(x)

    @property
    def window(self):
        """``(kh, kw, sh, sw, ph, pw)``: how output positions map to input positions.

        ``(1, 1, 1, 1, 0, 0)`` for a pointwise layer (the default); window layers give
        their filter or pool size, stride and pad; None for a layer that mixes every
        position (Affine).
        """
        return POINTWISE

    # -- printing --------------------------------------------------------------------
    def extra_repr(self):
        """The text inside ``repr``'s parentheses: hyperparameters, then parameters."""
        parts = [f"{k}={v!r}" for k, v in self.hyperparameters().items()]
        for k, p in self.parameters().items():
            parts.append(f"{k}={tuple(p.shape)} {p.dtype}" if isinstance(p, np.ndarray)
                         else f"{k}={p!r}")
        return ", ".join(parts)

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"

    def _repr_html_(self):
        """Jupyter: the layer's type, settings, and parameters with shape and dtype."""
        from html import escape
        rows = [(k, repr(v)) for k, v in self.hyperparameters().items()]
        rows += [(k, f"{tuple(p.shape)} {p.dtype} ({p.size:,} values)"
                  if isinstance(p, np.ndarray) else repr(p))
                 for k, p in self.parameters().items()]
        body = "".join(f"<tr><td>{escape(k)}</td><td><code>{escape(v)}</code></td></tr>"
                       for k, v in rows)
        return f"<div><b>{escape(type(self).__name__)}</b><table>{body}</table></div>"
