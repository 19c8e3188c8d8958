"""Tile grids drawn pixel-exact: RGB mosaics with gap lines, stacked into one figure.

Each grid is built at its final pixel size (every data pixel a ``scale x scale`` block),
framed and separated by lines of the gap colour, so a test can count its tiles in the
written PNG. NaN inside a tile means "outside the image" and is drawn in its own colour.
"""
import numpy as np
import matplotlib
from matplotlib.colors import to_rgb

from ._figure import _BASE_DPI, _GAP_COLOR, _finish, _new_figure, _text_px

GAP_RGB = np.array(to_rgb(_GAP_COLOR))
OUTSIDE_COLOR = "#f3e4c2"          # padding: the part of a field beyond the image
OUTSIDE_RGB = np.array(to_rgb(OUTSIDE_COLOR))


def to_rgb_tile(a, lo, hi, cmap="gray_r"):
    """(h, w) values (NaN: outside the image) -> (h, w, 3) in [0, 1]."""
    a = np.asarray(a, dtype=np.float64)
    span = hi - lo if hi > lo else 1.0
    u = np.clip((np.nan_to_num(a, nan=lo) - lo) / span, 0.0, 1.0)
    rgb = matplotlib.colormaps[cmap](u)[..., :3]
    rgb[np.isnan(a)] = OUTSIDE_RGB
    return rgb


def grid(rows, scale, margin=2, sep_after=None, sep=10):
    """Rows of equally sized RGB tiles -> one mosaic with gap-coloured lines.

    ``sep_after``: a column index after which the gap is ``sep`` pixels wide instead of
    ``margin`` (to set a column apart). Returns the (H, W, 3) image and the pixel
    centres of its columns and of its rows (for labels).
    """
    h, w = rows[0][0].shape[:2]
    ncols = len(rows[0])
    th, tw = h * scale, w * scale
    gaps = [margin] * (ncols + 1)
    if sep_after is not None:
        gaps[sep_after + 1] = sep
    width = ncols * tw + sum(gaps)
    height = len(rows) * th + (len(rows) + 1) * margin
    out = np.empty((height, width, 3))
    out[:] = GAP_RGB
    xs = np.cumsum(gaps[:-1]) + tw * np.arange(ncols)
    ys = [margin + r * (th + margin) for r in range(len(rows))]
    for y, row in zip(ys, rows):
        for x, tile in zip(xs, row):
            out[y:y + th, x:x + tw] = np.repeat(np.repeat(tile, scale, 0), scale, 1)
    return out, [x + tw / 2 - 0.5 for x in xs], [y + th / 2 - 0.5 for y in ys]


def stack_figure(blocks, title=None, note=None, dpi=100, show=False, path=None,
                 left=70):
    """Stack blocks vertically, each one mosaic with a heading and labels.

    ``blocks``: dicts with ``image`` (H, W, 3), ``heading`` (str), optional ``ylabels``
    (list of (y_pixel, text)) and ``xlabels`` (list of (x_pixel, text)) in the image's
    own pixel coordinates. Returns the figure (saved to ``path`` if given).
    """
    head_h, xlab_h, between, pad = 22, 16, 16, 12
    top = pad + (26 if title else 0) + (18 if note else 0)
    width = max(b["image"].shape[1] for b in blocks)
    fig_w = max([left + width + pad] + [left + _text_px(b["heading"], 10) + pad
                                        for b in blocks]
                + [_text_px(title or "", 12) + 2 * pad, _text_px(note or "", 9) + 2 * pad])
    heights = [head_h + b["image"].shape[0] + (xlab_h if b.get("xlabels") else 0)
               for b in blocks]
    fig_w = int(np.ceil(fig_w))     # whole pixels: the tiles land on the pixel grid
    fig_h = top + sum(heights) + between * (len(blocks) - 1) + pad
    fig = _new_figure((fig_w / _BASE_DPI, fig_h / _BASE_DPI), dpi, show)
    y = top
    for b, bh in zip(blocks, heights):
        img = b["image"]
        ih, iw = img.shape[:2]
        y_img = y + head_h
        ax = fig.add_axes([left / fig_w, 1 - (y_img + ih) / fig_h, iw / fig_w, ih / fig_h])
        ax.imshow(img, interpolation="nearest", resample=False, aspect="equal")
        for side in ax.spines.values():
            side.set_visible(False)
        ys = b.get("ylabels") or []
        ax.set_yticks([p for p, _ in ys], [t for _, t in ys], fontsize=7)
        xs = b.get("xlabels") or []
        ax.set_xticks([p for p, _ in xs], [t for _, t in xs], fontsize=7)
        ax.tick_params(length=0, pad=2)
        fig.text(left / fig_w, 1 - (y + head_h - 5) / fig_h, b["heading"], fontsize=10,
                 ha="left", va="bottom")
        y += bh + between
    if title:
        fig.suptitle(title, fontsize=12, y=1 - pad / fig_h, va="top")
    if note:
        fig.text(0.5, 1 - (pad + (26 if title else 0)) / fig_h, note, fontsize=9,
                 color="0.35", ha="center", va="top")
    return _finish(fig, path)
