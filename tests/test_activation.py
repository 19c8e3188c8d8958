"""ReLU (cconv.ops.activation, kernel src/_activation.pyx) against NumPy."""

import numpy as np
import pytest

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

