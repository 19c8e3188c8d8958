"""Classification metrics on label arrays: labels from scores or one-hot rows, and the
confusion matrix."""
import numpy as np

from ._checks import integer

__all__ = ["labels", "confusion_matrix"]


def labels(a, name, n=None):
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
    n_classes = integer(n_classes, "n_classes", low=1)
    t = labels(t, "t")
    y = labels(y_pred, "y_pred", len(t))
    for name, a in (("t", t), ("y_pred", y)):
        if a.size and (a.min() < 0 or a.max() >= n_classes):
            bad = a[(a < 0) | (a >= n_classes)][0]
            raise ValueError(f"{name} has label {bad}, outside 0..{n_classes - 1} "
                             f"(n_classes={n_classes})")
    return np.bincount(t * n_classes + y, minlength=n_classes * n_classes) \
        .reshape(n_classes, n_classes).astype(np.int64)
