"""The convolution engine (C in src/conv/): direct convolution forward, input gradient
and weight gradient on C-contiguous NCHW arrays x (N, C, H, W), W (F, C, FH, FW),
y/dout (N, F, OH, OW), float32 or float64, with the instruction-set variant chosen at
import (cpuid + xgetbv; cconv.ops.conv applies CCONV_ISA). The GIL is released and
OpenMP threads the whole call; results do not depend on the thread count.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.stddef cimport ptrdiff_t
from libc.stdint cimport uint16_t
from libc.string cimport memset


include "_build.pxi"
include "_geometry.pxi"

cdef extern from "conv/conv.h" nogil:
    ctypedef struct cconv_conv_shape:
        ptrdiff_t N, C, H, W, F, FH, FW, sh, sw, ph, pw, OH, OW
    ctypedef struct cconv_unpool:
        const void* dpool
        const uint16_t* arg
        const void* gate
    ctypedef struct cconv_conv_isa:
        const char* name
        const char* detail
        int vector_bytes
        int fwd_block
        int fwd_vectors
        int (*fwd_f32)(const cconv_conv_shape*, const float*, const float*, const float*,
                       int, float*, float*, uint16_t*, int) noexcept nogil
        int (*fwd_f64)(const cconv_conv_shape*, const double*, const double*, const double*,
                       int, double*, double*, uint16_t*, int) noexcept nogil
        int (*dx_f32)(const cconv_conv_shape*, const float*, const float*, const float*,
                      float*, int) noexcept nogil
        int (*dx_f64)(const cconv_conv_shape*, const double*, const double*, const double*,
                      double*, int) noexcept nogil
        int (*dw_f32)(const cconv_conv_shape*, const float*, const float*,
                      const cconv_unpool*, float*, float*, int) noexcept nogil
        int (*dw_f64)(const cconv_conv_shape*, const double*, const double*,
                      const cconv_unpool*, double*, double*, int) noexcept nogil
        int (*matmul_f32)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const float*, ptrdiff_t, ptrdiff_t,
                          const float*, ptrdiff_t, ptrdiff_t, const float*, int, float*,
                          ptrdiff_t, int) noexcept nogil
        int (*matmul_f64)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const double*, ptrdiff_t, ptrdiff_t,
                          const double*, ptrdiff_t, ptrdiff_t, const double*, int, double*,
                          ptrdiff_t, int) noexcept nogil
        int (*path_f32)(const cconv_conv_shape*, const float*, int) noexcept nogil
        int (*path_f64)(const cconv_conv_shape*, const double*, int) noexcept nogil
        double (*fma_loop_f32)(long, int*) noexcept nogil
        double (*fma_loop_f64)(long, int*) noexcept nogil
    int CCONV_ISA_COUNT
    const cconv_conv_isa* cconv_conv_isa_built(int i)
    int cconv_conv_isa_supported(int i)
    const cconv_conv_isa* cconv_conv_active()
    int cconv_conv_select(int i)
    int cconv_conv_best()
    int cconv_conv_winograd()
    void cconv_conv_set_winograd(int mode)
    int cconv_conv_cvec()
    void cconv_conv_set_cvec(int mode)

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


#: The modes of the kernels chosen per shape, Winograd F(2x2, 3x3) for the 3x3 stride-1
#: convolutions and the channel-vector kernel (the C enums' order).
MODES = ("off", "auto", "on")
WINOGRAD_MODES = CVEC_MODES = MODES


cdef int _mode_index(str what, mode) except -1:
    if mode not in MODES:
        raise ValueError(f"unknown {what} mode {mode!r}; choose one of {', '.join(MODES)}")
    return MODES.index(mode)


def winograd():
    """The Winograd mode in use: off, auto (where it measured faster) or on (wherever
    it applies)."""
    return MODES[cconv_conv_winograd()]


def set_winograd(mode):
    """Set the Winograd mode (off, auto, on); returns the previous one."""
    cdef int i = _mode_index("Winograd", mode)
    prev = winograd()
    cconv_conv_set_winograd(i)
    return prev


def cvec():
    """The channel-vector kernel's mode: off, auto (where it measured faster) or on
    (wherever it applies: stride 1, padding below the filter's size)."""
    return MODES[cconv_conv_cvec()]


def set_cvec(mode):
    """Set the channel-vector kernel's mode (off, auto, on); returns the previous one."""
    cdef int i = _mode_index("channel-vector kernel", mode)
    prev = cvec()
    cconv_conv_set_cvec(i)
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


cdef cconv_conv_shape _geometry(str where, const Py_ssize_t* x, const Py_ssize_t* w,
                               const Py_ssize_t* y, int sh, int sw, int ph,
                               int pw) except *:
    """The call's geometry from its arrays x (N, C, H, W), w (F, C, FH, FW) and
    y (N, F, OH, OW), checked against each other (see _geometry.pxi)."""
    cdef cconv_conv_shape g
    g.N = x[0]; g.C = x[1]; g.H = x[2]; g.W = x[3]; g.F = w[0]; g.FH = w[2]; g.FW = w[3]
    g.sh = sh; g.sw = sw; g.ph = ph; g.pw = pw
    cdef Py_ssize_t OH, OW
    _window_out(where, g.H, g.W, g.FH, g.FW, sh, sw, ph, pw, &OH, &OW)
    g.OH = OH; g.OW = OW
    _expect(where, "the filter array", w, 4, (g.F, g.C, g.FH, g.FW))
    _expect(where, "the output (or its gradient)", y, 4, (g.N, g.F, OH, OW))
    return g


cdef inline bint _empty(const Py_ssize_t* shape) noexcept nogil:
    return shape[0] * shape[1] * shape[2] * shape[3] == 0


cdef inline const floating* _in(const floating[:, :, :, ::1] a) noexcept nogil:
    """The first element, or NULL for an empty array (never read: no tap reaches it)."""
    return NULL if _empty(&a.shape[0]) else &a[0, 0, 0, 0]


cdef inline floating* _out(floating[:, :, :, ::1] a) noexcept nogil:
    return NULL if _empty(&a.shape[0]) else &a[0, 0, 0, 0]


cdef inline const floating* _bias(const floating[::1] b, Py_ssize_t F, str where) except? NULL:
    if b.shape[0] != 0 and b.shape[0] != F:
        raise ValueError(f"{where}: bias has {b.shape[0]} elements, the filters {F}")
    return &b[0] if b.shape[0] > 0 else NULL


cdef inline _check(int rc):
    if rc == -2:   # CCONV_CONV_EPATH
        raise ValueError("a weight gradient from a pooling's runs on the direct kernel, "
                         "stride 1, only")
    if rc != 0:
        raise MemoryError("the convolution could not allocate its work buffers")


cdef inline int _forward(const cconv_conv_shape* g, const floating* x, const floating* w,
                         const floating* b, bint relu, floating* y, floating* pool_out,
                         uint16_t* pool_arg, int n_threads) noexcept nogil:
    """The active variant's forward, in x's dtype (y or pool_out may be NULL)."""
    cdef const cconv_conv_isa* v = cconv_conv_active()
    if floating is float:
        return v.fwd_f32(g, x, w, b, relu, y, pool_out, pool_arg, n_threads)
    else:
        return v.fwd_f64(g, x, w, b, relu, y, pool_out, pool_arg, n_threads)


#: The kernels a convolution call may run (the C enum's order).
PATHS = ("direct", "winograd", "cvec")


def conv_path(x_shape, const floating[:, :, :, ::1] w, int sh, int sw, int ph, int pw,
              bint input_gradient, bint weight_gradient=False):
    """Which kernel a forward (or, with input_gradient, an input-gradient; with
    weight_gradient, a weight-gradient) call on an input of x_shape (N, C, H, W) with the
    filters w runs now: direct, winograd or cvec (Winograd gives way to the direct kernel
    on an input that is not finite)."""
    cdef int which = 2 if weight_gradient else (1 if input_gradient else 0)
    cdef Py_ssize_t xs[4]
    cdef Py_ssize_t ys[4]
    cdef Py_ssize_t OH, OW
    cdef int i
    for i in range(4):
        xs[i] = x_shape[i]
    _window_out("conv_path", xs[2], xs[3], w.shape[2], w.shape[3], sh, sw, ph, pw, &OH, &OW)
    ys[0], ys[1], ys[2], ys[3] = xs[0], w.shape[0], OH, OW
    cdef cconv_conv_shape g = _geometry("conv_path", xs, &w.shape[0], ys, sh, sw, ph, pw)
    cdef const cconv_conv_isa* v = cconv_conv_active()
    cdef const floating* wp = &w[0, 0, 0, 0]
    if floating is float:
        return PATHS[v.path_f32(&g, wp, which)]
    else:
        return PATHS[v.path_f64(&g, wp, which)]


def forward_into(const floating[:, :, :, ::1] x,  # IN (N, C, H, W)
                 const floating[:, :, :, ::1] w,  # IN (F, C, FH, FW)
                 const floating[::1] b,           # IN (F,), or empty: no bias
                 floating[:, :, :, ::1] y,        # OUT (N, F, OH, OW)
                 int sh, int sw, int ph, int pw, bint relu, int n_threads):
    """y = conv(x, w) + b (then max(., 0) if relu)."""
    cdef cconv_conv_shape g = _geometry("forward_into", &x.shape[0], &w.shape[0],
                                        &y.shape[0], sh, sw, ph, pw)
    cdef const floating* bp = _bias(b, g.F, "forward_into")
    cdef int rc = 0
    if _empty(&y.shape[0]):
        return
    with nogil:
        rc = _forward(&g, _in(x), _in(w), bp, relu, _out(y), <floating*>NULL, NULL, n_threads)
    _check(rc)


def forward_pool_into(const floating[:, :, :, ::1] x,  # IN (N, C, H, W)
                      const floating[:, :, :, ::1] w,  # IN (F, C, FH, FW)
                      const floating[::1] b,           # IN (F,), or empty: no bias
                      floating[:, :, :, ::1] y,        # OUT (N, F, OH, OW), or None
                      floating[:, :, :, ::1] pool_out,  # OUT (N, F, OH // 2, OW // 2)
                      uint16_t[:, :, :, ::1] pool_arg,  # OUT (N, F, OH // 2, OW // 2), or None
                      int sh, int sw, int ph, int pw, bint relu, int n_threads):
    """forward_into, and the 2x2 stride-2 max pooling of its output (values and argmax
    kh*2 + kw, as maxpool_forward_into gives them) from the sums while they are in
    cache; y None: the convolution's own output is not stored; pool_arg None: the
    maxima only (an inference pass needs no indices)."""
    cdef Py_ssize_t want[4]
    cdef Py_ssize_t OH, OW
    want[0] = x.shape[0]; want[1] = w.shape[0]
    _window_out("forward_pool_into", x.shape[2], x.shape[3], w.shape[2], w.shape[3],
                sh, sw, ph, pw, &OH, &OW)
    want[2] = OH; want[3] = OW
    cdef cconv_conv_shape g = _geometry("forward_pool_into", &x.shape[0], &w.shape[0],
                                        &y.shape[0] if y is not None else want,
                                        sh, sw, ph, pw)
    cdef const floating* bp = _bias(b, g.F, "forward_pool_into")
    cdef int rc = 0
    pooled = (g.N, g.F, OH // 2, OW // 2)
    _expect("forward_pool_into", "the pooled output", &pool_out.shape[0], 4, pooled)
    if pool_arg is not None:
        _expect("forward_pool_into", "the argmax", &pool_arg.shape[0], 4, pooled)
    if g.N * g.F * OH * OW == 0:
        return
    cdef floating* yp = _out(y) if y is not None else NULL
    cdef floating* po = _out(pool_out)
    cdef uint16_t* pa = NULL
    if pool_arg is not None and not _empty(&pool_arg.shape[0]):
        pa = &pool_arg[0, 0, 0, 0]
    if po == NULL and yp == NULL:
        return
    with nogil:
        rc = _forward(&g, _in(x), _in(w), bp, relu, yp, po, pa, n_threads)
    _check(rc)


def backward_data_into(const floating[:, :, :, ::1] dout,  # IN (N, F, OH, OW)
                       const floating[:, :, :, ::1] w,     # IN (F, C, FH, FW)
                       floating[:, :, :, ::1] dx,          # OUT (N, C, H, W)
                       int sh, int sw, int ph, int pw, int n_threads,
                       const floating[:, :, :, ::1] gate=None):  # IN (N, C, H, W), or None
    """dx = the input gradient of the convolution for dout; with gate (the output of a
    ReLU that fed the convolution, i.e. its input), 0 where gate <= 0: the ReLU's
    backward in the same pass."""
    cdef cconv_conv_shape g = _geometry("backward_data_into", &dx.shape[0], &w.shape[0],
                                        &dout.shape[0], sh, sw, ph, pw)
    cdef const cconv_conv_isa* v = cconv_conv_active()
    cdef const floating* gp = NULL
    cdef int rc = 0
    if gate is not None:
        _expect("backward_data_into", "the gate", &gate.shape[0], 4, _dims(&dx.shape[0], 4))
        gp = _in(gate)
    if _empty(&dx.shape[0]):
        return
    with nogil:
        if _empty(&dout.shape[0]):
            memset(_out(dx), 0, g.N * g.C * g.H * g.W * sizeof(floating))
        elif floating is float:
            rc = v.dx_f32(&g, _in(dout), _in(w), gp, _out(dx), n_threads)
        else:
            rc = v.dx_f64(&g, _in(dout), _in(w), gp, _out(dx), n_threads)
    _check(rc)


def backward_filter_into(const floating[:, :, :, ::1] x,     # IN (N, C, H, W)
                         const floating[:, :, :, ::1] dout,  # IN (N, F, OH, OW)
                         floating[:, :, :, ::1] dw,          # OUT (F, C, FH, FW)
                         floating[::1] db,                   # OUT (F,), or empty: skipped
                         int sh, int sw, int ph, int pw, int n_threads):
    """dW (and db) of the convolution, overwritten."""
    cdef cconv_conv_shape g = _geometry("backward_filter_into", &x.shape[0], &dw.shape[0],
                                        &dout.shape[0], sh, sw, ph, pw)
    cdef floating* dbp = <floating*>_bias(db, g.F, "backward_filter_into")
    cdef const cconv_conv_isa* v = cconv_conv_active()
    cdef int rc = 0
    if _empty(&dw.shape[0]):
        return
    with nogil:
        if _empty(&dout.shape[0]):   # nothing flows back: both gradients are zero
            memset(_out(dw), 0, g.F * g.C * g.FH * g.FW * sizeof(floating))
            if dbp != NULL:
                memset(dbp, 0, g.F * sizeof(floating))
        elif floating is float:
            rc = v.dw_f32(&g, _in(x), _in(dout), NULL, _out(dw), dbp, n_threads)
        else:
            rc = v.dw_f64(&g, _in(x), _in(dout), NULL, _out(dw), dbp, n_threads)
    _check(rc)


def backward_filter_unpool_into(const floating[:, :, :, ::1] x,      # IN (N, C, H, W)
                                const floating[:, :, :, ::1] dpool,  # IN (N, F, OH//2, OW//2)
                                const uint16_t[:, :, :, ::1] arg,    # IN (N, F, OH//2, OW//2)
                                const floating[:, :, :, ::1] gate,   # IN as dpool, or None
                                floating[:, :, :, ::1] dw,           # OUT (F, C, FH, FW)
                                floating[::1] db,                    # OUT (F,), or empty
                                int sh, int sw, int ph, int pw, int n_threads):
    """backward_filter_into for the output gradient that a 2x2 stride-2 max pooling's
    backward (dpool to each window's argmax arg) and the ReLU's before it (0 where the
    window's maximum, gate, is <= 0; None: no ReLU) would give, in the same pass: that
    gradient is never stored. The direct kernel's path, stride 1, only (ValueError
    otherwise: conv_path says which kernel a weight gradient runs)."""
    cdef Py_ssize_t want[4]
    cdef Py_ssize_t OH, OW
    _window_out("backward_filter_unpool_into", x.shape[2], x.shape[3], dw.shape[2],
                dw.shape[3], sh, sw, ph, pw, &OH, &OW)
    want[0] = x.shape[0]; want[1] = dw.shape[0]; want[2] = OH; want[3] = OW
    cdef cconv_conv_shape g = _geometry("backward_filter_unpool_into", &x.shape[0],
                                        &dw.shape[0], want, sh, sw, ph, pw)
    cdef floating* dbp = <floating*>_bias(db, g.F, "backward_filter_unpool_into")
    cdef const cconv_conv_isa* v = cconv_conv_active()
    cdef cconv_unpool up
    cdef int rc = 0
    pooled = (g.N, g.F, OH // 2, OW // 2)
    _expect("backward_filter_unpool_into", "the pooling's gradient", &dpool.shape[0], 4,
            pooled)
    _expect("backward_filter_unpool_into", "the argmax", &arg.shape[0], 4, pooled)
    if gate is not None:
        _expect("backward_filter_unpool_into", "the gate", &gate.shape[0], 4, pooled)
    if _empty(&dw.shape[0]):
        return
    up.dpool = NULL if _empty(&dpool.shape[0]) else <const void*>&dpool[0, 0, 0, 0]
    up.arg = NULL if _empty(&arg.shape[0]) else &arg[0, 0, 0, 0]
    up.gate = NULL
    if gate is not None and not _empty(&gate.shape[0]):
        up.gate = <const void*>&gate[0, 0, 0, 0]
    with nogil:
        if up.dpool == NULL:   # no window: the whole gradient is zero
            memset(_out(dw), 0, g.F * g.C * g.FH * g.FW * sizeof(floating))
            if dbp != NULL:
                memset(dbp, 0, g.F * sizeof(floating))
        elif floating is float:
            rc = v.dw_f32(&g, _in(x), NULL, &up, _out(dw), dbp, n_threads)
        else:
            rc = v.dw_f64(&g, _in(x), NULL, &up, _out(dw), dbp, n_threads)
    _check(rc)


def matmul_into(const floating[:, :] a,   # IN (M, K), any strides (a transposed view)
                const floating[:, :] b,   # IN (K, N), any strides
                floating[:, ::1] c,       # OUT (M, N)
                const floating[::1] bias,  # IN (N,), or empty: none
                int n_threads, bint relu=False):
    """c = a @ b (+ bias on every row), then max(c, 0) if relu (0 where <= 0, NaN
    passes: the Relu layer's) as it is stored: the engine's register tiles (the fully
    connected layers); every value is one sum over k in order, whatever n_threads."""
    cdef Py_ssize_t M = a.shape[0], K = a.shape[1], N = b.shape[1]
    cdef Py_ssize_t ars = a.strides[0] // sizeof(floating), acs = a.strides[1] // sizeof(floating)
    cdef Py_ssize_t brs = b.strides[0] // sizeof(floating), bcs = b.strides[1] // sizeof(floating)
    cdef const cconv_conv_isa* v = cconv_conv_active()
    cdef const floating* ap = NULL
    cdef const floating* bp = NULL
    cdef const floating* biasp = NULL
    cdef int rc = 0
    _expect("matmul_into", "b", &b.shape[0], 2, (K, N))
    _expect("matmul_into", "the output", &c.shape[0], 2, (M, N))
    if bias.shape[0] != 0:
        _expect("matmul_into", "the bias", &bias.shape[0], 1, (N,))
        biasp = &bias[0]
    if M * N == 0:
        return
    if K > 0:
        ap = &a[0, 0]
        bp = &b[0, 0]
    with nogil:
        if floating is float:
            rc = v.matmul_f32(M, N, K, ap, ars, acs, bp, brs, bcs, biasp, relu, &c[0, 0],
                              N, n_threads)
        else:
            rc = v.matmul_f64(M, N, K, ap, ars, acs, bp, brs, bcs, biasp, relu, &c[0, 0],
                              N, n_threads)
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


cdef extern from "conv/sum_channel.h" nogil:
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
