"""The convolution's element-wise kernels on (N, F, P) arrays (F filters, P = OH*OW
positions, the layer's NCHW output): bias add, and the bias gradient (sum over N and P).
Row (n, f) or channel f belongs to one thread, so results do not depend on the thread
count.
"""
from cython cimport floating
from cython.parallel cimport prange


include "_build.pxi"


def bias_add_into(floating[:, :, ::1] out, const floating[::1] b, int n_threads):
    """out[n, f, :] += b[f] in place; row (n, f) belongs to one thread."""
    cdef Py_ssize_t N = out.shape[0], F = out.shape[1], P = out.shape[2], t, f, i
    cdef floating bf
    cdef floating* row
    if b.shape[0] != F:
        raise ValueError(f"bias_add_into: b has {b.shape[0]} elements, out has {F} "
                         "channels")
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
    if db.shape[0] != F:
        raise ValueError(f"sum_channels_into: db has {db.shape[0]} elements, dout has {F} "
                         "channels")
    if F == 0:
        return
    if N * P == 0:
        db[:] = 0
        return
    cdef const floating* base = &dout[0, 0, 0]
    for f in prange(F, nogil=True, schedule='static', num_threads=n_threads):
        db[f] = _sum_channel(base + f * P, N, F, P)
