"""Activation layers: Relu (compiled kernel, :mod:`cconv.ops.activation`), Sigmoid, Tanh."""
import numpy as np

from .. import ops
from .._checks import dout_array, float_array, forward_done
from ..functions import sigmoid
from .base import Layer, made_on_read

__all__ = ["Relu", "Sigmoid", "Tanh"]


class Relu(Layer):
    """ReLU layer: ``out = max(0, x)``.

    Parameters
    ----------
    n_threads : int, optional
        Worker threads (default: :func:`cconv.get_num_threads`).

    Attributes
    ----------
    mask : ndarray of bool, shape of the last ``x``
        Where ``x <= 0`` (the book's mask): what ``backward`` reads.
    out : ndarray
        The last output (the array ``forward`` returned).

    Notes
    -----
    Book bug fixed: the book's ``backward`` writes zeros into ``dout`` in place, which
    corrupts the caller's array; here ``backward`` returns a new array and never
    modifies ``dout``. Like the book, ``backward`` reads its own mask, so it stays right
    when the caller edits the returned output. NaN inputs pass through, as in the book
    (``NaN <= 0`` is False). In a network, a Relu right after a Convolution is applied
    by the convolution while its sums are in registers (:meth:`take_output`); its
    ``backward`` then reads that output, which the network's next layer only reads.
    """

    def __init__(self, n_threads=None):
        self._out = None
        self._mask = None
        self._y = None   # the output, when a convolution applied this ReLU (take_output)
        self.n_threads = n_threads

    out = made_on_read("_out", "The last output (made now if the network's step did not "
                       "write it: see :class:`cconv.nn.base.DeferredOutput`).")
    _output_y = made_on_read("_y", "``_y`` as an array (None when the forward was not a "
                             "convolution's).")

    @property
    def mask(self):
        """Where the last input was <= 0 (the book's mask), bool, the input's shape."""
        if self._mask is None and self._y is not None:
            y = self._output_y
            self._mask = y <= 0   # the same as x <= 0: y is 0 there, x (or NaN) else
        return self._mask

    @mask.setter
    def mask(self, value):
        self._mask, self._y = value, None

    def forward(self, x):
        """``x`` (any shape) -> ``max(0, x)``, same shape and dtype."""
        x = np.asarray(x)
        mask = np.empty(x.shape, dtype=np.bool_)
        out = ops.relu(x, n_threads=self.n_threads, mask=mask)   # mask = (x <= 0), one pass
        self.mask = mask
        self.out = out
        self._inference_pass = False
        return out

    def take_output(self, y):
        """Record ``y``, an output that a convolution's or an Affine's epilogue already
        rectified (``Convolution.forward_relu``, ``Affine.forward_relu``), as this layer's
        forward; returns ``y``.

        A network calls it in place of :meth:`forward` for a Convolution -> Relu or an
        Affine -> Relu pair:
        no second pass over the data. ``backward`` then reads ``y`` (``y <= 0`` exactly
        where the input was), and ``mask`` is made from it on demand. ``y`` may be a
        :class:`~cconv.nn.base.DeferredOutput` (a training step that does not read it).
        """
        self._mask, self._y, self.out = None, y, y   # y None: an inference pass kept none
        self._inference_pass = y is None
        return y

    def backward(self, dout):
        """``dout`` (shape of the output) -> ``dx``, a new array; ``dout`` is left alone."""
        if self._mask is None and self._y is not None:
            y = self._output_y
            return ops.relu_backward(dout_array(self, dout, y.shape, y.dtype), y=y,
                                     n_threads=self.n_threads)
        mask = forward_done(self, self.mask)
        d = dout_array(self, dout, mask.shape, self.out.dtype)
        if not (isinstance(mask, np.ndarray) and mask.dtype == np.bool_):
            mask = np.asarray(mask, dtype=np.bool_)   # a mask the caller assigned
        return ops.relu_backward(d, n_threads=self.n_threads,
                                 mask=np.ascontiguousarray(mask))


class _FromOutput(Layer):
    """An activation whose gradient is a function of its output.

    ``out`` is the array ``forward`` returned; ``backward`` reads a private copy of it,
    so an edit of the returned array by the caller cannot change the gradient.
    """

    def __init__(self):
        self.out = None
        self._y = None

    def forward(self, x):
        """``x`` (any shape) -> the activation of ``x``, same shape and dtype."""
        out = np.asarray(self._f(x))
        self._y = out.copy()
        self.out = out
        return out

    def backward(self, dout):
        """``dout`` (the output's shape) -> ``dout * f'(x)``, written with the output."""
        y = forward_done(self, self._y)
        return self._backward(dout_array(self, dout, y.shape, y.dtype), y)


class Sigmoid(_FromOutput):
    """Sigmoid layer (numerically stable :func:`cconv.functions.sigmoid`).

    ``backward``: ``dout * (1 - out) * out``. The last output is ``out``.
    """

    _f = staticmethod(sigmoid)

    @staticmethod
    def _backward(dout, out):
        return dout * (1 - out) * out


class Tanh(_FromOutput):
    """Tanh layer (not in the book; LeNet uses it).

    ``backward``: ``dout * (1 - out**2)``. The last output is ``out``. Both passes run
    the compiled kernels (:func:`cconv.ops.tanh`, :func:`cconv.ops.tanh_backward`: the
    forward in whole vectors, float32 and float64), the private copy of the output
    written in the forward's pass.

    Parameters
    ----------
    n_threads : int, optional
        Worker threads (default: :func:`cconv.get_num_threads`).
    """

    def __init__(self, n_threads=None):
        super().__init__()
        self.n_threads = n_threads

    def forward(self, x):
        """``x`` (any shape) -> ``tanh(x)``, same shape and dtype."""
        x = np.asarray(float_array(x, "x"))
        copy = np.empty(x.shape, x.dtype)
        out = ops.tanh(x, n_threads=self.n_threads, copy=copy)
        self._y, self.out = copy, out
        self._inference_pass = False
        return out

    def forward_inference(self, x):
        """:meth:`forward` without the private copy that only ``backward`` reads: what a
        network's predict outside training runs (``backward`` then says it follows an
        inference pass)."""
        out = ops.tanh(np.asarray(float_array(x, "x")), n_threads=self.n_threads)
        self._y, self.out = None, out
        self._inference_pass = True
        return out

    def backward(self, dout):
        """``dout`` (the output's shape) -> ``dout * (1 - out**2)``, a new array."""
        y = forward_done(self, self._y)
        return ops.tanh_backward(dout_array(self, dout, y.shape, y.dtype), y,
                                 n_threads=self.n_threads)
