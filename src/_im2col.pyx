"""im2col / col2im on NCHW arrays.

col is (N*OH*OW, C*FH*FW): rows ordered (n, oh, ow), columns (c, kh, kw) — the book's
layout. Padding is implicit: positions outside the input read as 0 (im2col) or are
dropped (col2im).
"""
from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from _openmp cimport omp_get_max_threads, omp_get_num_threads
from _simd cimport (CCONV_SSE2, STREAM_MIN_BYTES, cconv_stream_cut, cconv_stream_fence,
                   cconv_stream_part)

include "_build.pxi"
include "_geometry.pxi"

# A col of stream_min_bytes or more (set at import from the cache size, see
# cconv._kernels) is written to memory with non-temporal stores (see _simd.pxd): straight
# from registers where the row builder makes whole vectors, else built block by block in
# a per-thread buffer of about BLOCK_BYTES and streamed out. A smaller col is written in
# place and stays in cache for the GEMM that reads it next.
cdef Py_ssize_t BLOCK_BYTES = 32 << 10


def sse2_compiled():
    """True when the SSE2 paths were compiled in (CCONV_SSE2; x86-64 by default)."""
    return bool(CCONV_SSE2)


def openmp_max_threads():
    return omp_get_max_threads()


cdef extern from "im2col.h":
    void cconv_im2col_row_f(const float* x, float* col, Py_ssize_t C, Py_ssize_t H,
                            Py_ssize_t W, Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t OW,
                            Py_ssize_t oh, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph,
                            Py_ssize_t pw, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t spill,
                            char* pd, const char* ps, size_t pa, size_t pb,
                            size_t pn) noexcept nogil
    void cconv_im2col_row_d(const double* x, double* col, Py_ssize_t C, Py_ssize_t H,
                            Py_ssize_t W, Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t OW,
                            Py_ssize_t oh, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph,
                            Py_ssize_t pw, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t spill,
                            char* pd, const char* ps, size_t pa, size_t pb,
                            size_t pn) noexcept nogil
    void cconv_im2col_row3_f(const float* x, float* col, Py_ssize_t C, Py_ssize_t H,
                             Py_ssize_t W, Py_ssize_t FH, Py_ssize_t OW, Py_ssize_t oh,
                             Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw,
                             Py_ssize_t* off, int stream) noexcept nogil
    void cconv_im2col_t_narrow_f(const float* x, float* colT, Py_ssize_t H, Py_ssize_t W,
                                 Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t OH, Py_ssize_t ph,
                                 Py_ssize_t pw) noexcept nogil
    void cconv_col2im_rows_f(const float* col, float* dx, Py_ssize_t c0, Py_ssize_t c1,
                             Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t FH,
                             Py_ssize_t FW, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t sh,
                             Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t lo,
                             Py_ssize_t hi) noexcept nogil
    void cconv_col2im_rows_d(const double* col, double* dx, Py_ssize_t c0, Py_ssize_t c1,
                             Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t FH,
                             Py_ssize_t FW, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t sh,
                             Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t lo,
                             Py_ssize_t hi) noexcept nogil


cdef inline void _interior(Py_ssize_t OW, Py_ssize_t W, Py_ssize_t FW, Py_ssize_t sw,
                           Py_ssize_t pw, Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    # [lo, hi): the output columns whose window lies inside the unpadded row.
    # a = ceil(pw / sw), without forming pw + sw (which may exceed Py_ssize_t).
    cdef Py_ssize_t a = pw // sw
    cdef Py_ssize_t b = 0
    if a * sw < pw:
        a += 1
    if W - FW + pw >= 0:
        b = (W - FW + pw) // sw + 1
    if a > OW:
        a = OW
    if b > OW:
        b = OW
    if b < a:
        b = a
    lo[0] = a
    hi[0] = b


cdef inline void _im2col_row(const floating* x, floating* col,
                             Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                             Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t OW,
                             Py_ssize_t oh, Py_ssize_t sh, Py_ssize_t sw,
                             Py_ssize_t ph, Py_ssize_t pw,
                             char* pd, const char* ps, size_t pa, size_t pb,
                             size_t pn) noexcept nogil:
    # x points at sample n; col at the first of the OW rows of (n, oh). When pd is not
    # NULL, bytes [pa, pb) of the previous block (ps, pn bytes, bound for pd) are
    # streamed out in pieces between the channels of this row.
    cdef Py_ssize_t lo, hi, spill
    _interior(OW, W, FW, sw, pw, &lo, &hi)
    # [lo, spill): interior windows whose start + FW + 1 still lies inside the row
    spill = lo
    while spill < hi and spill * sw - pw + FW + 1 <= W:
        spill += 1
    if floating is float:
        cconv_im2col_row_f(x, col, C, H, W, FH, FW, OW, oh, sh, sw, ph, pw, lo, hi, spill,
                           pd, ps, pa, pb, pn)
    else:
        cconv_im2col_row_d(x, col, C, H, W, FH, FW, OW, oh, sh, sw, ph, pw, lo, hi, spill,
                           pd, ps, pa, pb, pn)


cdef Py_ssize_t stream_min_bytes = STREAM_MIN_BYTES


def get_stream_min_bytes():
    """col outputs of this many bytes or more are streamed (see im2col_into)."""
    return stream_min_bytes


def set_stream_min_bytes(Py_ssize_t n):
    """Stream col outputs of n bytes or more (see im2col_into); returns the old value."""
    global stream_min_bytes
    if n < 0:
        raise ValueError(f"stream_min_bytes must be >= 0, got {n}")
    old = stream_min_bytes
    stream_min_bytes = n
    return old


def im2col_into(const floating[:, :, :, ::1] x, floating[:, ::1] col,
                Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t sh, Py_ssize_t sw,
                Py_ssize_t ph, Py_ssize_t pw, int n_threads):
    """Fill col (N*OH*OW, C*FH*FW) from x (N, C, H, W)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t OH, OW
    _window_out("im2col_into", H, W, FH, FW, sh, sw, ph, pw, &OH, &OW)
    cdef Py_ssize_t K = C * FH * FW
    _expect("im2col_into", "col", &col.shape[0], 2, (N * OH * OW, K))
    cdef Py_ssize_t t, n, oh
    if N == 0 or OH <= 0 or OW <= 0 or K == 0:
        return
    cdef floating* cp = &col[0, 0]
    if H == 0 or W == 0:
        # Every window lies in the padding (x has no element to take the address of).
        memset(cp, 0, N * OH * OW * K * sizeof(floating))
        return
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef Py_ssize_t row_bytes = OW * K * sizeof(floating)
    cdef Py_ssize_t R, nb, b, oh0, oh1, nt, t0, t1, i, m
    cdef floating* buf
    cdef floating* cur
    cdef char* pdst
    cdef const char* psrc
    cdef size_t plen
    cdef Py_ssize_t* offs
    cdef bint big = N * OH * row_bytes >= stream_min_bytes
    cdef bint win3 = floating is float and CCONV_SSE2 and FW == 3 and W >= 4
    cdef bint strm = big and K % 12 == 0 and (<size_t> cp) % 16 == 0
    if win3 and (strm or not big):
        # 3-wide float32 windows, written straight to col (streamed when big).
        # Work item (n, oh) owns rows [(n*OH+oh)*OW, +OW) of col.
        offs = NULL   # each thread's own, set in the parallel block
        with nogil, parallel(num_threads=n_threads):
            offs = <Py_ssize_t*> malloc(FH * sizeof(Py_ssize_t))
            for t in prange(N * OH, schedule='static'):
                n = t // OH
                oh = t - n * OH
                if offs != NULL:
                    cconv_im2col_row3_f(<const float*> (xp + n * C * H * W),
                                        <float*> (cp + t * OW * K),
                                        C, H, W, FH, OW, oh, sh, sw, ph, pw, offs, strm)
                else:
                    _im2col_row(xp + n * C * H * W, cp + t * OW * K, C, H, W, FH, FW, OW,
                                oh, sh, sw, ph, pw, NULL, NULL, 0, 0, 0)
            cconv_stream_fence()
            free(offs)
        return
    if not big:
        # Work item (n, oh) owns rows [(n*OH+oh)*OW, +OW) of col.
        for t in prange(N * OH, nogil=True, schedule='static', num_threads=n_threads):
            n = t // OH
            oh = t - n * OH
            _im2col_row(xp + n * C * H * W, cp + t * OW * K, C, H, W, FH, FW, OW,
                        oh, sh, sw, ph, pw, NULL, NULL, 0, 0, 0)
        return
    # Work item (n, block of R output rows) owns the contiguous rows
    # [(n*OH+oh0)*OW, (n*OH+oh1)*OW) of col. Each thread takes a contiguous run of items
    # and builds them in turn in the two halves of its buffer; while it builds one, it
    # streams the one before out to col, a piece between channels, so that the stores
    # to memory overlap the copying.
    R = BLOCK_BYTES // row_bytes
    if R < 1:
        R = 1
    if R > OH:
        R = OH
    nb = (OH + R - 1) // R
    # what follows is each thread's own (Cython copies a parallel block's variables out)
    buf = cur = NULL
    pdst = NULL
    psrc = NULL
    plen = nt = t0 = t1 = b = oh0 = oh1 = m = i = 0
    with nogil, parallel(num_threads=n_threads):
        nt = omp_get_num_threads()
        t0 = threadid() * (N * nb) // nt
        t1 = (threadid() + 1) * (N * nb) // nt
        buf = <floating*> malloc(2 * R * row_bytes)
        pdst = NULL
        psrc = NULL
        plen = 0
        for t in range(t0, t1):
            n = t // nb
            b = t - n * nb
            oh0 = b * R
            oh1 = oh0 + R
            if oh1 > OH:
                oh1 = OH
            m = oh1 - oh0
            if buf == NULL:   # no buffer: build in place
                for oh in range(oh0, oh1):
                    _im2col_row(xp + n * C * H * W, cp + (n * OH + oh) * OW * K,
                                C, H, W, FH, FW, OW, oh, sh, sw, ph, pw, NULL, NULL, 0, 0, 0)
                continue
            cur = buf + ((t - t0) % 2) * R * OW * K
            for i in range(m):
                _im2col_row(xp + n * C * H * W, cur + i * OW * K, C, H, W, FH, FW, OW,
                            oh0 + i, sh, sw, ph, pw, pdst, psrc,
                            plen * i // m, plen * (i + 1) // m, plen)
            pdst = <char*> (cp + (n * OH + oh0) * OW * K)
            psrc = <const char*> cur
            plen = m * row_bytes
        if pdst != NULL:
            cconv_stream_part(pdst, psrc, plen)
        cconv_stream_fence()
        free(buf)


def col2im_into(const floating[:, ::1] col, floating[:, :, :, ::1] dx,
                Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t sh, Py_ssize_t sw,
                Py_ssize_t ph, Py_ssize_t pw, int n_threads):
    """Sum col (N*OH*OW, C*FH*FW) back into dx (N, C, H, W); dx is overwritten."""
    cdef Py_ssize_t N = dx.shape[0], C = dx.shape[1], H = dx.shape[2], W = dx.shape[3]
    cdef Py_ssize_t OH, OW
    _window_out("col2im_into", H, W, FH, FW, sh, sw, ph, pw, &OH, &OW)
    cdef Py_ssize_t K = C * FH * FW
    _expect("col2im_into", "col", &col.shape[0], 2, (N * OH * OW, K))
    cdef Py_ssize_t t, n, c
    if N == 0 or C == 0 or H == 0 or W == 0:
        return
    cdef floating* dp = &dx[0, 0, 0, 0]
    if OH <= 0 or OW <= 0:
        memset(dp, 0, N * C * H * W * sizeof(floating))
        return
    cdef const floating* cp = &col[0, 0]
    cdef Py_ssize_t lo, hi, nc, CB, c0, c1
    _interior(OW, W, FW, sw, pw, &lo, &hi)
    # Work item (n, channel block) owns those planes of dx and reads its slice of every
    # col row of sample n in order. Each dx value gets its terms in (oh, ow) order,
    # whatever the thread count and the blocking. Blocks split the channels only when
    # there are too few samples to keep every thread busy.
    nc = 1
    if n_threads > 1 and N < 4 * n_threads:
        nc = (4 * n_threads + N - 1) // N
        if nc > C:
            nc = C
    CB = (C + nc - 1) // nc
    nc = (C + CB - 1) // CB
    for t in prange(N * nc, nogil=True, schedule='static', num_threads=n_threads):
        n = t // nc
        c0 = (t - n * nc) * CB
        c1 = c0 + CB
        if c1 > C:
            c1 = C
        if floating is float:
            cconv_col2im_rows_f(cp + n * OH * OW * K, dp + n * C * H * W, c0, c1, C, H, W,
                                FH, FW, OH, OW, sh, sw, ph, pw, lo, hi)
        else:
            cconv_col2im_rows_d(cp + n * OH * OW * K, dp + n * C * H * W, c0, c1, C, H, W,
                                FH, FW, OH, OW, sh, sw, ph, pw, lo, hi)


# ---- the per-sample transposed layout used by the layers' fast path ----
# colT is (N, C*FH*FW, OH*OW): for sample n, row (c, kh, kw) holds that filter tap's
# value at every output position (oh, ow). W (FN, C*FH*FW) @ colT[n] is then the
# NCHW output of sample n with no transpose, and with stride 1 each (row, oh) run is a
# contiguous slice of an input row.

cdef inline void _tap_range(Py_ssize_t OW, Py_ssize_t W, Py_ssize_t sw, Py_ssize_t off,
                            Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    # [lo, hi): the output columns ow whose tap reads input column ow*sw + off inside the row
    cdef Py_ssize_t a = 0, b
    while a < OW and a * sw + off < 0:
        a += 1
    b = a
    while b < OW and b * sw + off < W:
        b += 1
    lo[0] = a
    hi[0] = b


cdef inline void _im2col_t_plane(const floating* x, floating* colT,
                                 Py_ssize_t H, Py_ssize_t W, Py_ssize_t FH, Py_ssize_t FW,
                                 Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t sh, Py_ssize_t sw,
                                 Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    # x: plane (n, c); colT: its FH*FW rows, which this call owns.
    cdef Py_ssize_t kh, kw, oh, ow, ih, lo, hi, iw, a, b, i
    cdef floating* d
    cdef const floating* s
    if floating is float and CCONV_SSE2 and sh == 1 and sw == 1 and OW == W and 4 <= W < 12:
        cconv_im2col_t_narrow_f(x, colT, H, W, FH, FW, OH, ph, pw)
        return
    if sh == 1 and sw == 1 and OW == W:
        # A tap's rows [a, b) inside the input are one block of the plane shifted by
        # (kh - ph) rows and (kw - pw) columns: one copy from the first value inside to
        # the last, then the few cells that the shift carried across a row edge, and
        # the rows above and below the input, are zeroed.
        for kh in range(FH):
            a = ph - kh
            if a < 0:
                a = 0
            if a > OH:
                a = OH
            b = H + ph - kh
            if b > OH:
                b = OH
            if b < a:
                b = a
            for kw in range(FW):
                _tap_range(OW, W, 1, kw - pw, &lo, &hi)
                d = colT + (kh * FW + kw) * OH * OW
                memset(d, 0, a * OW * sizeof(floating))
                memset(d + b * OW, 0, (OH - b) * OW * sizeof(floating))
                if a == b or lo >= hi:
                    memset(d + a * OW, 0, (b - a) * OW * sizeof(floating))
                    continue
                iw = (kh - ph) * W + (kw - pw)   # the shift, in values of the plane
                # a loop, not memcpy: glibc copies blocks of a few KiB with rep movsb,
                # slow on AMD when source and destination are not equally aligned
                for i in range(a * OW + lo, (b - 1) * OW + hi):
                    d[i] = x[i + iw]
                for oh in range(a, b):
                    for ow in range(lo):
                        d[oh * OW + ow] = 0
                    for ow in range(hi, OW):
                        d[oh * OW + ow] = 0
        return
    for kh in range(FH):
        for kw in range(FW):
            _tap_range(OW, W, sw, kw - pw, &lo, &hi)
            for oh in range(OH):
                d = colT + ((kh * FW + kw) * OH + oh) * OW
                ih = oh * sh - ph + kh
                if ih < 0 or ih >= H:
                    memset(d, 0, OW * sizeof(floating))
                    continue
                s = x + ih * W - pw + kw
                for ow in range(lo):
                    d[ow] = 0
                if sw == 1:
                    for ow in range(lo, hi):   # not memcpy: see the block copy above
                        d[ow] = s[ow]
                else:
                    for ow in range(lo, hi):
                        d[ow] = s[ow * sw]
                for ow in range(hi, OW):
                    d[ow] = 0


def im2col_t_into(const floating[:, :, :, ::1] x, floating[:, :, ::1] colT,
                  Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t sh, Py_ssize_t sw,
                  Py_ssize_t ph, Py_ssize_t pw, int n_threads):
    """Fill colT (N, C*FH*FW, OH*OW) from x (N, C, H, W)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t OH, OW
    _window_out("im2col_t_into", H, W, FH, FW, sh, sw, ph, pw, &OH, &OW)
    _expect("im2col_t_into", "colT", &colT.shape[0], 3, (N, C * FH * FW, OH * OW))
    cdef Py_ssize_t t
    if N * C == 0 or OH <= 0 or OW <= 0:
        return
    cdef floating* cp = &colT[0, 0, 0]
    if H == 0 or W == 0:
        # Every window lies in the padding (x has no element to take the address of).
        memset(cp, 0, N * C * FH * FW * OH * OW * sizeof(floating))
        return
    cdef const floating* xp = &x[0, 0, 0, 0]
    # Work item (n, c) owns rows [c*FH*FW, (c+1)*FH*FW) of colT[n].
    for t in prange(N * C, nogil=True, schedule='static', num_threads=n_threads):
        _im2col_t_plane(xp + t * H * W, cp + t * FH * FW * OH * OW, H, W, FH, FW,
                        OH, OW, sh, sw, ph, pw)


cdef inline void _col2im_t_plane(const floating* colT, floating* dx,
                                 Py_ssize_t H, Py_ssize_t W, Py_ssize_t FH, Py_ssize_t FW,
                                 Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t sh, Py_ssize_t sw,
                                 Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    # dx: plane (n, c), owned by this call; colT: its FH*FW rows. Each dx value gets its
    # terms in (kh, kw, oh) order whatever the thread count.
    cdef Py_ssize_t kh, kw, oh, ow, ih, lo, hi
    cdef floating* d
    cdef const floating* s
    memset(dx, 0, H * W * sizeof(floating))
    for kh in range(FH):
        for kw in range(FW):
            _tap_range(OW, W, sw, kw - pw, &lo, &hi)
            for oh in range(OH):
                ih = oh * sh - ph + kh
                if ih < 0 or ih >= H:
                    continue
                s = colT + ((kh * FW + kw) * OH + oh) * OW
                d = dx + ih * W - pw + kw
                if sw == 1:
                    for ow in range(lo, hi):
                        d[ow] += s[ow]
                else:
                    for ow in range(lo, hi):
                        d[ow * sw] += s[ow]


def col2im_t_into(const floating[:, :, ::1] colT, floating[:, :, :, ::1] dx,
                  Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t sh, Py_ssize_t sw,
                  Py_ssize_t ph, Py_ssize_t pw, int n_threads):
    """Sum colT (N, C*FH*FW, OH*OW) back into dx (N, C, H, W); dx is overwritten."""
    cdef Py_ssize_t N = dx.shape[0], C = dx.shape[1], H = dx.shape[2], W = dx.shape[3]
    cdef Py_ssize_t OH, OW
    _window_out("col2im_t_into", H, W, FH, FW, sh, sw, ph, pw, &OH, &OW)
    _expect("col2im_t_into", "colT", &colT.shape[0], 3, (N, C * FH * FW, OH * OW))
    cdef Py_ssize_t t
    if N * C == 0 or H * W == 0:
        return
    cdef floating* dp = &dx[0, 0, 0, 0]
    if OH <= 0 or OW <= 0:
        memset(dp, 0, N * C * H * W * sizeof(floating))
        return
    cdef const floating* cp = &colT[0, 0, 0]
    for t in prange(N * C, nogil=True, schedule='static', num_threads=n_threads):
        _col2im_t_plane(cp + t * FH * FW * OH * OW, dp + t * H * W, H, W, FH, FW,
                        OH, OW, sh, sw, ph, pw)
