"""cconv networks as PyTorch modules, and back.

``to_torch(network)`` is an ``nn.Sequential`` whose modules carry the cconv layer names
(``Conv1``, ``Relu1``, ``Pool1``, ``Affine1``, ...), so its ``state_dict()`` keys are
those of :func:`cconv.export.state_dict`. In eval mode it computes ``network.predict``;
in training mode the book's Dropout and BatchNormalization behave as the book's (see
:mod:`cconv.export._torch_modules`). PyTorch is imported when a function is called.
"""
from collections import OrderedDict

import numpy as np

from ..io.npz import atomic_write
from ._optional import require
from .graph import _dtype, describe, load_state_dict, state_dict

__all__ = ["to_torch", "from_torch", "save_torch"]


def _fits_torch_pad(kernel, pad):
    # nn.MaxPool2d / nn.AvgPool2d take at most half the window as padding
    return all(p <= k // 2 for k, p in zip(kernel, pad))


def _pool(nn, cls, pad_value, a, **kw):
    k, s, (ph, pw) = a["kernel"], a["stride"], a["pad"]
    if _fits_torch_pad(k, (ph, pw)):
        return cls(k, stride=s, padding=(ph, pw), **kw)
    # cconv allows any pad < window: pad explicitly (-inf for max, 0 for average)
    return nn.Sequential(nn.ConstantPad2d((pw, pw, ph, ph), pad_value), cls(k, stride=s))


def _module(torch, M, step):
    nn, a = torch.nn, step.attrs
    op = step.op
    if op == "conv":
        FN, C = step.tensors["weight"].shape[:2]
        return nn.Conv2d(C, FN, a["kernel"], stride=a["stride"], padding=a["pad"])
    if op == "linear":
        return nn.Linear(a["in_features"], a["out_features"])
    if op == "flatten":
        return nn.Flatten()
    if op == "maxpool":
        return _pool(nn, nn.MaxPool2d, float("-inf"), a)
    if op == "avgpool":  # cconv divides every window by pool_h * pool_w, padding included
        return _pool(nn, nn.AvgPool2d, 0.0, a, count_include_pad=True)
    if op == "lrn":  # same window [c - size//2, c + (size-1)//2] and alpha/size as cconv
        return nn.LocalResponseNorm(a["size"], alpha=a["alpha"], beta=a["beta"], k=a["k"])
    if op == "batchnorm":
        return M.BookBatchNorm(step.in_shape, a["eps"], a["momentum"])
    if op == "dropout":
        return M.BookDropout(a["dropout_ratio"])
    if op == "normalize":
        return M.Normalize(a["mean"], a["std"])
    return {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[op]()


def _torch():
    torch = require("torch", "cconv.export.to_torch")
    from . import _torch_modules
    return torch, _torch_modules


def to_torch(network, dtype=None):
    """An ``nn.Module`` that computes ``network.predict`` (in eval mode).

    ``dtype`` (float32 or float64) defaults to the network's. The result is an
    ``nn.Sequential`` in eval mode, holding copies of the network's parameters (and
    BatchNormalization statistics): input (N, C, H, W), output the scores (N, K), as
    ``predict``.

    Raises
    ------
    ImportError
        PyTorch is not installed.
    TypeError
        A layer has no exporter.
    """
    torch, M = _torch()
    dt = _dtype(network, dtype)
    tdt = torch.float32 if dt == np.float32 else torch.float64
    steps = describe(network)
    module = torch.nn.Sequential(OrderedDict((s.name, _module(torch, M, s)) for s in steps))
    module = module.to(tdt)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in state_dict(network, dt).items()},
                           strict=True)
    return module.eval()


def from_torch(module, network, cast=False):
    """Copy a module's parameters (e.g. after training in PyTorch) into ``network``.

    ``module.state_dict()`` must have :func:`cconv.export.state_dict`'s names and
    shapes; see :func:`cconv.export.load_state_dict` for ``cast`` and the checks.
    Returns ``network``.
    """
    return load_state_dict(network, module.state_dict(), cast=cast)


def save_torch(network, path, dtype=None):
    """Write ``network`` as a ``torch.export`` program (``torch.export.load`` reads it
    without cconv), with a dynamic batch dimension. Returns ``path``."""
    torch, _ = _torch()
    module = to_torch(network, dtype)
    dt = next(module.parameters()).dtype
    C, H, W = network.config["input_dim"]
    x = torch.zeros((2, C, H, W), dtype=dt)
    prog = torch.export.export(module, (x,), dynamic_shapes=({0: torch.export.Dim("N")},))
    atomic_write(path, lambda f: torch.export.save(prog, f))
    return path
