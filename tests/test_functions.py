"""cconv.functions against the book's formulas, its worked examples, and numerical derivatives."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from cconv import functions as F
from cconv.gradient import numerical_gradient

DTYPES = [np.float32, np.float64]


def rand(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ---- activations ---------------------------------------------------------------------

def test_star_import_has_the_book_names():
    ns = {}
    exec("from cconv.functions import *", ns)
    for name in ["identity_function", "step_function", "sigmoid", "sigmoid_grad", "relu",
                 "relu_grad", "softmax", "sum_squared_error", "cross_entropy_error",
                 "softmax_loss", "np"]:
        assert name in ns, name


def test_identity_is_identity():
    x = rand((3, 4))
    assert F.identity_function(x) is x


@pytest.mark.parametrize("dtype", DTYPES)
def test_step_function(dtype):
    x = np.array([-1.0, 0.0, 0.5, 2.0], dtype)
    y = F.step_function(x)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, [0, 0, 1, 1])
    yi = F.step_function([-3, 0, 4])
    assert yi.dtype.kind == "i"
    np.testing.assert_array_equal(yi, [0, 0, 1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_matches_book_formula_and_keeps_dtype(dtype):
    x = rand((5, 7), dtype) * 4
    y = F.sigmoid(x)
    assert y.dtype == dtype and y.shape == x.shape
    ref = 1 / (1 + np.exp(-x.astype(np.float64)))
    np.testing.assert_allclose(y, ref, rtol=1e-6 if dtype == np.float32 else 1e-14)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_is_stable_for_extreme_inputs(dtype):
    x = np.array([-1e4, -800.0, -100.0, 0.0, 100.0, 800.0, 1e4], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the book's formula warns of overflow here
        y = F.sigmoid(x)
    assert y.dtype == dtype
    assert np.all(np.isfinite(y)) and np.all((y >= 0) & (y <= 1))
    assert y[0] == 0 and y[-1] == 1 and y[3] == 0.5


def test_sigmoid_of_scalar_is_scalar():
    y = F.sigmoid(0.0)
    assert np.ndim(y) == 0 and y == 0.5
    assert np.ndim(F.relu(-2.0)) == 0


@pytest.mark.parametrize("fn,grad", [(F.sigmoid, F.sigmoid_grad), (F.tanh, F.tanh_grad)])
def test_smooth_activation_grads_match_numerical(fn, grad):
    x = rand((4, 3)) * 3
    num = numerical_gradient(lambda v: np.sum(fn(v)), x.copy())  # elementwise: d sum = f'
    np.testing.assert_allclose(grad(x), num, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_and_relu_grad(dtype):
    x = np.array([[-2.0, -0.0, 0.0, 0.5, 3.0]], dtype)
    y = F.relu(x)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, [[0, 0, 0, 0.5, 3.0]])
    g = F.relu_grad(x)   # the book crashed here (np.zeros(x)); 1 at x >= 0 as the book
    assert g.dtype == dtype
    np.testing.assert_array_equal(g, [[0, 1, 1, 1, 1]])


# ---- softmax -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_book_example_1d(dtype):
    a = np.array([0.3, 2.9, 4.0], dtype)
    y = F.softmax(a)
    assert y.dtype == dtype and y.shape == (3,)
    np.testing.assert_allclose(y, [0.01821127, 0.24519181, 0.73659691], rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_2d_rows_and_stability(dtype):
    x = rand((6, 10), dtype) * 5
    y = F.softmax(x)
    assert y.dtype == dtype and y.shape == x.shape
    ref = np.exp(x.astype(np.float64))
    ref /= ref.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(y, ref, rtol=1e-5 if dtype == np.float32 else 1e-13)
    big = F.softmax(x + dtype(1000))  # naive exp overflows
    np.testing.assert_allclose(big, y, rtol=1e-3 if dtype == np.float32 else 1e-10)
    np.testing.assert_allclose(F.softmax(x[2]), y[2], rtol=1e-6)


def test_softmax_rejects_scalar():
    with pytest.raises(ValueError, match="scalar"):
        F.softmax(3.0)


@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=6),
                  elements=st.floats(-50, 50)),
       st.floats(-100, 100))
def test_softmax_is_a_distribution_and_shift_invariant(x, c):
    y = F.softmax(x)
    assert np.all(y >= 0)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(F.softmax(x + c), y, rtol=1e-9, atol=1e-300)


# ---- losses --------------------------------------------------------------------------

BOOK_T = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
BOOK_Y = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])


def test_book_loss_examples():
    # Deep Learning from Scratch, section 4.2: 0.0975 and 0.51082545709933802
    np.testing.assert_allclose(F.sum_squared_error(BOOK_Y, BOOK_T), 0.0975, rtol=1e-12)
    np.testing.assert_allclose(F.cross_entropy_error(BOOK_Y, BOOK_T), 0.510825457099338,
                               rtol=1e-12)
    np.testing.assert_allclose(F.cross_entropy_error(BOOK_Y, 2), 0.510825457099338,
                               rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_labels_equal_one_hot_and_book(dtype):
    y = F.softmax(rand((7, 5), dtype, 3))
    t = np.array([0, 4, 2, 2, 1, 3, 0])
    onehot = np.eye(5, dtype=np.float64)[t]          # float64 targets: no upcast of loss
    a = F.cross_entropy_error(y, t)
    b = F.cross_entropy_error(y, onehot)
    assert type(a) is dtype and type(b) is dtype
    ref = -np.sum(np.log(y.astype(np.float64)[np.arange(7), t] + 1e-7)) / 7
    np.testing.assert_allclose(a, ref, rtol=1e-6 if dtype == np.float32 else 1e-13)
    assert a == b


@pytest.mark.parametrize("dtype", DTYPES)
def test_sum_squared_error_dtype(dtype):
    y = rand((3, 4), dtype)
    t = np.eye(4)[[0, 1, 3]]
    e = F.sum_squared_error(y, t)
    assert type(e) is dtype
    np.testing.assert_allclose(e, 0.5 * np.sum((y.astype(np.float64) - t) ** 2), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_loss(dtype):
    x = rand((4, 6), dtype, 5)
    t = np.array([5, 0, 1, 1])
    loss = F.softmax_loss(x, t)
    assert type(loss) is dtype
    assert loss == F.cross_entropy_error(F.softmax(x), t)


def test_loss_target_errors_name_the_numbers():
    y = F.softmax(rand((3, 4)))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        F.cross_entropy_error(y, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        F.cross_entropy_error(y, np.array([0, 1]))
    with pytest.raises(TypeError, match="integers"):
        F.cross_entropy_error(y, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="shape"):
        F.sum_squared_error(y, np.zeros((3, 5)))


def test_softmax_loss_gradient_is_softmax_minus_onehot():
    x = rand((3, 5), seed=9)
    t = np.array([1, 0, 4])
    num = numerical_gradient(lambda v: F.softmax_loss(v, t), x.copy())
    ana = (F.softmax(x) - np.eye(5)[t]) / 3
    np.testing.assert_allclose(num, ana, atol=1e-6)  # +1e-7 in the log shifts it slightly
