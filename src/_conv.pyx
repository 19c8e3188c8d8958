"""The convolution engine (C in src/conv/): direct convolution forward, input gradient
and weight gradient on C-contiguous NCHW arrays x (N, C, H, W), W (F, C, FH, FW),
y/dout (N, F, OH, OW), float32 or float64, with the instruction-set variant chosen at
import (cpuid + xgetbv; cconv.ops.conv applies CCONV_ISA). The GIL is released and
OpenMP threads the whole call; results do not depend on the thread count.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.stddef cimport ptrdiff_t
from libc.string cimport memset


include "_build.pxi"

cdef extern from "conv/conv.h" nogil:
    ctypedef struct cconv_conv_shape:
        ptrdiff_t N, C, H, W, F, FH, FW, sh, sw, ph, pw, OH, OW
    ctypedef struct cconv_conv_isa:
        const char* name
        const char* detail
        int vector_bytes
        int fwd_block
        int fwd_vectors
        int (*fwd_f32)(const cconv_conv_shape*, const float*, const float*, const float*,
                       int, float*, int) noexcept nogil
        int (*fwd_f64)(const cconv_conv_shape*, const double*, const double*, const double*,
                       int, double*, int) noexcept nogil
        int (*dx_f32)(const cconv_conv_shape*, const float*, const float*, float*,
                      int) noexcept nogil
        int (*dx_f64)(const cconv_conv_shape*, const double*, const double*, double*,
                      int) noexcept nogil
        int (*dw_f32)(const cconv_conv_shape*, const float*, const float*, float*, float*,
                      int) noexcept nogil
        int (*dw_f64)(const cconv_conv_shape*, const double*, const double*, double*,
                      double*, int) noexcept nogil
        double (*fma_loop_f32)(long, int*) noexcept nogil
        double (*fma_loop_f64)(long, int*) noexcept nogil
    int CCONV_ISA_COUNT
    const cconv_conv_isa* cconv_conv_isa_built(int i)
    int cconv_conv_isa_supported(int i)
    const cconv_conv_isa* cconv_conv_active()
    int cconv_conv_select(int i)
    int cconv_conv_best()

#: The variants, slowest first; their index is the C enum's.
ISAS = ("baseline", "avx2", "avx512")
_WHAT = {"baseline": "the portable baseline", "avx2": "AVX2 + FMA", "avx512": "AVX-512F"}


def built_isas():
    """The variants compiled into this build."""
    return tuple(n for i, n in enumerate(ISAS) if cconv_conv_isa_built(i) != NULL)


def supported_isas():
    """The variants this build has and this CPU and OS can run."""
    return tuple(n for i, n in enumerate(ISAS)
                 if cconv_conv_isa_built(i) != NULL and cconv_conv_isa_supported(i))


def best_isa():
    return ISAS[cconv_conv_best()]


def active_isa():
    """The variant the convolutions run now."""
    return cconv_conv_active().name.decode()


def isa_info(name=None):
    """dict(name, detail, vector_bytes, block) of a built variant (default: the active one)."""
    cdef const cconv_conv_isa* v = cconv_conv_active() if name is None else \
        cconv_conv_isa_built(_index(name))
    if v == NULL:
        raise ValueError(f"the {name} variant is not compiled into this build "
                         f"(built: {', '.join(built_isas())})")
    return {"name": v.name.decode(), "detail": v.detail.decode(),
            "vector_bytes": v.vector_bytes,
            "block": f"{v.fwd_block} channels x {v.fwd_vectors} vectors"}


cdef int _index(name) except -1:
    if name not in ISAS:
        raise ValueError(f"unknown instruction set {name!r}; choose one of {', '.join(ISAS)}")
    return ISAS.index(name)


def select_isa(name):
    """Run the convolutions with variant ``name`` from now on (the previous one is returned).

    Raises ValueError for an unknown name, RuntimeError for a variant this build lacks or
    this CPU (or its OS) cannot run.
    """
    cdef int i = _index(name)
    prev = active_isa()
    rc = cconv_conv_select(i)
    if rc == -1:
        raise RuntimeError(f"{name} ({_WHAT[name]}) is not compiled into this build of cconv "
                           f"(built: {', '.join(built_isas())})")
    if rc == -2:
        raise RuntimeError(f"this CPU or its operating system cannot run {name} "
                           f"({_WHAT[name]}); it supports: {', '.join(supported_isas())}")
    return prev


def fma_loop(name, dtype_name, long n_iter):
    """Run variant ``name``'s FMA-throughput loop (one thread); returns its FLOP count."""
    cdef const cconv_conv_isa* v = cconv_conv_isa_built(_index(name))
    cdef int per = 0
    cdef double s
    if v == NULL or not cconv_conv_isa_supported(_index(name)):
        raise RuntimeError(f"{name} cannot run here")
    with nogil:
        if dtype_name == "float32":
            s = v.fma_loop_f32(n_iter, &per)
        else:
            s = v.fma_loop_f64(n_iter, &per)
    if s != s:
        raise FloatingPointError("the FMA loop overflowed")
    return float(n_iter) * per


cdef inline cconv_conv_shape _shape(Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                                    Py_ssize_t F, Py_ssize_t FH, Py_ssize_t FW, int sh, int sw,
                                    int ph, int pw, Py_ssize_t OH, Py_ssize_t OW) noexcept:
    cdef cconv_conv_shape g
    g.N = N; g.C = C; g.H = H; g.W = W; g.F = F; g.FH = FH; g.FW = FW
    g.sh = sh; g.sw = sw; g.ph = ph; g.pw = pw; g.OH = OH; g.OW = OW
    return g


cdef inline _check(int rc):
    if rc != 0:
        raise MemoryError("the convolution could not allocate its work buffers")


def forward_into(const floating[:, :, :, ::1] x,  # IN (N, C, H, W)
                 const floating[:, :, :, ::1] w,  # IN (F, C, FH, FW)
                 const floating[::1] b,           # IN (F,), or empty: no bias
                 floating[:, :, :, ::1] y,        # OUT (N, F, OH, OW)
                 int sh, int sw, int ph, int pw, bint relu, int n_threads):
    """y = conv(x, w) + b (then max(., 0) if relu); shapes checked by the caller."""
    cdef cconv_conv_shape g = _shape(x.shape[0], x.shape[1], x.shape[2], x.shape[3],
                                     w.shape[0], w.shape[2], w.shape[3], sh, sw, ph, pw,
                                     y.shape[2], y.shape[3])
    cdef const cconv_conv_isa* v = cconv_conv_active()
    cdef int rc = 0
    if y.shape[0] * y.shape[1] * y.shape[2] * y.shape[3] == 0:
        return
    with nogil:
        if floating is float:
            rc = v.fwd_f32(&g, &x[0, 0, 0, 0], &w[0, 0, 0, 0],
                           &b[0] if b.shape[0] > 0 else NULL, relu, &y[0, 0, 0, 0], n_threads)
        else:
            rc = v.fwd_f64(&g, &x[0, 0, 0, 0], &w[0, 0, 0, 0],
                           &b[0] if b.shape[0] > 0 else NULL, relu, &y[0, 0, 0, 0], n_threads)
    _check(rc)


def backward_data_into(const floating[:, :, :, ::1] dout,  # IN (N, F, OH, OW)
                       const floating[:, :, :, ::1] w,     # IN (F, C, FH, FW)
                       floating[:, :, :, ::1] dx,          # OUT (N, C, H, W)
                       int sh, int sw, int ph, int pw, int n_threads):
    """dx = the input gradient of the convolution for dout."""
    cdef cconv_conv_shape g = _shape(dx.shape[0], dx.shape[1], dx.shape[2], dx.shape[3],
                                     w.shape[0], w.shape[2], w.shape[3], sh, sw, ph, pw,
                                     dout.shape[2], dout.shape[3])
    cdef const cconv_conv_isa* v = cconv_conv_active()
    cdef int rc = 0
    if dx.shape[0] * dx.shape[1] * dx.shape[2] * dx.shape[3] == 0:
        return
    if dout.shape[0] * dout.shape[1] * dout.shape[2] * dout.shape[3] == 0:
        with nogil:
            memset(&dx[0, 0, 0, 0], 0, dx.shape[0] * dx.shape[1] * dx.shape[2] * dx.shape[3]
                   * sizeof(floating))
        return
    with nogil:
        if floating is float:
            rc = v.dx_f32(&g, &dout[0, 0, 0, 0], &w[0, 0, 0, 0], &dx[0, 0, 0, 0], n_threads)
        else:
            rc = v.dx_f64(&g, &dout[0, 0, 0, 0], &w[0, 0, 0, 0], &dx[0, 0, 0, 0], n_threads)
    _check(rc)


def backward_filter_into(const floating[:, :, :, ::1] x,     # IN (N, C, H, W)
                         const floating[:, :, :, ::1] dout,  # IN (N, F, OH, OW)
                         floating[:, :, :, ::1] dw,          # OUT (F, C, FH, FW)
                         floating[::1] db,                   # OUT (F,), or empty: skipped
                         int sh, int sw, int ph, int pw, int n_threads):
    """dW (and db) of the convolution, overwritten."""
    cdef cconv_conv_shape g = _shape(x.shape[0], x.shape[1], x.shape[2], x.shape[3],
                                     dw.shape[0], dw.shape[2], dw.shape[3], sh, sw, ph, pw,
                                     dout.shape[2], dout.shape[3])
    cdef const cconv_conv_isa* v = cconv_conv_active()
    cdef int rc = 0
    cdef Py_ssize_t nw = dw.shape[0] * dw.shape[1] * dw.shape[2] * dw.shape[3]
    if nw == 0:
        return
    if x.shape[0] * dout.shape[2] * dout.shape[3] == 0:
        with nogil:
            memset(&dw[0, 0, 0, 0], 0, nw * sizeof(floating))
            if db.shape[0] > 0:
                memset(&db[0], 0, db.shape[0] * sizeof(floating))
        return
    with nogil:
        if floating is float:
            rc = v.dw_f32(&g, &x[0, 0, 0, 0], &dout[0, 0, 0, 0], &dw[0, 0, 0, 0],
                          &db[0] if db.shape[0] > 0 else NULL, n_threads)
        else:
            rc = v.dw_f64(&g, &x[0, 0, 0, 0], &dout[0, 0, 0, 0], &dw[0, 0, 0, 0],
                          &db[0] if db.shape[0] > 0 else NULL, n_threads)
    _check(rc)


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
