"""LeNet and AlexNet: the book's network interface, gradients, dtypes, files, real MNIST."""
import json

import numpy as np
import pytest

from cconv.gradient import gradient_check
from cconv.layers import AvgPooling, Dropout, Pooling, Relu, Sigmoid, Tanh
from cconv.layers import LRN
from cconv.networks import NETWORKS, AlexNet, LeNet, get_network, load_network
from cconv.optimizer import Adam


def cp(n, fs=3, pad=1):
    return {'filter_num': n, 'filter_size': fs, 'pad': pad, 'stride': 1}


def small_lenet(dtype=np.float64, rng=0, activation='tanh', pool='avg'):
    # 12x12 -> conv 12x12 -> pool 6x6 -> conv 4x4 -> pool 2x2 -> 3*2*2 = 12 features
    return LeNet(input_dim=(1, 12, 12), activation=activation, pool=pool,
                 conv_param_1=cp(2), conv_param_2=cp(3, pad=0), hidden_sizes=(5, 4),
                 dtype=dtype, rng=rng)


# A strong LRN (alpha 1, k 1) so that its nonlinearity shows in the gradient checks.
STRONG_LRN = {'size': 3, 'alpha': 1.0, 'beta': 0.75, 'k': 1.0}


def small_alexnet(dtype=np.float64, rng=0, dropout_ratio=0.0, lrn_param=STRONG_LRN):
    # 12x12 -> pool 6x6 -> pool 3x3 -> pool 2x2 -> 3*2*2 = 12 features
    return AlexNet(input_dim=(1, 12, 12), channels=(2, 3, 4, 4, 3), hidden_sizes=(6, 5),
                   lrn_param=lrn_param, dropout_ratio=dropout_ratio, dtype=dtype, rng=rng)


def prepare_for_gradient_check(net, seed):
    # Zero biases put ReLU inputs exactly on the kink for padded positions, where a
    # central difference is meaningless; small positive biases avoid that. The output
    # layer is scaled down so that no softmax probability is tiny: the book's loss is
    # log(y + 1e-7), whose derivative is not 1/y there, while backprop (y - t) is.
    r = np.random.default_rng(seed)
    for k, v in net.params.items():
        if k.startswith('b'):
            v[...] = r.uniform(0.05, 0.2, v.shape)
    net.params[f'W{len(net.params) // 2}'] *= 0.1


def batch(net, n, seed):
    x = np.random.default_rng(seed).standard_normal((n,) + tuple(net.config['input_dim']))
    return x, np.arange(n) % 10


@pytest.fixture
def one_thread(monkeypatch):
    """Kernels (and BLAS, on cconv's one-thread path) on one thread: the learning bounds
    were measured for exactly this computation, and on a busy two-core machine one thread
    is the fastest for these small batches (thread-count invariance is tested elsewhere)."""
    from cconv import _threads, get_num_threads
    monkeypatch.setattr(_threads, "_num_threads", 1)  # what set_num_threads(1) sets
    assert get_num_threads() == 1


# ---- structure ------------------------------------------------------------------------

def test_lenet_is_lenet5():
    net = LeNet(rng=0)
    assert list(net.params) == [f'{k}{i}' for i in range(1, 6) for k in 'Wb']
    shapes = {k: v.shape for k, v in net.params.items() if k.startswith('W')}
    assert shapes == {'W1': (6, 1, 5, 5), 'W2': (16, 6, 5, 5), 'W3': (400, 120),
                      'W4': (120, 84), 'W5': (84, 10)}
    assert list(net.layers) == ['Normalize', 'Conv1', 'Tanh1', 'Pool1', 'Conv2', 'Tanh2',
                                'Pool2', 'Affine1', 'Tanh3', 'Affine2', 'Tanh4', 'Affine3']
    assert net.config['input_norm'] == [0.1307, 0.3081]
    assert 'Normalize' not in LeNet(input_norm=None, rng=0).layers
    assert sum(p.size for p in net.params.values()) == 61706
    x = np.zeros((2, 1, 28, 28))
    assert net.forward_until(x, 'Conv1').shape == (2, 6, 28, 28)   # pad 2 keeps 28x28
    assert net.forward_until(x, 'Pool2').shape == (2, 16, 5, 5)
    assert isinstance(net.layers['Pool1'], AvgPooling)
    assert isinstance(net.layers['Tanh3'], Tanh)
    for act, cls in (('sigmoid', Sigmoid), ('relu', Relu)):
        n = LeNet(activation=act, pool='max', rng=0)
        assert isinstance(n.layers[f'{cls.__name__}4'], cls)
        assert isinstance(n.layers['Pool2'], Pooling)


def test_alexnet_layout():
    net = AlexNet(rng=0)
    assert list(net.params) == [f'{k}{i}' for i in range(1, 9) for k in 'Wb']
    assert [net.params[f'W{i}'].shape[0] for i in range(1, 6)] == [32, 64, 96, 96, 64]
    assert net.params['W1'].shape == (32, 1, 3, 3)
    assert net.params['W6'].shape == (64 * 4 * 4, 256)
    assert net.params['W8'].shape == (256, 10)
    assert list(net.layers) == [
        'Conv1', 'Relu1', 'LRN1', 'Pool1', 'Conv2', 'Relu2', 'LRN2', 'Pool2',
        'Conv3', 'Relu3', 'Conv4', 'Relu4', 'Conv5', 'Relu5', 'Pool3',
        'Affine1', 'Relu6', 'Dropout1', 'Affine2', 'Relu7', 'Dropout2', 'Affine3']
    lrn = net.layers['LRN1']
    assert isinstance(lrn, LRN) and (lrn.size, lrn.alpha, lrn.beta, lrn.k) == (5, 1e-4, 0.75, 2)
    pool = net.layers['Pool1']
    assert (pool.pool_h, pool.stride, pool.pad) == (3, 2, 1)      # overlapping pooling
    assert isinstance(net.layers['Dropout2'], Dropout)
    x = np.zeros((1, 1, 28, 28))
    assert [net.forward_until(x, f'Pool{i}').shape[2] for i in (1, 2, 3)] == [14, 7, 4]
    assert sum(p.size for p in net.params.values()) == 543370


@pytest.mark.parametrize("make", [small_lenet, small_alexnet])
def test_params_shared_by_identity_with_layers(make):
    net = make()
    for key, (lname, attr) in net._param_map.items():
        assert net.params[key] is getattr(net.layers[lname], attr)
    assert set(net._param_map) == set(net.params)
    x, _ = batch(net, 2, 0)
    before = net.predict(x).copy()
    last_b = f'b{len(net.params) // 2}'
    net.params[last_b] += 1.0  # an optimizer's in-place update
    assert not np.allclose(net.predict(x), before)


# ---- gradients ------------------------------------------------------------------------

@pytest.mark.parametrize("activation", ['tanh', 'sigmoid', 'relu'])
@pytest.mark.parametrize("pool", ['avg', 'max'])
def test_lenet_gradient_check_float64(activation, pool, one_thread):
    net = small_lenet(activation=activation, pool=pool, rng=3)
    prepare_for_gradient_check(net, 4)
    x, t = batch(net, 3, 5)
    errors = gradient_check(net, x, t, h=1e-6)
    assert max(errors.values()) < 1e-5, errors


@pytest.mark.parametrize("seed", [0, 1])
def test_alexnet_gradient_check_float64(seed, one_thread):
    net = small_alexnet(rng=seed)
    prepare_for_gradient_check(net, seed + 10)
    x, t = batch(net, 2, seed)
    errors = gradient_check(net, x, t, h=1e-6)
    assert max(errors.values()) < 1e-5, errors


def test_alexnet_gradient_check_with_the_papers_lrn(one_thread):
    net = small_alexnet(rng=2, lrn_param={})  # size 5, alpha 1e-4, beta 0.75, k 2
    prepare_for_gradient_check(net, 12)
    x, t = batch(net, 2, 2)
    errors = gradient_check(net, x, t, h=1e-6)
    assert max(errors.values()) < 1e-5, errors


@pytest.mark.parametrize("make", [small_lenet, small_alexnet])
def test_float32_network_stays_float32_and_matches_float64(make):
    n64, n32 = make(np.float64), make(np.float32)
    for k in n64.params:
        n32.params[k][...] = n64.params[k]
    x, t = batch(n64, 4, 6)
    g64, g32 = n64.gradient(x, t), n32.gradient(x.astype(np.float32), t)
    assert isinstance(n32.last_loss, float)
    assert n32.last_loss == pytest.approx(n64.last_loss, rel=1e-4)
    for k in g64:
        assert g32[k].dtype == np.float32, k
        np.testing.assert_allclose(g32[k], g64[k], rtol=2e-3, atol=2e-5 * np.abs(g64[k]).max())
    for name in n32.layers:
        assert n32.forward_until(x, name).dtype == np.float32, name  # float64 x is cast
    assert n32.predict(x).dtype == np.float32


def test_alexnet_dropout_only_in_training():
    net = small_alexnet(dropout_ratio=0.5)
    x, t = batch(net, 3, 7)
    np.testing.assert_array_equal(net.predict(x), net.predict(x))
    np.random.seed(0)
    a = net.predict(x, train_flg=True)
    np.random.seed(1)
    assert not np.array_equal(a, net.predict(x, train_flg=True))


# ---- configuration and files ----------------------------------------------------------

@pytest.mark.parametrize("make", [small_lenet, small_alexnet,
                                  lambda dtype=np.float64: LeNet(activation='relu',
                                                                 pool='max', dtype=dtype)])
def test_config_rebuilds_the_same_network(make):
    net = make()
    cfg = json.loads(json.dumps(net.config))  # what a params file stores
    twin = type(net)(dtype=net.dtype, rng=0, **cfg)
    assert twin.config == net.config
    assert list(twin.layers) == list(net.layers)
    assert {k: v.shape for k, v in twin.params.items()} == \
        {k: v.shape for k, v in net.params.items()}


@pytest.mark.parametrize("make", [small_lenet, small_alexnet])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_load_round_trip_and_load_network(tmp_path, make, dtype):
    a, b = make(dtype, rng=1), make(dtype, rng=2)
    path = tmp_path / "p.npz"
    a.save_params(path)
    ids = {k: id(v) for k, v in b.params.items()}
    b.load_params(path)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
        assert id(b.params[k]) == ids[k]
    back = load_network(path)
    assert type(back) is type(a) and back.dtype == dtype and back.config == a.config
    x, _ = batch(a, 2, 8)
    np.testing.assert_array_equal(back.predict(x), a.predict(x))
    assert load_network(path, dtype=np.float64).dtype == np.float64


def test_normalize_layer_and_its_gradient():
    from cconv.gradient import numerical_gradient
    from cconv.layers import Normalize
    layer = Normalize(0.25, 0.5)
    x = np.random.default_rng(0).random((2, 1, 4, 4))
    np.testing.assert_allclose(layer.forward(x), (x - 0.25) / 0.5)
    assert layer.forward(x.astype(np.float32)).dtype == np.float32
    layer.forward(x)
    g = np.random.default_rng(1).standard_normal(x.shape)
    num = numerical_gradient(lambda _: float(np.sum(layer.forward(x) * g)), x)
    np.testing.assert_allclose(layer.backward(g), num, rtol=1e-6, atol=1e-8)
    with pytest.raises(RuntimeError, match="before forward"):
        Normalize(0, 1).backward(g)


def test_params_files_from_before_input_norm_load_without_it(tmp_path):
    from cconv.io import npz as _io
    net = LeNet(input_norm=None, dtype=np.float32, rng=0)
    net.save_params(tmp_path / "new.npz")
    arrays, meta = _io.load_npz(tmp_path / "new.npz")
    del meta["config"]["input_norm"]            # what session-1 files hold
    _io.save_npz_atomic(tmp_path / "old.npz", arrays, meta)
    back = load_network(tmp_path / "old.npz")
    assert 'Normalize' not in back.layers and back.config['input_norm'] is None
    x, _ = batch(net, 2, 3)
    np.testing.assert_array_equal(back.predict(x), net.predict(x))


def test_registered_by_name():
    assert NETWORKS['lenet'] is LeNet and NETWORKS['alexnet'] is AlexNet
    assert isinstance(get_network('lenet', rng=0), LeNet)
    assert isinstance(get_network('AlexNet', rng=0, dtype='float32'), AlexNet)


BAD = [
    (lambda: LeNet(activation='softplus'), ValueError, "activation must be one of"),
    (lambda: LeNet(pool='min'), ValueError, "pool must be 'avg' or 'max', not 'min'"),
    (lambda: LeNet(hidden_sizes=(120,)), ValueError, "hidden_sizes must be two positive"),
    (lambda: LeNet(weight_init_std='lecun'), ValueError, "weight_init_std must be"),
    (lambda: LeNet(weight_init_std=0), ValueError, "weight_init_std must be positive"),
    (lambda: LeNet(input_dim=(1, 8, 8)), ValueError, "does not fit"),
    (lambda: LeNet(dtype=np.int32), TypeError, "float32 or float64"),
    (lambda: LeNet(input_norm=(0.1, 0.0)), ValueError, "std must be > 0.*got 0.0"),
    (lambda: LeNet(input_norm=0.5), ValueError, "input_norm must be \\(mean, std\\) or None"),
    (lambda: LeNet(input_norm=(np.nan, 1)), ValueError, "mean must be finite.*nan"),
    (lambda: AlexNet(channels=(32, 64, 96)), ValueError, "channels must be five positive"),
    (lambda: AlexNet(channels=(32, 0, 96, 96, 64)), ValueError, "five positive"),
    (lambda: AlexNet(hidden_sizes=(256, -1)), ValueError, "hidden_sizes must be two"),
    (lambda: AlexNet(input_dim=(1, 4, 4), pool_param={'pad': 0}), ValueError,
     "too small for AlexNet's three 3x3 poolings"),
    (lambda: AlexNet(pool_param={'pool_size': 2, 'pad': 2}), ValueError,
     "pool_param needs pool_size > 0, stride > 0 and 0 <= pad < pool_size"),
    (lambda: AlexNet(lrn_param={'k': 0}), ValueError, "k must be > 0"),
    (lambda: AlexNet(lrn_param={'size': 0}), ValueError, "size .* must be positive"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_constructor_arguments(i):
    fn, exc, msg = BAD[i]
    with pytest.raises(exc, match=msg):
        fn()


def test_weight_init():
    # 'auto': Xavier (1/fan_in) for tanh and sigmoid, He (2/fan_in) for relu
    for act, var in (('tanh', 1), ('sigmoid', 1), ('relu', 2)):
        w = LeNet(activation=act, rng=0).params['W3']  # fan_in 400, 48000 weights
        assert w.var() == pytest.approx(var / 400, rel=0.05), act
    assert LeNet(weight_init_std=0.01, rng=0).params['W1'].std() == pytest.approx(0.01, rel=0.2)
    w = AlexNet(rng=0).params['W6']                     # He, fan_in 1024
    assert w.var() == pytest.approx(2 / 1024, rel=0.05)
    assert all(not v.any() for k, v in AlexNet(rng=0).params.items() if k.startswith('b'))


# ---- learning on real MNIST -----------------------------------------------------------

def _train_one_epoch(net, x, t, batch_size=50, lr=0.001, seed=0):
    opt = Adam(lr=lr)
    order = np.random.default_rng(seed).permutation(len(x))
    np.random.seed(seed)  # Dropout masks
    for i in range(0, len(x), batch_size):
        idx = order[i:i + batch_size]
        grads = net.gradient(x[idx], t[idx])
        opt.update(net.params, grads)
    return net


def test_lenet_learns_real_mnist(mnist_data_4d, one_thread):
    """One epoch over 3000 real MNIST training digits, Adam (lr 0.001, batches of 50), test
    on 1000 test digits. Measured (seeds 0-4, input standardised): tanh 0.83-0.86, relu
    0.81-0.88, sigmoid 0.09-0.21 (near chance: sigmoid needs several epochs). ~2 s."""
    (x, t), (xt, tt) = mnist_data_4d
    x, t, xt, tt = x[:3000], t[:3000], xt[:1000], tt[:1000]
    tanh = _train_one_epoch(LeNet(dtype=np.float32, rng=0), x, t)
    acc = tanh.accuracy(xt, tt)
    assert acc > 0.7, acc
    assert tanh.params['W1'].dtype == np.float32
    sigmoid = _train_one_epoch(LeNet(activation='sigmoid', dtype=np.float32, rng=0), x, t)
    assert acc > sigmoid.accuracy(xt, tt) + 0.3  # why tanh is the default


def test_alexnet_learns_real_mnist(mnist_data_4d, one_thread):
    """One epoch over 3000 real MNIST training digits, Adam (lr 0.001, batches of 50),
    dropout 0.5 on; test on 1000 test digits. Measured (seeds 0-2): 0.72-0.77. ~12 s on
    one core."""
    (x, t), (xt, tt) = mnist_data_4d
    x, t, xt, tt = x[:3000], t[:3000], xt[:1000], tt[:1000]
    net = _train_one_epoch(AlexNet(dtype=np.float32, rng=0), x, t)
    acc = net.accuracy(xt, tt)
    assert acc > 0.55, acc
    assert net.last_loss < 1.5, net.last_loss
