/* The convolution engine for one instruction set and one dtype (no include guard: it is
   included once per dtype by each conv_<isa>.c). The includer defines
     REAL           float or double
     SFX            f32 or f64 (name suffix)
     ISA            baseline, avx2 or avx512 (name prefix)
     VBYTES         bytes of the vectors used (GCC/clang vector extensions), 0 for scalar C
     FWD_FB FWD_NV  forward/input-gradient register block: FWD_FB output channels x
                    FWD_NV vectors of output positions
     DW_FB DW_KB    weight-gradient register block: DW_FB filters x DW_KB taps
     PEAK_ACC       independent accumulators of the FMA-throughput loop
   See conv_common.h for the layout the kernels work in. */

#define CC_PASTE4(a, b, c, d) a##_##b##_##c##_##d
#define CC_EXPAND4(a, b, c, d) CC_PASTE4(a, b, c, d)
#define FN(name) CC_EXPAND4(cc, ISA, SFX, name)

#if VBYTES > 0
typedef REAL FN(vec) __attribute__((vector_size(VBYTES)));
typedef REAL FN(uvec) __attribute__((vector_size(VBYTES), aligned(sizeof(REAL)), may_alias));
typedef CC_IREAL FN(ivec) __attribute__((vector_size(VBYTES)));
#define VEC FN(vec)
#define VL ((ptrdiff_t)(VBYTES / sizeof(REAL)))
#define LOADU(p) (*(const FN(uvec)*)(p))
#define STOREU(p, v) (*(FN(uvec)*)(p) = (v))
#define SPLAT(s) ((VEC){0} + (REAL)(s))
/* lanes <= 0 cleared: the comparison's all-ones lanes mask the bits away */
#define RELU(x) ((VEC)((FN(ivec))(x) & ~(FN(ivec))((x) <= SPLAT(0))))
#if VBYTES >= 32
typedef REAL FN(half) __attribute__((vector_size(VBYTES / 2)));
#endif
#else
#define VEC REAL
#define VL ((ptrdiff_t)1)
#define LOADU(p) (*(p))
#define STOREU(p, v) (*(p) = (v))
#define SPLAT(s) ((REAL)(s))
#define RELU(x) ((x) <= 0 ? (REAL)0 : (x))
#endif
/* one value's ReLU: 0 where <= 0 (-0 too), NaN passes, as the Relu layer's */
static inline REAL FN(relu_s)(REAL v)
{
    return v <= 0 ? (REAL)0 : v;
}
#define RELU_S(x) FN(relu_s)(x)

/* Y[f][0 .. FWD_NV*VL) = bias[f] + sum_k A[k][f] * X[off[k] + ...] for the FWD_FB
   channels of one block (X and Y already point at the tile's first position). Never
   inlined: the accumulators get the whole register file to themselves. */
static CC_NOINLINE void FN(fwd_tile)(const REAL* CC_RESTRICT A, const REAL* CC_RESTRICT X,
                         const ptrdiff_t* CC_RESTRICT off, ptrdiff_t K,
                         const REAL* CC_RESTRICT bias, int relu, REAL* CC_RESTRICT Y,
                         ptrdiff_t ldy)
{
    VEC acc[FWD_FB][FWD_NV];
    ptrdiff_t k;
    int f, v;
    CC_UNROLL for (f = 0; f < FWD_FB; f++) {
        CC_UNROLL for (v = 0; v < FWD_NV; v++)
            acc[f][v] = SPLAT(bias[f]);
    }
    for (k = 0; k < K; k++) {
        const REAL* xp = X + off[k];
        const REAL* a = A + k * FWD_FB;
        VEC xv[FWD_NV];
        CC_UNROLL for (v = 0; v < FWD_NV; v++)
            xv[v] = LOADU(xp + v * VL);
        CC_UNROLL for (f = 0; f < FWD_FB; f++) {
            REAL af = a[f];
            CC_UNROLL for (v = 0; v < FWD_NV; v++)
                acc[f][v] += af * xv[v];
        }
    }
    if (relu)   /* x <= 0 ? 0 : x, in registers (NaN passes, as the book's mask) */
        CC_UNROLL for (f = 0; f < FWD_FB; f++) {
            CC_UNROLL for (v = 0; v < FWD_NV; v++)
                acc[f][v] = RELU(acc[f][v]);
        }
    CC_UNROLL for (f = 0; f < FWD_FB; f++) {
        CC_UNROLL for (v = 0; v < FWD_NV; v++)
            STOREU(Y + f * ldy + v * VL, acc[f][v]);
    }
}

/* The lanes of v added as a tree of halves (fixed order): a few vector adds instead of
   VL dependent scalar ones. */
static inline REAL FN(hsum)(VEC v)
{
#if VBYTES >= 32
    FN(half) lo, hi;
    REAL t[VBYTES / 2 / sizeof(REAL)], s;
    ptrdiff_t n = VL / 2, w, i;
    memcpy(&lo, &v, sizeof lo);
    memcpy(&hi, (char*)&v + sizeof lo, sizeof hi);
    lo += hi;
    memcpy(t, &lo, sizeof t);
    for (w = n / 2; w >= 1; w /= 2)
        for (i = 0; i < w; i++)
            t[i] += t[i + w];
    s = t[0];
    return s;
#else
    REAL t[VL];
    ptrdiff_t w, i;
    memcpy(t, &v, sizeof t);
    for (w = VL / 2; w >= 1; w /= 2)
        for (i = 0; i < w; i++)
            t[i] += t[i + w];
    return t[0];
#endif
}

/* out[f][j] = sum_q D[f][q] * X[off[j] + q] over the positions q of nseg segments
   [s*seg_stride + r*row_stride, + seg_len) for r < nrow (seg_len a multiple of VL: a
   sample's rows, or all of them as one run), for DW_FB rows of D and DW_KB taps; the
   lanes are added by a fixed tree at the end, so the result depends on the chunk only. */
static CC_NOINLINE void FN(dw_tile)(const REAL* CC_RESTRICT D, ptrdiff_t ldd, const REAL* CC_RESTRICT X,
                        const ptrdiff_t* CC_RESTRICT off, ptrdiff_t nseg, ptrdiff_t seg_stride,
                        ptrdiff_t nrow, ptrdiff_t row_stride, ptrdiff_t seg_len,
                        REAL* CC_RESTRICT out)
{
    VEC acc[DW_FB][DW_KB];
    const REAL* xj[DW_KB];
    ptrdiff_t q, s, r;
    int f, j;
    CC_UNROLL for (j = 0; j < DW_KB; j++) {
        xj[j] = X + off[j];
        CC_UNROLL for (f = 0; f < DW_FB; f++)
            acc[f][j] = SPLAT(0);
    }
    for (s = 0; s < nseg; s++)
    for (r = 0; r < nrow; r++)
    for (q = s * seg_stride + r * row_stride; q < s * seg_stride + r * row_stride + seg_len;
         q += VL) {
        VEC d[DW_FB];
        CC_UNROLL for (f = 0; f < DW_FB; f++)
            d[f] = LOADU(D + f * ldd + q);
        CC_UNROLL for (j = 0; j < DW_KB; j++) {
            VEC xv = LOADU(xj[j] + q);
            CC_UNROLL for (f = 0; f < DW_FB; f++)
                acc[f][j] += d[f] * xv;
        }
    }
    for (f = 0; f < DW_FB; f++)
        for (j = 0; j < DW_KB; j++)
            out[f * DW_KB + j] = FN(hsum)(acc[f][j]);
}

/* Filters as blocks of B output channels (FWD_FB for the direct kernel), [block][k][B],
   zero-padded to whole blocks. k runs over (input channel, kh, kw). For the input gradient (flip != 0) the
   roles swap: output channel c, input channel f, and the taps are turned 180 degrees. */
static REAL* FN(pack)(const REAL* w, ptrdiff_t F, ptrdiff_t C, ptrdiff_t FH, ptrdiff_t FW,
                      int flip, ptrdiff_t B)
{
    ptrdiff_t nout = flip ? C : F, nin = flip ? F : C, taps = FH * FW, K = nin * taps;
    ptrdiff_t nb = (nout + B - 1) / B, o, i, t;
    REAL* A = (REAL*)cc_alloc((size_t)(nb * K * B) * sizeof(REAL) + 1);
    if (!A)
        return NULL;
    memset(A, 0, (size_t)(nb * K * B) * sizeof(REAL));
    for (o = 0; o < nout; o++)
        for (i = 0; i < nin; i++)
            for (t = 0; t < taps; t++) {
                REAL v = flip ? w[(i * C + o) * taps + (taps - 1 - t)] : w[(o * C + i) * taps + t];
                A[((o / B) * K + i * taps + t) * B + o % B] = v;
            }
    return A;
}

/* n values from s to d, apart: a row of at least a vector as whole vectors, the rest as
   one last vector overlapping the one before; a shorter row by cc_copy_short (no call:
   for short rows a call costs more than the copy). */
static inline void FN(copy_row)(REAL* CC_RESTRICT d, const REAL* CC_RESTRICT s, ptrdiff_t n)
{
    ptrdiff_t j = 0;
    if (n < VL || VL == 1) {
        cc_copy_short(d, s, (size_t)n * sizeof(REAL));
        return;
    }
    for (; j + VL <= n; j += VL) {
        STOREU(d + j, LOADU(s + j));
        CC_NO_MEMCPY();
    }
    if (j < n)
        STOREU(d + n - VL, LOADU(s + n - VL));
}

/* Samples n0 .. n0+ns-1 of src (N, Cin, Hs, Ws) into the flat layout buf[Cin][row_len]. */
static void FN(place)(const REAL* src, ptrdiff_t Cin, ptrdiff_t Hs, ptrdiff_t Ws,
                      ptrdiff_t n0, ptrdiff_t ns, cc_axis ah, cc_axis aw, ptrdiff_t row_len,
                      REAL* buf)
{
    ptrdiff_t Wr = aw.len, Lseg = ah.len * aw.len, c, n, i, j;
    memset(buf, 0, (size_t)(Cin * row_len) * sizeof(REAL));
    for (c = 0; c < Cin; c++)
        for (n = 0; n < ns; n++)
            for (i = 0; i < ah.n; i++) {
                REAL* d = buf + c * row_len + n * Lseg + (ah.pos0 + i * ah.step) * Wr + aw.pos0;
                const REAL* s = src + (((n0 + n) * Cin + c) * Hs + ah.i0 + i) * Ws + aw.i0;
                if (aw.step == 1)
                    FN(copy_row)(d, s, aw.n);
                else
                    for (j = 0; j < aw.n; j++)
                        d[j * aw.step] = s[j];
            }
}

/* What run_conv does with the sums besides storing them: ReLU in registers (relu), or
   zeroing where gate <= 0 (gate: a ReLU output of dst's shape, the input gradient's
   fold); and, with pool_out, the 2x2 stride-2 max pooling of the output (pool_out and
   pool_arg of (N, Cout, OHd/2, OWd/2); pool_arg NULL: no indices) from the sums while
   they are in cache. */
typedef struct {
    int relu;
    const REAL* gate;
    REAL* pool_out;
    uint16_t* pool_arg;
} FN(epilogue);

#ifndef CC_MAX22_VEC
/* CCONV_MAX22 on vectors of windows (FV: REAL lanes, IV: the integer lanes of their
   width), the comparisons as lane masks: out = each window's first maximum, k = its index
   kh*2 + kw (integer lanes). NaN is the callers' business, as for CCONV_MAX22. The one
   vector form for the pooling epilogue's rows and Winograd's tiles. */
#define CC_MAX22_VEC(IV, FV, v0, v1, v2, v3, out, k)                                   \
    do {                                                                                 \
        IV g01_ = (v1) > (v0), g23_ = (v3) > (v2), g_, m01_, m23_;                       \
        m01_ = ((IV)(v1) & g01_) | ((IV)(v0) & ~g01_);                                   \
        m23_ = ((IV)(v3) & g23_) | ((IV)(v2) & ~g23_);                                   \
        g_ = (FV)m23_ > (FV)m01_;                                                        \
        (out) = (FV)((m23_ & g_) | (m01_ & ~g_));                                        \
        (k) = -g01_ + (g_ & (2 - g23_ + g01_));   /* g01 + g*(2 + g23 - g01), masks -1 */ \
    } while (0)
#endif

#if VBYTES > 0 && defined(__GNUC__) && !defined(__clang__)
/* Windows of one row pair (unit-stride columns), B/sizeof(REAL) at a time, from pj on
   while they fit: the even and odd columns split by shuffles, then CCONV_MAX22's
   comparisons as lane masks (the same values and indices). Returns where it stopped;
   a NaN sets lanes of *nacc. Defined for every vector width up to VBYTES: the rows of a
   small plane (12 windows: 8 + 4) are not left to the scalar loop. nonneg (a constant
   at each call, without want_a): the values have no -0 (a ReLU's outputs), and then a
   window's maximum is the same bits in any order (NaN aside, which the sums flag:
   values >= 0 sum to a NaN only where one is), so each row pair is reduced down
   first, on the rows as they lie, and only then split into even and odd columns. */
#define CC_DEF_POOL22_ROW(NAME, B)                                                        \
typedef REAL FN(NAME##_v) __attribute__((vector_size(B)));                                \
typedef REAL FN(NAME##_u) __attribute__((vector_size(B), aligned(sizeof(REAL)), may_alias)); \
typedef CC_IREAL FN(NAME##_i) __attribute__((vector_size(B)));                            \
typedef uint16_t FN(NAME##_k) __attribute__((vector_size(B / sizeof(REAL) * 2)));         \
static inline __attribute__((always_inline)) ptrdiff_t                                  \
FN(NAME)(const REAL* CC_RESTRICT r0, const REAL* CC_RESTRICT r1, REAL* CC_RESTRICT o,     \
         uint16_t* CC_RESTRICT a, ptrdiff_t pj, ptrdiff_t POW, FN(NAME##_i)* nacc,          \
         const int want_a, const int nonneg)                                              \
{                                                                                         \
    const int W = (int)(B / sizeof(REAL));                                                \
    FN(NAME##_i) ev, od, nan = *nacc;                                                     \
    int i;                                                                                \
    for (i = 0; i < W; i++) {                                                             \
        ev[i] = 2 * i;                                                                    \
        od[i] = 2 * i + 1;                                                                \
    }                                                                                     \
    for (; pj + W <= POW; pj += W) {                                                      \
        FN(NAME##_v) p = *(const FN(NAME##_u)*)(r0 + 2 * pj);                             \
        FN(NAME##_v) q = *(const FN(NAME##_u)*)(r0 + 2 * pj + W);                         \
        FN(NAME##_v) u = *(const FN(NAME##_u)*)(r1 + 2 * pj);                             \
        FN(NAME##_v) w = *(const FN(NAME##_u)*)(r1 + 2 * pj + W);                         \
        if (nonneg && !want_a) {                                                          \
            FN(NAME##_v) s = (p + u) + (q + w), e, d;                                     \
            FN(NAME##_i) g = u > p, h = w > q;                                            \
            p = (FN(NAME##_v))(((FN(NAME##_i))u & g) | ((FN(NAME##_i))p & ~g));           \
            q = (FN(NAME##_v))(((FN(NAME##_i))w & h) | ((FN(NAME##_i))q & ~h));           \
            e = __builtin_shuffle(p, q, ev);                                              \
            d = __builtin_shuffle(p, q, od);                                              \
            g = d > e;                                                                    \
            *(FN(NAME##_u)*)(o + pj) =                                                    \
                (FN(NAME##_v))(((FN(NAME##_i))d & g) | ((FN(NAME##_i))e & ~g));           \
            nan |= s != s;                                                                \
        } else {                                                                          \
            FN(NAME##_v) v0 = __builtin_shuffle(p, q, ev), v1 = __builtin_shuffle(p, q, od); \
            FN(NAME##_v) v2 = __builtin_shuffle(u, w, ev), v3 = __builtin_shuffle(u, w, od); \
            FN(NAME##_v) m;                                                               \
            FN(NAME##_i) k;                                                               \
            FN(NAME##_k) k16;                                                             \
            CC_MAX22_VEC(FN(NAME##_i), FN(NAME##_v), v0, v1, v2, v3, m, k);               \
            *(FN(NAME##_u)*)(o + pj) = m;                                                 \
            nan |= (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3);                     \
            if (want_a) {                                                                 \
                k16 = __builtin_convertvector(k, FN(NAME##_k));                           \
                memcpy(a + pj, &k16, sizeof k16);                                         \
            }                                                                             \
        }                                                                                 \
    }                                                                                     \
    *nacc = nan;                                                                          \
    return pj;                                                                            \
}                                                                                         \
/* any lane of a NaN accumulator set (once per plane: a row's few windows do not pay  \
   for the lanes' extraction) */                                                      \
static inline __attribute__((always_inline)) int FN(NAME##_any)(FN(NAME##_i) nan)        \
{                                                                                         \
    int i, r = 0;                                                                         \
    for (i = 0; i < (int)(B / sizeof(REAL)); i++)                                         \
        r |= nan[i] != 0;                                                                 \
    return r;                                                                             \
}
#if VBYTES >= 64
CC_DEF_POOL22_ROW(pool22_w64, 64)
#endif
#if VBYTES >= 32
CC_DEF_POOL22_ROW(pool22_w32, 32)
#endif
CC_DEF_POOL22_ROW(pool22_w16, 16)
#undef CC_DEF_POOL22_ROW

/* The NaN accumulators of a plane's rows, one per vector width. */
typedef struct {
#if VBYTES >= 64
    FN(pool22_w64_i) n64;
#endif
#if VBYTES >= 32
    FN(pool22_w32_i) n32;
#endif
    FN(pool22_w16_i) n16;
} FN(pool22_nan);

/* want_a, nonneg: constants at each call (want_a 0: the maxima only, an inference pass's
   pooling; nonneg: see CC_DEF_POOL22_ROW) */
static inline __attribute__((always_inline)) ptrdiff_t
FN(pool22_row)(const REAL* r0, const REAL* r1, REAL* o, uint16_t* a, ptrdiff_t POW,
               FN(pool22_nan)* nan, const int want_a, const int nonneg)
{
    ptrdiff_t pj = 0;
#if VBYTES >= 64
    pj = FN(pool22_w64)(r0, r1, o, a, pj, POW, &nan->n64, want_a, nonneg);
#endif
#if VBYTES >= 32
    pj = FN(pool22_w32)(r0, r1, o, a, pj, POW, &nan->n32, want_a, nonneg);
#endif
    return FN(pool22_w16)(r0, r1, o, a, pj, POW, &nan->n16, want_a, nonneg);
}

static inline __attribute__((always_inline)) int FN(pool22_nan_any)(const FN(pool22_nan)* nan)
{
    int r = FN(pool22_w16_any)(nan->n16);
#if VBYTES >= 32
    r |= FN(pool22_w32_any)(nan->n32);
#endif
#if VBYTES >= 64
    r |= FN(pool22_w64_any)(nan->n64);
#endif
    return r;
}
#define CC_POOL22_VEC 1
#endif

/* One plane's 2x2 stride-2 max pooling from rows ldr apart, columns sc apart, with
   want_a (a constant at each call) each window's index kh*2 + kw into arg: each window's
   first maximum, a NaN winning (its first one), as _pooling.pyx's max pooling does. The
   comparisons are selects, so the compiler can vectorise the row; a plane holding a NaN
   is redone window by window. */
static inline __attribute__((always_inline)) void
FN(pool22_plane)(const REAL* y, ptrdiff_t ldr, ptrdiff_t sc, REAL* out, uint16_t* arg,
                 ptrdiff_t POH, ptrdiff_t POW, const int want_a, const int nonneg)
{
    ptrdiff_t pi, pj;
    int nan = 0;
    uint16_t k1;
#ifdef CC_POOL22_VEC
    FN(pool22_nan) vnan;
    memset(&vnan, 0, sizeof vnan);
#endif
    for (pi = 0; pi < POH; pi++) {
        const REAL* CC_RESTRICT r0 = y + 2 * pi * ldr;
        const REAL* CC_RESTRICT r1 = r0 + ldr;
        REAL* CC_RESTRICT o = out + pi * POW;
        uint16_t* CC_RESTRICT a = want_a ? arg + pi * POW : &k1;
        if (sc == 1) {   /* unit-stride rows: VL windows at a time, then one by one */
#ifdef CC_POOL22_VEC
            pj = FN(pool22_row)(r0, r1, o, a, POW, &vnan, want_a, nonneg);
#else
            pj = 0;
#endif
            for (; pj < POW; pj++) {
                REAL v0 = r0[2 * pj], v1 = r0[2 * pj + 1], v2 = r1[2 * pj], v3 = r1[2 * pj + 1];
                nan |= (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3);
                CCONV_MAX22(REAL, v0, v1, v2, v3, o[pj], a[want_a ? pj : 0]);
            }
        } else
            for (pj = 0; pj < POW; pj++) {
                REAL v0 = r0[2 * pj * sc], v1 = r0[(2 * pj + 1) * sc];
                REAL v2 = r1[2 * pj * sc], v3 = r1[(2 * pj + 1) * sc];
                nan |= (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3);
                CCONV_MAX22(REAL, v0, v1, v2, v3, o[pj], a[want_a ? pj : 0]);
            }
    }
#ifdef CC_POOL22_VEC
    nan |= FN(pool22_nan_any)(&vnan);
#endif
    if (!nan)
        return;
    for (pi = 0; pi < POH; pi++)
        for (pj = 0; pj < POW; pj++) {
            const REAL* r0 = y + 2 * pi * ldr + 2 * pj * sc;
            REAL v[4];
            int k;
            v[0] = r0[0];
            v[1] = r0[sc];
            v[2] = r0[ldr];
            v[3] = r0[ldr + sc];
            for (k = 0; k < 4 && v[k] == v[k]; k++)
                ;
            if (k < 4) {   /* the first NaN wins */
                out[pi * POW + pj] = v[k];
                if (want_a)
                    arg[pi * POW + pj] = (uint16_t)k;
            }
        }
}

/* pool22_plane with the indices into arg, or (arg NULL) the maxima only; relu: y holds
   a ReLU's outputs (no -0 among them). */
static void FN(pool22)(const REAL* y, ptrdiff_t ldr, ptrdiff_t sc, REAL* out,
                       uint16_t* arg, ptrdiff_t POH, ptrdiff_t POW, int relu)
{
    if (arg)
        FN(pool22_plane)(y, ldr, sc, out, arg, POH, POW, 1, 0);
    else if (relu)
        FN(pool22_plane)(y, ldr, sc, out, NULL, POH, POW, 0, 1);
    else
        FN(pool22_plane)(y, ldr, sc, out, NULL, POH, POW, 0, 0);
}

/* The bias b (NULL: none) of Cout channels, zero-padded to whole blocks of B: what
   the tiles start their sums from. NULL when it cannot be allocated. */
static REAL* FN(block_bias)(const REAL* b, ptrdiff_t Cout, ptrdiff_t B)
{
    const ptrdiff_t n = (Cout + B - 1) / B * B;
    REAL* bias = (REAL*)cc_alloc((size_t)n * sizeof(REAL) + 1);
    ptrdiff_t f;
    if (bias)
        for (f = 0; f < n; f++)
            bias[f] = (b && f < Cout) ? b[f] : 0;
    return bias;
}

/* One output row of n values from y (columns sc apart) into d: zero where the gate row
   (a ReLU's output; NULL: none) is <= 0, else copied. */
static inline void FN(store_row)(REAL* d, const REAL* y, ptrdiff_t sc, const REAL* gate,
                                 ptrdiff_t n)
{
    ptrdiff_t j;
    if (gate)
        for (j = 0; j < n; j++)
            d[j] = gate[j] <= 0 ? 0 : y[j * sc];
    else if (sc == 1)
        FN(copy_row)(d, y, n);
    else
        for (j = 0; j < n; j++)
            d[j] = y[j * sc];
}

/* dst[n][o][i][j] = layout-grid output at (i*steph, j*stepw), for Cout output channels
   computed from src (N, Cin, Hs, Ws) placed by (ah, aw) and the packed filters A (dst
   NULL: not stored, e.g. when only its pooling is wanted); the epilogue e as above.
   Work items are (chunk of samples, group of channel blocks), taken from a shared
   counter; each output value is one fwd_tile sum, the same whatever the items. */
static int FN(run_conv)(const REAL* src, ptrdiff_t N, ptrdiff_t Cin, ptrdiff_t Hs, ptrdiff_t Ws,
                        cc_axis ah, cc_axis aw, ptrdiff_t Cout, ptrdiff_t FH, ptrdiff_t FW,
                        const REAL* A, const REAL* bias, const FN(epilogue)* e,
                        REAL* dst, ptrdiff_t OHd, ptrdiff_t OWd, ptrdiff_t steph,
                        ptrdiff_t stepw, int n_threads)
{
    const REAL* gate = e->gate;
    const ptrdiff_t POH = OHd / 2, POW = OWd / 2;
    const ptrdiff_t T = FWD_NV * VL, Wr = aw.len, Lseg = ah.len * aw.len, K = Cin * FH * FW;
    const ptrdiff_t nfb = (Cout + FWD_FB - 1) / FWD_FB;
    const int nt = cc_threads(n_threads);
    /* chunks of about CC_CHUNK_POSITIONS, at least one per thread (any cut gives the
       same values) */
    const ptrdiff_t Smax = CC_CHUNK_POSITIONS / Lseg, Sthr = (N + nt - 1) / nt;
    const cc_plan p = cc_plan_make(N, Smax < Sthr ? Smax : Sthr, nfb, nt);
    /* room for the last sample's last tile */
    const ptrdiff_t S = p.S, G = p.G, Qr = cc_round_up(S * Lseg, T) + T;
    const ptrdiff_t row_len = cc_round_up(Qr + (FH - 1) * Wr + FW - 1 + VL, 16);
    ptrdiff_t item;
    ptrdiff_t* off = (ptrdiff_t*)cc_alloc((size_t)K * sizeof(ptrdiff_t) + 1);
    int failed = 0;
    if (!off)
        return CCONV_CONV_ENOMEM;
    cc_tap_offsets(off, K, K, FH, FW, row_len, Wr);
    CC_OMP(omp parallel num_threads(nt))
    {
        REAL* X = (REAL*)cc_alloc((size_t)(Cin * row_len) * sizeof(REAL));
        REAL* Y = (REAL*)cc_alloc((size_t)(FWD_FB * Qr) * sizeof(REAL));
        if (!X || !Y)
            cc_mark_failed(&failed);
        CC_OMP(omp for schedule(dynamic, 1))
        for (item = 0; item < p.items; item++) {
            ptrdiff_t c = item / G, g = item % G, n0 = c * S, ns = N - n0 < S ? N - n0 : S;
            /* nrun runs (Lseg apart) of nrow rows (rstep apart) of ntile tiles: the tiles
               of each sample's output rows as one flat run, or of the whole chunk's run if
               that is fewer */
            ptrdiff_t fb, t, n, ntile = ((OHd - 1) * steph * Wr + OWd * stepw + T - 1) / T;
            ptrdiff_t nrun = ns, nrow = 1, rstep = 0;
            /* or, unit-stride columns, the tiles of each output row: fewer where the
               row's tiles end at its last column and the flat run's would cover the
               margin columns (SimpleConvNet's conv1: 24 = 2 x 12 float64 positions
               a row, where the flat run takes 56 tiles of 12 for its 24 x 24 of 28) */
            const ptrdiff_t rowt = stepw == 1 ? (OWd + T - 1) / T : 0;
            if (ns * ntile >= (ns * Lseg + T - 1) / T) {
                nrun = 1;
                ntile = (ns * Lseg + T - 1) / T;
            }
            if (rowt > 0 && ns * OHd * rowt < nrun * ntile) {
                nrun = ns;
                nrow = OHd;
                rstep = steph * Wr;
                ntile = rowt;
            }
            if (!X || !Y)
                continue;
            FN(place)(src, Cin, Hs, Ws, n0, ns, ah, aw, row_len, X);
            for (fb = g * nfb / G; fb < (g + 1) * nfb / G; fb++) {
                ptrdiff_t f, i;
                /* the tiles of each sample's output rows only; a tile reaching into the
                   next sample computes its values exactly as that sample's own tile does */
                for (n = 0; n < nrun; n++)
                    for (i = 0; i < nrow; i++)
                        for (t = 0; t < ntile; t++) {
                            const ptrdiff_t q = n * Lseg + i * rstep + t * T;
                            FN(fwd_tile)(A + fb * K * FWD_FB, X + q, off, K, bias + fb * FWD_FB,
                                         e->relu, Y + q, Qr);
                        }
                for (f = fb * FWD_FB; f < Cout && f < (fb + 1) * FWD_FB; f++)
                    for (n = 0; n < ns; n++) {
                        if (e->pool_out) {
                            ptrdiff_t at = ((n0 + n) * Cout + f) * POH * POW;
                            FN(pool22)(Y + (f - fb * FWD_FB) * Qr + n * Lseg, steph * Wr, stepw,
                                       e->pool_out + at, e->pool_arg ? e->pool_arg + at : NULL,
                                       POH, POW, e->relu);
                        }
                        for (i = 0; dst && i < OHd; i++) {   /* (ReLU: done in fwd_tile) */
                            ptrdiff_t at = (((n0 + n) * Cout + f) * OHd + i) * OWd;
                            FN(store_row)(dst + at, Y + (f - fb * FWD_FB) * Qr + n * Lseg +
                                          i * steph * Wr, stepw, gate ? gate + at : NULL, OWd);
                        }
                    }
            }
        }
        cc_free(X);
        cc_free(Y);
    }
    cc_free(off);
    return failed ? CCONV_CONV_ENOMEM : 0;
}

/* dW = the chunks' partial sums pw[c][F * K] added in chunk order (inside a parallel
   region, after a barrier: each thread takes blocks of dW and runs down the chunks with
   unit-stride rows), so the sum does not depend on the thread count. */
static void FN(dw_sum_chunks)(REAL* dw, const REAL* pw, ptrdiff_t nch, ptrdiff_t FK)
{
    ptrdiff_t fk;
    CC_OMP(omp for schedule(static))
    for (fk = 0; fk < (FK + 255) / 256; fk++) {
        ptrdiff_t lo = fk * 256, hi = lo + 256 < FK ? lo + 256 : FK, c, e;
        memcpy(dw + lo, pw + lo, (size_t)(hi - lo) * sizeof(REAL));
        for (c = 1; c < nch; c++)
            for (e = lo; e < hi; e++)
                dw[e] += pw[c * FK + e];
    }
}

/* db = the chunks' partial sums pb[c][F], in chunk order. */
static void FN(db_sum_chunks)(REAL* db, const REAL* pb, ptrdiff_t nch, ptrdiff_t F)
{
    ptrdiff_t f, c;
    for (f = 0; f < F; f++) {
        REAL s = pb[f];
        for (c = 1; c < nch; c++)
            s += pb[c * F + f];
        db[f] = s;
    }
}

#include "winograd.h"
#include "cvec.h"

/* Winograd F(2x2, 3x3) in place of the direct kernel for this call? Only for 3x3
   stride-1 convolutions with 16 or more channels in and out, padding up to 2 and finite
   filters, as cconv_conv_winograd() says (off; auto: the shapes where it measured
   faster, CC_WINO_AUTO; on: wherever it applies). */
static int FN(wino_wanted)(const cconv_conv_shape* g, const REAL* w, ptrdiff_t pad_h,
                           ptrdiff_t pad_w, ptrdiff_t cin, ptrdiff_t cout)
{
    const int mode = cconv_conv_winograd();
    ptrdiff_t i, n = g->F * g->C * 9;
    int bad = 0;
    if (mode == CCONV_WINOGRAD_OFF || g->FH != 3 || g->FW != 3 || g->sh != 1 || g->sw != 1 ||
        pad_h < 0 || pad_w < 0 || pad_h > 2 || pad_w > 2 || cin < 16 || cout < 16)
        return 0;
    if (mode == CCONV_WINOGRAD_AUTO && !CC_WINO_AUTO(cin, cout, (int)sizeof(REAL)))
        return 0;
    for (i = 0; i < n; i++)
        bad |= (w[i] - w[i]) != 0;
    return !bad;
}

/* The call by Winograd: 0 done, 1 not (the input is not finite: run the direct kernel),
   or CCONV_CONV_ENOMEM. flip: the input gradient. */
static int FN(wino_call)(const REAL* src, ptrdiff_t N, ptrdiff_t Cin, ptrdiff_t Hs,
                         ptrdiff_t Ws, ptrdiff_t ph, ptrdiff_t pw, const cconv_conv_shape* g,
                         const REAL* w, int flip, const REAL* b, const FN(epilogue)* e,
                         REAL* dst, ptrdiff_t OHd, ptrdiff_t OWd, int n_threads)
{
    ptrdiff_t nfb = 0, Cout = flip ? g->C : g->F;
    REAL* U = FN(wino_filters)(w, g->F, g->C, flip, &nfb);
    REAL* bias = FN(block_bias)(b, Cout, FWD_FB);
    int rc = CCONV_CONV_ENOMEM;
    if (U && bias) {
        rc = FN(wino_conv)(src, N, Cin, Hs, Ws, ph, pw, Cout, U, nfb, bias, e, dst, OHd, OWd,
                           n_threads);
    }
    cc_free(U);
    cc_free(bias);
    return rc;
}

/* run_conv with the filters packed (flip: for the input gradient) and the bias b (NULL:
   none) padded to whole channel blocks. */
static int FN(packed_conv)(const REAL* src, ptrdiff_t N, ptrdiff_t Cin, ptrdiff_t Hs,
                           ptrdiff_t Ws, cc_axis ah, cc_axis aw, const cconv_conv_shape* g,
                           const REAL* w, int flip, const REAL* b, const FN(epilogue)* e,
                           REAL* dst, ptrdiff_t OHd, ptrdiff_t OWd, ptrdiff_t steph,
                           ptrdiff_t stepw, int n_threads)
{
    ptrdiff_t Cout = flip ? g->C : g->F;
    REAL* A = FN(pack)(w, g->F, g->C, g->FH, g->FW, flip, FWD_FB);
    REAL* bias = FN(block_bias)(b, Cout, FWD_FB);
    int rc = CCONV_CONV_ENOMEM;
    if (A && bias) {
        rc = FN(run_conv)(src, N, Cin, Hs, Ws, ah, aw, Cout, g->FH, g->FW, A, bias, e, dst,
                          OHd, OWd, steph, stepw, n_threads);
    }
    cc_free(A);
    cc_free(bias);
    return rc;
}

/* The kernel a pass (CCONV_PASS_*) runs. The forward and the input gradient: the
   channel-vector kernel where it is asked for everywhere (cvec on); else Winograd where
   it is wanted (its auto choice measured ahead of the channel-vector kernel's); else the
   channel-vector kernel where it is wanted; else the direct kernel. The weight gradient:
   the channel-vector layout wherever that kernel would take the forward, else the flat
   layout. */
int FN(path)(const cconv_conv_shape* g, const REAL* w, int pass)
{
    const int input_gradient = pass == CCONV_PASS_DX;
    const ptrdiff_t ph = input_gradient ? g->FH - 1 - g->ph : g->ph;
    const ptrdiff_t pw = input_gradient ? g->FW - 1 - g->pw : g->pw;
    const ptrdiff_t cin = input_gradient ? g->F : g->C, cout = input_gradient ? g->C : g->F;
    const ptrdiff_t OH = input_gradient ? g->H : g->OH, OW = input_gradient ? g->W : g->OW;
    const int cv = FN(cv_wanted)(g, ph, pw, cin, cout, OH, OW);
    if (pass == CCONV_PASS_DW)
        return cv && g->N * g->OH * g->OW > 0 ? CCONV_PATH_CVEC : CCONV_PATH_DIRECT;
    if (cv && cconv_conv_cvec() == CCONV_CVEC_ON)
        return CCONV_PATH_CVEC;
    if (input_gradient ? FN(wino_wanted)(g, w, 2 - g->ph, 2 - g->pw, g->F, g->C)
                       : FN(wino_wanted)(g, w, g->ph, g->pw, g->C, g->F))
        return CCONV_PATH_WINOGRAD;
    return cv ? CCONV_PATH_CVEC : CCONV_PATH_DIRECT;
}

int FN(forward)(const cconv_conv_shape* g, const REAL* x, const REAL* w, const REAL* b,
                int relu, REAL* y, REAL* pool_out, uint16_t* pool_arg, int n_threads)
{
    /* stride-1 grid up to the last row/column a strided output needs */
    cc_axis ah = cc_axis_make(g->H, 1, g->ph, (g->OH - 1) * g->sh + 1, g->FH);
    cc_axis aw = cc_axis_make(g->W, 1, g->pw, (g->OW - 1) * g->sw + 1, g->FW);
    FN(epilogue) e;
    int path;
    e.relu = relu;
    e.gate = NULL;
    e.pool_out = pool_out;
    e.pool_arg = pool_arg;
    if (g->N * g->F * g->OH * g->OW == 0)
        return 0;
    path = FN(path)(g, w, CCONV_PASS_FORWARD);
    if (path == CCONV_PATH_CVEC)
        return FN(cv_call)(x, g->N, g->C, g->H, g->W, g->ph, g->pw, g, w, 0, b, &e, y, g->OH,
                           g->OW, n_threads);
    if (path == CCONV_PATH_WINOGRAD) {
        int rc = FN(wino_call)(x, g->N, g->C, g->H, g->W, g->ph, g->pw, g, w, 0, b, &e, y,
                               g->OH, g->OW, n_threads);
        if (rc != 1)
            return rc;
    }
    return FN(packed_conv)(x, g->N, g->C, g->H, g->W, ah, aw, g, w, 0, b, &e, y, g->OH, g->OW,
                           g->sh, g->sw, n_threads);
}

int FN(backward_data)(const cconv_conv_shape* g, const REAL* dout, const REAL* w,
                      const REAL* gate, REAL* dx, int n_threads)
{
    /* dx is the stride-1 correlation of dout, dilated by the stride and padded by
       filter - 1 - pad, with the filters turned 180 degrees and their channels swapped;
       gate (unless NULL, of dx's shape): dx is 0 where gate <= 0, the backward of the
       ReLU whose output gate is (NaN passes) */
    cc_axis ah = cc_axis_make(g->OH, g->sh, g->FH - 1 - g->ph, g->H, g->FH);
    cc_axis aw = cc_axis_make(g->OW, g->sw, g->FW - 1 - g->pw, g->W, g->FW);
    FN(epilogue) e;
    int path;
    e.relu = 0;
    e.gate = gate;
    e.pool_out = NULL;
    e.pool_arg = NULL;
    if (g->N * g->C * g->H * g->W == 0)
        return 0;
    path = FN(path)(g, w, CCONV_PASS_DX);
    if (path == CCONV_PATH_CVEC)
        return FN(cv_call)(dout, g->N, g->F, g->OH, g->OW, g->FH - 1 - g->ph, g->FW - 1 - g->pw,
                           g, w, 1, NULL, &e, dx, g->H, g->W, n_threads);
    if (path == CCONV_PATH_WINOGRAD) {
        int rc = FN(wino_call)(dout, g->N, g->F, g->OH, g->OW, 2 - g->ph, 2 - g->pw, g, w, 1,
                               NULL, &e, dx, g->H, g->W, n_threads);
        if (rc != 1)
            return rc;
    }
    return FN(packed_conv)(dout, g->N, g->F, g->OH, g->OW, ah, aw, g, w, 1, NULL, &e, dx, g->H,
                           g->W, 1, 1, n_threads);
}

/* dW[f][k] = sum over (n, output position) of dout * the tap's input value. The batch is
   cut into chunks whose size depends on the shapes alone; each chunk's partial sums are
   its own (a work item is a chunk and a group of filter blocks, each (f, k) made by one
   dw_tile), and the chunks are added in chunk order: the result is the same for any
   thread count. */
#if VBYTES > 0 && defined(__GNUC__) && !defined(__clang__)
/* Windows pj.. of one row of unpool_row, B/sizeof(REAL) at a time while they fit: the
   gradients masked by the argmax's two candidates of this row (lane masks), the even
   and odd columns interleaved by shuffles. Returns where it stopped. Defined for every
   vector width up to VBYTES (12 windows: 8 + 4). LD(k, p, T) widens the argmax codes
   (k: loaded by memcpy from p) to the lanes T: GCC's convertvector of uint16 to 64-bit
   lanes goes through scalar inserts, so the AVX2 and AVX-512 widths use the ISA's
   zero-extending loads. */
#define CC_UNPOOL_LD_ANY(k, p, T) __builtin_convertvector(k, T)
#if defined(__AVX2__)
#define CC_UNPOOL_LD_32(k, p, T)                                                          \
    ((T)(sizeof(REAL) == 4 ? _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)(p)))  \
                           : _mm256_cvtepu16_epi64(_mm_loadl_epi64((const __m128i*)(p)))))
#else
#define CC_UNPOOL_LD_32 CC_UNPOOL_LD_ANY
#endif
#if defined(__AVX512F__)
#define CC_UNPOOL_LD_64(k, p, T)                                                          \
    ((T)(sizeof(REAL) == 4                                                                \
             ? _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)(p)))             \
             : _mm512_cvtepu16_epi64(_mm_loadu_si128((const __m128i*)(p)))))
#else
#define CC_UNPOOL_LD_64 CC_UNPOOL_LD_ANY
#endif
#define CC_DEF_UNPOOL(NAME, B, LD)                                                        \
typedef REAL FN(NAME##_v) __attribute__((vector_size(B)));                                \
typedef REAL FN(NAME##_u) __attribute__((vector_size(B), aligned(sizeof(REAL)), may_alias)); \
typedef CC_IREAL FN(NAME##_i) __attribute__((vector_size(B)));                            \
typedef uint16_t FN(NAME##_k) __attribute__((vector_size(B / sizeof(REAL) * 2)));         \
static inline ptrdiff_t FN(NAME)(REAL* CC_RESTRICT dr, const REAL* CC_RESTRICT dp,        \
                                 const REAL* CC_RESTRICT gt, const uint16_t* CC_RESTRICT a, \
                                 int kh, ptrdiff_t pj, ptrdiff_t POW)                      \
{                                                                                         \
    const int W = (int)(B / sizeof(REAL));                                                \
    FN(NAME##_i) lo, hi;                                                                  \
    int l;                                                                                \
    for (l = 0; l < W; l++) {                                                             \
        lo[l] = l / 2 + (l % 2) * W;                                                      \
        hi[l] = W / 2 + l / 2 + (l % 2) * W;                                              \
    }                                                                                     \
    for (; pj + W <= POW; pj += W) {                                                      \
        FN(NAME##_v) v = *(const FN(NAME##_u)*)(dp + pj), e, od;                          \
        FN(NAME##_k) a16;                                                                 \
        FN(NAME##_i) ai;                                                                  \
        memcpy(&a16, a + pj, sizeof a16);                                                 \
        ai = LD(a16, a + pj, FN(NAME##_i));                                               \
        if (gt)                                                                           \
            v = (FN(NAME##_v))((FN(NAME##_i))v &                                          \
                               ~(FN(NAME##_i))(*(const FN(NAME##_u)*)(gt + pj) <= 0));    \
        e = (FN(NAME##_v))((FN(NAME##_i))v & (ai == kh));                                 \
        od = (FN(NAME##_v))((FN(NAME##_i))v & (ai == kh + 1));                            \
        *(FN(NAME##_u)*)(dr + 2 * pj) = __builtin_shuffle(e, od, lo);                     \
        *(FN(NAME##_u)*)(dr + 2 * pj + W) = __builtin_shuffle(e, od, hi);                 \
    }                                                                                     \
    return pj;                                                                            \
}
#if VBYTES >= 64
CC_DEF_UNPOOL(unpool_w64, 64, CC_UNPOOL_LD_64)
#endif
#if VBYTES >= 32
CC_DEF_UNPOOL(unpool_w32, 32, CC_UNPOOL_LD_32)
#endif
CC_DEF_UNPOOL(unpool_w16, 16, CC_UNPOOL_LD_ANY)
#undef CC_DEF_UNPOOL
#undef CC_UNPOOL_LD_ANY
#undef CC_UNPOOL_LD_32
#undef CC_UNPOOL_LD_64
#endif

/* Row i of the output gradient that up stands for (see cconv_unpool), OW values into dr:
   window pj's gradient at its argmax, zero elsewhere and under a gate <= 0; whole
   vectors of windows of every width, then one by one. */
static inline void FN(unpool_row)(REAL* CC_RESTRICT dr, const cconv_unpool* up, ptrdiff_t at,
                                  ptrdiff_t i, ptrdiff_t POH, ptrdiff_t POW, ptrdiff_t OW)
{
    ptrdiff_t j = 0, pj = 0;
    if (i < 2 * POH) {
        const ptrdiff_t o = at + (i / 2) * POW;
        const REAL* CC_RESTRICT dp = (const REAL*)up->dpool + o;
        const REAL* CC_RESTRICT gt = up->gate ? (const REAL*)up->gate + o : NULL;
        const uint16_t* CC_RESTRICT a = up->arg + o;
        const int kh = (int)(i % 2) * 2;
#if VBYTES > 0 && defined(__GNUC__) && !defined(__clang__)
#if VBYTES >= 64
        pj = FN(unpool_w64)(dr, dp, gt, a, kh, pj, POW);
#endif
#if VBYTES >= 32
        pj = FN(unpool_w32)(dr, dp, gt, a, kh, pj, POW);
#endif
        pj = FN(unpool_w16)(dr, dp, gt, a, kh, pj, POW);
#endif
        for (; pj < POW; pj++) {
            const REAL v = (gt && gt[pj] <= 0) ? (REAL)0 : dp[pj];
            dr[2 * pj] = a[pj] == kh ? v : (REAL)0;
            dr[2 * pj + 1] = a[pj] == kh + 1 ? v : (REAL)0;
        }
        j = 2 * POW;
    }
    for (; j < OW; j++)
        dr[j] = 0;
}

int FN(backward_filter)(const cconv_conv_shape* g, const REAL* x, const REAL* dout,
                        const cconv_unpool* up, REAL* dw, REAL* db, int n_threads)
{
    const ptrdiff_t N = g->N, C = g->C, F = g->F, FH = g->FH, FW = g->FW, OH = g->OH, OW = g->OW;
    const ptrdiff_t K = C * FH * FW, Kp = cc_round_up(K, DW_KB), Fp = cc_round_up(F, DW_FB);
    const ptrdiff_t nfb = Fp / DW_FB, P = OH * OW;
    const int nt = cc_threads(n_threads);
    cc_axis ah = cc_axis_make(g->H, 1, g->ph, (OH - 1) * g->sh + 1, FH);
    cc_axis aw = cc_axis_make(g->W, 1, g->pw, (OW - 1) * g->sw + 1, FW);
    const ptrdiff_t Wr = aw.len, Lseg = ah.len * aw.len;
    /* chunks of about CC_CHUNK_POSITIONS and at most N/8 samples: the shapes alone fix them */
    const ptrdiff_t Smax = CC_DW_CHUNK_POSITIONS / Lseg, S8 = (N + 7) / 8;
    const cc_plan p = cc_plan_make(N, Smax < S8 ? Smax : S8, nfb, nt);
    const ptrdiff_t S = p.S, G = p.G, nch = p.nch, Qr = cc_round_up(S * Lseg, VL);
    const ptrdiff_t row_len = cc_round_up(Qr + (FH - 1) * Wr + FW - 1 + VL, 16);
    ptrdiff_t item;
    ptrdiff_t* off;
    REAL *pw, *pb;
    int failed = 0;
    if (F * K == 0)
        return 0;
    if (FN(path)(g, NULL, CCONV_PASS_DW) == CCONV_PATH_CVEC)
        return up ? CCONV_CONV_EPATH : FN(cv_dw)(g, x, dout, dw, db, n_threads);
    if (up && (g->sh != 1 || g->sw != 1))   /* (stride 1 only: rows built whole) */
        return CCONV_CONV_EPATH;
    if (N * P == 0) {
        memset(dw, 0, (size_t)(F * K) * sizeof(REAL));
        if (db)
            memset(db, 0, (size_t)F * sizeof(REAL));
        return 0;
    }
    off = (ptrdiff_t*)cc_alloc((size_t)Kp * sizeof(ptrdiff_t));
    pw = (REAL*)cc_alloc((size_t)(nch * F * K) * sizeof(REAL));
    pb = (REAL*)cc_alloc((size_t)(nch * F) * sizeof(REAL));
    if (!off || !pw || !pb) {
        cc_free(off);
        cc_free(pw);
        cc_free(pb);
        return CCONV_CONV_ENOMEM;
    }
    cc_tap_offsets(off, K, Kp, FH, FW, row_len, Wr);
    CC_OMP(omp parallel num_threads(nt))
    {
        REAL* X = (REAL*)cc_alloc((size_t)(C * row_len) * sizeof(REAL));
        REAL* D = (REAL*)cc_alloc((size_t)(Fp * Qr) * sizeof(REAL));
        REAL tile[DW_FB * DW_KB];
        if (!X || !D)
            cc_mark_failed(&failed);
        CC_OMP(omp for schedule(dynamic, 1))
        for (item = 0; item < p.items; item++) {
            ptrdiff_t c = item / G, gi = item % G, n0 = c * S, ns = N - n0 < S ? N - n0 : S;
            ptrdiff_t fb0 = gi * nfb / G, fb1 = (gi + 1) * nfb / G, Q = cc_round_up(ns * Lseg, VL);
            /* each sample's rows that hold gradients, unless rounding them up to whole
               vectors would reach into the next sample: then the chunk as one run */
            ptrdiff_t seg_len = cc_round_up(((OH - 1) * g->sh + 1) * Wr, VL);
            const int unit = g->sh == 1 && g->sw == 1;   /* stride 1: rows built whole */
            ptrdiff_t segs = ns, seg_stride = Lseg, nrow = 1, row_stride = 0;
            /* or each gradient row alone, where the rows' margins are more than its
               rounding to whole vectors (SimpleConvNet's conv1: 24 of 28 a row) */
            const ptrdiff_t row_seg = cc_round_up((OW - 1) * g->sw + 1, VL);
            ptrdiff_t fb, kb, f, n, i, j;
            if (seg_len > Lseg) {
                segs = 1;
                seg_len = Q;
            } else if (row_seg <= Wr && OH * row_seg < seg_len) {
                nrow = OH;
                row_stride = g->sh * Wr;
                seg_len = row_seg;
            }
            if (!X || !D)
                continue;
            FN(place)(x, C, g->H, g->W, n0, ns, ah, aw, row_len, X);
            if (!unit)   /* (stride 1: every cell of D is written below) */
                memset(D + fb0 * DW_FB * Qr, 0,
                       (size_t)((fb1 - fb0) * DW_FB * Qr) * sizeof(REAL));
            for (f = fb0 * DW_FB; f < F && f < fb1 * DW_FB; f++) {
                VEC s0 = SPLAT(0), s1 = SPLAT(0), s2 = SPLAT(0), s3 = SPLAT(0);
                ptrdiff_t q;
                for (n = 0; n < ns; n++) {
                    const REAL* src = up ? NULL : dout + ((n0 + n) * F + f) * P;
                    REAL* d = D + f * Qr + n * Lseg;
                    for (i = 0; i < OH; i++) {
                        REAL* dr = d + i * g->sh * Wr;
                        if (unit) {   /* the row, then the gap: zeros */
                            if (up)   /* (made from the pooling's gradient) */
                                FN(unpool_row)(dr, up, ((n0 + n) * F + f) * (OH / 2) * (OW / 2),
                                               i, OH / 2, OW / 2, OW);
                            else
                                FN(copy_row)(dr, src + i * OW, OW);
                            for (j = OW; j < Wr; j++)
                                dr[j] = 0;
                        } else
                            for (j = 0; j < OW; j++)
                                dr[j * g->sw] = src[i * OW + j];
                    }
                    if (unit)   /* the sample's rows past OH */
                        memset(d + OH * Wr, 0, (size_t)(Lseg - OH * Wr) * sizeof(REAL));
                }
                if (unit)   /* the last vector's reach past the chunk */
                    memset(D + f * Qr + ns * Lseg, 0, (size_t)(Q - ns * Lseg) * sizeof(REAL));
                /* db from the row just built (zeros elsewhere): four chains of lanes (the
                   adds' latency), then a fixed tree */
                for (q = 0; q + 4 * VL <= Q; q += 4 * VL) {
                    s0 += LOADU(D + f * Qr + q);
                    s1 += LOADU(D + f * Qr + q + VL);
                    s2 += LOADU(D + f * Qr + q + 2 * VL);
                    s3 += LOADU(D + f * Qr + q + 3 * VL);
                }
                for (; q < Q; q += VL)
                    s0 += LOADU(D + f * Qr + q);
                pb[c * F + f] = FN(hsum)((s0 + s1) + (s2 + s3));
            }
            for (fb = fb0; fb < fb1; fb++)
                for (kb = 0; kb < Kp; kb += DW_KB) {
                    FN(dw_tile)(D + fb * DW_FB * Qr, Qr, X, off + kb, segs, seg_stride, nrow,
                                row_stride, seg_len, tile);
                    for (f = 0; f < DW_FB && fb * DW_FB + f < F; f++)
                        for (j = 0; j < DW_KB && kb + j < K; j++)
                            pw[(c * F + fb * DW_FB + f) * K + kb + j] = tile[f * DW_KB + j];
                }
        }
        FN(dw_sum_chunks)(dw, pw, nch, F * K);   /* (after the barrier ending phase one) */
        cc_free(X);
        cc_free(D);
    }
    if (db)
        FN(db_sum_chunks)(db, pb, nch, F);
    cc_free(off);
    cc_free(pw);
    cc_free(pb);
    return failed ? CCONV_CONV_ENOMEM : 0;
}

/* Y[f][0 .. nv*VL) = sum_k A_f[k*acs] * X[off[k] + ...] for FWD_FB rows A_f of A read
   where they lie (a broadcast costs one load wherever its value is), nv constant per
   caller (the loops unroll and the accumulators stay in registers). */
static inline __attribute__((always_inline)) void FN(mm_tile_n)(
    const REAL* const* CC_RESTRICT arow, ptrdiff_t acs, const REAL* CC_RESTRICT X,
    const ptrdiff_t* CC_RESTRICT off, ptrdiff_t K, int first, REAL* CC_RESTRICT Y,
    ptrdiff_t ldy, const int nv)
{
    VEC acc[FWD_FB][FWD_NV];
    const REAL* ap[FWD_FB];
    ptrdiff_t k, ka;
    int f, v;
    CC_UNROLL for (f = 0; f < FWD_FB; f++) {
        ap[f] = arow[f];
        CC_UNROLL for (v = 0; v < nv; v++)
            acc[f][v] = first ? SPLAT(0) : (VEC)LOADU(Y + f * ldy + v * VL);
    }
    for (k = 0, ka = 0; k < K; k++, ka += acs) {
        const REAL* xp = X + off[k];
        VEC xv[FWD_NV];
        CC_UNROLL for (v = 0; v < nv; v++)
            xv[v] = LOADU(xp + v * VL);
        CC_UNROLL for (f = 0; f < FWD_FB; f++) {
            REAL af = ap[f][ka];
            CC_UNROLL for (v = 0; v < nv; v++)
                acc[f][v] += af * xv[v];
        }
    }
    CC_UNROLL for (f = 0; f < FWD_FB; f++) {
        CC_UNROLL for (v = 0; v < nv; v++)
            STOREU(Y + f * ldy + v * VL, acc[f][v]);
    }
}

/* Y (+)= the product over K taps (first: from zeros; else continuing Y's sums in order). */
static CC_NOINLINE void FN(mm_tile)(const REAL* const* arow, ptrdiff_t acs, const REAL* X,
                                    const ptrdiff_t* off, ptrdiff_t K, int first, REAL* Y,
                                    ptrdiff_t ldy)
{
    FN(mm_tile_n)(arow, acs, X, off, K, first, Y, ldy, FWD_NV);
}

static CC_NOINLINE void FN(mm_tile1)(const REAL* const* arow, ptrdiff_t acs, const REAL* X,
                                     const ptrdiff_t* off, ptrdiff_t K, int first, REAL* Y,
                                     ptrdiff_t ldy)
{
    FN(mm_tile_n)(arow, acs, X, off, K, first, Y, ldy, 1);
}

/* mm_tile1 for 2 * FWD_FB rows (two row blocks whose sums lie ldy apart throughout):
   twice the independent chains of multiply-adds for the one-vector panel, whose
   FWD_FB chains alone wait on the adds' latency. The same sums in the same order. */
static CC_NOINLINE void FN(mm_tile1_2)(const REAL* const* arow, ptrdiff_t acs, const REAL* X,
                                       const ptrdiff_t* CC_RESTRICT off, ptrdiff_t K,
                                       int first, REAL* CC_RESTRICT Y, ptrdiff_t ldy)
{
    VEC acc[2 * FWD_FB];
    const REAL* ap[2 * FWD_FB];
    ptrdiff_t k, ka;
    int f;
    CC_UNROLL for (f = 0; f < 2 * FWD_FB; f++) {
        ap[f] = arow[f];
        acc[f] = first ? SPLAT(0) : (VEC)LOADU(Y + f * ldy);
    }
    for (k = 0, ka = 0; k < K; k++, ka += acs) {
        const VEC xv = LOADU(X + off[k]);
        CC_UNROLL for (f = 0; f < 2 * FWD_FB; f++)
            acc[f] += ap[f][ka] * xv;
    }
    CC_UNROLL for (f = 0; f < 2 * FWD_FB; f++)
        STOREU(Y + f * ldy, acc[f]);
}

#if defined(__GNUC__) && !defined(__clang__)
typedef REAL FN(q4) __attribute__((vector_size(4 * sizeof(REAL))));
typedef REAL FN(q4u) __attribute__((vector_size(4 * sizeof(REAL)), aligned(sizeof(REAL)),
                                    may_alias));
typedef CC_IREAL FN(q4i) __attribute__((vector_size(4 * sizeof(REAL))));
/* Columns 0 .. n of a block of 4 rows of sums (Yb, rows T apart) into a C stored
   transposed (column j's 4 values contiguous at cc + j * ccs), 4 columns at a time: a
   4 x 4 transpose by shuffles, then the scalar epilogue's operations lane by lane
   ((y + bias_j) + bias_i, then the ReLU): the same bits. Returns where it stopped. */
static inline ptrdiff_t FN(mm_store_t4)(REAL* cc, ptrdiff_t ccs, const REAL* Yb, ptrdiff_t T,
                                        ptrdiff_t n, const REAL* bias_i, const REAL* bias_j,
                                        int relu)
{
    const FN(q4i) lo = {0, 4, 1, 5}, hi = {2, 6, 3, 7}, l2 = {0, 1, 4, 5}, h2 = {2, 3, 6, 7};
    FN(q4) bi = {0, 0, 0, 0};
    ptrdiff_t jj, q;
    if (bias_i)
        bi = *(const FN(q4u)*)bias_i;
    for (jj = 0; jj + 4 <= n; jj += 4) {
        const FN(q4) r0 = *(const FN(q4u)*)(Yb + jj), r1 = *(const FN(q4u)*)(Yb + T + jj);
        const FN(q4) r2 = *(const FN(q4u)*)(Yb + 2 * T + jj);
        const FN(q4) r3 = *(const FN(q4u)*)(Yb + 3 * T + jj);
        const FN(q4) t0 = __builtin_shuffle(r0, r1, lo), t1 = __builtin_shuffle(r0, r1, hi);
        const FN(q4) t2 = __builtin_shuffle(r2, r3, lo), t3 = __builtin_shuffle(r2, r3, hi);
        FN(q4) col[4];
        col[0] = __builtin_shuffle(t0, t2, l2);
        col[1] = __builtin_shuffle(t0, t2, h2);
        col[2] = __builtin_shuffle(t1, t3, l2);
        col[3] = __builtin_shuffle(t1, t3, h2);
        for (q = 0; q < 4; q++) {
            FN(q4) v = (col[q] + (bias_j ? bias_j[jj + q] : (REAL)0)) + bi;
            if (relu)
                v = (FN(q4))((FN(q4i))v & ~(FN(q4i))(v <= 0));
            *(FN(q4u)*)(cc + (jj + q) * ccs) = v;
        }
    }
    return jj;
}
#endif

/* C = A @ B for A (M, K), B (K, N) and C (M, N), each by element strides, plus
   bias_i[i] (per row, unless NULL) and bias_j[j] (per column, unless NULL), then
   max(., 0) if relu (RELU's: 0 where <= 0, NaN passes) as the values are stored. A's rows
   are read in place; B's column panels too where B's rows are contiguous (bcs == 1),
   else they are packed, like the last, narrower panel, by all threads. Work items (a
   column panel, one block of FWD_FB rows or, for a transposed C, a group of them; for a
   short k, a panel and all the rows, or a row group and all the panels, see below) come
   from a shared counter, consecutive items sharing their panel. Every C value is one
   tile's sum over all of k in order: the
   result does not depend on the thread count. */
static int FN(mm)(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const REAL* a, ptrdiff_t ars,
                  ptrdiff_t acs, const REAL* b, ptrdiff_t brs, ptrdiff_t bcs,
                  const REAL* bias_i, const REAL* bias_j, int relu, REAL* c, ptrdiff_t crs,
                  ptrdiff_t ccs, int n_threads)
{
    const ptrdiff_t T = FWD_NV * VL, nib = (M + FWD_FB - 1) / FWD_FB;
    /* whole panels, then one vector wide if what is left fits in one vector */
    const ptrdiff_t nfull = N / T + (N % T > VL ? 1 : 0), tail = N - nfull * T > 0;
    const ptrdiff_t njt = nfull + tail;
    /* panels read in place: the whole ones lying inside B, when its rows are contiguous */
    const ptrdiff_t ninplace = CC_MM_IN_PLACE && bcs == 1 ? N / T : 0, npack = njt - ninplace;
    const int nt = cc_threads(n_threads);
    /* a long k runs CC_MM_KBLOCK at a time over all of an item's row blocks, so that the
       panel's block stays in cache while they pass (each sum continued in order: the
       same bits); the item then takes as many row blocks as leave two items a thread,
       at most 16 (the sums of a block wait in a thread's buffer) */
    const ptrdiff_t KB = K > CC_MM_KBLOCK ? CC_MM_KBLOCK : K;
    const ptrdiff_t per_panel = (2 * nt + njt - 1) / njt;
    const ptrdiff_t ibk = (nib + per_panel - 1) / per_panel;
    const ptrdiff_t IBK = K > KB ? (ibk < 16 ? ibk : 16) : 1;
    /* row blocks an item takes: IBK, or, when C is stored transposed (its rows lie side
       by side in memory), enough that two threads rarely write the same cache line */
    const ptrdiff_t IBG0 = ccs == 1 || IBK > 8 ? IBK : 8;
    /* a short k (one block): the bigger operand is read once, while it leaves two items
       a thread. B's panels the bigger (M < N: dW = x.T @ dout, transposed): an item is
       a panel and all the row blocks (at most 64); A's rows (M > N: dx = dout @ W.T,
       transposed): an item is a group of row blocks and all the panels, the group's
       rows staying in cache while the panels pass. (Else consecutive items share their
       panel, and A's rows are read once per panel.) */
    const int whole_panels = K <= KB && M < N && nib <= 64 && njt >= 2 * nt;
    const ptrdiff_t IBG = whole_panels ? nib : IBG0, ngr = (nib + IBG - 1) / IBG;
    const int rows_outer = K <= KB && M > N && ngr >= 2 * nt;
    REAL* Bp;
    ptrdiff_t *off, *offp, *off1;
    ptrdiff_t i;
    int failed = 0;
    Bp = (REAL*)cc_alloc((size_t)(K * npack * T) * sizeof(REAL) + 1);
    off = (ptrdiff_t*)cc_alloc((size_t)(3 * K) * sizeof(ptrdiff_t) + 1);
    if (!Bp || !off) {
        cc_free(Bp);
        cc_free(off);
        return CCONV_CONV_ENOMEM;
    }
    offp = off + K;
    off1 = off + 2 * K;
    for (i = 0; i < K; i++) {
        off[i] = i * brs;    /* a panel in B itself */
        offp[i] = i * T;     /* a packed whole panel */
        off1[i] = i * VL;    /* the packed narrow one */
    }
    CC_OMP(omp parallel num_threads(nt))
    {
        REAL* Y = (REAL*)cc_alloc((size_t)(IBG * FWD_FB * T) * sizeof(REAL));
        ptrdiff_t it, k;
        if (!Y)
            cc_mark_failed(&failed);
        if (npack > 0) {
            CC_OMP(omp for schedule(static))
            for (k = 0; k < K; k++) {
                ptrdiff_t jt, jj;
                for (jt = ninplace; jt < njt; jt++) {   /* packed panel: K rows of its width */
                    ptrdiff_t j0 = jt * T, w = jt < nfull ? T : VL;
                    REAL* bp = Bp + (jt - ninplace) * T * K + k * w;
                    const REAL* src = b + k * brs + j0 * bcs;
                    ptrdiff_t n = N - j0 < w ? N - j0 : w;
                    if (bcs == 1 && n == T) {   /* a whole panel row: whole vectors */
                        int v;
                        CC_UNROLL for (v = 0; v < FWD_NV; v++)
                            STOREU(bp + v * VL, LOADU(src + v * VL));
                    } else if (bcs == 1)
                        memcpy(bp, src, (size_t)n * sizeof(REAL));
                    else
                        for (jj = 0; jj < n; jj++)
                            bp[jj] = src[jj * bcs];
                    for (jj = n; jj < w; jj++)
                        bp[jj] = 0;
                }
            }
        }
        CC_OMP(omp for schedule(dynamic, 1))
        for (it = 0; it < (rows_outer ? ngr : ngr * njt); it++) {
            const ptrdiff_t gr = rows_outer ? it : it % ngr;
            const ptrdiff_t jt0 = rows_outer ? 0 : it / ngr, jt1 = rows_outer ? njt : jt0 + 1;
            const ptrdiff_t ib0 = gr * IBG, ib1 = nib < ib0 + IBG ? nib : ib0 + IBG;
            ptrdiff_t jt;
            if (!Y)
                continue;
            for (jt = jt0; jt < jt1; jt++) {
                const ptrdiff_t j0 = jt * T, w = jt < nfull ? T : VL;
                ptrdiff_t n = N - j0 < w ? N - j0 : w, jj, ib, k0;
                for (k0 = 0; k0 < K; k0 += KB)
                    for (ib = ib0; ib < ib1; ib++) {
                        const ptrdiff_t r0 = ib * FWD_FB, nr = M - r0 < FWD_FB ? M - r0 : FWD_FB;
                        const ptrdiff_t kn = K - k0 < KB ? K - k0 : KB;
                        REAL* Yb = Y + (ib - ib0) * FWD_FB * T;
                        const REAL* arow[2 * FWD_FB];
                        int f;
                        /* rows past M repeat the last (dropped) */
                        for (f = 0; f < FWD_FB; f++)
                            arow[f] = a + (r0 + (f < nr ? f : nr - 1)) * ars + k0 * acs;
                        /* the narrow panel: row blocks in pairs */
                        if (jt >= nfull && ib + 1 < ib1) {
                            const ptrdiff_t r1 = r0 + FWD_FB, n1 = M - r1 < FWD_FB ? M - r1 : FWD_FB;
                            for (f = 0; f < FWD_FB; f++)
                                arow[FWD_FB + f] =
                                    a + (r1 + (f < n1 ? f : n1 - 1)) * ars + k0 * acs;
                            FN(mm_tile1_2)(arow, acs, Bp + (jt - ninplace) * T * K, off1 + k0, kn,
                                           k0 == 0, Yb, T);
                            ib++;
                        } else if (jt < ninplace)
                            FN(mm_tile)(arow, acs, b + j0, off + k0, kn, k0 == 0, Yb, T);
                        else if (jt < nfull)
                            FN(mm_tile)(arow, acs, Bp + (jt - ninplace) * T * K, offp + k0, kn,
                                        k0 == 0, Yb, T);
                        else
                            FN(mm_tile1)(arow, acs, Bp + (jt - ninplace) * T * K, off1 + k0, kn,
                                         k0 == 0, Yb, T);
                    }
                for (ib = ib0; ib < ib1; ib++) {
                    const ptrdiff_t r0 = ib * FWD_FB, nr = M - r0 < FWD_FB ? M - r0 : FWD_FB;
                    const REAL* Yb = Y + (ib - ib0) * FWD_FB * T;   /* the block's sums */
                    int f;
                    if (ccs == 1)
                        for (f = 0; f < nr; f++) {
                            REAL* cr = c + (r0 + f) * crs + j0;
                            const REAL* yr = Yb + f * T;
                            REAL bi = bias_i ? bias_i[r0 + f] : 0;
                            if (bias_j && relu)
                                for (jj = 0; jj < n; jj++)
                                    cr[jj] = RELU_S(yr[jj] + bi + bias_j[j0 + jj]);
                            else if (bias_j)
                                for (jj = 0; jj < n; jj++)
                                    cr[jj] = yr[jj] + bi + bias_j[j0 + jj];
                            else if (relu)
                                for (jj = 0; jj < n; jj++)
                                    cr[jj] = RELU_S(yr[jj] + bi);
                            else
                                for (jj = 0; jj < n; jj++)
                                    cr[jj] = yr[jj] + bi;
                        }
                    else {   /* C stored transposed: the block's rows side by side per column */
                        jj = 0;
#if defined(__GNUC__) && !defined(__clang__)
                        if (FWD_FB == 4 && nr == 4 && crs == 1)   /* 4 x 4 blocks, transposed */
                            jj = FN(mm_store_t4)(c + r0 + j0 * ccs, ccs, Yb, T, n,
                                                 bias_i ? bias_i + r0 : NULL,
                                                 bias_j ? bias_j + j0 : NULL, relu);
#endif
                        for (; jj < n; jj++) {
                            REAL* cc = c + r0 * crs + (j0 + jj) * ccs;
                            REAL bj = bias_j ? bias_j[j0 + jj] : 0;
                            for (f = 0; f < nr; f++) {
                                REAL v = Yb[f * T + jj] + bj + (bias_i ? bias_i[r0 + f] : 0);
                                cc[f * crs] = relu ? RELU_S(v) : v;
                            }
                        }
                    }
                }
            }
        }
        cc_free(Y);
    }
    cc_free(Bp);
    cc_free(off);
    return failed ? CCONV_CONV_ENOMEM : 0;
}

/* C[i][j] = sum_k A[i][k] * B[k][j] (+ bias[j] unless NULL; then max(., 0) if relu) for
   A (M, K), B (K, N) by
   element strides (a transposed view needs no copy) and C (M, N, row stride ldc). When
   B's rows are not contiguous, the transposed product C' = B' A' may be computed
   instead (see below). */
int FN(matmul)(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const REAL* a, ptrdiff_t ars,
               ptrdiff_t acs, const REAL* b, ptrdiff_t brs, ptrdiff_t bcs, const REAL* bias,
               int relu, REAL* c, ptrdiff_t ldc, int n_threads)
{
    ptrdiff_t i, j;
    if (M * N == 0)
        return 0;
    if (K == 0) {
        for (i = 0; i < M; i++)
            for (j = 0; j < N; j++)
                c[i * ldc + j] = bias ? (relu ? RELU_S(bias[j]) : bias[j]) : 0;
        return 0;
    }
    /* B is read in place when its rows are contiguous; when they are not, the transposed
       product reads A' in place if A's columns are, and otherwise packs the smaller of
       the two (dx = dout @ W.T: the batch's 100 x 100, not W's 4320 x 100). A stored by
       columns (dW = x.T @ dout) goes the transposed way too: its broadcasts would
       otherwise step a whole row of x (a page or more) from one k to the next, where
       B' = x is read along its rows. Either way every value is the same sum in the
       same order: the same bits. */
    if ((bcs != 1 && (ars == 1 || M < N)) || (acs != 1 && ars == 1 && bcs == 1))
        return FN(mm)(N, M, K, b, bcs, brs, a, acs, ars, bias, NULL, relu, c, 1, ldc,
                      n_threads);
    return FN(mm)(M, N, K, a, ars, acs, b, brs, bcs, NULL, bias, relu, c, ldc, 1, n_threads);
}

/* PEAK_ACC independent multiply-add chains (one FMA each where the flags allow). */
double FN(fma_loop)(long n_iter, int* flops_per_iter)
{
    VEC acc[PEAK_ACC];
    VEC m = SPLAT(0.999999), a = SPLAT(1e-7);
    long it;
    int j;
    double s = 0;
    CC_UNROLL for (j = 0; j < PEAK_ACC; j++)
        acc[j] = SPLAT(1 + j * 1e-3);
    for (it = 0; it < n_iter; it++) {
        CC_UNROLL for (j = 0; j < PEAK_ACC; j++)
            acc[j] = acc[j] * m + a;
    }
    for (j = 0; j < PEAK_ACC; j++)
        s += FN(hsum)(acc[j]);
    *flops_per_iter = (int)(2 * PEAK_ACC * VL);
    return s;
}

#undef CC_POOL22_VEC
#undef FN
#undef VEC
#undef VL
#undef LOADU
#undef STOREU
#undef SPLAT
#undef RELU
#undef RELU_S
