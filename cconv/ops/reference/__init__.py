"""Plain NumPy versions of :mod:`cconv.ops`, module for module and name for name.

``cconv.ops.reference.pooling.maxpool_forward`` is the oracle of
``cconv.ops.pooling.maxpool_forward``, and so on: the tests compare them, and the
benchmarks' book baseline runs on them. Written for clarity, dtype-preserving.
"""
from . import activation, conv, im2col, linear, lrn, optimizer, pooling  # noqa: F401  (the submodules)
