"""The book's layers, optimizer and network loop in plain NumPy — the benchmark baseline.

A transcription of the book's ``common/layers.py`` (Convolution, Pooling, Relu, Affine,
SoftmaxWithLoss, Dropout), ``common/optimizer.py`` (Adam) and the networks' ``gradient``,
on :mod:`cconv._reference`'s im2col/col2im. Only what ``cconv bench train`` needs; the
dtype of the parameters is kept (the book's code runs in float64). :func:`mirror` builds
the reference twin of a cconv network, with copies of its parameters.
"""
import numpy as np

from . import _reference as R


class Relu:
    def forward(self, x):
        self.mask = (x <= 0)
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout = dout.copy()  # the book mutates dout in place; the copy keeps the cost honest
        dout[self.mask] = 0
        return dout


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.original_x_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        self.x = x
        return np.dot(self.x, self.W) + self.b

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx.reshape(*self.original_x_shape)


class SoftmaxWithLoss:
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


class Dropout:
    def __init__(self, ratio):
        self.ratio = ratio

    def forward(self, x, train_flg=True):
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.ratio
            return x * self.mask
        return x * (1.0 - self.ratio)

    def backward(self, dout):
        return dout * self.mask


class Convolution:
    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad

    def forward(self, x):
        FN, C, FH, FW = self.W.shape
        N, C, H, W = x.shape
        out_h = 1 + int((H + 2 * self.pad - FH) / self.stride)
        out_w = 1 + int((W + 2 * self.pad - FW) / self.stride)
        col = R.im2col(x, FH, FW, self.stride, self.pad)
        col_W = self.W.reshape(FN, -1).T
        out = np.dot(col, col_W) + self.b
        out = out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)
        self.x, self.col, self.col_W = x, col, col_W
        return out

    def backward(self, dout):
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
        self.db = np.sum(dout, axis=0)
        self.dW = np.dot(self.col.T, dout).transpose(1, 0).reshape(FN, C, FH, FW)
        dcol = np.dot(dout, self.col_W.T)
        return R.col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad)


class Pooling:
    def __init__(self, pool_h, pool_w, stride=1, pad=0):
        self.pool_h, self.pool_w, self.stride, self.pad = pool_h, pool_w, stride, pad

    def forward(self, x):
        N, C, H, W = x.shape
        out_h = int(1 + (H - self.pool_h) / self.stride)
        out_w = int(1 + (W - self.pool_w) / self.stride)
        col = R.im2col(x, self.pool_h, self.pool_w, self.stride, self.pad)
        col = col.reshape(-1, self.pool_h * self.pool_w)
        arg_max = np.argmax(col, axis=1)
        out = np.max(col, axis=1)
        out = out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)
        self.x, self.arg_max = x, arg_max
        return out

    def backward(self, dout):
        dout = dout.transpose(0, 2, 3, 1)
        pool_size = self.pool_h * self.pool_w
        dmax = np.zeros((dout.size, pool_size), dtype=dout.dtype)
        dmax[np.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        dmax = dmax.reshape(dout.shape + (pool_size,))
        dcol = dmax.reshape(dmax.shape[0] * dmax.shape[1] * dmax.shape[2], -1)
        return R.col2im(dcol, self.x.shape, self.pool_h, self.pool_w, self.stride, self.pad)


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
            self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
            self.v[key] += (1 - self.beta2) * (grads[key] ** 2 - self.v[key])
            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)


class Network:
    """Layers in order, the book's ``gradient`` loop (forward, backward, collect)."""

    def __init__(self, layers, param_map, params):
        self.layers, self.param_map, self.params = layers, param_map, params
        self.last_layer = SoftmaxWithLoss()

    def predict(self, x, train_flg=False):
        for layer in self.layers:
            x = layer.forward(x, train_flg) if isinstance(layer, Dropout) else layer.forward(x)
        return x

    def gradient(self, x, t):
        self.last_layer.forward(self.predict(x, True), t)
        dout = self.last_layer.backward(1)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return {k: getattr(self.layers[i], "d" + a) for k, (i, a) in self.param_map.items()}


def mirror(net, dtype=np.float64):
    """The book-code twin of a cconv SimpleConvNet/DeepConvNet, with copied parameters."""
    from . import layers as L
    params = {k: v.astype(dtype, copy=True) for k, v in net.params.items()}
    out, index = [], {}
    for name, layer in net.layers.items():
        index[name] = len(out)
        if isinstance(layer, L.Convolution):
            keys = net.layer_param_keys(name)
            out.append(Convolution(params[keys[0]], params[keys[1]], layer.stride, layer.pad))
        elif isinstance(layer, L.Affine):
            keys = net.layer_param_keys(name)
            out.append(Affine(params[keys[0]], params[keys[1]]))
        elif isinstance(layer, L.Relu):
            out.append(Relu())
        elif isinstance(layer, L.Pooling):
            out.append(Pooling(layer.pool_h, layer.pool_w, layer.stride, layer.pad))
        elif isinstance(layer, L.Dropout):
            out.append(Dropout(layer.dropout_ratio))
        else:
            raise TypeError(f"no book equivalent for layer {name} ({type(layer).__name__})")
    pmap = {k: (index[ln], attr) for k, (ln, attr) in net._param_map.items()}
    return Network(out, pmap, params)
