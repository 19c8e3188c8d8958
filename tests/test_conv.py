"""Convolution: the op (cconv.ops.conv, kernels src/_im2col.pyx and src/_conv.pyx) against
the book's NumPy convolution (cconv.ops.reference.conv), its exact contracts, and the
checks made at the point of use."""
import numpy as np
import pytest

from cconv import ops as K
from cconv.layers import Convolution
from cconv.ops import reference as R
from op_cases import DTYPES, GRID, TOL, rand


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
