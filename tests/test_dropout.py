"""Dropout (cconv.nn.dropout): the book's training and test modes, masks, gradients."""
import numpy as np
import pytest

from cconv import layers as L
from cconv.gradient import gradient_check_layer
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: F401
from cconv.ops import reference as R  # noqa: F401
from cconv.functions import softmax  # noqa: F401
from cconv.gradient import gradient_check_layer  # noqa: F401
from layer_cases import *  # noqa: F401,F403


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

