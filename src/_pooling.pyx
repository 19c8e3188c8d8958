"""Max and average pooling on NCHW arrays.

x (N, C, H, W) -> out (N, C, OH, OW). Max pooling also writes arg (N, C, OH, OW), uint16,
the index kh*PW + kw of each window's first maximum (np.argmax's tie rule; padding reads
as -inf; a NaN wins, as in np.max). Average pooling divides by PH*PW (padding counts
as 0).
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport INFINITY
from libc.stdint cimport uint16_t
from libc.string cimport memset

from _simd cimport CCONV_SSE2

include "_build.pxi"

cdef extern from *:
    """
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
                int g01 = v1 > v0, g23 = v3 > v2;                                 \
                T m01 = g01 ? v1 : v0, m23 = g23 ? v3 : v2;                       \
                int g = m23 > m01;                                                \
                T m = g ? m23 : m01;                                              \
                o[ow] = m;                                                        \
                /* arithmetic, not a select: gcc turns the select into a branch */ \
                a[ow] = (uint16_t)(g01 + g * (2 + g23 - g01));                    \
            }                                                                     \
        }                                                                         \
        return nan;                                                               \
    }
    CCONV_MAXPOOL22(float, cconv_maxpool22_f, f)
    CCONV_MAXPOOL22(double, cconv_maxpool22_d, d)

    /* One row of 2x2 windows in SSE2: the argmax row is widened to the lanes' width,
       compared with 0..3 into lane masks, and the masked gradients are interleaved into
       the two dx rows. Returns the windows done; the scalar loop finishes the row (and
       does all of it without SSE2). arg values lie in [0, 4). */
    #if CCONV_SSE2
    static inline Py_ssize_t cconv_maxpool22_back_row_f(const float* g, const uint16_t* a,
                                                         float* d0, float* d1, Py_ssize_t OW) {
        Py_ssize_t ow = 0;
        const __m128i c0 = _mm_set1_epi32(0), c1 = _mm_set1_epi32(1);
        const __m128i c2 = _mm_set1_epi32(2), c3 = _mm_set1_epi32(3);
        for (; ow + 4 <= OW; ow += 4) {
            __m128 v = _mm_loadu_ps(g + ow);
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
                                                         double* d0, double* d1, Py_ssize_t OW) {
        Py_ssize_t ow = 0;
        const __m128i c0 = _mm_set1_epi32(0), c1 = _mm_set1_epi32(1);
        const __m128i c2 = _mm_set1_epi32(2), c3 = _mm_set1_epi32(3);
        for (; ow + 2 <= OW; ow += 2) {
            __m128d v = _mm_loadu_pd(g + ow);
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
    #define CCONV_MAXPOOL22_BACK_ROW(SUF, g, a, d0, d1, OW) \
        cconv_maxpool22_back_row_##SUF(g, a, d0, d1, OW)
    #else
    #define CCONV_MAXPOOL22_BACK_ROW(SUF, g, a, d0, d1, OW) 0
    #endif

    /* 2x2, stride-2 pooling of one plane, the other three passes. Windows tile the
       plane, so every dx cell is written exactly once (no memset, no read-modify-write);
       cells outside the tiling (odd H or W) are zeroed. The loops are written so that
       gcc vectorises them at -O3. */
    #define CCONV_POOL22_REST(T, UT, SUF)                                         \
    static inline void cconv_put_masked_##SUF(T* d, UT bits, int keep) {         \
        /* d = keep ? value : +0.0 through a bit mask: a select would become a     \
           branch, and a random argmax would mispredict it half the time */        \
        UT r = bits & ((UT)0 - (UT)keep);                                         \
        memcpy(d, &r, sizeof r);                                                  \
    }                                                                             \
    static void cconv_maxpool22_back_##SUF(const T* g, const uint16_t* a, T* dx, \
                                          Py_ssize_t H, Py_ssize_t W,              \
                                          Py_ssize_t OH, Py_ssize_t OW) {          \
        for (Py_ssize_t oh = 0; oh < OH; ++oh) {                                  \
            T* d0 = dx + 2 * oh * W;                                              \
            T* d1 = d0 + W;                                                       \
            const T* go = g + oh * OW;                                            \
            const uint16_t* ao = a + oh * OW;                                     \
            Py_ssize_t ow = CCONV_MAXPOOL22_BACK_ROW(SUF, go, ao, d0, d1, OW);    \
            for (; ow < OW; ++ow) {                                               \
                UT u;                                                             \
                memcpy(&u, go + ow, sizeof u);                                    \
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
    """
    int cconv_maxpool22_f(const float* x, float* out, uint16_t* arg, Py_ssize_t W,
                          Py_ssize_t OH, Py_ssize_t OW) noexcept nogil
    int cconv_maxpool22_d(const double* x, double* out, uint16_t* arg, Py_ssize_t W,
                          Py_ssize_t OH, Py_ssize_t OW) noexcept nogil
    void cconv_maxpool22_back_f(const float* g, const uint16_t* a, float* dx,
                                Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH,
                                Py_ssize_t OW) noexcept nogil
    void cconv_maxpool22_back_d(const double* g, const uint16_t* a, double* dx,
                                Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH,
                                Py_ssize_t OW) noexcept nogil
    void cconv_avgpool22_f(const float* x, float* out, Py_ssize_t W, Py_ssize_t OH,
                           Py_ssize_t OW) noexcept nogil
    void cconv_avgpool22_d(const double* x, double* out, Py_ssize_t W, Py_ssize_t OH,
                           Py_ssize_t OW) noexcept nogil
    void cconv_avgpool22_back_f(const float* g, float* dx, Py_ssize_t H, Py_ssize_t W,
                                Py_ssize_t OH, Py_ssize_t OW) noexcept nogil
    void cconv_avgpool22_back_d(const double* g, double* dx, Py_ssize_t H, Py_ssize_t W,
                                Py_ssize_t OH, Py_ssize_t OW) noexcept nogil


cdef inline bint _is_22(Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t sh, Py_ssize_t sw,
                        Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    # The book's pooling: 2x2 windows, stride 2, no padding.
    return PH == 2 and PW == 2 and sh == 2 and sw == 2 and ph == 0 and pw == 0


cdef inline void _max_window(const floating* x, Py_ssize_t H, Py_ssize_t W,
                             Py_ssize_t ih0, Py_ssize_t iw0, Py_ssize_t PH, Py_ssize_t PW,
                             floating* out, uint16_t* arg) noexcept nogil:
    # Window order (kh, kw), strict '>' keeps the first maximum. A padded cell is -inf:
    # it never beats a real value but is the answer when every cell is -inf (np.argmax
    # says index 0 then, and best_k starts at 0). NaNs are only flagged in the hot loop;
    # a flagged window is rescanned for its first NaN, which wins as in np.max.
    cdef Py_ssize_t kh, kw, ih, iw, best_k = 0, k
    cdef floating v, best = -INFINITY
    cdef bint nan_seen = False, gt
    cdef bint inside = ih0 >= 0 and ih0 + PH <= H and iw0 >= 0 and iw0 + PW <= W
    for kh in range(PH):
        ih = ih0 + kh
        if not inside and (ih < 0 or ih >= H):
            continue
        for kw in range(PW):
            iw = iw0 + kw
            if not inside and (iw < 0 or iw >= W):
                continue
            v = x[ih * W + iw]
            k = kh * PW + kw
            nan_seen = nan_seen | (v != v)
            gt = v > best
            best = v if gt else best
            best_k = best_k + gt * (k - best_k)  # arithmetic: keeps the loop branch-free
    if nan_seen:
        for kh in range(PH):
            ih = ih0 + kh
            if ih < 0 or ih >= H:
                continue
            for kw in range(PW):
                iw = iw0 + kw
                if 0 <= iw < W and x[ih * W + iw] != x[ih * W + iw]:
                    out[0] = x[ih * W + iw]
                    arg[0] = <uint16_t>(kh * PW + kw)
                    return
    out[0] = best
    arg[0] = <uint16_t>best_k


cdef inline void _maxpool_plane(const floating* x, floating* out, uint16_t* arg,
                                Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW,
                                Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t sh, Py_ssize_t sw,
                                Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    cdef Py_ssize_t oh, ow, ih0, iw0, i
    cdef int nan
    if _is_22(PH, PW, sh, sw, ph, pw):
        if floating is float:
            nan = cconv_maxpool22_f(x, out, arg, W, OH, OW)
        else:
            nan = cconv_maxpool22_d(x, out, arg, W, OH, OW)
        if not nan:
            return
    for oh in range(OH):
        ih0 = oh * sh - ph
        for ow in range(OW):
            iw0 = ow * sw - pw
            i = oh * OW + ow
            _max_window(x, H, W, ih0, iw0, PH, PW, out + i, arg + i)


def maxpool_forward_into(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] out,
                         uint16_t[:, :, :, ::1] arg, Py_ssize_t PH, Py_ssize_t PW,
                         Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw,
                         int n_threads):
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t OH = out.shape[2], OW = out.shape[3]
    cdef Py_ssize_t t
    if N * C == 0 or OH * OW == 0:
        return
    cdef floating* op = &out[0, 0, 0, 0]
    cdef uint16_t* ap = &arg[0, 0, 0, 0]
    if H == 0 or W == 0:
        # Every window lies in the padding, which reads as -inf (argmax 0, as np.argmax);
        # x has no element to take the address of.
        for t in range(N * C * OH * OW):
            op[t] = -INFINITY
            ap[t] = 0
        return
    cdef const floating* xp = &x[0, 0, 0, 0]
    # Plane (n, c) of out and arg belongs to one work item.
    for t in prange(N * C, nogil=True, schedule='static', num_threads=n_threads):
        _maxpool_plane(xp + t * H * W, op + t * OH * OW, ap + t * OH * OW,
                       H, W, OH, OW, PH, PW, sh, sw, ph, pw)


cdef inline void _maxpool_back_plane(const floating* dout, const uint16_t* arg,
                                     floating* dx, Py_ssize_t H, Py_ssize_t W,
                                     Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t PH,
                                     Py_ssize_t PW, Py_ssize_t sh, Py_ssize_t sw,
                                     Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    cdef Py_ssize_t oh, ow, k, ih, iw
    if _is_22(PH, PW, sh, sw, ph, pw):
        if floating is float:
            cconv_maxpool22_back_f(dout, arg, dx, H, W, OH, OW)
        else:
            cconv_maxpool22_back_d(dout, arg, dx, H, W, OH, OW)
        return
    # Other shapes: scatter after a memset (windows may overlap).
    memset(dx, 0, H * W * sizeof(floating))
    for oh in range(OH):
        for ow in range(OW):
            k = arg[oh * OW + ow]
            ih = oh * sh - ph + k // PW
            iw = ow * sw - pw + k % PW
            if 0 <= ih < H and 0 <= iw < W:
                dx[ih * W + iw] += dout[oh * OW + ow]


def maxpool_backward_into(const floating[:, :, :, ::1] dout,
                          const uint16_t[:, :, :, ::1] arg,
                          floating[:, :, :, ::1] dx, Py_ssize_t PH, Py_ssize_t PW,
                          Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw,
                          int n_threads):
    """arg values must lie in [0, PH*PW); the caller checks."""
    cdef Py_ssize_t N = dx.shape[0], C = dx.shape[1], H = dx.shape[2], W = dx.shape[3]
    cdef Py_ssize_t OH = dout.shape[2], OW = dout.shape[3]
    cdef Py_ssize_t t
    if N * C == 0 or H * W == 0:
        return
    cdef floating* dp = &dx[0, 0, 0, 0]
    if OH * OW == 0:
        memset(dp, 0, N * C * H * W * sizeof(floating))
        return
    cdef const floating* gp = &dout[0, 0, 0, 0]
    cdef const uint16_t* ap = &arg[0, 0, 0, 0]
    # Plane (n, c) of dx belongs to one work item; overlapping windows add in (oh, ow)
    # order whatever the thread count.
    for t in prange(N * C, nogil=True, schedule='static', num_threads=n_threads):
        _maxpool_back_plane(gp + t * OH * OW, ap + t * OH * OW, dp + t * H * W,
                            H, W, OH, OW, PH, PW, sh, sw, ph, pw)


cdef inline void _avgpool_plane(const floating* x, floating* out,
                                Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW,
                                Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t sh, Py_ssize_t sw,
                                Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    cdef Py_ssize_t oh, ow, kh, kw, ih, iw, ih0, iw0
    cdef floating s
    cdef floating cnt = <floating>(PH * PW)
    cdef bint inside
    if _is_22(PH, PW, sh, sw, ph, pw):
        if floating is float:
            cconv_avgpool22_f(x, out, W, OH, OW)
        else:
            cconv_avgpool22_d(x, out, W, OH, OW)
        return
    for oh in range(OH):
        ih0 = oh * sh - ph
        for ow in range(OW):
            iw0 = ow * sw - pw
            inside = ih0 >= 0 and ih0 + PH <= H and iw0 >= 0 and iw0 + PW <= W
            s = 0
            for kh in range(PH):
                ih = ih0 + kh
                if not inside and (ih < 0 or ih >= H):
                    continue
                for kw in range(PW):
                    iw = iw0 + kw
                    if inside or 0 <= iw < W:
                        s = s + x[ih * W + iw]
            out[oh * OW + ow] = s / cnt   # a division, as the reference's mean


def avgpool_forward_into(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] out,
                         Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t sh, Py_ssize_t sw,
                         Py_ssize_t ph, Py_ssize_t pw, int n_threads):
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t OH = out.shape[2], OW = out.shape[3]
    cdef Py_ssize_t t
    if N * C == 0 or OH * OW == 0:
        return
    cdef floating* op = &out[0, 0, 0, 0]
    if H == 0 or W == 0:
        # Every window lies in the padding, which counts as 0.
        memset(op, 0, N * C * OH * OW * sizeof(floating))
        return
    cdef const floating* xp = &x[0, 0, 0, 0]
    for t in prange(N * C, nogil=True, schedule='static', num_threads=n_threads):
        _avgpool_plane(xp + t * H * W, op + t * OH * OW, H, W, OH, OW,
                       PH, PW, sh, sw, ph, pw)


cdef inline void _avgpool_back_plane(const floating* dout, floating* dx,
                                     Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW,
                                     Py_ssize_t PH, Py_ssize_t PW,
                                     Py_ssize_t sh, Py_ssize_t sw,
                                     Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    cdef Py_ssize_t oh, ow, kh, kw, ih, iw
    cdef floating g
    cdef floating cnt = <floating>(PH * PW)
    cdef floating* d
    if _is_22(PH, PW, sh, sw, ph, pw):
        if floating is float:
            cconv_avgpool22_back_f(dout, dx, H, W, OH, OW)
        else:
            cconv_avgpool22_back_d(dout, dx, H, W, OH, OW)
        return
    if sh == PH and sw == PW and ph == 0 and pw == 0:
        # Windows tile the plane: each covered cell is written once.
        if OH * PH < H or OW * PW < W:
            memset(dx, 0, H * W * sizeof(floating))
        for oh in range(OH):
            for ow in range(OW):
                g = dout[oh * OW + ow] / cnt
                d = dx + oh * PH * W + ow * PW
                for kh in range(PH):
                    for kw in range(PW):
                        d[kh * W + kw] = g
        return
    memset(dx, 0, H * W * sizeof(floating))
    for oh in range(OH):
        for ow in range(OW):
            g = dout[oh * OW + ow] / cnt
            for kh in range(PH):
                ih = oh * sh - ph + kh
                if ih < 0 or ih >= H:
                    continue
                for kw in range(PW):
                    iw = ow * sw - pw + kw
                    if 0 <= iw < W:
                        dx[ih * W + iw] += g


def avgpool_backward_into(const floating[:, :, :, ::1] dout, floating[:, :, :, ::1] dx,
                          Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t sh, Py_ssize_t sw,
                          Py_ssize_t ph, Py_ssize_t pw, int n_threads):
    cdef Py_ssize_t N = dx.shape[0], C = dx.shape[1], H = dx.shape[2], W = dx.shape[3]
    cdef Py_ssize_t OH = dout.shape[2], OW = dout.shape[3]
    cdef Py_ssize_t t
    if N * C == 0 or H * W == 0:
        return
    cdef floating* dp = &dx[0, 0, 0, 0]
    if OH * OW == 0:
        memset(dp, 0, N * C * H * W * sizeof(floating))
        return
    cdef const floating* gp = &dout[0, 0, 0, 0]
    for t in prange(N * C, nogil=True, schedule='static', num_threads=n_threads):
        _avgpool_back_plane(gp + t * OH * OW, dp + t * H * W, H, W, OH, OW,
                            PH, PW, sh, sw, ph, pw)
