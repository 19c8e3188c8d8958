"""ReLU and tanh, forward and backward (the activation family's compiled kernels).

Kernel: ``src/_activation.pyx``; NumPy reference: :mod:`cconv.ops.reference.activation`.
Arrays of any shape, in one OpenMP call each: fixed blocks of elements, each written by
the one thread that takes it, so results do not depend on the thread count.
"""
import numpy as np

from .. import _activation
from .._checks import float_array
from .._threads import resolve_threads
from ._buffers import in_place_ok, output

__all__ = ["relu", "relu_backward", "tanh", "tanh_backward"]

_NO_MASK = np.zeros(0, np.uint8)
_NO_COPY = {np.float32: np.zeros(0, np.float32), np.float64: np.zeros(0, np.float64)}


def _flat(a):
    return a.reshape(-1)


def _mask_of(mask, shape, name="mask"):
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != shape \
            or not mask.flags.c_contiguous:
        got = (f"{mask.dtype} {mask.shape}" if isinstance(mask, np.ndarray)
               else type(mask).__name__)
        raise ValueError(f"{name} must be a C-contiguous bool array of shape {shape}, "
                         f"got {got}")
    return _flat(mask).view(np.uint8)


def relu(x, out=None, n_threads=None, *, mask=None):
    """``max(x, 0)`` with NaN passed through (the book's ``x[x <= 0] = 0``).

    ``mask`` (a bool array of ``x``'s shape) is filled with ``x <= 0``, the book's
    mask, in the same pass. One OpenMP call over the whole array.
    """
    x = np.asarray(float_array(x, "x"), order="C")   # (ascontiguousarray makes 0-d 1-d)
    out = output(out, x.shape, x.dtype, "out", in_place_ok(out, [(x, "x")]))
    m = _NO_MASK if mask is None else _mask_of(mask, x.shape)
    _activation.relu_into(_flat(x), _flat(out), m, resolve_threads(n_threads))
    return out


def relu_backward(dout, y=None, out=None, n_threads=None, *, mask=None):
    """``dout`` where the ReLU output ``y`` is > 0 (or NaN), else 0; or, given the
    book's ``mask`` (bool, True where the input was <= 0) instead of ``y``, ``dout``
    where the mask is False."""
    if (y is None) == (mask is None):
        raise TypeError("relu_backward needs one of y (the forward output) or mask")
    if mask is None:
        y = np.asarray(float_array(y, "y"), order="C")
        dout = np.asarray(float_array(dout, "dout"), dtype=y.dtype, order="C")
        shape, inputs = y.shape, [(dout, "dout"), (y, "y")]
    else:
        dout = np.asarray(float_array(dout, "dout"), order="C")
        shape, inputs = mask.shape, [(dout, "dout")]
    if dout.shape != shape:
        raise ValueError(f"dout has shape {dout.shape}, the forward output had {shape}")
    out = output(out, shape, dout.dtype, "dx", in_place_ok(out, inputs))
    nt = resolve_threads(n_threads)
    if mask is None:
        _activation.relu_backward_into(_flat(dout), _flat(y), _flat(out), nt)
    else:
        _activation.relu_backward_mask_into(_flat(dout), _mask_of(mask, shape), _flat(out),
                                            nt)
    return out


def tanh(x, out=None, n_threads=None, *, copy=None):
    """``tanh(x)`` by the compiled kernel (``src/activation.h``: whole vectors, OpenMP
    blocks; within 2 ulp of the exact value in float32 and float64, as NumPy's own), which
    also writes ``copy`` (an array of ``x``'s shape, or None) in the same pass."""
    x = np.asarray(float_array(x, "x"), order="C")
    out = output(out, x.shape, x.dtype, "out", in_place_ok(out, [(x, "x")]))
    if copy is not None:
        copy = output(copy, x.shape, x.dtype, "copy", [(x, "x"), (out, "out")])
    _activation.tanh_into(_flat(x), _flat(out),
                          _NO_COPY[x.dtype.type] if copy is None else _flat(copy),
                          resolve_threads(n_threads))
    return out


def tanh_backward(dout, y, out=None, n_threads=None):
    """``dout * (1 - y * y)``, ``y`` the forward output, in one OpenMP pass (NumPy's
    order of operations: the same bits)."""
    y = np.asarray(float_array(y, "y"), order="C")
    dout = np.asarray(float_array(dout, "dout"), dtype=y.dtype, order="C")
    if dout.shape != y.shape:
        raise ValueError(f"dout has shape {dout.shape}, the forward output had {y.shape}")
    out = output(out, y.shape, y.dtype, "dx", in_place_ok(out, [(dout, "dout"), (y, "y")]))
    _activation.tanh_backward_into(_flat(dout), _flat(y), _flat(out),
                                   resolve_threads(n_threads))
    return out
