"""Max and average pooling (cconv.ops.pooling, kernel src/_pooling.pyx) against the NumPy
reference (cconv.ops.reference.pooling)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cconv import ops as K
from cconv.ops import reference as R
from cconv import util
from op_cases import *  # noqa: F401,F403
from layer_cases import *  # noqa: F401,F403
from cconv import layers as L
from cconv.gradient import gradient_check_layer


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
                               R.pooling.maxpool_backward(dout, arg, x.shape, PH, PW, s, p),
                               **TOL[dtype])
    np.testing.assert_allclose(K.avgpool_backward(dout, x.shape, PH, PW, s, p),
                               R.pooling.avgpool_backward(dout, x.shape, PH, PW, s, p), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_GRID)
def test_maxpool_equals_reference(case, dtype):
    N, C, H, W, PH, PW, s, p = case
    x = rand((N, C, H, W), dtype, 4)
    out, arg = K.maxpool_forward(x, PH, PW, s, p)
    rout, rarg = R.pooling.maxpool_forward(x, PH, PW, s, p)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, rout)
    np.testing.assert_array_equal(arg, rarg)
    dout = rand(out.shape, dtype, 5)
    dx = K.maxpool_backward(dout, arg, x.shape, PH, PW, s, p)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, R.pooling.maxpool_backward(dout, rarg, x.shape, PH, PW, s, p),
                               **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_GRID)
def test_avgpool_equals_reference(case, dtype):
    N, C, H, W, PH, PW, s, p = case
    x = rand((N, C, H, W), dtype, 6)
    out = K.avgpool_forward(x, PH, PW, s, p)
    ref = R.pooling.avgpool_forward(x, PH, PW, s, p)
    if PH * PW < 8:
        # numpy sums fewer than 8 terms in order, as the kernel does: exact
        np.testing.assert_array_equal(out, ref)
    else:
        np.testing.assert_allclose(out, ref, **TOL[dtype])   # numpy's pairwise order
    dout = rand(out.shape, dtype, 7)
    dx = K.avgpool_backward(dout, x.shape, PH, PW, s, p)
    assert out.dtype == dtype and dx.dtype == dtype
    np.testing.assert_allclose(dx, R.pooling.avgpool_backward(dout, x.shape, PH, PW, s, p),
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
    rout, rarg = R.pooling.maxpool_forward(x, 2, 2, 2, 1)
    np.testing.assert_array_equal(out, rout)
    np.testing.assert_array_equal(arg, rarg)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_propagates_like_numpy(dtype):
    x = rand((2, 2, 6, 6), dtype, 10)
    x[0, 1, 2, 3] = np.nan
    x[1, 0, 0, 0] = np.nan
    out, arg = K.maxpool_forward(x, 2, 2, 2)
    rout, rarg = R.pooling.maxpool_forward(x, 2, 2, 2)
    np.testing.assert_array_equal(out, rout)  # NaN == NaN for assert_array_equal
    np.testing.assert_array_equal(arg, rarg)
    assert arg.min() >= 0 and arg.max() < 4
    assert np.isnan(out[0, 1, 1, 1]) and np.isnan(out[1, 0, 0, 0])
    col = util.im2col(x, 3, 3, 1, 1)
    np.testing.assert_array_equal(col, R.im2col.im2col(x, 3, 3, 1, 1))
    assert np.isnan(K.avgpool_forward(x, 2, 2, 2)[0, 1, 1, 1])


def test_maxpool_nan_after_max_wins():
    x = np.array([[[[5.0, np.nan], [1.0, 2.0]]]])
    out, arg = K.maxpool_forward(x, 2, 2, 2)
    assert np.isnan(out[0, 0, 0, 0]) and arg[0, 0, 0, 0] == 1


@HYP
@given(geometries(), st.booleans())
def test_property_pooling(g, with_ties):
    shape, fh, fw, s, p, dtype, seed = g
    x = rand(shape, dtype, seed)
    if with_ties:
        x = np.round(x)  # many equal values: exercises the first-maximum rule
    out, arg = K.maxpool_forward(x, fh, fw, s, p)
    rout, rarg = R.pooling.maxpool_forward(x, fh, fw, s, p)
    np.testing.assert_array_equal(out, rout)
    np.testing.assert_array_equal(arg, rarg)
    d = rand(out.shape, dtype, seed + 2)
    np.testing.assert_allclose(K.maxpool_backward(d, arg, shape, fh, fw, s, p),
                               R.pooling.maxpool_backward(d, rarg, shape, fh, fw, s, p), **TOL[dtype])
    np.testing.assert_allclose(K.avgpool_forward(x, fh, fw, s, p),
                               R.pooling.avgpool_forward(x, fh, fw, s, p), **TOL[dtype])
    np.testing.assert_allclose(K.avgpool_backward(d, shape, fh, fw, s, p),
                               R.pooling.avgpool_backward(d, shape, fh, fw, s, p), **TOL[dtype])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 1e300]),
                min_size=16, max_size=16))
def test_property_special_values(vals):
    x = np.array(vals, np.float64).reshape(1, 1, 4, 4)
    out, arg = K.maxpool_forward(x, 2, 2, 1, 1)
    rout, rarg = R.pooling.maxpool_forward(x, 2, 2, 1, 1)
    np.testing.assert_array_equal(out, rout)
    np.testing.assert_array_equal(arg, rarg)
    np.testing.assert_array_equal(util.im2col(x, 3, 3, 1, 1), R.im2col.im2col(x, 3, 3, 1, 1))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from([0.0, -0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 1e300]),
                min_size=4 * 18, max_size=4 * 18),
       st.sampled_from([np.float32, np.float64]))
def test_property_special_values_2x2_fast_path(vals, dtype):
    # 2x2, stride 2: 9 windows a row, so both the SIMD lanes and the scalar tail run
    x = np.array(vals, dtype).reshape(1, 1, 4, 18)
    out, arg = K.maxpool_forward(x, 2, 2, 2)
    rout, rarg = R.pooling.maxpool_forward(x, 2, 2, 2)
    np.testing.assert_array_equal(out, rout)
    np.testing.assert_array_equal(arg, rarg)
    # the output is the value at the argmax, bit for bit (np.max may give -0.0 for a
    # window whose first maximum is +0.0; equal as numbers, as checked above)
    ih, iw = np.divmod(arg[0, 0].astype(np.intp), 2)
    at = x[0, 0, 2 * np.arange(2)[:, None] + ih, 2 * np.arange(9)[None, :] + iw]
    assert np.array_equal(out[0, 0].view(np.uint8), at.view(np.uint8))


# ---- the layer (cconv.nn.pooling) ----

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", LAYER_POOL_GRID)
def test_pooling_equals_book(case, dtype):
    N, C, H, W, ph, pw, s, p = case
    x = rand((N, C, H, W), dtype, 1)
    pool, book = L.Pooling(ph, pw, s, p), BookPooling(ph, pw, s, p)
    out, ref = pool.forward(x), book.forward(x)
    assert out.dtype == dtype
    assert out.shape == (N, C, (H + 2 * p - ph) // s + 1, (W + 2 * p - pw) // s + 1)
    np.testing.assert_array_equal(out, ref)
    # arg_max is (N, C, OH, OW); the book keeps it flattened in (N, OH, OW, C) order
    assert pool.arg_max.shape == out.shape
    np.testing.assert_array_equal(pool.arg_max.transpose(0, 2, 3, 1).ravel(), book.arg_max)
    dout = rand(out.shape, dtype, 2)
    dx = pool.backward(dout)
    assert dx.dtype == dtype and dx.shape == x.shape
    np.testing.assert_allclose(dx, book.backward(dout), rtol=1e-6, atol=1e-6)


def test_pooling_pad_never_wins_and_book_size_bug_fixed():
    x = -1 - np.abs(rand((1, 1, 4, 4)))          # all negative: 0-padding would win
    pool = L.Pooling(2, 2, stride=2, pad=1)
    out = pool.forward(x)
    assert out.shape == (1, 1, 3, 3)              # the book computes 2x2 and crashes
    assert np.all(out < 0)
    np.testing.assert_array_equal(out[0, 0, 0, 0], x[0, 0, 0, 0])


@pytest.mark.parametrize("case", LAYER_POOL_GRID)
def test_pooling_gradients_float64(case):
    N, C, H, W, ph, pw, s, p = case
    x = distinct((N, C, H, W), seed=5)
    errs = gradient_check_layer(L.Pooling(ph, pw, s, p), x)
    assert errs["x"] < GTOL, errs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", LAYER_POOL_GRID)
def test_avgpooling_equals_reference_and_gradients(case, dtype):
    N, C, H, W, ph, pw, s, p = case
    x = rand((N, C, H, W), dtype, 6)
    pool = L.AvgPooling(ph, pw, s, p)
    out = pool.forward(x)
    assert out.dtype == dtype
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(out, R.pooling.avgpool_forward(x, ph, pw, s, p), **tol)
    dout = rand(out.shape, dtype, 7)
    dx = pool.backward(dout)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, R.pooling.avgpool_backward(dout, x.shape, ph, pw, s, p), **tol)
    errs = gradient_check_layer(L.AvgPooling(ph, pw, s, p), x)
    assert errs["x"] < (GTOL if dtype == np.float64 else GTOL32), errs


def test_pooling_threads_identical_and_noncontiguous_input():
    x = rand((3, 5, 9, 4), seed=8).transpose(0, 3, 1, 2)    # (3, 4, 5, 9) view
    outs = []
    for n in (1, 2):
        pool = L.Pooling(3, 3, 2, 1, n_threads=n)
        out = pool.forward(x)
        outs.append((out, pool.backward(np.ones_like(out))))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
    np.testing.assert_array_equal(outs[0][0], BookPooling(3, 3, 2, 1).forward(x))


@settings(max_examples=10, deadline=None)
@given(pool_cases(), st.integers(0, 2**16))
def test_pooling_gradient_random_shapes(case, seed):
    N, C, H, W, ph, pw, s, p = case
    x = distinct((N, C, H, W), seed=seed)
    assert gradient_check_layer(L.Pooling(ph, pw, s, p), x, seed=seed)["x"] < GTOL
    assert gradient_check_layer(L.AvgPooling(ph, pw, s, p), x, seed=seed)["x"] < GTOL



@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geo", [(2, 2, 2, 0), (3, 3, 2, 1), (3, 2, 1, 1)])
def test_backward_with_relu_is_relu_backward_after_pool_backward(geo, dtype):
    from cconv.nn import Pooling, Relu
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 4, 9, 8)).astype(dtype)
    x[0, 0] = -1.0                                  # windows whose maximum is <= 0
    x[1, 2, 3, 3] = np.nan                          # NaN passes, as the book's mask
    relu, pool = Relu(), Pooling(*geo)
    out = pool.forward(relu.forward(x))
    d = rng.standard_normal(out.shape).astype(dtype)
    want = relu.backward(pool.backward(d))
    np.testing.assert_array_equal(pool.backward_with_relu(d), want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_GRID + [(3, 5, 26, 38, 2, 2, 2, 0)])
def test_maxpool_backward_gate_is_relu_backward_first(case, dtype):
    # gate: the ReLU's backward folded into the routing, bit for bit relu_backward then
    # maxpool_backward, with windows whose maximum is 0, -0.0, negative or NaN, and NaN
    # gradients (the 26x38 planes run the SIMD row loop and its scalar tail)
    N, C, H, W, PH, PW, s, p = case
    rng = np.random.default_rng(21)
    x = np.maximum(rng.standard_normal((N, C, H, W)), 0).astype(dtype)   # a ReLU output
    x.flat[::7] = 0
    x.flat[::11] = -0.0
    x.flat[::13] = np.nan
    out, arg = K.maxpool_forward(x, PH, PW, s, p)
    d = rng.standard_normal(out.shape).astype(dtype)
    d.flat[::5] = np.nan
    want = K.maxpool_backward(K.relu_backward(d, y=out), arg, x.shape, PH, PW, s, p)
    got = K.maxpool_backward(d, arg, x.shape, PH, PW, s, p, gate=out)
    assert got.tobytes() == want.tobytes()
    ref = R.pooling.maxpool_backward(d, arg, x.shape, PH, PW, s, p, gate=out)
    np.testing.assert_allclose(got, ref, **TOL[dtype])
    for n in (1, 3):
        again = K.maxpool_backward(d, arg, x.shape, PH, PW, s, p, gate=out, n_threads=n)
        assert again.tobytes() == got.tobytes()


def test_maxpool_backward_gate_of_the_wrong_shape_is_refused():
    x = rand((2, 3, 8, 8), np.float32, 3)
    out, arg = K.maxpool_forward(x, 2, 2, 2)
    with pytest.raises(ValueError, match=r"gate has shape \(2, 3, 4, 3\), dout has \(2, 3, 4, 4\)"):
        K.maxpool_backward(out, arg, x.shape, 2, 2, 2, gate=out[..., :3])
