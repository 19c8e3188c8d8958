/* Helpers shared by every instruction-set variant of the convolution engine (each
   variant's object gets its own static copy, compiled with that variant's flags).

   The layout the kernels compute in ("flat padded planes"): for each channel, the
   samples of a chunk one after another, each sample a segment of R rows of Wr values
   holding its plane with zero padding around it. Neighbouring rows and samples share
   their zero margins (Wr and R are the least sizes that keep every valid output's
   window inside its own sample's data or zeros), so a filter tap (kh, kw) of channel c
   is one constant offset c*row_len + kh*Wr + kw from the output position: a convolution
   over the whole chunk is a GEMM whose right operand is read in place, never stored. */
#ifndef CCONV_CONV_COMMON_H
#define CCONV_CONV_COMMON_H

#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "conv.h"
#include "../max22.h"
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h> /* the unpooling's zero-extending loads */
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define CC_RESTRICT __restrict__
#define CC_UNUSED __attribute__((unused))
#define CC_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#define CC_RESTRICT __restrict
#define CC_UNUSED
#define CC_NOINLINE __declspec(noinline)
#else
#define CC_RESTRICT
#define CC_UNUSED
#define CC_NOINLINE
#endif

/* A hint to bring the cache line at p in ahead of its use. */
#if defined(__GNUC__) || defined(__clang__)
#define CC_PREFETCH(p) __builtin_prefetch(p)
#else
#define CC_PREFETCH(p) ((void)(p))
#endif

/* In a copy loop: keeps the compiler from turning it into a memcpy/memmove call (a
   call per short row costs more than the copy). */
#if defined(__GNUC__) || defined(__clang__)
#define CC_NO_MEMCPY() __asm__ __volatile__("" ::: "memory")
#else
#define CC_NO_MEMCPY() ((void)0)
#endif

/* n bytes from s to d (apart): below 64, two overlapping moves of the largest power of
   two that fits (memcpy of a constant size compiles to plain loads and stores, so a
   short row costs no call); else memcpy. */
static inline CC_UNUSED void cc_copy_short(void* CC_RESTRICT d, const void* CC_RESTRICT s,
                                           size_t n)
{
    char* dc = (char*)d;
    const char* sc = (const char*)s;
    if (n >= 64) {
        memcpy(d, s, n);
        return;
    }
#define CC_COPY_PAIR(B)                       \
    if (n >= B) {                             \
        memcpy(dc, sc, B);                    \
        memcpy(dc + n - B, sc + n - B, B);    \
        return;                               \
    }
    CC_COPY_PAIR(32)
    CC_COPY_PAIR(16)
    CC_COPY_PAIR(8)
    CC_COPY_PAIR(4)
    CC_COPY_PAIR(2)
#undef CC_COPY_PAIR
    if (n)
        *dc = *sc;
}

/* n values of size bytes, rounded up to an odd number of 64-byte cache lines: the stride
   of rows that are read or written together, so that they never share the L1's sets. */
static inline CC_UNUSED ptrdiff_t cc_odd_lines(ptrdiff_t n, size_t size)
{
    const ptrdiff_t per = 64 / (ptrdiff_t)size;
    ptrdiff_t lines = (n + per - 1) / per;
    return (lines | 1) * per;
}

/* Fully unrolled constant loops keep the accumulators in registers. */
#if defined(__clang__)
#define CC_UNROLL _Pragma("unroll")
#elif defined(__GNUC__) && __GNUC__ >= 8
#define CC_UNROLL _Pragma("GCC unroll 16")
#else
#define CC_UNROLL
#endif

/* Positions of the output grid each chunk aims at: the chunk's operands then stay in
   the L1/L2 caches while every filter block runs over them. */
#ifndef CC_CHUNK_POSITIONS
#define CC_CHUNK_POSITIONS 2048
#endif
#ifndef CC_DW_CHUNK_POSITIONS
#define CC_DW_CHUNK_POSITIONS 2048
#endif

/* A matmul's k in blocks of this many: a panel's block (k x one register tile's width)
   stays in L2 while the item's rows pass. */
#ifndef CC_MM_KBLOCK
#define CC_MM_KBLOCK 256
#endif

/* 1: a matmul reads B's whole column panels where they lie when B's rows are contiguous
   (one register tile's width of each row); 0: it packs them into contiguous panels
   first, as it does the others. A variant whose L1 cache cannot hold a panel's k block
   read in place (it spans two or three cache lines a row) sets 0. */
#ifndef CC_MM_IN_PLACE
#define CC_MM_IN_PLACE 1
#endif

/* Winograd's "auto" choice for a 3x3 stride-1 call with cin input and cout output
   channels (either dtype): 64 or more channels in all, as DeepConvNet's conv4-conv6 in
   both directions, where `cconv bench layers` measured it ahead of the direct and the
   channel-vector kernels on the AVX-512 machine this was written on. With 16 channels
   in and out (conv2), or 16 and 32 (conv3), the transforms cost about what the 2.25x
   fewer multiplications save. It goes ahead of the channel-vector kernel's auto choice. */
/* The channel-vector kernel (cvec.h) in the auto mode: planes of at most 8 columns with
   output channels for a whole tile's lanes. Measured (2 threads, AVX-512, min of 60
   calls, batch 100): DeepConvNet's 8x8 layers, float32 conv6 forward 1.41 -> 1.21 ms,
   its input gradient 1.39 -> 1.20, conv5 forward 0.76 -> 0.69; float64 (32 lanes)
   conv6 forward 2.40 (Winograd) -> 2.16, conv5's input gradient 1.18 -> 1.13; but
   conv5's float32 input gradient (32 channels: half the 64 lanes) 0.75 -> 1.13, and on
   14x14 planes and larger the flat layout won (conv3 forward 0.61 against 1.00). On
   7x7 planes (a wider margin share) float32 conv6 measured 1.45 -> 1.04. */
#ifndef CC_CVEC_AUTO
#define CC_CVEC_AUTO(cin, cout, OH, OW, lanes) ((OW) <= 8 && (cout) >= (lanes))
#endif

#ifndef CC_WINO_AUTO
#define CC_WINO_AUTO(cin, cout, bytes) ((cin) + (cout) >= 64)
#endif

/* One axis of the flat layout: source indices i0..i0+n-1 land at padded positions
   pos0 + (i - i0) * step; len is the segment length (Wr for columns, R for rows). */
typedef struct {
    ptrdiff_t i0, n, pos0, step, len;
} cc_axis;

/* A source of length src_len, dilated by step (zeros between its values), shifted by
   off (negative: its head is cropped), read by out_len outputs of a filter of length
   filt. Values beyond what valid outputs read are dropped. */
static CC_UNUSED cc_axis cc_axis_make(ptrdiff_t src_len, ptrdiff_t step, ptrdiff_t off,
                                      ptrdiff_t out_len, ptrdiff_t filt)
{
    cc_axis a;
    ptrdiff_t padded = out_len + filt - 1, i1, first, last, len;
    a.step = step;
    a.i0 = off >= 0 ? 0 : (-off + step - 1) / step;
    i1 = off > padded - 1 ? -1 : (padded - 1 - off) / step;
    if (i1 > src_len - 1)
        i1 = src_len - 1;
    if (a.i0 > i1) {  /* nothing of the source is read: all zeros */
        a.n = 0;
        a.pos0 = 0;
        first = padded;
        last = -1;
    } else {
        a.n = i1 - a.i0 + 1;
        a.pos0 = off + a.i0 * step;
        first = a.pos0;
        last = off + i1 * step;
    }
    /* a window that runs past the segment's end must land in the next segment's zero
       head (first > its overrun) and read zeros where it should (len > last) */
    len = last + 1;
    if (padded - first > len)
        len = padded - first;
    if (out_len > len)
        len = out_len;
    a.len = len < 1 ? 1 : len;
    return a;
}

/* OpenMP directives inside macros (nothing without OpenMP). */
#if defined(_OPENMP) && defined(_MSC_VER)
#define CC_OMP(x) __pragma(x)
#elif defined(_OPENMP)
#define CC_OMP(x) _Pragma(#x)
#else
#define CC_OMP(x)
#endif

/* How a call's work is cut: chunks of S samples (nch of them), each split into G groups
   of channel blocks when there are too few chunks to keep n_threads busy. */
typedef struct {
    ptrdiff_t S, nch, G, items;
} cc_plan;

static CC_UNUSED cc_plan cc_plan_make(ptrdiff_t N, ptrdiff_t S, ptrdiff_t nblocks, int nt)
{
    cc_plan p;
    p.S = S < 1 ? 1 : S;
    p.nch = (N + p.S - 1) / p.S;
    p.G = 1;
    if (p.nch < 2 * nt) {
        p.G = (2 * nt + p.nch - 1) / p.nch;
        if (p.G > nblocks)
            p.G = nblocks;
    }
    p.items = p.nch * p.G;
    return p;
}

/* off[k] for taps k = (channel, kh, kw) of the flat layout; taps K..Kp-1 (padding of a
   register block) read channel 0 and are dropped by the caller. */
static CC_UNUSED void cc_tap_offsets(ptrdiff_t* off, ptrdiff_t K, ptrdiff_t Kp, ptrdiff_t FH,
                                     ptrdiff_t FW, ptrdiff_t row_len, ptrdiff_t Wr)
{
    ptrdiff_t k;
    for (k = 0; k < Kp; k++)
        off[k] = k < K ? (k / (FH * FW)) * row_len + ((k / FW) % FH) * Wr + k % FW : 0;
}

/* A thread whose buffers could not be allocated marks the call failed. */
static CC_UNUSED void cc_mark_failed(int* failed)
{
    CC_OMP(omp atomic write)
    *failed = 1;
}

static CC_UNUSED ptrdiff_t cc_round_up(ptrdiff_t n, ptrdiff_t m) { return (n + m - 1) / m * m; }

/* 64-byte aligned blocks; the pointer to free sits just before the block. */
static CC_UNUSED void* cc_alloc(size_t bytes)
{
    char* raw = (char*)malloc(bytes + 64 + sizeof(void*));
    char* p;
    if (!raw)
        return NULL;
    p = (char*)(((uintptr_t)(raw + sizeof(void*)) + 63) & ~(uintptr_t)63);
    ((void**)p)[-1] = raw;
    return p;
}

static CC_UNUSED void cc_free(void* p)
{
    if (p)
        free(((void**)p)[-1]);
}

static CC_UNUSED int cc_threads(int n_threads)
{
#ifdef _OPENMP
    return n_threads < 1 ? 1 : n_threads;
#else
    (void)n_threads;
    return 1;
#endif
}

#endif
