"""Every script of the book's chapters 7 and 8, transcribed as a reader would run it.

Each test does what one script of ``oreilly-japan/deep-learning-from-scratch`` does,
in its own words (our transcription, not the book's code), with only cconv imports and
smaller settings (subsets of real MNIST, one or two epochs). The book's calls are kept
as the book makes them: ``(N, 1)`` labels, ``Convolution(w, 0)``, the default
constructors, ``params.pkl`` file names, ``param[...] = param.astype(np.float16)``.
"""
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imread

from cconv.datasets import load_mnist
from cconv.deep_convnet import DeepConvNet
from cconv.layers import (Affine, BatchNormalization, Convolution, Pooling, Relu,
                          SoftmaxWithLoss)
from cconv.gradient import numerical_gradient
from cconv.simple_convnet import SimpleConvNet
from cconv.trainer import Trainer
from cconv.visualize import filter_show, misclassified


@pytest.fixture(scope="session")
def book_mnist(mnist_dir):
    """``load_mnist(flatten=False)`` as the book's scripts call it (writable copies)."""
    return load_mnist(flatten=False, data_dir=mnist_dir, download=False)


def _fresh_figure():
    fig = Figure()
    FigureCanvasAgg(fig)
    return fig


def _pixels(path):
    img = imread(path)
    gray = img[..., :3].mean(axis=2) if img.ndim == 3 else img
    return gray


# ----------------------------------------------------------------- ch07/gradient_check.py

def test_ch07_gradient_check_with_book_labels_of_shape_n_1():
    np.random.seed(0)
    network = SimpleConvNet(input_dim=(1, 10, 10),
                            conv_param={'filter_num': 10, 'filter_size': 3, 'pad': 0,
                                        'stride': 1},
                            hidden_size=10, output_size=10, weight_init_std=0.01)
    X = np.random.rand(100).reshape((1, 1, 10, 10))
    T = np.array([1]).reshape((1, 1))          # the book's (N, 1) label
    grad_num = network.numerical_gradient(X, T)
    grad = network.gradient(X, T)
    assert sorted(grad_num) == sorted(grad) == ['W1', 'W2', 'W3', 'b1', 'b2', 'b3']
    for key in grad_num:
        diff = np.abs(grad_num[key] - grad[key]).mean()
        # what the script prints: small next to the gradient itself (zero biases and
        # max-pool near-ties put a few entries on kinks, so not 1e-10 everywhere)
        assert diff < 1e-4 and diff < 0.05 * np.abs(grad[key]).mean(), (key, diff)
    # (1, 1) means label 1, exactly as (1,) does
    assert network.loss(X, T) == network.loss(X, np.array([1]))
    assert abs(float(network.loss(X, T)) - np.log(10)) < 0.01   # 10 classes, near uniform


# ----------------------------------------------------------------- ch07/simple_convnet.py

def test_ch07_simple_convnet_class_as_the_book_defines_it(tmp_path):
    np.random.seed(1)
    network = SimpleConvNet()
    p = network.params
    assert [(k, p[k].shape) for k in p] == [
        ('W1', (30, 1, 5, 5)), ('b1', (30,)), ('W2', (4320, 100)), ('b2', (100,)),
        ('W3', (100, 10)), ('b3', (10,))]
    assert list(network.layers) == ['Conv1', 'Relu1', 'Pool1', 'Affine1', 'Relu2', 'Affine2']
    assert isinstance(network.last_layer, SoftmaxWithLoss)
    assert abs(p['W1'].std() - 0.01) < 0.002 and not p['b1'].any()
    x = np.random.rand(3, 1, 28, 28)
    t = np.array([3, 1, 4])
    y = network.predict(x)
    assert y.shape == (3, 10)
    assert network.loss(x, t) == network.last_layer.forward(y, t)
    acc = network.accuracy(x, t, batch_size=100)
    assert acc == np.mean(np.argmax(y, axis=1) == t)
    # the book's save_params / load_params with its file name
    network.save_params(tmp_path / "params.pkl")
    other = SimpleConvNet()
    other.load_params(tmp_path / "params.pkl")
    for k in p:
        assert np.array_equal(other.params[k], p[k])
    # and the layers see the loaded values (the book re-binds layer.W / layer.b)
    assert np.array_equal(other.predict(x), y)


# ----------------------------------------------------------------- ch07/train_convnet.py

@pytest.fixture(scope="session")
def trained_convnet(book_mnist, tmp_path_factory):
    """train_convnet.py, small: 5000 images, 2 epochs; returns (network, trainer, path)."""
    (x_train, t_train), (x_test, t_test) = book_mnist
    x_train, t_train = x_train[:5000], t_train[:5000]   # the script's own "reduce" lines
    x_test, t_test = x_test[:1000], t_test[:1000]
    max_epochs = 2
    np.random.seed(2)
    network = SimpleConvNet(input_dim=(1, 28, 28),
                            conv_param={'filter_num': 30, 'filter_size': 5, 'pad': 0,
                                        'stride': 1},
                            hidden_size=100, output_size=10, weight_init_std=0.01)
    init = {k: v.copy() for k, v in network.params.items()}
    trainer = Trainer(network, x_train, t_train, x_test, t_test,
                      epochs=max_epochs, mini_batch_size=100,
                      optimizer='Adam', optimizer_param={'lr': 0.001},
                      evaluate_sample_num_per_epoch=1000, verbose=False, seed=0)
    trainer.train()   # seed: cconv's sampling, so the figures below are reproducible
    path = tmp_path_factory.mktemp("ch07") / "params.pkl"
    network.save_params(path)
    return network, trainer, path, init


def test_ch07_train_convnet(trained_convnet, tmp_path):
    network, trainer, path, _ = trained_convnet
    max_epochs = 2
    # the script plots np.arange(max_epochs) against the two lists: one entry per epoch
    assert len(trainer.train_acc_list) == len(trainer.test_acc_list) == max_epochs
    assert trainer.test_acc_list[-1] > 0.85, trainer.test_acc_list
    assert len(trainer.train_loss_list) == max_epochs * 5000 // 100
    assert np.mean(trainer.train_loss_list[-5:]) < np.mean(trainer.train_loss_list[:5])
    fig = _fresh_figure()
    ax = fig.add_subplot()
    x = np.arange(max_epochs)
    ax.plot(x, trainer.train_acc_list, marker='o', label='train', markevery=2)
    ax.plot(x, trainer.test_acc_list, marker='s', label='test', markevery=2)
    ax.set_xlabel("epochs")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.0)
    ax.legend(loc='lower right')
    fig.savefig(tmp_path / "acc.png")
    assert _pixels(tmp_path / "acc.png").std() > 0.05
    assert path.is_file()


# ----------------------------------------------------------------- ch07/visualize_filter.py

def test_ch07_visualize_filter(trained_convnet, tmp_path):
    _, _, path, _ = trained_convnet
    network = SimpleConvNet()
    random_w1 = network.params['W1'].copy()
    filter_show(network.params['W1'], path=tmp_path / "random.png")   # random init
    network.load_params(path)
    assert not np.array_equal(network.params['W1'], random_w1)
    filter_show(network.params['W1'], path=tmp_path / "trained.png")  # after training
    a, b = _pixels(tmp_path / "random.png"), _pixels(tmp_path / "trained.png")
    assert a.shape == b.shape and a.std() > 0.05 and b.std() > 0.05
    assert np.abs(a - b).mean() > 0.01          # the pictures show different filters


# ----------------------------------------------------------------- ch07/apply_filter.py

def test_ch07_apply_filter_with_a_scalar_bias(trained_convnet, book_mnist, tmp_path):
    from PIL import Image
    _, _, path, _ = trained_convnet
    network = SimpleConvNet(input_dim=(1, 28, 28),
                            conv_param={'filter_num': 30, 'filter_size': 5, 'pad': 0,
                                        'stride': 1},
                            hidden_size=100, output_size=10, weight_init_std=0.01)
    network.load_params(path)
    filter_show(network.params['W1'], 16, path=tmp_path / "filters.png")
    # the book reads dataset/lena_gray.png; a grayscale PNG of our own stands in for it
    _, (x_test, _) = book_mnist
    big = np.kron(x_test[0, 0], np.ones((4, 4)))
    Image.fromarray((big * 255).astype(np.uint8), mode="L").save(tmp_path / "gray.png")
    img = imread(tmp_path / "gray.png")
    assert img.ndim == 2                        # a grayscale PNG reads as (H, W)
    img = img.reshape(1, 1, *img.shape)
    fig = _fresh_figure()
    for i in range(16):
        w = network.params['W1'][i]
        b = 0                                   # network.params['b1'][i], as the book
        w = w.reshape(1, *w.shape)
        conv_layer = Convolution(w, b)
        out = conv_layer.forward(img)
        out = out.reshape(out.shape[2], out.shape[3])
        assert out.shape == (112 - 4, 112 - 4)
        # what the book's im2col + dot computes: a plain cross-correlation, no bias
        k = w[0, 0]
        ref = sum(k[a, c] * img[0, 0, a:a + out.shape[0], c:c + out.shape[1]]
                  for a in range(5) for c in range(5))
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
        ax = fig.add_subplot(4, 4, i + 1, xticks=[], yticks=[])
        ax.imshow(out, cmap="gray_r", interpolation='nearest')
    fig.savefig(tmp_path / "applied.png")
    assert _pixels(tmp_path / "applied.png").std() > 0.05


# ----------------------------------------------------------------- ch08/deep_convnet.py

def test_ch08_deep_convnet_class_as_the_book_defines_it():
    np.random.seed(3)
    network = DeepConvNet()
    shapes = [(16, 1, 3, 3), (16, 16, 3, 3), (32, 16, 3, 3), (32, 32, 3, 3), (64, 32, 3, 3),
              (64, 64, 3, 3), (64 * 4 * 4, 50), (50, 10)]
    assert [network.params[f'W{i}'].shape for i in range(1, 9)] == shapes
    assert [network.params[f'b{i}'].shape for i in range(1, 9)] == [(s[0] if len(s) == 4
                                                                     else s[1],)
                                                                    for s in shapes]
    # the book's He initialisation: std sqrt(2 / fan_in)
    for i, fan_in in enumerate([9, 144, 144, 288, 288, 576, 1024, 50], start=1):
        std = network.params[f'W{i}'].std()
        assert abs(std / np.sqrt(2.0 / fan_in) - 1) < 0.25, (i, std)
    x = np.random.rand(2, 1, 28, 28)
    t = np.array([[7], [2]])                     # (N, 1) labels, as in the book's check
    y1 = network.predict(x, train_flg=False)
    assert np.array_equal(y1, network.predict(x, train_flg=False))  # test mode: no dropout
    grads = network.gradient(x, t)
    assert sorted(grads) == sorted(network.params)
    # a sampled numerical check of the backprop gradient (Dropout fixed by seeding)
    for key in ('W1', 'W6', 'W8', 'b7'):
        p = network.params[key]
        idx = tuple(np.unravel_index(5 % p.size, p.shape))
        old = p[idx]

        def loss():
            np.random.seed(11)
            return float(network.loss(x, t))
        np.random.seed(11)
        g = network.gradient(x, t)[key][idx]
        h = 1e-5
        p[idx] = old + h
        up = loss()
        p[idx] = old - h
        down = loss()
        p[idx] = old
        num = (up - down) / (2 * h)
        assert abs(num - g) <= 1e-5 + 1e-3 * abs(num), (key, num, g)


# ----------------------------------------------------------------- ch08/train_deepnet.py

@pytest.fixture(scope="session")
def trained_deepnet(book_mnist, tmp_path_factory):
    """train_deepnet.py, brief: 2000 images, 1 epoch; returns the params file."""
    (x_train, t_train), (x_test, t_test) = book_mnist
    np.random.seed(4)
    network = DeepConvNet()
    trainer = Trainer(network, x_train[:2000], t_train[:2000], x_test[:500], t_test[:500],
                      epochs=1, mini_batch_size=100,
                      optimizer='Adam', optimizer_param={'lr': 0.001},
                      evaluate_sample_num_per_epoch=500, verbose=False)
    trainer.train()
    path = tmp_path_factory.mktemp("ch08") / "deep_convnet_params.pkl"
    network.save_params(path)
    return path, trainer


def test_ch08_train_deepnet(trained_deepnet):
    path, trainer = trained_deepnet
    assert path.is_file()
    assert len(trainer.test_acc_list) == 1
    assert np.mean(trainer.train_loss_list[-4:]) < np.mean(trainer.train_loss_list[:4])
    assert trainer.test_acc_list[-1] > 0.3, trainer.test_acc_list


# ----------------------------------------------------------------- ch08/misclassified_mnist.py

def test_ch08_misclassified_mnist(trained_deepnet, book_mnist, tmp_path):
    path, _ = trained_deepnet
    _, (x_test, t_test) = book_mnist
    x_test, t_test = x_test[:1000], t_test[:1000]     # the script's "sampled" lines
    network = DeepConvNet()
    network.load_params(path)
    classified_ids = []
    acc = 0.0
    batch_size = 100
    for i in range(int(x_test.shape[0] / batch_size)):
        tx = x_test[i * batch_size:(i + 1) * batch_size]
        tt = t_test[i * batch_size:(i + 1) * batch_size]
        y = network.predict(tx, train_flg=False)
        y = np.argmax(y, axis=1)
        classified_ids.append(y)
        acc += np.sum(y == tt)
    acc = acc / x_test.shape[0]
    assert acc == network.accuracy(x_test, t_test)
    classified_ids = np.array(classified_ids).flatten()
    max_view = 20
    current_view = 1
    fig = _fresh_figure()
    mis_pairs = {}
    for i, val in enumerate(classified_ids == t_test):
        if not val:
            ax = fig.add_subplot(4, 5, current_view, xticks=[], yticks=[])
            ax.imshow(x_test[i].reshape(28, 28), cmap="gray_r", interpolation='nearest')
            mis_pairs[current_view] = (t_test[i], classified_ids[i])
            current_view += 1
            if current_view > max_view:
                break
    assert len(mis_pairs) == min(max_view, int(np.sum(classified_ids != t_test)))
    assert all(label != guess for label, guess in mis_pairs.values())
    fig.savefig(tmp_path / "mis.png")
    # cconv's own picture of the same mistakes
    misclassified(x_test, t_test, network.predict_labels(x_test), path=tmp_path / "cc.png")
    assert _pixels(tmp_path / "cc.png").std() > 0.05


# ----------------------------------------------------------------- ch08/half_float_network.py

def test_ch08_half_float_network(trained_deepnet, book_mnist):
    path, _ = trained_deepnet
    _, (x_test, t_test) = book_mnist
    network = DeepConvNet()
    network.load_params(path)
    sampled = 1000
    x_test = x_test[:sampled]
    t_test = t_test[:sampled]
    acc64 = network.accuracy(x_test, t_test)
    x_test = x_test.astype(np.float16)
    for param in network.params.values():
        param[...] = param.astype(np.float16)
    acc16 = network.accuracy(x_test, t_test)
    # the parameters now hold float16 values (in their float64 arrays), as in the book
    w = network.params['W3']
    assert w.dtype == np.float64 and np.array_equal(w, w.astype(np.float16))
    assert acc64 > 0.3 and abs(acc16 - acc64) <= 0.01, (acc64, acc16)


# ----------------------------------------------------------------- ch08/awesome_net.py

def test_ch08_awesome_net_built_from_the_book_layers(book_mnist):
    """awesome_net.py is one comment, "Create your awesome net!!": here is one, made only
    of the book's layers in the book's style (an ordered dict of layers, a last layer,
    gradients collected from dW/db), trained briefly with the book's Adam."""
    from collections import OrderedDict

    from cconv.optimizer import Adam
    (x_train, t_train), (x_test, t_test) = book_mnist
    rng = np.random.default_rng(5)
    params = {
        'W1': rng.standard_normal((8, 1, 3, 3)) * np.sqrt(2 / 9), 'b1': np.zeros(8),
        'gamma1': np.ones(8 * 28 * 28), 'beta1': np.zeros(8 * 28 * 28),
        'W2': rng.standard_normal((8 * 14 * 14, 10)) * np.sqrt(2 / 1568), 'b2': np.zeros(10),
    }
    layers = OrderedDict()
    layers['Conv1'] = Convolution(params['W1'], params['b1'], 1, 1)
    layers['BN1'] = BatchNormalization(params['gamma1'], params['beta1'])
    layers['Relu1'] = Relu()
    layers['Pool1'] = Pooling(2, 2, stride=2)
    layers['Affine1'] = Affine(params['W2'], params['b2'])
    last = SoftmaxWithLoss()

    def predict(x, train_flg):
        for name, layer in layers.items():
            x = layer.forward(x, train_flg) if name.startswith('BN') else layer.forward(x)
        return x

    opt = Adam(lr=0.003)
    for step in range(40):
        idx = rng.choice(len(x_train), 100)
        x, t = x_train[idx].astype(np.float64), t_train[idx]
        last.forward(predict(x, True), t)
        dout = last.backward(1)
        for layer in reversed(list(layers.values())):
            dout = layer.backward(dout)
        grads = {'W1': layers['Conv1'].dW, 'b1': layers['Conv1'].db,
                 'gamma1': layers['BN1'].dgamma, 'beta1': layers['BN1'].dbeta,
                 'W2': layers['Affine1'].dW, 'b2': layers['Affine1'].db}
        opt.update(params, grads)
    y = predict(x_test[:500].astype(np.float64), False)
    assert np.mean(np.argmax(y, axis=1) == t_test[:500]) > 0.8


# ----------------------------------------------------------------- the book's helpers

def test_book_numerical_gradient_and_cross_entropy_with_n_1_labels():
    from cconv.functions import cross_entropy_error, softmax
    x = np.array([[0.1, 2.0, -1.0], [1.0, 0.5, 0.2]])
    t_n1 = np.array([[1], [0]])
    t_n = np.array([1, 0])
    y = softmax(x)
    assert cross_entropy_error(y, t_n1) == cross_entropy_error(y, t_n)
    layer = SoftmaxWithLoss()
    loss = layer.forward(x, t_n1)
    dx = layer.backward()
    ref = SoftmaxWithLoss()
    assert loss == ref.forward(x, t_n)
    np.testing.assert_array_equal(dx, ref.backward())
    # numerical_gradient of the loss in x agrees with backward
    g = numerical_gradient(lambda _: SoftmaxWithLoss().forward(x, t_n1), x)
    np.testing.assert_allclose(g, dx, atol=1e-6)


# ----------------------------------------------------------------- the book's calls, one by one

def test_labels_of_shape_n_1_everywhere_and_the_book_accuracy_bug():
    rng = np.random.default_rng(6)
    network = SimpleConvNet(input_dim=(1, 8, 8),
                            conv_param={'filter_num': 4, 'filter_size': 3, 'pad': 1,
                                        'stride': 1},
                            hidden_size=6, weight_init_std=0.3, rng=0)
    x = rng.random((7, 1, 8, 8))
    t = rng.integers(0, 10, 7)
    col = t.reshape(-1, 1)
    assert network.loss(x, col) == network.loss(x, t)
    g1, g2 = network.gradient(x, col), network.gradient(x, t)
    for k in g1:
        np.testing.assert_array_equal(g1[k], g2[k])
    pred = np.argmax(network.predict(x), axis=1)
    right = np.mean(pred == t)
    assert network.accuracy(x, col) == network.accuracy(x, t) == right
    # the book's accuracy: argmax over the single column makes every label 0
    tt = np.argmax(col, axis=1)
    assert not tt.any()
    assert np.mean(pred == tt) == np.mean(pred == 0)
    # one-hot targets still mean what they meant
    assert network.accuracy(x, np.eye(10)[t]) == right


def test_book_cross_entropy_with_n_1_labels_is_right_only_for_one_sample():
    from cconv.functions import cross_entropy_error, softmax
    y = softmax(np.random.default_rng(7).standard_normal((4, 5)))
    t = np.array([0, 3, 1, 4])
    want = -np.mean(np.log(y[np.arange(4), t] + 1e-7))
    assert np.isclose(cross_entropy_error(y, t.reshape(4, 1)), want)
    # the book's indexing with a (4, 1) column pairs every row with every label
    book = -np.sum(np.log(y[np.arange(4), t.reshape(4, 1)] + 1e-7)) / 4
    assert not np.isclose(book, want)
    one = -np.sum(np.log(y[np.arange(1), t[:1].reshape(1, 1)] + 1e-7)) / 1
    assert np.isclose(cross_entropy_error(y[:1], t[:1].reshape(1, 1)), one)
    # what is really wrong is still refused
    with pytest.raises(ValueError, match=r"\(4, 1\)"):
        cross_entropy_error(y, t.reshape(2, 2))
    with pytest.raises(ValueError, match="labels must lie in"):
        cross_entropy_error(y, np.array([[0], [5], [1], [1]]))
    with pytest.raises(TypeError, match="integers"):
        SoftmaxWithLoss().forward(y, t.reshape(4, 1) + 0.5)


@pytest.mark.parametrize("b", [0, 0.25, np.float32(-0.5), np.array(0.75)],
                         ids=["int-0", "float", "np-scalar", "0-d-array"])
def test_convolution_with_a_scalar_bias(b):
    rng = np.random.default_rng(8)
    w = rng.standard_normal((3, 2, 3, 3))
    x = rng.standard_normal((2, 2, 6, 5))
    layer = Convolution(w, b)
    assert layer.b is b                        # kept as given, as the book keeps it
    out = layer.forward(x)
    ref = Convolution(w, np.full(3, float(b))).forward(x)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    layer.backward(dout)
    assert layer.db.shape == (3,) and layer.db.dtype == np.float64
    np.testing.assert_allclose(layer.db, dout.sum(axis=(0, 2, 3)))
    assert layer.dW.shape == w.shape


def test_convolution_bias_that_is_really_wrong_is_refused():
    w = np.ones((3, 1, 2, 2))
    with pytest.raises(ValueError, match="b has 2 elements but W has 3 filters"):
        Convolution(w, np.zeros(2))
    with pytest.raises(TypeError, match="bool"):
        Convolution(w, True)
    with pytest.raises(TypeError, match="b must be a numpy array"):
        Convolution(w, "0")
    with pytest.raises(TypeError, match="b must be a numpy array"):
        Convolution(w, [0, 0, 0])


def _geometries():
    # (H, W, FH, FW, stride, pad): pads as large as the filter and larger
    return [(5, 5, 3, 3, 1, 3), (4, 6, 2, 3, 1, (2, 4)), (3, 3, 1, 1, 2, 1), (1, 1, 3, 3, 1, 5),
            (6, 5, 3, 2, 3, (4, 2)), (2, 7, 2, 2, 2, 3), (8, 8, 5, 5, 1, 6)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geo", _geometries())
def test_im2col_col2im_with_pad_as_large_as_the_filter(geo, dtype):
    from cconv import ops as K
    from cconv.ops.reference import im2col as R
    from cconv.util import col2im, im2col
    H, W, FH, FW, s, pad = geo
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, H, W)).astype(dtype)
    col = im2col(x, FH, FW, s, pad)
    ref = R.im2col(x, FH, FW, s, pad)
    np.testing.assert_array_equal(col, ref)    # a data move: exact
    assert col.dtype == dtype
    ph, pw = pad if isinstance(pad, tuple) else (pad, pad)
    if ph >= FH:                               # the first window row sees only padding
        OW = (W + 2 * pw - FW) // s + 1
        assert not col[:OW].any()
    c = rng.standard_normal(col.shape).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    dx = col2im(c, x.shape, FH, FW, s, pad)
    np.testing.assert_allclose(dx, R.col2im(c, x.shape, FH, FW, s, pad), atol=tol)
    # col2im is im2col's transpose, padding included
    assert np.isclose(np.sum(col * c, dtype=np.float64), np.sum(x * dx, dtype=np.float64),
                      rtol=1e-4)
    # the per-sample (transposed) layout the Convolution layer uses, any thread count
    N, P = 2, col.shape[0] // 2
    colT = K.im2col_t(x, FH, FW, s, pad, n_threads=1)
    np.testing.assert_array_equal(colT, ref.reshape(N, P, -1).transpose(0, 2, 1))
    np.testing.assert_array_equal(K.im2col_t(x, FH, FW, s, pad, n_threads=3), colT)
    cT = np.ascontiguousarray(c.reshape(N, P, -1).transpose(0, 2, 1))
    np.testing.assert_allclose(K.col2im_t(cT, x.shape, FH, FW, s, pad), dx, atol=tol)


@pytest.mark.parametrize("geo", _geometries())
def test_convolution_with_pad_as_large_as_the_filter_gradients(geo):
    from cconv.gradient import numerical_gradient as ng
    H, W, FH, FW, s, pad = geo
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 2, H, W))
    w = rng.standard_normal((3, 2, FH, FW))
    b = rng.uniform(0.05, 0.2, 3)
    layer = Convolution(w, b, s, pad)
    out = layer.forward(x)
    # the book's computation: im2col of the zero-padded input, then a product
    from cconv.ops.reference import im2col as R
    ref = (R.im2col(x, FH, FW, s, pad) @ w.reshape(3, -1).T + b)
    ref = ref.reshape(2, out.shape[2], out.shape[3], 3).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(out, ref, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)

    def f(_):
        return float(np.sum(Convolution(w, b, s, pad).forward(x) * dout))
    np.testing.assert_allclose(dx, ng(f, x), atol=1e-6)
    np.testing.assert_allclose(layer.dW, ng(f, w), atol=1e-6)
    np.testing.assert_allclose(layer.db, ng(f, b), atol=1e-6)


def test_pooling_windows_of_padding_alone_are_still_refused():
    with pytest.raises(ValueError, match="pad 2x2 must be smaller than the pool 2x2"):
        Pooling(2, 2, stride=2, pad=2).forward(np.zeros((1, 1, 4, 4)))
    from cconv.networks.base import conv_out
    with pytest.raises(ValueError, match="pad 2x2 must be smaller than the pool 2x2"):
        conv_out(4, 2, 2, 2, "pool")               # refused when a network is built
    assert conv_out(4, 2, 1, 2) == 7               # a filter's pad 2 is fine
