"""A network as a list of framework-neutral steps: the one place export reads layers.

:func:`describe` turns ``network.layers`` into :class:`Step` s — an operation name
(``'conv'``, ``'linear'``, ``'maxpool'``, ...), its hyperparameters, its tensors under
PyTorch's names and the shape it outputs — by a table from layer class to exporter
(:data:`EXPORTERS`, the one place in cconv that branches on a layer's class). The
exporters read the layers only through the layer protocol (``parameters()``,
``buffers()``, ``set_buffer()``, ``hyperparameters()``, see :mod:`cconv.nn.base`).
Everything format-specific (:mod:`cconv.export.torch`, :mod:`cconv.export.onnx`,
:mod:`cconv.export.safetensors`) reads steps, never layers. :func:`state_dict` and
:func:`load_state_dict` need no framework at all.
"""
from dataclasses import dataclass, field

import numpy as np

from .. import nn
from .._checks import pair
from ..networks.base import resolve_dtype

__all__ = ["Step", "Tensor", "describe", "state_dict", "load_state_dict", "EXPORTERS"]

#: PyTorch's name of each cconv parameter name
TORCH_NAMES = {"W": "weight", "b": "bias", "gamma": "weight", "beta": "bias"}


@dataclass
class Tensor:
    """A layer's parameter or buffer ``name`` seen from PyTorch: under a torch name, in
    torch's shape (an Affine's ``W`` (D, M) is ``nn.Linear.weight`` (M, D))."""

    layer: object
    name: str
    shape: tuple          # the torch-side shape
    transpose: bool = False

    @property
    def is_buffer(self):
        return self.name in self.layer.buffer_names

    def _value(self):
        return (self.layer.buffers() if self.is_buffer else self.layer.parameters())[self.name]

    def get(self, dtype):
        """A C-contiguous copy in the torch layout and ``dtype``."""
        a = self._value()
        if a is None:  # a buffer before the first forward: what that forward would create
            return np.zeros(self.shape, dtype=dtype)
        a = a.T if self.transpose else a
        return np.array(a, dtype=dtype, order="C", copy=True)

    def check(self, value):
        """ValueError if ``value`` (torch layout) cannot be set: a buffer is checked by its
        layer (``check_buffer``: shape, finite, ...), without changing anything."""
        if self.is_buffer:
            self.layer.check_buffer(self.name, value.T if self.transpose else value)

    def set(self, value):
        """Write ``value`` (torch layout) into the layer: parameters in place, so
        ``network.params`` keeps seeing the same arrays; buffers by ``set_buffer``."""
        value = value.T if self.transpose else value
        if self.is_buffer:
            self.layer.set_buffer(self.name, value)
        else:
            np.copyto(self._value(), value, casting="unsafe")


@dataclass
class Step:
    """One operation of the exported graph.

    ``name`` is the cconv layer name (the torch module name, the ONNX node prefix),
    ``op`` the operation, ``attrs`` its hyperparameters, ``tensors`` its arrays by torch
    name (``'weight'``, ``'bias'``, ``'running_mean'``, ...), ``in_shape``/``out_shape``
    the per-sample shapes (C, H, W) or (D,).
    """

    name: str
    op: str
    in_shape: tuple
    out_shape: tuple
    attrs: dict = field(default_factory=dict)
    tensors: dict = field(default_factory=dict)


def _tensors(layer, transpose=(), buffer_shape=None):
    """``{torch name: Tensor}`` of the layer's parameters, then its buffers."""
    out = {}
    for name, a in layer.parameters().items():
        t = name in transpose
        out[TORCH_NAMES.get(name, name)] = Tensor(layer, name, a.T.shape if t else a.shape, t)
    for name, a in layer.buffers().items():
        out[name] = Tensor(layer, name, buffer_shape if a is None else a.shape)
    return out


def _window_out(shape, kh, kw, stride, pad):
    C, H, W = shape
    return (C, (H + 2 * pad[0] - kh) // stride[0] + 1, (W + 2 * pad[1] - kw) // stride[1] + 1)


def _spatial(name, shape):
    if len(shape) != 3:
        raise ValueError(f"layer {name} needs a (C, H, W) input, it gets {shape}")


def _conv(name, layer, shape):
    _spatial(name, shape)
    h = layer.hyperparameters()
    FN, C, FH, FW = layer.parameters()["W"].shape
    stride, pad = pair(h["stride"], "stride"), pair(h["pad"], "pad")
    return [Step(name, "conv", shape, (FN,) + _window_out(shape, FH, FW, stride, pad)[1:],
                 dict(kernel=(FH, FW), stride=stride, pad=pad), _tensors(layer))]


def _pool(op):
    def export(name, layer, shape):
        _spatial(name, shape)
        h = layer.hyperparameters()
        stride, pad = pair(h["stride"], "stride"), pair(h["pad"], "pad")
        k = (int(h["pool_h"]), int(h["pool_w"]))
        return [Step(name, op, shape, _window_out(shape, *k, stride, pad),
                     dict(kernel=k, stride=stride, pad=pad))]
    return export


def _affine(name, layer, shape):
    D, M = layer.parameters()["W"].shape
    steps = []
    if len(shape) != 1:  # the book's Affine flattens (N, C, H, W) in C order
        steps.append(Step(f"{name}_flatten", "flatten", shape, (int(np.prod(shape)),)))
    steps.append(Step(name, "linear", (D,), (M,), dict(in_features=D, out_features=M),
                      _tensors(layer, transpose=("W",))))
    return steps


def _batchnorm(name, layer, shape):
    h = layer.hyperparameters()
    D = layer.parameters()["gamma"].size   # the book normalises each of the C*H*W features
    return [Step(name, "batchnorm", shape, shape,
                 dict(num_features=D, eps=float(h["eps"]), momentum=float(h["momentum"])),
                 _tensors(layer, buffer_shape=(D,)))]


def _pointwise(op, spatial=False):
    def export(name, layer, shape):
        if spatial:
            _spatial(name, shape)
        return [Step(name, op, shape, shape, layer.hyperparameters())]
    return export


# The one table from layer class to exporter. A new layer adds one line here.
EXPORTERS = {
    nn.Convolution: _conv,
    nn.Affine: _affine,
    nn.Pooling: _pool("maxpool"),
    nn.AvgPooling: _pool("avgpool"),
    nn.BatchNormalization: _batchnorm,
    nn.LRN: _pointwise("lrn", spatial=True),
    nn.Relu: _pointwise("relu"),
    nn.Tanh: _pointwise("tanh"),
    nn.Sigmoid: _pointwise("sigmoid"),
    nn.Dropout: _pointwise("dropout"),
    nn.Normalize: _pointwise("normalize"),
}


def _exporter(name, layer):
    for cls in type(layer).__mro__:
        if cls in EXPORTERS:
            return EXPORTERS[cls]
    known = ", ".join(sorted(c.__name__ for c in EXPORTERS))
    raise TypeError(f"cannot export layer {name} ({type(layer).__name__}): cconv.export "
                    f"knows {known}")


def input_shape(network):
    """The per-sample input shape (C, H, W) of ``network`` (from its ``config``)."""
    shape = tuple(int(s) for s in getattr(network, "config", {}).get("input_dim", ()))
    if not shape:
        raise ValueError(f"{type(network).__name__} has no config['input_dim']: export "
                         "needs the input shape")
    return shape


def describe(network):
    """The steps of ``network.predict`` (test mode), in order.

    Raises
    ------
    TypeError
        For a layer that has no exporter (the message lists the ones there are).
    """
    shape = input_shape(network)
    steps = []
    for name, layer in network.layers.items():
        new = _exporter(name, layer)(name, layer, shape)
        steps += new
        shape = new[-1].out_shape
    return steps


def _dtype(network, dtype):
    """``dtype`` (float32 or float64), by default the network's."""
    return resolve_dtype(network.dtype if dtype is None else dtype)


def state_dict(network, dtype=None):
    """The network's tensors under the names ``to_torch(network).state_dict()`` uses.

    Parameters
    ----------
    network : cconv network
    dtype : float32 or float64, optional
        Default: the network's dtype.

    Returns
    -------
    dict of str -> ndarray
        ``'<layer>.weight'``, ``'<layer>.bias'`` (and ``'.running_mean'``,
        ``'.running_var'`` for BatchNormalization), copies in PyTorch's layout: a
        Convolution's ``W`` as it is (FN, C, FH, FW), an Affine's ``W`` transposed to
        (M, D). No PyTorch needed.
    """
    dt = _dtype(network, dtype)
    return {f"{s.name}.{k}": t.get(dt) for s in describe(network) for k, t in s.tensors.items()}


def load_state_dict(network, sd, cast=False):
    """Copy a torch-named ``state_dict`` into ``network`` (the inverse of :func:`state_dict`).

    Values are copied into the existing arrays, so ``network.params`` and any optimizer
    keep seeing the same objects. Everything is checked before anything is written:
    on a mismatch ``network`` is unchanged.

    Parameters
    ----------
    network : cconv network
    sd : mapping of str -> array-like
        E.g. :func:`state_dict`'s output, a torch module's ``state_dict()`` (tensors are
        converted), or :func:`cconv.export.safetensors.read`'s tensors. PyTorch's
        ``num_batches_tracked`` entries are ignored.
    cast : bool, default False
        Accept another float dtype and convert it (else a dtype mismatch is an error).

    Returns
    -------
    network

    Raises
    ------
    ValueError
        Names missing or unexpected, a shape that differs, a non-float or (without
        ``cast``) other dtype, NaN or inf.
    """
    want = {f"{s.name}.{k}": t for s in describe(network) for k, t in s.tensors.items()}
    got = {k: _numpy(v) for k, v in sd.items() if not k.endswith(".num_batches_tracked")}
    missing, unknown = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    if missing or unknown:
        raise ValueError(f"state_dict does not fit this {type(network).__name__}: missing "
                         f"{missing}, unexpected {unknown}")
    dt = network.dtype
    for k, v in got.items():
        if v.shape != tuple(want[k].shape):
            raise ValueError(f"{k} has shape {v.shape}, this {type(network).__name__} "
                             f"needs {tuple(want[k].shape)}")
        if v.dtype.kind != "f" or (v.dtype != dt and not cast):
            raise ValueError(f"{k} has dtype {v.dtype}, this {type(network).__name__} uses "
                             f"{dt}" + ("" if v.dtype.kind != "f" else
                                        " (pass cast=True to convert)"))
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{k} contains NaN or inf")
        want[k].check(v.astype(dt, copy=False))
    for k, v in got.items():
        want[k].set(v.astype(dt, copy=False))
    return network


def _numpy(v):
    if isinstance(v, np.ndarray):
        return v
    if hasattr(v, "detach"):  # a torch tensor, without importing torch
        return v.detach().cpu().numpy()
    return np.asarray(v)
