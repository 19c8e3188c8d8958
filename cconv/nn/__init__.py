"""cconv's layers, one module per family, all on the :class:`~cconv.nn.base.Layer` protocol.

=================  ==========================================  =====================
module             layers                                      op (cconv.ops.*)
=================  ==========================================  =====================
``activation``     Relu, Sigmoid, Tanh                         ``activation``
``linear``         Affine                                      ``linear``
``conv``           Convolution                                 ``conv``
``pooling``        Pooling (max), AvgPooling                   ``pooling``
``normalization``  BatchNormalization, Normalize               (NumPy)
``lrn``            LRN                                         ``lrn``
``dropout``        Dropout                                     (NumPy)
``loss``           SoftmaxWithLoss                             (NumPy)
=================  ==========================================  =====================

The book's path :mod:`cconv.layers` re-exports all of them.
"""
from .activation import Relu, Sigmoid, Tanh
from .base import Layer
from .conv import Convolution
from .dropout import Dropout
from .linear import Affine
from .loss import SoftmaxWithLoss
from .lrn import LRN
from .normalization import BatchNormalization, Normalize
from .pooling import AvgPooling, Pooling

__all__ = ["Layer", "Relu", "Sigmoid", "Tanh", "Affine", "SoftmaxWithLoss", "Dropout",
           "BatchNormalization", "Normalize", "Convolution", "Pooling", "AvgPooling", "LRN"]
