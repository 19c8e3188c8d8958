"""PyTorch modules for the book's layers that ``torch.nn`` has no exact twin of.

Imported only by :mod:`cconv.export.torch`, after it has checked that PyTorch is
installed.
"""
import torch
from torch import nn


class BookDropout(nn.Module):
    """The book's Dropout: ``x * mask`` in training (no rescaling), ``x * (1 - ratio)`` in
    eval mode — not ``nn.Dropout``, which rescales in training and is the identity in
    eval mode."""

    def __init__(self, dropout_ratio):
        super().__init__()
        self.dropout_ratio = float(dropout_ratio)

    def forward(self, x):
        if self.training:
            return x * (torch.rand_like(x) > self.dropout_ratio).to(x.dtype)
        return x * (1.0 - self.dropout_ratio)

    def extra_repr(self):
        return f"dropout_ratio={self.dropout_ratio}"


class BookBatchNorm(nn.Module):
    """The book's BatchNormalization: every feature of the flattened (N, C*H*W) input
    normalised on its own; training updates ``running = momentum * running + (1 -
    momentum) * batch`` with the biased batch variance, as the book does."""

    def __init__(self, shape, eps, momentum):
        super().__init__()
        self.shape = tuple(shape)
        d = 1
        for s in self.shape:
            d *= s
        self.eps, self.momentum = float(eps), float(momentum)
        self.weight = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d))
        self.register_buffer("running_mean", torch.zeros(d))
        self.register_buffer("running_var", torch.zeros(d))

    def forward(self, x):
        n = x.shape[0]
        x2 = x.reshape(n, -1)
        if self.training:
            mu = x2.mean(dim=0)
            var = ((x2 - mu) ** 2).mean(dim=0)
            with torch.no_grad():
                m = self.momentum
                self.running_mean.mul_(m).add_((1 - m) * mu)
                self.running_var.mul_(m).add_((1 - m) * var)
        else:
            mu, var = self.running_mean, self.running_var
        out = (x2 - mu) / torch.sqrt(var + self.eps) * self.weight + self.bias
        return out.reshape((n,) + self.shape)

    def extra_repr(self):
        return f"{self.weight.shape[0]}, eps={self.eps}, momentum={self.momentum}"


class Normalize(nn.Module):
    """``(x - mean) / std`` with fixed numbers (LeNet's input standardisation)."""

    def __init__(self, mean, std):
        super().__init__()
        self.mean, self.std = float(mean), float(std)

    def forward(self, x):
        return (x - self.mean) / self.std

    def extra_repr(self):
        return f"mean={self.mean}, std={self.std}"
