/* cconv's convolution engine: direct convolution (implicit GEMM, no columns stored) for
   forward, input gradient and weight gradient, float32 and float64, several instruction
   sets chosen at run time.  Every array is C-contiguous NCHW (x, y, dx, dout) or
   (F, C, FH, FW) (W, dW); what the kernels keep inside a call is their own business.

   Each function returns 0, or CCONV_CONV_ENOMEM when a work buffer could not be
   allocated, or CCONV_CONV_EPATH for a weight gradient from a pooling's (cconv_unpool)
   that the call's kernel does not take (nothing else can fail: the caller has checked
   the shapes). */
#ifndef CCONV_CONV_H
#define CCONV_CONV_H

#include <stddef.h>
#include <stdint.h>

#define CCONV_CONV_ENOMEM (-1)
#define CCONV_CONV_EPATH (-2)

typedef struct {
    ptrdiff_t N, C, H, W;      /* input x */
    ptrdiff_t F, FH, FW;       /* filters W (F, C, FH, FW) */
    ptrdiff_t sh, sw, ph, pw;  /* stride, zero padding on each side */
    ptrdiff_t OH, OW;          /* output (H + 2ph - FH) / sh + 1, ... */
} cconv_conv_shape;

/* y = conv(x, W) + b, then max(y, 0) if relu; b may be NULL (no bias). With pool_out
   (and pool_arg, (N, F, OH/2, OW/2)): also y's 2x2 stride-2 max pooling and each
   window's argmax kh*2 + kw, as the pooling kernels give them (pool_arg NULL: the maxima
   only, an inference pass); y may then be NULL (not stored). */
typedef int (*cconv_conv_fwd_f32)(const cconv_conv_shape*, const float* x, const float* w,
                                  const float* b, int relu, float* y, float* pool_out,
                                  uint16_t* pool_arg, int n_threads);
typedef int (*cconv_conv_fwd_f64)(const cconv_conv_shape*, const double* x, const double* w,
                                  const double* b, int relu, double* y, double* pool_out,
                                  uint16_t* pool_arg, int n_threads);
/* dx = the input gradient of conv for dout (N, F, OH, OW); where gate (NULL: none; x's
   shape, the output of a ReLU before the convolution) is <= 0, dx = 0: that ReLU's
   backward in the same pass. */
typedef int (*cconv_conv_dx_f32)(const cconv_conv_shape*, const float* dout, const float* w,
                                 const float* gate, float* dx, int n_threads);
typedef int (*cconv_conv_dx_f64)(const cconv_conv_shape*, const double* dout, const double* w,
                                 const double* gate, double* dx, int n_threads);
/* The output gradient of a convolution followed by ReLU and a 2x2 stride-2 max pooling,
   given as the pooling's: dout = each window's gradient dpool (N, F, OH/2, OW/2) at its
   argmax arg (kh*2 + kw), 0 elsewhere (an odd last row or column too), and 0 where gate
   (the pooling's output, the windows' maxima; NULL: none) is <= 0 -- what the pooling's
   and the ReLU's backward give, never stored. dpool and gate in the call's dtype. */
typedef struct {
    const void* dpool;
    const uint16_t* arg;
    const void* gate;
} cconv_unpool;
/* dW (and db = dout summed over n, oh, ow, unless NULL), overwritten; the sums run in an
   order fixed by the shapes alone, so they do not depend on n_threads. dout from up
   instead when up is not NULL (dout is then not read; the direct kernel's path only). */
typedef int (*cconv_conv_dw_f32)(const cconv_conv_shape*, const float* x, const float* dout,
                                 const cconv_unpool* up, float* dw, float* db, int n_threads);
typedef int (*cconv_conv_dw_f64)(const cconv_conv_shape*, const double* x, const double* dout,
                                 const cconv_unpool* up, double* dw, double* db,
                                 int n_threads);

/* C = A @ B (+ bias per column, unless NULL), then max(C, 0) if relu: A (M, K), B (K, N)
   by element strides, C (M, N) with row stride ldc; the sums do not depend on
   n_threads. */
typedef int (*cconv_matmul_f32)(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const float* a,
                                ptrdiff_t ars, ptrdiff_t acs, const float* b, ptrdiff_t brs,
                                ptrdiff_t bcs, const float* bias, int relu, float* c,
                                ptrdiff_t ldc, int n_threads);
typedef int (*cconv_matmul_f64)(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const double* a,
                                ptrdiff_t ars, ptrdiff_t acs, const double* b, ptrdiff_t brs,
                                ptrdiff_t bcs, const double* bias, int relu, double* c,
                                ptrdiff_t ldc, int n_threads);

typedef struct {
    const char* name;          /* "baseline", "avx2", "avx512" */
    const char* detail;        /* what the variant was compiled for */
    int vector_bytes;          /* bytes per SIMD register the kernels use (0: scalar C) */
    int fwd_block;             /* output channels x vectors of pixels held in registers */
    int fwd_vectors;
    cconv_conv_fwd_f32 fwd_f32;
    cconv_conv_fwd_f64 fwd_f64;
    cconv_conv_dx_f32 dx_f32;
    cconv_conv_dx_f64 dx_f64;
    cconv_conv_dw_f32 dw_f32;
    cconv_conv_dw_f64 dw_f64;
    cconv_matmul_f32 matmul_f32;
    cconv_matmul_f64 matmul_f64;
    /* which kernel a call of this shape and these filters runs, for the pass (a
       CCONV_PASS_* value): a CCONV_PATH_* value */
    int (*path_f32)(const cconv_conv_shape*, const float* w, int pass);
    int (*path_f64)(const cconv_conv_shape*, const double* w, int pass);
    /* an FMA-throughput loop: returns a value that depends on every FMA (so nothing is
       optimised away); n_iter * flops_per_iter float32 FLOPs */
    double (*fma_loop_f32)(long n_iter, int* flops_per_iter);
    double (*fma_loop_f64)(long n_iter, int* flops_per_iter);
} cconv_conv_isa;

enum { CCONV_ISA_BASELINE = 0, CCONV_ISA_AVX2 = 1, CCONV_ISA_AVX512 = 2, CCONV_ISA_COUNT = 3 };

/* The variant compiled into this build for index i, or NULL if it was not built. */
const cconv_conv_isa* cconv_conv_isa_built(int i);
/* 1 when this CPU and its OS can run variant i (cpuid + xgetbv), else 0. */
int cconv_conv_isa_supported(int i);
/* The variant in use (chosen by cconv_conv_select; the best supported one before that). */
const cconv_conv_isa* cconv_conv_active(void);
/* Use variant i: 0 on success, -1 not built, -2 the CPU/OS cannot run it. */
int cconv_conv_select(int i);
/* The best variant that is built and supported. */
int cconv_conv_best(void);

/* When the 3x3 stride-1 convolutions run by Winograd F(2x2, 3x3): never, where it
   measured faster than the direct kernel (the default), or wherever it applies. */
enum { CCONV_WINOGRAD_OFF = 0, CCONV_WINOGRAD_AUTO = 1, CCONV_WINOGRAD_ON = 2 };
int cconv_conv_winograd(void);
void cconv_conv_set_winograd(int mode);

/* When stride-1 convolutions run on the channel-vector kernel (cvec.h): never, on the
   shapes where it measured faster than the flat-layout kernel (the default), or wherever
   it applies. */
enum { CCONV_CVEC_OFF = 0, CCONV_CVEC_AUTO = 1, CCONV_CVEC_ON = 2 };
/* The kernels a convolution call may run (Winograd falls back to the direct kernel on
   an input that is not finite). */
enum { CCONV_PATH_DIRECT = 0, CCONV_PATH_WINOGRAD = 1, CCONV_PATH_CVEC = 2 };
/* The passes of a convolution: the forward, the input gradient, the weight gradient. */
enum { CCONV_PASS_FORWARD = 0, CCONV_PASS_DX = 1, CCONV_PASS_DW = 2 };
int cconv_conv_cvec(void);
void cconv_conv_set_cvec(int mode);

#endif
