"""SoftmaxWithLoss (cconv.nn.loss): labels and one-hot targets, gradients, errors."""
import numpy as np
import pytest

from cconv import layers as L
from cconv.functions import softmax
from cconv.gradient import gradient_check_layer
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: F401
from cconv.ops import reference as R  # noqa: F401
from cconv.functions import softmax  # noqa: F401
from cconv.gradient import gradient_check_layer  # noqa: F401
from layer_cases import *  # noqa: F401,F403


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

