"""The optimizers' fused update kernels on flat arrays (the book's Adam step in one pass)."""
from cython cimport floating

include "_build.pxi"


cdef extern from "optimizer.h":
    void cconv_adam_f(float* p, const float* g, float* m, float* v, Py_ssize_t n,
                      float lr, float a, float b, float e) noexcept nogil
    void cconv_adam_d(double* p, const double* g, double* m, double* v, Py_ssize_t n,
                      double lr, double a, double b, double e) noexcept nogil


def adam_into(floating[::1] p, const floating[::1] g, floating[::1] m, floating[::1] v,
              double lr_t, double one_minus_b1, double one_minus_b2, double eps):
    """The book's Adam step on flat arrays, in place, in one pass:
    m += (1-b1)*(g-m); v += (1-b2)*(g*g-v); p -= lr_t*m / (sqrt(v)+eps).

    Every operation is rounded in the arrays' dtype, in the order of the NumPy version
    (cconv.optimizer.Adam), so both give the same bits. The four arrays must not overlap
    and have the same length: the caller checks overlap, this function the lengths.
    """
    cdef Py_ssize_t n = p.shape[0]
    if g.shape[0] != n or m.shape[0] != n or v.shape[0] != n:
        raise ValueError(f"adam_into: lengths {n}, {g.shape[0]}, {m.shape[0]}, "
                         f"{v.shape[0]} differ")
    if n == 0:
        return
    with nogil:
        if floating is float:
            cconv_adam_f(&p[0], &g[0], &m[0], &v[0], n, <float>lr_t, <float>one_minus_b1,
                         <float>one_minus_b2, <float>eps)
        else:
            cconv_adam_d(&p[0], &g[0], &m[0], &v[0], n, lr_t, one_minus_b1, one_minus_b2,
                         eps)
