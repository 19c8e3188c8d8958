"""Benchmarks that print ratios measured side by side in one run.

:mod:`~cconv.bench.kernels` (``cconv bench kernels``): each op against its NumPy
reference. :mod:`~cconv.bench.train` (``cconv bench train``): whole training steps of
cconv, the book's NumPy code (:mod:`~cconv.bench.book`) and PyTorch.
"""
from ._timing import copy_bandwidth, interleaved
from .kernels import CONV_SHAPES, POOL_SHAPES, bench_kernels
from .train import bench_train

__all__ = ["bench_kernels", "bench_train", "interleaved", "copy_bandwidth", "CONV_SHAPES",
           "POOL_SHAPES"]
