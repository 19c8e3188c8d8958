/* CCONV_SSE2: 1 where SSE2 can be used (gcc/clang say __SSE2__; MSVC says _M_X64 or
   _M_IX86_FP >= 2), 0 otherwise; -DCCONV_SSE2=0 forces the plain C paths. The one
   definition, for the kernel modules (simd.h) and the convolution engine's baseline. */
#ifndef CCONV_SSE2_H
#define CCONV_SSE2_H
#ifndef CCONV_SSE2
#if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#define CCONV_SSE2 1
#else
#define CCONV_SSE2 0
#endif
#endif
#endif
