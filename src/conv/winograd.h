/* Winograd F(2x2, 3x3) for the 3x3 stride-1 convolutions (Lavin & Gray, "Fast
   Algorithms for Convolutional Neural Networks", 2016): each 2x2 block of outputs from a
   4x4 block of input, with 16 multiplications per input channel where the direct
   convolution needs 36. No include guard: conv_template.h includes it once per dtype,
   after fwd_tile, pool22 and the epilogue, which it uses.

   Per work item (a chunk of samples, a group of output-channel blocks) the input is
   split into the quarter planes of its zero-padded planes (below), every 4x4 block
   transformed (V = B' d B) into 16 matrices V[xi] (input channel x tile), and for each
   xi the product with the transformed filters U[xi] (G g G') runs on the convolution's
   own register tile (fwd_tile: FWD_FB output channels x FWD_NV vectors of tiles,
   summing over the input channels in order). The output transform (A' M A) then gives
   each tile's 2x2 outputs, with the bias, the ReLU or the gate, and the 2x2 max
   pooling, which is the tile itself. Every value is made by one item in a fixed order: the result does not depend
   on the thread count. Rounding differs from the direct kernel's (the transforms add and
   subtract neighbours), within a few times its error; a NaN or an infinity in the input
   would spread to the neighbours of its tile, so such an input is left to the direct
   kernel (wino_conv reports it). */

#ifndef CC_WINO_AHEAD
#define CC_WINO_AHEAD 4   /* input planes prefetched ahead of the one being copied */
#endif

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


/* d[0 .. n) = s[0 .. n), in whole vectors (the lanes past n stored as zeros: d has room
   for them), loading past s + n where that stays before end (the input's end): no call,
   and no narrow stores that a whole-vector load of d would wait on. */
static inline void FN(wino_copy_row)(REAL* CC_RESTRICT d, const REAL* CC_RESTRICT s,
                                     ptrdiff_t n, const REAL* end)
{
    ptrdiff_t q = 0;
#if VBYTES > 0
    FN(ivec) lane;
    int i;
    for (i = 0; i < VL; i++)
        lane[i] = i;
    for (; q < n && s + q + VL <= end; q += VL) {
        const FN(ivec) keep = lane < (CC_IREAL)(n - q);
        STOREU(d + q, (VEC)((FN(ivec))LOADU(s + q) & keep));
    }
#endif
    for (; q < n; q++)
        d[q] = s[q];
}

/* One padded plane row (2 * TR values and 2 * VL of zeros after them) split into its even
   columns qe[0 .. TR) and odd columns qo[0 .. TR), whole vectors at a time: the values past
   TR are zeros, landing on the next rows of the quarter planes (filled after this one)
   or their slack. nf gathers whether a value is a NaN or an infinity (wino_nonfinite
   says). */
#if VBYTES > 0 && defined(__GNUC__) && !defined(__clang__)
typedef FN(ivec) FN(nf_acc);
static inline void FN(wino_split_row)(const REAL* CC_RESTRICT row, ptrdiff_t TR,
                                      REAL* CC_RESTRICT qe, REAL* CC_RESTRICT qo,
                                      FN(nf_acc)* nf)
{
    FN(ivec) ev, od;
    ptrdiff_t j;
    int i;
    for (i = 0; i < VL; i++) {
        ev[i] = 2 * i;
        od[i] = 2 * i + 1;
    }
    for (j = 0; j < TR; j += VL) {
        VEC a = LOADU(row + 2 * j), b = LOADU(row + 2 * j + VL);
        *nf |= ((a - a) != 0) | ((b - b) != 0);   /* NaN - NaN, inf - inf: NaN */
        STOREU(qe + j, __builtin_shuffle(a, b, ev));
        STOREU(qo + j, __builtin_shuffle(a, b, od));
    }
}

static inline int FN(wino_nonfinite)(FN(nf_acc) nf)
{
    int i, bad = 0;
    for (i = 0; i < VL; i++)
        bad |= nf[i] != 0;
    return bad;
}
#else
typedef int FN(nf_acc);
static inline void FN(wino_split_row)(const REAL* CC_RESTRICT row, ptrdiff_t TR,
                                      REAL* CC_RESTRICT qe, REAL* CC_RESTRICT qo,
                                      FN(nf_acc)* nf)
{
    ptrdiff_t j;
    for (j = 0; j < TR; j++) {
        qe[j] = row[2 * j];
        qo[j] = row[2 * j + 1];
        *nf |= (qe[j] - qe[j]) != 0 || (qo[j] - qo[j]) != 0;
    }
}

static inline int FN(wino_nonfinite)(FN(nf_acc) nf)
{
    return nf != 0;
}
#endif

/* The tiles of a plane are numbered row by row, TR = TW + 1 to a row: the last of each
   row is a spare that nothing reads. With that spare, the four quarter planes of the
   zero-padded input (its even and odd rows x even and odd columns, TH + 1 rows of TR
   each) hold every tile's 4x4 block at the same offsets from its number t: rows
   t and t + TR, columns t and t + 1. So the transforms run over the tile numbers in
   whole vectors, however narrow the plane.

   The input transforms V = B' d B (B' = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]) of the
   tiles 0 .. nt of one plane (rounded up to whole vectors: the quarter planes have VL + 1
   values of slack, and the tiles past nt land where a later plane overwrites them or
   past the chunk's tiles, where no output reads them): tile t's 16 values go to
   v[xi * vs + t]. B' down the columns first, then B across each row. */
static inline void FN(wino_in_tiles)(const REAL* CC_RESTRICT ee, const REAL* CC_RESTRICT eo,
                                     const REAL* CC_RESTRICT oe, const REAL* CC_RESTRICT oo,
                                     ptrdiff_t TR, ptrdiff_t nt, REAL* CC_RESTRICT v,
                                     ptrdiff_t vs)
{
    ptrdiff_t t;
    int c, rr;
    for (t = 0; t < nt; t += VL) {
        VEC d[4][4], r[4][4];
        d[0][0] = LOADU(ee + t);
        d[0][1] = LOADU(eo + t);
        d[0][2] = LOADU(ee + t + 1);
        d[0][3] = LOADU(eo + t + 1);
        d[1][0] = LOADU(oe + t);
        d[1][1] = LOADU(oo + t);
        d[1][2] = LOADU(oe + t + 1);
        d[1][3] = LOADU(oo + t + 1);
        d[2][0] = LOADU(ee + TR + t);
        d[2][1] = LOADU(eo + TR + t);
        d[2][2] = LOADU(ee + TR + t + 1);
        d[2][3] = LOADU(eo + TR + t + 1);
        d[3][0] = LOADU(oe + TR + t);
        d[3][1] = LOADU(oo + TR + t);
        d[3][2] = LOADU(oe + TR + t + 1);
        d[3][3] = LOADU(oo + TR + t + 1);
        CC_UNROLL for (c = 0; c < 4; c++) {
            r[0][c] = d[0][c] - d[2][c];
            r[1][c] = d[1][c] + d[2][c];
            r[2][c] = d[2][c] - d[1][c];
            r[3][c] = d[1][c] - d[3][c];
        }
        CC_UNROLL for (rr = 0; rr < 4; rr++) {
            REAL* CC_RESTRICT v0 = v + (4 * rr) * vs + t;
            STOREU(v0, r[rr][0] - r[rr][2]);
            STOREU(v0 + vs, r[rr][1] + r[rr][2]);
            STOREU(v0 + 2 * vs, r[rr][2] - r[rr][1]);
            STOREU(v0 + 3 * vs, r[rr][1] - r[rr][3]);
        }
    }
}

/* The output transforms Y = A' M A + bias (A' = [1 1 1 0; 0 1 -1 -1]) of the tiles
   0 .. nt (whole vectors: m and y have VL values of slack) from m[xi * ms + t] into
   y[k * ys + t], k = 2a + b the tile's output (a, b), ReLU'd if relu. */
static inline void FN(wino_out_tiles)(const REAL* CC_RESTRICT m, ptrdiff_t ms, REAL bf,
                                      int relu, ptrdiff_t nt, REAL* CC_RESTRICT y,
                                      ptrdiff_t ys)
{
    const VEC b = SPLAT(bf);
    ptrdiff_t t;
    int k;
    for (t = 0; t < nt; t += VL) {
        const REAL* CC_RESTRICT p = m + t;
        VEC s00 = LOADU(p) + LOADU(p + 4 * ms) + LOADU(p + 8 * ms);
        VEC s01 = LOADU(p + ms) + LOADU(p + 5 * ms) + LOADU(p + 9 * ms);
        VEC s02 = LOADU(p + 2 * ms) + LOADU(p + 6 * ms) + LOADU(p + 10 * ms);
        VEC s03 = LOADU(p + 3 * ms) + LOADU(p + 7 * ms) + LOADU(p + 11 * ms);
        VEC s10 = LOADU(p + 4 * ms) - LOADU(p + 8 * ms) - LOADU(p + 12 * ms);
        VEC s11 = LOADU(p + 5 * ms) - LOADU(p + 9 * ms) - LOADU(p + 13 * ms);
        VEC s12 = LOADU(p + 6 * ms) - LOADU(p + 10 * ms) - LOADU(p + 14 * ms);
        VEC s13 = LOADU(p + 7 * ms) - LOADU(p + 11 * ms) - LOADU(p + 15 * ms);
        VEC o[4];
        o[0] = s00 + s01 + s02 + b;
        o[1] = s01 - s02 - s03 + b;
        o[2] = s10 + s11 + s12 + b;
        o[3] = s11 - s12 - s13 + b;
        CC_UNROLL for (k = 0; k < 4; k++)
            STOREU(y + k * ys + t, relu ? RELU(o[k]) : o[k]);
    }
}

/* The 2x2 max pooling of tiles 0 .. nt, each tile a window (y[k * ys + t], k = kh*2 +
   kw): CCONV_MAX22's first maximum and index, vector by vector. Returns whether a
   window holds a NaN (the caller redoes those: the first NaN wins). */
static inline int FN(wino_pool_tiles)(const REAL* CC_RESTRICT y, ptrdiff_t ys, ptrdiff_t nt,
                                      REAL* CC_RESTRICT out, uint16_t* CC_RESTRICT arg)
{
    ptrdiff_t t;
    int nan = 0;
#if VBYTES > 0
    typedef uint16_t FN(kvec) __attribute__((vector_size(VBYTES / sizeof(REAL) * 2)));
    FN(ivec) bad = {0};
    int i;
    for (t = 0; t < nt; t += VL) {
        VEC v0 = LOADU(y + t), v1 = LOADU(y + ys + t);
        VEC v2 = LOADU(y + 2 * ys + t), v3 = LOADU(y + 3 * ys + t);
        VEC m;
        FN(ivec) k;
        FN(kvec) k16;
        CC_MAX22_VEC(FN(ivec), VEC, v0, v1, v2, v3, m, k);
        STOREU(out + t, m);
        bad |= (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3);
        k16 = __builtin_convertvector(k, FN(kvec));
        memcpy(arg + t, &k16, sizeof k16);
    }
    for (i = 0; i < VL; i++)
        nan |= bad[i] != 0;
#else
    for (t = 0; t < nt; t++) {
        REAL v0 = y[t], v1 = y[ys + t], v2 = y[2 * ys + t], v3 = y[3 * ys + t];
        nan |= (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3);
        CCONV_MAX22(REAL, v0, v1, v2, v3, out[t], arg[t]);
    }
#endif
    return nan;
}

/* One output row d[0 .. n) from a row of tiles' outputs: d[2j] = y0[j], d[2j + 1] =
   y1[j], zero where the gate row (NULL: none) is <= 0. Interleaved by shuffles in
   vectors of every width that fits, the rest one by one. */
#if VBYTES > 0 && defined(__GNUC__) && !defined(__clang__)
#define CC_DEF_WINO_ZIP(NAME, B)                                                          \
typedef REAL FN(NAME##_v) __attribute__((vector_size(B)));                                \
typedef REAL FN(NAME##_u) __attribute__((vector_size(B), aligned(sizeof(REAL)), may_alias)); \
typedef CC_IREAL FN(NAME##_i) __attribute__((vector_size(B)));                            \
static inline ptrdiff_t FN(NAME)(REAL* CC_RESTRICT d, const REAL* CC_RESTRICT y0,         \
                                 const REAL* CC_RESTRICT y1, const REAL* CC_RESTRICT gate, \
                                 ptrdiff_t j, ptrdiff_t n)                                 \
{                                                                                         \
    const int W = (int)(B / sizeof(REAL));                                                \
    FN(NAME##_i) lo, hi;                                                                  \
    int i;                                                                                \
    for (i = 0; i < W; i++) {                                                             \
        lo[i] = i / 2 + (i % 2) * W;                                                      \
        hi[i] = W / 2 + i / 2 + (i % 2) * W;                                              \
    }                                                                                     \
    for (; 2 * j + 2 * W <= n; j += W) {                                                  \
        FN(NAME##_v) a = *(const FN(NAME##_u)*)(y0 + j), b = *(const FN(NAME##_u)*)(y1 + j); \
        FN(NAME##_v) p = __builtin_shuffle(a, b, lo), q = __builtin_shuffle(a, b, hi);    \
        if (gate) {                                                                       \
            FN(NAME##_v) g = *(const FN(NAME##_u)*)(gate + 2 * j);                        \
            FN(NAME##_v) h = *(const FN(NAME##_u)*)(gate + 2 * j + W);                    \
            p = (FN(NAME##_v))((FN(NAME##_i))p & ~(FN(NAME##_i))(g <= 0));                \
            q = (FN(NAME##_v))((FN(NAME##_i))q & ~(FN(NAME##_i))(h <= 0));                \
        }                                                                                 \
        *(FN(NAME##_u)*)(d + 2 * j) = p;                                                  \
        *(FN(NAME##_u)*)(d + 2 * j + W) = q;                                              \
    }                                                                                     \
    return j;                                                                             \
}
#if VBYTES >= 64
CC_DEF_WINO_ZIP(wino_zip_w64, 64)
#endif
#if VBYTES >= 32
CC_DEF_WINO_ZIP(wino_zip_w32, 32)
#endif
CC_DEF_WINO_ZIP(wino_zip_w16, 16)
#undef CC_DEF_WINO_ZIP
#endif

static inline void FN(wino_zip_row)(REAL* CC_RESTRICT d, const REAL* CC_RESTRICT y0,
                                    const REAL* CC_RESTRICT y1, const REAL* CC_RESTRICT gate,
                                    ptrdiff_t n)
{
    ptrdiff_t j = 0;
#if VBYTES > 0 && defined(__GNUC__) && !defined(__clang__)
#if VBYTES >= 64
    j = FN(wino_zip_w64)(d, y0, y1, gate, j, n);
#endif
#if VBYTES >= 32
    j = FN(wino_zip_w32)(d, y0, y1, gate, j, n);
#endif
    j = FN(wino_zip_w16)(d, y0, y1, gate, j, n);
#endif
    for (j *= 2; j < n; j++) {
        const REAL v = (j & 1) ? y1[j / 2] : y0[j / 2];
        d[j] = gate && gate[j] <= 0 ? 0 : v;
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
    const ptrdiff_t T = FWD_NV * VL, TH = (OHd + 1) / 2, TW = (OWd + 1) / 2, TR = TW + 1;
    const ptrdiff_t tps = TH * TR;   /* tile numbers a sample takes, spares included */
    const ptrdiff_t Q = (TH + 1) * TR + VL + 1;   /* a quarter plane and its slack */
    const ptrdiff_t RW = 2 * TR + 2 * VL;   /* a padded row and the zeros a split reads */
    const ptrdiff_t POH = OHd / 2, POW = OWd / 2;
    const int nt = cc_threads(n_threads);
    const cc_plan p = cc_plan_make(N, FN(wino_samples)(N, Cin, tps, nt), nfb, nt);
    const ptrdiff_t S = p.S, G = p.G, Tq = cc_round_up(S * tps, T);
    /* rows of V, M and Y: Tq tiles and one cache line (at least a vector) more, so that
       the 16 rows a tile reads or writes never sit 4 KiB apart (they would share the
       L1's sets) and a last vector may run past Tq */
    const ptrdiff_t CL = 64 / (ptrdiff_t)sizeof(REAL), L = Tq + (VL > CL ? VL : CL);
    /* V[xi] and M[xi] VS and MS values apart: an odd number of cache lines, so that the
       16 rows a transform writes or reads at once fall in 16 different sets of the L1
       (Cin * L values can be a multiple of 4 KiB: all 16 in one set) */
    const ptrdiff_t VS = cc_odd_lines(Cin * L, sizeof(REAL));
    const ptrdiff_t MS = cc_odd_lines(FWD_FB * L, sizeof(REAL));
    const REAL* end = src + N * Cin * Hs * Ws;
    ptrdiff_t* off = (ptrdiff_t*)cc_alloc((size_t)Cin * sizeof(ptrdiff_t) + 1);
    ptrdiff_t item, i;
    int failed = 0, nonfinite = 0;
    if (!off)
        return CCONV_CONV_ENOMEM;
    for (i = 0; i < Cin; i++)
        off[i] = i * L;
    CC_OMP(omp parallel num_threads(nt))
    {
        REAL* P = (REAL*)cc_alloc((size_t)(8 * Q) * sizeof(REAL));
        REAL* V = (REAL*)cc_alloc((size_t)(16 * VS) * sizeof(REAL));
        REAL* M = (REAL*)cc_alloc((size_t)(16 * MS) * sizeof(REAL));
        REAL* Y = (REAL*)cc_alloc((size_t)(5 * FWD_FB * L) * sizeof(REAL));
        uint16_t* A = (uint16_t*)cc_alloc((size_t)(FWD_FB * L) * sizeof(uint16_t));
        REAL* rows = (REAL*)cc_alloc((size_t)(2 * Hs * RW) * sizeof(REAL));
        REAL zero[FWD_FB] = {0};
        int ok = P && V && M && Y && A && rows;
        if (!ok)
            cc_mark_failed(&failed);
        else {   /* the padding and the slack stay zero: the planes fill the same places */
            memset(P, 0, (size_t)(8 * Q) * sizeof(REAL));
            memset(V, 0, (size_t)(16 * VS) * sizeof(REAL));
            memset(M, 0, (size_t)(16 * MS) * sizeof(REAL));
            memset(rows, 0, (size_t)(2 * Hs * RW) * sizeof(REAL));
        }
        CC_OMP(omp for schedule(dynamic, 1))
        for (item = 0; item < p.items; item++) {
            ptrdiff_t c = item / G, gi = item % G, n0 = c * S, ns = N - n0 < S ? N - n0 : S;
            ptrdiff_t n, r, q, fb, xi, k;
            FN(nf_acc) nf = {0};
            int seen;
            CC_OMP(omp atomic read)
            seen = nonfinite;
            if (!ok || seen)
                continue;
            /* V[xi][ci][tile], the chunk's samples in order (the tiles past them hold
               what an earlier item left: finite values that no output reads). Plane k
               (sample k / Cin, channel k % Cin: the input in memory order) goes through
               three stages, each a plane
               behind the one before: its rows copied into place, split into quarter
               planes, transformed. A stage never loads what the stage before it has
               just stored: such loads would wait for the stores to reach the cache
               (they span several of them, so no store forwarding). */
            for (k = -2; k < Cin * ns; k++) {
                if (k + 2 < Cin * ns) {
                    const ptrdiff_t kk = k + 2;
                    REAL* rb = rows + (kk & 1) * Hs * RW;
                    if (kk + CC_WINO_AHEAD < Cin * ns) {   /* the input streams in order */
                        const char* pf = (const char*)(src + (n0 * Cin + kk + CC_WINO_AHEAD) *
                                                                 Hs * Ws);
                        for (q = 0; q < Hs * Ws * (ptrdiff_t)sizeof(REAL); q += 64)
                            CC_PREFETCH(pf + q);
                    }
                    for (r = 0; r < Hs; r++)
                        FN(wino_copy_row)(rb + r * RW + pw,
                                          src + ((n0 * Cin + kk) * Hs + r) * Ws, Ws, end);
                }
                if (k + 1 >= 0 && k + 1 < Cin * ns) {
                    const ptrdiff_t kk = k + 1;
                    const REAL* rb = rows + (kk & 1) * Hs * RW;
                    REAL* pk = P + (kk & 1) * 4 * Q;
                    for (r = 0; r < Hs; r++) {   /* row r + ph of the padded plane */
                        const ptrdiff_t pr = r + ph;
                        REAL* qe = pk + (pr & 1) * 2 * Q + (pr >> 1) * TR;
                        FN(wino_split_row)(rb + r * RW, TR, qe, qe + Q, &nf);
                    }
                }
                if (k >= 0) {
                    const REAL* pk = P + (k & 1) * 4 * Q;
                    FN(wino_in_tiles)(pk, pk + Q, pk + 2 * Q, pk + 3 * Q, TR, tps,
                                      V + (k % Cin) * L + (k / Cin) * tps, VS);
                }
            }
            if (FN(wino_nonfinite)(nf)) {
                CC_OMP(omp atomic write)
                nonfinite = 1;
                continue;
            }
            for (fb = gi * nfb / G; fb < (gi + 1) * nfb / G; fb++) {
                ptrdiff_t f, tb;
                for (xi = 0; xi < 16; xi++)
                    for (tb = 0; tb < (ns * tps + T - 1) / T; tb++)
                        FN(fwd_tile)(U + (xi * nfb + fb) * Cin * FWD_FB,
                                     V + xi * VS + tb * T, off, Cin, zero, 0,
                                     M + xi * MS + tb * T, L);
                /* the block's channels in two passes: the tiles' outputs and pooling,
                   then the rows out of them (loads right after the stores of the same
                   values would wait for them) */
                for (f = fb * FWD_FB; f < Cout && f < (fb + 1) * FWD_FB; f++) {
                    const ptrdiff_t fl = f - fb * FWD_FB;
                    REAL* Yf = Y + fl * 4 * L;
                    REAL* Po = Y + (4 * FWD_FB + fl) * L;
                    uint16_t* Af = A + fl * L;
                    FN(wino_out_tiles)(M + fl * L, MS, bias[f], e->relu, ns * tps, Yf, L);
                    if (e->pool_out && FN(wino_pool_tiles)(Yf, L, ns * tps, Po, Af))
                        for (q = 0; q < ns * tps; q++) {   /* a NaN: the first one wins */
                            int kk;
                            for (kk = 0; kk < 4 && Yf[kk * L + q] == Yf[kk * L + q]; kk++)
                                ;
                            if (kk < 4) {
                                Po[q] = Yf[kk * L + q];
                                Af[q] = (uint16_t)kk;
                            }
                        }
                }
                for (n = 0; n < ns; n++)   /* (the block's planes of a sample: in order) */
                    for (f = fb * FWD_FB; f < Cout && f < (fb + 1) * FWD_FB; f++) {
                        const ptrdiff_t fl = f - fb * FWD_FB;
                        const REAL* Yf = Y + fl * 4 * L;
                        const REAL* Po = Y + (4 * FWD_FB + fl) * L;
                        const uint16_t* Af = A + fl * L;
                        const ptrdiff_t at = ((n0 + n) * Cout + f) * OHd * OWd;
                        const ptrdiff_t pat = ((n0 + n) * Cout + f) * POH * POW;
                        ptrdiff_t ti;
                        for (ti = 0; ti < TH; ti++) {
                            const ptrdiff_t t0 = n * tps + ti * TR;
                            int a;
                            for (a = 0; dst && a < 2 && 2 * ti + a < OHd; a++) {
                                const ptrdiff_t ro = at + (2 * ti + a) * OWd;
                                FN(wino_zip_row)(dst + ro, Yf + 2 * a * L + t0,
                                                 Yf + (2 * a + 1) * L + t0,
                                                 e->gate ? e->gate + ro : NULL, OWd);
                            }
                            if (e->pool_out && ti < POH) {   /* the tiles are the windows */
                                FN(copy_row)(e->pool_out + pat + ti * POW, Po + t0, POW);
                                if (e->pool_arg)
                                    cc_copy_short(e->pool_arg + pat + ti * POW, Af + t0,
                                                  (size_t)POW * sizeof(uint16_t));
                            }
                        }
                    }
            }
        }
        cc_free(P);
        cc_free(V);
        cc_free(M);
        cc_free(Y);
        cc_free(A);
        cc_free(rows);
    }
    cc_free(off);
    if (failed)
        return CCONV_CONV_ENOMEM;
    return nonfinite ? 1 : 0;
}
