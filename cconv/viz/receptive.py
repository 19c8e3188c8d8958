"""Receptive fields: which input pixels each output position of a layer can see.

Computed from the layers' geometry alone (filter or pool size, stride, pad), for any layer
of any network whose ``network.layers`` slide windows, act pointwise, or flatten (Affine).
A field is ``size`` input pixels wide, and output position ``i`` starts at input pixel
``start + i * jump``; padding makes ``start`` negative, so fields at the borders reach
outside the image.
"""
from collections import OrderedDict, namedtuple

import numpy as np

from .._checks import pair
from ..nn.base import POINTWISE as _POINTWISE
from ._backprop import eval_forward

__all__ = ["Window", "POINTWISE", "Field", "layer_window", "receptive_fields",
           "receptive_field"]

Window = namedtuple("Window", "kh kw sh sw ph pw")
Window.__doc__ = """A layer's sliding window: size (kh, kw), stride (sh, sw), pad (ph, pw)."""

POINTWISE = Window(*_POINTWISE)   # the Layer protocol's window of a pointwise layer


def layer_window(layer):
    """The :class:`Window` of ``layer``, or None if every output sees the whole input.

    A layer that defines ``window`` (the Layer protocol's geometry hook, every
    :mod:`cconv.nn` layer) is asked; for other layers (a book-style class of the user's)
    the public attributes are read: ``W`` of shape (FN, C, FH, FW) with
    ``stride`` and ``pad`` (a convolution), ``pool_h``/``pool_w`` with ``stride`` and
    ``pad`` (a pooling), a 2-D ``W`` (an affine layer: None). Anything else is taken as
    pointwise; :func:`receptive_fields` checks that against the shapes it sees.
    """
    if hasattr(type(layer), "window"):
        w = layer.window
        return None if w is None else Window(*(int(v) for v in w))
    W = getattr(layer, "W", None)
    if hasattr(layer, "pool_h"):
        kh, kw = int(layer.pool_h), int(layer.pool_w)
    elif isinstance(W, np.ndarray) and W.ndim == 4:
        kh, kw = W.shape[2:]
    elif isinstance(W, np.ndarray) and W.ndim == 2:
        return None
    else:
        return POINTWISE
    sh, sw = pair(layer.stride, "stride")
    ph, pw = pair(layer.pad, "pad")
    return Window(int(kh), int(kw), sh, sw, ph, pw)


class Field:
    """The receptive field of one layer's outputs, in input pixels.

    Attributes
    ----------
    name : str
        The layer.
    size : (int, int)
        Height and width of the input region one output position sees (padding included:
        it can be larger than the image).
    jump : (int, int)
        Input pixels between neighbouring output positions (the product of the strides).
    start : (int, int)
        Input row and column where output position (0, 0)'s field begins (negative where
        padding reaches outside the image).
    out_shape : tuple
        The layer's output per sample: (C, OH, OW), or (M,) after a flattening layer.
    spatial : bool
        False once a layer has mixed every position (Affine): the field is the image.
    input_hw : (int, int)
        The network's input height and width.
    """

    def __init__(self, name, size, jump, start, out_shape, spatial, input_hw):
        self.name, self.size, self.jump, self.start = name, size, jump, start
        self.out_shape, self.spatial, self.input_hw = tuple(out_shape), spatial, input_hw

    @property
    def positions(self):
        """(OH, OW): output positions of the layer ((1, 1) when not spatial)."""
        return tuple(self.out_shape[1:3]) if self.spatial else (1, 1)

    def box(self, i, j):
        """Input region ``(top, left, bottom, right)`` (half-open) of output position (i, j).

        It may reach outside the image (negative, or beyond H and W) where padding
        lies; :meth:`clip` cuts it to the image.
        """
        oh, ow = self.positions
        if not (0 <= i < oh and 0 <= j < ow):
            raise IndexError(f"position ({i}, {j}) is outside {self.name}'s {oh}x{ow} "
                             "outputs")
        top = self.start[0] + i * self.jump[0]
        left = self.start[1] + j * self.jump[1]
        return top, left, top + self.size[0], left + self.size[1]

    def clip(self, i, j):
        """:meth:`box` cut to the image: ``(top, left, bottom, right)``, never empty."""
        top, left, bottom, right = self.box(i, j)
        H, W = self.input_hw
        return max(top, 0), max(left, 0), min(bottom, H), min(right, W)

    def center(self):
        """The output position in the middle of the map, ``(OH // 2, OW // 2)``."""
        oh, ow = self.positions
        return oh // 2, ow // 2

    def __repr__(self):
        return (f"Field({self.name!r}, size={self.size}, jump={self.jump}, "
                f"start={self.start}, out_shape={self.out_shape})")


def _input_dim(network):
    dims = tuple(network.config.get("input_dim", ()))
    if len(dims) != 3:
        raise ValueError(f"{type(network).__name__} has no input_dim (C, H, W) in its "
                         "config; receptive fields need the input size")
    return tuple(int(d) for d in dims)


def receptive_fields(network):
    """The receptive field of every layer of ``network``, in order.

    Parameters
    ----------
    network : cconv network
        Anything with ``layers`` (an ordered dict of name -> layer) and
        ``config['input_dim']`` = (C, H, W).

    Returns
    -------
    OrderedDict of str -> Field

    Raises
    ------
    ValueError
        If a layer's output shape does not follow from its geometry (a layer this
        function does not understand), so that a wrong field is never returned.

    Notes
    -----
    The recurrence, per axis, for a window (k, s, p) after a field (r, j, a):
    ``r' = r + (k - 1) * j``, ``j' = j * s``, ``a' = a - p * j``. The output shapes are
    those of a forward pass of one zero image (in test mode), which also checks the
    geometry.
    """
    C, H, W = _input_dim(network)
    x = np.zeros((1, C, H, W), dtype=getattr(network, "dtype", np.float64))
    size, jump, start, spatial = [1, 1], [1, 1], [0, 0], True
    fields = OrderedDict()
    shape = (C, H, W)
    for name, layer, out in eval_forward(network, x):
        new = out.shape[1:]
        win = layer_window(layer) if spatial else None
        if spatial and win is not None:
            for ax, (k, s, p) in enumerate(((win.kh, win.sh, win.ph),
                                            (win.kw, win.sw, win.pw))):
                expect = (shape[1 + ax] + 2 * p - k) // s + 1
                if len(new) != 3 or new[1 + ax] != expect:
                    raise ValueError(f"layer {name!r} turns {shape} into {new}, but its "
                                     f"geometry {tuple(win)} predicts {expect} positions "
                                     f"on axis {ax}; cannot tell its receptive field")
                size[ax] += (k - 1) * jump[ax]
                start[ax] -= p * jump[ax]
                jump[ax] *= s
        elif spatial:       # mixes every position: from here on the field is the image
            spatial = False
            size, jump, start = [H, W], [H, W], [0, 0]
        fields[name] = Field(name, tuple(size), tuple(jump), tuple(start), new, spatial,
                             (H, W))
        shape = new
    return fields


def receptive_field(network, layer):
    """The :class:`Field` of one layer (by name) of ``network``."""
    fields = receptive_fields(network)
    if layer not in fields:
        raise KeyError(f"{type(network).__name__} has no layer {layer!r}; its layers are "
                       f"{', '.join(fields)}")
    return fields[layer]
