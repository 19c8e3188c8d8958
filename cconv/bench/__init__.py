"""Benchmarks that print ratios measured side by side in one run.

:mod:`~cconv.bench.kernels` (``cconv bench kernels``): each op against its NumPy
reference. :mod:`~cconv.bench.layers` (``cconv bench layers``): each convolution layer
per instruction-set variant, in GFLOP/s and % of the measured FMA peak.
:mod:`~cconv.bench.train` (``cconv bench train``): whole training steps of
cconv, the book's NumPy code (:mod:`~cconv.bench.book`) and PyTorch.
:mod:`~cconv.bench.steps` (``cconv bench steps``): where a step's time goes, per layer.
"""
from ._timing import copy_bandwidth, interleaved
from .kernels import CONV_SHAPES, POOL_SHAPES, bench_kernels
from .layers import bench_layers
from .steps import bench_steps
from .train import bench_train

__all__ = ["bench_kernels", "bench_layers", "bench_train", "bench_steps", "interleaved",
           "copy_bandwidth", "CONV_SHAPES", "POOL_SHAPES"]
