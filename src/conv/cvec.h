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
/* CV_CASES(CV_R, X): X(1) X(2) .. X(CV_R), the cases of a tile's switch on its count */
#ifndef CV_CASES
#define CV_C1(X) X(1)
#define CV_C2(X) CV_C1(X) X(2)
#define CV_C3(X) CV_C2(X) X(3)
#define CV_C4(X) CV_C3(X) X(4)
#define CV_C5(X) CV_C4(X) X(5)
#define CV_C6(X) CV_C5(X) X(6)
#define CV_C7(X) CV_C6(X) X(7)
#define CV_C8(X) CV_C7(X) X(8)
#define CV_CASES_(r, X) CV_C##r(X)
#define CV_CASES(r, X) CV_CASES_(r, X)
#endif
#ifndef CC_CVEC_SLICE_BYTES
#define CC_CVEC_SLICE_BYTES (32 * 1024)   /* the filters' slice: most of the L1 cache */
#endif

/* Samples n0 .. n0+ns-1 of src (N, Cin, Hs, Ws) zero-padded by (ph, pw) into
   X[n][c][Hp][Wp]. */
static void FN(cv_pad)(REAL* X, const REAL* src, ptrdiff_t n0, ptrdiff_t ns, ptrdiff_t Cin,
                       ptrdiff_t Hs, ptrdiff_t Ws, ptrdiff_t ph, ptrdiff_t pw, ptrdiff_t Hp,
                       ptrdiff_t Wp)
{
    ptrdiff_t n, c, i;
    memset(X, 0, (size_t)(ns * Cin * Hp * Wp) * sizeof(REAL));
    for (n = 0; n < ns; n++)
        for (c = 0; c < Cin; c++)
            for (i = 0; i < Hs; i++)
                FN(copy_row)(X + ((n * Cin + c) * Hp + ph + i) * Wp + pw,
                             src + (((n0 + n) * Cin + c) * Hs + i) * Ws, Ws);
}

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
    CV_CASES(CV_R, CV_CASE)
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
            ptrdiff_t i, fb;
            if (!X || !Y || !T)
                continue;
            FN(cv_pad)(X, src, n, 1, Cin, Hs, Ws, ph, pw, Hp, Wp);
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
                        FN(pool22)(Y + ch * P, OW, 1, e->pool_out + at,
                                   e->pool_arg ? e->pool_arg + at : NULL, POH, POW, e->relu);
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

/* ---- the weight gradient on the channel-vector layout ----

   dW[f][k] = sum over positions p of D[p][f] * X[p + off[k]], k = (c, kh, kw): the
   filters across the lanes (CV_NV vectors of them) and CV_R taps in registers, the
   positions streamed. Only real output positions are summed (the flat layout's dW also
   sums the zeros of every margin position: 100 grid positions for an 8x8 plane's 64),
   and no lanes are added up at the end. Work items are chunks of samples fixed by the
   shapes; each chunk's sums go to its own partial dW, added in chunk order: the result
   does not depend on the thread count (it rounds differently from the flat layout's,
   which sums in another order). */

#ifndef CC_CVEC_DW_BYTES
#define CC_CVEC_DW_BYTES (512 * 1024)   /* a chunk's padded input and gradients: L2 */
#endif
#ifndef CC_CVEC_DW_POSITIONS
#define CC_CVEC_DW_POSITIONS 128   /* positions per pass over the taps: their D in L1 */
#endif

/* S[r][0 .. CVW) (+)= sum over np positions of D[p][.] * X[pb[p] + off[r]] for nr taps;
   first: start from zeros, else add to S's sums (the same sum continued in order). */
static inline __attribute__((always_inline)) void FN(cv_dw_tile_n)(
    const REAL* CC_RESTRICT D, ptrdiff_t ldd, const REAL* CC_RESTRICT X,
    const ptrdiff_t* CC_RESTRICT pb, ptrdiff_t np, const ptrdiff_t* CC_RESTRICT off,
    int first, REAL* CC_RESTRICT S, const int nr)
{
    VEC acc[CV_R][CV_NV];
    ptrdiff_t o[CV_R], p;
    int r, v;
    CC_UNROLL for (r = 0; r < nr; r++) {
        o[r] = off[r];
        CC_UNROLL for (v = 0; v < CV_NV; v++)
            acc[r][v] = first ? SPLAT(0) : (VEC)LOADU(S + r * CVW + v * VL);
    }
    for (p = 0; p < np; p++) {
        const REAL* xp = X + pb[p];
        VEC dv[CV_NV];
        CC_UNROLL for (v = 0; v < CV_NV; v++)
            dv[v] = LOADU(D + p * ldd + v * VL);
        CC_UNROLL for (r = 0; r < nr; r++) {
            REAL xb = xp[o[r]];
            CC_UNROLL for (v = 0; v < CV_NV; v++)
                acc[r][v] += xb * dv[v];
        }
    }
    CC_UNROLL for (r = 0; r < nr; r++) {
        CC_UNROLL for (v = 0; v < CV_NV; v++)
            STOREU(S + r * CVW + v * VL, acc[r][v]);
    }
}

/* One tile of nr (1 .. CV_R) taps, each count compiled with its own unrolled loops. */
static CC_NOINLINE void FN(cv_dw_tile)(const REAL* D, ptrdiff_t ldd, const REAL* X,
                                       const ptrdiff_t* pb, ptrdiff_t np,
                                       const ptrdiff_t* off, int first, REAL* S, int nr)
{
    switch (nr) {
#define CV_CASE(n) case n: FN(cv_dw_tile_n)(D, ldd, X, pb, np, off, first, S, n); break;
    CV_CASES(CV_R, CV_CASE)
#undef CV_CASE
    default: break;
    }
}

/* dW (F, C, FH, FW) and db (NULL: not wanted) of a stride-1 convolution of x (N, C, H, W)
   zero-padded by (ph, pw) (0 <= p < filter) from dout (N, F, OH, OW). Per chunk of S
   samples: the padded planes X[n][c][Hp][Wp], the gradients D[n * P + p][Fp] (channels
   innermost, zero past F), then every tile of taps over the positions, CC_CVEC_DW_POSITIONS
   at a time. Returns 0 or CCONV_CONV_ENOMEM. */
static int FN(cv_dw)(const cconv_conv_shape* g, const REAL* x, const REAL* dout, REAL* dw,
                     REAL* db, int n_threads)
{
    const ptrdiff_t N = g->N, C = g->C, F = g->F, FH = g->FH, FW = g->FW;
    const ptrdiff_t OH = g->OH, OW = g->OW, Hp = OH + FH - 1, Wp = OW + FW - 1;
    const ptrdiff_t cs = Hp * Wp, P = OH * OW;
    const ptrdiff_t nb = (F + CVW - 1) / CVW, Fp = nb * CVW, K = C * FH * FW;
    const ptrdiff_t per = (C * cs + P * Fp) * (ptrdiff_t)sizeof(REAL);
    const ptrdiff_t S0 = CC_CVEC_DW_BYTES / per, S8 = (N + 7) / 8;
    const ptrdiff_t S = S0 < 1 ? 1 : S0 < S8 ? S0 : S8, nch = (N + S - 1) / S;
    const int nt = cc_threads(n_threads);
    const ptrdiff_t SK = nb * K * CVW;   /* a chunk's sums: [fb][k][CVW] */
    ptrdiff_t* off = (ptrdiff_t*)cc_alloc((size_t)(K + CV_R) * sizeof(ptrdiff_t));
    REAL* pw = (REAL*)cc_alloc((size_t)(nch * SK) * sizeof(REAL));
    REAL* sum = (REAL*)cc_alloc((size_t)SK * sizeof(REAL));
    REAL* pbias = (REAL*)cc_alloc((size_t)(nch * F) * sizeof(REAL));
    ptrdiff_t item, k;
    int failed = 0;
    if (!off || !pw || !sum || !pbias) {
        cc_free(off);
        cc_free(pw);
        cc_free(sum);
        cc_free(pbias);
        return CCONV_CONV_ENOMEM;
    }
    cc_tap_offsets(off, K, K + CV_R, FH, FW, cs, Wp);   /* in a sample's padded planes */
    CC_OMP(omp parallel num_threads(nt))
    {
        REAL* X = (REAL*)cc_alloc((size_t)(S * C * cs) * sizeof(REAL) + 1);
        REAL* D = (REAL*)cc_alloc((size_t)(S * P * Fp) * sizeof(REAL) + 1);
        ptrdiff_t* pb = (ptrdiff_t*)cc_alloc((size_t)(S * P) * sizeof(ptrdiff_t));
        if (!X || !D || !pb)
            cc_mark_failed(&failed);
        CC_OMP(omp for schedule(dynamic, 1))
        for (item = 0; item < nch; item++) {
            const ptrdiff_t n0 = item * S, ns = N - n0 < S ? N - n0 : S, np = ns * P;
            ptrdiff_t n, f, q, fb, kb, p0;
            if (!X || !D || !pb)
                continue;
            FN(cv_pad)(X, x, n0, ns, C, g->H, g->W, g->ph, g->pw, Hp, Wp);
            for (n = 0; n < ns; n++) {   /* the gradients, channels innermost */
                const REAL* src = dout + (n0 + n) * F * P;   /* (a sample's: in L1) */
                for (q = 0; q < P; q++) {
                    REAL* d = D + (n * P + q) * Fp;
                    pb[n * P + q] = n * C * cs + q / OW * Wp + q % OW;
                    for (f = 0; f < F; f++)
                        d[f] = src[f * P + q];
                    for (; f < Fp; f++)
                        d[f] = 0;
                }
            }
            for (fb = 0; db && fb < nb; fb++) {   /* db: the chunk's positions in order */
                VEC acc[CV_NV];
                REAL t[CVW];
                int v;
                CC_UNROLL for (v = 0; v < CV_NV; v++)
                    acc[v] = SPLAT(0);
                for (q = 0; q < np; q++)
                    CC_UNROLL for (v = 0; v < CV_NV; v++)
                        acc[v] += LOADU(D + q * Fp + fb * CVW + v * VL);
                CC_UNROLL for (v = 0; v < CV_NV; v++)
                    STOREU(t + v * VL, acc[v]);
                for (f = fb * CVW; f < F && f < (fb + 1) * CVW; f++)
                    pbias[item * F + f] = t[f - fb * CVW];
            }
            for (p0 = 0; p0 < np; p0 += CC_CVEC_DW_POSITIONS) {   /* the chunk's sums */
                const ptrdiff_t pn = np - p0 < CC_CVEC_DW_POSITIONS ? np - p0
                                                                    : CC_CVEC_DW_POSITIONS;
                for (fb = 0; fb < nb; fb++)
                    for (kb = 0; kb < K; kb += CV_R)
                        FN(cv_dw_tile)(D + p0 * Fp + fb * CVW, Fp, X, pb + p0, pn, off + kb,
                                       p0 == 0, pw + item * SK + (fb * K + kb) * CVW,
                                       (int)(K - kb < CV_R ? K - kb : CV_R));
            }
        }
        /* (after the barrier ending phase one) the chunks in order, then [fb][k][lane]
           turned into dW[f][k] */
        FN(dw_sum_chunks)(sum, pw, nch, SK);
        CC_OMP(omp for schedule(static))
        for (k = 0; k < F; k++) {
            ptrdiff_t j;
            for (j = 0; j < K; j++)
                dw[k * K + j] = sum[((k / CVW) * K + j) * CVW + k % CVW];
        }
        cc_free(X);
        cc_free(D);
        cc_free(pb);
    }
    if (db && !failed)
        FN(db_sum_chunks)(db, pbias, nch, F);
    cc_free(off);
    cc_free(pw);
    cc_free(sum);
    cc_free(pbias);
    return failed ? CCONV_CONV_ENOMEM : 0;
}

#undef CVW
