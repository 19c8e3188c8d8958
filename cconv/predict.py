"""Ask a trained network about your own digit: the library side of ``cconv predict``.

:func:`predict_image` preprocesses a picture the way MNIST's digits were made
(:func:`cconv.preprocess.to_mnist`), runs the network and returns a :class:`Prediction`;
:func:`plot_prediction` draws the 28x28 image the network saw beside its class
probabilities.
"""
import os

import numpy as np

from .functions import softmax
from .preprocess import to_mnist

__all__ = ["Prediction", "predict_image", "plot_prediction"]


class Prediction:
    """What a network says about one picture.

    Attributes
    ----------
    label : int
        The predicted class.
    probabilities : ndarray, shape (K,), float64
        Softmax of the network's scores; sums to 1.
    image : ndarray, shape (H, W), float32 in [0, 1]
        The preprocessed picture, as the network saw it.
    source : str
        The file name, or ``"<array>"``.
    """

    def __init__(self, probabilities, image, source="<array>", class_names=None):
        self.probabilities = np.asarray(probabilities, dtype=np.float64)
        self.label = int(np.argmax(self.probabilities))
        self.image = image
        self.source = str(source)
        self.class_names = None if class_names is None else list(class_names)

    def name(self, k):
        """The name of class ``k`` (its number when the classes have no names)."""
        return str(k) if self.class_names is None else str(self.class_names[k])

    def top(self, k=3):
        """The ``k`` most probable classes as ``[(class, probability), ...]``, best first."""
        order = np.argsort(-self.probabilities, kind="stable")[:k]
        return [(int(c), float(self.probabilities[c])) for c in order]

    def format(self, k=3):
        """One line: ``digit.png: 7  (7 98.1%, 1 1.2%, 9 0.3%)``."""
        tops = ", ".join(f"{self.name(c)} {100 * p:.1f}%" for c, p in self.top(k))
        return f"{self.source}: {self.name(self.label)}  ({tops})"

    def __repr__(self):
        return f"Prediction({self.format()})"

    def _repr_png_(self):
        """Jupyter shows a prediction as its picture (:func:`plot_prediction`)."""
        return plot_prediction(self)._repr_png_()


def predict_image(network, image, *, invert=None, class_names=None):
    """Classify a picture of a digit with a trained network.

    Parameters
    ----------
    network : Network
        A trained cconv network with one input channel (e.g. SimpleConvNet on MNIST).
    image : str, os.PathLike or array_like
        A picture file (PNG, JPEG, ...) or an array (H, W), (H, W, 3|4), (1, H, W); it is
        preprocessed by :func:`cconv.preprocess.to_mnist` (grayscale, inverted if the
        background is light, fitted into 20x20 and centred by its centre of mass in
        28x28, scaled alike for another input size).
    invert : bool or None
        Passed to :func:`~cconv.preprocess.to_mnist` (None: decide from the background).
    class_names : sequence of str, optional
        Names printed instead of class numbers.

    Returns
    -------
    Prediction
    """
    dim = tuple(network.config.get("input_dim", (1, 28, 28)))
    C, H, W = dim
    if C != 1:
        raise ValueError(f"this network takes {C}-channel input; predict_image makes "
                         "one-channel (grayscale) digits")
    if H != W:
        raise ValueError(f"this network takes {H}x{W} input; predict_image makes square "
                         "digits")
    img = to_mnist(image, size=H, box=max(1, int(round(H * 20 / 28))), invert=invert)
    scores = network.predict(img.reshape(1, 1, H, W))
    probs = softmax(np.asarray(scores, dtype=np.float64))[0]
    if class_names is not None and len(class_names) != probs.size:
        raise ValueError(f"{len(class_names)} class names for {probs.size} classes")
    src = os.fspath(image) if isinstance(image, (str, os.PathLike)) else "<array>"
    return Prediction(probs, img, src, class_names)


def plot_prediction(predictions, *, path=None, show=False, dpi=100, top=3):
    """Draw each picture as the network sees it beside its class probabilities.

    Parameters
    ----------
    predictions : Prediction or list of Prediction
    path : str or os.PathLike, optional
        Save the figure there (PNG, SVG or PDF by the extension).
    show : bool
        Also show it with pyplot when a display is available.
    top : int
        The number of most probable classes named in each title.

    Returns
    -------
    matplotlib.figure.Figure
        One row per picture: the 28x28 input (gray, white digit on black as MNIST) and a
        bar per class, the predicted one highlighted.
    """
    from .viz import _figure as viz

    if isinstance(predictions, Prediction):
        predictions = [predictions]
    predictions = list(predictions)
    if not predictions:
        raise ValueError("no predictions to draw")
    n = len(predictions)
    fig = viz._new_figure((7.0, 2.4 * n), dpi, show)
    for i, p in enumerate(predictions):
        ax_img = fig.add_subplot(n, 2, 2 * i + 1)
        ax_img.imshow(p.image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax_img.set_xticks([])
        ax_img.set_yticks([])
        name = p.source if len(p.source) <= 32 else "..." + p.source[-29:]
        ax_img.set_title(f"{name}\nas the network sees it", fontsize=8)
        ax = fig.add_subplot(n, 2, 2 * i + 2)
        K = p.probabilities.size
        colors = ["#1f4e9c" if k == p.label else "#a6c8e6" for k in range(K)]
        ax.bar(np.arange(K), p.probabilities, color=colors)
        ax.set_xticks(np.arange(K))
        ax.set_xticklabels([p.name(k) for k in range(K)], fontsize=8)
        ax.set_ylim(0.0, 1.0)
        ax.set_ylabel("probability", fontsize=8)
        tops = ", ".join(f"{p.name(c)} {100 * q:.1f}%" for c, q in p.top(top))
        ax.set_title(f"class {p.name(p.label)}   ({tops})", fontsize=9)
    fig.tight_layout()
    return viz._finish(fig, path)
