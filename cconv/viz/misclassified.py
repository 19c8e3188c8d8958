"""The test images a network gets wrong, with true and predicted labels (book ch. 8)."""
import math

import numpy as np

from .._checks import float_array, integer
from ..metrics import labels as _labels
from ._figure import _BASE_DPI, _finish, _new_figure


def _as_images(x):
    """(N, D) with square D, (N, H, W), (N, 1, H, W) or (N, 3, H, W) -> (N, H, W[, 3])."""
    a = float_array(x, "x")
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
    max_images = integer(max_images, "max_images", low=1)
    nx = integer(nx, "nx", low=1)
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
