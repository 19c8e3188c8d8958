"""Output buffers of the ops: allocate one, or check a caller's ``out=`` array."""
import os

import numpy as np


def _physical_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 1 << 46


def check_size(shape, dtype, name):
    """MemoryError naming ``name`` if an array of ``shape`` would not fit in memory."""
    n = 1
    for s in shape:
        n *= int(s)
    nbytes = n * np.dtype(dtype).itemsize
    mem = _physical_memory()
    if nbytes > mem:
        raise MemoryError(f"{name} of shape {tuple(shape)} ({np.dtype(dtype)}) would need "
                          f"{nbytes / 2**30:.1f} GiB, more than this machine's "
                          f"{mem / 2**30:.1f} GiB of memory")


def overlaps(a, b):
    """True if arrays ``a`` and ``b`` may share an element (cheap bounds test first)."""
    if not np.may_share_memory(a, b):
        return False
    try:
        return bool(np.shares_memory(a, b, max_work=10_000))
    except np.exceptions.TooHardError:  # too costly to decide: assume they do
        return True


def output(out, shape, dtype, name, inputs=()):
    """Allocate an output, or check a caller's ``out=`` buffer.

    ``inputs`` holds ``(array, name)`` pairs the kernel reads: an ``out`` that shares
    memory with one of them is refused, since the kernels write ``out`` while still
    reading their inputs (col2im zeroes ``dx`` before it reads ``col``).
    """
    shape = tuple(int(s) for s in shape)
    if out is None:
        check_size(shape, dtype, name)
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array, not {type(out).__name__}")
    if out.shape != shape or out.dtype != dtype:
        raise ValueError(f"out for {name} must have shape {shape} and dtype {np.dtype(dtype)}, "
                         f"got {out.shape} {out.dtype}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"out for {name} must be C-contiguous and writeable")
    for a, a_name in inputs:
        if isinstance(a, np.ndarray) and overlaps(out, a):
            raise ValueError(f"out for {name} overlaps {a_name} in memory (a view of the "
                             "same buffer); pass a separate output array")
    return out


def in_place_ok(out, inputs):
    """The ``inputs`` an element-wise ``out`` must not overlap: an ``out`` that is an
    input itself, element for element, is allowed (the kernel may write in place)."""
    if out is None:
        return []
    base = out.__array_interface__["data"][0] if isinstance(out, np.ndarray) else None
    return [(a, n) for a, n in inputs if a.__array_interface__["data"][0] != base]


def grad_like(g, param):
    """The gradient ``g`` in its parameter's dtype when that is a float dtype (the
    documented contract), else in ``g``'s own float dtype: a parameter replaced by an
    integer array, a list or anything else never makes an integer (truncated) gradient."""
    dt = getattr(param, "dtype", None)
    if isinstance(dt, np.dtype) and dt.kind == "f":
        return same_dtype(g, dt)
    return g


def same_dtype(a, dtype):
    """``a`` in ``dtype`` (no copy when it already is)."""
    return a if a.dtype == dtype else a.astype(dtype)
