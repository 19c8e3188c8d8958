/* tanh for float32 and float64 arrays in whole vectors (GCC/clang vector extensions),
   for the Tanh layer's compiled forward (src/_activation.pyx). The body is
   tanh_template.h, once in 16-byte vectors (SSE2 registers where the build has them,
   scalar code otherwise) and, on x86 with GCC or clang, once in 32-byte AVX2 vectors,
   which runs where the CPU (and OS) has AVX2; both give the same bits. Branch-free:
   every lane takes the same instructions, so a value's result depends neither on its
   neighbours nor on the thread.

   For |x| >= CC_TANH_SMALL: tanh|x| = (1 - t) / (1 + t), t = exp(-2|x|), with exp by the
   usual range reduction (2^n from the exponent bits times a polynomial of the remainder,
   at most ln2/2 in size: degree 7 in float32, 13 in float64; ln2 in two parts, so that
   n*ln2 is exact). Below it, where 1 - t would cancel, the odd Taylor series of tanh
   (to x^17 in float32, x^35 in float64; its terms shrink by about 0.12 each there). |x|
   is clamped first (to 9 in float32, 20 in float64: tanh rounds to 1 there), the sign
   copied back last: NaN stays NaN, +-inf give +-1, -0 gives -0. Within 2 ulp of the
   exact value (tested against a wider type on a dense grid). */
#ifndef CCONV_ACTIVATION_H
#define CCONV_ACTIVATION_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sse2.h"

#define CC_TANH_SMALL 0.55f
#define CC_TANH_CLAMP 9.0f
#define CC_TANH_CLAMP64 20.0

#define TV_BYTES 16
#define TV_TARGET
#define TV_DOUBLE 0
#define TV(name) name##_f32_v16
#include "tanh_template.h"
#undef TV
#undef TV_DOUBLE
#define TV_DOUBLE 1
#define TV(name) name##_f64_v16
#include "tanh_template.h"
#undef TV
#undef TV_DOUBLE
#undef TV_BYTES
#undef TV_TARGET

#if CCONV_SSE2 && (defined(__GNUC__) || defined(__clang__)) && \
    (defined(__x86_64__) || defined(__i386__))
#define CC_TANH_AVX2 1
#define TV_BYTES 32
#define TV_TARGET __attribute__((target("avx2")))
#define TV_DOUBLE 0
#define TV(name) name##_f32_avx2
#include "tanh_template.h"
#undef TV
#undef TV_DOUBLE
#define TV_DOUBLE 1
#define TV(name) name##_f64_avx2
#include "tanh_template.h"
#undef TV
#undef TV_DOUBLE
#undef TV_BYTES
#undef TV_TARGET
#else
#define CC_TANH_AVX2 0
#endif

/* One body by name, for the tests: which = 0 the 16-byte one, 1 the AVX2 one; returns
   -1 (nothing written) when this build or CPU has no such body. */
static inline int cc_tanh_body(int which, int dbl, const void* x, void* y, ptrdiff_t n)
{
    if (which == 0) {
        if (dbl)
            cc_tanh_f64_v16((const double*)x, (double*)y, NULL, n);
        else
            cc_tanh_f32_v16((const float*)x, (float*)y, NULL, n);
        return 0;
    }
#if CC_TANH_AVX2
    if (which == 1 && __builtin_cpu_supports("avx2")) {
        if (dbl)
            cc_tanh_f64_avx2((const double*)x, (double*)y, NULL, n);
        else
            cc_tanh_f32_avx2((const float*)x, (float*)y, NULL, n);
        return 0;
    }
#endif
    return -1;
}

/* cc_tanh_f32 and cc_tanh_f64: y[i] = tanh(x[i]) for i < n; y2 (unless NULL) gets the
   same values. The AVX2 body where the CPU (and OS) has AVX2: __builtin_cpu_supports
   reads what libgcc's start-up found in cpuid and xgetbv (a load, nothing to cache, safe
   from every thread). */
#if CC_TANH_AVX2
#define CC_TANH_AVX2_CALL(S) \
    if (__builtin_cpu_supports("avx2")) { \
        cc_tanh_##S##_avx2(x, y, y2, n); \
        return; \
    }
#else
#define CC_TANH_AVX2_CALL(S)
#endif
#define CC_DEF_TANH(S, T) \
    static inline void cc_tanh_##S(const T* x, T* y, T* y2, ptrdiff_t n) \
    { \
        CC_TANH_AVX2_CALL(S) \
        cc_tanh_##S##_v16(x, y, y2, n); \
    }
CC_DEF_TANH(f32, float)
CC_DEF_TANH(f64, double)
#undef CC_DEF_TANH
#undef CC_TANH_AVX2_CALL

#endif
