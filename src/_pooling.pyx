"""Max and average pooling on NCHW arrays.

x (N, C, H, W) -> out (N, C, OH, OW). Max pooling also writes arg (N, C, OH, OW), uint16,
the index kh*PW + kw of each window's first maximum (np.argmax's tie rule; padding reads
as -inf; a NaN wins, as in np.max). Average pooling divides by PH*PW (padding counts
as 0).
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport INFINITY
from libc.stdint cimport uint16_t
from libc.string cimport memset

from _simd cimport CCONV_SSE2

import numpy as np

include "_build.pxi"
include "_geometry.pxi"

cdef extern from "pooling.h":
    int cconv_maxpool22_f(const float* x, float* out, uint16_t* arg, Py_ssize_t W,
                          Py_ssize_t OH, Py_ssize_t OW) noexcept nogil
    int cconv_maxpool22_d(const double* x, double* out, uint16_t* arg, Py_ssize_t W,
                          Py_ssize_t OH, Py_ssize_t OW) noexcept nogil
    void cconv_maxpool22_back_f(const float* g, const uint16_t* a, const float* y, float* dx,
                                Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH,
                                Py_ssize_t OW) noexcept nogil
    void cconv_maxpool22_back_d(const double* g, const uint16_t* a, const double* y, double* dx,
                                Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH,
                                Py_ssize_t OW) noexcept nogil
    void cconv_avgpool22_f(const float* x, float* out, Py_ssize_t W, Py_ssize_t OH,
                           Py_ssize_t OW) noexcept nogil
    void cconv_avgpool22_d(const double* x, double* out, Py_ssize_t W, Py_ssize_t OH,
                           Py_ssize_t OW) noexcept nogil
    void cconv_avgpool22_back_f(const float* g, float* dx, Py_ssize_t H, Py_ssize_t W,
                                Py_ssize_t OH, Py_ssize_t OW) noexcept nogil
    void cconv_avgpool22_back_d(const double* g, double* dx, Py_ssize_t H, Py_ssize_t W,
                                Py_ssize_t OH, Py_ssize_t OW) noexcept nogil


cdef uint16_t[:, :, :, ::1] _NO_ARG = np.zeros((0, 0, 0, 0), np.uint16)  # avg: no argmax


cdef int _pool_check(str where, const Py_ssize_t* x, const Py_ssize_t* y,
                     const Py_ssize_t* arg, Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t sh,
                     Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw) except -1:
    """x (or dx) is (N, C, H, W); y (out or dout) and arg (unless NULL) must be
    (N, C, OH, OW) for the window; max pooling's argmax must fit uint16."""
    cdef Py_ssize_t OH, OW
    _window_out(where, x[2], x[3], PH, PW, sh, sw, ph, pw, &OH, &OW)
    if PH * PW > 65536:
        raise ValueError(f"{where}: a {PH}x{PW} window has more cells than uint16 indexes")
    want = (x[0], x[1], OH, OW)
    _expect(where, "the pooled array", y, 4, want)
    if arg != NULL:
        _expect(where, "arg", arg, 4, want)
    return 0


cdef inline bint _is_22(Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t sh, Py_ssize_t sw,
                        Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    # The book's pooling: 2x2 windows, stride 2, no padding.
    return PH == 2 and PW == 2 and sh == 2 and sw == 2 and ph == 0 and pw == 0


cdef inline void _max_window(const floating* x, Py_ssize_t H, Py_ssize_t W,
                             Py_ssize_t ih0, Py_ssize_t iw0, Py_ssize_t PH, Py_ssize_t PW,
                             floating* out, uint16_t* arg) noexcept nogil:
    # Window order (kh, kw), strict '>' keeps the first maximum. A padded cell is -inf:
    # it never beats a real value but is the answer when every cell is -inf (np.argmax
    # says index 0 then, and best_k starts at 0). NaNs are only flagged in the hot loop;
    # a flagged window is rescanned for its first NaN, which wins as in np.max.
    cdef Py_ssize_t kh, kw, ih, iw, best_k = 0, k
    cdef floating v, best = -INFINITY
    cdef bint nan_seen = False, gt
    cdef bint inside = ih0 >= 0 and ih0 + PH <= H and iw0 >= 0 and iw0 + PW <= W
    for kh in range(PH):
        ih = ih0 + kh
        if not inside and (ih < 0 or ih >= H):
            continue
        for kw in range(PW):
            iw = iw0 + kw
            if not inside and (iw < 0 or iw >= W):
                continue
            v = x[ih * W + iw]
            k = kh * PW + kw
            nan_seen = nan_seen | (v != v)
            gt = v > best
            best = v if gt else best
            best_k = best_k + gt * (k - best_k)  # arithmetic: keeps the loop branch-free
    if nan_seen:
        for kh in range(PH):
            ih = ih0 + kh
            if ih < 0 or ih >= H:
                continue
            for kw in range(PW):
                iw = iw0 + kw
                if 0 <= iw < W and x[ih * W + iw] != x[ih * W + iw]:
                    out[0] = x[ih * W + iw]
                    arg[0] = <uint16_t>(kh * PW + kw)
                    return
    out[0] = best
    arg[0] = <uint16_t>best_k


cdef inline void _maxpool_plane(const floating* x, floating* out, uint16_t* arg,
                                Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW,
                                Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t sh, Py_ssize_t sw,
                                Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    cdef Py_ssize_t oh, ow, ih0, iw0, i
    cdef int nan
    if _is_22(PH, PW, sh, sw, ph, pw):
        if floating is float:
            nan = cconv_maxpool22_f(x, out, arg, W, OH, OW)
        else:
            nan = cconv_maxpool22_d(x, out, arg, W, OH, OW)
        if not nan:
            return
    for oh in range(OH):
        ih0 = oh * sh - ph
        for ow in range(OW):
            iw0 = ow * sw - pw
            i = oh * OW + ow
            _max_window(x, H, W, ih0, iw0, PH, PW, out + i, arg + i)


cdef bint _no_windows(floating[:, :, :, ::1] dx, Py_ssize_t OH, Py_ssize_t OW) noexcept:
    # A backward with nothing to add: dx is empty, or no window fits (dx is then zeroed).
    cdef Py_ssize_t n = dx.shape[0] * dx.shape[1] * dx.shape[2] * dx.shape[3]
    if n == 0:
        return True
    if OH * OW == 0:
        memset(&dx[0, 0, 0, 0], 0, n * sizeof(floating))
        return True
    return False


cdef inline void _maxpool_back_plane(const floating* dout, const uint16_t* arg,
                                     const floating* gate, floating* dx, Py_ssize_t H,
                                     Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW,
                                     Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t sh,
                                     Py_ssize_t sw, Py_ssize_t ph,
                                     Py_ssize_t pw) noexcept nogil:
    """gate (NULL: none): the pooled ReLU output; a gradient whose window maximum is
    <= 0 routes +0 (NaN passes), what relu_backward before the routing gives."""
    cdef Py_ssize_t oh, ow, k, ih, iw
    cdef floating g
    if _is_22(PH, PW, sh, sw, ph, pw):
        if floating is float:
            cconv_maxpool22_back_f(dout, arg, gate, dx, H, W, OH, OW)
        else:
            cconv_maxpool22_back_d(dout, arg, gate, dx, H, W, OH, OW)
        return
    # Other shapes: scatter after a memset (windows may overlap).
    memset(dx, 0, H * W * sizeof(floating))
    for oh in range(OH):
        for ow in range(OW):
            k = arg[oh * OW + ow]
            ih = oh * sh - ph + k // PW
            iw = ow * sw - pw + k % PW
            g = dout[oh * OW + ow]
            if gate != NULL and gate[oh * OW + ow] <= 0:
                g = 0
            if 0 <= ih < H and 0 <= iw < W:
                dx[ih * W + iw] += g


cdef inline void _avgpool_plane(const floating* x, floating* out,
                                Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW,
                                Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t sh, Py_ssize_t sw,
                                Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    cdef Py_ssize_t oh, ow, kh, kw, ih, iw, ih0, iw0
    cdef floating s
    cdef floating cnt = <floating>(PH * PW)
    cdef bint inside
    if _is_22(PH, PW, sh, sw, ph, pw):
        if floating is float:
            cconv_avgpool22_f(x, out, W, OH, OW)
        else:
            cconv_avgpool22_d(x, out, W, OH, OW)
        return
    for oh in range(OH):
        ih0 = oh * sh - ph
        for ow in range(OW):
            iw0 = ow * sw - pw
            inside = ih0 >= 0 and ih0 + PH <= H and iw0 >= 0 and iw0 + PW <= W
            s = 0
            for kh in range(PH):
                ih = ih0 + kh
                if not inside and (ih < 0 or ih >= H):
                    continue
                for kw in range(PW):
                    iw = iw0 + kw
                    if inside or 0 <= iw < W:
                        s = s + x[ih * W + iw]
            out[oh * OW + ow] = s / cnt   # a division, as the reference's mean


cdef _pool_forward(str where, const floating[:, :, :, ::1] x, floating[:, :, :, ::1] out,
                   uint16_t[:, :, :, ::1] arg, Py_ssize_t PH, Py_ssize_t PW,
                   Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw,
                   int n_threads, bint is_max):
    """Both forward passes: plane (n, c) of out (and arg) belongs to one work item."""
    _pool_check(where, &x.shape[0], &out.shape[0], &arg.shape[0] if is_max else NULL,
                PH, PW, sh, sw, ph, pw)
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t OH = out.shape[2], OW = out.shape[3]
    cdef Py_ssize_t t
    if N * C == 0 or OH * OW == 0:
        return
    cdef floating* op = &out[0, 0, 0, 0]
    cdef uint16_t* ap = &arg[0, 0, 0, 0] if is_max else NULL
    if H == 0 or W == 0:
        # Every window lies in the padding, which reads as -inf for the max (argmax 0,
        # as np.argmax) and counts as 0 in the average; x has no element to address.
        for t in range(N * C * OH * OW):
            op[t] = -INFINITY if is_max else 0
            if is_max:
                ap[t] = 0
        return
    cdef const floating* xp = &x[0, 0, 0, 0]
    for t in prange(N * C, nogil=True, schedule='dynamic', chunksize=8,
                    num_threads=n_threads):
        if is_max:
            _maxpool_plane(xp + t * H * W, op + t * OH * OW, ap + t * OH * OW,
                           H, W, OH, OW, PH, PW, sh, sw, ph, pw)
        else:
            _avgpool_plane(xp + t * H * W, op + t * OH * OW, H, W, OH, OW,
                           PH, PW, sh, sw, ph, pw)


def maxpool_forward_into(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] out,
                         uint16_t[:, :, :, ::1] arg, Py_ssize_t PH, Py_ssize_t PW,
                         Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw,
                         int n_threads):
    _pool_forward("maxpool_forward_into", x, out, arg, PH, PW, sh, sw, ph, pw, n_threads,
                  True)


def avgpool_forward_into(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] out,
                         Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t sh, Py_ssize_t sw,
                         Py_ssize_t ph, Py_ssize_t pw, int n_threads):
    _pool_forward("avgpool_forward_into", x, out, _NO_ARG, PH, PW, sh, sw, ph, pw,
                  n_threads, False)


cdef inline void _avgpool_back_plane(const floating* dout, floating* dx,
                                     Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW,
                                     Py_ssize_t PH, Py_ssize_t PW,
                                     Py_ssize_t sh, Py_ssize_t sw,
                                     Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    cdef Py_ssize_t oh, ow, kh, kw, ih, iw
    cdef floating g
    cdef floating cnt = <floating>(PH * PW)
    cdef floating* d
    if _is_22(PH, PW, sh, sw, ph, pw):
        if floating is float:
            cconv_avgpool22_back_f(dout, dx, H, W, OH, OW)
        else:
            cconv_avgpool22_back_d(dout, dx, H, W, OH, OW)
        return
    if sh == PH and sw == PW and ph == 0 and pw == 0:
        # Windows tile the plane: each covered cell is written once.
        if OH * PH < H or OW * PW < W:
            memset(dx, 0, H * W * sizeof(floating))
        for oh in range(OH):
            for ow in range(OW):
                g = dout[oh * OW + ow] / cnt
                d = dx + oh * PH * W + ow * PW
                for kh in range(PH):
                    for kw in range(PW):
                        d[kh * W + kw] = g
        return
    memset(dx, 0, H * W * sizeof(floating))
    for oh in range(OH):
        for ow in range(OW):
            g = dout[oh * OW + ow] / cnt
            for kh in range(PH):
                ih = oh * sh - ph + kh
                if ih < 0 or ih >= H:
                    continue
                for kw in range(PW):
                    iw = ow * sw - pw + kw
                    if 0 <= iw < W:
                        dx[ih * W + iw] += g


cdef _pool_backward(str where, const floating[:, :, :, ::1] dout,
                    const uint16_t[:, :, :, ::1] arg, floating[:, :, :, ::1] dx,
                    Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t sh, Py_ssize_t sw,
                    Py_ssize_t ph, Py_ssize_t pw, int n_threads, bint is_max,
                    const floating* gate):
    """Both backward passes: plane (n, c) of dx belongs to one work item; overlapping
    windows add in (oh, ow) order whatever the thread count. arg and gate (of dout's
    shape; NULL: none): max pooling's only."""
    _pool_check(where, &dx.shape[0], &dout.shape[0], &arg.shape[0] if is_max else NULL,
                PH, PW, sh, sw, ph, pw)
    cdef Py_ssize_t N = dx.shape[0], C = dx.shape[1], H = dx.shape[2], W = dx.shape[3]
    cdef Py_ssize_t OH = dout.shape[2], OW = dout.shape[3]
    cdef Py_ssize_t t
    if _no_windows(dx, OH, OW):
        return
    cdef floating* dp = &dx[0, 0, 0, 0]
    cdef const floating* gp = &dout[0, 0, 0, 0]
    cdef const uint16_t* ap = &arg[0, 0, 0, 0] if is_max else NULL
    for t in prange(N * C, nogil=True, schedule='dynamic', chunksize=8,
                    num_threads=n_threads):
        if is_max:
            _maxpool_back_plane(gp + t * OH * OW, ap + t * OH * OW,
                                gate + t * OH * OW if gate != NULL else NULL,
                                dp + t * H * W, H, W, OH, OW, PH, PW, sh, sw, ph, pw)
        else:
            _avgpool_back_plane(gp + t * OH * OW, dp + t * H * W, H, W, OH, OW,
                                PH, PW, sh, sw, ph, pw)


def maxpool_backward_into(const floating[:, :, :, ::1] dout,
                          const uint16_t[:, :, :, ::1] arg,
                          floating[:, :, :, ::1] dx, Py_ssize_t PH, Py_ssize_t PW,
                          Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw,
                          int n_threads, gate=None):
    """arg values outside [0, PH*PW) route nowhere or to another cell of the window's
    rows (never outside dx); the caller checks them. gate (None: none), of dout's shape
    and dtype: the pooled output of a ReLU's output, folding that ReLU's backward in
    (a gradient whose window maximum is <= 0 routes +0; NaN passes)."""
    cdef const floating[:, :, :, ::1] g
    cdef const floating* gp = NULL
    if gate is not None:
        g = gate
        if (g.shape[0] != dout.shape[0] or g.shape[1] != dout.shape[1] or
                g.shape[2] != dout.shape[2] or g.shape[3] != dout.shape[3]):
            raise ValueError(f"maxpool_backward_into: gate has shape {gate.shape}, dout "
                             f"{(dout.shape[0], dout.shape[1], dout.shape[2], dout.shape[3])}"
                             f"; they must match")
        if g.shape[0] * g.shape[1] * g.shape[2] * g.shape[3] > 0:
            gp = &g[0, 0, 0, 0]
    _pool_backward("maxpool_backward_into", dout, arg, dx, PH, PW, sh, sw, ph, pw,
                   n_threads, True, gp)


def avgpool_backward_into(const floating[:, :, :, ::1] dout, floating[:, :, :, ::1] dx,
                          Py_ssize_t PH, Py_ssize_t PW, Py_ssize_t sh, Py_ssize_t sw,
                          Py_ssize_t ph, Py_ssize_t pw, int n_threads):
    _pool_backward("avgpool_backward_into", dout, _NO_ARG, dx, PH, PW, sh, sw, ph, pw,
                   n_threads, False, NULL)
