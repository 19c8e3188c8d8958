/* im2col / col2im row builders (see _im2col.pyx for the layout contract). */
#ifndef CCONV_IM2COL_H
#define CCONV_IM2COL_H
#include <Python.h>  /* Py_ssize_t; Cython's generated C includes it first */
#include "simd.h"
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
#endif  /* CCONV_IM2COL_H */
