"""The book's chapter 7-8 pictures, one module per subject.

:mod:`~cconv.viz.filters` (filter_show, filters_before_after),
:mod:`~cconv.viz.features` (feature_maps, apply_filters), :mod:`~cconv.viz.curves`
(learning_curves), :mod:`~cconv.viz.misclassified`, :mod:`~cconv.viz.confusion`
(plot_confusion_matrix); what they share is in :mod:`~cconv.viz._figure`.

Every drawing function returns a :class:`matplotlib.figure.Figure` and takes ``path=None``
(save as PNG, SVG or PDF, chosen by the extension) and ``show=False``. Figures are drawn
on matplotlib's object-oriented API with an Agg canvas, so nothing here imports
``matplotlib.pyplot`` or changes the backend of a program that has its own; only
``show=True`` goes through pyplot, and only where a window (or a notebook) can show it.
The former path :mod:`cconv.visualize` re-exports these names.
"""
from ..io.images import load_image
from ..metrics import confusion_matrix
from .confusion import plot_confusion_matrix
from .curves import learning_curves
from .features import apply_filters, feature_maps
from .filters import filter_show, filters_before_after
from .misclassified import misclassified

__all__ = [
    "filter_show", "filters_before_after", "feature_maps", "apply_filters", "load_image",
    "learning_curves", "misclassified", "confusion_matrix", "plot_confusion_matrix",
]
