"""The optimizers' fused update kernels on flat arrays (the book's Adam step in one pass).

Work is split in fixed blocks, each owned by one thread: every element's update is its
own, so results do not depend on the thread count.
"""
from cython cimport floating
from cython.parallel cimport prange

from _blocks cimport block_end

include "_build.pxi"


cdef extern from "optimizer.h":
    void cconv_adam_f(float* p, const float* g, float* m, float* v, Py_ssize_t n,
                      float lr, float a, float b, float e) noexcept nogil
    void cconv_adam_d(double* p, const double* g, double* m, double* v, Py_ssize_t n,
                      double lr, double a, double b, double e) noexcept nogil


cdef enum:
    BLOCK = 16384   # (elements: 4 arrays of 128 KiB in float64, a core's share of L2)


def adam_into(floating[::1] p, const floating[::1] g, floating[::1] m, floating[::1] v,
              double lr_t, double one_minus_b1, double one_minus_b2, double eps,
              int n_threads=1):
    """The book's Adam step on flat arrays, in place, in one pass:
    m += (1-b1)*(g-m); v += (1-b2)*(g*g-v); p -= lr_t*m / (sqrt(v)+eps).

    Every operation is rounded in the arrays' dtype, in the order of the NumPy version
    (cconv.optimizer.Adam), so both give the same bits, for any n_threads (blocks of
    BLOCK elements, one thread each). The four arrays must not overlap and have the same
    length: the caller checks overlap, this function the lengths.
    """
    cdef Py_ssize_t n = p.shape[0], nb = (n + BLOCK - 1) // BLOCK, blk, lo, hi
    if g.shape[0] != n or m.shape[0] != n or v.shape[0] != n:
        raise ValueError(f"adam_into: lengths {n}, {g.shape[0]}, {m.shape[0]}, "
                         f"{v.shape[0]} differ")
    if n_threads < 1:
        raise ValueError(f"adam_into: n_threads must be >= 1, got {n_threads}")
    if n == 0:
        return
    if nb == 1:
        n_threads = 1   # (one block: no parallel region to wake)
    for blk in prange(nb, nogil=True, schedule='dynamic', num_threads=n_threads):
        lo = blk * BLOCK
        hi = block_end(lo, BLOCK, n)
        if floating is float:
            cconv_adam_f(&p[lo], &g[lo], &m[lo], &v[lo], hi - lo, <float>lr_t,
                         <float>one_minus_b1, <float>one_minus_b2, <float>eps)
        else:
            cconv_adam_d(&p[lo], &g[lo], &m[lo], &v[lo], hi - lo, lr_t, one_minus_b1,
                         one_minus_b2, eps)
