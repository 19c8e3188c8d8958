"""The LRN kernel (cconv._lrn) against the NumPy reference, gradients, threads, bad input."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cconv.ops import lrn as K
from cconv.ops.reference import lrn as R
from cconv.gradient import gradient_check_layer, numerical_gradient, relative_error
from cconv.layers import LRN

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-6, atol=1e-6), np.float64: dict(rtol=1e-13, atol=1e-14)}

# (N, C, H, W, size, alpha, beta, k): odd and even sizes, size 1, size > C, C = 1,
# N*H*W smaller than the thread count, AlexNet's parameters, beta 0 and 1.
GRID = [
    (2, 7, 5, 4, 5, 1e-4, 0.75, 2.0),
    (2, 7, 5, 4, 5, 0.8, 0.75, 2.0),
    (3, 6, 4, 6, 4, 0.5, 0.6, 1.0),
    (1, 3, 3, 3, 5, 1.0, 0.75, 1.0),
    (1, 2, 1, 1, 7, 2.0, 0.5, 0.5),
    (2, 1, 4, 3, 3, 1.0, 1.0, 1.0),
    (1, 9, 2, 5, 1, 1.5, 0.75, 1.0),
    (1, 9, 2, 5, 2, 1.5, 0.3, 1.0),
    (4, 16, 7, 7, 6, 1.0, 0.75, 2.0),
    (1, 5, 6, 1, 3, 0.7, 0.0, 1.0),
    (1, 32, 28, 28, 5, 1e-4, 0.75, 2.0),
]


def rand(shape, dtype, seed=0, s=2.0):
    return (s * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


def naive_lrn(x, size, alpha, beta, k):
    """The formula, one channel at a time, in float64: an oracle for the reference."""
    x = np.asarray(x, dtype=np.float64)
    C = x.shape[1]
    out = np.empty_like(x)
    for c in range(C):
        lo, hi = max(0, c - size // 2), min(C - 1, c + (size - 1) // 2)
        s = (x[:, lo:hi + 1] ** 2).sum(axis=1)
        out[:, c] = x[:, c] / (k + alpha / size * s) ** beta
    return out


@pytest.mark.parametrize("case", GRID[:10])
def test_reference_is_the_formula(case):
    N, C, H, W, size, alpha, beta, k = case
    x = rand((N, C, H, W), np.float64, 1)
    out, scale = R.lrn_forward(x, size, alpha, beta, k)
    np.testing.assert_allclose(out, naive_lrn(x, size, alpha, beta, k), rtol=1e-13)
    assert np.all(scale >= k)


def test_window_convention_is_pytorchs():
    # One channel lit: it enters the windows of channels [c - (size-1)//2, c + size//2].
    x = np.zeros((1, 8, 1, 1))
    x[0, 3] = 1.0
    for size in (1, 2, 3, 4, 5):
        _, scale = K.lrn_forward(x, size, alpha=size, beta=1.0, k=1.0)
        hit = np.flatnonzero(scale.ravel() > 1)
        assert list(hit) == list(range(3 - (size - 1) // 2, 3 + size // 2 + 1)), size
    # C = 1: the window is that channel alone; alpha multiplies the mean (alpha/size).
    x = np.full((1, 1, 1, 1), 3.0)
    out, scale = K.lrn_forward(x, 5, alpha=1.0, beta=1.0, k=2.0)
    assert scale.item() == pytest.approx(2 + 9 / 5)
    assert out.item() == pytest.approx(3 / (2 + 9 / 5))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GRID)
def test_forward_and_backward_equal_reference(case, dtype):
    N, C, H, W, size, alpha, beta, k = case
    x = rand((N, C, H, W), dtype, 2)
    g = rand((N, C, H, W), dtype, 3, 1.0)
    out, scale = K.lrn_forward(x, size, alpha, beta, k)
    rout, rscale = R.lrn_forward(x, size, alpha, beta, k)
    assert out.dtype == scale.dtype == dtype
    np.testing.assert_array_equal(scale, rscale)  # same summation order
    np.testing.assert_allclose(out, rout, **TOL[dtype])
    dx = K.lrn_backward(g, x, scale, size, alpha, beta, k)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, R.lrn_backward(g, x, rscale, size, alpha, beta, k),
                               **TOL[dtype])


@pytest.mark.parametrize("case", [c for c in GRID if c[0] * c[1] * c[2] * c[3] <= 300])
def test_numerical_gradient_float64(case):
    N, C, H, W, size, alpha, beta, k = case
    layer = LRN(size, alpha, beta, k)
    errors = gradient_check_layer(layer, rand((N, C, H, W), np.float64, 4), h=1e-6)
    assert errors["x"] < 1e-8, errors
    # and the reference's backward is the same gradient
    x = rand((N, C, H, W), np.float64, 5)
    g = rand((N, C, H, W), np.float64, 6, 1.0)

    def f(_):
        return float(np.sum(R.lrn_forward(x, size, alpha, beta, k)[0] * g))

    num = numerical_gradient(f, x, h=1e-6)
    _, scale = R.lrn_forward(x, size, alpha, beta, k)
    assert relative_error(R.lrn_backward(g, x, scale, size, alpha, beta, k), num) < 1e-8


def test_float32_gradient_is_close_to_float64():
    x = rand((2, 6, 3, 4), np.float64, 7)
    g = rand(x.shape, np.float64, 8, 1.0)
    l64, l32 = LRN(5, 1.0, 0.75, 1.0), LRN(5, 1.0, 0.75, 1.0)
    l64.forward(x)
    l32.forward(x.astype(np.float32))
    d64 = l64.backward(g)
    d32 = l32.backward(g)  # float64 dout is cast to the layer's float32
    assert d32.dtype == np.float32
    assert relative_error(d32, d64) < 1e-6


@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_count_does_not_change_results(dtype, monkeypatch):
    monkeypatch.setattr(K, "_MIN_PER_THREAD", 1)  # small inputs use every thread asked for
    for shape in [(5, 12, 9, 7), (1, 6, 13, 5), (3, 2, 1, 1), (40, 8, 3, 3)]:
        x = rand(shape, dtype, 9)
        g = rand(shape, dtype, 10, 1.0)
        for beta in (0.75, 0.6):
            out1, s1 = K.lrn_forward(x, 5, 0.9, beta, 1.0, n_threads=1)
            dx1 = K.lrn_backward(g, x, s1, 5, 0.9, beta, 1.0, n_threads=1)
            for n in (2, 3, 8):
                out, s = K.lrn_forward(x, 5, 0.9, beta, 1.0, n_threads=n)
                assert np.array_equal(out, out1) and np.array_equal(s, s1)
                assert np.array_equal(K.lrn_backward(g, x, s1, 5, 0.9, beta, 1.0,
                                                     n_threads=n), dx1)


def test_small_inputs_use_fewer_threads():
    assert K._threads(8, (2, 4, 8, 8)) == 1
    assert K._threads(8, (100, 32, 28, 28)) == 8
    assert K._threads(2, (3, 16384, 1, 1)) == 2
    with pytest.raises(ValueError, match="n_threads must be a positive int"):
        K._threads(0, (100, 32, 28, 28))


def test_block_size_does_not_change_results(monkeypatch):
    # Row blocks of every size (whole planes down to one row) give the same bits.
    x = rand((2, 10, 11, 6), np.float32, 11)
    g = rand(x.shape, np.float32, 12, 1.0)
    out1, s1 = K.lrn_forward(x, 3, 0.5, 0.75, 1.0)
    dx1 = K.lrn_backward(g, x, s1, 3, 0.5, 0.75, 1.0)
    for rows in (1, 2, 4, 11):
        monkeypatch.setattr(K, "_rows", lambda shape, itemsize, nt, r=rows: r)
        out, s = K.lrn_forward(x, 3, 0.5, 0.75, 1.0)
        assert np.array_equal(out, out1) and np.array_equal(s, s1)
        assert np.array_equal(K.lrn_backward(g, x, s1, 3, 0.5, 0.75, 1.0), dx1)


def test_noncontiguous_readonly_and_out_buffers():
    base = rand((3, 8, 6, 10), np.float64, 13)
    x = base[:, ::2, :, ::2]  # strided view
    x.flags.writeable = False
    rout, rscale = R.lrn_forward(np.ascontiguousarray(x), 3, 0.7, 0.75, 1.0)
    out = np.empty(x.shape)
    scale = np.empty(x.shape)
    o, s = K.lrn_forward(x, 3, 0.7, 0.75, 1.0, out=out, scale=scale)
    assert o is out and s is scale
    np.testing.assert_allclose(out, rout, rtol=1e-13)
    g = np.asfortranarray(rand(x.shape, np.float64, 14))
    dx = np.empty(x.shape)
    assert K.lrn_backward(g, x, s, 3, 0.7, 0.75, 1.0, out=dx) is dx
    np.testing.assert_allclose(dx, R.lrn_backward(g, np.ascontiguousarray(x), rscale, 3, 0.7,
                                                  0.75, 1.0), rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="out for scale must have shape"):
        K.lrn_forward(x, scale=np.empty((1, 2, 3, 4)))
    with pytest.raises(ValueError, match="out for dx must have shape"):
        K.lrn_backward(g, x, s, out=np.empty(x.shape, np.float32))


def test_dtype_policy_and_special_values():
    xi = np.arange(24).reshape(1, 6, 2, 2)
    out, scale = K.lrn_forward(xi)
    assert out.dtype == np.float64
    assert K.lrn_forward(xi.astype(np.float16))[0].dtype == np.float32
    with pytest.raises(TypeError, match="complex128"):
        K.lrn_forward(xi.astype(complex))
    x = np.zeros((1, 4, 1, 3), np.float32)
    x[0, 1, 0, 0] = np.nan
    x[0, 2, 0, 1] = np.inf
    out, _ = K.lrn_forward(x, 3, 1.0, 0.75, 1.0)
    assert np.isnan(out[0, :3, 0, 0]).all() and out[0, 3, 0, 0] == 0  # NaN spreads in window
    assert np.isnan(out[0, 2, 0, 1])  # inf / inf**0.75
    assert np.array_equal(out[0, :, 0, 2], np.zeros(4))  # zero window: out 0, scale k


def test_zero_size_inputs():
    for shape in [(0, 3, 4, 4), (2, 0, 4, 4), (2, 3, 0, 4), (2, 3, 4, 0)]:
        x = np.zeros(shape, np.float32)
        out, scale = K.lrn_forward(x)
        assert out.shape == scale.shape == shape and out.dtype == np.float32
        assert K.lrn_backward(x, x, scale).shape == shape


BAD = [
    (lambda: K.lrn_forward(np.zeros((3, 4, 4))), ValueError, r"4-D \(N, C, H, W\), got 3-D"),
    (lambda: LRN().forward(np.zeros((2, 8))), ValueError, r"x must be 4-D .*\(2, 8\)"),
    (lambda: LRN(size=0), ValueError, "size .* must be positive, got 0"),
    (lambda: LRN(size=-3), ValueError, "must be positive, got -3"),
    (lambda: LRN(size=2.5), TypeError, "size must be an int"),
    (lambda: LRN(size=True), TypeError, "size must be an int"),
    (lambda: LRN(k=-1.0), ValueError, r"k must be > 0, got -1\.0"),
    (lambda: LRN(k=0), ValueError, r"k must be > 0, got 0\.0"),
    (lambda: LRN(beta=-0.75), ValueError, r"beta must be >= 0, got -0\.75"),
    (lambda: LRN(alpha=-1e-4), ValueError, r"alpha must be >= 0, got -0\.0001"),
    (lambda: LRN(alpha=float("nan")), ValueError, "alpha must be finite, got nan"),
    (lambda: LRN(beta="0.75"), TypeError, "beta must be a real number, not str"),
    (lambda: K.lrn_forward(np.zeros((1, 2, 2, 2)), k=np.inf), ValueError, "k must be finite"),
    (lambda: K.lrn_backward(np.zeros((1, 2, 2, 3)), np.zeros((1, 2, 2, 2)),
                            np.ones((1, 2, 2, 2))), ValueError,
     r"dout has shape \(1, 2, 2, 3\), x has \(1, 2, 2, 2\)"),
    (lambda: K.lrn_backward(np.zeros((1, 2, 2, 2)), np.zeros((1, 2, 2, 2)),
                            np.ones((1, 2, 2, 1))), ValueError, r"scale has shape \(1, 2, 2, 1\)"),
    (lambda: K.lrn_backward(np.zeros((1, 2, 2, 2)), np.zeros((1, 2, 2, 2), np.float32),
                            np.ones((1, 2, 2, 2))), TypeError,
     "scale has dtype float64 but x has float32"),
    (lambda: K.lrn_forward(np.zeros((1, 2, 2, 2)), n_threads=0), ValueError,
     "n_threads must be a positive int"),
    (lambda: LRN().backward(np.zeros((1, 2, 2, 2))), RuntimeError, "before forward"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_input_is_refused_clearly(i):
    fn, exc, msg = BAD[i]
    with pytest.raises(exc, match=msg):
        fn()


def test_layer_contract():
    layer = LRN()
    assert (layer.size, layer.alpha, layer.beta, layer.k) == (5, 1e-4, 0.75, 2.0)
    assert repr(layer) == "LRN(size=5, alpha=0.0001, beta=0.75, k=2.0)"
    x = rand((2, 6, 4, 4), np.float32, 15).transpose(0, 1, 3, 2)  # a Convolution-like view
    out = layer.forward(x)
    assert out.dtype == np.float32 and out.shape == x.shape and out.flags.c_contiguous
    assert layer.x is x and layer.scale.shape == x.shape
    g = np.ones(x.shape, np.float32)
    g_before = g.copy()
    dx = layer.backward(g)
    assert dx.dtype == np.float32 and np.array_equal(g, g_before)  # dout left alone
    # With AlexNet's tiny alpha the layer is almost the constant factor k**-beta.
    np.testing.assert_allclose(out, x * 2.0 ** -0.75, rtol=1e-3)


@settings(max_examples=60, deadline=None)
@given(N=st.integers(1, 3), C=st.integers(1, 9), H=st.integers(1, 5), W=st.integers(1, 5),
       size=st.integers(1, 11), alpha=st.floats(0, 4), beta=st.sampled_from([0.75, 0.5, 1.3]),
       k=st.floats(0.1, 3), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_property_matches_reference(N, C, H, W, size, alpha, beta, k, dtype, seed):
    x = rand((N, C, H, W), dtype, seed)
    g = rand((N, C, H, W), dtype, seed + 1, 1.0)
    out, scale = K.lrn_forward(x, size, alpha, beta, k, n_threads=2)
    rout, rscale = R.lrn_forward(x, size, alpha, beta, k)
    np.testing.assert_array_equal(scale, rscale)
    tol = TOL[dtype]
    np.testing.assert_allclose(out, rout, **tol)
    dx = K.lrn_backward(g, x, scale, size, alpha, beta, k, n_threads=2)
    rdx = R.lrn_backward(g, x, rscale, size, alpha, beta, k)
    np.testing.assert_allclose(dx, rdx, rtol=tol["rtol"] * 10,
                               atol=tol["atol"] * 10 * max(1.0, float(np.abs(rdx).max())))
