"""Convolution: the op (cconv.ops.conv, kernels src/_im2col.pyx and src/_conv.pyx) against
the book's NumPy convolution (cconv.ops.reference.conv), its exact contracts, and the
checks made at the point of use."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from cconv import ops as K
from cconv.layers import Convolution
from cconv.ops import reference as R
from op_cases import DTYPES, GRID, TOL, rand
from layer_cases import *  # noqa: F401,F403
from cconv import layers as L
from cconv.gradient import gradient_check_layer


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_bias_kernels(dtype):
    d3 = rand((4, 6, 50), dtype, 24)
    np.testing.assert_allclose(K.sum_channels(d3), d3.sum(axis=(0, 2)), **TOL[dtype])
    assert np.array_equal(K.sum_channels(d3, n_threads=1), K.sum_channels(d3, n_threads=3))
    b = rand((6,), dtype, 25)
    want = d3 + b[None, :, None]
    np.testing.assert_array_equal(K.bias_add_(d3.copy(), b), want)
    with pytest.raises(ValueError, match=r"b has shape \(5,\)"):   # a short bias
        K.bias_add_(d3.copy(), b[:5])



@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GRID)
def test_conv_forward_backward_equal_reference(case, dtype):
    N, C, H, W, FH, FW, s, p = case
    x = rand((N, C, H, W), dtype, 1)
    Wt = rand((3, C, FH, FW), dtype, 2)
    b = rand((3,), dtype, 3)
    out, saved = K.conv_forward(x, Wt, b, s, p)
    ref, rsaved = R.conv.conv_forward(x, Wt, b, s, p)
    np.testing.assert_allclose(out, ref, **TOL[dtype])
    np.testing.assert_array_equal(saved.col, rsaved.col)   # data movement: exact
    dout = rand(out.shape, dtype, 4)
    dx, dW, db = K.conv_backward(dout, saved, Wt)
    rdx, rdW, rdb = R.conv.conv_backward(dout, rsaved, Wt)
    eps = 2e-6 if dtype == np.float32 else 1e-14
    positions = N * out.shape[2] * out.shape[3]   # terms summed into dW and db
    for a, r, terms in ((dx, rdx, 3 * FH * FW), (dW, rdW, positions), (db, rdb, positions)):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, r, rtol=0, atol=eps * terms * max(1, np.abs(r).max()))
    assert K.conv_backward(dout, saved, Wt, need_dx=False)[0] is None


def test_conv_backward_wants_the_exact_output_shape():
    x = rand((2, 3, 7, 5), np.float64, 5)
    Wt, b = rand((4, 3, 3, 3), np.float64, 6), np.zeros(4)
    out, saved = K.conv_forward(x, Wt, b)
    assert out.shape == (2, 4, 5, 3)
    for bad in (out.transpose(0, 1, 3, 2), out.reshape(2, 4, 15), out[:1]):
        with pytest.raises(ValueError, match=r"dout has shape .* the forward output was "
                                             r"\(2, 4, 5, 3\)"):
            K.conv_backward(bad, saved, Wt)
    with pytest.raises(ValueError, match=r"W has shape \(4, 3, 2, 3\), the forward pass "
                                         r"used \(4, 3, 3, 3\)"):
        K.conv_backward(out, saved, Wt[:, :, :2])


def test_layer_attributes_are_checked_when_used():
    # a user may reassign W, b, stride or pad after construction: each call checks the
    # arrays and values it is handed, so nothing reads out of bounds
    x = rand((2, 3, 6, 6), np.float64, 7)
    conv = Convolution(rand((4, 3, 3, 3), np.float64, 8), np.zeros(4))
    conv.b = np.zeros(2)
    with pytest.raises(ValueError, match=r"b has shape \(2,\) but W of shape \(4, 3, 3, 3\)"):
        conv.forward(x)
    conv.b = np.zeros(4)
    conv.stride = 0
    with pytest.raises(ValueError, match="stride must be positive"):
        conv.forward(x)
    conv.stride, conv.pad = 1, -5
    with pytest.raises(ValueError, match="pad must be >= 0"):
        conv.forward(x)
    conv.pad = 1
    y = conv.forward(x)
    conv.W = rand((4, 3, 2, 2), np.float64, 9)   # another filter size before backward
    with pytest.raises(ValueError, match="W has shape"):
        conv.backward(np.ones_like(y))


# ---- the layer (cconv.nn.conv) ----

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_GRID)
def test_convolution_equals_book(case, dtype):
    x, Wt, b, conv = conv_case(case, dtype)
    book = BookConvolution(Wt, b, case[7], case[8])
    out, ref = conv.forward(x), book.forward(x)
    assert out.dtype == dtype and out.shape == ref.shape
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out, ref, **tol)
    np.testing.assert_array_equal(conv.col, book.col)
    np.testing.assert_array_equal(conv.col_W, book.col_W)
    dout = rand(out.shape, dtype, 7)
    dx, dx_ref = conv.backward(dout), book.backward(dout)
    assert dx.dtype == dtype and conv.dW.dtype == dtype and conv.db.dtype == dtype
    assert dx.shape == x.shape and conv.dW.shape == Wt.shape and conv.db.shape == b.shape
    assert conv.dW.flags.c_contiguous and dx.flags.c_contiguous
    np.testing.assert_allclose(dx, dx_ref, **tol)
    np.testing.assert_allclose(conv.dW, book.dW, **tol)
    np.testing.assert_allclose(conv.db, book.db, **tol)


@pytest.mark.parametrize("case", CONV_GRID)
def test_convolution_gradients_float64(case):
    x, Wt, b, conv = conv_case(case, np.float64, seed=3)
    errs = gradient_check_layer(conv, x)
    assert set(errs) == {"x", "W", "b"}
    assert max(errs.values()) < GTOL, errs


def test_convolution_gradients_float32():
    x, Wt, b, conv = conv_case(CONV_GRID[0], np.float32, seed=4)
    errs = gradient_check_layer(conv, x)
    assert max(errs.values()) < GTOL32, errs


def test_convolution_pair_stride_and_pad():
    x = rand((2, 2, 9, 8))
    Wt, b = rand((3, 2, 3, 2), seed=1), rand((3,), seed=2)
    conv = L.Convolution(Wt, b, stride=(2, 1), pad=(1, 0))
    out = conv.forward(x)
    assert out.shape == (2, 3, (9 + 2 - 3) // 2 + 1, (8 - 2) // 1 + 1)
    assert max(gradient_check_layer(conv, x).values()) < GTOL


def test_convolution_need_dx_false():
    case = CONV_GRID[0]
    x, Wt, b, full = conv_case(case, np.float64)
    first = L.Convolution(Wt, b, stride=case[7], pad=case[8], need_dx=False)
    dout = rand(full.forward(x).shape, seed=5)
    np.testing.assert_array_equal(first.forward(x), full.forward(x))
    dx = full.backward(dout)
    assert dx is not None
    assert first.backward(dout) is None
    np.testing.assert_array_equal(first.dW, full.dW)
    np.testing.assert_array_equal(first.db, full.db)


def test_convolution_threads_give_identical_results():
    case = CONV_GRID[2]
    x, Wt, b, _ = conv_case(case, np.float64)
    res = []
    for n in (1, 2, 3):
        conv = L.Convolution(Wt, b, stride=case[7], pad=case[8], n_threads=n)
        out = conv.forward(x)
        dx = conv.backward(np.ones_like(out))
        res.append((out.copy(), dx, conv.dW))
    for r in res[1:]:
        for a, c in zip(res[0], r):
            np.testing.assert_array_equal(a, c)


def test_convolution_accepts_noncontiguous_and_int_input():
    Wt, b = rand((2, 3, 3, 3), seed=1), rand((2,), seed=2)
    conv = L.Convolution(Wt, b, pad=1)
    x = rand((2, 5, 6, 3), seed=3).transpose(0, 3, 1, 2)   # non-contiguous (N, C, H, W)
    ref = BookConvolution(Wt, b, 1, 1).forward(np.ascontiguousarray(x))
    np.testing.assert_allclose(conv.forward(x), ref, rtol=1e-12, atol=1e-12)
    xi = np.arange(2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    assert conv.forward(xi).dtype == np.float64


def test_convolution_errors_name_the_numbers():
    conv = L.Convolution(rand((4, 3, 5, 5)), rand((4,)))
    with pytest.raises(ValueError, match="2 channels.*expects 3"):
        conv.forward(rand((1, 2, 8, 8)))
    with pytest.raises(ValueError, match="5x5.*3x3"):
        conv.forward(rand((1, 3, 3, 3)))
    with pytest.raises(ValueError, match="4-D"):
        conv.forward(rand((3, 8, 8)))
    with pytest.raises(ValueError, match="4-D"):
        L.Convolution(rand((4, 3, 5)), rand((4,)))
    with pytest.raises(ValueError, match="3 elements.*4 filters"):
        L.Convolution(rand((4, 3, 5, 5)), rand((3,)))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_cases(), st.integers(0, 2**16))
def test_convolution_gradient_random_shapes(case, seed):
    x, Wt, b, conv = conv_case(case, np.float64, seed)
    assert max(gradient_check_layer(conv, x, seed=seed).values()) < GTOL

