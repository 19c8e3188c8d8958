"""ReLU and tanh, forward and backward, on flat arrays (the activation family's kernels).

Work is split in fixed blocks, each owned by one thread, so results do not depend on the
thread count.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport uint8_t

from _blocks cimport block_end


include "_build.pxi"


cdef extern from "activation.h":
    void cc_tanh_f32(const float* x, float* y, float* y2, Py_ssize_t n) noexcept nogil
    void cc_tanh_f64(const double* x, double* y, double* y2, Py_ssize_t n) noexcept nogil
    int cc_tanh_body(int which, int dbl, const void* x, void* y, Py_ssize_t n) noexcept nogil


cdef enum:
    BLOCK = 16384


def relu_into(const floating[::1] x, floating[::1] out, uint8_t[::1] mask, int n_threads):
    """out = x where not x <= 0, else 0 (NaN passes through, as the book's mask); mask
    (unless empty) = 1 where x <= 0, else 0: the book's mask, in the same pass."""
    cdef Py_ssize_t n = x.shape[0], nb = (n + BLOCK - 1) // BLOCK, blk, i, lo, hi
    cdef floating v
    cdef bint want_mask = mask.shape[0] > 0
    if out.shape[0] != n or (want_mask and mask.shape[0] != n):
        raise ValueError(f"relu_into: lengths {n}, {out.shape[0]}, {mask.shape[0]} differ")
    # dynamic: a thread the OS runs late takes fewer blocks; each block is one owner's
    for blk in prange(nb, nogil=True, schedule='dynamic', num_threads=n_threads):
        lo = blk * BLOCK
        hi = block_end(lo, BLOCK, n)
        if want_mask:
            for i in range(lo, hi):
                v = x[i]
                mask[i] = v <= 0
                out[i] = 0 if v <= 0 else v
        else:
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
    for blk in prange(nb, nogil=True, schedule='dynamic', num_threads=n_threads):
        lo = blk * BLOCK
        hi = block_end(lo, BLOCK, n)
        for i in range(lo, hi):
            g = dout[i]  # loaded unconditionally so the select vectorises
            dx[i] = 0 if y[i] <= 0 else g


def relu_backward_mask_into(const floating[::1] dout, const uint8_t[::1] mask,
                            floating[::1] dx, int n_threads):
    """dx = 0 where mask (the book's: the input was <= 0), else dout."""
    cdef Py_ssize_t n = dout.shape[0], nb = (n + BLOCK - 1) // BLOCK, blk, i, lo, hi
    cdef floating g
    if mask.shape[0] != n or dx.shape[0] != n:
        raise ValueError(f"relu_backward_mask_into: lengths {n}, {mask.shape[0]}, "
                         f"{dx.shape[0]} differ")
    for blk in prange(nb, nogil=True, schedule='dynamic', num_threads=n_threads):
        lo = blk * BLOCK
        hi = block_end(lo, BLOCK, n)
        for i in range(lo, hi):
            g = dout[i]
            dx[i] = 0 if mask[i] else g


def tanh_into(const floating[::1] x, floating[::1] out, floating[::1] out2, int n_threads):
    """out = tanh(x) (activation.h: whole vectors, within 2 ulp of the exact value);
    out2 (unless empty) gets the same values in the same pass."""
    cdef Py_ssize_t n = x.shape[0], nb = (n + BLOCK - 1) // BLOCK, blk, lo, hi
    cdef bint want2 = out2.shape[0] > 0
    if out.shape[0] != n or (want2 and out2.shape[0] != n):
        raise ValueError(f"tanh_into: lengths {n}, {out.shape[0]}, {out2.shape[0]} differ")
    if n == 0:
        return
    for blk in prange(nb, nogil=True, schedule='dynamic', num_threads=n_threads):
        lo = blk * BLOCK
        hi = block_end(lo, BLOCK, n)
        if floating is float:
            cc_tanh_f32(&x[lo], &out[lo], &out2[lo] if want2 else NULL, hi - lo)
        else:
            cc_tanh_f64(&x[lo], &out[lo], &out2[lo] if want2 else NULL, hi - lo)


#: The tanh kernel's bodies (activation.h), for tanh_body_into.
TANH_BODIES = ("v16", "avx2")


def tanh_body_into(const floating[::1] x, floating[::1] out, str body):
    """out = tanh(x) by one named body of the kernel on one thread (for the tests: every
    body gives the same bits); False, nothing written, where this build or CPU lacks it."""
    if body not in TANH_BODIES:
        raise ValueError(f"unknown tanh body {body!r}; the bodies are {TANH_BODIES}")
    if out.shape[0] != x.shape[0]:
        raise ValueError(f"tanh_body_into: lengths {x.shape[0]}, {out.shape[0]} differ")
    if x.shape[0] == 0:
        return True
    return cc_tanh_body(TANH_BODIES.index(body), sizeof(floating) == 8, &x[0], &out[0],
                        x.shape[0]) == 0


def tanh_backward_into(const floating[::1] dout, const floating[::1] y, floating[::1] dx,
                       int n_threads):
    """dx = dout * (1 - y * y), y the forward output (NumPy's order of operations)."""
    cdef Py_ssize_t n = dout.shape[0], nb = (n + BLOCK - 1) // BLOCK, blk, i, lo, hi
    cdef floating v, one = 1   # (a literal 1 would make the float32 sums double)
    if y.shape[0] != n or dx.shape[0] != n:
        raise ValueError(f"tanh_backward_into: lengths {n}, {y.shape[0]}, {dx.shape[0]} "
                         "differ")
    for blk in prange(nb, nogil=True, schedule='dynamic', num_threads=n_threads):
        lo = blk * BLOCK
        hi = block_end(lo, BLOCK, n)
        for i in range(lo, hi):
            v = y[i]
            dx[i] = dout[i] * (one - v * v)
