/* 2x2 stride-2 pooling fast paths (see _pooling.pyx for the contract). */
#ifndef CCONV_POOLING_H
#define CCONV_POOLING_H
#include <Python.h>  /* Py_ssize_t; Cython's generated C includes it first */
#include "simd.h"
#include "max22.h"
#include <stdint.h>
#include <string.h>
/* SSE2: 4 (float) or 2 (double) windows at a time with the same comparisons as
   the scalar loop below, as lane masks; returns the windows done and ORs a NaN
   flag into *nan. */
#if CCONV_SSE2
#define CCONV_SEL(M, A, B, SFX) _mm_or_##SFX(_mm_and_##SFX(M, A), _mm_andnot_##SFX(M, B))
static inline Py_ssize_t cconv_maxpool22_row_f(const float* r0, const float* r1, float* o,
                                               uint16_t* a, Py_ssize_t OW, int* nan) {
    Py_ssize_t ow = 0;
    __m128 bad = _mm_setzero_ps();
    const __m128i two = _mm_set1_epi32(2);
    for (; ow + 4 <= OW; ow += 4) {
        __m128 p = _mm_loadu_ps(r0 + 2 * ow), q = _mm_loadu_ps(r0 + 2 * ow + 4);
        __m128 u = _mm_loadu_ps(r1 + 2 * ow), w = _mm_loadu_ps(r1 + 2 * ow + 4);
        __m128 v0 = _mm_shuffle_ps(p, q, _MM_SHUFFLE(2, 0, 2, 0));
        __m128 v1 = _mm_shuffle_ps(p, q, _MM_SHUFFLE(3, 1, 3, 1));
        __m128 v2 = _mm_shuffle_ps(u, w, _MM_SHUFFLE(2, 0, 2, 0));
        __m128 v3 = _mm_shuffle_ps(u, w, _MM_SHUFFLE(3, 1, 3, 1));
        bad = _mm_or_ps(bad, _mm_or_ps(_mm_cmpunord_ps(v0, v1), _mm_cmpunord_ps(v2, v3)));
        __m128 g01 = _mm_cmpgt_ps(v1, v0), g23 = _mm_cmpgt_ps(v3, v2);
        __m128 m01 = CCONV_SEL(g01, v1, v0, ps), m23 = CCONV_SEL(g23, v3, v2, ps);
        __m128 g = _mm_cmpgt_ps(m23, m01);
        _mm_storeu_ps(o + ow, CCONV_SEL(g, m23, m01, ps));
        __m128i i01 = _mm_srli_epi32(_mm_castps_si128(g01), 31);
        __m128i i23 = _mm_srli_epi32(_mm_castps_si128(g23), 31);
        __m128i gi = _mm_castps_si128(g);
        __m128i k = _mm_or_si128(_mm_and_si128(gi, _mm_add_epi32(two, i23)),
                                 _mm_andnot_si128(gi, i01));
        _mm_storel_epi64((__m128i*)(a + ow), _mm_packs_epi32(k, k));
    }
    *nan |= _mm_movemask_ps(bad) != 0;
    return ow;
}
static inline Py_ssize_t cconv_maxpool22_row_d(const double* r0, const double* r1,
                                               double* o, uint16_t* a, Py_ssize_t OW,
                                               int* nan) {
    Py_ssize_t ow = 0;
    __m128d bad = _mm_setzero_pd();
    const __m128i two = _mm_set1_epi32(2);
    for (; ow + 2 <= OW; ow += 2) {
        __m128d p = _mm_loadu_pd(r0 + 2 * ow), q = _mm_loadu_pd(r0 + 2 * ow + 2);
        __m128d u = _mm_loadu_pd(r1 + 2 * ow), w = _mm_loadu_pd(r1 + 2 * ow + 2);
        __m128d v0 = _mm_unpacklo_pd(p, q), v1 = _mm_unpackhi_pd(p, q);
        __m128d v2 = _mm_unpacklo_pd(u, w), v3 = _mm_unpackhi_pd(u, w);
        bad = _mm_or_pd(bad, _mm_or_pd(_mm_cmpunord_pd(v0, v1), _mm_cmpunord_pd(v2, v3)));
        __m128d g01 = _mm_cmpgt_pd(v1, v0), g23 = _mm_cmpgt_pd(v3, v2);
        __m128d m01 = CCONV_SEL(g01, v1, v0, pd), m23 = CCONV_SEL(g23, v3, v2, pd);
        __m128d g = _mm_cmpgt_pd(m23, m01);
        _mm_storeu_pd(o + ow, CCONV_SEL(g, m23, m01, pd));
        __m128i i01 = _mm_srli_epi32(_mm_castpd_si128(g01), 31);   /* 0/1 in each half */
        __m128i i23 = _mm_srli_epi32(_mm_castpd_si128(g23), 31);
        __m128i gi = _mm_castpd_si128(g);
        __m128i k = _mm_or_si128(_mm_and_si128(gi, _mm_add_epi32(two, i23)),
                                 _mm_andnot_si128(gi, i01));
        a[ow] = (uint16_t)_mm_cvtsi128_si32(k);
        a[ow + 1] = (uint16_t)_mm_cvtsi128_si32(_mm_srli_si128(k, 8));
    }
    *nan |= _mm_movemask_pd(bad) != 0;
    return ow;
}
#define CCONV_MAXPOOL22_ROW(SUF, r0, r1, o, a, OW, nan) \
    cconv_maxpool22_row_##SUF(r0, r1, o, a, OW, nan)
#else
#define CCONV_MAXPOOL22_ROW(SUF, r0, r1, o, a, OW, nan) 0
#endif

/* The book's 2x2, stride-2 max pooling of one plane, written in C so that the
   comparisons become selects (Cython's if/else defeats if-conversion and random
   data then mispredicts). Returns nonzero if the plane holds a NaN; the caller then
   redoes the plane on the exact NaN-propagating path. */
#define CCONV_MAXPOOL22(T, NAME, SUF)                                         \
static int NAME(const T* x, T* out, uint16_t* arg, Py_ssize_t W,              \
                Py_ssize_t OH, Py_ssize_t OW) {                               \
    int nan = 0;                                                              \
    for (Py_ssize_t oh = 0; oh < OH; ++oh) {                                  \
        const T* r0 = x + 2 * oh * W;                                         \
        const T* r1 = r0 + W;                                                 \
        T* o = out + oh * OW;                                                 \
        uint16_t* a = arg + oh * OW;                                          \
        Py_ssize_t ow = CCONV_MAXPOOL22_ROW(SUF, r0, r1, o, a, OW, &nan);     \
        for (; ow < OW; ++ow) {                                               \
            T v0 = r0[2 * ow], v1 = r0[2 * ow + 1];                           \
            T v2 = r1[2 * ow], v3 = r1[2 * ow + 1];                           \
            nan |= (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3);         \
            CCONV_MAX22(T, v0, v1, v2, v3, o[ow], a[ow]);                     \
        }                                                                     \
    }                                                                         \
    return nan;                                                               \
}
CCONV_MAXPOOL22(float, cconv_maxpool22_f, f)
CCONV_MAXPOOL22(double, cconv_maxpool22_d, d)

/* One row of 2x2 windows in SSE2: the argmax row is widened to the lanes' width,
   compared with 0..3 into lane masks, and the masked gradients are interleaved into
   the two dx rows. y (NULL: none) is the gate row, the pooled ReLU output: a gradient
   whose window maximum is <= 0 becomes +0 first (NaN passes), as relu_backward would
   make it. Returns the windows done; the scalar loop finishes the row (and does all of
   it without SSE2). arg values lie in [0, 4). */
#if CCONV_SSE2
static inline Py_ssize_t cconv_maxpool22_back_row_f(const float* g, const uint16_t* a,
                                                     const float* y, float* d0, float* d1,
                                                     Py_ssize_t OW) {
    Py_ssize_t ow = 0;
    const __m128i c0 = _mm_set1_epi32(0), c1 = _mm_set1_epi32(1);
    const __m128i c2 = _mm_set1_epi32(2), c3 = _mm_set1_epi32(3);
    for (; ow + 4 <= OW; ow += 4) {
        __m128 v = _mm_loadu_ps(g + ow);
        if (y)   /* !(y <= 0): true for NaN */
            v = _mm_and_ps(v, _mm_cmpnle_ps(_mm_loadu_ps(y + ow), _mm_setzero_ps()));
        /* 4 uint16 indices widened to 32-bit lanes */
        __m128i k = _mm_unpacklo_epi16(_mm_loadl_epi64((const __m128i*)(a + ow)),
                                       _mm_setzero_si128());
        __m128 m0 = _mm_and_ps(v, _mm_castsi128_ps(_mm_cmpeq_epi32(k, c0)));
        __m128 m1 = _mm_and_ps(v, _mm_castsi128_ps(_mm_cmpeq_epi32(k, c1)));
        __m128 m2 = _mm_and_ps(v, _mm_castsi128_ps(_mm_cmpeq_epi32(k, c2)));
        __m128 m3 = _mm_and_ps(v, _mm_castsi128_ps(_mm_cmpeq_epi32(k, c3)));
        _mm_storeu_ps(d0 + 2 * ow, _mm_unpacklo_ps(m0, m1));
        _mm_storeu_ps(d0 + 2 * ow + 4, _mm_unpackhi_ps(m0, m1));
        _mm_storeu_ps(d1 + 2 * ow, _mm_unpacklo_ps(m2, m3));
        _mm_storeu_ps(d1 + 2 * ow + 4, _mm_unpackhi_ps(m2, m3));
    }
    return ow;
}
static inline Py_ssize_t cconv_maxpool22_back_row_d(const double* g, const uint16_t* a,
                                                     const double* y, double* d0,
                                                     double* d1, Py_ssize_t OW) {
    Py_ssize_t ow = 0;
    const __m128i c0 = _mm_set1_epi32(0), c1 = _mm_set1_epi32(1);
    const __m128i c2 = _mm_set1_epi32(2), c3 = _mm_set1_epi32(3);
    for (; ow + 2 <= OW; ow += 2) {
        __m128d v = _mm_loadu_pd(g + ow);
        if (y)
            v = _mm_and_pd(v, _mm_cmpnle_pd(_mm_loadu_pd(y + ow), _mm_setzero_pd()));
        /* 2 uint16 indices, each copied into both 32-bit halves of a 64-bit lane */
        int32_t k2;
        memcpy(&k2, a + ow, sizeof k2);
        __m128i k = _mm_unpacklo_epi16(_mm_cvtsi32_si128(k2), _mm_setzero_si128());
        k = _mm_unpacklo_epi32(k, k);
        __m128d m0 = _mm_and_pd(v, _mm_castsi128_pd(_mm_cmpeq_epi32(k, c0)));
        __m128d m1 = _mm_and_pd(v, _mm_castsi128_pd(_mm_cmpeq_epi32(k, c1)));
        __m128d m2 = _mm_and_pd(v, _mm_castsi128_pd(_mm_cmpeq_epi32(k, c2)));
        __m128d m3 = _mm_and_pd(v, _mm_castsi128_pd(_mm_cmpeq_epi32(k, c3)));
        _mm_storeu_pd(d0 + 2 * ow, _mm_unpacklo_pd(m0, m1));
        _mm_storeu_pd(d0 + 2 * ow + 2, _mm_unpackhi_pd(m0, m1));
        _mm_storeu_pd(d1 + 2 * ow, _mm_unpacklo_pd(m2, m3));
        _mm_storeu_pd(d1 + 2 * ow + 2, _mm_unpackhi_pd(m2, m3));
    }
    return ow;
}
#define CCONV_MAXPOOL22_BACK_ROW(SUF, g, a, y, d0, d1, OW) \
    cconv_maxpool22_back_row_##SUF(g, a, y, d0, d1, OW)
#else
#define CCONV_MAXPOOL22_BACK_ROW(SUF, g, a, y, d0, d1, OW) 0
#endif

/* 2x2, stride-2 pooling of one plane, the other three passes. Windows tile the
   plane, so every dx cell is written exactly once (no memset, no read-modify-write);
   cells outside the tiling (odd H or W) are zeroed; y (NULL: none) gates max pooling's
   gradients as in the row above. The loops are written so that gcc vectorises them
   at -O3. */
#define CCONV_POOL22_REST(T, UT, SUF)                                         \
static inline void cconv_put_masked_##SUF(T* d, UT bits, int keep) {         \
    /* d = keep ? value : +0.0 through a bit mask: a select would become a     \
       branch, and a random argmax would mispredict it half the time */        \
    UT r = bits & ((UT)0 - (UT)keep);                                         \
    memcpy(d, &r, sizeof r);                                                  \
}                                                                             \
static void cconv_maxpool22_back_##SUF(const T* g, const uint16_t* a,        \
                                      const T* y, T* dx,                       \
                                      Py_ssize_t H, Py_ssize_t W,              \
                                      Py_ssize_t OH, Py_ssize_t OW) {          \
    for (Py_ssize_t oh = 0; oh < OH; ++oh) {                                  \
        T* d0 = dx + 2 * oh * W;                                              \
        T* d1 = d0 + W;                                                       \
        const T* go = g + oh * OW;                                            \
        const uint16_t* ao = a + oh * OW;                                     \
        const T* yo = y ? y + oh * OW : NULL;                                 \
        Py_ssize_t ow = CCONV_MAXPOOL22_BACK_ROW(SUF, go, ao, yo, d0, d1, OW); \
        for (; ow < OW; ++ow) {                                               \
            UT u;                                                             \
            memcpy(&u, go + ow, sizeof u);                                    \
            if (yo && yo[ow] <= 0)                                            \
                u = 0;                                                        \
            int k = ao[ow];                                                   \
            cconv_put_masked_##SUF(d0 + 2 * ow, u, k == 0);                   \
            cconv_put_masked_##SUF(d0 + 2 * ow + 1, u, k == 1);               \
            cconv_put_masked_##SUF(d1 + 2 * ow, u, k == 2);                   \
            cconv_put_masked_##SUF(d1 + 2 * ow + 1, u, k == 3);               \
        }                                                                     \
        for (Py_ssize_t iw = 2 * OW; iw < W; ++iw) { d0[iw] = 0; d1[iw] = 0; } \
    }                                                                         \
    for (Py_ssize_t i = 2 * OH * W; i < H * W; ++i) dx[i] = 0;                \
}                                                                             \
static void cconv_avgpool22_##SUF(const T* x, T* out, Py_ssize_t W,           \
                                  Py_ssize_t OH, Py_ssize_t OW) {             \
    for (Py_ssize_t oh = 0; oh < OH; ++oh) {                                  \
        const T* r0 = x + 2 * oh * W;                                         \
        const T* r1 = r0 + W;                                                 \
        T* o = out + oh * OW;                                                 \
        /* ((a + b) + c) + d: the order of the reference's mean over (kh, kw) */ \
        for (Py_ssize_t ow = 0; ow < OW; ++ow)                                \
            o[ow] = (((r0[2 * ow] + r0[2 * ow + 1]) + r1[2 * ow])             \
                     + r1[2 * ow + 1]) * (T)0.25;                             \
    }                                                                         \
}                                                                             \
static void cconv_avgpool22_back_##SUF(const T* g, T* dx, Py_ssize_t H,        \
                                       Py_ssize_t W, Py_ssize_t OH,            \
                                       Py_ssize_t OW) {                        \
    for (Py_ssize_t oh = 0; oh < OH; ++oh) {                                  \
        T* d0 = dx + 2 * oh * W;                                              \
        T* d1 = d0 + W;                                                       \
        const T* go = g + oh * OW;                                            \
        for (Py_ssize_t ow = 0; ow < OW; ++ow) {                              \
            T v = go[ow] * (T)0.25;                                           \
            d0[2 * ow] = v; d0[2 * ow + 1] = v;                               \
            d1[2 * ow] = v; d1[2 * ow + 1] = v;                               \
        }                                                                     \
        for (Py_ssize_t iw = 2 * OW; iw < W; ++iw) { d0[iw] = 0; d1[iw] = 0; } \
    }                                                                         \
    for (Py_ssize_t i = 2 * OH * W; i < H * W; ++i) dx[i] = 0;                \
}
CCONV_POOL22_REST(float, uint32_t, f)
CCONV_POOL22_REST(double, uint64_t, d)
#endif  /* CCONV_POOLING_H */
