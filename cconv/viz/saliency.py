"""Why this class: the gradient of class scores with respect to the input image.

For a digit, :func:`saliency` backpropagates the score (the network's output before the
softmax) of the predicted class and of the true class down to the pixels (Simonyan et
al. 2014), and multiplies each gradient by the input ("input x gradient", Shrikumar et
al. 2016): where ink adds evidence for a class, and where it counts against it.
:func:`saliency_figure` overlays them on the digit ("why 9 and not 4").
"""
import matplotlib
import numpy as np

from ._backprop import input_gradient
from ._grid import grid, stack_figure, to_rgb_tile

__all__ = ["Saliency", "class_gradients", "saliency", "saliency_figure"]


def _score_layer(network):
    return next(reversed(network.layers))


def class_gradients(network, x, classes):
    """Scores and the gradients of chosen class scores with respect to the input.

    Parameters
    ----------
    network : cconv network
    x : ndarray, shape (N, C, H, W)
    classes : array_like of int, shape (N,)
        For each image, the class whose score is differentiated.

    Returns
    -------
    scores : ndarray, shape (N, K)
        ``network.predict(x)`` (test mode).
    grad : ndarray, shape (N, C, H, W)
        ``d scores[n, classes[n]] / d x[n]``, in the network's dtype.
    """
    classes = np.asarray(classes, dtype=np.int64).reshape(-1)

    def seed(out):
        if out.ndim != 2:
            raise ValueError(f"the network's last layer outputs {out.shape}, not class "
                             "scores (N, K)")
        if len(classes) != len(out) or classes.min(initial=0) < 0 or \
                classes.max(initial=0) >= out.shape[1]:
            raise ValueError(f"classes must hold {len(out)} labels in 0..{out.shape[1] - 1}, "
                             f"got {classes.tolist()}")
        d = np.zeros_like(out)
        d[np.arange(len(out)), classes] = 1
        return d
    return input_gradient(network, x, _score_layer(network), seed)


class Saliency:
    """Class evidence for one image.

    Attributes
    ----------
    image : ndarray, shape (C, H, W)
    scores, probs : ndarray, shape (K,)
        The class scores and their softmax.
    pred, true : int
        The predicted class, and the true one (the runner-up if no label was given or
        the prediction is right, so the picture still compares two classes).
    true_is_label : bool
        Whether ``true`` is the image's label.
    grad_pred, grad_true : ndarray, shape (C, H, W)
        Gradients of the two class scores with respect to the image.
    """

    def __init__(self, image, scores, pred, true, true_is_label, grad_pred, grad_true):
        self.image, self.scores = image, scores
        e = np.exp(scores - scores.max())
        self.probs = e / e.sum()
        self.pred, self.true, self.true_is_label = pred, true, true_is_label
        self.grad_pred, self.grad_true = grad_pred, grad_true

    @property
    def input_x_grad_pred(self):
        return self.image * self.grad_pred

    @property
    def input_x_grad_true(self):
        return self.image * self.grad_true


def saliency(network, image, label=None):
    """:class:`Saliency` of one image (C, H, W) or (1, C, H, W), with its label if known."""
    x = np.asarray(image)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or len(x) != 1:
        raise ValueError(f"image must be (C, H, W) or (1, C, H, W), got shape {x.shape}")
    scores = network.predict(x)[0].astype(np.float64)
    pred = int(np.argmax(scores))
    if label is not None:
        label = int(label)
        if not 0 <= label < len(scores):
            raise ValueError(f"label {label} is outside the {len(scores)} classes")
    other = label if label is not None and label != pred else \
        int(np.argsort(-scores, kind="stable")[1])
    _, g = class_gradients(network, np.concatenate([x, x]), [pred, other])
    img = network._cast(x)[0] if hasattr(network, "_cast") else x[0]
    return Saliency(img.astype(np.float64), scores, pred, other,
                    label is not None and label != pred,
                    g[0].astype(np.float64), g[1].astype(np.float64))


def _limit(*maps):
    """One colour scale for maps: the 99th percentile of their |values| (a few extreme
    pixels would leave everything else invisible), at least a tiny positive number."""
    v = np.abs(np.concatenate([m.ravel() for m in maps]))
    return float(max(np.percentile(v, 99), v.max() * 1e-3, 1e-30))


def _overlay(image, heat, limit):
    """Gray digit (ink dark) under a red (+) / blue (-) map whose opacity is |heat|."""
    base = to_rgb_tile(image, 0.0, max(1.0, float(image.max())))
    u = np.clip(heat / limit, -1.0, 1.0) if limit > 0 else np.zeros_like(heat)
    color = matplotlib.colormaps["RdBu_r"]((u + 1) / 2)[..., :3]
    a = np.abs(u)[..., None] ** 0.5
    return (1 - a) * (0.45 + 0.55 * base) + a * color


def saliency_figure(network, image, label=None, *, class_names=None, title=None,
                    scale=8, path=None, show=False, dpi=100):
    """The input, then the evidence for the predicted and the true class, as overlays.

    Six tiles: the input; the gradient of the predicted class's score; of the true
    class's score (the runner-up when the prediction is right or there is no label);
    input x gradient for each; and the gradient of their difference, the evidence for
    the predicted class over the other. Red pixels raise the score, blue ones lower it;
    the two gradient tiles share one colour scale, and so do the two input x gradient
    tiles (saturated at the 99th percentile of their magnitudes).

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.cconv_saliency`` is the :class:`Saliency` drawn.
    """
    s = saliency(network, image, label)
    name = (lambda k: str(class_names[k])) if class_names is not None else str
    img = s.image.mean(axis=0)
    g_p, g_t = s.grad_pred.mean(axis=0), s.grad_true.mean(axis=0)
    ig_p, ig_t = s.input_x_grad_pred.mean(axis=0), s.input_x_grad_true.mean(axis=0)
    lg = _limit(g_p, g_t)
    li = _limit(ig_p, ig_t)
    tiles = [to_rgb_tile(img, 0.0, max(1.0, float(img.max()))),
             _overlay(img, g_p, lg), _overlay(img, g_t, lg),
             _overlay(img, ig_p, li), _overlay(img, ig_t, li)]
    diff = g_p - g_t
    tiles.append(_overlay(img, diff, _limit(diff)))
    mosaic, xs, _ = grid([tiles], scale, margin=3, sep_after=0)
    p, t = name(s.pred), name(s.true)
    kind = "true" if s.true_is_label else "runner-up"
    labels = ["input", f"d score[{p}] / dx", f"d score[{t}] / dx",
              f"x * d score[{p}]/dx", f"x * d score[{t}]/dx",
              f"d (score[{p}] - score[{t}]) / dx"]
    if title is None:
        verdict = "wrong" if s.true_is_label else ("right" if label is not None else "")
        title = (f"why {p} and not {t}? predicted {p} (p={s.probs[s.pred]:.2f}), "
                 f"{kind} {t} (p={s.probs[s.true]:.2f})" + (f", {verdict}" if verdict else ""))
    note = "red: pixels that raise the class score, blue: pixels that lower it"
    fig = stack_figure([dict(image=mosaic, heading=type(network).__name__,
                             xlabels=list(zip(xs, labels)))],
                       title=title, note=note, dpi=dpi, show=show, path=path, left=20)
    fig.cconv_saliency = s
    return fig
