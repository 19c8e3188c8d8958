"""cconv.layers: the book's contracts, numerical gradients, book-style NumPy references,
dtypes, parameter identity, and a few steps of learning on real MNIST."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from cconv.ops import reference as R
from cconv.bench import book as RN
from cconv import layers as L
from cconv.functions import softmax
from cconv.gradient import gradient_check_layer

DTYPES = [np.float32, np.float64]
GTOL = 1e-6    # float64 backprop vs central differences (observed ~1e-9 .. 1e-12)
GTOL32 = 2e-2  # float32 with h = 1e-2


def rand(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def distinct(shape, dtype=np.float64, seed=0, gap=0.05):
    """Values at least ``gap`` apart (no argmax tie can flip under a 1e-2 step)."""
    n = int(np.prod(shape))
    v = np.random.default_rng(seed).permutation(n) - n / 2
    return (v * gap).reshape(shape).astype(dtype)


def away_from_zero(shape, dtype=np.float64, seed=0):
    """Normal values pushed away from 0 (no ReLU kink within a finite-difference step)."""
    x = rand(shape, np.float64, seed)
    return (np.sign(x) * (0.1 + np.abs(x))).astype(dtype)


# ---- book-style NumPy references (the book's code, on cconv.ops.reference) -----------

# the book's Convolution and Pooling, as the benchmarks run them (the pooling with its
# output size fixed for pad, and -inf padding: cconv.ops.reference.pooling)
BookConvolution = RN.Convolution
BookPooling = RN.Pooling


# (N, C, H, W, FN, FH, FW, stride, pad)
CONV_GRID = [
    (2, 3, 7, 6, 4, 3, 2, 2, 1),     # stride 2, pad 1, non-square filter and input
    (1, 1, 5, 5, 2, 3, 3, 1, 0),
    (3, 2, 8, 9, 3, 5, 3, 1, 2),
    (2, 2, 6, 6, 1, 1, 1, 2, 0),     # 1x1 filter
    (1, 3, 4, 4, 2, 4, 4, 1, 0),     # filter == input
    (2, 1, 9, 7, 2, 3, 3, 3, 1),
]
# (N, C, H, W, PH, PW, stride, pad)
POOL_GRID = [
    (2, 3, 8, 8, 2, 2, 2, 0),        # the book's 2x2/2
    (2, 2, 7, 6, 3, 3, 2, 1),        # overlap + pad
    (1, 3, 5, 7, 3, 2, 1, 1),        # non-square, stride 1
    (3, 1, 9, 9, 3, 3, 3, 0),
    (2, 2, 6, 5, 2, 3, 2, 1),
]


# ---- Convolution -----------------------------------------------------------------------

def _conv(case, dtype, seed=0, **kw):
    N, C, H, W, FN, FH, FW, s, p = case
    x = rand((N, C, H, W), dtype, seed)
    Wt = rand((FN, C, FH, FW), dtype, seed + 1) * 0.5
    b = rand((FN,), dtype, seed + 2)
    return x, Wt, b, L.Convolution(Wt, b, stride=s, pad=p, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_GRID)
def test_convolution_equals_book(case, dtype):
    x, Wt, b, conv = _conv(case, dtype)
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
    x, Wt, b, conv = _conv(case, np.float64, seed=3)
    errs = gradient_check_layer(conv, x)
    assert set(errs) == {"x", "W", "b"}
    assert max(errs.values()) < GTOL, errs


def test_convolution_gradients_float32():
    x, Wt, b, conv = _conv(CONV_GRID[0], np.float32, seed=4)
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
    x, Wt, b, full = _conv(case, np.float64)
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
    x, Wt, b, _ = _conv(case, np.float64)
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


# ---- Pooling / AvgPooling ----------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_GRID)
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


@pytest.mark.parametrize("case", POOL_GRID)
def test_pooling_gradients_float64(case):
    N, C, H, W, ph, pw, s, p = case
    x = distinct((N, C, H, W), seed=5)
    errs = gradient_check_layer(L.Pooling(ph, pw, s, p), x)
    assert errs["x"] < GTOL, errs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_GRID)
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


# ---- Affine --------------------------------------------------------------------------

def test_affine_gradients_and_4d_input():
    x = rand((3, 2, 3, 4), seed=1)
    Wt, b = rand((24, 5), seed=2), rand((5,), seed=3)
    aff = L.Affine(Wt, b)
    out = aff.forward(x)
    np.testing.assert_allclose(out, x.reshape(3, -1) @ Wt + b, rtol=1e-13)
    assert aff.original_x_shape == x.shape and aff.x.shape == (3, 24)
    dx = aff.backward(np.ones_like(out))
    assert dx.shape == x.shape
    errs = gradient_check_layer(L.Affine(Wt, b), x)
    assert set(errs) == {"x", "W", "b"} and max(errs.values()) < GTOL, errs


@pytest.mark.parametrize("dtype", DTYPES)
def test_affine_keeps_dtype(dtype):
    x, Wt, b = rand((4, 6), dtype), rand((6, 3), dtype, 1), rand((3,), dtype, 2)
    aff = L.Affine(Wt, b)
    out = aff.forward(x)
    dx = aff.backward(rand(out.shape, dtype, 3))
    assert out.dtype == dx.dtype == aff.dW.dtype == aff.db.dtype == dtype


def test_affine_feature_mismatch():
    with pytest.raises(ValueError, match="7 features.*expects 6"):
        L.Affine(rand((6, 3)), rand((3,))).forward(rand((2, 7)))


# ---- activations ---------------------------------------------------------------------

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


# ---- SoftmaxWithLoss -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_with_loss_int_and_onehot_labels(dtype):
    x = rand((5, 4), dtype, 3) * 2
    t = np.array([3, 0, 1, 1, 2])
    onehot = np.eye(4)[t]                                  # float64 one-hot, float32 x
    a, b = L.SoftmaxWithLoss(), L.SoftmaxWithLoss()
    la, lb = a.forward(x, t), b.forward(x, onehot)
    assert type(la) is dtype and type(lb) is dtype
    assert la == lb
    ref = -np.mean(np.log(softmax(x.astype(np.float64))[np.arange(5), t] + 1e-7))
    np.testing.assert_allclose(la, ref, rtol=1e-6)
    da, db = a.backward(), b.backward()
    assert da.dtype == db.dtype == dtype
    expect = (softmax(x.astype(np.float64)) - np.eye(4)[t]) / 5
    tol = 1e-6 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(da, expect, atol=tol)
    np.testing.assert_allclose(db, expect, atol=tol)
    np.testing.assert_allclose(a.backward(dtype(3.0)), 3 * da, rtol=1e-6)  # dout is used


def test_softmax_with_loss_gradients():
    x = rand((4, 6), seed=11)
    t = np.array([5, 0, 2, 2])
    for target in (t, np.eye(6)[t]):
        errs = gradient_check_layer(L.SoftmaxWithLoss(), x, target)
        assert errs["x"] < 1e-5, errs   # +1e-7 in the log: exact backprop differs ~1e-7


def test_softmax_with_loss_single_sample_and_errors():
    x = rand((6,), seed=1)
    layer = L.SoftmaxWithLoss()
    loss = layer.forward(x, 2)
    np.testing.assert_allclose(loss, -np.log(softmax(x)[2] + 1e-7))
    dx = layer.backward()
    assert dx.shape == (6,)
    np.testing.assert_allclose(dx, softmax(x) - np.eye(6)[2], atol=1e-15)
    with pytest.raises(ValueError, match=r"\[0, 6\)"):
        L.SoftmaxWithLoss().forward(rand((2, 6)), np.array([1, 6]))


# ---- Dropout ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_train_and_test(dtype):
    x = rand((200, 50), dtype) + 3
    drop = L.Dropout(0.3)
    np.random.seed(0)
    out = drop.forward(x)                       # train_flg defaults to True, as the book
    assert out.dtype == dtype
    assert drop.mask.dtype == bool and drop.mask.shape == x.shape
    assert abs(drop.mask.mean() - 0.7) < 0.02
    np.testing.assert_array_equal(out, np.where(drop.mask, x, 0))   # no rescaling (book)
    dout = rand(x.shape, dtype, 1)
    dx = drop.backward(dout)
    assert dx.dtype == dtype
    np.testing.assert_array_equal(dx, np.where(drop.mask, dout, 0))
    test_out = drop.forward(x, train_flg=False)
    assert test_out.dtype == dtype
    np.testing.assert_allclose(test_out, x * dtype(0.7), rtol=1e-7)
    np.random.seed(0)
    np.testing.assert_array_equal(L.Dropout(0.3).forward(x), out)   # np.random.seed works


def test_dropout_rng_and_ratio_check():
    x = np.ones((10, 10), np.float32)
    a = L.Dropout(0.5, rng=np.random.default_rng(1)).forward(x)
    b = L.Dropout(0.5, rng=np.random.default_rng(1)).forward(x)
    np.testing.assert_array_equal(a, b)
    assert L.Dropout(np.float64(0.5)).forward(x, train_flg=False).dtype == np.float32
    with pytest.raises(ValueError, match="1.5"):
        L.Dropout(1.5)


def test_dropout_gradient_with_fixed_mask():
    x = rand((4, 7), seed=2)
    drop = L.Dropout(0.5, rng=np.random.default_rng(3))
    drop.forward(x)
    mask = drop.mask.copy()

    class FixedMask(L.Dropout):
        def forward(self, x, train_flg=True):
            self.mask = mask
            return x * mask

    assert gradient_check_layer(FixedMask(0.5), x)["x"] < GTOL


# ---- BatchNormalization ----------------------------------------------------------------

def _bn(D, dtype=np.float64, seed=0, **kw):
    gamma = (1 + 0.3 * rand((D,), np.float64, seed)).astype(dtype)
    beta = rand((D,), dtype, seed + 1)
    return gamma, beta, L.BatchNormalization(gamma, beta, **kw)


@pytest.mark.parametrize("shape", [(10, 6), (8, 2, 3, 3)])
def test_batchnorm_gradients_2d_and_4d(shape):
    x = rand(shape, seed=4) * 2 + 1
    D = int(np.prod(shape[1:]))
    _, _, bn = _bn(D)
    errs = gradient_check_layer(bn, x, forward_kwargs={"train_flg": True})
    assert set(errs) == {"x", "gamma", "beta"} and max(errs.values()) < GTOL, errs


def test_batchnorm_gradients_float32():
    x = rand((8, 2, 3, 3), np.float32, 4) * 2 + 1
    _, _, bn = _bn(18, np.float32)
    errs = gradient_check_layer(bn, x)
    assert max(errs.values()) < GTOL32, errs


def test_batchnorm_train_and_test_modes():
    x = rand((64, 5), seed=1) * 3 + 2
    gamma, beta, bn = _bn(5)
    out = bn.forward(x, train_flg=True)
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), np.abs(gamma), rtol=1e-6)
    mu, var = x.mean(axis=0), x.var(axis=0)
    np.testing.assert_allclose(bn.running_mean, 0.1 * mu, rtol=1e-12)   # from zeros
    np.testing.assert_allclose(bn.running_var, 0.1 * var, rtol=1e-12)
    rm, rv = bn.running_mean.copy(), bn.running_var.copy()
    x2 = rand((3, 5), seed=2)
    test_out = bn.forward(x2, train_flg=False)
    np.testing.assert_allclose(test_out, gamma * (x2 - rm) / np.sqrt(rv + 10e-7) + beta,
                               rtol=1e-12)
    np.testing.assert_array_equal(bn.running_mean, rm)                 # test mode: no update
    np.testing.assert_array_equal(bn.running_var, rv)
    bn.forward(x, train_flg=True)
    np.testing.assert_allclose(bn.running_mean, 0.9 * rm + 0.1 * mu, rtol=1e-12)
    # a single sample in test mode is fine; train mode is the default, as in the book
    assert bn.forward(x2[:1], train_flg=False).shape == (1, 5)


def test_batchnorm_given_running_stats_and_4d_flattening():
    rm, rv = np.full(12, 0.5), np.full(12, 4.0)
    gamma, beta = np.ones(12), np.zeros(12)
    bn = L.BatchNormalization(gamma, beta, momentum=0.5, running_mean=rm, running_var=rv)
    x = rand((2, 3, 2, 2), seed=3)
    out = bn.forward(x, train_flg=False)
    assert out.shape == x.shape
    np.testing.assert_allclose(out, (x - 0.5) / np.sqrt(4.0 + 1e-6), rtol=1e-12)
    bn.forward(x, train_flg=True)
    np.testing.assert_allclose(bn.running_mean, 0.25 + 0.5 * x.reshape(2, -1).mean(axis=0))
    with pytest.raises(ValueError, match="12"):
        bn.forward(rand((2, 5)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm_keeps_dtype(dtype):
    x = rand((6, 2, 2, 2), dtype, 5)
    gamma, beta, bn = _bn(8, dtype, momentum=np.float64(0.9))
    out = bn.forward(x)
    assert out.dtype == dtype
    assert bn.running_mean.dtype == dtype and bn.running_var.dtype == dtype
    dx = bn.backward(rand(x.shape, dtype, 6))
    assert dx.dtype == bn.dgamma.dtype == bn.dbeta.dtype == dtype
    assert bn.forward(x, train_flg=False).dtype == dtype


# ---- parameters are shared by identity -------------------------------------------------

def test_params_shared_by_identity_and_in_place_updates_seen():
    Wc, bc = rand((2, 1, 3, 3), seed=1), rand((2,), seed=2)
    Wa, ba = rand((8, 3), seed=3), rand((3,), seed=4)
    gamma, beta = np.ones(8), np.zeros(8)
    conv, aff = L.Convolution(Wc, bc), L.Affine(Wa, ba)
    bn = L.BatchNormalization(gamma, beta)
    assert conv.W is Wc and conv.b is bc and aff.W is Wa and aff.b is ba
    assert bn.gamma is gamma and bn.beta is beta
    x = rand((2, 1, 4, 4), seed=5)
    y0 = conv.forward(x)
    assert np.shares_memory(conv.col_W, Wc)
    Wc -= 0.1 * Wc                      # what the book's SGD does to params['W1']
    bc += 1.0
    np.testing.assert_allclose(conv.forward(x), BookConvolution(Wc, bc).forward(x),
                               rtol=1e-12)
    assert not np.allclose(conv.forward(x), y0)
    h = rand((2, 8), seed=6)
    y1 = aff.forward(h)
    Wa *= 2
    np.testing.assert_allclose(aff.forward(h), 2 * y1 - ba, rtol=1e-12)
    o = bn.forward(rand((4, 8), seed=7))
    gamma *= 3
    beta += 2
    np.testing.assert_allclose(bn.forward(rand((4, 8), seed=7)), 3 * o + 2, rtol=1e-12)
    with pytest.raises(TypeError, match="numpy array"):
        L.Affine([[1.0]], np.zeros(1))


def test_star_import_gives_book_names():
    ns = {}
    exec("from cconv.layers import *", ns)
    for name in ["Relu", "Sigmoid", "Affine", "SoftmaxWithLoss", "Dropout",
                 "BatchNormalization", "Convolution", "Pooling", "AvgPooling", "Tanh",
                 "im2col", "col2im", "softmax", "cross_entropy_error", "np"]:
        assert name in ns, name


# ---- random shapes (hypothesis) --------------------------------------------------------

@st.composite
def conv_cases(draw):
    fh, fw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pad = draw(st.integers(0, min(fh, fw) - 1))
    stride = draw(st.integers(1, 3))
    h = draw(st.integers(max(fh - 2 * pad, 1), 6))
    w = draw(st.integers(max(fw - 2 * pad, 1), 6))
    return (draw(st.integers(1, 2)), draw(st.integers(1, 2)), h, w, draw(st.integers(1, 3)),
            fh, fw, stride, pad)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_cases(), st.integers(0, 2**16))
def test_convolution_gradient_random_shapes(case, seed):
    x, Wt, b, conv = _conv(case, np.float64, seed)
    assert max(gradient_check_layer(conv, x, seed=seed).values()) < GTOL


@st.composite
def pool_cases(draw):
    ph, pw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pad = draw(st.integers(0, min(ph, pw) - 1))
    stride = draw(st.integers(1, 3))
    h = draw(st.integers(max(ph - 2 * pad, 1), 7))
    w = draw(st.integers(max(pw - 2 * pad, 1), 7))
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w, ph, pw, stride, pad)


@settings(max_examples=10, deadline=None)
@given(pool_cases(), st.integers(0, 2**16))
def test_pooling_gradient_random_shapes(case, seed):
    N, C, H, W, ph, pw, s, p = case
    x = distinct((N, C, H, W), seed=seed)
    assert gradient_check_layer(L.Pooling(ph, pw, s, p), x, seed=seed)["x"] < GTOL
    assert gradient_check_layer(L.AvgPooling(ph, pw, s, p), x, seed=seed)["x"] < GTOL


# ---- a small chain, and learning on real MNIST -----------------------------------------

def _chain(dtype, seed=0):
    rng = np.random.default_rng(seed)
    p = {"W1": (rng.standard_normal((4, 1, 5, 5)) * 0.1).astype(dtype),
         "b1": np.zeros(4, dtype),
         "W2": (rng.standard_normal((4 * 6 * 6, 10)) * 0.05).astype(dtype),
         "b2": np.zeros(10, dtype)}
    layers = [L.Convolution(p["W1"], p["b1"], stride=2, pad=1, need_dx=False), L.Relu(),
              L.Pooling(2, 2, stride=2), L.Affine(p["W2"], p["b2"])]
    return p, layers, L.SoftmaxWithLoss()


def _loss_and_grads(p, layers, last, x, t):
    h = x
    for layer in layers:
        h = layer.forward(h)
    loss = last.forward(h, t)
    d = last.backward()
    for layer in reversed(layers):
        d = layer.backward(d)
    c, a = layers[0], layers[3]
    return loss, {"W1": c.dW, "b1": c.db, "W2": a.dW, "b2": a.db}


@pytest.mark.parametrize("dtype", DTYPES)
def test_layers_learn_real_mnist(dtype, mnist_data_4d):
    """Conv(5x5/2, pad 1) -> ReLU -> max pool -> Affine -> softmax, plain SGD on 512 real
    MNIST test digits: the loss falls well below chance and accuracy rises (~2 s)."""
    _, (x_test, t_test) = mnist_data_4d
    x, t = x_test[:512].astype(dtype), t_test[:512]
    p, layers, last = _chain(dtype)
    rng = np.random.default_rng(0)
    losses = []
    for step in range(60):
        idx = rng.choice(len(x), 64, replace=False)
        loss, g = _loss_and_grads(p, layers, last, x[idx], t[idx])
        assert type(loss) is dtype
        for k in p:
            assert g[k].dtype == dtype
            p[k] -= dtype(0.2) * g[k]           # in place: the layers must see it
        losses.append(float(loss))
    assert losses[0] > 2.0                      # ~ln 10 at the start
    assert np.mean(losses[-10:]) < 1.0, losses[-10:]
    h = x
    for layer in layers:
        h = layer.forward(h)
    assert np.mean(np.argmax(h, axis=1) == t) > 0.75
