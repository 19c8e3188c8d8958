"""Shapes and book-style twins the layer tests share (test_conv, test_pooling,
test_activation, test_linear, test_loss, test_dropout, test_normalization, test_layers)."""
import numpy as np
from hypothesis import strategies as st

from cconv.bench import book as RN
from cconv import layers as L

from op_cases import DTYPES, rand  # noqa: F401  (one definition of each)


GTOL = 1e-6    # float64 backprop vs central differences (observed ~1e-9 .. 1e-12)


GTOL32 = 2e-2  # float32 with h = 1e-2


def distinct(shape, dtype=np.float64, seed=0, gap=0.05):
    """Values at least ``gap`` apart (no argmax tie can flip under a 1e-2 step)."""
    n = int(np.prod(shape))
    v = np.random.default_rng(seed).permutation(n) - n / 2
    return (v * gap).reshape(shape).astype(dtype)


def away_from_zero(shape, dtype=np.float64, seed=0):
    """Normal values pushed away from 0 (no ReLU kink within a finite-difference step)."""
    x = rand(shape, np.float64, seed)
    return (np.sign(x) * (0.1 + np.abs(x))).astype(dtype)


# the book's Convolution and Pooling, as the benchmarks run them (the pooling with its
# output size fixed for pad, and -inf padding: cconv.ops.reference.pooling)
BookConvolution = RN.Convolution


BookPooling = RN.Pooling


# (N, C, H, W, FN, FH, FW, stride, pad)
CONV_GRID = [
    (2, 3, 7, 6, 4, 3, 2, 2, 1),     # stride 2, pad 1, non-square filter and input
    (1, 1, 5, 5, 2, 3, 3, 1, 0),
    (3, 2, 8, 9, 3, 5, 3, 1, 2),
    (2, 2, 6, 6, 1, 1, 1, 2, 0),     # 1x1 filter
    (1, 3, 4, 4, 2, 4, 4, 1, 0),     # filter == input
    (2, 1, 9, 7, 2, 3, 3, 3, 1),
]


# (N, C, H, W, PH, PW, stride, pad)
LAYER_POOL_GRID = [
    (2, 3, 8, 8, 2, 2, 2, 0),        # the book's 2x2/2
    (2, 2, 7, 6, 3, 3, 2, 1),        # overlap + pad
    (1, 3, 5, 7, 3, 2, 1, 1),        # non-square, stride 1
    (3, 1, 9, 9, 3, 3, 3, 0),
    (2, 2, 6, 5, 2, 3, 2, 1),
]


def conv_case(case, dtype, seed=0, **kw):
    N, C, H, W, FN, FH, FW, s, p = case
    x = rand((N, C, H, W), dtype, seed)
    Wt = rand((FN, C, FH, FW), dtype, seed + 1) * 0.5
    b = rand((FN,), dtype, seed + 2)
    return x, Wt, b, L.Convolution(Wt, b, stride=s, pad=p, **kw)


def bn_case(D, dtype=np.float64, seed=0, **kw):
    gamma = (1 + 0.3 * rand((D,), np.float64, seed)).astype(dtype)
    beta = rand((D,), dtype, seed + 1)
    return gamma, beta, L.BatchNormalization(gamma, beta, **kw)


@st.composite
def conv_cases(draw):
    fh, fw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pad = draw(st.integers(0, min(fh, fw) - 1))
    stride = draw(st.integers(1, 3))
    h = draw(st.integers(max(fh - 2 * pad, 1), 6))
    w = draw(st.integers(max(fw - 2 * pad, 1), 6))
    return (draw(st.integers(1, 2)), draw(st.integers(1, 2)), h, w, draw(st.integers(1, 3)),
            fh, fw, stride, pad)


@st.composite
def pool_cases(draw):
    ph, pw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pad = draw(st.integers(0, min(ph, pw) - 1))
    stride = draw(st.integers(1, 3))
    h = draw(st.integers(max(ph - 2 * pad, 1), 7))
    w = draw(st.integers(max(pw - 2 * pad, 1), 7))
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w, ph, pw, stride, pad)


def chain_case(dtype, seed=0):
    rng = np.random.default_rng(seed)
    p = {"W1": (rng.standard_normal((4, 1, 5, 5)) * 0.1).astype(dtype),
         "b1": np.zeros(4, dtype),
         "W2": (rng.standard_normal((4 * 6 * 6, 10)) * 0.05).astype(dtype),
         "b2": np.zeros(10, dtype)}
    layers = [L.Convolution(p["W1"], p["b1"], stride=2, pad=1, need_dx=False), L.Relu(),
              L.Pooling(2, 2, stride=2), L.Affine(p["W2"], p["b2"])]
    return p, layers, L.SoftmaxWithLoss()


def loss_and_grads(p, layers, last, x, t):
    h = x
    for layer in layers:
        h = layer.forward(h)
    loss = last.forward(h, t)
    d = last.backward()
    for layer in reversed(layers):
        d = layer.backward(d)
    c, a = layers[0], layers[3]
    return loss, {"W1": c.dW, "b1": c.db, "W2": a.dW, "b2": a.db}

