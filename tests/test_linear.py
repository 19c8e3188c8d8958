"""The Affine layer (cconv.nn.linear, op cconv.ops.linear) against the book's NumPy code."""
import numpy as np
import pytest

from cconv import layers as L
from cconv.gradient import gradient_check_layer
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: F401
from cconv.ops import reference as R  # noqa: F401
from cconv.functions import softmax  # noqa: F401
from cconv.gradient import gradient_check_layer  # noqa: F401
from layer_cases import *  # noqa: F401,F403


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

