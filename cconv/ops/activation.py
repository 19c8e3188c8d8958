"""ReLU forward and backward (the activation family's compiled kernels).

Kernel: ``src/_activation.pyx``; NumPy reference: :mod:`cconv.ops.reference.activation`.
Arrays of any shape; the work is cut into fixed chunks of elements shared by cconv's
worker threads, so results do not depend on the thread count.
"""
import numpy as np

from .. import _activation
from .._checks import float_array
from .._threads import resolve_threads
from . import _parallel
from ._buffers import in_place_ok, output

__all__ = ["relu", "relu_backward"]

_CHUNK = 1 << 18  # elements per chunk (1 MiB of float32)


def _elementwise(kernel, arrays, n_threads):
    """``kernel(*chunks, nt)`` over fixed chunks of same-size contiguous arrays."""
    flats = [a.reshape(-1) for a in arrays]
    _parallel.kernel_chunks(lambda s, nt: kernel(*[f[s] for f in flats], nt),
                            flats[0].shape[0], 1, resolve_threads(n_threads), _CHUNK)


def relu(x, out=None, n_threads=None):
    """``max(x, 0)`` with NaN passed through (the book's ``x[x <= 0] = 0``)."""
    x = np.asarray(float_array(x, "x"), order="C")   # (ascontiguousarray makes 0-d 1-d)
    out = output(out, x.shape, x.dtype, "out", in_place_ok(out, [(x, "x")]))
    _elementwise(_activation.relu_into, (x, out), n_threads)
    return out


def relu_backward(dout, y, out=None, n_threads=None):
    """``dout`` where the ReLU output ``y`` is > 0 (or NaN), else 0."""
    y = np.asarray(float_array(y, "y"), order="C")
    dout = np.asarray(float_array(dout, "dout"), dtype=y.dtype, order="C")
    if dout.shape != y.shape:
        raise ValueError(f"dout has shape {dout.shape}, the forward output had {y.shape}")
    out = output(out, y.shape, y.dtype, "dx",
                 in_place_ok(out, [(dout, "dout"), (y, "y")]))
    _elementwise(_activation.relu_backward_into, (dout, y, out), n_threads)
    return out
