"""The pictures' former path: :mod:`cconv.viz` (one module per subject), re-exported."""
from .viz import (apply_filters, confusion_matrix, feature_maps, filter_show,  # noqa: F401
                  filters_before_after, learning_curves, load_image, misclassified,
                  plot_confusion_matrix)
from .viz import __all__  # noqa: F401
