"""Local Response Normalization across channels (AlexNet) on NCHW arrays.

x, out, scale, dout, dx are (N, C, H, W) C-contiguous. scale = k + alpha/size * (sum of
x**2 over channels [c - size//2, c + (size-1)//2] clipped to [0, C)), out = x * scale**-beta
(PyTorch's window and alpha/size). Work item (n, block of `rows` rows) owns those pixels of
every channel of sample n, so results do not depend on the thread count.
"""
from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.math cimport pow, powf, sqrt, sqrtf

from _blocks cimport block_end


include "_build.pxi"
include "_geometry.pxi"


cdef inline floating _negpow(floating s, floating beta, bint b075) noexcept nogil:
    # s**-beta. beta = 0.75 (AlexNet's) by two square roots, several times faster than
    # pow and within a few ulp of it.
    cdef floating r
    if b075:
        if floating is float:
            r = (<float>1) / sqrtf(s)
            return r * sqrtf(r)
        else:
            r = 1.0 / sqrt(s)
            return r * sqrt(r)
    if floating is float:
        return powf(s, -beta)
    else:
        return pow(s, -beta)


cdef inline void _window_sq_sum(const floating* x, floating* s, Py_ssize_t c0,
                                Py_ssize_t c1, Py_ssize_t HW, Py_ssize_t L) noexcept nogil:
    # s[i] = sum of x[cc, i]**2 for cc = c0..c1 in increasing order (the reference's order).
    cdef Py_ssize_t cc, i
    cdef const floating* xr
    for i in range(L):
        s[i] = 0
    for cc in range(c0, c1 + 1):
        xr = x + cc * HW
        for i in range(L):
            s[i] = s[i] + xr[i] * xr[i]


cdef inline void _fwd_block(const floating* x, floating* out, floating* scale,
                            Py_ssize_t C, Py_ssize_t HW, Py_ssize_t L, Py_ssize_t lo,
                            Py_ssize_t hi, floating an, floating k, floating beta,
                            bint b075) noexcept nogil:
    # Pointers are at pixel i0 of channel 0 of one sample; the block is L pixels of each
    # channel plane (channel stride HW). The scale row is the accumulator.
    cdef Py_ssize_t c, i, c0, c1
    cdef floating* s
    cdef floating* o
    cdef const floating* xr
    cdef floating v
    for c in range(C):
        c0 = c - lo if c >= lo else 0
        c1 = c + hi if c + hi < C else C - 1
        s = scale + c * HW
        _window_sq_sum(x, s, c0, c1, HW, L)
        xr = x + c * HW
        o = out + c * HW
        for i in range(L):
            v = k + an * s[i]
            s[i] = v
            o[i] = xr[i] * _negpow(v, beta, b075)


cdef int _lrn_check(str where, Py_ssize_t size, Py_ssize_t rows) except -1:
    if size < 1 or rows < 1:
        raise ValueError(f"{where}: size {size} and rows {rows} must be >= 1")
    return 0


def lrn_forward_into(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] out,
                     floating[:, :, :, ::1] scale, Py_ssize_t size, double alpha,
                     double beta, double k, Py_ssize_t rows, int n_threads):
    """rows >= 1: pixel rows per work item (any value gives the same result)."""
    _lrn_check("lrn_forward_into", size, rows)
    cdef tuple shape = _dims(&x.shape[0], 4)
    _expect("lrn_forward_into", "out", &out.shape[0], 4, shape)
    _expect("lrn_forward_into", "scale", &scale.shape[0], 4, shape)
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t HW = H * W, nblk, t, n, h0, h1, off
    if N * C * HW == 0:
        return
    nblk = (H + rows - 1) // rows
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef floating* op = &out[0, 0, 0, 0]
    cdef floating* sp = &scale[0, 0, 0, 0]
    cdef floating an = <floating>(alpha / <double>size)
    cdef floating kk = <floating>k, bb = <floating>beta
    cdef bint b075 = beta == 0.75
    for t in prange(N * nblk, nogil=True, schedule='static', num_threads=n_threads):
        n = t // nblk
        h0 = (t % nblk) * rows
        h1 = block_end(h0, rows, H)
        off = n * C * HW + h0 * W
        _fwd_block(xp + off, op + off, sp + off, C, HW, (h1 - h0) * W,
                   size // 2, (size - 1) // 2, an, kk, bb, b075)


cdef inline void _bwd_block(const floating* dout, const floating* x, const floating* scale,
                            floating* dx, floating* tbuf, floating* acc, Py_ssize_t C,
                            Py_ssize_t HW, Py_ssize_t L, Py_ssize_t rlo, Py_ssize_t rhi,
                            floating coef, floating beta, bint b075) noexcept nogil:
    # dx[j] = dout[j] * p[j] - coef * x[j] * sum_{c in [j - rlo, j + rhi]} t[c], with
    # p = scale**-beta and t = dout * x * p / scale (channel j is in c's window exactly when
    # c is in [j - (size-1)//2, j + size//2]). tbuf (C*L) and acc (L) are this thread's.
    cdef Py_ssize_t c, i, c0, c1, cc
    cdef floating p, sc
    cdef const floating* g
    cdef const floating* xr
    cdef const floating* sr
    cdef floating* d
    cdef floating* tr
    for c in range(C):
        g = dout + c * HW
        xr = x + c * HW
        sr = scale + c * HW
        d = dx + c * HW
        tr = tbuf + c * L
        for i in range(L):
            sc = sr[i]
            p = _negpow(sc, beta, b075)
            d[i] = g[i] * p
            tr[i] = g[i] * xr[i] * p / sc
    for c in range(C):
        c0 = c - rlo if c >= rlo else 0
        c1 = c + rhi if c + rhi < C else C - 1
        for i in range(L):
            acc[i] = 0
        for cc in range(c0, c1 + 1):
            tr = tbuf + cc * L
            for i in range(L):
                acc[i] = acc[i] + tr[i]
        xr = x + c * HW
        d = dx + c * HW
        for i in range(L):
            d[i] = d[i] - coef * xr[i] * acc[i]


def lrn_backward_into(const floating[:, :, :, ::1] dout, const floating[:, :, :, ::1] x,
                      const floating[:, :, :, ::1] scale, floating[:, :, :, ::1] dx,
                      floating[:, ::1] work, Py_ssize_t size, double alpha, double beta,
                      Py_ssize_t rows, int n_threads):
    """work: (>= threads used, (C + 1) * rows * W), one row of scratch per thread."""
    _lrn_check("lrn_backward_into", size, rows)
    cdef tuple shape = _dims(&x.shape[0], 4)
    _expect("lrn_backward_into", "dout", &dout.shape[0], 4, shape)
    _expect("lrn_backward_into", "scale", &scale.shape[0], 4, shape)
    _expect("lrn_backward_into", "dx", &dx.shape[0], 4, shape)
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t HW = H * W, nblk, t, n, h0, h1, off, L
    if N * C * HW == 0:
        return
    nblk = (H + rows - 1) // rows
    cdef Py_ssize_t wsize = work.shape[1], nwork = work.shape[0]
    if wsize < (C + 1) * rows * W:
        raise ValueError(f"work rows hold {wsize} values, need {(C + 1) * rows * W}")
    if nwork < 1:
        raise ValueError("work must have at least one row")
    if n_threads > nwork:
        n_threads = <int>nwork
    cdef const floating* gp = &dout[0, 0, 0, 0]
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* sp = &scale[0, 0, 0, 0]
    cdef floating* dp = &dx[0, 0, 0, 0]
    cdef floating* wp = &work[0, 0]
    cdef floating* ws
    cdef floating coef = <floating>(2.0 * alpha * beta / <double>size)
    cdef floating bb = <floating>beta
    cdef bint b075 = beta == 0.75
    for t in prange(N * nblk, nogil=True, schedule='static', num_threads=n_threads):
        n = t // nblk
        h0 = (t % nblk) * rows
        h1 = block_end(h0, rows, H)
        L = (h1 - h0) * W
        off = n * C * HW + h0 * W
        ws = wp + threadid() * wsize
        _bwd_block(gp + off, xp + off, sp + off, dp + off, ws, ws + C * L, C, HW, L,
                   (size - 1) // 2, size // 2, coef, bb, b075)
