"""im2col / col2im on NCHW arrays.

col is (N*OH*OW, C*FH*FW): rows ordered (n, oh, ow), columns (c, kh, kw) — the book's
layout. Padding is implicit: positions outside the input read as 0 (im2col) or are
dropped (col2im).
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memcpy, memset

from _openmp cimport CCONV_OPENMP, omp_get_max_threads


def openmp_compiled():
    """True when this module was compiled with OpenMP (_OPENMP defined)."""
    return bool(CCONV_OPENMP)


def openmp_max_threads():
    return omp_get_max_threads()


cdef inline void _copy_windows(floating* d, const floating* s, Py_ssize_t n,
                               Py_ssize_t K, Py_ssize_t sw, Py_ssize_t FW) noexcept nogil:
    # n windows of FW values: source advances by the stride, destination by a col row.
    cdef Py_ssize_t i, kw
    if FW == 3:
        for i in range(n):
            d[0] = s[0]; d[1] = s[1]; d[2] = s[2]
            d += K; s += sw
    elif FW == 5:
        for i in range(n):
            d[0] = s[0]; d[1] = s[1]; d[2] = s[2]; d[3] = s[3]; d[4] = s[4]
            d += K; s += sw
    elif FW == 2:
        for i in range(n):
            d[0] = s[0]; d[1] = s[1]
            d += K; s += sw
    elif FW == 1:
        for i in range(n):
            d[0] = s[0]
            d += K; s += sw
    else:
        for i in range(n):
            for kw in range(FW):
                d[kw] = s[kw]
            d += K; s += sw


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
                             Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    # x points at sample n; col at the first of the OW rows of (n, oh). Column block
    # (c, kh) of every row is filled in turn; the whole OW x K block stays in L1/L2.
    cdef Py_ssize_t ow, c, kh, kw, ih, iw, lo, hi
    cdef Py_ssize_t K = C * FH * FW
    cdef floating* d
    cdef const floating* src
    _interior(OW, W, FW, sw, pw, &lo, &hi)
    for c in range(C):
        for kh in range(FH):
            ih = oh * sh - ph + kh
            d = col + (c * FH + kh) * FW
            if ih < 0 or ih >= H:
                for ow in range(OW):
                    memset(d + ow * K, 0, FW * sizeof(floating))
                continue
            src = x + (c * H + ih) * W
            for ow in range(lo):
                for kw in range(FW):
                    iw = ow * sw - pw + kw
                    d[ow * K + kw] = src[iw] if 0 <= iw < W else 0
            _copy_windows(d + lo * K, src + lo * sw - pw, hi - lo, K, sw, FW)
            for ow in range(hi, OW):
                for kw in range(FW):
                    iw = ow * sw - pw + kw
                    d[ow * K + kw] = src[iw] if 0 <= iw < W else 0


def im2col_into(const floating[:, :, :, ::1] x, floating[:, ::1] col,
                Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t sh, Py_ssize_t sw,
                Py_ssize_t ph, Py_ssize_t pw, int n_threads):
    """Fill col (N*OH*OW, C*FH*FW) from x (N, C, H, W). Shapes are checked by the caller."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t OH = (H + 2 * ph - FH) // sh + 1
    cdef Py_ssize_t OW = (W + 2 * pw - FW) // sw + 1
    cdef Py_ssize_t K = C * FH * FW
    cdef Py_ssize_t t, n, oh
    if N == 0 or OH <= 0 or OW <= 0 or K == 0:
        return
    cdef floating* cp = &col[0, 0]
    if H == 0 or W == 0:
        # Every window lies in the padding (x has no element to take the address of).
        memset(cp, 0, N * OH * OW * K * sizeof(floating))
        return
    cdef const floating* xp = &x[0, 0, 0, 0]
    # Work item (n, oh) owns rows [(n*OH+oh)*OW, +OW) of col.
    for t in prange(N * OH, nogil=True, schedule='static', num_threads=n_threads):
        n = t // OH
        oh = t - n * OH
        _im2col_row(xp + n * C * H * W, cp + t * OW * K, C, H, W, FH, FW, OW,
                    oh, sh, sw, ph, pw)


cdef inline void _add_windows(floating* d, const floating* s, Py_ssize_t n,
                              Py_ssize_t K, Py_ssize_t sw, Py_ssize_t FW) noexcept nogil:
    # The transpose of _copy_windows: n windows of FW values added into one dx row.
    cdef Py_ssize_t i, kw
    if FW == 3:
        for i in range(n):
            d[0] += s[0]; d[1] += s[1]; d[2] += s[2]
            d += sw; s += K
    elif FW == 5:
        for i in range(n):
            d[0] += s[0]; d[1] += s[1]; d[2] += s[2]; d[3] += s[3]; d[4] += s[4]
            d += sw; s += K
    elif FW == 2:
        for i in range(n):
            d[0] += s[0]; d[1] += s[1]
            d += sw; s += K
    else:
        for i in range(n):
            for kw in range(FW):
                d[kw] += s[kw]
            d += sw; s += K


cdef inline void _col2im_plane(const floating* col, floating* dx,
                               Py_ssize_t c, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                               Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t OH, Py_ssize_t OW,
                               Py_ssize_t sh, Py_ssize_t sw,
                               Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    # col points at the first row of sample n; dx at plane (n, c), which this call owns.
    # Each dx value receives its terms in (oh, kh, ow, kw) order, whatever the threads.
    cdef Py_ssize_t oh, ow, kh, kw, ih, iw, lo, hi
    cdef Py_ssize_t K = C * FH * FW
    cdef const floating* src
    cdef floating* drow
    _interior(OW, W, FW, sw, pw, &lo, &hi)
    memset(dx, 0, H * W * sizeof(floating))
    for oh in range(OH):
        for kh in range(FH):
            ih = oh * sh - ph + kh
            if ih < 0 or ih >= H:
                continue
            drow = dx + ih * W
            src = col + oh * OW * K + (c * FH + kh) * FW
            for ow in range(lo):
                for kw in range(FW):
                    iw = ow * sw - pw + kw
                    if 0 <= iw < W:
                        drow[iw] += src[ow * K + kw]
            _add_windows(drow + lo * sw - pw, src + lo * K, hi - lo, K, sw, FW)
            for ow in range(hi, OW):
                for kw in range(FW):
                    iw = ow * sw - pw + kw
                    if 0 <= iw < W:
                        drow[iw] += src[ow * K + kw]


def col2im_into(const floating[:, ::1] col, floating[:, :, :, ::1] dx,
                Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t sh, Py_ssize_t sw,
                Py_ssize_t ph, Py_ssize_t pw, int n_threads):
    """Sum col (N*OH*OW, C*FH*FW) back into dx (N, C, H, W); dx is overwritten."""
    cdef Py_ssize_t N = dx.shape[0], C = dx.shape[1], H = dx.shape[2], W = dx.shape[3]
    cdef Py_ssize_t OH = (H + 2 * ph - FH) // sh + 1
    cdef Py_ssize_t OW = (W + 2 * pw - FW) // sw + 1
    cdef Py_ssize_t K = C * FH * FW
    cdef Py_ssize_t t, n, c
    if N == 0 or C == 0 or H == 0 or W == 0:
        return
    cdef floating* dp = &dx[0, 0, 0, 0]
    if OH <= 0 or OW <= 0:
        memset(dp, 0, N * C * H * W * sizeof(floating))
        return
    cdef const floating* cp = &col[0, 0]
    # Plane (n, c) of dx belongs to one work item, so sums never race and their
    # order (oh, ow, kh, kw) is the same for any thread count.
    for t in prange(N * C, nogil=True, schedule='static', num_threads=n_threads):
        n = t // C
        c = t - n * C
        _col2im_plane(cp + n * OH * OW * K, dp + t * H * W, c, C, H, W, FH, FW,
                      OH, OW, sh, sw, ph, pw)


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
    cdef Py_ssize_t kh, kw, oh, ow, ih, lo, hi, iw
    cdef floating* d
    cdef const floating* s
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
                    memcpy(d + lo, s + lo, (hi - lo) * sizeof(floating))
                else:
                    for ow in range(lo, hi):
                        d[ow] = s[ow * sw]
                for ow in range(hi, OW):
                    d[ow] = 0


def im2col_t_into(const floating[:, :, :, ::1] x, floating[:, :, ::1] colT,
                  Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t sh, Py_ssize_t sw,
                  Py_ssize_t ph, Py_ssize_t pw, int n_threads):
    """Fill colT (N, C*FH*FW, OH*OW) from x (N, C, H, W). Shapes are checked by the caller."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t OH = (H + 2 * ph - FH) // sh + 1
    cdef Py_ssize_t OW = (W + 2 * pw - FW) // sw + 1
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
    cdef Py_ssize_t OH = (H + 2 * ph - FH) // sh + 1
    cdef Py_ssize_t OW = (W + 2 * pw - FW) // sw + 1
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
