"""ReLU (cconv.ops.activation, kernel src/_activation.pyx) against NumPy."""

import numpy as np
import pytest

from cconv import ops as K
from op_cases import *  # noqa: F401,F403


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
