/* tanh for float32 arrays in whole vectors (GCC/clang vector extensions), for the Tanh
   layer's compiled forward (src/_activation.pyx). The body is tanh_template.h, once in
   16-byte vectors (SSE2 registers where the build has them, scalar code otherwise) and,
   on x86 with GCC or clang, once in 32-byte AVX2 vectors, which runs where the CPU (and
   OS) has AVX2; both give the same bits. Branch-free: every lane takes the same
   instructions, so a value's result depends neither on its neighbours nor on the thread.

   For |x| >= CC_TANH_SMALL: tanh|x| = (1 - t) / (1 + t), t = exp(-2|x|), with exp by the
   usual range reduction (2^n from the exponent bits times a degree-7 polynomial of the
   remainder, at most ln2/2 in size; ln2 in two parts, so that n*ln2 is exact). Below
   it, where 1 - t would cancel, the odd Taylor series of tanh to x^17 (its terms shrink
   by about 0.12 each there). |x| is clamped to 9 first (tanh(9) rounds to 1 in
   float32), the sign copied back last: NaN stays NaN, +-inf give +-1, -0 gives -0.
   Within 2 float32 ulp of the exact value (tested against float64 on a dense grid). */
#ifndef CCONV_ACTIVATION_H
#define CCONV_ACTIVATION_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sse2.h"

#define CC_TANH_SMALL 0.55f
#define CC_TANH_CLAMP 9.0f

#define TV_BYTES 16
#define TV(name) name##_v16
#define TV_TARGET
#include "tanh_template.h"
#undef TV_BYTES
#undef TV
#undef TV_TARGET

#if CCONV_SSE2 && (defined(__GNUC__) || defined(__clang__)) && \
    (defined(__x86_64__) || defined(__i386__))
#define CC_TANH_AVX2 1
#define TV_BYTES 32
#define TV(name) name##_avx2
#define TV_TARGET __attribute__((target("avx2")))
#include "tanh_template.h"
#undef TV_BYTES
#undef TV
#undef TV_TARGET
#else
#define CC_TANH_AVX2 0
#endif

/* y[i] = tanh(x[i]) for i < n; y2 (unless NULL) gets the same values. The AVX2 body
   where the CPU (and OS) has AVX2: __builtin_cpu_supports reads what libgcc's start-up
   found in cpuid and xgetbv (a load, nothing to cache, safe from every thread). */
static inline void cc_tanh_f32(const float* x, float* y, float* y2, ptrdiff_t n)
{
#if CC_TANH_AVX2
    if (__builtin_cpu_supports("avx2")) {
        cc_tanh_f32_avx2(x, y, y2, n);
        return;
    }
#endif
    cc_tanh_f32_v16(x, y, y2, n);
}

#endif
