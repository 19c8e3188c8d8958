/* AVX2 + FMA variant (compiled with -mavx2 -mfma -ffp-contract=fast by setup.py; the
   dispatcher runs it only where cpuid and xgetbv say the CPU and OS support it).
   16 ymm registers: 12 accumulators, 3 inputs, 1 broadcast. */
#define VBYTES 32
#define ISA avx2
#define ISA_NAME "avx2"
#define ISA_DETAIL "AVX2 + FMA, 32-byte vectors"
#define FWD_FB 4
#define FWD_NV 3
#define DW_FB 3
#define DW_KB 4
#define CV_NV 2   /* channel-vector kernel: CV_NV vectors of channels x CV_R positions */
#define CV_R 6
#define PEAK_ACC 12
/* Measured on Zen 3 (32 KiB L1, `cconv bench layers`): Winograd ahead of the direct
   kernel on every float32 layer it applies to, conv2 (16 + 16 channels) included; in
   float64 from conv3 (16 + 32) on. */
#define CC_WINO_AUTO(cin, cout, bytes) ((bytes) == 4 || (cin) + (cout) >= 48)
/* Measured on Zen 3 (forward, input gradient and weight gradient, cvec on vs off, 2
   threads, batch 100): the channel-vector kernel ahead on planes up to 14 wide once 6
   or more input channels feed it (LeNet's conv2 0.80x forward, DeepConvNet's conv3
   0.85-0.93x in float64), besides the small planes of the AVX-512 rule; with 3 input
   channels it falls behind from 10 wide. */
#define CC_CVEC_AUTO(cin, cout, OH, OW, lanes) \
    ((cout) >= (lanes) && ((OW) <= 8 || ((OW) <= 14 && (cin) >= 6)))
/* a panel's k block read in place misses this L1: pack every panel */
#define CC_MM_IN_PLACE 0
#if defined(__AVX2__) && defined(__FMA__)
#include "conv_isa.h"
#else
#error "conv_avx2.c must be compiled with -mavx2 -mfma"
#endif
