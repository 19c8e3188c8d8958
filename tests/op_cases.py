"""Shapes, dtypes and helpers the op tests share (test_im2col, test_pooling,
test_activation, test_conv, test_ops)."""

import numpy as np
from hypothesis import HealthCheck, settings, strategies as st

from cconv import ops as K
from cconv.ops import reference as R
from cconv import util

DTYPES = [np.float32, np.float64]


TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


# (N, C, H, W, FH, FW, stride, pad): square and non-square, stride > 1, pad > 0,
# N*C smaller than the thread count, 1x1 filters, filter == input.
GRID = [
    (1, 1, 5, 5, 3, 3, 1, 0),
    (2, 3, 7, 6, 3, 2, 1, 1),
    (3, 2, 9, 7, 3, 2, 2, 1),
    (1, 1, 4, 4, 4, 4, 1, 0),
    (2, 4, 6, 5, 1, 1, 1, 0),
    (1, 2, 8, 11, 5, 3, (2, 3), (2, 1)),
    (4, 1, 28, 28, 5, 5, 1, 0),
    (2, 3, 10, 10, 3, 3, 3, 2),
    (1, 1, 1, 1, 1, 1, 1, 0),
    (3, 1, 6, 1, 2, 1, 2, 0),
]


def rand(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# im2col writes a col of half the last-level cache or more to memory with non-temporal
# stores, a smaller one through the cache; 3-wide float32 windows are written straight
# from registers (streamed when C*FH is a multiple of 4 and col is 16-byte aligned),
# others through per-thread blocks. Each case runs both ways: blocks that do not divide
# the output rows, padding, stride, non-square windows, C*FH not a multiple of 4, the
# narrowest input the 3-wide path takes (W = 4) and one it leaves (W = 3), windows that
# start two columns into the padding.
STREAMED = [
    (24, 16, 28, 28, 3, 3, 1, 1),
    (40, 8, 31, 29, 3, 5, (2, 1), (1, 2)),
    (600, 1, 28, 28, 5, 5, 1, 0),
    (3, 4, 9, 8, 3, 3, 1, 1),
    (2, 3, 7, 10, 3, 3, 2, 1),
    (2, 4, 6, 6, 5, 3, 1, (4, 2)),
    (2, 4, 5, 4, 3, 3, (1, 3), 2),
    (2, 8, 5, 5, 3, 3, 1, (0, 2)),
    (2, 4, 6, 3, 3, 3, 1, 1),
    (1, 1, 7, 9, 3, 3, 1, 1),
]


POOL_GRID = [
    (2, 3, 4, 4, 2, 2, 2, 0),
    (1, 2, 7, 5, 3, 2, 1, 1),   # overlapping windows, padding
    (3, 1, 9, 9, 3, 3, 2, 1),
    (2, 2, 6, 8, 2, 3, (2, 3), (1, 0)),
    (1, 1, 1, 1, 1, 1, 1, 0),
    (2, 30, 24, 24, 2, 2, 2, 0),  # SimpleConvNet's pool
    (2, 3, 5, 7, 2, 2, 2, 0),     # 2x2/2 fast path with an uncovered last row and column
]


BAD = [
    (lambda: util.im2col(np.zeros((3, 4, 4)), 2, 2), ValueError, r"4-D \(N, C, H, W\), got 3-D"),
    (lambda: util.im2col(np.zeros((1, 1, 3, 3)), 5, 5), ValueError,
     "filter 5x5 with pad 0x0 does not fit a 3x3 input"),
    (lambda: util.im2col(np.zeros((1, 1, 3, 3)), 2, 2, stride=0), ValueError,
     "stride must be positive, got 0"),
    (lambda: util.im2col(np.zeros((1, 1, 3, 3)), 2, 2, stride=-1), ValueError,
     "stride must be positive"),
    (lambda: util.im2col(np.zeros((1, 1, 3, 3)), 2, 2, pad=-1), ValueError, "pad must be >= 0"),
    (lambda: util.im2col(np.zeros((1, 1, 3, 3)), 2, 2, pad=(2, -2)), ValueError,
     r"pad must be >= 0, got \(2, -2\)"),
    (lambda: util.im2col(np.zeros((1, 1, 3, 3)), 0, 2), ValueError, "filter size must be positive"),
    (lambda: util.im2col(np.zeros((1, 1, 3, 3)), 2.5, 2), TypeError, "filter_h must be an int"),
    (lambda: util.im2col(np.zeros((1, 1, 3, 3)), 2, 2, stride=(1, 2, 3)), ValueError,
     "stride must be an int or a pair"),
    (lambda: util.col2im(np.zeros((4, 5)), (1, 1, 3, 3), 2, 2), ValueError,
     r"col has shape \(4, 5\), but input_shape \(1, 1, 3, 3\).*needs \(4, 4\)"),
    (lambda: util.col2im(np.zeros((4, 4)), (1, 3, 3), 2, 2), ValueError,
     r"input_shape must be \(N, C, H, W\)"),
    (lambda: K.maxpool_forward(np.zeros((1, 1, 4, 4)), 2, 2, 2, pad=2), ValueError,
     "pad 2x2 must be smaller than the pool 2x2"),
    (lambda: K.maxpool_backward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 3), np.intp),
                                (1, 1, 4, 4), 2, 2, 2), ValueError, "arg has shape"),
    (lambda: K.maxpool_backward(np.zeros((1, 1, 2, 2)), np.full((1, 1, 2, 2), 4),
                                (1, 1, 4, 4), 2, 2, 2), ValueError, r"arg values must lie in \[0, 4\)"),
    (lambda: K.maxpool_backward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2)),
                                (1, 1, 4, 4), 2, 2, 2), TypeError, "arg must hold integers"),
    (lambda: K.maxpool_backward(np.zeros((1, 1, 3, 2)), np.zeros((1, 1, 3, 2), int),
                                (1, 1, 4, 4), 2, 2, 2), ValueError, r"dout has shape \(1, 1, 3, 2\)"),
    (lambda: util.im2col(np.zeros((1 << 20, 1 << 10, 1, 1), np.float32)[:, :, :, :], 1, 1,
                         out=np.empty((1, 1), np.float32)), ValueError, "out for col must have shape"),
    (lambda: K.im2col(np.broadcast_to(np.float32(0), (1 << 16, 1 << 10, 64, 64)), 3, 3),
     MemoryError, r"col of shape .* would need .* GiB, more than this machine"),
    (lambda: util.im2col([[1, 2]], 1, 1), ValueError, "4-D"),
    (lambda: util.im2col(np.zeros((1, 1, 3, 3)), 2, 2, n_threads=0), ValueError,
     "n_threads must be a positive int"),
]


@st.composite
def geometries(draw):
    n = draw(st.integers(1, 3))
    c = draw(st.integers(1, 4))
    fh = draw(st.integers(1, 4))
    fw = draw(st.integers(1, 4))
    ph = draw(st.integers(0, fh - 1))
    pw = draw(st.integers(0, fw - 1))
    h = draw(st.integers(max(1, fh - 2 * ph), 9))
    w = draw(st.integers(max(1, fw - 2 * pw), 9))
    sh = draw(st.integers(1, 3))
    sw = draw(st.integers(1, 3))
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**31 - 1))
    return (n, c, h, w), fh, fw, (sh, sw), (ph, pw), dtype, seed


HYP = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def col_t_ref(x, fh, fw, s, p):
    col = R.im2col.im2col(x, fh, fw, s, p)
    N = x.shape[0]
    return col.reshape(N, -1, col.shape[1]).transpose(0, 2, 1)


# im2col_t copies each tap as one shifted block when stride is 1 and the padding keeps
# the width (OW == W), in shifted vectors when 4 <= W < 12 (float32): 3x3 pad 1, 5x5
# pad 2, non-square, widths 4 to 12 around the vector path's bounds, a filter taller
# than the input (H = 1 with pad 2: rows above and below only), an input of one column.
SAME_WIDTH = [
    (2, 3, 8, 8, 3, 3, 1, 1),
    (1, 3, 5, 11, 3, 3, 1, 1),
    (1, 3, 4, 12, 3, 3, 1, 1),
    (1, 2, 7, 9, 5, 5, 1, 2),
    (2, 2, 6, 7, 3, 5, 1, (1, 2)),
    (1, 2, 1, 4, 5, 3, 1, (2, 1)),
    (2, 1, 5, 1, 3, 3, 1, (1, 1)),
    (1, 1, 2, 3, 3, 1, 1, (2, 0)),
]


# (N, C, H, W, FH, FW, stride, pad) with H or W = 0: valid with padding (every window
# lies in the padding).
EMPTY_PLANES = [(2, 3, 0, 0, 2, 2, 1, 1), (1, 2, 0, 4, 3, 2, 1, (2, 0)),
                (2, 1, 3, 0, 2, 3, 2, (0, 2)), (1, 1, 0, 0, 3, 3, 2, 2)]

