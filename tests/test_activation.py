"""ReLU (cconv.ops.activation, kernel src/_activation.pyx) against NumPy."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cconv import ops as K
from op_cases import *  # noqa: F401,F403
from layer_cases import *  # noqa: F401,F403
from cconv import layers as L
from cconv.gradient import gradient_check_layer


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_kernels(dtype):
    x = rand((3, 5, 7, 9), dtype, 22)
    x[0, 0, 0, :3] = [np.nan, 0.0, -0.0]
    y = K.relu(x, n_threads=2)
    np.testing.assert_array_equal(y, np.where(x <= 0, 0, x))  # NaN passes, as the book's mask
    d = rand(x.shape, dtype, 23)
    np.testing.assert_array_equal(K.relu_backward(d, y), np.where(x <= 0, 0, d))
    with pytest.raises(ValueError, match="dout has shape"):
        K.relu_backward(d[:1], y)


# ---- the layer (cconv.nn.activation) ----

@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_backward_does_not_mutate_dout(dtype):
    x = rand((4, 5), dtype)
    relu = L.Relu()
    out = relu.forward(x)
    np.testing.assert_array_equal(out, np.maximum(x, 0))
    np.testing.assert_array_equal(relu.mask, x <= 0)
    dout = rand((4, 5), dtype, 1)
    keep = dout.copy()
    dx = relu.backward(dout)
    np.testing.assert_array_equal(dout, keep)                 # the book zeroes dout here
    assert dx is not dout and dx.dtype == dtype
    np.testing.assert_array_equal(dx, np.where(x <= 0, 0, keep))
    x0 = x.copy()
    relu.forward(x)
    np.testing.assert_array_equal(x, x0)                      # forward copies too


@pytest.mark.parametrize("cls", [L.Relu, L.Sigmoid, L.Tanh])
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_gradients(cls, dtype):
    x = away_from_zero((3, 2, 4), dtype, 2)
    layer = cls()
    out = layer.forward(x)
    assert out.dtype == dtype and layer.backward(np.ones_like(out)).dtype == dtype
    errs = gradient_check_layer(cls(), x)
    assert errs["x"] < (GTOL if dtype == np.float64 else GTOL32), errs



# ---- tanh (float32: the compiled kernel of src/activation.h) ----

def _ulps(got, exact):
    """|got - exact| in units of float32's spacing at the exact value."""
    exact = np.asarray(exact, np.float64)
    return np.abs(got.astype(np.float64) - exact) / np.spacing(
        np.abs(exact).astype(np.float32)).astype(np.float64)


def test_tanh_float32_is_within_two_ulp_of_the_exact_value():
    # a dense grid over both of the kernel's ranges (the series below 0.55, exp above),
    # through the clamp at 9 and beyond, every sign
    x = np.concatenate([np.linspace(-12, 12, 1_200_001, dtype=np.float32),
                        np.geomspace(1e-30, 0.6, 20_001).astype(np.float32),
                        np.nextafter(np.float32(0.55), np.float32([0, 1])),
                        np.float32([2**-126, 2**-149, 8.999999, 9.0, 9.000001])])
    x = np.concatenate([x, -x])
    exact = np.tanh(x.astype(np.float64))
    y = K.tanh(x, n_threads=2)
    assert y.dtype == np.float32
    assert _ulps(y, exact).max() <= 2.0, x[_ulps(y, exact).argmax()]
    assert np.all(np.abs(y) <= 1)


def test_tanh_special_values():
    x = np.float32([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1e38, -1e38])
    y = K.tanh(x)
    np.testing.assert_array_equal(y, [0, 0, 1, -1, np.nan, np.nan, 1, -1])
    assert not np.signbit(y[0]) and np.signbit(y[1])


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 70_000), scale=st.sampled_from([1e-3, 0.5, 3.0, 30.0]),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**31 - 1))
def test_property_tanh_against_the_reference(n, scale, dtype, seed):
    # any length (the blocks' ends and the padded last vector), both dtypes; the
    # private copy is the output's bits; backward is NumPy's formula bit for bit
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * scale).astype(dtype)
    copy = np.empty_like(x)
    y = K.tanh(x, copy=copy)
    if dtype == np.float32:   # about 2 ulp of the exact value (float64's tanh) at most
        assert n == 0 or _ulps(y, R.activation.tanh(x.astype(np.float64))).max() <= 2.5
    else:                     # NumPy's own
        np.testing.assert_array_equal(y, R.activation.tanh(x))
    np.testing.assert_array_equal(copy, y)
    d = rng.standard_normal(n).astype(dtype)
    np.testing.assert_array_equal(K.tanh_backward(d, y), R.activation.tanh_backward(d, y))


@pytest.mark.parametrize("dtype", DTYPES)
def test_tanh_does_not_depend_on_the_thread_count(dtype):
    x = rand((7, 33, 1001), dtype, 5) * 4
    d = rand(x.shape, dtype, 6)
    y1, y3 = K.tanh(x, n_threads=1), K.tanh(x, n_threads=3)
    np.testing.assert_array_equal(y1, y3)
    np.testing.assert_array_equal(K.tanh_backward(d, y1, n_threads=1),
                                  K.tanh_backward(d, y1, n_threads=3))


def test_tanh_refuses_what_does_not_fit():
    x = rand((4, 5), np.float32)
    with pytest.raises(ValueError, match="dout has shape"):
        K.tanh_backward(x[:2], x)
    with pytest.raises(ValueError, match="copy"):
        K.tanh(x, copy=np.empty((5, 4), np.float32))
    with pytest.raises(ValueError, match="copy"):
        K.tanh(x, copy=x)   # the copy may not be the input


@pytest.mark.parametrize("dtype", DTYPES)
def test_tanh_layer_keeps_its_own_copy_of_the_output(dtype):
    x = rand((3, 4), dtype, 3)
    layer = L.Tanh()
    out = layer.forward(x)
    np.testing.assert_allclose(out, np.tanh(x), rtol=2.5e-7 if dtype == np.float32 else 0)
    d = rand(x.shape, dtype, 4)
    expect = d * (1 - out * out)
    out[...] = 0.5                      # an edit of the returned array by the caller
    np.testing.assert_array_equal(layer.backward(d), expect)
