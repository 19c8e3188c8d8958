"""im2col / col2im on NCHW arrays.

col is (N*OH*OW, C*FH*FW): rows ordered (n, oh, ow), columns (c, kh, kw) — the book's
layout. Padding is implicit: positions outside the input read as 0 (im2col) or are
dropped (col2im).
"""
from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from _openmp cimport omp_get_max_threads, omp_get_num_threads
from _simd cimport (CCONV_SSE2, STREAM_MIN_BYTES, cconv_stream_cut, cconv_stream_fence,
                   cconv_stream_part)

include "_build.pxi"

# A col of stream_min_bytes or more (set at import from the cache size, see
# cconv._kernels) is written to memory with non-temporal stores (see _simd.pxd): straight
# from registers where the row builder makes whole vectors, else built block by block in
# a per-thread buffer of about BLOCK_BYTES and streamed out. A smaller col is written in
# place and stays in cache for the GEMM that reads it next.
cdef Py_ssize_t BLOCK_BYTES = 32 << 10


def sse2_compiled():
    """True when the SSE2 paths were compiled in (CCONV_SSE2; x86-64 by default)."""
    return bool(CCONV_SSE2)


def openmp_max_threads():
    return omp_get_max_threads()


cdef extern from *:
    """
    #include <string.h>
    /* n windows of FW values: the source advances by the stride, the destination by a
       col row (K). Constant-size memcpy becomes a few wide moves. The first n_spill
       windows of a 3-wide float32 run may copy 4 values: the 4th lands on the next
       column of the same col row, which the caller writes afterwards, and the caller
       has checked that reading it stays inside the input row. */
    #define CCONV_COPY_WINDOWS(T, SUF)                                                \
    static inline void cconv_copy_windows_##SUF(T* d, const T* s, Py_ssize_t n,       \
                                                Py_ssize_t K, Py_ssize_t sw,          \
                                                Py_ssize_t FW, Py_ssize_t n_spill) {  \
        Py_ssize_t i = 0;                                                             \
        if (FW == 3) {                                                                \
            if (sizeof(T) == 4)                                                       \
                for (; i < n_spill; ++i, d += K, s += sw) memcpy(d, s, 4 * sizeof(T)); \
            for (; i < n; ++i, d += K, s += sw) memcpy(d, s, 3 * sizeof(T));          \
        } else if (FW == 5) {                                                         \
            for (; i < n; ++i, d += K, s += sw) memcpy(d, s, 5 * sizeof(T));          \
        } else if (FW == 2) {                                                         \
            for (; i < n; ++i, d += K, s += sw) memcpy(d, s, 2 * sizeof(T));          \
        } else if (FW == 1) {                                                         \
            for (; i < n; ++i, d += K, s += sw) d[0] = s[0];                          \
        } else {                                                                      \
            for (; i < n; ++i, d += K, s += sw)                                       \
                for (Py_ssize_t kw = 0; kw < FW; ++kw) d[kw] = s[kw];                 \
        }                                                                             \
    }
    CCONV_COPY_WINDOWS(float, f)
    CCONV_COPY_WINDOWS(double, d)

    /* The OW col rows of output row oh of one sample: column block (c, kh) of every row
       in turn (the OW x K block stays in L1/L2). FWC is FW as a constant where the
       caller specialises it, so the window copies and the padding loops unroll.
       [lo, hi): windows inside the input row; [lo, spill): those that may copy one
       value more (see cconv_copy_windows). */
    #define CCONV_IM2COL_ROW_BODY(T, SUF, FWC)                                        \
        for (Py_ssize_t c = 0; c < C; ++c) {                                          \
            if (pd) {   /* this channel's share of [pa, pb) of the previous block */  \
                size_t a = cconv_stream_cut(pd, pa + (pb - pa) * c / C, pn);          \
                size_t b = cconv_stream_cut(pd, pa + (pb - pa) * (c + 1) / C, pn);    \
                cconv_stream_part(pd + a, ps + a, b - a);                             \
            }                                                                         \
            for (Py_ssize_t kh = 0; kh < FH; ++kh) {                                  \
                Py_ssize_t ih = oh * sh - ph + kh;                                    \
                T* d = col + (c * FH + kh) * FWC;                                     \
                if (ih < 0 || ih >= H) {                                              \
                    for (Py_ssize_t ow = 0; ow < OW; ++ow)                            \
                        for (Py_ssize_t kw = 0; kw < FWC; ++kw) d[ow * K + kw] = 0;   \
                    continue;                                                         \
                }                                                                     \
                const T* s = x + (c * H + ih) * W;                                    \
                for (Py_ssize_t ow = 0; ow < lo; ++ow) {                              \
                    Py_ssize_t iw0 = ow * sw - pw;                                    \
                    for (Py_ssize_t kw = 0; kw < FWC; ++kw)                           \
                        d[ow * K + kw] = (iw0 + kw >= 0 && iw0 + kw < W) ? s[iw0 + kw] : (T)0; \
                }                                                                     \
                cconv_copy_windows_##SUF(d + lo * K, s + lo * sw - pw, hi - lo, K, sw, \
                                         FWC, (c == C - 1 && kh == FH - 1) ? 0 : spill - lo); \
                for (Py_ssize_t ow = hi; ow < OW; ++ow) {                             \
                    Py_ssize_t iw0 = ow * sw - pw;                                    \
                    for (Py_ssize_t kw = 0; kw < FWC; ++kw)                           \
                        d[ow * K + kw] = (iw0 + kw >= 0 && iw0 + kw < W) ? s[iw0 + kw] : (T)0; \
                }                                                                     \
            }                                                                         \
        }
    #define CCONV_IM2COL_ROW(T, SUF)                                                  \
    static void cconv_im2col_row_##SUF(const T* x, T* col, Py_ssize_t C, Py_ssize_t H, \
                                       Py_ssize_t W, Py_ssize_t FH, Py_ssize_t FW,     \
                                       Py_ssize_t OW, Py_ssize_t oh, Py_ssize_t sh,    \
                                       Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw,    \
                                       Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t spill, \
                                       char* pd, const char* ps, size_t pa, size_t pb, \
                                       size_t pn) {                                   \
        Py_ssize_t K = C * FH * FW;                                                   \
        if (FW == 3) { CCONV_IM2COL_ROW_BODY(T, SUF, 3) }                             \
        else if (FW == 5) { CCONV_IM2COL_ROW_BODY(T, SUF, 5) }                        \
        else { CCONV_IM2COL_ROW_BODY(T, SUF, FW) }                                    \
    }
    CCONV_IM2COL_ROW(float, f)
    CCONV_IM2COL_ROW(double, d)

    /* The OW col rows of output row oh, for 3-wide float32 windows, written straight
       to col in whole 16-byte vectors: four windows (12 values) make three vectors.
       Each window is one 4-value load from its input row, at the window's start when
       that is inside [0, W-4], else at the nearest such start and shifted into place
       (the lanes that fall outside the row become +0.0, the padding). Every window of
       a col row has the same start column, so the shift is chosen once per row.
       Needs W >= 4 and SSE2. With stream, stores are non-temporal, which needs col
       rows 16-byte aligned and C*FH a multiple of 4 (whole vectors per col row);
       otherwise the last C*FH % 4 windows of a row are stored value by value.
       off: FH values of scratch for the offsets of the window rows in a plane. */
    #if CCONV_SSE2
    /* 4 values loaded at p, moved down (shift > 0) or up (shift < 0) by |shift|
       lanes with +0.0 shifted in; zero for |shift| >= 4. With a constant shift the
       switch folds away. */
    static inline __m128 cconv_load_shift_f(const float* p, Py_ssize_t shift) {
        __m128i v;
        switch (shift) {
            case 0: return _mm_loadu_ps(p);
            case 1: v = _mm_srli_si128(_mm_castps_si128(_mm_loadu_ps(p)), 4); break;
            case 2: v = _mm_srli_si128(_mm_castps_si128(_mm_loadu_ps(p)), 8); break;
            case 3: v = _mm_srli_si128(_mm_castps_si128(_mm_loadu_ps(p)), 12); break;
            case -1: v = _mm_slli_si128(_mm_castps_si128(_mm_loadu_ps(p)), 4); break;
            case -2: v = _mm_slli_si128(_mm_castps_si128(_mm_loadu_ps(p)), 8); break;
            case -3: v = _mm_slli_si128(_mm_castps_si128(_mm_loadu_ps(p)), 12); break;
            default: return _mm_setzero_ps();
        }
        return _mm_castsi128_ps(v);
    }
    /* The nearest start inside [0, W-4] of a 4-value load for row values from q on
       (needs W >= 4); the load there is shifted by q minus that start. */
    static inline Py_ssize_t cconv_near_start(Py_ssize_t q, Py_ssize_t W) {
        return q < 0 ? 0 : (q > W - 4 ? W - 4 : q);
    }
    #define CCONV_WIN3_ROW(SHIFT)                                                     \
        {                                                                             \
            Py_ssize_t g = 0, c = 0, kh = 0;                                          \
            __m128 v[4];                                                              \
            for (; g + 12 <= K; g += 12) {                                            \
                for (int j = 0; j < 4; ++j) {                                         \
                    Py_ssize_t o = off[kh];                                           \
                    v[j] = o < 0 ? z : cconv_load_shift_f(s + c * HW + o, SHIFT);        \
                    if (++kh == FH) { kh = 0; ++c; }                                  \
                }                                                                     \
                __m128 t = _mm_shuffle_ps(v[0], v[1], _MM_SHUFFLE(0, 0, 2, 2));       \
                __m128 u = _mm_shuffle_ps(v[2], v[3], _MM_SHUFFLE(0, 0, 2, 2));       \
                __m128 w0 = _mm_shuffle_ps(v[0], t, _MM_SHUFFLE(2, 0, 1, 0));         \
                __m128 w1 = _mm_shuffle_ps(v[1], v[2], _MM_SHUFFLE(1, 0, 2, 1));      \
                __m128 w2 = _mm_shuffle_ps(u, v[3], _MM_SHUFFLE(2, 1, 2, 0));         \
                if (stream) {                                                         \
                    _mm_stream_ps(d + g, w0); _mm_stream_ps(d + g + 4, w1);           \
                    _mm_stream_ps(d + g + 8, w2);                                     \
                } else {                                                              \
                    _mm_storeu_ps(d + g, w0); _mm_storeu_ps(d + g + 4, w1);           \
                    _mm_storeu_ps(d + g + 8, w2);                                     \
                }                                                                     \
            }                                                                         \
            for (; g < K; g += 3) {   /* the last C*FH % 4 windows, 3 values each */ \
                float tmp[4];                                                         \
                Py_ssize_t o = off[kh];                                               \
                _mm_storeu_ps(tmp, o < 0 ? z : cconv_load_shift_f(s + c * HW + o, SHIFT)); \
                d[g] = tmp[0]; d[g + 1] = tmp[1]; d[g + 2] = tmp[2];                  \
                if (++kh == FH) { kh = 0; ++c; }                                      \
            }                                                                         \
        }
    static void cconv_im2col_row3_f(const float* x, float* col, Py_ssize_t C,
                                    Py_ssize_t H, Py_ssize_t W, Py_ssize_t FH,
                                    Py_ssize_t OW, Py_ssize_t oh, Py_ssize_t sh,
                                    Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw,
                                    Py_ssize_t* off, int stream) {
        Py_ssize_t K = C * FH * 3, HW = H * W;
        const __m128 z = _mm_setzero_ps();
        for (Py_ssize_t kh = 0; kh < FH; ++kh) {
            Py_ssize_t ih = oh * sh - ph + kh;
            off[kh] = (ih >= 0 && ih < H) ? ih * W : -1;
        }
        for (Py_ssize_t ow = 0; ow < OW; ++ow) {
            Py_ssize_t iw0 = ow * sw - pw;
            Py_ssize_t p = cconv_near_start(iw0, W);
            const float* s = x + p;
            float* d = col + ow * K;
            switch (iw0 - p) {
                case 0: CCONV_WIN3_ROW(0) break;
                case 1: CCONV_WIN3_ROW(1) break;
                case 2: CCONV_WIN3_ROW(2) break;
                case 3: CCONV_WIN3_ROW(3) break;
                case -1: CCONV_WIN3_ROW(-1) break;
                case -2: CCONV_WIN3_ROW(-2) break;
                default:   /* the window lies in the padding */
                    if (stream)
                        for (Py_ssize_t g = 0; g < K; g += 4) _mm_stream_ps(d + g, z);
                    else
                        memset(d, 0, K * sizeof(float));
            }
        }
    }
    #else
    static void cconv_im2col_row3_f(const float* x, float* col, Py_ssize_t C,
                                    Py_ssize_t H, Py_ssize_t W, Py_ssize_t FH,
                                    Py_ssize_t OW, Py_ssize_t oh, Py_ssize_t sh,
                                    Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw,
                                    Py_ssize_t* off, int stream) { }
    #endif

    /* Interior windows of col2im: add FW values of each of nc x nkh chunks of a col
       row (chunk (c, kh) at s + c * sc + kh * FW) into dx rows (at d + c * dc + kh * W).
       With SSE2, a 3-wide float chunk is added as 4 lanes with the 4th masked to +0.0:
       the caller says when the 4th dx value is inside the same dx row (vec) and when the
       very last chunk must not read past its 3 values (the last of the col row). */
    #define CCONV_ADD_CHUNK_SCALAR(T, d, s, FW)                                        \
        if (FW == 3) { T a = s[0], b = s[1], e = s[2]; d[0] += a; d[1] += b; d[2] += e; } \
        else if (FW == 5) { T a = s[0], b = s[1], e = s[2], f = s[3], g = s[4];         \
                            d[0] += a; d[1] += b; d[2] += e; d[3] += f; d[4] += g; }    \
        else if (FW == 2) { T a = s[0], b = s[1]; d[0] += a; d[1] += b; }             \
        else { for (Py_ssize_t kw = 0; kw < FW; ++kw) d[kw] += s[kw]; }
    #define CCONV_ADD_CHUNKS_SCALAR(T)                                                \
        for (Py_ssize_t c = 0; c < nc; ++c) {                                         \
            const T* s = s0 + c * sc;                                                 \
            T* d = d0 + c * dc;                                                       \
            for (Py_ssize_t kh = 0; kh < nkh; ++kh, s += FW, d += W) {                \
                CCONV_ADD_CHUNK_SCALAR(T, d, s, FW)                                   \
            }                                                                         \
        }
    static inline void cconv_add_chunks_f(float* d0, const float* s0, Py_ssize_t nc,
                                          Py_ssize_t nkh, Py_ssize_t FW, Py_ssize_t sc,
                                          Py_ssize_t dc, Py_ssize_t W, int vec,
                                          int last_exact) {
    #if CCONV_SSE2
        if (FW == 3 && vec) {
            const __m128 m = _mm_castsi128_ps(_mm_set_epi32(0, -1, -1, -1));
            for (Py_ssize_t c = 0; c < nc; ++c) {
                const float* s = s0 + c * sc;
                float* d = d0 + c * dc;
                Py_ssize_t n = (last_exact && c == nc - 1) ? nkh - 1 : nkh;
                for (Py_ssize_t kh = 0; kh < n; ++kh, s += 3, d += W)
                    _mm_storeu_ps(d, _mm_add_ps(_mm_loadu_ps(d), _mm_and_ps(_mm_loadu_ps(s), m)));
                if (n < nkh) { CCONV_ADD_CHUNK_SCALAR(float, d, s, 3) }
            }
            return;
        }
        if (FW == 5) {   /* 4 lanes and one: exact, no mask */
            for (Py_ssize_t c = 0; c < nc; ++c) {
                const float* s = s0 + c * sc;
                float* d = d0 + c * dc;
                for (Py_ssize_t kh = 0; kh < nkh; ++kh, s += 5, d += W) {
                    _mm_storeu_ps(d, _mm_add_ps(_mm_loadu_ps(d), _mm_loadu_ps(s)));
                    d[4] += s[4];
                }
            }
            return;
        }
    #endif
        CCONV_ADD_CHUNKS_SCALAR(float)
    }
    static inline void cconv_add_chunks_d(double* d0, const double* s0, Py_ssize_t nc,
                                          Py_ssize_t nkh, Py_ssize_t FW, Py_ssize_t sc,
                                          Py_ssize_t dc, Py_ssize_t W, int vec,
                                          int last_exact) {
    #if CCONV_SSE2
        if (FW == 3 || FW == 5) {   /* pairs of lanes and one: exact */
            for (Py_ssize_t c = 0; c < nc; ++c) {
                const double* s = s0 + c * sc;
                double* d = d0 + c * dc;
                for (Py_ssize_t kh = 0; kh < nkh; ++kh, s += FW, d += W) {
                    _mm_storeu_pd(d, _mm_add_pd(_mm_loadu_pd(d), _mm_loadu_pd(s)));
                    if (FW == 5)
                        _mm_storeu_pd(d + 2, _mm_add_pd(_mm_loadu_pd(d + 2), _mm_loadu_pd(s + 2)));
                    d[FW - 1] += s[FW - 1];
                }
            }
            return;
        }
    #endif
        CCONV_ADD_CHUNKS_SCALAR(double)
    }

    /* col2im of one sample for channels [c0, c1): col points at the sample's first col
       row, dx at its first plane. The col rows are read front to back; each window adds
       into FW cells of a dx row; each dx value gets its terms in an order fixed by the
       shape.
       [lo, hi): the output columns whose window lies inside the input row; the others
       drop their padding terms. */
    #define CCONV_COL2IM_ROWS(T, SUF)                                                 \
    static void cconv_col2im_rows_##SUF(const T* col, T* dx, Py_ssize_t c0,            \
                                        Py_ssize_t c1, Py_ssize_t C, Py_ssize_t H,     \
                                        Py_ssize_t W, Py_ssize_t FH, Py_ssize_t FW,    \
                                        Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t sh,   \
                                        Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw,   \
                                        Py_ssize_t lo, Py_ssize_t hi) {                \
        Py_ssize_t K = C * FH * FW;                                                   \
        /* With few chunks per window, the next window's adds would load what this one \
           has just stored (overlapping windows), and wait for it: then the windows    \
           of a row are visited with a step that keeps neighbours apart (0, step,      \
           2*step, ..., 1, 1 + step, ...). The step depends on the shape only. Measured \
           to pay for float32 (4-lane adds) only. */                                   \
        Py_ssize_t step = (sizeof(T) == 4 && C * FH < 16) ? (FW + sw - 1) / sw : 1;    \
        memset(dx + c0 * H * W, 0, (c1 - c0) * H * W * sizeof(T));                     \
        for (Py_ssize_t oh = 0; oh < OH; ++oh) {                                      \
            Py_ssize_t kh0 = 0, kh1 = FH;   /* taps of this output row inside 0..H */  \
            while (kh0 < FH && oh * sh - ph + kh0 < 0) ++kh0;                         \
            while (kh1 > kh0 && oh * sh - ph + kh1 - 1 >= H) --kh1;                   \
            if (kh0 >= kh1) continue;                                                 \
            /* the last chunk read is the col row's last: it must not read past it */ \
            int last_exact = c1 == C && kh1 == FH;                                    \
            for (Py_ssize_t ow = 0, r = 0; ow < OW;                                   \
                 ow = ow + step < OW ? ow + step : (++r < step ? r : OW)) {           \
                Py_ssize_t iw0 = ow * sw - pw;                                        \
                const T* s0 = col + (oh * OW + ow) * K + (c0 * FH + kh0) * FW;        \
                T* d0 = dx + (c0 * H + oh * sh - ph + kh0) * W + iw0;                 \
                if (ow >= lo && ow < hi) {                                            \
                    cconv_add_chunks_##SUF(d0, s0, c1 - c0, kh1 - kh0, FW, FH * FW,   \
                                           H * W, W, iw0 + 4 <= W, last_exact);       \
                    continue;                                                         \
                }                                                                     \
                for (Py_ssize_t c = c0; c < c1; ++c) {                                \
                    const T* s = s0 + (c - c0) * FH * FW;                             \
                    T* d = d0 + (c - c0) * H * W;                                     \
                    for (Py_ssize_t kh = kh0; kh < kh1; ++kh, s += FW, d += W)        \
                        for (Py_ssize_t kw = 0; kw < FW; ++kw)                        \
                            if (iw0 + kw >= 0 && iw0 + kw < W) d[kw] += s[kw];        \
                }                                                                     \
            }                                                                         \
        }                                                                             \
    }
    CCONV_COL2IM_ROWS(float, f)
    CCONV_COL2IM_ROWS(double, d)

    /* im2col_t of one narrow float32 plane (4 <= W < 12) at stride 1 with the width
       kept (OW == W), where the shifted block copy of _im2col_t_plane spends more on
       its row edges than on copying: each tap row is built in 4-value vectors, each one
       load from the input row at the nearest start inside [0, W-4], shifted so that
       lanes outside the row are +0.0 (a vector wholly outside is zero). The last W % 4
       values of a row are stored one by one, so nothing is written past the plane's
       own rows. */
    #if CCONV_SSE2
    static void cconv_im2col_t_narrow_f(const float* x, float* colT, Py_ssize_t H,
                                        Py_ssize_t W, Py_ssize_t FH, Py_ssize_t FW,
                                        Py_ssize_t OH, Py_ssize_t ph, Py_ssize_t pw) {
        Py_ssize_t tail = W % 4, full = W - tail;
        for (Py_ssize_t kh = 0; kh < FH; ++kh) {
            for (Py_ssize_t kw = 0; kw < FW; ++kw) {
                Py_ssize_t dc = kw - pw;
                float* d = colT + (kh * FW + kw) * OH * W;
                for (Py_ssize_t oh = 0; oh < OH; ++oh) {
                    Py_ssize_t ih = oh - ph + kh;
                    float* r = d + oh * W;
                    if (ih < 0 || ih >= H) { memset(r, 0, W * sizeof(float)); continue; }
                    const float* s = x + ih * W;
                    Py_ssize_t ow0 = 0;
                    for (; ow0 < W; ow0 += 4) {
                        Py_ssize_t p = cconv_near_start(ow0 + dc, W);
                        __m128 v = cconv_load_shift_f(s + p, ow0 + dc - p);
                        if (ow0 < full) {
                            _mm_storeu_ps(r + ow0, v);
                        } else {
                            float t[4];
                            _mm_storeu_ps(t, v);
                            for (Py_ssize_t j = 0; j < tail; ++j) r[ow0 + j] = t[j];
                        }
                    }
                }
            }
        }
    }
    #else
    static void cconv_im2col_t_narrow_f(const float* x, float* colT, Py_ssize_t H,
                                        Py_ssize_t W, Py_ssize_t FH, Py_ssize_t FW,
                                        Py_ssize_t OH, Py_ssize_t ph, Py_ssize_t pw) { }
    #endif
    """
    void cconv_im2col_row_f(const float* x, float* col, Py_ssize_t C, Py_ssize_t H,
                            Py_ssize_t W, Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t OW,
                            Py_ssize_t oh, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph,
                            Py_ssize_t pw, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t spill,
                            char* pd, const char* ps, size_t pa, size_t pb,
                            size_t pn) noexcept nogil
    void cconv_im2col_row_d(const double* x, double* col, Py_ssize_t C, Py_ssize_t H,
                            Py_ssize_t W, Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t OW,
                            Py_ssize_t oh, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph,
                            Py_ssize_t pw, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t spill,
                            char* pd, const char* ps, size_t pa, size_t pb,
                            size_t pn) noexcept nogil
    void cconv_im2col_row3_f(const float* x, float* col, Py_ssize_t C, Py_ssize_t H,
                             Py_ssize_t W, Py_ssize_t FH, Py_ssize_t OW, Py_ssize_t oh,
                             Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw,
                             Py_ssize_t* off, int stream) noexcept nogil
    void cconv_im2col_t_narrow_f(const float* x, float* colT, Py_ssize_t H, Py_ssize_t W,
                                 Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t OH, Py_ssize_t ph,
                                 Py_ssize_t pw) noexcept nogil
    void cconv_col2im_rows_f(const float* col, float* dx, Py_ssize_t c0, Py_ssize_t c1,
                             Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t FH,
                             Py_ssize_t FW, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t sh,
                             Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t lo,
                             Py_ssize_t hi) noexcept nogil
    void cconv_col2im_rows_d(const double* col, double* dx, Py_ssize_t c0, Py_ssize_t c1,
                             Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t FH,
                             Py_ssize_t FW, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t sh,
                             Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t lo,
                             Py_ssize_t hi) noexcept nogil


cdef inline void _interior(Py_ssize_t OW, Py_ssize_t W, Py_ssize_t FW, Py_ssize_t sw,
                           Py_ssize_t pw, Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    # [lo, hi): the output columns whose window lies inside the unpadded row.
    # a = ceil(pw / sw), without forming pw + sw (which may exceed Py_ssize_t).
    cdef Py_ssize_t a = pw // sw
    cdef Py_ssize_t b = 0
    if a * sw < pw:
        a += 1
    if W - FW + pw >= 0:
        b = (W - FW + pw) // sw + 1
    if a > OW:
        a = OW
    if b > OW:
        b = OW
    if b < a:
        b = a
    lo[0] = a
    hi[0] = b


cdef inline void _im2col_row(const floating* x, floating* col,
                             Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                             Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t OW,
                             Py_ssize_t oh, Py_ssize_t sh, Py_ssize_t sw,
                             Py_ssize_t ph, Py_ssize_t pw,
                             char* pd, const char* ps, size_t pa, size_t pb,
                             size_t pn) noexcept nogil:
    # x points at sample n; col at the first of the OW rows of (n, oh). When pd is not
    # NULL, bytes [pa, pb) of the previous block (ps, pn bytes, bound for pd) are
    # streamed out in pieces between the channels of this row.
    cdef Py_ssize_t lo, hi, spill
    _interior(OW, W, FW, sw, pw, &lo, &hi)
    # [lo, spill): interior windows whose start + FW + 1 still lies inside the row
    spill = lo
    while spill < hi and spill * sw - pw + FW + 1 <= W:
        spill += 1
    if floating is float:
        cconv_im2col_row_f(x, col, C, H, W, FH, FW, OW, oh, sh, sw, ph, pw, lo, hi, spill,
                           pd, ps, pa, pb, pn)
    else:
        cconv_im2col_row_d(x, col, C, H, W, FH, FW, OW, oh, sh, sw, ph, pw, lo, hi, spill,
                           pd, ps, pa, pb, pn)


cdef Py_ssize_t stream_min_bytes = STREAM_MIN_BYTES


def get_stream_min_bytes():
    """col outputs of this many bytes or more are streamed (see im2col_into)."""
    return stream_min_bytes


def set_stream_min_bytes(Py_ssize_t n):
    """Stream col outputs of n bytes or more (see im2col_into); returns the old value."""
    global stream_min_bytes
    if n < 0:
        raise ValueError(f"stream_min_bytes must be >= 0, got {n}")
    old = stream_min_bytes
    stream_min_bytes = n
    return old


def im2col_into(const floating[:, :, :, ::1] x, floating[:, ::1] col,
                Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t sh, Py_ssize_t sw,
                Py_ssize_t ph, Py_ssize_t pw, int n_threads):
    """Fill col (N*OH*OW, C*FH*FW) from x (N, C, H, W). Shapes are checked by the caller."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t OH = (H + 2 * ph - FH) // sh + 1
    cdef Py_ssize_t OW = (W + 2 * pw - FW) // sw + 1
    cdef Py_ssize_t K = C * FH * FW
    cdef Py_ssize_t t, n, oh
    if N == 0 or OH <= 0 or OW <= 0 or K == 0:
        return
    cdef floating* cp = &col[0, 0]
    if H == 0 or W == 0:
        # Every window lies in the padding (x has no element to take the address of).
        memset(cp, 0, N * OH * OW * K * sizeof(floating))
        return
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef Py_ssize_t row_bytes = OW * K * sizeof(floating)
    cdef Py_ssize_t R, nb, b, oh0, oh1, nt, t0, t1, i, m
    cdef floating* buf
    cdef floating* cur
    cdef char* pdst
    cdef const char* psrc
    cdef size_t plen
    cdef Py_ssize_t* offs
    cdef bint big = N * OH * row_bytes >= stream_min_bytes
    cdef bint win3 = floating is float and CCONV_SSE2 and FW == 3 and W >= 4
    cdef bint strm = big and K % 12 == 0 and (<size_t> cp) % 16 == 0
    if win3 and (strm or not big):
        # 3-wide float32 windows, written straight to col (streamed when big).
        # Work item (n, oh) owns rows [(n*OH+oh)*OW, +OW) of col.
        offs = NULL   # each thread's own, set in the parallel block
        with nogil, parallel(num_threads=n_threads):
            offs = <Py_ssize_t*> malloc(FH * sizeof(Py_ssize_t))
            for t in prange(N * OH, schedule='static'):
                n = t // OH
                oh = t - n * OH
                if offs != NULL:
                    cconv_im2col_row3_f(<const float*> (xp + n * C * H * W),
                                        <float*> (cp + t * OW * K),
                                        C, H, W, FH, OW, oh, sh, sw, ph, pw, offs, strm)
                else:
                    _im2col_row(xp + n * C * H * W, cp + t * OW * K, C, H, W, FH, FW, OW,
                                oh, sh, sw, ph, pw, NULL, NULL, 0, 0, 0)
            cconv_stream_fence()
            free(offs)
        return
    if not big:
        # Work item (n, oh) owns rows [(n*OH+oh)*OW, +OW) of col.
        for t in prange(N * OH, nogil=True, schedule='static', num_threads=n_threads):
            n = t // OH
            oh = t - n * OH
            _im2col_row(xp + n * C * H * W, cp + t * OW * K, C, H, W, FH, FW, OW,
                        oh, sh, sw, ph, pw, NULL, NULL, 0, 0, 0)
        return
    # Work item (n, block of R output rows) owns the contiguous rows
    # [(n*OH+oh0)*OW, (n*OH+oh1)*OW) of col. Each thread takes a contiguous run of items
    # and builds them in turn in the two halves of its buffer; while it builds one, it
    # streams the one before out to col, a piece between channels, so that the stores
    # to memory overlap the copying.
    R = BLOCK_BYTES // row_bytes
    if R < 1:
        R = 1
    if R > OH:
        R = OH
    nb = (OH + R - 1) // R
    # what follows is each thread's own (Cython copies a parallel block's variables out)
    buf = cur = NULL
    pdst = NULL
    psrc = NULL
    plen = nt = t0 = t1 = b = oh0 = oh1 = m = i = 0
    with nogil, parallel(num_threads=n_threads):
        nt = omp_get_num_threads()
        t0 = threadid() * (N * nb) // nt
        t1 = (threadid() + 1) * (N * nb) // nt
        buf = <floating*> malloc(2 * R * row_bytes)
        pdst = NULL
        psrc = NULL
        plen = 0
        for t in range(t0, t1):
            n = t // nb
            b = t - n * nb
            oh0 = b * R
            oh1 = oh0 + R
            if oh1 > OH:
                oh1 = OH
            m = oh1 - oh0
            if buf == NULL:   # no buffer: build in place
                for oh in range(oh0, oh1):
                    _im2col_row(xp + n * C * H * W, cp + (n * OH + oh) * OW * K,
                                C, H, W, FH, FW, OW, oh, sh, sw, ph, pw, NULL, NULL, 0, 0, 0)
                continue
            cur = buf + ((t - t0) % 2) * R * OW * K
            for i in range(m):
                _im2col_row(xp + n * C * H * W, cur + i * OW * K, C, H, W, FH, FW, OW,
                            oh0 + i, sh, sw, ph, pw, pdst, psrc,
                            plen * i // m, plen * (i + 1) // m, plen)
            pdst = <char*> (cp + (n * OH + oh0) * OW * K)
            psrc = <const char*> cur
            plen = m * row_bytes
        if pdst != NULL:
            cconv_stream_part(pdst, psrc, plen)
        cconv_stream_fence()
        free(buf)


def col2im_into(const floating[:, ::1] col, floating[:, :, :, ::1] dx,
                Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t sh, Py_ssize_t sw,
                Py_ssize_t ph, Py_ssize_t pw, int n_threads):
    """Sum col (N*OH*OW, C*FH*FW) back into dx (N, C, H, W); dx is overwritten."""
    cdef Py_ssize_t N = dx.shape[0], C = dx.shape[1], H = dx.shape[2], W = dx.shape[3]
    cdef Py_ssize_t OH = (H + 2 * ph - FH) // sh + 1
    cdef Py_ssize_t OW = (W + 2 * pw - FW) // sw + 1
    cdef Py_ssize_t K = C * FH * FW
    cdef Py_ssize_t t, n, c
    if N == 0 or C == 0 or H == 0 or W == 0:
        return
    cdef floating* dp = &dx[0, 0, 0, 0]
    if OH <= 0 or OW <= 0:
        memset(dp, 0, N * C * H * W * sizeof(floating))
        return
    cdef const floating* cp = &col[0, 0]
    cdef Py_ssize_t lo, hi, nc, CB, c0, c1
    _interior(OW, W, FW, sw, pw, &lo, &hi)
    # Work item (n, channel block) owns those planes of dx and reads its slice of every
    # col row of sample n in order. Each dx value gets its terms in (oh, ow) order,
    # whatever the thread count and the blocking. Blocks split the channels only when
    # there are too few samples to keep every thread busy.
    nc = 1
    if n_threads > 1 and N < 4 * n_threads:
        nc = (4 * n_threads + N - 1) // N
        if nc > C:
            nc = C
    CB = (C + nc - 1) // nc
    nc = (C + CB - 1) // CB
    for t in prange(N * nc, nogil=True, schedule='static', num_threads=n_threads):
        n = t // nc
        c0 = (t - n * nc) * CB
        c1 = c0 + CB
        if c1 > C:
            c1 = C
        if floating is float:
            cconv_col2im_rows_f(cp + n * OH * OW * K, dp + n * C * H * W, c0, c1, C, H, W,
                                FH, FW, OH, OW, sh, sw, ph, pw, lo, hi)
        else:
            cconv_col2im_rows_d(cp + n * OH * OW * K, dp + n * C * H * W, c0, c1, C, H, W,
                                FH, FW, OH, OW, sh, sw, ph, pw, lo, hi)


# ---- the per-sample transposed layout used by the layers' fast path ----
# colT is (N, C*FH*FW, OH*OW): for sample n, row (c, kh, kw) holds that filter tap's
# value at every output position (oh, ow). W (FN, C*FH*FW) @ colT[n] is then the
# NCHW output of sample n with no transpose, and with stride 1 each (row, oh) run is a
# contiguous slice of an input row.

cdef inline void _tap_range(Py_ssize_t OW, Py_ssize_t W, Py_ssize_t sw, Py_ssize_t off,
                            Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    # [lo, hi): the output columns ow whose tap reads input column ow*sw + off inside the row
    cdef Py_ssize_t a = 0, b
    while a < OW and a * sw + off < 0:
        a += 1
    b = a
    while b < OW and b * sw + off < W:
        b += 1
    lo[0] = a
    hi[0] = b


cdef inline void _im2col_t_plane(const floating* x, floating* colT,
                                 Py_ssize_t H, Py_ssize_t W, Py_ssize_t FH, Py_ssize_t FW,
                                 Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t sh, Py_ssize_t sw,
                                 Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    # x: plane (n, c); colT: its FH*FW rows, which this call owns.
    cdef Py_ssize_t kh, kw, oh, ow, ih, lo, hi, iw, a, b, i
    cdef floating* d
    cdef const floating* s
    if floating is float and CCONV_SSE2 and sh == 1 and sw == 1 and OW == W and 4 <= W < 12:
        cconv_im2col_t_narrow_f(x, colT, H, W, FH, FW, OH, ph, pw)
        return
    if sh == 1 and sw == 1 and OW == W:
        # A tap's rows [a, b) inside the input are one block of the plane shifted by
        # (kh - ph) rows and (kw - pw) columns: one copy from the first value inside to
        # the last, then the few cells that the shift carried across a row edge, and
        # the rows above and below the input, are zeroed.
        for kh in range(FH):
            a = ph - kh
            if a < 0:
                a = 0
            if a > OH:
                a = OH
            b = H + ph - kh
            if b > OH:
                b = OH
            if b < a:
                b = a
            for kw in range(FW):
                _tap_range(OW, W, 1, kw - pw, &lo, &hi)
                d = colT + (kh * FW + kw) * OH * OW
                memset(d, 0, a * OW * sizeof(floating))
                memset(d + b * OW, 0, (OH - b) * OW * sizeof(floating))
                if a == b or lo >= hi:
                    memset(d + a * OW, 0, (b - a) * OW * sizeof(floating))
                    continue
                iw = (kh - ph) * W + (kw - pw)   # the shift, in values of the plane
                # a loop, not memcpy: glibc copies blocks of a few KiB with rep movsb,
                # slow on AMD when source and destination are not equally aligned
                for i in range(a * OW + lo, (b - 1) * OW + hi):
                    d[i] = x[i + iw]
                for oh in range(a, b):
                    for ow in range(lo):
                        d[oh * OW + ow] = 0
                    for ow in range(hi, OW):
                        d[oh * OW + ow] = 0
        return
    for kh in range(FH):
        for kw in range(FW):
            _tap_range(OW, W, sw, kw - pw, &lo, &hi)
            for oh in range(OH):
                d = colT + ((kh * FW + kw) * OH + oh) * OW
                ih = oh * sh - ph + kh
                if ih < 0 or ih >= H:
                    memset(d, 0, OW * sizeof(floating))
                    continue
                s = x + ih * W - pw + kw
                for ow in range(lo):
                    d[ow] = 0
                if sw == 1:
                    for ow in range(lo, hi):   # not memcpy: see the block copy above
                        d[ow] = s[ow]
                else:
                    for ow in range(lo, hi):
                        d[ow] = s[ow * sw]
                for ow in range(hi, OW):
                    d[ow] = 0


def im2col_t_into(const floating[:, :, :, ::1] x, floating[:, :, ::1] colT,
                  Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t sh, Py_ssize_t sw,
                  Py_ssize_t ph, Py_ssize_t pw, int n_threads):
    """Fill colT (N, C*FH*FW, OH*OW) from x (N, C, H, W). Shapes are checked by the caller."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t OH = (H + 2 * ph - FH) // sh + 1
    cdef Py_ssize_t OW = (W + 2 * pw - FW) // sw + 1
    cdef Py_ssize_t t
    if N * C == 0 or OH <= 0 or OW <= 0:
        return
    cdef floating* cp = &colT[0, 0, 0]
    if H == 0 or W == 0:
        # Every window lies in the padding (x has no element to take the address of).
        memset(cp, 0, N * C * FH * FW * OH * OW * sizeof(floating))
        return
    cdef const floating* xp = &x[0, 0, 0, 0]
    # Work item (n, c) owns rows [c*FH*FW, (c+1)*FH*FW) of colT[n].
    for t in prange(N * C, nogil=True, schedule='static', num_threads=n_threads):
        _im2col_t_plane(xp + t * H * W, cp + t * FH * FW * OH * OW, H, W, FH, FW,
                        OH, OW, sh, sw, ph, pw)


cdef inline void _col2im_t_plane(const floating* colT, floating* dx,
                                 Py_ssize_t H, Py_ssize_t W, Py_ssize_t FH, Py_ssize_t FW,
                                 Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t sh, Py_ssize_t sw,
                                 Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    # dx: plane (n, c), owned by this call; colT: its FH*FW rows. Each dx value gets its
    # terms in (kh, kw, oh) order whatever the thread count.
    cdef Py_ssize_t kh, kw, oh, ow, ih, lo, hi
    cdef floating* d
    cdef const floating* s
    memset(dx, 0, H * W * sizeof(floating))
    for kh in range(FH):
        for kw in range(FW):
            _tap_range(OW, W, sw, kw - pw, &lo, &hi)
            for oh in range(OH):
                ih = oh * sh - ph + kh
                if ih < 0 or ih >= H:
                    continue
                s = colT + ((kh * FW + kw) * OH + oh) * OW
                d = dx + ih * W - pw + kw
                if sw == 1:
                    for ow in range(lo, hi):
                        d[ow] += s[ow]
                else:
                    for ow in range(lo, hi):
                        d[ow * sw] += s[ow]


def col2im_t_into(const floating[:, :, ::1] colT, floating[:, :, :, ::1] dx,
                  Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t sh, Py_ssize_t sw,
                  Py_ssize_t ph, Py_ssize_t pw, int n_threads):
    """Sum colT (N, C*FH*FW, OH*OW) back into dx (N, C, H, W); dx is overwritten."""
    cdef Py_ssize_t N = dx.shape[0], C = dx.shape[1], H = dx.shape[2], W = dx.shape[3]
    cdef Py_ssize_t OH = (H + 2 * ph - FH) // sh + 1
    cdef Py_ssize_t OW = (W + 2 * pw - FW) // sw + 1
    cdef Py_ssize_t t
    if N * C == 0 or H * W == 0:
        return
    cdef floating* dp = &dx[0, 0, 0, 0]
    if OH <= 0 or OW <= 0:
        memset(dp, 0, N * C * H * W * sizeof(floating))
        return
    cdef const floating* cp = &colT[0, 0, 0]
    for t in prange(N * C, nogil=True, schedule='static', num_threads=n_threads):
        _col2im_t_plane(cp + t * FH * FW * OH * OW, dp + t * H * W, H, W, FH, FW,
                        OH, OW, sh, sw, ph, pw)
