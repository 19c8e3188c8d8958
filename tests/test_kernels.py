"""The compiled kernels against the book's NumPy algorithms (cconv._reference)."""
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from cconv import _kernels as K
from cconv import _reference as R
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


def rand(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GRID)
def test_im2col_equals_reference(case, dtype):
    N, C, H, W, FH, FW, s, p = case
    x = rand((N, C, H, W), dtype)
    col = util.im2col(x, FH, FW, s, p)
    ref = R.im2col(x, FH, FW, s, p)
    assert col.dtype == dtype and col.flags.c_contiguous
    np.testing.assert_array_equal(col, ref)


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


@pytest.mark.parametrize("threshold", [0, 1 << 62], ids=["streamed", "cached"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", STREAMED)
def test_im2col_both_ways_equals_reference(case, dtype, threshold):
    N, C, H, W, FH, FW, s, p = case
    x = rand((N, C, H, W), dtype, 11)
    ref = R.im2col(x, FH, FW, s, p)
    with K._stream_threshold(threshold):
        col = util.im2col(x, FH, FW, s, p)
        np.testing.assert_array_equal(col, ref)
        # an out buffer that is not 16-byte aligned cannot take aligned streaming stores
        raw = np.empty(ref.size + 1, dtype)
        out = raw[1:].reshape(ref.shape)
        util.im2col(x, FH, FW, s, p, out=out)
        np.testing.assert_array_equal(out, ref)
    c = rand(col.shape, dtype, 12)
    np.testing.assert_allclose(util.col2im(c, x.shape, FH, FW, s, p),
                               R.col2im(c, x.shape, FH, FW, s, p), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [(160, 30, 24, 24, 2, 2, 2, 0), (40, 16, 61, 59, 2, 2, 2, 0),
                                  (40, 16, 61, 59, 3, 3, 2, 1)])
def test_large_pool_backward_equals_reference(case, dtype):
    # a dx of 8 MiB and more, 2x2 tiling (odd sizes too) and overlapping windows
    N, C, H, W, PH, PW, s, p = case
    x = rand((N, C, H, W), dtype, 14)
    assert x.nbytes >= 8 << 20
    out, arg = K.maxpool_forward(x, PH, PW, s, p)
    dout = rand(out.shape, dtype, 15)
    np.testing.assert_allclose(K.maxpool_backward(dout, arg, x.shape, PH, PW, s, p),
                               R.maxpool_backward(dout, arg, x.shape, PH, PW, s, p),
                               **TOL[dtype])
    np.testing.assert_allclose(K.avgpool_backward(dout, x.shape, PH, PW, s, p),
                               R.avgpool_backward(dout, x.shape, PH, PW, s, p), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_threads", [1, 3, 8])
def test_col2im_channel_blocks_equal_reference(dtype, n_threads):
    # one or two samples: the channels are split into blocks between the threads
    for N, C in ((1, 7), (2, 3)):
        shape = (N, C, 9, 8)
        c = rand(R.im2col(np.zeros(shape, dtype), 3, 3, 1, 1).shape, dtype, 13)
        np.testing.assert_allclose(util.col2im(c, shape, 3, 3, 1, 1, n_threads=n_threads),
                                   R.col2im(c, shape, 3, 3, 1, 1), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GRID)
def test_col2im_equals_reference(case, dtype):
    N, C, H, W, FH, FW, s, p = case
    oh, ow = R.out_size(H, FH, *R._pair(s)[:1], R._pair(p)[0]), None
    col_shape = R.im2col(np.zeros((N, C, H, W), dtype), FH, FW, s, p).shape
    col = rand(col_shape, dtype, 1)
    got = util.col2im(col, (N, C, H, W), FH, FW, s, p)
    assert got.dtype == dtype and got.shape == (N, C, H, W)
    np.testing.assert_allclose(got, R.col2im(col, (N, C, H, W), FH, FW, s, p), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GRID)
def test_adjoint_identity(case, dtype):
    # <im2col(x), c> == <x, col2im(c)>: col2im is the transpose of im2col.
    N, C, H, W, FH, FW, s, p = case
    x = rand((N, C, H, W), np.float64, 2)
    col = util.im2col(x, FH, FW, s, p)
    c = rand(col.shape, np.float64, 3)
    lhs = np.vdot(col, c)
    rhs = np.vdot(x, util.col2im(c, x.shape, FH, FW, s, p))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


POOL_GRID = [
    (2, 3, 4, 4, 2, 2, 2, 0),
    (1, 2, 7, 5, 3, 2, 1, 1),   # overlapping windows, padding
    (3, 1, 9, 9, 3, 3, 2, 1),
    (2, 2, 6, 8, 2, 3, (2, 3), (1, 0)),
    (1, 1, 1, 1, 1, 1, 1, 0),
    (2, 30, 24, 24, 2, 2, 2, 0),  # SimpleConvNet's pool
    (2, 3, 5, 7, 2, 2, 2, 0),     # 2x2/2 fast path with an uncovered last row and column
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_GRID)
def test_maxpool_equals_reference(case, dtype):
    N, C, H, W, PH, PW, s, p = case
    x = rand((N, C, H, W), dtype, 4)
    out, arg = K.maxpool_forward(x, PH, PW, s, p)
    rout, rarg = R.maxpool_forward(x, PH, PW, s, p)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, rout)
    np.testing.assert_array_equal(arg, rarg)
    dout = rand(out.shape, dtype, 5)
    dx = K.maxpool_backward(dout, arg, x.shape, PH, PW, s, p)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, R.maxpool_backward(dout, rarg, x.shape, PH, PW, s, p),
                               **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_GRID)
def test_avgpool_equals_reference(case, dtype):
    N, C, H, W, PH, PW, s, p = case
    x = rand((N, C, H, W), dtype, 6)
    out = K.avgpool_forward(x, PH, PW, s, p)
    ref = R.avgpool_forward(x, PH, PW, s, p)
    if PH * PW < 8:
        # numpy sums fewer than 8 terms in order, as the kernel does: exact
        np.testing.assert_array_equal(out, ref)
    else:
        np.testing.assert_allclose(out, ref, **TOL[dtype])   # numpy's pairwise order
    dout = rand(out.shape, dtype, 7)
    dx = K.avgpool_backward(dout, x.shape, PH, PW, s, p)
    assert out.dtype == dtype and dx.dtype == dtype
    np.testing.assert_allclose(dx, R.avgpool_backward(dout, x.shape, PH, PW, s, p),
                               **TOL[dtype])


def test_pool_adjoint_identities():
    x = rand((2, 3, 7, 6), np.float64, 8)
    out = K.avgpool_forward(x, 3, 2, 2, 1)
    g = rand(out.shape, np.float64, 9)
    assert np.vdot(out, g) == pytest.approx(np.vdot(x, K.avgpool_backward(g, x.shape, 3, 2, 2, 1)))
    # Max pooling is linear in x for a fixed argmax pattern.
    out, arg = K.maxpool_forward(x, 3, 2, 2, 1)
    assert np.vdot(out, g) == pytest.approx(np.vdot(x, K.maxpool_backward(g, arg, x.shape, 3, 2, 2, 1)))


def test_maxpool_ties_go_to_first_max():
    x = np.zeros((1, 1, 4, 4), np.float32)
    out, arg = K.maxpool_forward(x, 2, 2, 2)
    assert (arg == 0).all()
    x[0, 0, 1, 1] = x[0, 0, 0, 1] = 5
    out, arg = K.maxpool_forward(x, 2, 2, 2)
    assert arg[0, 0, 0, 0] == 1


def test_maxpool_padding_is_minus_infinity():
    x = -np.ones((1, 1, 3, 3))
    out, _ = K.maxpool_forward(x, 2, 2, 2, 1)
    assert (out == -1).all()  # the book's zero padding would give 0 here


def test_maxpool_all_minus_inf_window_matches_argmax():
    x = np.full((1, 1, 3, 3), -np.inf)
    out, arg = K.maxpool_forward(x, 2, 2, 2, 1)
    rout, rarg = R.maxpool_forward(x, 2, 2, 2, 1)
    np.testing.assert_array_equal(out, rout)
    np.testing.assert_array_equal(arg, rarg)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_propagates_like_numpy(dtype):
    x = rand((2, 2, 6, 6), dtype, 10)
    x[0, 1, 2, 3] = np.nan
    x[1, 0, 0, 0] = np.nan
    out, arg = K.maxpool_forward(x, 2, 2, 2)
    rout, rarg = R.maxpool_forward(x, 2, 2, 2)
    np.testing.assert_array_equal(out, rout)  # NaN == NaN for assert_array_equal
    np.testing.assert_array_equal(arg, rarg)
    assert arg.min() >= 0 and arg.max() < 4
    assert np.isnan(out[0, 1, 1, 1]) and np.isnan(out[1, 0, 0, 0])
    col = util.im2col(x, 3, 3, 1, 1)
    np.testing.assert_array_equal(col, R.im2col(x, 3, 3, 1, 1))
    assert np.isnan(K.avgpool_forward(x, 2, 2, 2)[0, 1, 1, 1])


def test_maxpool_nan_after_max_wins():
    x = np.array([[[[5.0, np.nan], [1.0, 2.0]]]])
    out, arg = K.maxpool_forward(x, 2, 2, 2)
    assert np.isnan(out[0, 0, 0, 0]) and arg[0, 0, 0, 0] == 1


# ---- layouts and memory: non-contiguous, Fortran, read-only, out= buffers ----

def test_noncontiguous_fortran_readonly_inputs():
    base = rand((4, 6, 10, 12), np.float64, 11)
    views = {
        "strided": base[::2, ::2, :, ::2],
        "fortran": np.asfortranarray(base),
        "transposed": base.transpose(0, 1, 3, 2),
    }
    ro = base.copy()
    ro.setflags(write=False)
    views["readonly"] = ro
    for name, v in views.items():
        np.testing.assert_array_equal(util.im2col(v, 3, 3, 1, 1), R.im2col(v, 3, 3, 1, 1), name)
        out, arg = K.maxpool_forward(v, 2, 2, 2)
        np.testing.assert_array_equal(out, R.maxpool_forward(v, 2, 2, 2)[0], name)
    col = util.im2col(base, 3, 3)
    colf = np.asfortranarray(col)
    colf.setflags(write=False)
    np.testing.assert_allclose(util.col2im(colf, base.shape, 3, 3), R.col2im(col, base.shape, 3, 3))


def test_out_buffers_are_used_and_checked():
    x = rand((2, 3, 6, 6), np.float32, 12)
    buf = np.empty((2 * 4 * 4, 27), np.float32)
    col = util.im2col(x, 3, 3, out=buf)
    assert col is buf
    np.testing.assert_array_equal(buf, R.im2col(x, 3, 3))
    with pytest.raises(ValueError, match=r"out for col must have shape \(32, 27\)"):
        util.im2col(x, 3, 3, out=np.empty((32, 27), np.float64))
    with pytest.raises(ValueError, match="C-contiguous"):
        util.im2col(x, 3, 3, out=np.empty((27, 32), np.float32).T)
    dx = np.empty(x.shape, np.float32)
    assert util.col2im(col, x.shape, 3, 3, out=dx) is dx


def test_dtype_policy():
    xi = np.arange(2 * 1 * 4 * 4).reshape(2, 1, 4, 4)
    assert util.im2col(xi, 2, 2).dtype == np.float64
    assert util.im2col(xi.astype(np.float16), 2, 2).dtype == np.float32
    assert util.im2col(xi.astype(bool), 2, 2).dtype == np.float64
    np.testing.assert_array_equal(util.im2col(xi, 2, 2), R.im2col(xi.astype(float), 2, 2))
    with pytest.raises(TypeError, match="complex128"):
        util.im2col(xi.astype(complex), 2, 2)
    with pytest.raises(TypeError, match="object"):
        util.im2col(xi.astype(object), 2, 2)


# ---- bad input: each gives a clear exception naming the numbers ----

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


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_input_is_refused_clearly(i):
    fn, exc, msg = BAD[i]
    with pytest.raises(exc, match=msg):
        fn()


def test_zero_size_inputs():
    x = np.zeros((0, 3, 5, 5), np.float32)
    assert util.im2col(x, 3, 3).shape == (0, 27)
    assert util.col2im(np.zeros((0, 27), np.float32), x.shape, 3, 3).shape == x.shape
    out, arg = K.maxpool_forward(x, 2, 2, 2)
    assert out.shape == (0, 3, 2, 2)
    x = np.zeros((2, 0, 5, 5))
    assert util.im2col(x, 3, 3).shape == (18, 0)


# ---- threads: bit-identical results for 1, 2 and 8 threads ----

@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_count_does_not_change_results(dtype):
    x = rand((5, 3, 13, 11), dtype, 13)
    args = (3, 2, 2, 1)
    col1 = util.im2col(x, *args, n_threads=1)
    g = rand(col1.shape, dtype, 14)
    dx1 = util.col2im(g, x.shape, *args, n_threads=1)
    out1, arg1 = K.maxpool_forward(x, 3, 3, 2, 1, n_threads=1)
    d = rand(out1.shape, dtype, 15)
    mb1 = K.maxpool_backward(d, arg1, x.shape, 3, 3, 2, 1, n_threads=1)
    a1 = K.avgpool_forward(x, 3, 3, 2, 1, n_threads=1)
    ab1 = K.avgpool_backward(d, x.shape, 3, 3, 2, 1, n_threads=1)
    for n in (2, 3, 8):
        assert np.array_equal(util.im2col(x, *args, n_threads=n), col1)
        assert np.array_equal(util.col2im(g, x.shape, *args, n_threads=n), dx1)
        out, arg = K.maxpool_forward(x, 3, 3, 2, 1, n_threads=n)
        assert np.array_equal(out, out1) and np.array_equal(arg, arg1)
        assert np.array_equal(K.maxpool_backward(d, arg1, x.shape, 3, 3, 2, 1, n_threads=n), mb1)
        assert np.array_equal(K.avgpool_forward(x, 3, 3, 2, 1, n_threads=n), a1)
        assert np.array_equal(K.avgpool_backward(d, x.shape, 3, 3, 2, 1, n_threads=n), ab1)


# ---- property-based: random shapes, strides, pads and values ----

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


@HYP
@given(geometries())
def test_property_im2col_col2im(g):
    shape, fh, fw, s, p, dtype, seed = g
    x = rand(shape, dtype, seed)
    col = util.im2col(x, fh, fw, s, p)
    np.testing.assert_array_equal(col, R.im2col(x, fh, fw, s, p))
    with K._stream_threshold(0):
        np.testing.assert_array_equal(util.im2col(x, fh, fw, s, p), col)
    c = rand(col.shape, dtype, seed + 1)
    np.testing.assert_allclose(util.col2im(c, shape, fh, fw, s, p),
                               R.col2im(c, shape, fh, fw, s, p), **TOL[dtype])


@HYP
@given(geometries(), st.booleans())
def test_property_pooling(g, with_ties):
    shape, fh, fw, s, p, dtype, seed = g
    x = rand(shape, dtype, seed)
    if with_ties:
        x = np.round(x)  # many equal values: exercises the first-maximum rule
    out, arg = K.maxpool_forward(x, fh, fw, s, p)
    rout, rarg = R.maxpool_forward(x, fh, fw, s, p)
    np.testing.assert_array_equal(out, rout)
    np.testing.assert_array_equal(arg, rarg)
    d = rand(out.shape, dtype, seed + 2)
    np.testing.assert_allclose(K.maxpool_backward(d, arg, shape, fh, fw, s, p),
                               R.maxpool_backward(d, rarg, shape, fh, fw, s, p), **TOL[dtype])
    np.testing.assert_allclose(K.avgpool_forward(x, fh, fw, s, p),
                               R.avgpool_forward(x, fh, fw, s, p), **TOL[dtype])
    np.testing.assert_allclose(K.avgpool_backward(d, shape, fh, fw, s, p),
                               R.avgpool_backward(d, shape, fh, fw, s, p), **TOL[dtype])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 1e300]),
                min_size=16, max_size=16))
def test_property_special_values(vals):
    x = np.array(vals, np.float64).reshape(1, 1, 4, 4)
    out, arg = K.maxpool_forward(x, 2, 2, 1, 1)
    rout, rarg = R.maxpool_forward(x, 2, 2, 1, 1)
    np.testing.assert_array_equal(out, rout)
    np.testing.assert_array_equal(arg, rarg)
    np.testing.assert_array_equal(util.im2col(x, 3, 3, 1, 1), R.im2col(x, 3, 3, 1, 1))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from([0.0, -0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 1e300]),
                min_size=4 * 18, max_size=4 * 18),
       st.sampled_from([np.float32, np.float64]))
def test_property_special_values_2x2_fast_path(vals, dtype):
    # 2x2, stride 2: 9 windows a row, so both the SIMD lanes and the scalar tail run
    x = np.array(vals, dtype).reshape(1, 1, 4, 18)
    out, arg = K.maxpool_forward(x, 2, 2, 2)
    rout, rarg = R.maxpool_forward(x, 2, 2, 2)
    np.testing.assert_array_equal(out, rout)
    np.testing.assert_array_equal(arg, rarg)
    # the output is the value at the argmax, bit for bit (np.max may give -0.0 for a
    # window whose first maximum is +0.0; equal as numbers, as checked above)
    ih, iw = np.divmod(arg[0, 0].astype(np.intp), 2)
    at = x[0, 0, 2 * np.arange(2)[:, None] + ih, 2 * np.arange(9)[None, :] + iw]
    assert np.array_equal(out[0, 0].view(np.uint8), at.view(np.uint8))


# ---- the layers' fast-path kernels: per-sample transposed columns, element-wise ops ----

def _col_t_ref(x, fh, fw, s, p):
    col = R.im2col(x, fh, fw, s, p)
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


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GRID + SAME_WIDTH)
def test_im2col_t_col2im_t_equal_reference(case, dtype):
    N, C, H, W, FH, FW, s, p = case
    x = rand((N, C, H, W), dtype, 20)
    colT = K.im2col_t(x, FH, FW, s, p)
    np.testing.assert_array_equal(colT, _col_t_ref(x, FH, FW, s, p))
    g = rand(colT.shape, dtype, 21)
    ref = R.col2im(g.transpose(0, 2, 1).reshape(-1, g.shape[1]), x.shape, FH, FW, s, p)
    np.testing.assert_allclose(K.col2im_t(g, x.shape, FH, FW, s, p), ref, **TOL[dtype])
    one = K.col2im_t(g, x.shape, FH, FW, s, p, n_threads=1)
    assert np.array_equal(K.col2im_t(g, x.shape, FH, FW, s, p, n_threads=4), one)


@HYP
@given(geometries())
def test_property_im2col_t(g):
    shape, fh, fw, s, p, dtype, seed = g
    x = rand(shape, dtype, seed)
    colT = K.im2col_t(x, fh, fw, s, p)
    np.testing.assert_array_equal(colT, _col_t_ref(x, fh, fw, s, p))
    c = rand(colT.shape, np.float64, seed + 1)
    # adjoint: <im2col_t(x), c> == <x, col2im_t(c)>
    assert np.vdot(colT.astype(np.float64), c) == pytest.approx(
        np.vdot(x.astype(np.float64), K.col2im_t(c, shape, fh, fw, s, p)), rel=1e-9, abs=1e-9)


def test_col2im_t_shape_is_checked():
    with pytest.raises(ValueError, match=r"colT has shape \(1, 4, 5\).*needs \(1, 4, 4\)"):
        K.col2im_t(np.zeros((1, 4, 5)), (1, 1, 3, 3), 2, 2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_kernels(dtype):
    x = rand((3, 5, 7, 9), dtype, 22)
    x[0, 0, 0, :3] = [np.nan, 0.0, -0.0]
    y = K.relu(x, n_threads=2)
    np.testing.assert_array_equal(y, np.where(x <= 0, 0, x))  # NaN passes, as the book's mask
    d = rand(x.shape, dtype, 23)
    np.testing.assert_array_equal(K.relu_backward(d, y), np.where(x <= 0, 0, d))
    d3 = rand((4, 6, 50), dtype, 24)
    np.testing.assert_allclose(K.sum_channels(d3), d3.sum(axis=(0, 2)), **TOL[dtype])
    assert np.array_equal(K.sum_channels(d3, n_threads=1), K.sum_channels(d3, n_threads=3))
    b = rand((6,), dtype, 25)
    want = d3 + b[None, :, None]
    np.testing.assert_array_equal(K.bias_add_(d3.copy(), b), want)
    with pytest.raises(ValueError, match="dout has shape"):
        K.relu_backward(d[:1], y)


# ---- hardening: empty planes, aliasing outputs, byte order, size limits ----------------

# (N, C, H, W, FH, FW, stride, pad) with H or W = 0: valid with padding (every window
# lies in the padding).
EMPTY_PLANES = [(2, 3, 0, 0, 2, 2, 1, 1), (1, 2, 0, 4, 3, 2, 1, (2, 0)),
                (2, 1, 3, 0, 2, 3, 2, (0, 2)), (1, 1, 0, 0, 3, 3, 2, 2)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", EMPTY_PLANES)
def test_forward_kernels_on_empty_planes_equal_reference(case, dtype):
    N, C, H, W, FH, FW, s, p = case
    x = np.zeros((N, C, H, W), dtype)
    col = util.im2col(x, FH, FW, s, p)
    assert col.dtype == dtype and col.size and np.array_equal(col, R.im2col(x, FH, FW, s, p))
    colT = K.im2col_t(x, FH, FW, s, p)
    assert np.array_equal(colT, _col_t_ref(x, FH, FW, s, p))
    out, arg = K.maxpool_forward(x, FH, FW, s, p)
    assert np.all(out == -np.inf) and np.all(arg == 0)   # padding reads as -inf
    assert np.array_equal(K.avgpool_forward(x, FH, FW, s, p), R.avgpool_forward(x, FH, FW, s, p))


def test_convolution_layer_on_empty_planes_gives_the_bias():
    from cconv.layers import Convolution
    conv = Convolution(rand((4, 2, 2, 2), np.float64), np.arange(4.0), pad=1)
    y = conv.forward(np.zeros((2, 2, 0, 0)))
    assert y.shape == (2, 4, 1, 1) and np.array_equal(y[1, :, 0, 0], np.arange(4.0))
    assert conv.backward(np.ones(y.shape)).shape == (2, 2, 0, 0)
    assert np.array_equal(conv.dW, np.zeros((4, 2, 2, 2))) and np.all(conv.db == 2)


def test_out_overlapping_an_input_is_refused():
    x = np.arange(2 * 16.0).reshape(2, 1, 4, 4)
    buf = np.zeros(64)
    with pytest.raises(ValueError, match="out for col overlaps input_data"):
        util.im2col(buf[:16].reshape(1, 1, 4, 4), 1, 1, out=buf[8:24].reshape(16, 1))
    col = util.im2col(x, 2, 2, 2)
    with pytest.raises(ValueError, match="out for dx overlaps col"):
        util.col2im(col, (2, 1, 4, 4), 2, 2, 2, out=col.reshape(2, 1, 4, 4))
    with pytest.raises(ValueError, match="out for out overlaps x"):
        K.avgpool_forward(x, 4, 4, 4, out=x.reshape(-1)[:2].reshape(2, 1, 1, 1))
    out = np.empty((2, 1, 2, 2))
    with pytest.raises(ValueError, match="out for arg overlaps out"):
        K.maxpool_forward(x, 2, 2, 2, out=out, arg=out.reshape(-1).view(np.uint16)[:8].reshape(2, 1, 2, 2))
    buf = np.ones(40)
    with pytest.raises(ValueError, match="out for dx overlaps dout"):
        K.avgpool_backward(buf[:8].reshape(2, 1, 2, 2), (2, 1, 4, 4), 2, 2, 2,
                           out=buf[4:36].reshape(2, 1, 4, 4))
    d3 = np.ones((1, 3, 4))
    with pytest.raises(ValueError, match="out for db overlaps d3"):
        K.sum_channels(d3, out=d3[0, 0, :3])
    # element-wise kernels may work in place, but not on a shifted view
    y = np.array([-1.0, 2.0, -3.0, 4.0])
    assert K.relu(y, out=y) is y and np.array_equal(y, [0, 2, 0, 4])
    z = np.array([-1.0, 2.0, -3.0, 4.0, 5.0])
    with pytest.raises(ValueError, match="overlaps x"):
        K.relu(z[:4], out=z[1:])
    # separate buffers are still fine
    assert np.array_equal(util.col2im(col, (2, 1, 4, 4), 2, 2, 2, out=np.empty((2, 1, 4, 4))),
                          R.col2im(col, (2, 1, 4, 4), 2, 2, 2))


@pytest.mark.parametrize("dtype", ["<f4", ">f4", ">f8", ">i4", ">f2"])
def test_non_native_byte_order_is_converted(dtype):
    x = np.arange(2 * 3 * 5 * 5).reshape(2, 3, 5, 5).astype(dtype)
    native = x.astype(x.dtype.newbyteorder("="))
    col = util.im2col(x, 3, 3, 2, 1)
    want = util.im2col(native, 3, 3, 2, 1)
    assert col.dtype == want.dtype and col.dtype.isnative and np.array_equal(col, want)
    out, _ = K.maxpool_forward(x, 2, 2, 2)
    assert np.array_equal(out, K.maxpool_forward(native, 2, 2, 2)[0])


def test_sizes_beyond_ssize_t_raise_value_error():
    x = np.zeros((1, 1, 3, 3))
    with pytest.raises(ValueError, match="stride .* sys.maxsize"):
        K.maxpool_forward(x, 2, 2, stride=(1, 2**64))
    # pad and filter that fit one by one, but H + 2*pad does not fit C's Py_ssize_t
    with pytest.raises(ValueError, match="larger than the largest supported size"):
        util.im2col(x, 2**62, 2**62, stride=2**62, pad=2**62 - 1)
    with pytest.raises(ValueError, match="larger than the largest supported size"):
        util.col2im(np.zeros((1, 1)), (1, 1, 2**63, 1), 1, 1)
    # a huge stride that fits is one window per axis, computed without overflow
    assert np.array_equal(util.im2col(x + 1, 2, 2, stride=2**62, pad=1),
                          [[0, 0, 0, 1]])


def test_thread_count_is_capped():
    from cconv import _config
    with pytest.raises(ValueError, match=r"n_threads=4097 is more than cconv's limit of 4096"):
        util.im2col(np.zeros((1, 1, 3, 3)), 2, 2, n_threads=_config.MAX_THREADS + 1)
    with pytest.raises(ValueError, match="limit of 4096"):
        _config.set_num_threads(2**31 - 1)
    assert _config.resolve_threads(-1) <= _config.MAX_THREADS


def test_huge_omp_num_threads_is_clamped(monkeypatch):
    from cconv import _config
    monkeypatch.setattr(_config, "_num_threads", None)
    monkeypatch.setenv("OMP_NUM_THREADS", str(2**31 - 1))
    assert _config.get_num_threads() == _config.MAX_THREADS
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    assert _config.get_num_threads() == 7
