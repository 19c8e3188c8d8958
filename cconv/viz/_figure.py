r"""What the pictures share: figures on an Agg canvas (pyplot only for ``show=True``),
saving by extension, argument checks, and grids of tiles laid out in pixels.

The figures are :class:`InlineFigure`\ s, which Jupyter displays when a cell returns one.
"""
import contextlib
import contextvars
import io
import math
import os
import sys
import warnings
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.textpath import TextPath

from .._checks import float_array, real

_BASE_DPI = 100


_MAX_MOSAIC_PX = 2400        # longest side of a tile grid before ``scale`` is reduced


_GAP_COLOR = "#c9d3e0"       # between tiles: not a gray, so it never looks like a value


_SAVE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


# PNG text chunk naming the training run a picture was drawn from (`cconv show all`
# checks that a run folder's files agree); set per figure or for a block of calls
RUN_ID_KEY = "cconv-run-id"
_RUN_ID = contextvars.ContextVar("cconv_run_id", default=None)


@contextlib.contextmanager
def run_id_of_figures(run_id):
    """Within the block, every figure saved as PNG records ``run_id`` (when not None)."""
    token = _RUN_ID.set(run_id)
    try:
        yield
    finally:
        _RUN_ID.reset(token)


_NON_INTERACTIVE = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}


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
    while frame is not None and frame.f_globals.get("__name__", "").startswith(
            "cconv.viz"):
        frame, level = frame.f_back, level + 1  # point the warning at the caller's line
    warnings.warn(f"show=True ignored: {reason}; pass path=... to save the figure instead",
                  UserWarning, stacklevel=level)
    return None


class InlineFigure(Figure):
    """A :class:`matplotlib.figure.Figure` that Jupyter displays inline when returned.

    IPython shows a Figure as a picture only once pyplot has been imported (the inline
    backend registers a formatter for Figure on that import); a Figure made without
    pyplot, as cconv makes them, would print ``<Figure size ... with 1 Axes>``. This
    subclass adds ``_repr_png_``, which IPython uses when no formatter is registered; with
    the inline backend active its own formatter wins, so a figure is never shown twice.
    """

    def _repr_png_(self):
        if self.canvas is None or type(self.canvas).__name__ == "FigureCanvasBase":
            FigureCanvasAgg(self)
        buf = io.BytesIO()
        self.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()


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


def _finish(fig, path, run_id=None):
    plt = fig.__dict__.pop("_cconv_pyplot", None)
    if path is not None:
        _save(fig, path, run_id)
    if plt is not None:
        plt.show()
    return fig


def _save(fig, path, run_id=None):
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
    run_id = run_id if run_id is not None else _RUN_ID.get()
    extra = {"metadata": {RUN_ID_KEY: run_id}} if fmt == "png" and run_id else {}
    try:
        fig.savefig(p, format=fmt, dpi=fig.dpi, facecolor="white", **extra)
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


def _positive_number(v, name):
    try:
        return real(v, name, low=0, low_open=True)
    except TypeError:
        raise ValueError(f"{name} must be a positive number, got {v!r}") from None


def _finite_array(a, name, ndims):
    a = np.asarray(float_array(a, name), dtype=np.float64)
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
