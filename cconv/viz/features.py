"""Feature maps: a layer's output for one image (book ch. 7, ``apply_filter.py``), and the
convolution of one image with a layer's filters."""
import math

import matplotlib
import numpy as np

from .. import ops
from .._checks import float_array, integer
from ._figure import _Panel, _draw_panels, _finite_array, _range_text, _to_unit


def feature_maps(maps, nx=None, *, scale=None, margin=2, cmap="gray_r", shared_scale=False,
                 title=None, path=None, show=False, dpi=100):
    """Show an activation stack as a grid of images (the book's ``apply_filter.py`` plot).

    Parameters
    ----------
    maps : array_like, shape (C, H, W), (1, C, H, W) or (H, W)
        Feature maps of one image, e.g. ``conv.forward(x[:1])`` or :func:`apply_filters`.
    nx : int, optional
        Maps per row (default ``ceil(sqrt(C))``, a square-ish grid).
    scale : int, optional
        Screen pixels per map pixel at 100 dpi (default: about 96 pixels per tile).
    margin : int
        Gap between tiles in screen pixels.
    cmap : str
        Colormap; ``gray_r`` as in the book (high activations dark).
    shared_scale : bool
        As in :func:`filter_show`: False stretches each map over its own range.
    title, path, show, dpi :
        As in :func:`filter_show`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    m = _finite_array(maps, "maps", (2, 3, 4))
    if m.ndim == 4:
        if m.shape[0] != 1:
            raise ValueError(f"maps of shape {m.shape} hold {m.shape[0]} images; pass one, "
                             "e.g. maps[0] or maps[:1]")
        m = m[0]
    elif m.ndim == 2:
        m = m[None]
    c, h, w = m.shape
    nx = math.ceil(math.sqrt(c)) if nx is None else integer(nx, "nx", low=1)
    scale = max(1, 96 // max(h, w)) if scale is None else integer(scale, "scale", low=1)
    margin = integer(margin, "margin", low=0)
    if cmap not in matplotlib.colormaps:
        raise ValueError(f"unknown colormap {cmap!r}")
    tiles, lo, hi = _to_unit(m, shared_scale)
    cols = min(nx, c)
    panel = _Panel(tiles, cols, cmap=cmap,
                   xlabel=f"maps 0-{c - 1}, {cols} per row" if c > 1 else None)
    if title is None:
        title = f"{c} feature map{'s' if c > 1 else ''} {h}x{w}"
    note = (_range_text(lo, hi, cmap) if shared_scale
            else "each map scaled to its own range")
    return _draw_panels([panel], scale, margin, title, note, dpi, show, path)


def apply_filters(image, W, b=None, stride=1, pad=0):
    """Convolve one image with conv weights, as the book's ``Convolution`` layer does.

    Parameters
    ----------
    image : array_like, shape (H, W) or (C, H, W)
    W : array_like, shape (FN, C, FH, FW)
        Filters; C must match the image's channels (1 for an (H, W) image).
    b : array_like, shape (FN,) or scalar, optional
        Biases (default none).
    stride, pad : int or (int, int)

    Returns
    -------
    maps : ndarray, shape (FN, OH, OW)
        ``OH = (H + 2*pad - FH) // stride + 1``; float32 if image and W are float32,
        else float64. Computed by :func:`cconv.ops.conv_forward`, the Convolution
        layer's op (cross-correlation, like the book).
    """
    x = float_array(image, "image")
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"image must be (H, W) or (C, H, W), got shape {x.shape}")
    w = float_array(W, "W")
    if w.ndim != 4:
        raise ValueError(f"W must be 4-D (FN, C, FH, FW), got shape {w.shape}")
    fn, c, fh, fw = w.shape
    if c != x.shape[0]:
        raise ValueError(f"W has {c} input channel{'s' if c != 1 else ''} but the image has "
                         f"{x.shape[0]} (shape {x.shape})")
    dtype = np.result_type(x.dtype, w.dtype)
    bias = np.zeros(fn, dtype)
    if b is not None:
        given = np.asarray(float_array(b, "b"), dtype=dtype)
        if given.ndim > 1 or given.size not in (1, fn):
            raise ValueError(f"b must be a scalar or have {fn} values (one per filter), "
                             f"got shape {given.shape}")
        bias += given.reshape(-1)
    out, _ = ops.conv_forward(x[None].astype(dtype, copy=False), w.astype(dtype, copy=False),
                              bias, stride, pad, n_threads=1)
    return out[0]
