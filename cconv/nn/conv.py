"""The convolution layer, Convolution (math in :mod:`cconv.ops.conv`)."""
import functools

import numpy as np

from .. import ops
from .._checks import forward_done, pair, param_array
from ..ops._buffers import grad_like
from .base import DeferredOutput, Layer

__all__ = ["Convolution"]


def _bias(b):
    """A bias array, or one number for every filter (the book's ``Convolution(w, 0)``)."""
    if isinstance(b, (bool, np.bool_)):
        raise TypeError("b must be a number or a numpy array, not bool")
    if isinstance(b, (int, float, np.integer, np.floating)):
        return b
    return param_array(b, "b")


class Convolution(Layer):
    """2-D convolution (cross-correlation, as in the book) by cconv's convolution engine.

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
        ``db``, skips the input gradient, and returns None.
    n_threads : int, optional
        Worker threads (default: :func:`cconv.get_num_threads`).

    Attributes
    ----------
    x : ndarray, shape (N, C, H, W)
        The last input.
    col : ndarray, shape (N*OH*OW, C*FH*FW)
        The last input unfolded by im2col in the book's layout, made on demand from
        ``x`` (the engine never stores the columns, see :mod:`cconv.ops.conv`).
    col_W : ndarray, shape (C*FH*FW, FN)
        ``W.reshape(FN, -1).T`` (a view of ``W``).
    dW : ndarray, shape (FN, C, FH, FW), in ``W``'s dtype
    db : ndarray, shape (FN,), in ``b``'s dtype

    Notes
    -----
    The output is ``(N, FN, OH, OW)`` with ``OH = (H + 2*pad - FH) // stride + 1``, and
    C-contiguous. It is computed by a direct convolution in C (an implicit GEMM, the bias
    added in registers, one OpenMP region per call with the GIL released, in the
    instruction-set variant :func:`cconv.show_config` names); ``dW`` sums per-chunk
    partial sums in chunk order, so results do not depend on the thread count. ``W``, ``b``, ``stride`` and ``pad`` are read, and checked, at every
    call: reassigning them between calls is safe. ``backward`` differentiates the last
    forward (its geometry), and refuses a ``dout`` of any other shape.
    """

    param_names = ("W", "b")
    hyper_names = ("stride", "pad")

    def __init__(self, W, b, stride=1, pad=0, need_dx=True, n_threads=None):
        self.W = param_array(W, "W")
        if self.W.ndim != 4:
            raise ValueError(f"W must be 4-D (FN, C, FH, FW), got shape {self.W.shape}")
        self.b = _bias(b)
        if np.ndim(self.b) != 0 and self.b.size != self.W.shape[0]:
            raise ValueError(f"b has {self.b.size} elements but W has {self.W.shape[0]} "
                             "filters")
        self.stride = stride
        self.pad = pad
        self.need_dx = bool(need_dx)
        self.n_threads = n_threads
        self.x = None
        self.col_W = None
        self.dW = None
        self.db = None
        self._saved = None

    @property
    def window(self):
        return (int(self.W.shape[2]), int(self.W.shape[3]), *pair(self.stride, "stride"),
                *pair(self.pad, "pad"))

    @property
    def col(self):
        """The last input in the book's im2col layout (N*OH*OW, C*FH*FW), made on demand."""
        return None if self._saved is None else self._saved.col

    def forward(self, x):
        """``x`` (N, C, H, W) -> (N, FN, OH, OW), C-contiguous."""
        return self._forward(x, False)

    def forward_relu(self, x):
        """``max(forward(x), 0)`` in one pass: the ReLU applied while the sums are in
        registers (NaN passes, as in the book's mask). ``backward`` still differentiates
        the convolution alone; a network pairs this with :meth:`Relu.take_output`."""
        return self._forward(x, True)

    def forward_relu_pool(self, x, keep_output=True, copy_input=False, need_arg=True):
        """``(y, pooled, arg)``: ``y = forward_relu(x)``, and its 2x2 stride-2 max pooling
        and argmax, in one pass (see :func:`cconv.ops.conv_forward_relu_pool`); a network
        pairs this with :meth:`Relu.take_output` and :meth:`Pooling.take_output`.

        ``keep_output``: True, ``y`` is written; False, it is not (``y`` is None: an
        inference pass); ``"deferred"``, it is not, and ``y`` is a
        :class:`~cconv.nn.base.DeferredOutput` that makes it on first use, from a copy of
        ``W`` and ``b`` taken now and from ``x`` (copied now too if ``copy_input``: a
        network's own input, which the caller may reuse after the step). ``need_arg``
        False: ``arg`` is None (an inference pass: no pooling backward will read it).
        """
        if keep_output not in (True, False, "deferred"):
            raise ValueError(f"keep_output must be True, False or 'deferred', "
                             f"not {keep_output!r}")
        defer = keep_output == "deferred"
        b = self._bias_vector()
        y, pooled, arg, saved = ops.conv_forward_relu_pool(
            x, self.W, b, self.stride, self.pad, keep_output=keep_output is True,
            need_arg=need_arg, n_threads=self.n_threads)
        self._remember(saved)
        if defer:
            sx = saved.x.copy() if copy_input else saved.x
            N, F = pooled.shape[:2]
            oh, ow = saved.out_shape[2:]
            y = DeferredOutput(functools.partial(
                _relu_output, sx, self.W.copy(), np.array(b, copy=True), self.stride,
                self.pad, self.n_threads), (N, F, oh, ow), pooled.dtype)
        return y, pooled, arg

    def _forward(self, x, relu):
        out, saved = ops.conv_forward(x, self.W, self._bias_vector(), self.stride, self.pad,
                                      n_threads=self.n_threads, saved=self._saved, relu=relu)
        self._remember(saved)
        return out

    def _bias_vector(self):
        """``b`` as the ops take it, (FN,): one number is every filter's."""
        if np.ndim(self.b) == 0:
            return np.full(self.W.shape[0], self.b, dtype=self.W.dtype)
        return self.b

    def _remember(self, saved):
        """What a forward leaves for backward and for the book's attributes."""
        self._saved = saved
        self.x = saved.x
        self.col_W = self.W.reshape(self.W.shape[0], -1).T

    def backward(self, dout):
        """``dout`` (N, FN, OH, OW) -> ``dx`` (N, C, H, W), or None if ``need_dx=False``.

        Sets ``dW`` and ``db``.
        """
        return self._backward(dout, False)

    def backward_with_relu(self, dout):
        """``relu.backward(self.backward(dout))`` in one pass, for the Relu whose output
        was this layer's input ``x``: ``dx`` is 0 where ``x <= 0``. A network calls it
        for a Relu -> Convolution pair."""
        return self._backward(dout, True)

    def backward_from_pool(self, dpool, arg, gate=None):
        """``backward`` of the gradient that the 2x2 stride-2 max pooling after this
        layer's ReLU gives back (``dpool`` to each window's argmax ``arg``, 0 where the
        window's maximum ``gate`` is <= 0; see :func:`cconv.ops.conv_backward_from_pool`):
        the same ``dW``, ``db`` and return value, without storing that gradient where
        this layer has ``need_dx=False`` (a network's first layer). A network calls it
        for a Convolution -> Relu -> Pooling run."""
        saved = forward_done(self, self._saved)
        if self.need_dx:
            d = ops.maxpool_backward(dpool, arg, saved.out_shape, 2, 2, 2, 0,
                                     n_threads=self.n_threads, dtype=saved.x.dtype,
                                     gate=gate)
            return self._backward(d, False)
        dW, db = ops.conv_backward_from_pool(dpool, arg, saved, self.W, gate=gate,
                                             n_threads=self.n_threads)
        self._set_grads(dW, db)
        return None

    def _set_grads(self, dW, db):
        self.dW = grad_like(dW, self.W)
        # a scalar bias (the book's Convolution(w, 0)) is one value shared by the
        # filters: db is (FN,) in the layer's dtype, W's
        self.db = grad_like(db, self.b if np.ndim(self.b) else self.W)

    def _backward(self, dout, relu_input):
        saved = forward_done(self, self._saved)
        dx, dW, db = ops.conv_backward(dout, saved, self.W, need_dx=self.need_dx,
                                       n_threads=self.n_threads, relu_input=relu_input)
        self._set_grads(dW, db)
        return dx


def _relu_output(x, W, b, stride, pad, n_threads):
    """What ``forward_relu_pool`` writes as ``y`` (a DeferredOutput's recomputation: the
    same pass, so the same values)."""
    return ops.conv_forward_relu_pool(x, W, b, stride, pad, keep_output=True,
                                      n_threads=n_threads)[0]
