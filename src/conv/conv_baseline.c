/* The portable variant, in the extension's default flags: 16-byte vectors (SSE2 on
   x86-64, NEON on arm64) through GCC/clang vector extensions; plain scalar C with other
   compilers (MSVC) or when built with -DCCONV_SSE2=0. 16 vector registers: a 4 x 3 block
   of accumulators. */
#include "../sse2.h"
#if (defined(__GNUC__) || defined(__clang__)) && \
    (CCONV_SSE2 || defined(__ARM_NEON) || defined(__aarch64__))
#define VBYTES 16
#define ISA_DETAIL "16-byte vectors (SSE2/NEON), no FMA"
#else
#define VBYTES 0
#define ISA_DETAIL "portable scalar C"
#endif
#define ISA baseline
#define ISA_NAME "baseline"
#define FWD_FB 4
#define FWD_NV 3
#define DW_FB 3
#define DW_KB 4
#define CV_NV 2   /* channel-vector kernel: CV_NV vectors of channels x CV_R positions */
#define CV_R 5
#define PEAK_ACC 12
#include "conv_isa.h"
