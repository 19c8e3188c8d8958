"""Pooling layers: Pooling (max) and AvgPooling (math in :mod:`cconv.ops.pooling`)."""
from .. import ops
from .._checks import dout_array, forward_done, pair
from .base import Layer, made_on_read

__all__ = ["Pooling", "AvgPooling"]


class _Pool(Layer):
    """What max and average pooling share: the window, and the forward's geometry.

    Parameters
    ----------
    pool_h, pool_w : int
    stride : int or (int, int), default 1
    pad : int or (int, int), default 0
    n_threads : int, optional
        Worker threads (default: :func:`cconv.get_num_threads`).

    Attributes
    ----------
    x : ndarray, shape (N, C, H, W)
        The last input.
    """

    hyper_names = ("pool_h", "pool_w", "stride", "pad")

    def __init__(self, pool_h, pool_w, stride=1, pad=0, n_threads=None):
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.n_threads = n_threads
        self._x = None
        self._geometry = None   # (pool_h, pool_w, stride, pad) of the last forward

    x = made_on_read("_x", "The last input (made now if the network's step did not write "
                     "it: see :class:`cconv.nn.base.DeferredOutput`).")

    @property
    def window(self):
        return (int(self.pool_h), int(self.pool_w), *pair(self.stride, "stride"),
                *pair(self.pad, "pad"))

    def _run(self, op, x):
        """``op(x, *window)``; on success, remember the input and that window."""
        geo = (self.pool_h, self.pool_w, self.stride, self.pad)
        res = op(x, *geo, n_threads=self.n_threads)
        self.x = ops.as_float_array(x, "x")
        self._geometry = geo
        self._inference_pass = False
        return res

    def _grad_args(self):
        x = forward_done(self, self._x)   # (shape and dtype: a deferred input stays so)
        return x.shape, self._geometry, x.dtype


class Pooling(_Pool):
    """Max pooling over ``pool_h x pool_w`` windows (parameters: see ``_Pool``).

    Padding never wins the max (it reads as -inf).

    Attributes
    ----------
    arg_max : ndarray of uint16, shape (N, C, OH, OW)
        Each window's first maximum as ``kh * pool_w + kw`` (the book keeps the same
        indices flattened in (N, OH, OW, C) order).

    Notes
    -----
    Book bug fixed: the book computes the output size as ``1 + (H - pool_h) / stride``,
    ignoring ``pad``, so any ``pad > 0`` crashes or gives wrong shapes; here
    ``OH = (H + 2*pad - pool_h) // stride + 1``. The book also pads with 0, which beats
    negative inputs in the max; here padding is -inf. ``backward`` differentiates the
    last forward, with its window, even if ``stride`` or ``pad`` changed since.
    """

    def __init__(self, pool_h, pool_w, stride=1, pad=0, n_threads=None):
        super().__init__(pool_h, pool_w, stride, pad, n_threads)
        self.arg_max = None
        self._out = None

    def forward(self, x):
        """``x`` (N, C, H, W) -> (N, C, OH, OW), the maximum of each window."""
        out, self.arg_max = self._run(ops.maxpool_forward, x)
        self._out = out
        return out

    def backward(self, dout):
        """``dout`` (N, C, OH, OW) -> ``dx`` (N, C, H, W): each gradient to its argmax."""
        shape, geo, dt = self._grad_args()
        return ops.maxpool_backward(dout, self.arg_max, shape, *geo,
                                    n_threads=self.n_threads, dtype=dt)

    def take_output(self, out, arg, x):
        """Record a pooling that a convolution's epilogue computed
        (``Convolution.forward_relu_pool``) as this layer's forward of ``x`` (None when
        that output was not kept: an inference pass, after which ``backward`` cannot
        run; a :class:`~cconv.nn.base.DeferredOutput` when a training step does not
        read it); returns ``out``."""
        self.x = x
        self._geometry = (self.pool_h, self.pool_w, self.stride, self.pad)
        self.arg_max, self._out = arg, out
        self._inference_pass = x is None
        return out

    def backward_with_relu(self, dout):
        """``relu.backward(self.backward(dout))`` for the Relu whose output was this
        layer's input: a gradient goes to its window's argmax, where the input is the
        window's maximum, so the ReLU's mask is read on the (smaller) output: gradients
        of windows whose maximum is <= 0 are dropped. A network calls it for a
        Relu -> Pooling pair."""
        shape, geo, dt = self._grad_args()
        d = dout_array(self, dout, self._out.shape, dt)
        return ops.maxpool_backward(d, self.arg_max, shape, *geo, n_threads=self.n_threads,
                                    dtype=dt, gate=self._out)


    def routing(self, dout):
        """``(dout, arg_max, out)`` for a backward that another layer runs with this one's
        and the Relu's before it (:meth:`Convolution.backward_from_pool`): ``dout`` checked
        and converted as :meth:`backward_with_relu` takes it."""
        _, _, dt = self._grad_args()
        return dout_array(self, dout, self._out.shape, dt), self.arg_max, self._out


class AvgPooling(_Pool):
    """Average pooling over ``pool_h x pool_w`` windows (not in the book's common/).

    Parameters as :class:`Pooling`'s. Padding counts as zeros and every window divides by
    ``pool_h * pool_w``.
    """

    def forward(self, x):
        """``x`` (N, C, H, W) -> (N, C, OH, OW), the mean of each window."""
        return self._run(ops.avgpool_forward, x)

    def backward(self, dout):
        """``dout`` (N, C, OH, OW) -> ``dx`` (N, C, H, W), spread evenly over windows."""
        shape, geo, dt = self._grad_args()
        return ops.avgpool_backward(dout, shape, *geo, n_threads=self.n_threads, dtype=dt)
