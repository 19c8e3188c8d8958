/* Winograd F(2x2, 3x3) for the 3x3 stride-1 convolutions (Lavin & Gray, "Fast
   Algorithms for Convolutional Neural Networks", 2016): each 2x2 block of outputs from a
   4x4 block of input, with 16 multiplications per input channel where the direct
   convolution needs 36. No include guard: conv_template.h includes it once per dtype,
   after fwd_tile, pool22 and the epilogue, which it uses.

   Per work item (a chunk of samples, a group of output-channel blocks) the input is
   placed into zero-padded planes, every 4x4 block transformed (V = B' d B) into 16
   matrices V[xi] (input channel x tile), and for each xi the product with the
   transformed filters U[xi] (G g G') runs on the convolution's own register tile
   (fwd_tile: FWD_FB output channels x FWD_NV vectors of tiles, summing over the input
   channels in order). The output transform (A' M A) then gives each tile's 2x2 outputs,
   with the bias, the ReLU or the gate, and the 2x2 max pooling, which is the tile
   itself. Every value is made by one item in a fixed order: the result does not depend
   on the thread count. Rounding differs from the direct kernel's (the transforms add and
   subtract neighbours), within a few times its error; a NaN or an infinity in the input
   would spread to the neighbours of its tile, so such an input is left to the direct
   kernel (wino_conv reports it). */

#ifndef CC_WINO_BYTES
#define CC_WINO_BYTES (512 * 1024)  /* a work item's V and M: about half the L2 cache */
#endif

/* U[xi][fb][i][FWD_FB] = (G g G')[xi] of the 3x3 filter from input channel i to output
   channel fb*FWD_FB + lane, zero-padded to whole blocks; flip: the input gradient's
   filters (channels swapped, taps turned 180 degrees). G = [1 0 0; .5 .5 .5; .5 -.5 .5;
   0 0 1]. */
static REAL* FN(wino_filters)(const REAL* w, ptrdiff_t F, ptrdiff_t C, int flip,
                              ptrdiff_t* nfb_out)
{
    const ptrdiff_t nout = flip ? C : F, nin = flip ? F : C;
    const ptrdiff_t nfb = (nout + FWD_FB - 1) / FWD_FB;
    REAL* U = (REAL*)cc_alloc((size_t)(16 * nfb * nin * FWD_FB) * sizeof(REAL) + 1);
    ptrdiff_t o, i;
    int r, s, xi;
    if (!U)
        return NULL;
    memset(U, 0, (size_t)(16 * nfb * nin * FWD_FB) * sizeof(REAL));
    for (o = 0; o < nout; o++)
        for (i = 0; i < nin; i++) {
            REAL g[3][3], t[4][3], u[4][4];
            for (r = 0; r < 3; r++)
                for (s = 0; s < 3; s++)
                    g[r][s] = flip ? w[((i * C + o) * 3 + 2 - r) * 3 + 2 - s]
                                   : w[((o * C + i) * 3 + r) * 3 + s];
            for (s = 0; s < 3; s++) {   /* t = G g */
                t[0][s] = g[0][s];
                t[1][s] = (REAL)0.5 * (g[0][s] + g[1][s] + g[2][s]);
                t[2][s] = (REAL)0.5 * (g[0][s] - g[1][s] + g[2][s]);
                t[3][s] = g[2][s];
            }
            for (r = 0; r < 4; r++) {   /* u = t G' */
                u[r][0] = t[r][0];
                u[r][1] = (REAL)0.5 * (t[r][0] + t[r][1] + t[r][2]);
                u[r][2] = (REAL)0.5 * (t[r][0] - t[r][1] + t[r][2]);
                u[r][3] = t[r][2];
            }
            for (xi = 0; xi < 16; xi++)
                U[((xi * nfb + o / FWD_FB) * nin + i) * FWD_FB + o % FWD_FB] = u[xi / 4][xi % 4];
        }
    *nfb_out = nfb;
    return U;
}

/* Samples per work item: the chunk whose tiles fill whole register tiles best, among
   those whose V and M stay within about CC_WINO_BYTES (at least one sample). */
static ptrdiff_t FN(wino_samples)(ptrdiff_t N, ptrdiff_t Cin, ptrdiff_t tps, int nt)
{
    const ptrdiff_t T = FWD_NV * VL;
    const ptrdiff_t per_tile = 16 * (Cin + FWD_FB) * (ptrdiff_t)sizeof(REAL);
    ptrdiff_t most = CC_WINO_BYTES / per_tile / tps, s, best = 1, thr = (N + nt - 1) / nt;
    double best_fill = 0;
    if (most < 1)
        most = 1;
    if (most > thr)
        most = thr;   /* at least one item a thread */
    for (s = 1; s <= most; s++) {
        double fill = (double)(s * tps) / (double)cc_round_up(s * tps, T);
        if (fill > best_fill + 1e-9) {
            best_fill = fill;
            best = s;
        }
    }
    return best;
}

/* One row of tiles' input transforms V = B' d B (B' = [1 0 -1 0; 0 1 1 0; 0 -1 1 0;
   0 1 0 -1]) from the four plane rows r0..r3 (Wp = 2 * TW + 2 values): tile tj's 16
   values go to v[xi * vs + tj]. First B' down the columns (whole rows), then each
   combined row split into its even and odd columns, so that the B across a tile is
   unit-stride arithmetic on neighbours: every loop vectorises. work: 6 * Wp values. */
static inline void FN(wino_in_row)(const REAL* CC_RESTRICT r0, const REAL* CC_RESTRICT r1,
                                   const REAL* CC_RESTRICT r2, const REAL* CC_RESTRICT r3,
                                   REAL* CC_RESTRICT v, ptrdiff_t vs, ptrdiff_t TW,
                                   REAL* CC_RESTRICT work)
{
    const ptrdiff_t Wp = 2 * TW + 2, h = TW + 1;
    REAL* CC_RESTRICT rows = work;          /* 4 rows of Wp: the column transform */
    REAL* CC_RESTRICT ev = work + 4 * Wp;   /* a row's even and odd columns */
    REAL* CC_RESTRICT od = ev + h;
    ptrdiff_t q, j;
    int rr;
    for (q = 0; q < Wp; q++) {
        rows[q] = r0[q] - r2[q];
        rows[Wp + q] = r1[q] + r2[q];
        rows[2 * Wp + q] = r2[q] - r1[q];
        rows[3 * Wp + q] = r1[q] - r3[q];
    }
    for (rr = 0; rr < 4; rr++) {
        const REAL* CC_RESTRICT x = rows + rr * Wp;
        REAL* CC_RESTRICT v0 = v + (4 * rr) * vs;
        REAL* CC_RESTRICT v1 = v0 + vs;
        REAL* CC_RESTRICT v2 = v1 + vs;
        REAL* CC_RESTRICT v3 = v2 + vs;
        for (j = 0; j < h; j++) {
            ev[j] = x[2 * j];
            od[j] = x[2 * j + 1];
        }
        for (j = 0; j < TW; j++) {
            v0[j] = ev[j] - ev[j + 1];
            v1[j] = od[j] + ev[j + 1];
            v2[j] = ev[j + 1] - od[j];
            v3[j] = od[j] - od[j + 1];
        }
    }
}

/* One row of tiles' outputs Y = A' M A + bias (A' = [1 1 1 0; 0 1 -1 -1]) from
   m[xi * ms + tj] into the two output rows y0, y1 (2 * TW values each), tile-innermost. */
static inline void FN(wino_out_row)(const REAL* CC_RESTRICT m, ptrdiff_t ms, REAL bf,
                                    REAL* CC_RESTRICT y0, REAL* CC_RESTRICT y1, ptrdiff_t TW)
{
    ptrdiff_t tj;
    for (tj = 0; tj < TW; tj++) {
        REAL s00 = m[0 * ms + tj] + m[4 * ms + tj] + m[8 * ms + tj];
        REAL s01 = m[1 * ms + tj] + m[5 * ms + tj] + m[9 * ms + tj];
        REAL s02 = m[2 * ms + tj] + m[6 * ms + tj] + m[10 * ms + tj];
        REAL s03 = m[3 * ms + tj] + m[7 * ms + tj] + m[11 * ms + tj];
        REAL s10 = m[4 * ms + tj] - m[8 * ms + tj] - m[12 * ms + tj];
        REAL s11 = m[5 * ms + tj] - m[9 * ms + tj] - m[13 * ms + tj];
        REAL s12 = m[6 * ms + tj] - m[10 * ms + tj] - m[14 * ms + tj];
        REAL s13 = m[7 * ms + tj] - m[11 * ms + tj] - m[15 * ms + tj];
        y0[2 * tj] = s00 + s01 + s02 + bf;
        y0[2 * tj + 1] = s01 - s02 - s03 + bf;
        y1[2 * tj] = s10 + s11 + s12 + bf;
        y1[2 * tj + 1] = s11 - s12 - s13 + bf;
    }
}

/* dst (N, Cout, OHd, OWd) = the 3x3 stride-1 correlation of src (N, Cin, Hs, Ws)
   zero-padded by (ph, pw), OHd = Hs + 2ph - 2, with the transformed filters U (nfb
   blocks), the bias (nfb * FWD_FB values) and the epilogue e as run_conv applies them
   (dst may be NULL with e->pool_out). Returns 0; 1 when src holds a NaN or an infinity
   (then nothing usable was written and the caller runs the direct kernel); or
   CCONV_CONV_ENOMEM. */
static int FN(wino_conv)(const REAL* src, ptrdiff_t N, ptrdiff_t Cin, ptrdiff_t Hs,
                         ptrdiff_t Ws, ptrdiff_t ph, ptrdiff_t pw, ptrdiff_t Cout,
                         const REAL* U, ptrdiff_t nfb, const REAL* bias,
                         const FN(epilogue)* e, REAL* dst, ptrdiff_t OHd, ptrdiff_t OWd,
                         int n_threads)
{
    const ptrdiff_t T = FWD_NV * VL, TH = (OHd + 1) / 2, TW = (OWd + 1) / 2, tps = TH * TW;
    const ptrdiff_t Hp = 2 * TH + 2, Wp = 2 * TW + 2, plane = Hp * Wp;
    const ptrdiff_t POH = OHd / 2, POW = OWd / 2;
    const int nt = cc_threads(n_threads);
    const cc_plan p = cc_plan_make(N, FN(wino_samples)(N, Cin, tps, nt), nfb, nt);
    const ptrdiff_t S = p.S, G = p.G, Tq = cc_round_up(S * tps, T);
    /* rows of V and M: Tq tiles and one cache line more, so that the 16 rows a tile
       reads or writes never sit 4 KiB apart (they would share the L1's sets) */
    const ptrdiff_t L = Tq + 64 / (ptrdiff_t)sizeof(REAL);
    ptrdiff_t* off = (ptrdiff_t*)cc_alloc((size_t)Cin * sizeof(ptrdiff_t) + 1);
    ptrdiff_t item, k;
    int failed = 0, nonfinite = 0;
    if (!off)
        return CCONV_CONV_ENOMEM;
    for (k = 0; k < Cin; k++)
        off[k] = k * L;
    CC_OMP(omp parallel num_threads(nt))
    {
        REAL* P = (REAL*)cc_alloc((size_t)(Cin * S * plane) * sizeof(REAL));
        REAL* V = (REAL*)cc_alloc((size_t)(16 * Cin * L) * sizeof(REAL));
        REAL* M = (REAL*)cc_alloc((size_t)(16 * FWD_FB * L) * sizeof(REAL));
        REAL* Yr = (REAL*)cc_alloc((size_t)(4 * TW) * sizeof(REAL));
        REAL* Wk = (REAL*)cc_alloc((size_t)(6 * Wp) * sizeof(REAL));
        REAL zero[FWD_FB] = {0};
        if (!P || !V || !M || !Yr || !Wk)
            cc_mark_failed(&failed);
        CC_OMP(omp for schedule(dynamic, 1))
        for (item = 0; item < p.items; item++) {
            ptrdiff_t c = item / G, gi = item % G, n0 = c * S, ns = N - n0 < S ? N - n0 : S;
            ptrdiff_t ci, n, r, q, ti, fb, xi;
            int bad = 0, seen;
            CC_OMP(omp atomic read)
            seen = nonfinite;
            if (!P || !V || !M || !Yr || !Wk || seen)
                continue;
            /* the chunk's planes, zero-padded: P[ci][n][Hp][Wp] */
            memset(P, 0, (size_t)(Cin * S * plane) * sizeof(REAL));
            for (ci = 0; ci < Cin; ci++)
                for (n = 0; n < ns; n++)
                    for (r = 0; r < Hs; r++) {
                        const REAL* sr = src + (((n0 + n) * Cin + ci) * Hs + r) * Ws;
                        REAL* pr = P + (ci * S + n) * plane + (r + ph) * Wp + pw;
                        for (q = 0; q < Ws; q++) {
                            pr[q] = sr[q];
                            bad |= (sr[q] - sr[q]) != 0;   /* NaN - NaN, inf - inf: NaN */
                        }
                    }
            if (bad) {
                CC_OMP(omp atomic write)
                nonfinite = 1;
                continue;
            }
            /* V[xi][ci][tile], the tiles of the chunk's samples in order, then zeros */
            for (ci = 0; ci < Cin; ci++) {
                REAL* vc = V + ci * L;
                for (n = 0; n < ns; n++)
                    for (ti = 0; ti < TH; ti++) {
                        const REAL* r0 = P + (ci * S + n) * plane + 2 * ti * Wp;
                        FN(wino_in_row)(r0, r0 + Wp, r0 + 2 * Wp, r0 + 3 * Wp,
                                        vc + n * tps + ti * TW, Cin * L, TW, Wk);
                    }
                for (xi = 0; xi < 16; xi++)
                    memset(vc + xi * Cin * L + ns * tps, 0,
                           (size_t)(Tq - ns * tps) * sizeof(REAL));
            }
            for (fb = gi * nfb / G; fb < (gi + 1) * nfb / G; fb++) {
                ptrdiff_t f, tb;
                for (xi = 0; xi < 16; xi++)
                    for (tb = 0; tb < (ns * tps + T - 1) / T; tb++)
                        FN(fwd_tile)(U + (xi * nfb + fb) * Cin * FWD_FB,
                                     V + xi * Cin * L + tb * T, off, Cin, zero, 0,
                                     M + xi * FWD_FB * L + tb * T, L);
                /* outputs, two rows at a time, then the epilogue on those rows */
                for (f = fb * FWD_FB; f < Cout && f < (fb + 1) * FWD_FB; f++) {
                    const REAL* mf = M + (f - fb * FWD_FB) * L;
                    for (n = 0; n < ns; n++) {
                        const ptrdiff_t at = ((n0 + n) * Cout + f) * OHd * OWd;
                        const ptrdiff_t pat = ((n0 + n) * Cout + f) * POH * POW;
                        for (ti = 0; ti < TH; ti++) {
                            REAL* y0 = Yr;
                            REAL* y1 = Yr + 2 * TW;
                            int a;
                            FN(wino_out_row)(mf + n * tps + ti * TW, FWD_FB * L, bias[f], y0,
                                             y1, TW);
                            if (e->relu)   /* x <= 0 ? 0 : x (NaN passes) */
                                for (q = 0; q < 4 * TW; q++)
                                    Yr[q] = Yr[q] <= 0 ? 0 : Yr[q];
                            for (a = 0; dst && a < 2 && 2 * ti + a < OHd; a++) {
                                const ptrdiff_t ro = at + (2 * ti + a) * OWd;
                                FN(store_row)(dst + ro, a ? y1 : y0, 1,
                                              e->gate ? e->gate + ro : NULL, OWd);
                            }
                            if (e->pool_out && ti < POH)   /* the tiles are the windows */
                                FN(pool22)(y0, 2 * TW, 1, e->pool_out + pat + ti * POW,
                                           e->pool_arg + pat + ti * POW, 1, POW);
                        }
                    }
                }
            }
        }
        cc_free(P);
        cc_free(V);
        cc_free(M);
        cc_free(Yr);
        cc_free(Wk);
    }
    cc_free(off);
    if (failed)
        return CCONV_CONV_ENOMEM;
    return nonfinite ? 1 : 0;
}
