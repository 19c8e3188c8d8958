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



# ---- tanh (the compiled kernel of src/activation.h, float32 and float64) ----

#: long double's tanh as the exact value of float64's (x86's 64-bit mantissa); where
#: long double is float64 itself, its own error (about an ulp) is allowed on top
WIDE = np.finfo(np.longdouble).nmant > np.finfo(np.float64).nmant
SLACK64 = 0.0 if WIDE else 1.0


def _ulps(got, exact):
    """|got - exact| in units of got's dtype's spacing at the exact value."""
    wide = np.float64 if got.dtype == np.float32 else np.longdouble
    exact = np.asarray(exact, wide)
    return np.asarray(np.abs(got.astype(wide) - exact) / np.spacing(
        np.abs(exact).astype(got.dtype)).astype(wide), np.float64)


def _exact_tanh(x):
    """tanh of x in a wider type (float64 for float32, long double for float64)."""
    return np.tanh(x.astype(np.float64 if x.dtype == np.float32 else np.longdouble))


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


def test_tanh_float64_is_within_two_ulp_of_the_exact_value():
    # the same for float64 (the series to x^35 below 0.55, the degree-13 exp above, the
    # clamp at 20), against long double's tanh
    x = np.concatenate([np.linspace(-25, 25, 1_000_001),
                        np.geomspace(1e-300, 0.6, 20_001),
                        np.nextafter(0.55, [0, 1]),
                        [2.0**-1022, 5e-324, np.nextafter(20, 0), 20.0, np.nextafter(20, 21)]])
    x = np.concatenate([x, -x])
    y = K.tanh(x, n_threads=2)
    assert y.dtype == np.float64
    err = _ulps(y, _exact_tanh(x))
    assert err.max() <= 2.0 + SLACK64, x[err.argmax()]
    assert np.all(np.abs(y) <= 1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_tanh_body_gives_the_same_bits(dtype):
    # the 16-byte body (SSE2, or scalar code) and the AVX2 one, over both ranges, odd
    # lengths (the padded last vector) and the special values
    from cconv import _activation
    x = np.concatenate([np.linspace(-25, 25, 200_003), np.geomspace(1e-40, 0.6, 5_001),
                        [0.0, -0.0, np.inf, -np.inf, np.nan]]).astype(dtype)
    ref = K.tanh(x, n_threads=1)
    ran = []
    for body in _activation.TANH_BODIES:
        got = np.full_like(x, 7.0)
        if _activation.tanh_body_into(x, got, body):
            assert got.tobytes() == ref.tobytes(), body
            ran.append(body)
    assert "v16" in ran
    from cconv import _conv, _im2col
    if _im2col.sse2_compiled() and "avx2" in _conv.supported_isas():
        assert "avx2" in ran   # (an x86 build on a CPU with AVX2 has and runs that body)
    with pytest.raises(ValueError, match="unknown tanh body 'sse9'"):
        _activation.tanh_body_into(x, x.copy(), "sse9")


@pytest.mark.parametrize("dtype", DTYPES)
def test_tanh_special_values(dtype):
    big = np.finfo(dtype).max
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, big, -big], dtype)
    y = K.tanh(x)
    assert y.dtype == dtype
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
    # about 2 ulp of the exact value (a wider type's tanh) at most, as NumPy's own
    slack = SLACK64 if dtype == np.float64 else 0.0
    assert n == 0 or _ulps(y, _exact_tanh(x)).max() <= 2.5 + slack
    assert n == 0 or _ulps(R.activation.tanh(x), _exact_tanh(x)).max() <= 2.5 + slack
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
    np.testing.assert_allclose(out, np.tanh(x), rtol=4 * np.finfo(dtype).eps)
    d = rand(x.shape, dtype, 4)
    expect = d * (1 - out * out)
    out[...] = 0.5                      # an edit of the returned array by the caller
    np.testing.assert_array_equal(layer.backward(d), expect)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tanh_in_a_predict_writes_no_private_copy(dtype):
    # in a network's predict outside training the Tanh keeps its output only; backward
    # then says why it cannot run, until a training forward; a test-mode call (what the
    # pictures' backprop runs) keeps what backward needs
    from cconv.networks import LeNet
    net = LeNet(dtype=dtype, rng=0)
    x = rand((3, 1, 28, 28), dtype, 7)
    y = net.predict(x)
    ref = net._input(x)
    for layer in net.layers.values():
        ref = layer.forward(ref)
    np.testing.assert_array_equal(y, ref)   # the same values as the training forward
    net.predict(x)
    tanh = net.layers["Tanh1"]
    assert tanh._y is None and tanh.out is not None
    with pytest.raises(RuntimeError, match="after an inference pass"):
        tanh.backward(np.ones(tanh.out.shape, dtype))
    net.gradient(x, np.arange(3))
    assert tanh._y is not None and tanh._y is not tanh.out
    tanh.call(x[:, :1].astype(dtype), False)
    assert tanh.backward(np.ones((3, 1, 28, 28), dtype)).shape == (3, 1, 28, 28)
