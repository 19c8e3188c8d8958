"""The layer protocol (cconv.nn.base.Layer) and what networks derive from it."""
import numpy as np
import pytest

from cconv import nn
from cconv.gradient import numerical_gradient
from cconv.networks import AlexNet, DeepConvNet, LeNet, SimpleConvNet

NETS = [lambda: SimpleConvNet(rng=0), lambda: DeepConvNet(rng=0), lambda: LeNet(rng=0),
        lambda: AlexNet(rng=0)]


def rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("make", NETS)
def test_params_and_param_map_come_from_the_layers(make):
    net = make()
    assert set(net.param_map) == set(net.params)
    for key, (lname, attr) in net.param_map.items():
        layer = net.layers[lname]
        assert attr in layer.param_names
        assert net.params[key] is getattr(layer, attr)         # shared by identity
        assert layer.parameters()[attr] is net.params[key]
    # every parameter of every layer has exactly one key
    held = [(n, a) for n, layer in net.layers.items() for a in layer.param_names]
    assert sorted(held) == sorted(net.param_map.values())
    assert net._param_map is net.param_map


@pytest.mark.parametrize("make", NETS)
def test_gradients_are_the_layers_d_attributes(make):
    net = make()
    x, t = rand((3,) + tuple(net.config["input_dim"]), 1), np.arange(3)
    grads = net.gradient(x, t)
    for key, (lname, attr) in net.param_map.items():
        layer = net.layers[lname]
        assert grads[key] is getattr(layer, "d" + attr)
        assert layer.gradients()[attr] is grads[key]


def test_hyperparameters_repr_and_window():
    conv = nn.Convolution(rand((4, 3, 5, 3)), np.zeros(4), stride=(2, 1), pad=1)
    assert conv.hyperparameters() == {"stride": (2, 1), "pad": 1}
    assert conv.window == (5, 3, 2, 1, 1, 1)
    assert repr(conv) == ("Convolution(stride=(2, 1), pad=1, W=(4, 3, 5, 3) float64, "
                          "b=(4,) float64)")
    pool = nn.Pooling(3, 2, stride=2, pad=(1, 0))
    assert pool.window == (3, 2, 2, 2, 1, 0)
    assert repr(pool) == "Pooling(pool_h=3, pool_w=2, stride=2, pad=(1, 0))"
    assert nn.Affine(np.zeros((4, 2)), np.zeros(2)).window is None
    for layer in (nn.Relu(), nn.Tanh(), nn.LRN(), nn.Dropout(), nn.Normalize(0.5, 2.0)):
        assert layer.window == (1, 1, 1, 1, 0, 0)
    assert nn.LRN(3, 1e-3, 0.5, 1.0).hyperparameters() == {"size": 3, "alpha": 1e-3,
                                                           "beta": 0.5, "k": 1.0}
    assert nn.Dropout(0.3).hyperparameters() == {"dropout_ratio": 0.3}
    assert nn.Normalize(0.5, 2.0).hyperparameters() == {"mean": 0.5, "std": 2.0}
    bn = nn.BatchNormalization(np.ones(3), np.zeros(3), momentum=0.8)
    assert bn.hyperparameters() == {"momentum": 0.8, "eps": 10e-7}
    assert bn.buffer_names == ("running_mean", "running_var")
    assert bn.buffers() == {"running_mean": None, "running_var": None}


def test_train_flg_is_routed_by_the_protocol():
    takes = {name for name in nn.__all__
             if name != "Layer" and getattr(nn, name).takes_train_flg}
    assert takes == {"Dropout", "BatchNormalization"}
    drop = nn.Dropout(0.5)
    x = np.ones((4, 6))
    assert np.array_equal(drop.call(x, False), x * 0.5) and drop.training is False
    drop.call(x, True)
    assert drop.training is True
    relu = nn.Relu()
    assert np.array_equal(relu.call(-x, True), np.zeros_like(x))   # train_flg not passed on


def test_backward_differentiates_the_last_forwards_mode():
    # Dropout and BatchNormalization after a test-mode forward give the test-mode gradient
    x, dout = rand((5, 4), 2), rand((5, 4), 3)
    drop = nn.Dropout(0.25)
    drop.forward(x, train_flg=True)
    drop.forward(x, train_flg=False)
    np.testing.assert_array_equal(drop.backward(dout), dout * 0.75)
    bn = nn.BatchNormalization(rand(4, 4) + 2, rand(4, 5))
    bn.forward(x, train_flg=True)        # sets the running statistics
    bn.forward(x, train_flg=False)
    dx = bn.backward(dout)

    def f(v):
        return float(np.sum(bn.forward(v, train_flg=False) * dout))
    xv = x.copy()
    num = numerical_gradient(f, xv)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(bn.dbeta, dout.sum(axis=0))


@pytest.mark.parametrize("cls", [nn.Pooling, nn.AvgPooling])
def test_pooling_backward_uses_the_forwards_window(cls):
    # a user changing stride between forward and backward gets the gradient of the
    # forward that ran (and never an out-of-bounds read)
    x = rand((2, 3, 9, 9), 4)
    ref = cls(3, 3, stride=2)
    y = ref.forward(x)
    want = ref.backward(np.ones_like(y))
    layer = cls(3, 3, stride=2)
    layer.forward(x)
    layer.stride, layer.pool_h = 1, 2
    np.testing.assert_array_equal(layer.backward(np.ones_like(y)), want)
    with pytest.raises(ValueError, match="dout has shape"):
        layer.backward(np.ones((2, 3, 4, 5)))


def test_buffers_are_saved_loaded_and_checked(tmp_path):
    from cconv.networks import Network, ParamsFileError

    class BNNet(Network):
        def __init__(self, dtype=np.float64):
            super().__init__(dtype)
            self.config = {"input_dim": [1, 2, 2]}
            self.add("Affine1", nn.Affine(rand((4, 3), 5), np.zeros(3)), "W1", "b1")
            self.add("BN1", nn.BatchNormalization(np.ones(3), np.zeros(3)), "gamma1",
                     "beta1")
            self.last_layer = nn.SoftmaxWithLoss()

    net = BNNet()
    net.predict(rand((6, 1, 2, 2), 6), train_flg=True)
    assert set(net.buffers()) == {"BN1/running_mean", "BN1/running_var"}
    path = net.save_params(tmp_path / "bn.npz")
    other = BNNet()
    other.load_params(path)
    np.testing.assert_array_equal(other.layers["BN1"].running_var,
                                  net.layers["BN1"].running_var)
    # a damaged buffer is refused before anything changes
    from cconv.io.npz import load_npz, save_npz_atomic
    arrays, meta = load_npz(path)
    arrays["BN1/running_var"] = np.zeros(5)
    arrays["W1"] = arrays["W1"] + 1
    save_npz_atomic(tmp_path / "bad.npz", arrays, meta)
    fresh = BNNet()
    before = fresh.params["W1"].copy()
    with pytest.raises(ParamsFileError, match=r"BN1/running_var: running_var has shape \(5,\)"):
        fresh.load_params(tmp_path / "bad.npz")
    np.testing.assert_array_equal(fresh.params["W1"], before)
    with pytest.raises(KeyError, match="has no buffer"):
        fresh.layers["BN1"].set_buffer("mean", np.zeros(3))


def test_a_network_declares_each_parameter_once():
    from cconv.networks import Network
    net = Network()
    net.add("Conv1", nn.Convolution(rand((2, 1, 3, 3)), np.zeros(2)), "W1", "b1")
    with pytest.raises(ValueError, match="parameter key 'W1' is used twice"):
        net.add("Conv2", nn.Convolution(rand((2, 2, 3, 3)), np.zeros(2)), "W1", "b2")
    with pytest.raises(ValueError, match=r"has parameters \['W', 'b'\], got keys \['W3'\]"):
        net.add("Conv3", nn.Convolution(rand((2, 2, 3, 3)), np.zeros(2)), "W3")
    with pytest.raises(ValueError, match="already has a layer 'Conv1'"):
        net.add("Conv1", nn.Relu())
