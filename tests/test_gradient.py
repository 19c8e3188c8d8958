"""cconv.gradient: numerical_gradient's book contract, and that the checkers catch bugs."""
import numpy as np
import pytest

from cconv import layers as L
from cconv.gradient import (default_h, gradient_check, gradient_check_layer,
                            numerical_gradient, numerical_gradient_1d, numerical_gradient_2d,
                            relative_error)


def rand(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def function_2(x):
    return np.sum(x ** 2)


# ---- numerical_gradient ----------------------------------------------------------------

def test_book_example_function_2():
    # section 4.4: numerical_gradient(function_2, np.array([3.0, 4.0])) -> [6, 8]
    for point, expect in [([3.0, 4.0], [6, 8]), ([0.0, 2.0], [0, 4]), ([3.0, 0.0], [6, 0])]:
        np.testing.assert_allclose(numerical_gradient(function_2, np.array(point)), expect,
                                   rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(numerical_gradient_1d(function_2, np.array([3.0, 4.0])),
                               [6, 8], rtol=1e-8)


def test_any_shape_and_x_restored_bitwise():
    x = rand((2, 3, 2, 2))
    x0 = x.copy()
    A = rand((2, 3, 2, 2), seed=1)
    g = numerical_gradient(lambda v: np.sum(A * np.sin(v)), x)
    assert g.shape == x.shape and g.dtype == x.dtype
    np.testing.assert_allclose(g, A * np.cos(x0), rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(x, x0)


def test_x_restored_when_f_raises():
    x = np.array([1.0, 2.0, 3.0])
    calls = []

    def f(v):
        calls.append(v.copy())
        if len(calls) == 2:
            raise RuntimeError("boom")
        return 0.0

    with pytest.raises(RuntimeError):
        numerical_gradient(f, x)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])


def test_perturbs_in_place_for_shared_references():
    """The book's networks pass ``lambda W: net.loss(x, t)``: f ignores its argument."""
    W = rand((3, 2))
    x = rand((4, 3), seed=1)
    g = numerical_gradient(lambda _: float(np.sum(x @ W)), W)
    np.testing.assert_allclose(g, np.repeat(x.sum(axis=0)[:, None], 2, axis=1), rtol=1e-8)


def test_float32_uses_larger_step_and_keeps_dtype():
    assert default_h(np.float64) == 1e-4 and default_h(np.float32) == 1e-2
    x = rand((5,), np.float32)
    g = numerical_gradient(lambda v: np.sum(v.astype(np.float32) ** 3), x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, 3 * x.astype(np.float64) ** 2, rtol=2e-3, atol=2e-3)
    # with the book's h = 1e-4 float32 rounding dominates: a larger h is really better
    y = np.abs(rand((200,), np.float32, 3)) + 1
    f = lambda v: np.sum(np.log(v))  # noqa: E731
    exact = 1 / y.astype(np.float64)
    err_default = relative_error(numerical_gradient(f, y), exact)
    err_small = relative_error(numerical_gradient(f, y, h=1e-4), exact)
    assert err_default < err_small


def test_numerical_gradient_2d():
    X = rand((3, 4))
    np.testing.assert_allclose(numerical_gradient_2d(function_2, X), 2 * X, rtol=1e-8)
    np.testing.assert_allclose(numerical_gradient_2d(function_2, X[0]), 2 * X[0], rtol=1e-8)


def test_numerical_gradient_bad_input():
    with pytest.raises(TypeError, match="float32 or float64"):
        numerical_gradient(function_2, np.array([1, 2]))
    with pytest.raises(TypeError, match="numpy array"):
        numerical_gradient(function_2, [1.0, 2.0])
    ro = np.array([1.0, 2.0])
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        numerical_gradient(function_2, ro)
    with pytest.raises(ValueError, match="positive"):
        numerical_gradient(function_2, np.array([1.0]), h=0)


# ---- relative_error --------------------------------------------------------------------

def test_relative_error():
    a = np.array([1.0, -2.0, 3.0])
    assert relative_error(a, a) == 0.0
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    np.testing.assert_allclose(relative_error(a, a + np.array([0, 0, 0.6])), 0.6 / 6.6)
    assert relative_error(a, -a) == 1.0
    assert relative_error(a, np.array([1.0, np.nan, 3.0])) == float("inf")
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        relative_error(a, a[:2])


# ---- gradient_check_layer catches bugs, leaves state alone -------------------------------

class WrongDW(L.Affine):
    def backward(self, dout):
        dx = super().backward(dout)
        self.dW = self.dW * 1.01        # a 1% bug
        return dx


class WrongDx(L.Convolution):
    def backward(self, dout):
        dx = super().backward(dout)
        dx[0, 0, 0, 0] += 1e-3          # one wrong element
        return dx


def test_layer_checker_catches_small_bugs():
    x = rand((3, 4), seed=1)
    errs = gradient_check_layer(WrongDW(rand((4, 2), seed=2), rand((2,), seed=3)), x)
    assert errs["x"] < 1e-8 and errs["b"] < 1e-8 and errs["W"] > 1e-3
    x4 = rand((2, 2, 5, 5), seed=4)
    errs = gradient_check_layer(WrongDx(rand((3, 2, 3, 3), seed=5), rand((3,), seed=6),
                                        pad=1), x4)
    assert errs["x"] > 1e-5 and errs["W"] < 1e-8


def test_layer_checker_leaves_x_and_running_stats_alone():
    x = rand((6, 4), seed=1)
    x0 = x.copy()
    bn = L.BatchNormalization(np.ones(4), np.zeros(4), running_mean=np.full(4, 0.3),
                              running_var=np.full(4, 2.0))
    rm = bn.running_mean
    gradient_check_layer(bn, x)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(bn.running_mean, np.full(4, 0.3))
    np.testing.assert_array_equal(bn.running_var, np.full(4, 2.0))
    assert bn.running_mean is rm


def test_layer_checker_need_dx_false_and_explicit_params():
    conv = L.Convolution(rand((2, 1, 3, 3)), rand((2,), seed=1), need_dx=False)
    errs = gradient_check_layer(conv, rand((2, 1, 5, 5), seed=2))
    assert set(errs) == {"W", "b"} and max(errs.values()) < 1e-7
    errs = gradient_check_layer(L.Affine(rand((3, 2)), rand((2,), seed=1)),
                                rand((4, 3), seed=2), params=["W"], dout=np.ones((4, 2)))
    assert set(errs) == {"x", "W"}


# ---- gradient_check on whole networks ----------------------------------------------------

class TinyConvNet:
    """Conv -> ReLU -> Pool -> Affine -> Sigmoid -> BatchNorm -> Affine -> SoftmaxWithLoss,
    in the book's style (params dict shared by identity with the layers). ``smooth=True``
    uses Tanh and AvgPooling instead: no kinks for float32's larger step to cross."""

    def __init__(self, dtype=np.float64, seed=0, smooth=False):
        r = np.random.default_rng(seed)
        self.params = {
            "W1": (r.standard_normal((3, 1, 3, 3)) * 0.5).astype(dtype),
            "b1": (r.standard_normal(3) * 0.1).astype(dtype),
            "W2": (r.standard_normal((3 * 3 * 3, 6)) * 0.3).astype(dtype),
            "b2": (r.standard_normal(6) * 0.1).astype(dtype),
            "gamma": (1 + 0.1 * r.standard_normal(6)).astype(dtype),
            "beta": (0.1 * r.standard_normal(6)).astype(dtype),
            "W3": (r.standard_normal((6, 4)) * 0.1).astype(dtype),  # y ~ 1/4: eps/y small
            "b3": np.zeros(4, dtype),
        }
        p = self.params
        self.layers = [L.Convolution(p["W1"], p["b1"], stride=1, pad=1, need_dx=False),
                       L.Tanh() if smooth else L.Relu(),
                       (L.AvgPooling if smooth else L.Pooling)(3, 3, stride=2, pad=1),
                       L.Affine(p["W2"], p["b2"]), L.Sigmoid(),
                       L.BatchNormalization(p["gamma"], p["beta"]),
                       L.Affine(p["W3"], p["b3"])]
        self.last_layer = L.SoftmaxWithLoss()

    def predict(self, x, train_flg=False):
        for layer in self.layers:
            if isinstance(layer, L.BatchNormalization):
                x = layer.forward(x, train_flg)
            else:
                x = layer.forward(x)
        return x

    def loss(self, x, t, train_flg=False):
        return self.last_layer.forward(self.predict(x, train_flg), t)

    def gradient(self, x, t):
        self.loss(x, t, train_flg=True)
        dout = self.last_layer.backward(1)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        c, a1, bn, a2 = self.layers[0], self.layers[3], self.layers[5], self.layers[6]
        return {"W1": c.dW, "b1": c.db, "W2": a1.dW, "b2": a1.db, "gamma": bn.dgamma,
                "beta": bn.dbeta, "W3": a2.dW, "b3": a2.db}


# SoftmaxWithLoss's backprop omits the +1e-7 inside the log: ~1e-7 relative disagreement
NET_TOL = 1e-5


def _data(dtype=np.float64):
    x = rand((5, 1, 6, 6), dtype, 11)
    t = np.array([0, 3, 1, 2, 3])
    return x, t


def test_gradient_check_network_float64():
    net = TinyConvNet()
    x, t = _data()
    before = {k: v.copy() for k, v in net.params.items()}
    errs = gradient_check(net, x, t)
    assert set(errs) == set(net.params)
    assert max(errs.values()) < NET_TOL, errs
    for k in before:                                  # params restored exactly
        np.testing.assert_array_equal(net.params[k], before[k])


def test_gradient_check_uses_network_numerical_gradient():
    class WithNumerical(TinyConvNet):
        called = False

        def numerical_gradient(self, x, t):
            WithNumerical.called = True
            loss_W = lambda W: self.loss(x, t, train_flg=True)  # noqa: E731 (the book's)
            return {k: numerical_gradient(loss_W, v) for k, v in self.params.items()}

    x, t = _data()
    errs = gradient_check(WithNumerical(seed=1), x, t)
    assert WithNumerical.called and max(errs.values()) < NET_TOL, errs


def test_gradient_check_float32_network():
    net = TinyConvNet(np.float32, seed=2, smooth=True)
    x, t = _data(np.float32)
    grads = net.gradient(x, t)
    assert all(g.dtype == np.float32 for g in grads.values())
    errs = gradient_check(net, x, t, keys=["W1", "b1", "W2", "gamma", "W3"])
    assert set(errs) == {"W1", "b1", "W2", "gamma", "W3"}
    assert max(errs.values()) < 1e-2, errs


def test_gradient_check_catches_a_wrong_network_gradient():
    class Broken(TinyConvNet):
        def gradient(self, x, t):
            g = super().gradient(x, t)
            g["b2"] = g["b2"] * 0.9
            return g

    x, t = _data()
    errs = gradient_check(Broken(seed=3), x, t, keys=["b2", "b3"])
    assert errs["b2"] > 1e-3 and errs["b3"] < NET_TOL, errs
