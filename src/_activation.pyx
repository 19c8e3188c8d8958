"""ReLU forward and backward on flat arrays (the activation family's kernels).

Work is split in fixed blocks, each owned by one thread, so results do not depend on the
thread count.
"""
from cython cimport floating
from cython.parallel cimport prange

from _blocks cimport block_end


include "_build.pxi"


cdef enum:
    BLOCK = 16384


def relu_into(const floating[::1] x, floating[::1] out, int n_threads):
    """out = x where not x <= 0, else 0 (NaN passes through, as the book's mask)."""
    cdef Py_ssize_t n = x.shape[0], nb = (n + BLOCK - 1) // BLOCK, blk, i, lo, hi
    cdef floating v
    if out.shape[0] != n:
        raise ValueError(f"relu_into: lengths {n} and {out.shape[0]} differ")
    for blk in prange(nb, nogil=True, schedule='static', num_threads=n_threads):
        lo = blk * BLOCK
        hi = block_end(lo, BLOCK, n)
        for i in range(lo, hi):
            v = x[i]
            out[i] = 0 if v <= 0 else v


def relu_backward_into(const floating[::1] dout, const floating[::1] y, floating[::1] dx,
                       int n_threads):
    """dx = 0 where the forward output y <= 0 (the input was <= 0), else dout."""
    cdef Py_ssize_t n = dout.shape[0], nb = (n + BLOCK - 1) // BLOCK, blk, i, lo, hi
    cdef floating g
    if y.shape[0] != n or dx.shape[0] != n:
        raise ValueError(f"relu_backward_into: lengths {n}, {y.shape[0]}, {dx.shape[0]} "
                         "differ")
    for blk in prange(nb, nogil=True, schedule='static', num_threads=n_threads):
        lo = blk * BLOCK
        hi = block_end(lo, BLOCK, n)
        for i in range(lo, hi):
            g = dout[i]  # loaded unconditionally so the select vectorises
            dx[i] = 0 if y[i] <= 0 else g
