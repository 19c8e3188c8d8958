"""Classic AlexNet (Krizhevsky et al. 2012), scaled to 28x28: 5 conv, LRN, 3 max-pool, 3 affine.

conv1 - relu - LRN - pool - conv2 - relu - LRN - pool - conv3 - relu - conv4 - relu -
conv5 - relu - pool - affine - relu - dropout - affine - relu - dropout - affine - softmax
"""
import numpy as np

from ..nn import LRN, Affine, Convolution, Dropout, Pooling, Relu, SoftmaxWithLoss
from .base import Network, check_input_dim, conv_out, randn, resolve_rng

_LRN = {'size': 5, 'alpha': 1e-4, 'beta': 0.75, 'k': 2.0}
_POOL = {'pool_size': 3, 'stride': 2, 'pad': 1}


class AlexNet(Network):
    """AlexNet's design (the book's ch. 8.2 example) at MNIST scale, trainable on a CPU.

    Parameters
    ----------
    input_dim : tuple (C, H, W), default (1, 28, 28)
    channels : 5 ints, default (32, 64, 96, 96, 64)
        Filters of conv1...conv5.
    filter_size : int, default 3
        Every convolution is ``filter_size x filter_size``, stride 1, "same" padding
        (``filter_size // 2``).
    hidden_sizes : (int, int), default (256, 256)
        The two dropout-regularised fully connected layers.
    output_size : int, default 10
    lrn_param : dict, default ``{'size': 5, 'alpha': 1e-4, 'beta': 0.75, 'k': 2.0}``
        The paper's values, in PyTorch's convention (the sum of squares is multiplied by
        ``alpha / size``; see :class:`cconv.nn.lrn.LRN`).
    pool_param : dict, default ``{'pool_size': 3, 'stride': 2, 'pad': 1}``
        The paper's overlapping 3x3 stride-2 max pooling; pad 1 makes 28 -> 14 -> 7 -> 4.
    dropout_ratio : float, default 0.5
    dtype : float32 or float64, default float64
    rng : int or numpy.random.Generator, optional
        Source of the initial weights; None uses numpy's global RNG like the book.
        Dropout draws from numpy's global RNG (the Trainer's ``seed`` seeds it).

    Notes
    -----
    ``params``: ``W1``...``W5`` (convolutions), ``W6``...``W8`` (affine) and
    ``b1``...``b8``. Layers (found by name): ``Conv1``, ``Relu1``, ``LRN1``, ``Pool1``,
    ``Conv2``, ``Relu2``, ``LRN2``, ``Pool2``, ``Conv3``, ``Relu3``, ``Conv4``, ``Relu4``,
    ``Conv5``, ``Relu5``, ``Pool3``, ``Affine1``, ``Relu6``, ``Dropout1``, ``Affine2``,
    ``Relu7``, ``Dropout2``, ``Affine3``. Default size: 0.54 M parameters (the original
    has about 60 M).

    Kept from the paper: five convolutions with ReLU, LRN after the first two (before
    their pooling), overlapping 3x3/2 max pooling after conv1, conv2 and conv5, two
    fully connected hidden layers with dropout 0.5, softmax output.

    Changed, and why:

    * Input 28x28x1 instead of 224x224x3 (MNIST / Fashion-MNIST).
    * conv1 is 3x3 stride 1 instead of 11x11 stride 4, conv2 3x3 instead of 5x5 (the
      others are 3x3 in the paper too): a 28x28 image has no room for an 11x11/4
      filter, which would leave a 5x5 map before the first pooling.
    * Channels 32-64-96-96-64 instead of 96-256-384-384-256, fully connected 256-256
      instead of 4096-4096, 10 outputs instead of 1000: 13.7 M multiply-adds per image
      instead of about 0.7 G, and 0.54 M parameters instead of 60 M, so an epoch of
      MNIST takes minutes on two CPU cores; ten classes of small grey images do not
      need the original's capacity.
    * No split across two GPUs (the paper's conv2, conv4, conv5 only see the half of
      the previous layer's maps on their own GPU); here every layer sees all maps.
    * He initialisation (``sqrt(2 / fan_in)``) and zero biases instead of N(0, 0.01)
      with biases of 1: trains reliably with Adam from the first step.
    * Dropout follows the book's ``Dropout`` (no rescaling in training, ``x * (1 -
      ratio)`` at test time); the paper's test-time rule is the same.
    """

    def __init__(self, input_dim=(1, 28, 28), channels=(32, 64, 96, 96, 64), filter_size=3,
                 hidden_sizes=(256, 256), output_size=10, lrn_param=_LRN,
                 pool_param=_POOL, dropout_ratio=0.5, dtype=np.float64, rng=None):
        super().__init__(dtype)
        chans = [int(c) for c in channels]
        if len(chans) != 5 or min(chans) <= 0:
            raise ValueError(f"channels must be five positive ints, got {channels!r}")
        hidden = [int(h) for h in hidden_sizes]
        if len(hidden) != 2 or min(hidden) <= 0:
            raise ValueError(f"hidden_sizes must be two positive ints, got {hidden_sizes!r}")
        fs = int(filter_size)
        if fs <= 0:
            raise ValueError(f"filter_size must be positive, got {fs}")
        lrn = {**_LRN, **dict(lrn_param)}
        pool = {**_POOL, **dict(pool_param)}
        ps, pst, ppad = int(pool['pool_size']), int(pool['stride']), int(pool['pad'])
        if ps <= 0 or pst <= 0 or not 0 <= ppad < ps:
            raise ValueError(f"pool_param needs pool_size > 0, stride > 0 and 0 <= pad < "
                             f"pool_size, got {pool}")
        C, H, W = check_input_dim(input_dim)
        self.config = dict(input_dim=[C, H, W], channels=chans, filter_size=fs,
                           hidden_sizes=hidden, output_size=int(output_size),
                           lrn_param=lrn, pool_param=pool,
                           dropout_ratio=float(dropout_ratio))
        g = resolve_rng(rng)
        dt = self.dtype
        pad = fs // 2
        pre = C
        npool = 0
        for i, fn in enumerate(chans, start=1):
            scale = dt.type(np.sqrt(2.0 / (pre * fs * fs)))
            self.add(f'Conv{i}', Convolution(scale * randn(g, (fn, pre, fs, fs), dt),
                                             np.zeros(fn, dtype=dt), 1, pad,
                                             need_dx=(i != 1)), f'W{i}', f'b{i}')
            self.add(f'Relu{i}', Relu())
            H, W = conv_out(H, fs, 1, pad), conv_out(W, fs, 1, pad)
            if i <= 2:
                self.add(f'LRN{i}', LRN(**lrn))
            if i in (1, 2, 5):
                npool += 1
                self.add(f'Pool{npool}', Pooling(pool_h=ps, pool_w=ps, stride=pst, pad=ppad))
                try:
                    H, W = (conv_out(H, ps, pst, ppad, "pool"),
                            conv_out(W, ps, pst, ppad, "pool"))
                except ValueError:
                    raise ValueError(f"input {tuple(input_dim)} is too small for "
                                     f"AlexNet's three {ps}x{ps} poolings") from None
            pre = fn
        sizes = [pre * H * W] + hidden + [int(output_size)]
        for j in range(3):
            i = j + 6
            W = dt.type(np.sqrt(2.0 / sizes[j])) * randn(g, (sizes[j], sizes[j + 1]), dt)
            self.add(f'Affine{j + 1}', Affine(W, np.zeros(sizes[j + 1], dtype=dt)),
                     f'W{i}', f'b{i}')
            if j < 2:
                self.add(f'Relu{i}', Relu())
                self.add(f'Dropout{j + 1}', Dropout(dropout_ratio))
        self.last_layer = SoftmaxWithLoss()
