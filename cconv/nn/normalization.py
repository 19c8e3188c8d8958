"""Normalisation layers: BatchNormalization (the book's) and Normalize (LeNet's fixed
input standardisation). LRN, which normalises across channels, has its own family
(:mod:`cconv.nn.lrn`)."""
import numpy as np

from .._checks import dout_array, float_array, forward_done, param_array, real
from ..ops._buffers import grad_like, same_dtype
from ..ops.linear import _flat
from .base import Layer

__all__ = ["BatchNormalization", "Normalize"]


class BatchNormalization(Layer):
    """Batch normalisation (Ioffe & Szegedy 2015), as in the book.

    Parameters
    ----------
    gamma : ndarray, shape (D,)
        Scale, kept by identity. For 4-D input (N, C, H, W), D = C*H*W: like the book,
        the input is flattened to (N, -1) and every element is normalised on its own
        (not per channel).
    beta : ndarray, shape (D,)
        Shift, kept by identity.
    momentum : float, default 0.9
        ``running = momentum * running + (1 - momentum) * batch_statistic``.
    running_mean, running_var : ndarray, shape (D,), optional
        Statistics used at test time; zeros of ``x``'s dtype on the first forward if None.

    Attributes
    ----------
    dgamma, dbeta : ndarray, shape (D,), in ``gamma``/``beta``'s dtype
    xc, xn, std, batch_size, input_shape
        Values the backward pass uses, as in the book.
    training : bool or None
        The mode of the last forward; ``backward`` differentiates that pass (after a
        test-mode forward: ``dx = dout * gamma / sqrt(running_var + eps)``).

    Notes
    -----
    The book's epsilon ``10e-7`` (= 1e-6) is kept, and applied in ``x``'s dtype.
    """

    param_names = ("gamma", "beta")
    buffer_names = ("running_mean", "running_var")
    hyper_names = ("momentum", "eps")
    takes_train_flg = True
    eps = 10e-7

    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None):
        self.gamma = param_array(gamma, "gamma")
        self.beta = param_array(beta, "beta")
        self.momentum = momentum
        self.input_shape = None
        self.running_mean = running_mean
        self.running_var = running_var
        self.batch_size = None
        self.xc = None
        self.xn = None
        self.std = None
        self.dgamma = None
        self.dbeta = None
        self._eval = None

    def check_buffer(self, name, value):
        a = super().check_buffer(name, value)
        if a.shape != (self.gamma.size,):
            raise ValueError(f"{name} has shape {a.shape}, this layer normalises "
                             f"{self.gamma.size} features: it must be ({self.gamma.size},)")
        if name == "running_var" and np.any(a < 0):
            raise ValueError("running_var has negative values")
        return a

    def forward(self, x, train_flg=True):
        """``x`` (N, D) or (N, ...) -> normalised, scaled and shifted, same shape."""
        param_array(self.gamma, "gamma")   # reassignable: checked when used
        param_array(self.beta, "beta")
        x = float_array(x, "x")
        input_shape = x.shape
        if x.ndim != 2:
            if x.ndim == 0:
                raise ValueError("BatchNormalization needs a batch, got a scalar")
            x = _flat(x)
        if x.shape[1] != self.gamma.size or self.beta.shape != self.gamma.shape:
            raise ValueError(f"x of shape {input_shape} has {x.shape[1]} features per "
                             f"sample, but gamma has {self.gamma.size} (beta "
                             f"{self.beta.size})")
        out = self._forward(x, train_flg)
        self.input_shape = input_shape   # only once the forward has worked
        self.training = bool(train_flg)
        return out.reshape(*self.input_shape)

    def _forward(self, x, train_flg):
        dt = x.dtype.type
        D = x.shape[1]
        if self.running_mean is None:
            self.running_mean = np.zeros(D, dtype=x.dtype)
        if self.running_var is None:
            self.running_var = np.zeros(D, dtype=x.dtype)
        for name in self.buffer_names:
            if np.shape(getattr(self, name)) != (D,):
                raise ValueError(f"{name} has shape {np.shape(getattr(self, name))}, "
                                 f"x has {D} features per sample")
            # reassignable too: a float array of real, finite values (variances >= 0)
            value = getattr(self, name)
            if not (isinstance(value, np.ndarray) and value.dtype.kind == "f"):
                setattr(self, name, self.check_buffer(name, value))
            elif name == "running_var" and np.any(value < 0):
                raise ValueError("running_var has negative values")
        eps = dt(real(self.eps, "eps", low=0.0, low_open=True))
        if train_flg:
            m = real(self.momentum, "momentum", low=0.0, high=1.0, high_open=False)
            if x.shape[0] == 0:
                raise ValueError("BatchNormalization cannot train on an empty batch")
            mu = x.mean(axis=0)
            xc = x - mu
            var = np.mean(xc * xc, axis=0)
            std = np.sqrt(var + eps)
            xn = xc / std
            self.batch_size = x.shape[0]
            self.xc = xc
            self.xn = xn
            self.std = std
            rdt = self.running_mean.dtype.type
            self.running_mean = rdt(m) * self.running_mean + rdt(1 - m) * mu
            self.running_var = rdt(m) * self.running_var + rdt(1 - m) * var
        else:
            xc = x - self.running_mean.astype(x.dtype, copy=False)
            std = np.sqrt(self.running_var.astype(x.dtype, copy=False) + eps)
            xn = xc / std
            self._eval = (xn, std)
        return self.gamma * xn + self.beta

    def backward(self, dout):
        """``dout`` (shape of the input) -> ``dx``; sets ``dgamma``, ``dbeta``."""
        if self.training is False:
            xn, std = self._eval
        else:
            xn, std = forward_done(self, self.xn), self.std
        dout = float_array(dout, "dout")
        if dout.shape != self.input_shape:
            raise ValueError(f"dout has shape {dout.shape}, the forward output was "
                             f"{self.input_shape}")
        if dout.ndim != 2:
            dout = _flat(dout)
        if self.training is False:
            dx = self._backward_eval(dout, xn, std)
        else:
            dx = self._backward(dout)
        return dx.reshape(*self.input_shape)

    def _backward_eval(self, dout, xn, std):
        # the test-mode forward is affine in x: dx = dout * gamma / std
        self.dgamma = grad_like(np.sum(xn * dout, axis=0), self.gamma)
        self.dbeta = grad_like(dout.sum(axis=0), self.beta)
        return same_dtype(self.gamma * dout / std, xn.dtype)

    def _backward(self, dout):
        dbeta = dout.sum(axis=0)
        dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        dvar = dstd / (2 * self.std)
        dxc = dxc + (2 * dvar / self.batch_size) * self.xc
        dmu = np.sum(dxc, axis=0)
        dx = dxc - dmu / self.batch_size
        self.dgamma = grad_like(dgamma, self.gamma)
        self.dbeta = grad_like(dbeta, self.beta)
        return same_dtype(dx, self.xc.dtype)


class Normalize(Layer):
    """Fixed standardisation of the input, ``(x - mean) / std``; no parameters.

    LeCun et al. (1998) scaled MNIST so that the background is -0.1 and the ink 1.175,
    "which makes the mean input roughly 0, and the variance roughly 1": with tanh units
    and average pooling this matters (LeNet reaches 98.8% on MNIST in 20 epochs with it,
    98.5% without). As the network's first layer, the rule travels with the parameters
    and every caller (training, ``predict``, the visualisations) feeds raw ``[0, 1]``
    pixels.

    Parameters
    ----------
    mean : float
    std : float, > 0

    Notes
    -----
    ``forward`` keeps the input's dtype (mean and std are converted to it);
    ``backward`` returns ``dout / std``.
    """

    hyper_names = ("mean", "std")

    def __init__(self, mean, std):
        self.mean, self.std = self._check(mean, std)
        self.dtype = None

    @staticmethod
    def _check(mean, std):
        return (real(mean, "Normalize mean"),
                real(std, "Normalize std", low=0.0, low_open=True, high=None))

    def forward(self, x):
        """``x`` (any shape) -> ``(x - mean) / std``, same shape and dtype."""
        mean, std = self._check(self.mean, self.std)
        x = float_array(x, "x")
        t = x.dtype.type
        self.dtype = x.dtype
        self._saved = (x.shape, x.dtype, std)   # backward differentiates this forward
        out = np.subtract(x, t(mean))
        out /= t(std)
        return out

    def backward(self, dout):
        """``dout`` (the output's shape) -> ``dout / std``, with the forward's ``std``."""
        shape, dtype, std = forward_done(self, getattr(self, "_saved", None))
        return dout_array(self, dout, shape, dtype) / dtype.type(std)
