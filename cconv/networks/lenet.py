"""Classic LeNet-5 (LeCun et al. 1998) on 28x28 input: two conv-act-pool stages, 3 affine.

normalize - conv 6@5x5 pad 2 - act - pool 2x2/2 - conv 16@5x5 - act - pool 2x2/2 -
affine 400->120 - act - affine 120->84 - act - affine 84->10 - softmax
"""
import numpy as np

from ..nn import (Affine, AvgPooling, Convolution, Normalize, Pooling, Relu, Sigmoid,
                  SoftmaxWithLoss, Tanh)
from .base import Network, check_input_dim, conv_out, randn, resolve_rng

_ACTIVATIONS = {'tanh': Tanh, 'sigmoid': Sigmoid, 'relu': Relu}
_POOLS = {'avg': AvgPooling, 'max': Pooling}
_CONV1 = {'filter_num': 6, 'filter_size': 5, 'pad': 2, 'stride': 1}
_CONV2 = {'filter_num': 16, 'filter_size': 5, 'pad': 0, 'stride': 1}
MNIST_MEAN_STD = (0.1307, 0.3081)   # pixel mean and std of MNIST's 60,000 training images


def _init_scale(weight_init_std, activation, fan_in):
    """Standard deviation of a layer's initial weights."""
    w = weight_init_std
    if isinstance(w, str):
        w = w.lower()
        if w == 'auto':
            w = 'he' if activation == 'relu' else 'xavier'
        if w in ('he', 'relu'):
            return np.sqrt(2.0 / fan_in)
        if w in ('xavier', 'sigmoid', 'tanh'):
            return np.sqrt(1.0 / fan_in)
        raise ValueError(f"weight_init_std must be a positive number, 'auto', 'he' or "
                         f"'xavier', not {weight_init_std!r}")
    w = float(w)
    if not w > 0:
        raise ValueError(f"weight_init_std must be positive, got {w}")
    return w


class LeNet(Network):
    """LeNet-5 (the book's ch. 7.6 "representative CNN"), sized for 28x28 MNIST.

    Parameters
    ----------
    input_dim : tuple (C, H, W), default (1, 28, 28)
    activation : {'tanh', 'sigmoid', 'relu'}, default 'tanh'
        The book describes LeNet with sigmoid; LeCun et al. used a scaled tanh
        (``1.7159 * tanh(2x/3)``). The default is plain tanh: closest to the original,
        and on MNIST with Adam it learns much faster than sigmoid (see
        ``tests/test_lenet_alexnet.py``); pass ``'sigmoid'`` for the book's version.
    pool : {'avg', 'max'}, default 'avg'
        Subsampling: the original averages 2x2 windows (the book: "subsampling"); modern
        CNNs take the maximum.
    conv_param_1, conv_param_2 : dict
        ``filter_num``, ``filter_size``, ``pad``, ``stride``; default C1 6@5x5 with pad 2
        (so a 28x28 image plays the original's 32x32 input) and C3 16@5x5 without pad.
    hidden_sizes : (int, int), default (120, 84)
        The fully connected layers C5 and F6.
    output_size : int, default 10
    weight_init_std : float or {'auto', 'xavier', 'he'}, default 'auto'
        A fixed standard deviation, or ``sqrt(1/fan_in)`` ('xavier') / ``sqrt(2/fan_in)``
        ('he'); 'auto' picks He for relu and Xavier for tanh/sigmoid (as the book's
        ``MultiLayerNet`` does).
    input_norm : (mean, std) or None, default (0.1307, 0.3081)
        A first layer ``Normalize(mean, std)`` that standardises the input, as LeCun et
        al. did (see :class:`cconv.nn.normalization.Normalize`); the default is MNIST's
        training-set pixel mean and standard deviation, for ``[0, 1]`` pixels. None feeds
        the input unchanged.
    dtype : float32 or float64, default float64
    rng : int or numpy.random.Generator, optional
        Source of the initial weights; None uses numpy's global RNG like the book.

    Notes
    -----
    ``params``: ``W1`` (6, C, 5, 5), ``W2`` (16, 6, 5, 5), ``W3`` (400, 120), ``W4``
    (120, 84), ``W5`` (84, 10) and ``b1``...``b5``. Layers (found by name): ``Normalize``
    (unless ``input_norm=None``), ``Conv1``,
    ``<Act>1``, ``Pool1``, ``Conv2``, ``<Act>2``, ``Pool2``, ``Affine1``, ``<Act>3``,
    ``Affine2``, ``<Act>4``, ``Affine3`` where ``<Act>`` is ``Tanh``, ``Sigmoid`` or
    ``Relu``.

    Differences from LeNet-5 (1998), as in most modern re-implementations: C3 connects
    to all six S2 maps (the original's sparse connection table is dropped); S2/S4 are
    plain average (or max) pooling without the trainable coefficient and bias; the
    output is an affine layer with softmax cross-entropy instead of Euclidean RBF units;
    C5 is an affine layer on the flattened 16x5x5 maps (identical to a 5x5 convolution
    on a 5x5 input); the input is standardised with MNIST's mean and standard deviation
    rather than mapped to [-0.1, 1.175] (the same aim: mean 0, variance 1).
    """

    # params files written before input_norm existed describe a LeNet without it
    CONFIG_OF_OLDER_FILES = {'input_norm': None}

    def __init__(self, input_dim=(1, 28, 28), activation='tanh', pool='avg',
                 conv_param_1=_CONV1, conv_param_2=_CONV2, hidden_sizes=(120, 84),
                 output_size=10, weight_init_std='auto', input_norm=MNIST_MEAN_STD,
                 dtype=np.float64, rng=None):
        super().__init__(dtype)
        act = str(activation).lower()
        if act not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, "
                             f"not {activation!r}")
        pool_kind = str(pool).lower()
        if pool_kind not in _POOLS:
            raise ValueError(f"pool must be 'avg' or 'max', not {pool!r}")
        convs = [{**_CONV1, **dict(conv_param_1)}, {**_CONV2, **dict(conv_param_2)}]
        hidden = [int(h) for h in hidden_sizes]
        if len(hidden) != 2 or min(hidden) <= 0:
            raise ValueError(f"hidden_sizes must be two positive ints, got {hidden_sizes!r}")
        C, H, W = check_input_dim(input_dim)
        norm = None
        if input_norm is not None:
            try:
                mean, std = input_norm
            except (TypeError, ValueError):
                raise ValueError(f"input_norm must be (mean, std) or None, not "
                                 f"{input_norm!r}") from None
            norm = Normalize(mean, std)
        self.config = dict(input_dim=[C, H, W], activation=act, pool=pool_kind,
                           conv_param_1=convs[0], conv_param_2=convs[1],
                           hidden_sizes=hidden, output_size=int(output_size),
                           weight_init_std=weight_init_std if isinstance(weight_init_std, str)
                           else float(weight_init_std),
                           input_norm=None if norm is None else [norm.mean, norm.std])
        Act, Pool = _ACTIVATIONS[act], _POOLS[pool_kind]
        aname = Act.__name__
        g = resolve_rng(rng)
        dt = self.dtype
        if norm is not None:
            self.add('Normalize', norm)
        pre = C
        for i, cp in enumerate(convs, start=1):
            fn, fs = int(cp['filter_num']), int(cp['filter_size'])
            pad, stride = int(cp['pad']), int(cp['stride'])
            std = dt.type(_init_scale(weight_init_std, act, pre * fs * fs))
            self.add(f'Conv{i}', Convolution(std * randn(g, (fn, pre, fs, fs), dt),
                                             np.zeros(fn, dtype=dt), stride, pad,
                                             need_dx=(i != 1)), f'W{i}', f'b{i}')
            self.add(f'{aname}{i}', Act())
            self.add(f'Pool{i}', Pool(pool_h=2, pool_w=2, stride=2))
            H = conv_out(H, fs, stride, pad, where=f"conv_param_{i}")
            W = conv_out(W, fs, stride, pad, where=f"conv_param_{i}")
            H, W = conv_out(H, 2, 2, 0), conv_out(W, 2, 2, 0)
            pre = fn
        sizes = [pre * H * W] + hidden + [int(output_size)]
        for j in range(3):
            i = j + 3
            std = dt.type(_init_scale(weight_init_std, act, sizes[j]))
            self.add(f'Affine{j + 1}', Affine(std * randn(g, (sizes[j], sizes[j + 1]), dt),
                                              np.zeros(sizes[j + 1], dtype=dt)),
                     f'W{i}', f'b{i}')
            if j < 2:
                self.add(f'{aname}{i}', Act())
        self.last_layer = SoftmaxWithLoss()
