"""The optimizers' fused update kernels on flat arrays (the book's Adam step in one pass)."""
from cython cimport floating

include "_build.pxi"


cdef extern from *:
    """
    #include <math.h>
    #if defined(_MSC_VER)
    #define CCONV_RESTRICT __restrict
    #else
    #define CCONV_RESTRICT __restrict__
    #endif
    /* The book's Adam step, one pass; each operation rounded in T, in the NumPy order. */
    #define CCONV_ADAM(T, SUF, SQRT)                                                   \
    static void cconv_adam_##SUF(T* CCONV_RESTRICT p, const T* CCONV_RESTRICT g,       \
                                 T* CCONV_RESTRICT m, T* CCONV_RESTRICT v, Py_ssize_t n, \
                                 T lr, T a, T b, T e) {                                 \
        for (Py_ssize_t i = 0; i < n; ++i) {                                            \
            T gi = g[i];                                                                \
            T mi = m[i] + (gi - m[i]) * a;                                              \
            T vi = v[i] + (gi * gi - v[i]) * b;                                         \
            m[i] = mi;                                                                  \
            v[i] = vi;                                                                  \
            p[i] = p[i] - (mi * lr) / (SQRT(vi) + e);                                   \
        }                                                                               \
    }
    CCONV_ADAM(float, f, sqrtf)
    CCONV_ADAM(double, d, sqrt)
    """
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
