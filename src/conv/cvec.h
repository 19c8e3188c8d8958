/* The channel-vector direct kernel ("cvec") for stride-1 convolutions on small planes.
   No include guard: conv_template.h includes it once per dtype, after fwd_tile, pool22,
   store_row and the epilogue, which it uses.

   The flat layout of run_conv computes every position of a sample's padded grid, margins
   included: on DeepConvNet's 8x8 planes 81 positions for 64 outputs (on 7x7 ones, 64 for
   49). Here the output channels lie across the vector lanes instead: a tile holds CV_NV
   vectors (CV_NV * VL channels) for up to CV_R output positions (consecutive in row
   order, so a tile may span rows), and reads each input value of its windows as one
   broadcast from a zero-padded copy of the sample; the filters are packed as
   [block][c][kh][kw][CV_NV * VL] and taken a slice of input channels at a time (the
   slice stays in L1 across the sample's tiles). Only real outputs are computed. Each value is the
   same sum as the direct kernel's (the bias, then k = (c, kh, kw) in order, one
   multiply-add each), so the two kernels give the same bits; a work item is one sample
   (all its channel blocks), so the result does not depend on the thread count. */

#define CVW (CV_NV * VL)
#ifndef CC_CVEC_SLICE_BYTES
#define CC_CVEC_SLICE_BYTES (32 * 1024)   /* the filters' slice: most of the L1 cache */
#endif

/* Y[r][0 .. CVW) = S[r][.] + sum_k A[k][.] * X[c][kh][po[r] + kw] for nr output
   positions r whose windows start at po[r] in the padded plane (channel planes cs
   apart, rows Wp apart), k over Cin channels; S is the bias (bias != NULL) or Y's own
   partial sums (the same sum continued in order: the filters are taken a slice of
   input channels at a time, so that the slice stays in the L1 cache across a sample's
   tiles). relu: the last slice. */
static inline __attribute__((always_inline)) void FN(cv_tile_n)(
    const REAL* CC_RESTRICT A, const REAL* CC_RESTRICT X, const ptrdiff_t* CC_RESTRICT po,
    ptrdiff_t cs, ptrdiff_t Wp, ptrdiff_t Cin, ptrdiff_t FH, ptrdiff_t FW,
    const REAL* CC_RESTRICT bias, int relu, REAL* CC_RESTRICT Y, const int nr)
{
    ptrdiff_t o[CV_R];
    VEC acc[CV_R][CV_NV];
    const REAL* a = A;
    ptrdiff_t c, kh, kw;
    int r, v;
    CC_UNROLL for (r = 0; r < nr; r++)
        o[r] = po[r];
    CC_UNROLL for (r = 0; r < nr; r++) {
        CC_UNROLL for (v = 0; v < CV_NV; v++)
            acc[r][v] = bias ? LOADU(bias + v * VL) : LOADU(Y + r * CVW + v * VL);
    }
    for (c = 0; c < Cin; c++)
        for (kh = 0; kh < FH; kh++) {
            const REAL* xr = X + c * cs + kh * Wp;
            for (kw = 0; kw < FW; kw++, a += CVW) {
                VEC wv[CV_NV];
                CC_UNROLL for (v = 0; v < CV_NV; v++)
                    wv[v] = LOADU(a + v * VL);
                CC_UNROLL for (r = 0; r < nr; r++) {
                    REAL xb = xr[o[r] + kw];
                    CC_UNROLL for (v = 0; v < CV_NV; v++)
                        acc[r][v] += xb * wv[v];
                }
            }
        }
    if (relu)
        CC_UNROLL for (r = 0; r < nr; r++) {
            CC_UNROLL for (v = 0; v < CV_NV; v++)
                acc[r][v] = RELU(acc[r][v]);
        }
    CC_UNROLL for (r = 0; r < nr; r++) {
        CC_UNROLL for (v = 0; v < CV_NV; v++)
            STOREU(Y + r * CVW + v * VL, acc[r][v]);
    }
}

/* One tile of nr (1 .. CV_R) positions, each count compiled with its own unrolled
   loops; never inlined, so the accumulators get the register file. */
static CC_NOINLINE void FN(cv_tile)(const REAL* A, const REAL* X, const ptrdiff_t* po,
                                    ptrdiff_t cs, ptrdiff_t Wp, ptrdiff_t Cin, ptrdiff_t FH,
                                    ptrdiff_t FW, const REAL* bias, int relu, REAL* Y, int nr)
{
    switch (nr) {
#define CV_CASE(n) case n: FN(cv_tile_n)(A, X, po, cs, Wp, Cin, FH, FW, bias, relu, Y, n); break;
    CV_CASE(1)
#if CV_R >= 2
    CV_CASE(2)
#endif
#if CV_R >= 3
    CV_CASE(3)
#endif
#if CV_R >= 4
    CV_CASE(4)
#endif
#if CV_R >= 5
    CV_CASE(5)
#endif
#if CV_R >= 6
    CV_CASE(6)
#endif
#if CV_R >= 7
    CV_CASE(7)
#endif
#if CV_R >= 8
    CV_CASE(8)
#endif
#undef CV_CASE
    default: break;
    }
}

/* dst (N, Cout, OH, OW) = the stride-1 correlation of src (N, Cin, Hs, Ws) zero-padded
   by (ph, pw) (0 <= p < filter), with the packed filters A (nb blocks of CVW channels)
   and the block-padded bias; the epilogue e as run_conv's (dst NULL: not stored). */
static int FN(cv_conv)(const REAL* src, ptrdiff_t N, ptrdiff_t Cin, ptrdiff_t Hs,
                       ptrdiff_t Ws, ptrdiff_t ph, ptrdiff_t pw, ptrdiff_t Cout,
                       ptrdiff_t FH, ptrdiff_t FW, const REAL* A, const REAL* bias,
                       const FN(epilogue)* e, REAL* dst, ptrdiff_t OH, ptrdiff_t OW,
                       int n_threads)
{
    const ptrdiff_t Hp = OH + FH - 1, Wp = OW + FW - 1, cs = Hp * Wp, P = OH * OW;
    const ptrdiff_t nb = (Cout + CVW - 1) / CVW, K = Cin * FH * FW, taps = FH * FW;
    const ptrdiff_t POH = OH / 2, POW = OW / 2;
    /* input channels per slice of the filters: about CC_CVEC_SLICE_BYTES of them */
    const ptrdiff_t cb0 = CC_CVEC_SLICE_BYTES / (ptrdiff_t)(taps * CVW * sizeof(REAL));
    const ptrdiff_t CB = cb0 < 1 ? 1 : cb0;
    /* tiles of a plane: its P positions in row order, cut into ntile runs of at most
       CV_R, as even as they come (8x8 = 64: four of 7 and six of 6) */
    const ptrdiff_t ntile = (P + CV_R - 1) / CV_R;
    const int nt = cc_threads(n_threads);
    ptrdiff_t n, *po;
    int failed = 0;
    po = (ptrdiff_t*)cc_alloc((size_t)P * sizeof(ptrdiff_t));
    if (!po)
        return CCONV_CONV_ENOMEM;
    for (n = 0; n < P; n++)   /* each position's window in the padded plane */
        po[n] = n / OW * Wp + n % OW;
    CC_OMP(omp parallel num_threads(nt))
    {
        REAL* X = (REAL*)cc_alloc((size_t)(Cin * cs) * sizeof(REAL) + 1);
        REAL* Y = (REAL*)cc_alloc((size_t)(CVW * P) * sizeof(REAL));
        REAL* T = (REAL*)cc_alloc((size_t)(ntile * CV_R * CVW) * sizeof(REAL));
        if (!X || !Y || !T)
            cc_mark_failed(&failed);
        CC_OMP(omp for schedule(dynamic, 1))
        for (n = 0; n < N; n++) {
            ptrdiff_t c, i, fb;
            if (!X || !Y || !T)
                continue;
            memset(X, 0, (size_t)(Cin * cs) * sizeof(REAL));
            for (c = 0; c < Cin; c++)
                for (i = 0; i < Hs; i++)
                    FN(copy_row)(X + c * cs + (ph + i) * Wp + pw,
                                 src + ((n * Cin + c) * Hs + i) * Ws, Ws);
            for (fb = 0; fb < nb; fb++) {
                ptrdiff_t f, r, ch, c0, t, nch = Cout - fb * CVW < CVW ? Cout - fb * CVW : CVW;
                for (c0 = 0; c0 < Cin; c0 += CB) {   /* each tile's sums, a slice at a time */
                    ptrdiff_t nc = Cin - c0 < CB ? Cin - c0 : CB;
                    for (t = 0; t < ntile; t++) {
                        ptrdiff_t p0 = t * P / ntile, p1 = (t + 1) * P / ntile;
                        FN(cv_tile)(A + (fb * K + c0 * taps) * CVW, X + c0 * cs, po + p0,
                                    cs, Wp, nc, FH, FW, c0 == 0 ? bias + fb * CVW : NULL,
                                    e->relu && c0 + nc == Cin, T + t * CV_R * CVW,
                                    (int)(p1 - p0));
                    }
                }
                for (t = 0; t < ntile; t++) {   /* channels to their planes */
                    const REAL* tt = T + t * CV_R * CVW;
                    ptrdiff_t p0 = t * P / ntile, p1 = (t + 1) * P / ntile;
                    for (r = 0; r < p1 - p0; r++)
                        for (ch = 0; ch < nch; ch++)
                            Y[ch * P + p0 + r] = tt[r * CVW + ch];
                }
                for (ch = 0; ch < nch; ch++) {
                    f = fb * CVW + ch;
                    if (e->pool_out) {
                        ptrdiff_t at = (n * Cout + f) * POH * POW;
                        FN(pool22)(Y + ch * P, OW, 1, e->pool_out + at, e->pool_arg + at,
                                   POH, POW);
                    }
                    if (dst)
                        for (i = 0; i < OH; i++) {
                            ptrdiff_t at = ((n * Cout + f) * OH + i) * OW;
                            FN(store_row)(dst + at, Y + ch * P + i * OW, 1,
                                          e->gate ? e->gate + at : NULL, OW);
                        }
                }
            }
        }
        cc_free(X);
        cc_free(Y);
        cc_free(T);
    }
    cc_free(po);
    return failed ? CCONV_CONV_ENOMEM : 0;
}

/* The cvec kernel for this call? Stride 1, padding below the filter's size, and, in the
   auto mode, planes where the flat layout's tiles would compute many margin positions
   and enough output channels to fill the lanes (CC_CVEC_AUTO); on: wherever it applies. */
static int FN(cv_wanted)(const cconv_conv_shape* g, ptrdiff_t pad_h, ptrdiff_t pad_w,
                         ptrdiff_t cin, ptrdiff_t cout, ptrdiff_t OH, ptrdiff_t OW)
{
    const int mode = cconv_conv_cvec();
    if (mode == CCONV_CVEC_OFF || g->sh != 1 || g->sw != 1 || pad_h < 0 || pad_w < 0 ||
        pad_h >= g->FH || pad_w >= g->FW || cin < 1)
        return 0;
    return mode == CCONV_CVEC_ON || CC_CVEC_AUTO(cin, cout, OH, OW, CVW);
}

/* The call by the cvec kernel: 0 done, or CCONV_CONV_ENOMEM. flip: the input gradient. */
static int FN(cv_call)(const REAL* src, ptrdiff_t N, ptrdiff_t Cin, ptrdiff_t Hs,
                       ptrdiff_t Ws, ptrdiff_t ph, ptrdiff_t pw, const cconv_conv_shape* g,
                       const REAL* w, int flip, const REAL* b, const FN(epilogue)* e,
                       REAL* dst, ptrdiff_t OH, ptrdiff_t OW, int n_threads)
{
    ptrdiff_t Cout = flip ? g->C : g->F;
    REAL* A = FN(pack)(w, g->F, g->C, g->FH, g->FW, flip, CVW);
    REAL* bias = FN(block_bias)(b, Cout, CVW);
    int rc = CCONV_CONV_ENOMEM;
    if (A && bias)
        rc = FN(cv_conv)(src, N, Cin, Hs, Ws, ph, pw, Cout, g->FH, g->FW, A, bias, e, dst,
                         OH, OW, n_threads);
    cc_free(A);
    cc_free(bias);
    return rc;
}

#undef CVW
