"""The confusion matrix drawn with a count in every cell."""
import matplotlib
import numpy as np

from ._figure import _finish, _new_figure


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
