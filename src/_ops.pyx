"""Element-wise kernels of the layers' fast path: bias (+ ReLU) on NCHW-style (N, F, P)
arrays, ReLU forward/backward on flat arrays. Work is split in fixed blocks, each owned
by one thread, so results do not depend on the thread count.
"""
from cython cimport floating
from cython.parallel cimport prange

from _openmp cimport CCONV_OPENMP

include "_build.pxi"


def openmp_compiled():
    return bool(CCONV_OPENMP)


cdef enum:
    BLOCK = 16384


def relu_into(const floating[::1] x, floating[::1] out, int n_threads):
    """out = x where not x <= 0, else 0 (NaN passes through, as the book's mask)."""
    cdef Py_ssize_t n = x.shape[0], nb = (n + BLOCK - 1) // BLOCK, blk, i, lo, hi
    cdef floating v
    for blk in prange(nb, nogil=True, schedule='static', num_threads=n_threads):
        lo = blk * BLOCK
        hi = lo + BLOCK
        if hi > n:
            hi = n
        for i in range(lo, hi):
            v = x[i]
            out[i] = 0 if v <= 0 else v


def relu_backward_into(const floating[::1] dout, const floating[::1] y, floating[::1] dx,
                       int n_threads):
    """dx = 0 where the forward output y <= 0 (the input was <= 0), else dout."""
    cdef Py_ssize_t n = dout.shape[0], nb = (n + BLOCK - 1) // BLOCK, blk, i, lo, hi
    cdef floating g
    for blk in prange(nb, nogil=True, schedule='static', num_threads=n_threads):
        lo = blk * BLOCK
        hi = lo + BLOCK
        if hi > n:
            hi = n
        for i in range(lo, hi):
            g = dout[i]  # loaded unconditionally so the select vectorises
            dx[i] = 0 if y[i] <= 0 else g


def bias_add_into(floating[:, :, ::1] out, const floating[::1] b, int n_threads):
    """out[n, f, :] += b[f] in place; row (n, f) belongs to one thread."""
    cdef Py_ssize_t N = out.shape[0], F = out.shape[1], P = out.shape[2], t, f, i
    cdef floating bf
    cdef floating* row
    if N * F * P == 0:
        return
    cdef floating* base = &out[0, 0, 0]
    for t in prange(N * F, nogil=True, schedule='static', num_threads=n_threads):
        f = t % F
        bf = b[f]
        row = base + t * P
        for i in range(P):
            row[i] = row[i] + bf


cdef extern from *:
    """
    /* Sum of channel f over all samples: row n is d + n*F*P. Eight running sums per
       row (lanes of i mod 8, which the compiler keeps in vector registers), combined
       pairwise, then the tail: an order fixed by P alone, and no chain of dependent
       adds the length of the row. */
    #define CCONV_SUM_CHANNEL(T, SUF)                                                  \
    static T cconv_sum_channel_##SUF(const T* d, Py_ssize_t N, Py_ssize_t F,            \
                                     Py_ssize_t P) {                                   \
        T s = 0;                                                                        \
        for (Py_ssize_t n = 0; n < N; ++n) {                                            \
            const T* row = d + n * F * P;                                               \
            T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                        \
            Py_ssize_t i = 0;                                                           \
            for (; i + 8 <= P; i += 8)                                                  \
                for (int j = 0; j < 8; ++j) acc[j] += row[i + j];                       \
            T r = ((acc[0] + acc[1]) + (acc[2] + acc[3]))                               \
                  + ((acc[4] + acc[5]) + (acc[6] + acc[7]));                            \
            for (; i < P; ++i) r += row[i];                                             \
            s += r;                                                                     \
        }                                                                               \
        return s;                                                                       \
    }
    CCONV_SUM_CHANNEL(float, f)
    CCONV_SUM_CHANNEL(double, d)
    """
    float cconv_sum_channel_f(const float* d, Py_ssize_t N, Py_ssize_t F,
                              Py_ssize_t P) noexcept nogil
    double cconv_sum_channel_d(const double* d, Py_ssize_t N, Py_ssize_t F,
                               Py_ssize_t P) noexcept nogil


cdef inline floating _sum_channel(const floating* d, Py_ssize_t N, Py_ssize_t F,
                                 Py_ssize_t P) noexcept nogil:
    if floating is float:
        return cconv_sum_channel_f(d, N, F, P)
    else:
        return cconv_sum_channel_d(d, N, F, P)


def sum_channels_into(const floating[:, :, ::1] dout, floating[::1] db, int n_threads):
    """db[f] = sum of dout[:, f, :]; channel f is summed by one thread, in a fixed order."""
    cdef Py_ssize_t N = dout.shape[0], F = dout.shape[1], P = dout.shape[2], f
    if F == 0:
        return
    if N * P == 0:
        db[:] = 0
        return
    cdef const floating* base = &dout[0, 0, 0]
    for f in prange(F, nogil=True, schedule='static', num_threads=n_threads):
        db[f] = _sum_channel(base + f * P, N, F, P)


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
    and have the same length; the caller checks.
    """
    cdef Py_ssize_t n = p.shape[0]
    if n == 0:
        return
    with nogil:
        if floating is float:
            cconv_adam_f(&p[0], &g[0], &m[0], &v[0], n, <float>lr_t, <float>one_minus_b1,
                         <float>one_minus_b2, <float>eps)
        else:
            cconv_adam_d(&p[0], &g[0], &m[0], &v[0], n, lr_t, one_minus_b1, one_minus_b2,
                         eps)
