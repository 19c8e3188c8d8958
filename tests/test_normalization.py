"""BatchNormalization (cconv.nn.normalization): gradients, modes, running statistics."""
import numpy as np
import pytest

from cconv import layers as L
from cconv.gradient import gradient_check_layer
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: F401
from cconv.ops import reference as R  # noqa: F401
from cconv.functions import softmax  # noqa: F401
from cconv.gradient import gradient_check_layer  # noqa: F401
from layer_cases import *  # noqa: F401,F403


@pytest.mark.parametrize("shape", [(10, 6), (8, 2, 3, 3)])
def test_batchnorm_gradients_2d_and_4d(shape):
    x = rand(shape, seed=4) * 2 + 1
    D = int(np.prod(shape[1:]))
    _, _, bn = bn_case(D)
    errs = gradient_check_layer(bn, x, forward_kwargs={"train_flg": True})
    assert set(errs) == {"x", "gamma", "beta"} and max(errs.values()) < GTOL, errs


def test_batchnorm_gradients_float32():
    x = rand((8, 2, 3, 3), np.float32, 4) * 2 + 1
    _, _, bn = bn_case(18, np.float32)
    errs = gradient_check_layer(bn, x)
    assert max(errs.values()) < GTOL32, errs


def test_batchnorm_train_and_test_modes():
    x = rand((64, 5), seed=1) * 3 + 2
    gamma, beta, bn = bn_case(5)
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
    gamma, beta, bn = bn_case(8, dtype, momentum=np.float64(0.9))
    out = bn.forward(x)
    assert out.dtype == dtype
    assert bn.running_mean.dtype == dtype and bn.running_var.dtype == dtype
    dx = bn.backward(rand(x.shape, dtype, 6))
    assert dx.dtype == bn.dgamma.dtype == bn.dbeta.dtype == dtype
    assert bn.forward(x, train_flg=False).dtype == dtype

