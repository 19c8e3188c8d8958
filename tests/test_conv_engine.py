"""The convolution engine (cconv._conv, C in src/conv/) against the book's algorithm in
float64 (cconv.ops.reference.conv), for every instruction-set variant
this machine can run, both dtypes, and 1, 2 and 8 threads."""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from cconv import _conv
from cconv.ops.reference import conv as R

DTYPES = [np.float32, np.float64]
ISAS = _conv.supported_isas()


@pytest.fixture(params=ISAS)
def isa(request):
    """Run the test with one variant selected, then put the previous one back."""
    prev = _conv.select_isa(request.param)
    yield request.param
    _conv.select_isa(prev)


def _out(n, f, s, p):
    return (n + 2 * p - f) // s + 1


def run_engine(x, W, b, dout, stride, pad, relu=False, n_threads=2):
    """(y, dx, dW, db) from the engine, in x's dtype."""
    sh, sw = stride
    ph, pw = pad
    N, C, H, Wd = x.shape
    F, _, FH, FW = W.shape
    OH, OW = _out(H, FH, sh, ph), _out(Wd, FW, sw, pw)
    y = np.full((N, F, OH, OW), np.nan, x.dtype)
    dx = np.full(x.shape, np.nan, x.dtype)
    dW = np.full(W.shape, np.nan, x.dtype)
    db = np.full(F, np.nan, x.dtype)
    _conv.forward_into(x, W, b, y, sh, sw, ph, pw, relu, n_threads)
    _conv.backward_data_into(dout, W, dx, sh, sw, ph, pw, n_threads)
    _conv.backward_filter_into(x, dout, dW, db, sh, sw, ph, pw, n_threads)
    return y, dx, dW, db


def check_against_reference(N, C, H, Wd, F, FH, FW, stride, pad, dtype, relu=False,
                            n_threads=2, seed=0):
    rng = np.random.default_rng(seed)
    sh, sw = stride
    ph, pw = pad
    OH, OW = _out(H, FH, sh, ph), _out(Wd, FW, sw, pw)
    x = rng.standard_normal((N, C, H, Wd)).astype(dtype)
    W = rng.standard_normal((F, C, FH, FW)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    dout = rng.standard_normal((N, F, OH, OW)).astype(dtype)
    got = run_engine(x, W, b, dout, stride, pad, relu, n_threads)
    x64, W64, b64, d64 = (a.astype(np.float64) for a in (x, W, b, dout))
    y, saved = R.conv_forward(x64, W64, b64, stride, pad)
    dx, dW, db = R.conv_backward(d64, saved, W64)
    # Rounding bound of a sum of n products: n * eps * (the sum of |terms|), the latter
    # the same algorithm on absolute values. An index mistake is off by O(1) of it.
    ya, asaved = R.conv_forward(np.abs(x64), np.abs(W64), np.abs(b64), stride, pad)
    dxa, dWa, dba = R.conv_backward(np.abs(d64), asaved, np.abs(W64))
    eps = np.finfo(dtype).eps
    if relu:
        y = np.maximum(y, 0)
    for name, g, r, a, n in [("y", got[0], y, ya, C * FH * FW + 1),
                             ("dx", got[1], dx, dxa, F * FH * FW),
                             ("dW", got[2], dW, dWa, N * OH * OW),
                             ("db", got[3], db, dba, N * OH * OW)]:
        assert g.shape == r.shape and g.dtype == dtype, name
        tol = 2 * n * eps * a + np.finfo(dtype).tiny
        bad = ~(np.abs(g - r) <= tol)
        assert not bad.any(), (
            f"{name}: {bad.sum()} of {bad.size} values off, worst "
            f"{np.max(np.abs(g - r) / (a + 1e-300))} (x{(N, C, H, Wd)}, W{(F, C, FH, FW)}, "
            f"stride {stride}, pad {pad}, {np.dtype(dtype).name}, {_conv.active_isa()})")


# (N, C, H, W, F, FH, FW, stride, pad): the networks' layers, non-square inputs and
# filters, stride > 1, pad > 0 and pad >= filter, C and F not multiples of any block,
# N smaller than the thread count, 1x1 filters, filter == padded input.
GRID = [
    (3, 16, 28, 28, 16, 3, 3, (1, 1), (1, 1)),  # DeepConvNet conv2
    (2, 32, 14, 14, 32, 3, 3, (1, 1), (2, 2)),  # conv4
    (2, 64, 8, 8, 64, 3, 3, (1, 1), (1, 1)),  # conv6
    (2, 1, 28, 28, 30, 5, 5, (1, 1), (0, 0)),  # SimpleConvNet conv1
    (1, 6, 14, 14, 16, 5, 5, (1, 1), (0, 0)),  # LeNet conv2
    (2, 3, 9, 7, 11, 3, 2, (1, 1), (1, 0)),
    (3, 5, 10, 12, 7, 5, 3, (2, 3), (2, 1)),
    (1, 2, 11, 9, 3, 3, 3, (3, 2), (0, 1)),
    (2, 2, 6, 5, 3, 3, 3, (1, 1), (4, 3)),
    (1, 3, 5, 5, 9, 1, 1, (1, 1), (0, 0)),
    (2, 4, 4, 4, 5, 4, 4, (1, 1), (0, 0)),
    (1, 1, 1, 1, 1, 1, 1, (1, 1), (0, 0)),
    (1, 17, 3, 20, 33, 2, 7, (2, 1), (1, 3)),
    # wide margins: the tiles of each output row instead of the flat run's, rows of
    # whole tiles (24 columns), and rows whose last tile reaches past them, stride 2
    (2, 2, 9, 40, 5, 3, 17, (1, 1), (0, 0)),
    (2, 3, 15, 38, 6, 3, 17, (2, 1), (1, 2)),
]


@pytest.mark.parametrize("case", GRID)
@pytest.mark.parametrize("dtype", DTYPES)
def test_engine_equals_reference(isa, case, dtype):
    check_against_reference(*case, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_relu(isa, dtype):
    check_against_reference(2, 5, 9, 8, 13, 3, 3, (1, 1), (1, 1), dtype, relu=True)


@st.composite
def geometries(draw):
    FH, FW = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    H = draw(st.integers(max(1, FH - 2 * ph), 14))
    W = draw(st.integers(max(1, FW - 2 * pw), 14))
    return (draw(st.integers(1, 5)), draw(st.integers(1, 20)), H, W, draw(st.integers(1, 20)),
            FH, FW, (sh, sw), (ph, pw))


@settings(max_examples=int(os.environ.get("CCONV_FUZZ_EXAMPLES", 150)) // 3, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(g=geometries(), dtype=st.sampled_from(DTYPES), relu=st.booleans(),
       n_threads=st.sampled_from([1, 2, 3, 8]), seed=st.integers(0, 2**16))
def test_property_engine_equals_reference(isa, g, dtype, relu, n_threads, seed):
    check_against_reference(*g, dtype, relu=relu, n_threads=n_threads, seed=seed)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [GRID[0], GRID[2], GRID[6], (1, 8, 12, 12, 24, 3, 3, (1, 1), (1, 1)),
                                  (100, 16, 14, 14, 32, 3, 3, (1, 1), (1, 1)), GRID[-1]])
def test_results_do_not_depend_on_the_thread_count(isa, case, dtype):
    N, C, H, Wd, F, FH, FW, stride, pad = case
    rng = np.random.default_rng(1)
    OH, OW = _out(H, FH, stride[0], pad[0]), _out(Wd, FW, stride[1], pad[1])
    x = rng.standard_normal((N, C, H, Wd)).astype(dtype)
    W = rng.standard_normal((F, C, FH, FW)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    dout = rng.standard_normal((N, F, OH, OW)).astype(dtype)
    one = run_engine(x, W, b, dout, stride, pad, n_threads=1)
    for nt in (2, 8):
        other = run_engine(x, W, b, dout, stride, pad, n_threads=nt)
        for a, o in zip(one, other):
            assert np.array_equal(a, o), f"{nt} threads differ from 1"


def test_nan_passes_the_fused_relu(isa):
    x = np.ones((1, 1, 3, 3))
    x[0, 0, 1, 1] = np.nan
    y = np.empty((1, 2, 3, 3))
    _conv.forward_into(x, np.ones((2, 1, 1, 1)), np.array([-5.0, 0.0]), y, 1, 1, 0, 0, True, 2)
    assert np.isnan(y[:, :, 1, 1]).all()
    assert (y[0, 0][~np.isnan(y[0, 0])] == 0).all() and (y[0, 1][~np.isnan(y[0, 1])] == 1).all()


def test_no_bias_and_zero_sizes(isa):
    x = np.ones((0, 2, 4, 4), np.float32)
    y = np.empty((0, 3, 2, 2), np.float32)
    _conv.forward_into(x, np.ones((3, 2, 3, 3), np.float32), np.empty(0, np.float32), y,
                       1, 1, 0, 0, False, 2)
    dW = np.full((3, 2, 3, 3), np.nan, np.float32)
    db = np.full(3, np.nan, np.float32)
    _conv.backward_filter_into(x, y, dW, db, 1, 1, 0, 0, 2)
    assert (dW == 0).all() and (db == 0).all()
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    y = np.empty((1, 1, 4, 4))
    _conv.forward_into(x, np.ones((1, 1, 1, 1)), np.empty(0), y, 1, 1, 0, 0, False, 1)
    assert np.array_equal(y, x)


def test_every_variant_is_built_on_x86_and_the_best_one_is_active():
    assert "baseline" in _conv.built_isas()
    assert _conv.supported_isas()[-1] == _conv.best_isa()
    if not os.environ.get("CCONV_ISA"):
        assert _conv.active_isa() == _conv.best_isa()
    info = _conv.isa_info()
    assert info["name"] == _conv.active_isa() and info["vector_bytes"] in (0, 16, 32, 64)


def _run_with(value, code="from cconv import ops; print(ops.conv_isa()['active'])",
              args=("-c",)):
    # the child imports the same cconv as this process
    root = os.path.dirname(os.path.dirname(os.path.abspath(_conv.__file__)))
    env = dict(os.environ, CCONV_ISA=value,
               PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, *args, code], env=env, capture_output=True,
                          text=True)


@pytest.mark.parametrize("name", ISAS)
def test_cconv_isa_forces_a_variant(name):
    r = _run_with(name)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == name


def test_cconv_isa_refuses_unknown_and_unavailable_variants():
    r = _run_with("sse9")
    assert r.returncode != 0
    assert "ConfigError: CCONV_ISA='sse9' cannot be used: unknown instruction set 'sse9'" in r.stderr
    for name in set(_conv.ISAS) - set(ISAS):  # e.g. in the baseline-only CI build
        r = _run_with(name)
        assert r.returncode != 0 and f"CCONV_ISA='{name}' cannot be used" in r.stderr
        assert "cannot run" in r.stderr or "not compiled into this build" in r.stderr
    # importing cconv (and its ops) still works: the refusal comes at the first use
    r = _run_with("sse9", "import cconv.ops, cconv.layers; print('imported')")
    assert r.returncode == 0 and r.stdout.strip() == "imported", r.stderr
    with pytest.raises(ValueError, match="unknown instruction set 'mmx'"):
        _conv.select_isa("mmx")


def test_cli_reports_a_bad_cconv_isa_in_one_line():
    r = _run_with("sse9", "info", args=("-m", "cconv"))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.startswith("cconv: error: CCONV_ISA='sse9' cannot be used")
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def _matmul(a, b, bias=None, n_threads=2, relu=False):
    out = np.full((a.shape[0], b.shape[1]), np.nan, a.dtype)
    _conv.matmul_into(a, b, out, np.zeros(0, a.dtype) if bias is None else bias, n_threads,
                      relu)
    return out


def check_matmul(M, K, N, dtype, ta=False, tb=False, bias=True, seed=0):
    """The engine's matmul (the fully connected layers) against float64 NumPy, with the
    same rounding bound as the convolutions; ta/tb hand it transposed (strided) views."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((K, M) if ta else (M, K)).astype(dtype)
    b = rng.standard_normal((N, K) if tb else (K, N)).astype(dtype)
    a, b = (a.T if ta else a), (b.T if tb else b)
    c = rng.standard_normal(N).astype(dtype) if bias else None
    got = _matmul(a, b, c)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    ref = a64 @ b64 + (0 if c is None else c.astype(np.float64))
    bound = np.abs(a64) @ np.abs(b64) + (0 if c is None else np.abs(c.astype(np.float64)))
    tol = 2 * (K + 1) * np.finfo(dtype).eps * bound + np.finfo(dtype).tiny
    bad = ~(np.abs(got - ref) <= tol)
    assert got.dtype == dtype and not bad.any(), (
        f"{bad.sum()} of {bad.size} off ({M}x{K} @ {K}x{N}, ta={ta}, tb={tb}, "
        f"{np.dtype(dtype).name}, {_conv.active_isa()})")


# the networks' products (SimpleConvNet, DeepConvNet, LeNet), and edges: one row or
# column, widths around the tile and vector sizes, an empty k
MATMUL_GRID = [(100, 4320, 100), (100, 1024, 50), (100, 50, 10), (1, 1, 1), (1, 7, 33),
               (9, 5, 1), (17, 3, 16), (8, 2, 17), (5, 4, 48), (3, 6, 49), (13, 11, 64),
               (6, 0, 5)]


@pytest.mark.parametrize("case", MATMUL_GRID)
@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_equals_reference(isa, case, dtype):
    M, K, N = case
    for ta, tb in [(False, False), (True, False), (False, True)]:
        check_matmul(M, K, N, dtype, ta, tb, bias=not tb)


@settings(max_examples=int(os.environ.get("CCONV_FUZZ_EXAMPLES", 150)) // 3, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(M=st.integers(1, 40), K=st.integers(0, 70), N=st.integers(1, 120),
       dtype=st.sampled_from(DTYPES), ta=st.booleans(), tb=st.booleans(),
       bias=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_property_matmul_equals_reference(isa, M, K, N, dtype, ta, tb, bias, seed):
    check_matmul(M, K, N, dtype, ta, tb, bias, seed)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_does_not_depend_on_the_thread_count(isa, dtype):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((37, 301)).astype(dtype)
    b = rng.standard_normal((301, 101)).astype(dtype)
    ref = _matmul(a, b, n_threads=1)
    for nt in (2, 3, 8):
        np.testing.assert_array_equal(_matmul(a, b, n_threads=nt), ref)
        np.testing.assert_array_equal(_matmul(b.T, a.T, n_threads=nt), _matmul(b.T, a.T, n_threads=1))


@pytest.mark.parametrize("case", MATMUL_GRID)
@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_relu_is_the_relu_of_its_product(isa, case, dtype):
    # relu=True (an Affine -> Relu pair) stores exactly the Relu layer's values of the
    # plain product: 0 where <= 0 (-0 too), NaN passing, in every orientation
    from cconv import ops
    M, K, N = case
    rng = np.random.default_rng(M * 1000 + K)
    for ta, tb in [(False, False), (True, False), (False, True)]:
        a = rng.integers(-2, 3, (K, M) if ta else (M, K)).astype(dtype)
        b = rng.integers(-2, 3, (N, K) if tb else (K, N)).astype(dtype)
        if a.size:
            a.flat[rng.integers(0, a.size)] = np.nan
        a, b = (a.T if ta else a), (b.T if tb else b)
        for bias in (None, rng.integers(-1, 2, N).astype(dtype), np.full(N, -0.0, dtype)):
            if tb and bias is not None and bias[0] != 0:
                continue
            plain = _matmul(a, b, bias)
            got = _matmul(a, b, bias, relu=True)
            ref = ops.relu(plain)
            np.testing.assert_array_equal(got, ref)
            assert not np.signbit(got[got == 0]).any()
            assert np.isnan(got).sum() == np.isnan(plain).sum()


def test_matmul_refuses_arrays_that_disagree():
    a, b = np.ones((3, 4)), np.ones((5, 2))
    with pytest.raises(ValueError, match=r"b has shape \(5, 2\).*\(4, 2\)"):
        _conv.matmul_into(a, b, np.empty((3, 2)), np.zeros(0), 1)
    with pytest.raises(ValueError, match="the output has shape"):
        _conv.matmul_into(a, np.ones((4, 2)), np.empty((2, 3)), np.zeros(0), 1)
    with pytest.raises(ValueError, match="the bias has shape"):
        _conv.matmul_into(a, np.ones((4, 2)), np.empty((3, 2)), np.zeros(3), 1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_input_gradient_through_the_relu_before(isa, dtype):
    # gate = the ReLU output that fed the convolution: dx is 0 where it is <= 0 (NaN
    # passes, as the book's mask), in the same pass; bit-identical to masking after.
    rng = np.random.default_rng(8)
    for (N, C, H, W, F, FH, FW, s, p) in [(3, 4, 9, 9, 5, 3, 3, 1, 1), (2, 3, 11, 8, 7, 5, 3, 2, 2),
                                          (1, 17, 6, 6, 9, 1, 1, 1, 0)]:
        x = np.maximum(rng.standard_normal((N, C, H, W)), 0).astype(dtype)
        x.flat[::7] = np.nan
        w = rng.standard_normal((F, C, FH, FW)).astype(dtype)
        OH, OW = _out(H, FH, s, p), _out(W, FW, s, p)
        d = rng.standard_normal((N, F, OH, OW)).astype(dtype)
        plain, gated = np.empty_like(x), np.empty_like(x)
        _conv.backward_data_into(d, w, plain, s, s, p, p, 2)
        _conv.backward_data_into(d, w, gated, s, s, p, p, 2, x)
        np.testing.assert_array_equal(gated, np.where(x <= 0, 0, plain))
    with pytest.raises(ValueError, match="the gate has shape"):
        _conv.backward_data_into(d, w, gated, s, s, p, p, 2, x[:, :1].copy())


@settings(max_examples=int(os.environ.get("CCONV_FUZZ_EXAMPLES", 150)) // 3, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(N=st.integers(1, 5), C=st.integers(0, 9), H=st.integers(2, 13), W=st.integers(2, 13),
       F=st.integers(1, 19), FH=st.integers(1, 4), FW=st.integers(1, 4),
       s=st.integers(1, 2), p=st.integers(0, 2), dtype=st.sampled_from(DTYPES),
       keep=st.booleans(), nan=st.booleans(), need_arg=st.booleans(),
       seed=st.integers(0, 2**31 - 1))
def test_conv_forward_relu_pool_is_the_three_ops_in_turn(isa, N, C, H, W, F, FH, FW, s, p,
                                                         dtype, keep, nan, need_arg, seed):
    # The pooling done in the convolution's epilogue gives bit for bit what
    # maxpool_forward gives for the rectified output (ties: the first maximum; NaN wins).
    from hypothesis import assume
    from cconv import ops
    assume(FH <= H + 2 * p and FW <= W + 2 * p)   # (a filter that does not fit: its own error)
    OH, OW = _out(H, FH, s, p), _out(W, FW, s, p)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C, FH, FW)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    if nan and x.size:
        x.flat[rng.integers(0, x.size)] = np.nan
    if min(OH, OW) < 2:
        with pytest.raises(ValueError, match="needs at least 2x2"):
            ops.conv_forward_relu_pool(x, w, b, s, p)
        return
    y, pooled, arg, saved = ops.conv_forward_relu_pool(x, w, b, s, p, keep_output=keep,
                                                       need_arg=need_arg)
    ref, _ = ops.conv_forward(x, w, b, s, p, relu=True)
    ref_p, ref_a = ops.maxpool_forward(ref, 2, 2, 2, 0)
    assert (y is None) == (not keep)
    if keep:
        np.testing.assert_array_equal(y, ref)
    np.testing.assert_array_equal(pooled, ref_p)
    if need_arg:
        np.testing.assert_array_equal(arg, ref_a)
    else:
        assert arg is None   # the maxima only (an inference pass)
    assert saved.out_shape == ref.shape


@settings(max_examples=int(os.environ.get("CCONV_FUZZ_EXAMPLES", 150)) // 3, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(N=st.integers(1, 4), C=st.integers(0, 4), H=st.integers(2, 30), W=st.integers(2, 30),
       F=st.integers(1, 12), FH=st.integers(1, 5), FW=st.integers(1, 5), s=st.integers(1, 2),
       p=st.integers(0, 2), dtype=st.sampled_from(DTYPES), gated=st.booleans(),
       nan=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_weight_gradient_from_the_pooling_is_the_two_ops_in_turn(isa, N, C, H, W, F, FH, FW,
                                                                 s, p, dtype, gated, nan,
                                                                 seed):
    # conv_backward_from_pool (the rows of the output gradient made from the pooling's,
    # on the direct kernel; the two ops where it does not apply) gives bit for bit
    # maxpool_backward then conv_backward: odd sizes (a last row and column no window
    # covers), ties of the ReLU's zeros, a NaN, every thread count
    from hypothesis import assume
    from cconv import ops
    assume(FH <= H + 2 * p and FW <= W + 2 * p)
    OH, OW = _out(H, FH, s, p), _out(W, FW, s, p)
    assume(OH >= 2 and OW >= 2)
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, (N, C, H, W)).astype(dtype)
    w = rng.integers(-1, 2, (F, C, FH, FW)).astype(dtype)
    b = rng.integers(-1, 2, F).astype(dtype)
    y, pooled, arg, saved = ops.conv_forward_relu_pool(x, w, b, s, p)
    dp = rng.standard_normal(pooled.shape).astype(dtype)
    if nan:
        dp.flat[rng.integers(0, dp.size)] = np.nan
    gate = pooled if gated else None
    d = ops.maxpool_backward(dp, arg, y.shape, 2, 2, 2, 0, gate=gate)
    _, ref_w, ref_b = ops.conv_backward(d, saved, w, need_dx=False)
    for nt in (1, 2, 3):
        dW, db = ops.conv_backward_from_pool(dp, arg, saved, w, gate=gate, n_threads=nt)
        assert dW.tobytes() == ref_w.tobytes() and db.tobytes() == ref_b.tobytes(), nt
    r_w, r_b = R.conv_backward_from_pool(dp, arg, R.conv_forward(x, w, b, s, p)[1], w,
                                         gate=gate)
    np.testing.assert_allclose(dW, r_w, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(db, r_b, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_filters_of_no_input_channels_still_have_a_bias_gradient(dtype):
    # C = 0: no weights, but db is dout summed (it was left unwritten)
    from cconv import ops
    x, w = np.ones((2, 0, 5, 5), dtype), np.ones((3, 0, 2, 2), dtype)
    y, saved = ops.conv_forward(x, w, np.zeros(3, dtype))
    d = np.random.default_rng(0).standard_normal(y.shape).astype(dtype)
    dx, dW, db = ops.conv_backward(d, saved, w)
    assert dW.shape == w.shape and dx.shape == x.shape
    np.testing.assert_allclose(db, d.sum(axis=(0, 2, 3)), rtol=1e-6)


def test_weight_gradient_from_the_pooling_runs_on_the_direct_kernel_only():
    # the kernel refuses a call its path does not take (the op goes the two-op way)
    from cconv import ops
    x, w = np.ones((2, 3, 6, 6)), np.ones((4, 3, 3, 3))
    dp, arg = np.ones((2, 4, 2, 2)), np.zeros((2, 4, 2, 2), np.uint16)
    dW, db = np.empty(w.shape), np.empty(4)
    with pytest.raises(ValueError, match="direct kernel, stride 1, only"):
        _conv.backward_filter_unpool_into(x, np.ones((2, 4, 1, 1)),
                                          np.zeros((2, 4, 1, 1), np.uint16), None,
                                          dW, db, 2, 2, 0, 0, 1)
    with pytest.raises(ValueError, match="the argmax has shape"):
        _conv.backward_filter_unpool_into(x, dp, np.zeros((2, 4, 1, 2), np.uint16), None,
                                          dW, db, 1, 1, 0, 0, 1)
    with pytest.raises(ValueError, match="the gate has shape"):
        _conv.backward_filter_unpool_into(x, dp, arg, np.ones((1, 4, 2, 2)), dW, db,
                                          1, 1, 0, 0, 1)
    prev = _conv.set_cvec("on")   # (a weight gradient the channel-vector kernel takes)
    try:
        assert _conv.conv_path(x.shape, w, 1, 1, 0, 0, False, True) == "cvec"
        with pytest.raises(ValueError, match="direct kernel, stride 1, only"):
            _conv.backward_filter_unpool_into(x, dp, arg, None, dW, db, 1, 1, 0, 0, 1)
        saved = ops.conv_forward(x, w, np.zeros(4))[1]
        d = ops.maxpool_backward(dp, arg, (2, 4, 4, 4), 2, 2, 2, 0)
        for got, ref in zip(ops.conv_backward_from_pool(dp, arg, saved, w),   # two ops
                            ops.conv_backward(d, saved, w, need_dx=False)[1:]):
            assert got.tobytes() == ref.tobytes()
    finally:
        _conv.set_cvec(prev)
    with pytest.raises(ValueError, match=r"arg values must lie in \[0, 4\)"):
        ops.conv_backward_from_pool(dp, arg + 4, saved, w)
    with pytest.raises(ValueError, match="dout has shape"):
        ops.conv_backward_from_pool(dp[:, :, :1], arg[:, :, :1], saved, w)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("POW", [2, 4, 7, 8, 12, 14, 16, 17, 24, 33])
def test_pooling_epilogue_on_rows_of_every_vector_width(isa, dtype, POW):
    # Rows of POW windows: whole vectors of every width the variant has (16, 8, 4 float32
    # windows on AVX-512) and the scalar rest; small integers make ties of positive
    # values as well as the ReLU's zeros (the first maximum wins), a NaN wins its window,
    # and an odd width leaves a last column that no window covers.
    from cconv import ops
    rng = np.random.default_rng(POW)
    x = rng.integers(-2, 3, (3, 2, 10, 2 * POW + 1)).astype(dtype)
    w = rng.integers(-1, 2, (5, 2, 3, 3)).astype(dtype)
    b = rng.integers(-1, 2, 5).astype(dtype)
    x[1, 0, 4, POW] = np.nan
    x[2, 1, 7, 1] = np.inf   # (inf windows, and NaN ones where a weight 0 meets it)
    _, pooled, arg, _ = ops.conv_forward_relu_pool(x, w, b, 1, 1, keep_output=False)
    _, maxima, none, _ = ops.conv_forward_relu_pool(x, w, b, 1, 1, keep_output=False,
                                                    need_arg=False)
    ref_p, ref_a = ops.maxpool_forward(ops.conv_forward(x, w, b, 1, 1, relu=True)[0], 2, 2, 2)
    assert pooled.shape[3] == POW and none is None
    np.testing.assert_array_equal(pooled, ref_p)
    np.testing.assert_array_equal(maxima, ref_p)
    np.testing.assert_array_equal(arg, ref_a)
    assert np.isnan(pooled[1]).any() and (ref_a != 0).any() and (ref_a == 0).any()


def test_forward_pool_into_refuses_arrays_that_disagree():
    x, w, b = np.ones((2, 3, 6, 6)), np.ones((4, 3, 3, 3)), np.zeros(4)
    good_p, good_a = np.empty((2, 4, 2, 2)), np.empty((2, 4, 2, 2), np.uint16)
    with pytest.raises(ValueError, match="the pooled output has shape"):
        _conv.forward_pool_into(x, w, b, None, np.empty((2, 4, 3, 3)), good_a, 1, 1, 0, 0,
                                True, 1)
    with pytest.raises(ValueError, match="the argmax has shape"):
        _conv.forward_pool_into(x, w, b, None, good_p, np.empty((2, 4, 1, 2), np.uint16),
                                1, 1, 0, 0, True, 1)
    with pytest.raises(ValueError, match="the output"):
        _conv.forward_pool_into(x, w, b, np.empty((2, 4, 5, 4)), good_p, good_a, 1, 1, 0, 0,
                                True, 1)


# ------------------------------------------------------------------ Winograd F(2x2, 3x3)

@pytest.fixture(params=["off", "on"])
def winograd(request):
    """Run the test with the 3x3 stride-1 layers by the direct kernel, then by Winograd."""
    prev = _conv.set_winograd(request.param)
    yield request.param
    _conv.set_winograd(prev)


# the 3x3 stride-1 shapes Winograd takes (16+ channels in and out): DeepConvNet's, odd
# planes (a last tile half outside), every padding it accepts, a plane of one tile
WINO_GRID = [GRID[0], GRID[1], GRID[2], (2, 16, 9, 7, 19, 3, 3, (1, 1), (0, 0)),
             (3, 17, 5, 6, 16, 3, 3, (1, 1), (2, 1)), (1, 16, 2, 2, 16, 3, 3, (1, 1), (1, 1)),
             (2, 33, 3, 3, 40, 3, 3, (1, 1), (0, 2))]


@pytest.mark.parametrize("case", WINO_GRID)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("relu", [False, True])
def test_winograd_equals_reference(isa, winograd, case, dtype, relu):
    # the forward and the input gradient (both 3x3 stride-1 correlations) against the
    # book's algorithm in float64, within the same rounding bound as the direct kernel
    check_against_reference(*case, dtype, relu=relu)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [GRID[0], GRID[2], (100, 16, 14, 14, 32, 3, 3, (1, 1), (1, 1))])
def test_winograd_does_not_depend_on_the_thread_count(isa, winograd, case, dtype):
    N, C, H, Wd, F, FH, FW, stride, pad = case
    rng = np.random.default_rng(3)
    x = rng.standard_normal((N, C, H, Wd)).astype(dtype)
    W = rng.standard_normal((F, C, FH, FW)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    dout = rng.standard_normal((N, F, _out(H, 3, 1, pad[0]), _out(Wd, 3, 1, pad[1]))).astype(dtype)
    one = run_engine(x, W, b, dout, stride, pad, n_threads=1)
    for nt in (2, 3, 8):
        for a, o in zip(one, run_engine(x, W, b, dout, stride, pad, n_threads=nt)):
            assert np.array_equal(a, o), f"{nt} threads differ from 1 ({winograd})"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_winograd_leaves_a_non_finite_input_to_the_direct_kernel(isa, bad):
    # Winograd's transforms would spread a NaN or an infinity over its whole tile; such
    # a call runs the direct kernel instead: the results are the direct kernel's, bit
    # for bit, including the outputs whose windows do not see the bad value.
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 16, 8, 8))
    x[1, 3, 4, 5] = bad
    W, b = rng.standard_normal((16, 16, 3, 3)), rng.standard_normal(16)
    d = rng.standard_normal((2, 16, 8, 8))
    d[0, 2, 2, 2] = bad
    got = {}
    for mode in ("off", "on"):
        prev = _conv.set_winograd(mode)
        try:
            got[mode] = run_engine(x, W, b, d, (1, 1), (1, 1))
        finally:
            _conv.set_winograd(prev)
    for a, o in zip(got["off"], got["on"]):
        np.testing.assert_array_equal(a, o)
    assert np.isfinite(got["on"][0][0]).all()   # sample 0 never sees the bad value


@pytest.mark.parametrize("dtype", DTYPES)
def test_winograd_pools_and_gates_like_its_own_outputs(isa, winograd, dtype):
    # the 2x2 tiles are the pooling windows: the pooled output is the pooling of the
    # convolution's own output; the input gradient's gate zeroes where the gate is <= 0
    from cconv import ops
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 16, 9, 10)).astype(dtype)
    w = rng.standard_normal((24, 16, 3, 3)).astype(dtype)
    b = rng.standard_normal(24).astype(dtype)
    y, pooled, arg, saved = ops.conv_forward_relu_pool(x, w, b, 1, 1)
    ref_p, ref_a = ops.maxpool_forward(y, 2, 2, 2, 0)
    np.testing.assert_array_equal(pooled, ref_p)
    np.testing.assert_array_equal(arg, ref_a)
    _, maxima, none, _ = ops.conv_forward_relu_pool(x, w, b, 1, 1, need_arg=False)
    assert none is None
    np.testing.assert_array_equal(maxima, ref_p)
    gate = np.maximum(x, 0)
    d = rng.standard_normal(y.shape).astype(dtype)
    plain, gated = np.empty_like(x), np.empty_like(x)
    _conv.backward_data_into(d, w, plain, 1, 1, 1, 1, 2)
    _conv.backward_data_into(d, w, gated, 1, 1, 1, 1, 2, gate)
    np.testing.assert_array_equal(gated, np.where(gate <= 0, 0, plain))


def test_set_winograd_names_its_modes():
    prev = _conv.winograd()
    assert prev in _conv.WINOGRAD_MODES
    with pytest.raises(ValueError, match="unknown Winograd mode 'fast'.*off, auto, on"):
        _conv.set_winograd("fast")
    assert _conv.winograd() == prev


def _winograd_measured_faster(isa, dtype, cin, cout):
    """Where `cconv bench layers` measured Winograd ahead, per variant: on AVX2 (Zen 3)
    every float32 layer and float64 from 48 channels in all; elsewhere (AVX-512, Zen 5)
    64 channels in all, as conv4-conv6."""
    if isa == "avx2":
        return np.dtype(dtype) == np.float32 or cin + cout >= 48
    return cin + cout >= 64


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [
    (2, 64, 8, 8, 64, 3, 3, (1, 1), (1, 1)),      # conv6
    (2, 32, 8, 8, 64, 3, 3, (1, 1), (1, 1)),      # conv5 forward
    (2, 32, 16, 16, 32, 3, 3, (1, 1), (1, 1)),    # conv4 (32 in and out)
    (2, 16, 14, 14, 32, 3, 3, (1, 1), (1, 1)),    # conv3: 48 channels in all
    (2, 16, 12, 12, 16, 3, 3, (1, 1), (1, 1))])   # 16 in and out
def test_winograd_auto_takes_the_shapes_where_it_measured_faster(isa, dtype, case):
    N, C, H, Wd, F, FH, FW, stride, pad = case
    by_winograd = _winograd_measured_faster(isa, dtype, C, F)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((N, C, H, Wd)).astype(dtype)
    W = rng.standard_normal((F, C, FH, FW)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    y = {}
    cvec = _conv.set_cvec("off")   # (Winograd's auto goes ahead of cvec's: tested below)
    try:
        for mode in ("auto", "on", "off"):
            prev = _conv.set_winograd(mode)
            try:
                y[mode] = run_engine(x, W, b, np.zeros((N, F, H, Wd), dtype), stride, pad)[0]
            finally:
                _conv.set_winograd(prev)
    finally:
        _conv.set_cvec(cvec)
    assert not np.array_equal(y["on"], y["off"])   # the two paths round differently
    np.testing.assert_array_equal(y["auto"], y["on" if by_winograd else "off"])


@pytest.fixture(params=["off", "on"])
def cvec(request):
    """Run the test with the channel-vector kernel off or wherever it applies."""
    prev = _conv.set_cvec(request.param)
    yield request.param
    _conv.set_cvec(prev)


@settings(max_examples=int(os.environ.get("CCONV_FUZZ_EXAMPLES", 150)) // 3, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(N=st.integers(1, 4), C=st.integers(1, 9), H=st.integers(1, 11), W=st.integers(1, 11),
       F=st.integers(1, 70), FH=st.integers(1, 4), FW=st.integers(1, 4), ph=st.integers(0, 3),
       pw=st.integers(0, 3), dtype=st.sampled_from(DTYPES), relu=st.booleans(),
       seed=st.integers(0, 2**31 - 1))
def test_channel_vector_kernel_gives_the_direct_kernels_bits(isa, N, C, H, W, F, FH, FW, ph,
                                                             pw, dtype, relu, seed):
    # Forward (ReLU or not), the pooling epilogue, and the input gradient (plain and
    # gated): the channel-vector kernel sums in the direct kernel's order, so every
    # value is the same bits; channel counts up to 70 cross a whole tile's lanes.
    from hypothesis import assume
    from cconv import ops
    ph, pw = min(ph, FH - 1), min(pw, FW - 1)
    assume(FH <= H + 2 * ph and FW <= W + 2 * pw)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C, FH, FW)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    out = {}
    for mode in ("off", "on"):
        prev, wino = _conv.set_cvec(mode), _conv.set_winograd("off")
        try:
            y, saved = ops.conv_forward(x, w, b, 1, (ph, pw), relu=relu)
            d = np.random.default_rng(seed + 1).standard_normal(y.shape).astype(dtype)
            got = [y, *ops.conv_backward(d, saved, w, need_dW=False)[:1],
                   ops.conv_backward(d, saved, w, need_dW=False, relu_input=True)[0]]
            if min(y.shape[2:]) >= 2:
                got += list(ops.conv_forward_relu_pool(x, w, b, 1, (ph, pw))[:3])
                got += ops.conv_forward_relu_pool(x, w, b, 1, (ph, pw), keep_output=False,
                                                  need_arg=False)[1:2]
            for nt in (1, 3):
                again = ops.conv_forward(x, w, b, 1, (ph, pw), relu=relu, n_threads=nt)[0]
                assert again.tobytes() == y.tobytes(), f"{nt} threads differ ({mode})"
            out[mode] = got
        finally:
            _conv.set_cvec(prev)
            _conv.set_winograd(wino)
    for a, c in zip(out["off"], out["on"]):
        assert a.tobytes() == c.tobytes()


def _cvec_measured_faster(isa, cin, cout, OW, lanes):
    """Where cvec on vs off measured the channel-vector kernel ahead, per variant: planes
    up to 8 wide with the lanes filled; on AVX2 (Zen 3) also up to 14 wide from 6 input
    channels on."""
    if cout < lanes:
        return False
    return OW <= 8 or (isa == "avx2" and OW <= 14 and cin >= 6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [
    (2, 64, 7, 7, 64, 1),      # DeepConvNet's conv6
    (2, 32, 7, 7, 64, 1),      # conv5's forward
    (2, 16, 14, 14, 32, 1),    # conv3: a 14x14 plane
    (2, 3, 12, 12, 16, 1),     # 3 input channels on a 12x12 plane
    (2, 16, 16, 16, 16, 1),    # a 16x16 plane: the flat layout's everywhere
    (2, 8, 6, 6, 1, 1),        # 1 output channel: fewer than any variant's lanes
    (2, 64, 8, 8, 64, 0)])
def test_channel_vector_kernel_auto_takes_the_small_planes(isa, dtype, case):
    from cconv import ops
    N, C, H, W, F, p = case
    # the kernel's channel lanes: CV_NV vectors (4 on AVX-512, 2 elsewhere; a build
    # without SSE2 has 1-element vectors, which only the 1-channel case meets)
    lanes = {"avx512": 4 * 64, "avx2": 2 * 32}.get(isa, 2 * 16) // np.dtype(dtype).itemsize
    by_cvec = _cvec_measured_faster(isa, C, F, W + 2 * p - 2, lanes)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C, 3, 3)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    # (the kernels give the same bits: conv_path says which one runs; Winograd's auto
    # choice goes first where it applies, so it is off here)
    wino = _conv.set_winograd("off")
    try:
        assert (_conv.conv_path(x.shape, w, 1, 1, p, p, False) == "cvec") == by_cvec
        for mode in ("on", "off"):
            prev = _conv.set_cvec(mode)
            try:   # (off: the direct kernel)
                assert ((_conv.conv_path(x.shape, w, 1, 1, p, p, False) == "cvec")
                        == (mode == "on"))
            finally:
                _conv.set_cvec(prev)
    finally:
        _conv.set_winograd(wino)
    y = ops.conv_forward(x, w, b, 1, p)[0]
    ref = R.conv_forward(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                         1, p)[0]
    np.testing.assert_allclose(y, ref, rtol=1e-4 if dtype == np.float32 else 1e-11,
                               atol=1e-4 if dtype == np.float32 else 1e-11)


@settings(max_examples=int(os.environ.get("CCONV_FUZZ_EXAMPLES", 150)) // 3, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(N=st.integers(1, 4), C=st.integers(1, 9), H=st.integers(1, 11), W=st.integers(1, 11),
       F=st.integers(1, 70), FH=st.integers(1, 4), FW=st.integers(1, 4), ph=st.integers(0, 3),
       pw=st.integers(0, 3), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**31 - 1))
def test_channel_vector_weight_gradient_equals_reference(isa, N, C, H, W, F, FH, FW, ph, pw,
                                                         dtype, seed):
    # dW and db on the channel-vector layout (only real positions summed, the filters
    # across the lanes): within the rounding bound of the reference, the same bits for
    # 1 and 3 threads (chunks fixed by the shapes, added in order)
    from hypothesis import assume
    ph, pw = min(ph, FH - 1), min(pw, FW - 1)
    assume(FH <= H + 2 * ph and FW <= W + 2 * pw)
    prev = _conv.set_cvec("on")
    try:
        check_against_reference(N, C, H, W, F, FH, FW, (1, 1), (ph, pw), dtype, seed=seed)
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((N, C, H, W)).astype(dtype)
        d = rng.standard_normal((N, F, _out(H, FH, 1, ph), _out(W, FW, 1, pw))).astype(dtype)
        got = []
        for nt in (1, 3):
            dW, db = np.empty((F, C, FH, FW), dtype), np.empty(F, dtype)
            _conv.backward_filter_into(x, d, dW, db, 1, 1, ph, pw, nt)
            got.append((dW.tobytes(), db.tobytes()))
        assert got[0] == got[1]
    finally:
        _conv.set_cvec(prev)


@pytest.mark.parametrize("dtype", DTYPES)
def test_channel_vector_weight_gradient_runs_where_auto_takes_the_forward(isa, dtype):
    # DeepConvNet's conv6 (8x8, 64 filters): auto sums dW on the channel-vector layout
    # (other bits than the flat layout's); conv4 (16x16) stays on the flat layout
    from cconv import ops
    rng = np.random.default_rng(8)
    for (C, H, F, p), by_cvec in [((64, 8, 64, 1), True), ((32, 14, 32, 2), False)]:
        x = rng.standard_normal((3, C, H, H)).astype(dtype)
        d = rng.standard_normal((3, F, H + 2 * p - 2, H + 2 * p - 2)).astype(dtype)
        got = {}
        for mode in ("auto", "on", "off"):
            prev = _conv.set_cvec(mode)
            try:
                dW = np.empty((F, C, 3, 3), dtype)
                _conv.backward_filter_into(x, d, dW, np.empty(F, dtype), 1, 1, p, p, 2)
                got[mode] = dW
                want = "cvec" if mode == "on" or (mode == "auto" and by_cvec) else "direct"
                assert _conv.conv_path(x.shape, np.ones((F, C, 3, 3), dtype), 1, 1, p, p,
                                       False, weight_gradient=True) == want
            finally:
                _conv.set_cvec(prev)
        if ops.conv_isa()["info"]["vector_bytes"]:   # (plain C: both add position by
            assert not np.array_equal(got["on"], got["off"])   # position, in one chunk)
        np.testing.assert_array_equal(got["auto"], got["on" if by_cvec else "off"])


@pytest.mark.parametrize("wino, cvec, path", [
    ("auto", "auto", "winograd"), ("off", "auto", "cvec"), ("on", "auto", "winograd"),
    ("auto", "on", "cvec"), ("on", "on", "cvec"), ("off", "off", "direct")])
def test_the_kernel_a_call_runs_follows_both_modes(isa, wino, cvec, path):
    # DeepConvNet's conv6 (64 -> 64 channels, 8x8): both auto choices want it, Winograd's
    # goes first; a kernel asked for everywhere ("on") goes ahead of the other's auto
    w = np.ones((64, 64, 3, 3))
    prev_w, prev_c = _conv.set_winograd(wino), _conv.set_cvec(cvec)
    try:
        for grad in (False, True):
            assert _conv.conv_path((2, 64, 8, 8), w, 1, 1, 1, 1, grad) == path
    finally:
        _conv.set_winograd(prev_w)
        _conv.set_cvec(prev_c)


def test_channel_vector_kernel_modes_are_checked():
    prev = _conv.cvec()
    with pytest.raises(ValueError, match="unknown channel-vector kernel mode 'fast'.*off, auto, on"):
        _conv.set_cvec("fast")
    assert _conv.cvec() == prev
