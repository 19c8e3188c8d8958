"""The book's DeepConvNet (ch. 8): six 3x3 convolutions, He init, Dropout, ~99.4% on MNIST.

conv - relu - conv - relu - pool - conv - relu - conv - relu - pool - conv - relu - conv -
relu - pool - affine - relu - dropout - affine - dropout - softmax
"""
import numpy as np

from ..nn import Affine, Convolution, Dropout, Pooling, Relu, SoftmaxWithLoss
from .base import Network, check_input_dim, conv_out, randn, resolve_rng

_DEFAULTS = [
    {'filter_num': 16, 'filter_size': 3, 'pad': 1, 'stride': 1},
    {'filter_num': 16, 'filter_size': 3, 'pad': 1, 'stride': 1},
    {'filter_num': 32, 'filter_size': 3, 'pad': 1, 'stride': 1},
    {'filter_num': 32, 'filter_size': 3, 'pad': 2, 'stride': 1},
    {'filter_num': 64, 'filter_size': 3, 'pad': 1, 'stride': 1},
    {'filter_num': 64, 'filter_size': 3, 'pad': 1, 'stride': 1},
]


class DeepConvNet(Network):
    """The book's deep ConvNet, with its constructor, ``params`` keys and methods.

    Parameters
    ----------
    input_dim : tuple (C, H, W), default (1, 28, 28)
    conv_param_1 ... conv_param_6 : dict
        ``filter_num``, ``filter_size``, ``pad``, ``stride`` of each convolution (the
        book's defaults).
    hidden_size : int, default 50
    output_size : int, default 10
    dtype : float32 or float64, default float64
    rng : int or numpy.random.Generator, optional
        Source of the initial weights; None uses numpy's global RNG like the book.
    dropout_ratio : float, default 0.5

    Raises
    ------
    ValueError
        When built with a geometry the layers cannot run (``input_dim`` that is not
        three positive ints, a stride <= 0, a negative pad, a pad not smaller than the
        filter, an input too small for the convolutions and poolings).

    Notes
    -----
    ``params``: ``W1``...``W6`` convolutions, ``W7``/``W8`` affine layers, ``b1``...``b8``.
    Layers are found by name (``'Conv1'`` ... ``'Conv6'``, ``'Affine1'``, ``'Affine2'``,
    ``'Dropout1'``, ``'Dropout2'``), not by the book's hard-coded indices; the sizes of
    the affine layers are computed from the conv settings (the book hard-codes 64*4*4).
    He initialisation (``sqrt(2 / fan_in)``) as in the book. Dropout draws from numpy's
    global RNG (the Trainer's ``seed`` seeds it).
    """

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param_1=_DEFAULTS[0], conv_param_2=_DEFAULTS[1],
                 conv_param_3=_DEFAULTS[2], conv_param_4=_DEFAULTS[3],
                 conv_param_5=_DEFAULTS[4], conv_param_6=_DEFAULTS[5],
                 hidden_size=50, output_size=10, dtype=np.float64, rng=None,
                 dropout_ratio=0.5):
        super().__init__(dtype)
        convs = [dict(c) for c in (conv_param_1, conv_param_2, conv_param_3, conv_param_4,
                                   conv_param_5, conv_param_6)]
        C, H, W = check_input_dim(input_dim)
        self.config = dict(input_dim=[C, H, W],
                           **{f'conv_param_{i}': c for i, c in enumerate(convs, start=1)},
                           hidden_size=int(hidden_size), output_size=int(output_size),
                           dropout_ratio=float(dropout_ratio))
        g = resolve_rng(rng)
        dt = self.dtype
        pre_channels = C
        for i, cp in enumerate(convs, start=1):
            fn, fs = int(cp['filter_num']), int(cp['filter_size'])
            pad, stride = int(cp['pad']), int(cp['stride'])
            scale = dt.type(np.sqrt(2.0 / (pre_channels * fs * fs)))
            self.add(f'Conv{i}', Convolution(scale * randn(g, (fn, pre_channels, fs, fs), dt),
                                             np.zeros(fn, dtype=dt), stride, pad,
                                             need_dx=(i != 1)), f'W{i}', f'b{i}')
            self.add(f'Relu{i}', Relu())
            H = conv_out(H, fs, stride, pad, where=f"conv_param_{i}")
            W = conv_out(W, fs, stride, pad, where=f"conv_param_{i}")
            pre_channels = fn
            if i % 2 == 0:
                self.add(f'Pool{i // 2}', Pooling(pool_h=2, pool_w=2, stride=2))
                H, W = H // 2, W // 2
                if H == 0 or W == 0:
                    raise ValueError(f"input {tuple(input_dim)} is too small for "
                                     "DeepConvNet's three 2x2 poolings")
        fan_in = pre_channels * H * W
        self.add('Affine1', Affine(dt.type(np.sqrt(2.0 / fan_in)) *
                                   randn(g, (fan_in, hidden_size), dt),
                                   np.zeros(hidden_size, dtype=dt)), 'W7', 'b7')
        self.add('Relu7', Relu())
        self.add('Dropout1', Dropout(dropout_ratio))
        self.add('Affine2', Affine(dt.type(np.sqrt(2.0 / hidden_size)) *
                                   randn(g, (hidden_size, output_size), dt),
                                   np.zeros(output_size, dtype=dt)), 'W8', 'b8')
        self.add('Dropout2', Dropout(dropout_ratio))
        self.last_layer = SoftmaxWithLoss()
