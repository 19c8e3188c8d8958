"""The one door to cconv's compiled code: one checked entry per operation family.

Layers, the optimizer, the benchmarks and the tests all call these functions; only the
modules of this package import the compiled kernels (``cconv._im2col``, ``cconv._conv``,
``cconv._pooling``, ``cconv._lrn``, ``cconv._activation``, ``cconv._optimizer``). Each
function checks its arguments once per call, taking every size from the arrays it is
handed, then runs the kernel (one OpenMP call, the GIL released). Every function
takes ``out=`` buffers where it allocates (checked: shape, dtype, contiguity, no overlap
with an input) and ``n_threads`` (see :func:`cconv.set_num_threads`). Inputs may be
non-contiguous, Fortran-ordered or read-only; outputs are C-contiguous in the input's
float dtype.

Families (module = kernel = reference = test base name): :mod:`~cconv.ops.im2col`,
:mod:`~cconv.ops.conv`, :mod:`~cconv.ops.linear`, :mod:`~cconv.ops.pooling`, :mod:`~cconv.ops.lrn`,
:mod:`~cconv.ops.activation`, :mod:`~cconv.ops.optimizer`; their NumPy twins in
:mod:`cconv.ops.reference` under the same names.
"""
from .._checks import float_array as as_float_array  # noqa: F401  (the dtype policy)
from .activation import relu, relu_backward, tanh, tanh_backward
from .conv import (ConvSaved, bias_add_, conv_backward, conv_backward_from_pool, conv_forward,
                   conv_forward_relu_pool,
                   conv_isa, fma_flops, sum_channels, use_conv_isa, use_winograd, winograd,
                   cvec, use_cvec)
from .geometry import window_geometry
from .im2col import col2im, col2im_t, configure_streaming, im2col, im2col_t, stream_threshold
from .linear import affine_backward, affine_forward
from .lrn import check_lrn_params, lrn_backward, lrn_forward
from .optimizer import adam_update
from .pooling import (ARG_DTYPE, avgpool_backward, avgpool_forward, maxpool_backward,
                      maxpool_forward)

__all__ = ["as_float_array", "window_geometry",
           "im2col", "col2im", "im2col_t", "col2im_t", "stream_threshold",
           "configure_streaming",
           "ConvSaved", "conv_forward", "conv_forward_relu_pool", "conv_backward",
           "conv_backward_from_pool",
           "bias_add_", "sum_channels",
           "conv_isa", "use_conv_isa", "fma_flops", "winograd", "use_winograd", "cvec", "use_cvec",
           "ARG_DTYPE", "maxpool_forward", "maxpool_backward", "avgpool_forward",
           "avgpool_backward",
           "affine_forward", "affine_backward",
           "lrn_forward", "lrn_backward", "check_lrn_params",
           "relu", "relu_backward", "tanh", "tanh_backward", "adam_update", "compiled_modules"]


def compiled_modules():
    """The compiled kernel modules, by family name (for :func:`cconv.show_config`)."""
    from .. import _activation, _conv, _im2col, _lrn, _optimizer, _pooling
    return {"im2col": _im2col, "conv": _conv, "pooling": _pooling, "lrn": _lrn,
            "activation": _activation, "optimizer": _optimizer}
