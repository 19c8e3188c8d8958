"""The book's layers, Adam and network loop in plain NumPy: the benchmark's baseline.

A transcription of the book's ``common/layers.py`` (Convolution, Pooling, Relu, Affine,
SoftmaxWithLoss, Dropout), ``common/optimizer.py`` (Adam) and the networks' ``gradient``,
on the NumPy references of :mod:`cconv.ops.reference` (the one transcription of each
algorithm). Each class has the name of the cconv layer it stands for and takes that
layer's parameters and hyperparameters, so :func:`mirror` builds the twin of a cconv
network from the layer protocol alone. The dtype of the parameters is kept (the book's
code runs in float64).
"""
import numpy as np

from ..ops.reference import activation as RA
from ..ops.reference import conv as RC
from ..ops.reference import linear as RL
from ..ops.reference import optimizer as RO
from ..ops.reference import pooling as RP


class _Layer:
    takes_train_flg = False


class Relu(_Layer):
    def forward(self, x):
        self.out = RA.relu(x)
        return self.out

    def backward(self, dout):
        return RA.relu_backward(dout, self.out)   # a new array, as the book's copy would


class Affine(_Layer):
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.original_x_shape = x.shape
        out, self.x = RL.affine_forward(x, self.W, self.b)
        return out

    def backward(self, dout):
        dx, self.dW, self.db = RL.affine_backward(dout, self.x, self.W)
        return dx.reshape(*self.original_x_shape)


class SoftmaxWithLoss(_Layer):
    def forward(self, x, t):
        self.t = t
        x = x - x.max(axis=1, keepdims=True)
        self.y = np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True)
        n = self.y.shape[0]
        return -np.sum(np.log(self.y[np.arange(n), t] + 1e-7)) / n

    def backward(self, dout=1):
        n = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        return dx / n


class Dropout(_Layer):
    takes_train_flg = True

    def __init__(self, dropout_ratio):
        self.ratio = dropout_ratio

    def forward(self, x, train_flg=True):
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.ratio
            return x * self.mask
        return x * (1.0 - self.ratio)

    def backward(self, dout):
        return dout * self.mask


class Convolution(_Layer):
    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad

    def forward(self, x):
        out, self.saved = RC.conv_forward(x, self.W, self.b, self.stride, self.pad)
        self.x, self.col = x, self.saved.col
        self.col_W = self.W.reshape(self.W.shape[0], -1).T
        return out

    def backward(self, dout):
        dx, self.dW, self.db = RC.conv_backward(dout, self.saved, self.W)
        return dx


class Pooling(_Layer):
    def __init__(self, pool_h, pool_w, stride=1, pad=0):
        self.pool_h, self.pool_w, self.stride, self.pad = pool_h, pool_w, stride, pad

    def forward(self, x):
        self.x = x
        out, self._arg = RP.maxpool_forward(x, self.pool_h, self.pool_w, self.stride,
                                            self.pad)
        self.arg_max = self._arg.transpose(0, 2, 3, 1).ravel()   # the book's layout
        return out

    def backward(self, dout):
        return RP.maxpool_backward(dout, self._arg, self.x.shape, self.pool_h,
                                   self.pool_w, self.stride, self.pad)


class Adam:
    """The book's Adam (allocating temporaries as the book does)."""

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr, self.beta1, self.beta2, self.iter = lr, beta1, beta2, 0
        self.m = self.v = None

    def update(self, params, grads):
        if self.m is None:
            self.m = {k: np.zeros_like(v) for k, v in params.items()}
            self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        for key in params:
            RO.adam_update(params[key], grads[key], self.m[key], self.v[key], lr_t,
                           1 - self.beta1, 1 - self.beta2)


class Network:
    """Layers in order, the book's ``gradient`` loop (forward, backward, collect)."""

    def __init__(self, layers, param_map, params):
        self.layers, self.param_map, self.params = layers, param_map, params
        self.last_layer = SoftmaxWithLoss()

    def predict(self, x, train_flg=False):
        for layer in self.layers:
            x = layer.forward(x, train_flg) if layer.takes_train_flg else layer.forward(x)
        return x

    def gradient(self, x, t):
        self.last_layer.forward(self.predict(x, True), t)
        dout = self.last_layer.backward(1)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return {k: getattr(self.layers[i], "d" + a) for k, (i, a) in self.param_map.items()}


#: The book's classes, by the name of the cconv layer each stands for.
TWINS = {c.__name__: c for c in (Relu, Affine, Dropout, Convolution, Pooling)}


def mirror(net, dtype=np.float64):
    """The book-code twin of a cconv network, with copies of its parameters.

    Built from the layer protocol: each layer's twin is the book class of the same name,
    given the layer's parameters and hyperparameters. TypeError for a layer the book's
    ``common/layers.py`` does not have.
    """
    params = {k: v.astype(dtype, copy=True) for k, v in net.params.items()}
    out, index = [], {}
    for name, layer in net.layers.items():
        twin = TWINS.get(type(layer).__name__)
        if twin is None:
            raise TypeError(f"no book equivalent for layer {name} ({type(layer).__name__})")
        index[name] = len(out)
        args = [params[k] for k in net.layer_param_keys(name)]
        out.append(twin(*args, **layer.hyperparameters()))
    pmap = {k: (index[ln], attr) for k, (ln, attr) in net.param_map.items()}
    return Network(out, pmap, params)
