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


cdef inline void _im2col_row(const floating* x, floating* col,
                             Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                             Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t OW,
                             Py_ssize_t oh, Py_ssize_t sh, Py_ssize_t sw,
                             Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    # x points at sample n; col at the first of the OW rows of (n, oh).
    cdef Py_ssize_t ow, c, kh, kw, ih, iw, iw0
    cdef Py_ssize_t K = C * FH * FW
    cdef floating* dst
    cdef const floating* src
    for ow in range(OW):
        dst = col + ow * K
        iw0 = ow * sw - pw
        for c in range(C):
            for kh in range(FH):
                ih = oh * sh - ph + kh
                if ih < 0 or ih >= H:
                    memset(dst, 0, FW * sizeof(floating))
                elif iw0 >= 0 and iw0 + FW <= W:
                    memcpy(dst, x + (c * H + ih) * W + iw0, FW * sizeof(floating))
                else:
                    src = x + (c * H + ih) * W
                    for kw in range(FW):
                        iw = iw0 + kw
                        dst[kw] = src[iw] if 0 <= iw < W else 0
                dst += FW


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
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef floating* cp = &col[0, 0]
    # Work item (n, oh) owns rows [(n*OH+oh)*OW, +OW) of col.
    for t in prange(N * OH, nogil=True, schedule='static', num_threads=n_threads):
        n = t // OH
        oh = t - n * OH
        _im2col_row(xp + n * C * H * W, cp + t * OW * K, C, H, W, FH, FW, OW,
                    oh, sh, sw, ph, pw)


cdef inline void _col2im_plane(const floating* col, floating* dx,
                               Py_ssize_t c, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                               Py_ssize_t FH, Py_ssize_t FW, Py_ssize_t OH, Py_ssize_t OW,
                               Py_ssize_t sh, Py_ssize_t sw,
                               Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    # col points at the first row of sample n; dx at plane (n, c), which this call owns.
    cdef Py_ssize_t oh, ow, kh, kw, ih, iw, iw0
    cdef Py_ssize_t K = C * FH * FW
    cdef const floating* src
    cdef floating* drow
    memset(dx, 0, H * W * sizeof(floating))
    for oh in range(OH):
        for ow in range(OW):
            src = col + (oh * OW + ow) * K + c * FH * FW
            iw0 = ow * sw - pw
            for kh in range(FH):
                ih = oh * sh - ph + kh
                if 0 <= ih < H:
                    drow = dx + ih * W
                    if iw0 >= 0 and iw0 + FW <= W:
                        for kw in range(FW):
                            drow[iw0 + kw] += src[kw]
                    else:
                        for kw in range(FW):
                            iw = iw0 + kw
                            if 0 <= iw < W:
                                drow[iw] += src[kw]
                src += FW


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
