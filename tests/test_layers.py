"""What every layer shares: parameters by identity, the book's star import, learning real
MNIST. Each family's own tests are in tests/test_<family>.py."""
import numpy as np
import pytest

from cconv import layers as L
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: F401
from cconv.ops import reference as R  # noqa: F401
from cconv.functions import softmax  # noqa: F401
from cconv.gradient import gradient_check_layer  # noqa: F401
from layer_cases import *  # noqa: F401,F403


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


@pytest.mark.parametrize("dtype", DTYPES)
def test_layers_learn_real_mnist(dtype, mnist_data_4d):
    """Conv(5x5/2, pad 1) -> ReLU -> max pool -> Affine -> softmax, plain SGD on 512 real
    MNIST test digits: the loss falls well below chance and accuracy rises (~2 s)."""
    _, (x_test, t_test) = mnist_data_4d
    x, t = x_test[:512].astype(dtype), t_test[:512]
    p, layers, last = chain_case(dtype)
    rng = np.random.default_rng(0)
    losses = []
    for step in range(60):
        idx = rng.choice(len(x), 64, replace=False)
        loss, g = loss_and_grads(p, layers, last, x[idx], t[idx])
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

