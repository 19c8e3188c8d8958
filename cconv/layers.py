"""The book's ``common/layers.py``: cconv's layers (:mod:`cconv.nn`) under the book's path.

Same class names, constructor arguments, attributes and ``forward``/``backward``
contracts as the book, so ``from cconv.layers import *`` replaces
``from common.layers import *``. Parameters (``W``, ``b``, ``gamma``, ``beta``) are the
very arrays passed in — never copies — so the book's optimizers, which update
``params[key]`` in place, are seen by the layers. Everything works in float32 and in
float64: outputs keep the input's dtype, gradients ``dW``/``db``/``dgamma``/``dbeta`` keep
the parameter's dtype, ``dx`` keeps the dtype of ``x``.

Fixes of the book's bugs are noted in each class's docstring. Beyond the book, every
``backward`` called before its ``forward`` raises RuntimeError ("call forward first"),
parameters and gradients of complex, string or object dtype raise TypeError (the dtype
policy of :func:`cconv._checks.float_array`), and empty batches (N = 0) work. The
layers beyond the book (Tanh, AvgPooling, LRN, Normalize) are here too.
"""
from .functions import *  # noqa: F401,F403  (the book's layers.py re-exports them too)
from .functions import __all__ as _functions_all
from .nn import *  # noqa: F401,F403  (every layer: a new one in cconv.nn is here too)
from .nn import __all__ as _nn_all
from .util import col2im, im2col  # noqa: F401  (re-exported, as in the book)

__all__ = list(_functions_all) + ["im2col", "col2im"] + list(_nn_all)
