/* SIMD switch (CCONV_SSE2) and streaming copies shared by the kernel modules. */
#ifndef CCONV_SIMD_H
#define CCONV_SIMD_H
#include <Python.h>  /* Py_ssize_t; Cython's generated C includes it first */
#include <string.h>
#include "sse2.h"
#if CCONV_SSE2
#include <emmintrin.h>
#endif
/* Copy n bytes; [dst, dst + n) belongs to the caller's thread alone. Only whole,
   16-byte-aligned chunks are streamed; the unaligned head and the tail use memcpy.
   A thread calls cconv_stream_fence after its last streamed store. */
static inline void cconv_stream_part(void* dst, const void* src, size_t n) {
#if CCONV_SSE2
    char* d = (char*)dst;
    const char* s = (const char*)src;
    size_t head = (16 - ((size_t)d & 15)) & 15;
    if (head > n) head = n;
    memcpy(d, s, head);
    d += head; s += head; n -= head;
    for (; n >= 64; n -= 64, d += 64, s += 64) {
        __m128i a = _mm_loadu_si128((const __m128i*)s);
        __m128i b = _mm_loadu_si128((const __m128i*)(s + 16));
        __m128i c = _mm_loadu_si128((const __m128i*)(s + 32));
        __m128i e = _mm_loadu_si128((const __m128i*)(s + 48));
        _mm_stream_si128((__m128i*)d, a);
        _mm_stream_si128((__m128i*)(d + 16), b);
        _mm_stream_si128((__m128i*)(d + 32), c);
        _mm_stream_si128((__m128i*)(d + 48), e);
    }
    for (; n >= 16; n -= 16, d += 16, s += 16)
        _mm_stream_si128((__m128i*)d, _mm_loadu_si128((const __m128i*)s));
    memcpy(d, s, n);
#else
    memcpy(dst, src, n);
#endif
}
/* Make this thread's streamed stores visible (before its parallel region ends). */
static inline void cconv_stream_fence(void) {
#if CCONV_SSE2
    _mm_sfence();
#endif
}
/* Where to cut [0, n) of a stream to base near x: at a 64-byte line of the
   destination, so that no line is shared by two pieces (0 and n stay put). */
static inline size_t cconv_stream_cut(const void* base, size_t x, size_t n) {
    if (x >= n) return n;
    size_t b = (size_t)base, c = (b + x) & ~(size_t)63;
    return c <= b ? 0 : c - b;
}
#endif  /* CCONV_SIMD_H */
