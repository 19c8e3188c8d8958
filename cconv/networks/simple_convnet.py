"""The book's SimpleConvNet (ch. 7): conv - relu - pool - affine - relu - affine - softmax."""
import numpy as np

from ..nn import Affine, Convolution, Pooling, Relu, SoftmaxWithLoss
from .base import Network, check_input_dim, conv_out, randn, resolve_rng


class SimpleConvNet(Network):
    """A simple ConvNet, with the book's constructor, ``params`` keys and methods.

    Parameters
    ----------
    input_dim : tuple (C, H, W), default (1, 28, 28)
    conv_param : dict
        ``filter_num``, ``filter_size``, ``pad``, ``stride`` (book defaults 30, 5, 0, 1).
    hidden_size : int, default 100
    output_size : int, default 10
    weight_init_std : float, default 0.01
    dtype : float32 or float64, default float64 (the book's); float32 is the fast path.
    rng : int or numpy.random.Generator, optional
        Source of the initial weights; None uses numpy's global RNG like the book.
    pool_size : int, default 2
        The 2x2, stride-2 max pooling of the book.

    Raises
    ------
    ValueError
        When built with a geometry the layers cannot run: ``input_dim`` that is not
        three positive ints, a stride or ``pool_size`` <= 0, a negative pad, or a filter
        or pool that does not fit.

    Notes
    -----
    ``params``: ``W1`` (FN, C, FS, FS), ``b1``, ``W2`` (FN*PH*PW, hidden), ``b2``, ``W3``,
    ``b3``. The first Convolution skips its unused ``dx`` (a fix over the book: the
    gradient of the input is never needed for training).
    """

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param={'filter_num': 30, 'filter_size': 5, 'pad': 0, 'stride': 1},
                 hidden_size=100, output_size=10, weight_init_std=0.01,
                 dtype=np.float64, rng=None, pool_size=2):
        super().__init__(dtype)
        conv_param = {'filter_num': 30, 'filter_size': 5, 'pad': 0, 'stride': 1,
                      **dict(conv_param)}
        fn = int(conv_param['filter_num'])
        fs = int(conv_param['filter_size'])
        pad = int(conv_param['pad'])
        stride = int(conv_param['stride'])
        C, H, W = check_input_dim(input_dim)
        oh = conv_out(H, fs, stride, pad, where="conv_param")
        ow = conv_out(W, fs, stride, pad, where="conv_param")
        pool_size = int(pool_size)
        if pool_size <= 0:
            raise ValueError(f"pool_size must be positive, got {pool_size}")
        ph, pw = oh // pool_size, ow // pool_size
        if ph == 0 or pw == 0:
            raise ValueError(f"the {oh}x{ow} conv output is too small for {pool_size}x"
                             f"{pool_size} pooling")
        pool_output_size = fn * ph * pw
        self.config = dict(input_dim=[C, H, W], conv_param=conv_param,
                           hidden_size=int(hidden_size), output_size=int(output_size),
                           weight_init_std=float(weight_init_std), pool_size=int(pool_size))
        g = resolve_rng(rng)
        dt = self.dtype
        std = dt.type(weight_init_std)
        self.add('Conv1', Convolution(std * randn(g, (fn, C, fs, fs), dt), np.zeros(fn, dt),
                                      stride, pad, need_dx=False), 'W1', 'b1')
        self.add('Relu1', Relu())
        self.add('Pool1', Pooling(pool_h=pool_size, pool_w=pool_size, stride=pool_size))
        self.add('Affine1', Affine(std * randn(g, (pool_output_size, hidden_size), dt),
                                   np.zeros(hidden_size, dt)), 'W2', 'b2')
        self.add('Relu2', Relu())
        self.add('Affine2', Affine(std * randn(g, (hidden_size, output_size), dt),
                                   np.zeros(output_size, dt)), 'W3', 'b3')
        self.last_layer = SoftmaxWithLoss()
