"""The book's chapter 7-8 pictures: filters, feature maps, learning curves, mistakes.

Every drawing function returns a :class:`matplotlib.figure.Figure` and takes ``path=None``
(save as PNG, SVG or PDF, chosen by the extension) and ``show=False``. Figures are drawn
on matplotlib's object-oriented API with an Agg canvas, so nothing here imports
``matplotlib.pyplot`` or changes the backend of a program that has its own; only
``show=True`` goes through pyplot, and only where a window (or a notebook) can show it.
"""
import json
import math
import numbers
import os
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.textpath import TextPath

from . import _checks, ops
from ._figure import InlineFigure
from .util import smooth_curve

__all__ = [
    "filter_show", "filters_before_after", "feature_maps", "apply_filters", "load_image",
    "learning_curves", "misclassified", "confusion_matrix", "plot_confusion_matrix",
]

# Layout is planned in pixels at 100 dpi; ``dpi=`` then scales the whole figure.
_BASE_DPI = 100
_MAX_MOSAIC_PX = 2400        # longest side of a tile grid before ``scale`` is reduced
_GAP_COLOR = "#c9d3e0"       # between tiles: not a gray, so it never looks like a value
_SAVE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
_NON_INTERACTIVE = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}
_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, what PIL's convert("L") uses
_TRAIN_COLOR, _TEST_COLOR = "#1f77b4", "#ff7f0e"
_RAW_LOSS_COLOR, _SMOOTH_LOSS_COLOR = "#a6c8e6", "#1f4e9c"


# --------------------------------------------------------------------------- figures

def _has_display():
    """False on X11/Wayland systems (Linux, BSD) when neither DISPLAY nor WAYLAND_DISPLAY is set."""
    if sys.platform in ("darwin", "win32", "cygwin") or os.name != "posix":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _showable_pyplot():
    """pyplot when ``show=True`` can really put the figure in front of someone, else None."""
    import matplotlib.pyplot as plt  # only reached with show=True

    backend = plt.get_backend()
    name = backend.lower()
    if name in _NON_INTERACTIVE:
        reason = f"the matplotlib backend is {backend!r}, which cannot open windows"
    elif not _has_display() and not name.startswith("module://") and name not in (
            "nbagg", "webagg", "notebook", "ipympl", "widget"):
        reason = "there is no display (DISPLAY and WAYLAND_DISPLAY are unset)"
    else:
        return plt
    frame, level = sys._getframe(0), 1
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame, level = frame.f_back, level + 1  # point the warning at the caller's line
    warnings.warn(f"show=True ignored: {reason}; pass path=... to save the figure instead",
                  UserWarning, stacklevel=level)
    return None


def _new_figure(figsize, dpi, show, **kwargs):
    dpi = _positive_number(dpi, "dpi")
    plt = _showable_pyplot() if show else None
    if plt is not None:
        fig = plt.figure(figsize=figsize, dpi=dpi, **kwargs)
    else:
        fig = InlineFigure(figsize=figsize, dpi=dpi, **kwargs)  # shows itself in Jupyter
        FigureCanvasAgg(fig)
    fig._cconv_pyplot = plt
    return fig


def _finish(fig, path):
    plt = fig.__dict__.pop("_cconv_pyplot", None)
    if path is not None:
        _save(fig, path)
    if plt is not None:
        plt.show()
    return fig


def _save(fig, path):
    try:
        p = Path(os.fspath(path))
    except TypeError:
        raise TypeError(f"path must be a str or os.PathLike, not {type(path).__name__}") from None
    fmt = _SAVE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        got = f"extension {p.suffix!r}" if p.suffix else "no extension"
        raise ValueError(f"cannot save a figure to '{p}': it has {got}; use "
                         f"{', '.join(_SAVE_FORMATS)}")
    parent = p.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _save_error(p, exc) from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(13, f"cannot save the figure to '{p}': folder '{parent}' "
                                  "is not writable")
    try:
        fig.savefig(p, format=fmt, dpi=fig.dpi, facecolor="white")
    except OSError as exc:
        raise _save_error(p, exc) from None


def _save_error(p, exc):
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        blocker = next((a for a in [p.parent, *p.parent.parents] if a.is_file()), p.parent)
        why = f"'{blocker}' is a file, not a folder"
    elif isinstance(exc, PermissionError) or exc.errno == 30:  # 30: EROFS
        why = f"folder '{p.parent}' is not writable ({exc.strerror})"
    else:
        why = exc.strerror or str(exc)
    return type(exc)(exc.errno, f"cannot save the figure to '{p}': {why}")


# --------------------------------------------------------------------------- checks

def _positive_int(v, name, minimum=1):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an int, not {type(v).__name__} ({v!r})")
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return int(v)


def _positive_number(v, name):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) or not v > 0:
        raise ValueError(f"{name} must be a positive number, got {v!r}")
    return float(v)


def _finite_array(a, name, ndims):
    a = np.asarray(_checks.float_array(a, name), dtype=np.float64)
    if a.ndim not in ndims:
        want = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"{name} must be {want}, got {a.ndim}-D with shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")
    bad = np.count_nonzero(~np.isfinite(a))
    if bad:
        raise ValueError(f"{name} has {bad} non-finite values out of {a.size} "
                         "(did training diverge?)")
    return a


def _labels(a, name, n=None):
    """Class labels (N,) from labels, one-hot rows or scores (N, K)."""
    a = np.asarray(a)
    if a.ndim == 2:
        a = np.argmax(a, axis=1)
    if a.ndim != 1:
        raise ValueError(f"{name} must be labels (N,) or one-hot/scores (N, K), "
                         f"got shape {a.shape}")
    if a.dtype.kind == "f":
        if not np.all(a == np.round(a)):
            raise ValueError(f"{name} holds non-integer labels")
    elif a.dtype.kind not in "iub":
        raise TypeError(f"{name} must hold integer labels, not dtype {a.dtype}")
    a = a.astype(np.int64)
    if n is not None and len(a) != n:
        raise ValueError(f"{name} has {len(a)} labels but there are {n} samples")
    return a


# --------------------------------------------------------------------------- tile grids

def _tile_range(tiles, shared):
    """Per-tile (or one shared) [lo, hi] of tiles (K, h, w); a flat tile gets a unit range."""
    if shared:
        lo = np.full(len(tiles), tiles.min())
        hi = np.full(len(tiles), tiles.max())
    else:
        lo = tiles.min(axis=(1, 2))
        hi = tiles.max(axis=(1, 2))
    flat = hi <= lo
    lo = np.where(flat, lo - 0.5, lo)
    hi = np.where(flat, hi + 0.5, hi)
    return lo, hi


def _to_unit(tiles, shared):
    """Tiles mapped to [0, 1], with the overall data min and max (for the caption)."""
    lo, hi = _tile_range(tiles, shared)
    return (tiles - lo[:, None, None]) / (hi - lo)[:, None, None], tiles.min(), tiles.max()


def _range_text(lo, hi, cmap):
    ends = {"gray_r": ("white", "black"), "gray": ("black", "white")}.get(cmap)
    if ends:
        return f"one scale: {ends[0]} {lo:.3g}, {ends[1]} {hi:.3g}"
    return f"one scale: {lo:.3g} to {hi:.3g}"


def _mosaic(tiles, ncols, scale, margin, nrows=None):
    """Tiles (K, h, w) in [0, 1] -> one image, each pixel a scale x scale block, NaN gaps."""
    k, h, w = tiles.shape
    nrows = nrows or -(-k // ncols)
    th, tw = h * scale, w * scale
    out = np.full((nrows * th + (nrows + 1) * margin, ncols * tw + (ncols + 1) * margin),
                  np.nan)
    big = np.repeat(np.repeat(tiles, scale, axis=1), scale, axis=2)
    for i in range(k):
        r, c = divmod(i, ncols)
        y, x = margin + r * (th + margin), margin + c * (tw + margin)
        out[y:y + th, x:x + tw] = big[i]
    return out


def _fit_scale(scale, margin, rows_cols_hw):
    """Largest scale <= ``scale`` that keeps every grid side under _MAX_MOSAIC_PX."""
    for n, size in rows_cols_hw:
        while scale > 1 and n * size * scale + (n + 1) * margin > _MAX_MOSAIC_PX:
            scale -= 1
    return scale


class _Panel:
    """One tile grid of a figure: the tiles, how they are laid out, and its labels."""

    def __init__(self, tiles, ncols, nrows=None, *, cmap="gray_r", title=None, xlabel=None,
                 ylabel=None, xticks=None, yticks=None):
        self.tiles, self.ncols = tiles, ncols
        self.nrows = nrows or -(-len(tiles) // ncols)
        self.cmap, self.title, self.xlabel, self.ylabel = cmap, title, xlabel, ylabel
        self.xticks, self.yticks = xticks, yticks


def _text_px(text, points):
    """Width in pixels (at 100 dpi) of the longest line of ``text`` at ``points`` size."""
    lines = [ln for ln in str(text).split("\n") if ln.strip()]
    if not lines:
        return 0.0
    return max(TextPath((0, 0), ln, size=points).get_extents().width
               for ln in lines) * _BASE_DPI / 72.0


def _draw_panels(panels, scale, margin, title, note, dpi, show, path):
    """Lay tile grids side by side at ``scale`` screen pixels per data pixel (at 100 dpi).

    ``title`` goes on top in 12 pt, ``note`` under it in 9 pt gray. Each grid sits centred
    in a slot wide enough for its own title and x label.
    """
    h, w = panels[0].tiles.shape[1:]
    scale = _fit_scale(scale, margin, [(p.nrows, h) for p in panels]
                       + [(p.ncols, w) for p in panels])
    mosaics = [_mosaic(p.tiles, p.ncols, scale, margin, p.nrows) for p in panels]
    # Pixel budget around each grid: tick labels, axis labels, titles.
    lefts = [(30 if p.yticks else 0) + (20 if p.ylabel else 0) for p in panels]
    slots = [max(m.shape[1], _text_px(p.title or "", 10) + 10,
                 _text_px(p.xlabel or "", 9) + 10) for p, m in zip(panels, mosaics)]
    bottom = 10 + (18 if any(p.xticks for p in panels) else 0) \
        + (22 if any(p.xlabel for p in panels) else 0)
    top = 10 + (28 if title else 0) + (18 if note else 0) \
        + (22 if any(p.title for p in panels) else 0)
    pad, between = 14, 24
    fig_h = top + max(m.shape[0] for m in mosaics) + bottom
    fig_w = 2 * pad + sum(lefts) + sum(slots) + between * (len(panels) - 1)
    need = max(_text_px(title or "", 12), _text_px(note or "", 9)) + 2 * pad
    extra = max(0.0, need - fig_w)
    fig_w += extra
    fig = _new_figure((fig_w / _BASE_DPI, fig_h / _BASE_DPI), dpi, show)
    x = pad + extra / 2
    for p, m, left, slot in zip(panels, mosaics, lefts, slots):
        mh, mw = m.shape
        x0 = x + left + (slot - mw) / 2
        x += left + slot + between
        ax = fig.add_axes([x0 / fig_w, (fig_h - top - mh) / fig_h, mw / fig_w, mh / fig_h])
        cmap = matplotlib.colormaps[p.cmap].with_extremes(bad=_GAP_COLOR)
        ax.imshow(m, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest",
                  resample=False, aspect="equal")
        for side in ax.spines.values():
            side.set_visible(False)
        step_y, step_x = h * scale + margin, w * scale + margin
        if p.xticks:
            ax.set_xticks(_centers(p.ncols, step_x, margin), _thin(p.xticks), fontsize=7)
            ax.tick_params(axis="x", length=0, pad=2)
        else:
            ax.set_xticks([])
        if p.yticks:
            ax.set_yticks(_centers(p.nrows, step_y, margin), _thin(p.yticks), fontsize=7)
            ax.tick_params(axis="y", length=0, pad=2)
        else:
            ax.set_yticks([])
        if p.title:
            ax.set_title(p.title, fontsize=10, pad=5)
        if p.xlabel:
            ax.set_xlabel(p.xlabel, fontsize=9, labelpad=3)
        if p.ylabel:
            ax.set_ylabel(p.ylabel, fontsize=9, labelpad=3)
    if title:
        fig.suptitle(title, fontsize=12, y=1 - 8 / fig_h, va="top")
    if note:
        fig.text(0.5, 1 - (10 + (28 if title else 0)) / fig_h, note, fontsize=9,
                 color="0.35", ha="center", va="top")
    return _finish(fig, path)


def _centers(n, step, margin):
    """Data coordinates of the middles of n tiles spaced ``step`` apart."""
    return [margin + i * step + (step - margin) / 2 - 0.5 for i in range(n)]


def _thin(labels, most=32):
    """Keep at most ``most`` tick labels readable by blanking the others."""
    step = max(1, math.ceil(len(labels) / most))
    return [str(s) if i % step == 0 else "" for i, s in enumerate(labels)]


def _filter_panel(filters, nx, channel, shared_scale, name):
    f = _finite_array(filters, name, (4,))
    fn, c, fh, fw = f.shape
    nx = _positive_int(nx, "nx")
    if channel is None and c > 1:
        tiles, lo, hi = _to_unit(f.reshape(fn * c, fh, fw), shared_scale)
        panel = _Panel(tiles, c, fn, xlabel="input channel", ylabel="filter",
                       xticks=list(range(c)), yticks=list(range(fn)))
        what = f"{c} channels, one row per filter"
    else:
        if channel is None:
            plane, what = f[:, 0], "1 channel"
        elif isinstance(channel, str):
            if channel != "mean":
                raise ValueError(f"channel must be None, an int or 'mean', not {channel!r}")
            plane, what = f.mean(axis=1), f"mean of {c} channels"
        else:
            k = _positive_int(channel, "channel", minimum=-c)
            if k >= c:
                raise ValueError(f"channel {k} does not exist: the filters have {c} "
                                 f"input channel{'s' if c > 1 else ''} (0..{c - 1})")
            plane, what = f[:, k], f"channel {k % c} of {c}"
        tiles, lo, hi = _to_unit(plane, shared_scale)
        cols = min(nx, fn)
        panel = _Panel(tiles, cols, xlabel=f"filters 0-{fn - 1}, {cols} per row"
                       if fn > 1 else None)
    if shared_scale:
        scale_txt = _range_text(lo, hi, "gray_r")
    else:
        scale_txt = "each tile scaled to its own range"
    panel.summary = f"{fn} filters {fh}x{fw}, {what}"
    panel.scale_txt = scale_txt
    return panel


def filter_show(filters, nx=8, margin=3, scale=10, *, channel=None, shared_scale=False,
                title=None, path=None, show=False, dpi=100):
    """Show convolution filters as a grid of gray tiles (the book's ``filter_show``).

    Parameters
    ----------
    filters : array_like, shape (FN, C, FH, FW)
        Conv weights, e.g. ``network.params['W1']``.
    nx : int
        Tiles per row for single-channel grids (the book's argument); the grid has
        ``ceil(FN / nx)`` rows.
    margin : int
        Gap between tiles in screen pixels (at 100 dpi). The book accepts but ignores it.
    scale : int
        Screen pixels per filter pixel (at 100 dpi); lowered automatically when a grid
        would be wider or taller than 2400 pixels. The book accepts but ignores it.
    channel : None, int or 'mean'
        Which input channels to show when C > 1. None (default): all of them, one row of
        C tiles per filter (``nx`` is then not used). An int: that channel only (negative
        counts from the end). ``'mean'``: the channel average. Either of the last two gives
        the book's grid of ``nx`` tiles per row.
    shared_scale : bool
        False (the book): each tile stretched over its own min..max, best for seeing
        shapes. True: one range for all tiles, so tiles compare in strength. A flat tile
        shows as mid gray.
    title : str, optional
        Defaults to a summary such as "30 filters 5x5, 1 channel".
    path : str or os.PathLike, optional
        Save to this .png, .svg or .pdf (folders are created).
    show : bool
        Open a window (only where an interactive backend and a display exist; otherwise
        warn and carry on).
    dpi : float
        Resolution; the figure is laid out for 100 dpi and scales with it.

    Returns
    -------
    matplotlib.figure.Figure
        Drawn with the ``gray_r`` colormap as in the book (high values dark); gaps
        between tiles are a light blue-gray.
    """
    panel = _filter_panel(filters, nx, channel, shared_scale, "filters")
    if title is None:
        title = panel.summary
    margin = _positive_int(margin, "margin", minimum=0)
    scale = _positive_int(scale, "scale")
    return _draw_panels([panel], scale, margin, title, panel.scale_txt, dpi, show, path)


def filters_before_after(before, after, nx=8, margin=3, scale=10, *, channel=None,
                         shared_scale=False, labels=("before learning", "after learning"),
                         title=None, path=None, show=False, dpi=100):
    """Two filter grids side by side, e.g. the first layer before and after training.

    Parameters
    ----------
    before, after : array_like, shape (FN, C, FH, FW)
        Conv weights; the two may differ in shape, but must have the same FH x FW.
    nx, margin, scale, channel :
        As in :func:`filter_show`.
    shared_scale : bool
        As in :func:`filter_show`, within each grid. The grids are never put on one
        scale: initial weights are usually far smaller than trained ones.
    labels : (str, str)
        Titles over the two grids.
    title, path, show, dpi :
        As in :func:`filter_show`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    pb = _filter_panel(before, nx, channel, shared_scale, "before")
    pa = _filter_panel(after, nx, channel, shared_scale, "after")
    if pb.tiles.shape[1:] != pa.tiles.shape[1:]:
        raise ValueError(f"before has {pb.tiles.shape[1]}x{pb.tiles.shape[2]} filters but "
                         f"after has {pa.tiles.shape[1]}x{pa.tiles.shape[2]}")
    if len(labels) != 2:
        raise ValueError(f"labels must be two titles, got {labels!r}")
    pb.title, pa.title = str(labels[0]), str(labels[1])
    if title is None:
        title = pb.summary if pb.summary == pa.summary else f"{pb.summary} / {pa.summary}"
    note = (pb.scale_txt if not shared_scale
            else f"before: {pb.scale_txt}; after: {pa.scale_txt}")
    margin = _positive_int(margin, "margin", minimum=0)
    scale = _positive_int(scale, "scale")
    return _draw_panels([pb, pa], scale, margin, title, note, dpi, show, path)


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
    nx = math.ceil(math.sqrt(c)) if nx is None else _positive_int(nx, "nx")
    scale = max(1, 96 // max(h, w)) if scale is None else _positive_int(scale, "scale")
    margin = _positive_int(margin, "margin", minimum=0)
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


# --------------------------------------------------------------------------- images

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
        else float64. Computed with :func:`cconv.ops.im2col` and one matrix product
        (cross-correlation, like the book).
    """
    x = _checks.float_array(image, "image")
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"image must be (H, W) or (C, H, W), got shape {x.shape}")
    w = _checks.float_array(W, "W")
    if w.ndim != 4:
        raise ValueError(f"W must be 4-D (FN, C, FH, FW), got shape {w.shape}")
    fn, c, fh, fw = w.shape
    if c != x.shape[0]:
        raise ValueError(f"W has {c} input channel{'s' if c != 1 else ''} but the image has "
                         f"{x.shape[0]} (shape {x.shape})")
    dtype = np.result_type(x.dtype, w.dtype)
    oh, ow = ops.window_geometry((1, *x.shape), fh, fw, stride, pad)[:2]
    col = ops.im2col(x[None].astype(dtype, copy=False), fh, fw, stride, pad)
    out = col @ w.reshape(fn, -1).T.astype(dtype, copy=False)  # (OH*OW, FN)
    if b is not None:
        bias = np.asarray(_checks.float_array(b, "b"), dtype=dtype)
        if bias.ndim > 1 or bias.size not in (1, fn):
            raise ValueError(f"b must be a scalar or have {fn} values (one per filter), "
                             f"got shape {bias.shape}")
        out += bias.reshape(-1)
    return np.ascontiguousarray(out.reshape(oh, ow, fn).transpose(2, 0, 1))


def _to_gray(a):
    """Float image (H, W), (H, W, 1|2|3|4) in [0, 1] -> (H, W); alpha composited on white."""
    if a.ndim == 2:
        return a
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"unsupported image layout {a.shape}")
    k = a.shape[2]
    color = a[..., 0] if k <= 2 else a[..., :3] @ _LUMA
    if k in (2, 4):
        alpha = a[..., -1]
        color = color * alpha + (1.0 - alpha)
    return color


def load_image(path, size=None, *, invert=False):
    """Read a PNG or JPEG (or any image Pillow reads) as a grayscale float32 array.

    Parameters
    ----------
    path : str or os.PathLike
    size : int or (int, int), optional
        Resize to ``(size, size)`` or ``(h, w)``, e.g. 28 for the MNIST networks
        (area averaging when shrinking, bilinear when enlarging). The picture is only
        resized, not cropped or centred.
    invert : bool
        Return ``1 - gray``: a dark digit drawn on white becomes a light digit on black,
        which is what MNIST looks like.

    Returns
    -------
    img : ndarray, shape (H, W), float32 in [0, 1]
        Color is converted with the luminance weights 0.299 R + 0.587 G + 0.114 B;
        transparent parts count as white.
    """
    try:
        p = Path(os.fspath(path))
    except TypeError:
        raise TypeError(f"path must be a str or os.PathLike, not {type(path).__name__}") from None
    if not p.is_file():
        raise FileNotFoundError(2, f"no image file at '{p}'")
    from PIL import Image, UnidentifiedImageError

    if p.suffix.lower() == ".png":
        import matplotlib.image as mpimg
        try:
            a = np.asarray(mpimg.imread(p), dtype=np.float64)  # PNG: floats in [0, 1]
        except (SyntaxError, ValueError, UnidentifiedImageError):  # PIL: "not a PNG file"
            raise ValueError(f"'{p}' is not an image Pillow can read") from None
    else:
        try:
            with Image.open(p) as im:
                im.load()
                if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                    a = np.asarray(im, dtype=np.float64)
                    a = a / (65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0)
                elif im.mode == "F":
                    a = np.asarray(im, dtype=np.float64)
                else:
                    has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
                    im = im.convert("RGBA" if has_alpha else "RGB")
                    a = np.asarray(im, dtype=np.float64) / 255.0
        except UnidentifiedImageError:
            raise ValueError(f"'{p}' is not an image Pillow can read") from None
    gray = _to_gray(a)
    if size is not None:
        h, w = _checks.pair(size, "size")
        if h <= 0 or w <= 0:
            raise ValueError(f"size must be positive, got {h}x{w}")
        if (h, w) != gray.shape:
            resampling = getattr(Image, "Resampling", Image)
            shrink = h <= gray.shape[0] and w <= gray.shape[1]
            im = Image.fromarray(np.ascontiguousarray(gray, dtype=np.float32))
            gray = np.asarray(im.resize((w, h), resampling.BOX if shrink
                                        else resampling.BILINEAR), dtype=np.float64)
    gray = np.clip(gray, 0.0, 1.0)
    if invert:
        gray = 1.0 - gray
    return np.ascontiguousarray(gray, dtype=np.float32)


# --------------------------------------------------------------------------- training

_HISTORY_KEYS = ("train_loss_list", "train_acc_list", "test_acc_list")


def _history(history):
    if isinstance(history, (str, os.PathLike)):
        p = Path(os.fspath(history))
        try:
            with open(p, encoding="utf-8") as fh:
                history = json.load(fh)
        except FileNotFoundError:
            raise FileNotFoundError(2, f"no history file at '{p}'") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"'{p}' is not valid JSON: {exc}") from None
        where = f"'{p}'"
    else:
        where = "history"
    if isinstance(history, Mapping):
        missing = [k for k in _HISTORY_KEYS if k not in history]
        if missing:
            raise KeyError(f"{where} lacks {', '.join(missing)} (has: "
                           f"{', '.join(map(str, history)) or 'nothing'})")
        get = history.__getitem__
    elif all(hasattr(history, k) for k in _HISTORY_KEYS):
        get = lambda k: getattr(history, k)  # noqa: E731  (a Trainer)
    else:
        raise TypeError(f"history must be a dict with {', '.join(_HISTORY_KEYS)}, a path to "
                        f"a JSON file with them, or a Trainer; got {type(history).__name__}")
    out = {}
    for k in _HISTORY_KEYS:
        try:
            v = np.asarray(get(k), dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{k} in {where} must be a list of numbers") from None
        if v.ndim != 1:
            raise ValueError(f"{k} in {where} must be a flat list, got shape {v.shape}")
        out[k] = v
    out.update(_history_extras(get, history))
    return out


def _history_extras(get, history):
    """The optional facts a curve title uses: the accuracy on the whole test set at the
    end, and how many test images each per-epoch estimate used (None when unknown)."""
    def value(key):
        try:
            return get(key)
        except (KeyError, AttributeError):
            return None

    final = value("final_test_acc")
    cfg = value("config")
    if cfg is None and hasattr(history, "evaluate_sample_num_per_epoch"):  # a Trainer
        cfg = {"evaluate_sample_num_per_epoch": history.evaluate_sample_num_per_epoch,
               "test_size": len(history.x_test)}
    cfg = cfg if isinstance(cfg, Mapping) else {}
    test_size = cfg.get("test_size")
    sample = cfg.get("evaluate_sample_num_per_epoch") or test_size
    real = (numbers.Real, np.floating, np.integer)
    ok = lambda v: isinstance(v, real) and not isinstance(v, bool)  # noqa: E731
    return {"final_test_acc": float(final) if ok(final) and np.isfinite(final) else None,
            "eval_samples": int(sample) if ok(sample) else None,
            "test_size": int(test_size) if ok(test_size) else None}


def _accuracy_limits(*curves):
    """y limits that show the accuracy curves' own range (they crowd the top of 0..1
    once a network learns), with a margin, clipped to [0, 1]."""
    vals = np.concatenate([np.asarray(c, dtype=np.float64).ravel() for c in curves])
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return 0.0, 1.0
    lo, hi = float(vals.min()), float(vals.max())
    pad = max(0.1 * (hi - lo), 0.005)
    return max(0.0, lo - pad), min(1.0, hi + pad)


def learning_curves(history, *, smooth=True, title=None, path=None, show=False, dpi=100,
                    figsize=(11.0, 4.2)):
    """Plot accuracy per epoch and training loss per iteration.

    Parameters
    ----------
    history : dict, str, os.PathLike or Trainer
        A mapping (or a JSON file holding one, or an object with these attributes, such as
        a Trainer) with ``train_loss_list`` (one loss per iteration), ``train_acc_list``
        and ``test_acc_list`` (one accuracy per evaluation, normally per epoch).
    smooth : bool
        Draw the loss raw in a light color and, on top, smoothed with
        :func:`cconv.util.smooth_curve` (the book's chapter-6 plots). False: raw only, dark.
    title, path, show, dpi :
        As in :func:`filter_show`.
    figsize : (float, float)
        Inches; the saved PNG is ``figsize * dpi`` pixels.

    Returns
    -------
    matplotlib.figure.Figure
        Left: train (marker 'o') and test (marker 's') accuracy against epoch 1, 2, ...;
        the axis zooms to the curves' range (on 0..1 they crowd the top once the network
        learns). The per-epoch test accuracy is labelled as an estimate when it used a
        sample of the test set (``evaluate_sample_num_per_epoch``); the title gives the
        accuracy on the whole test set at the end (``final_test_acc``) when the history
        has it. Right: loss against iteration.
    """
    h = _history(history)
    loss, tr, te = h["train_loss_list"], h["train_acc_list"], h["test_acc_list"]
    fig = _new_figure(tuple(figsize), dpi, show, layout="constrained")
    ax_acc, ax_loss = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.25]})

    n_ep = max(len(tr), len(te))
    every = max(1, n_ep // 25)
    if len(tr):
        ax_acc.plot(np.arange(1, len(tr) + 1), tr, marker="o", markevery=every,
                    color=_TRAIN_COLOR, label="train")
    sample, test_size = h["eval_samples"], h["test_size"]
    estimate = sample is not None and test_size is not None and sample < test_size
    if len(te):
        label = f"test (estimate on {sample:,} images)" if estimate else "test"
        ax_acc.plot(np.arange(1, len(te) + 1), te, marker="s", markevery=every,
                    color=_TEST_COLOR, label=label)
    if n_ep:
        ax_acc.legend(loc="lower right")
        ax_acc.set_xlim(0.5, n_ep + 0.5)
        if n_ep <= 20:
            ax_acc.set_xticks(np.arange(1, n_ep + 1))
        if h["final_test_acc"] is not None:
            on = f" ({test_size:,} images)" if test_size is not None else ""
            final = f"final test {h['final_test_acc']:.4f}{on}"
        elif len(te):
            final = f"last test estimate {te[-1]:.4f}" if estimate else f"final test {te[-1]:.4f}"
        else:
            final = f"final train {tr[-1]:.4f}"
        ax_acc.set_title(f"accuracy ({final})", fontsize=11)
        ax_acc.set_ylim(*_accuracy_limits(tr, te))
    else:
        ax_acc.text(0.5, 0.5, "no accuracy recorded", ha="center", va="center",
                    transform=ax_acc.transAxes)
        ax_acc.set_title("accuracy", fontsize=11)
        ax_acc.set_ylim(0.0, 1.0)
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.grid(True, alpha=0.3)

    if len(loss):
        it = np.arange(len(loss))
        if smooth:
            ax_loss.plot(it, loss, color=_RAW_LOSS_COLOR, lw=0.9, label="raw")
            ax_loss.plot(it, smooth_curve(loss), color=_SMOOTH_LOSS_COLOR, lw=1.8,
                         label="smoothed")
            ax_loss.legend(loc="upper right")
        else:
            ax_loss.plot(it, loss, color=_SMOOTH_LOSS_COLOR, lw=1.0)
        finite = loss[np.isfinite(loss)]
        if finite.size and finite.min() >= 0:
            ax_loss.set_ylim(bottom=0.0)
        ax_loss.set_xlim(0, max(1, len(loss) - 1))
        ax_loss.set_title(f"training loss ({len(loss)} iterations)", fontsize=11)
    else:
        ax_loss.text(0.5, 0.5, "no loss recorded", ha="center", va="center",
                     transform=ax_loss.transAxes)
        ax_loss.set_title("training loss", fontsize=11)
    ax_loss.set_xlabel("iteration")
    ax_loss.set_ylabel("loss")
    ax_loss.grid(True, alpha=0.3)
    fig.suptitle(title if title is not None else "learning curves", fontsize=12)
    return _finish(fig, path)


# --------------------------------------------------------------------------- mistakes

def _as_images(x):
    """(N, D) with square D, (N, H, W), (N, 1, H, W) or (N, 3, H, W) -> (N, H, W[, 3])."""
    a = _checks.float_array(x, "x")
    if a.ndim == 2:
        side = math.isqrt(a.shape[1])
        if side * side != a.shape[1]:
            raise ValueError(f"x of shape {a.shape}: rows of {a.shape[1]} values are not "
                             "square images; pass (N, H, W) or (N, C, H, W)")
        return a.reshape(len(a), side, side)
    if a.ndim == 3:
        return a
    if a.ndim == 4 and a.shape[1] == 1:
        return a[:, 0]
    if a.ndim == 4 and a.shape[1] == 3:
        return a.transpose(0, 2, 3, 1)
    raise ValueError(f"x must be (N, H*W), (N, H, W), (N, 1, H, W) or (N, 3, H, W), "
                     f"got shape {a.shape}")


def _class_name(k, class_names):
    if class_names is None:
        return str(k)
    if not 0 <= k < len(class_names):
        raise ValueError(f"label {k} has no entry in class_names ({len(class_names)} names)")
    return str(class_names[k])


def misclassified(x, t, y_pred, *, max_images=20, class_names=None, nx=5, title=None,
                  path=None, show=False, dpi=100):
    """Show the wrongly classified images with "true / pred" labels (book ch. 8).

    Parameters
    ----------
    x : array_like, shape (N, C, H, W), (N, H, W) or (N, H*W)
        The images (C = 1 drawn in ``gray_r`` as in the book, C = 3 in color).
    t : array_like, shape (N,) or (N, K)
        True labels, or one-hot rows.
    y_pred : array_like, shape (N,) or (N, K)
        Predicted labels, or scores (arg-maxed), e.g. ``network.predict(x)``.
    max_images : int
        Show the first ``max_images`` mistakes in data order (the book: 20).
    class_names : sequence of str, optional
        Names for the labels, e.g. Fashion-MNIST's; default the label numbers.
    nx : int
        Tiles per row (the book: 5, in a 4 x 5 grid).
    title, path, show, dpi :
        As in :func:`filter_show`. The default title counts the mistakes.

    Returns
    -------
    matplotlib.figure.Figure
        One framed tile per shown mistake; ``fig.axes[i]`` shows the i-th.
    """
    imgs = _as_images(x)
    n = len(imgs)
    t = _labels(t, "t", n)
    y = _labels(y_pred, "y_pred", n)
    max_images = _positive_int(max_images, "max_images")
    nx = _positive_int(nx, "nx")
    wrong = np.flatnonzero(t != y)
    shown = wrong[:max_images]
    k = len(shown)
    cols = max(1, min(nx, k))
    rows = max(1, -(-k // cols))
    tile, label_h, gap = 96, 30, 14       # pixels at 100 dpi
    top = 44
    fig_w = max(360, cols * (tile + gap) + gap)
    fig_h = top + rows * (tile + label_h + gap)
    fig = _new_figure((fig_w / _BASE_DPI, fig_h / _BASE_DPI), dpi, show)
    x0 = (fig_w - cols * (tile + gap) + gap) / 2
    for j, i in enumerate(shown):
        r, c = divmod(j, cols)
        left = x0 + c * (tile + gap)
        bottom = fig_h - top - r * (tile + label_h + gap) - label_h - tile
        ax = fig.add_axes([left / fig_w, bottom / fig_h, tile / fig_w, tile / fig_h])
        img = imgs[i]
        if img.ndim == 3:
            lo, hi = img.min(), img.max()
            ax.imshow((img - lo) / (hi - lo) if hi > lo else np.zeros_like(img),
                      interpolation="nearest")
        else:
            ax.imshow(img, cmap="gray_r", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        tn, pn = _class_name(t[i], class_names), _class_name(y[i], class_names)
        label = f"true {tn} / pred {pn}"
        if len(label) > 18:
            label = f"true {tn}\npred {pn}"
        ax.set_title(label, fontsize=8 if "\n" not in label else 7, pad=3)
    if k == 0:
        fig.text(0.5, 0.45, f"no misclassified images: all {n} are right", ha="center",
                 va="center", fontsize=11)
    if title is None:
        err = 100.0 * len(wrong) / n if n else 0.0
        title = (f"misclassified: {len(wrong)} of {n} ({err:.2f}% error)"
                 + (f", first {k} shown" if k < len(wrong) else ""))
    fig.suptitle(title, fontsize=12, y=1 - 10 / fig_h, va="top")
    return _finish(fig, path)


def confusion_matrix(t, y_pred, n_classes=10):
    """Count (true, predicted) label pairs.

    Parameters
    ----------
    t : array_like, shape (N,) or (N, K)
        True labels or one-hot rows.
    y_pred : array_like, shape (N,) or (N, K)
        Predicted labels or scores (arg-maxed).
    n_classes : int

    Returns
    -------
    cm : ndarray of int64, shape (n_classes, n_classes)
        ``cm[i, j]`` is how many samples of class i were predicted as class j (rows true,
        columns predicted, as scikit-learn); the diagonal holds the right answers.
    """
    n_classes = _positive_int(n_classes, "n_classes")
    t = _labels(t, "t")
    y = _labels(y_pred, "y_pred", len(t))
    for name, a in (("t", t), ("y_pred", y)):
        if a.size and (a.min() < 0 or a.max() >= n_classes):
            bad = a[(a < 0) | (a >= n_classes)][0]
            raise ValueError(f"{name} has label {bad}, outside 0..{n_classes - 1} "
                             f"(n_classes={n_classes})")
    return np.bincount(t * n_classes + y, minlength=n_classes * n_classes) \
        .reshape(n_classes, n_classes).astype(np.int64)


def plot_confusion_matrix(cm, class_names=None, *, normalize=False, cmap="Blues", title=None,
                          path=None, show=False, dpi=100):
    """Draw a confusion matrix with the count in every cell.

    Parameters
    ----------
    cm : array_like, shape (K, K)
        Counts, rows true and columns predicted (from :func:`confusion_matrix`).
    class_names : sequence of K str, optional
        Tick labels (default 0..K-1).
    normalize : bool
        Color and label each row by its share of the true class (recall per class)
        instead of raw counts.
    cmap : str
        Colormap (light = few, dark = many).
    title, path, show, dpi :
        As in :func:`filter_show`. The default title gives the accuracy.

    Returns
    -------
    matplotlib.figure.Figure
        Cell (i, j) is colored by ``cm[i, j] / cm.max()`` (or the row share) and labelled
        with its value, white on dark cells. Counts are written for K <= 40.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"cm must be a square (K, K) matrix, got shape {cm.shape}")
    if cm.dtype.kind not in "iuf" or (cm.dtype.kind == "f" and not np.all(np.isfinite(cm))):
        raise ValueError(f"cm must hold finite numbers, got dtype {cm.dtype}")
    if np.any(cm < 0):
        raise ValueError("cm has negative entries")
    k = cm.shape[0]
    names = [str(i) for i in range(k)] if class_names is None else [str(s) for s in class_names]
    if len(names) != k:
        raise ValueError(f"class_names has {len(names)} names for a {k}x{k} matrix")
    if cmap not in matplotlib.colormaps:
        raise ValueError(f"unknown colormap {cmap!r}")
    total = cm.sum()
    if normalize:
        rows = cm.sum(axis=1, keepdims=True)
        values = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
        vmax = 1.0
    else:
        values = cm.astype(np.float64)
        vmax = max(values.max(), 1.0)
    side = max(4.0, 0.5 * k + 1.8)
    fig = _new_figure((side + 1.2, side), dpi, show, layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(values, cmap=cmap, vmin=0.0, vmax=vmax, interpolation="nearest")
    fig.colorbar(im, ax=ax, shrink=0.8, label="share of true class" if normalize else "count")
    ax.set_xticks(np.arange(k), names, rotation=45 if max(map(len, names)) > 2 else 0,
                  ha="right" if max(map(len, names)) > 2 else "center", fontsize=8)
    ax.set_yticks(np.arange(k), names, fontsize=8)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    if k <= 40:
        size = 9 if k <= 10 else (7 if k <= 20 else 5)
        cmap_obj = matplotlib.colormaps[cmap]
        for i in range(k):
            for j in range(k):
                v = values[i, j]
                r, g, b, _ = cmap_obj(v / vmax)
                dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
                text = f"{v:.2f}" if normalize else (
                    f"{int(cm[i, j])}" if float(cm[i, j]).is_integer() else f"{cm[i, j]:.3g}")
                ax.text(j, i, text, ha="center", va="center", fontsize=size,
                        color="white" if dark else "black")
    if title is None:
        acc = np.trace(cm) / total if total else float("nan")
        n = int(total) if float(total).is_integer() else f"{total:g}"
        title = f"confusion matrix: accuracy {acc:.2%} of {n}"
    ax.set_title(title, fontsize=11)
    return _finish(fig, path)
