/* AVX-512F variant (compiled with -mavx512f -mfma -ffp-contract=fast by setup.py; run only
   where cpuid says AVX-512F and xgetbv says the OS saves the zmm and opmask state).
   32 zmm registers: 24 accumulators (8 channels x 3 vectors of 16 float32 / 8 float64
   positions), the 3 input vectors, broadcasts folded into the FMAs. */
#define VBYTES 64
#define ISA avx512
#define ISA_NAME "avx512"
#define ISA_DETAIL "AVX-512F + FMA, 64-byte vectors"
#define FWD_FB 8
#define FWD_NV 3
#ifndef DW_FB
#define DW_FB 4
#define DW_KB 6
#endif
#define CV_NV 4   /* channel-vector kernel: CV_NV vectors of channels x CV_R positions */
#define CV_R 7
#define PEAK_ACC 16
#if defined(__AVX512F__) && defined(__FMA__)
#include "conv_isa.h"
#else
#error "conv_avx512.c must be compiled with -mavx512f -mfma"
#endif
