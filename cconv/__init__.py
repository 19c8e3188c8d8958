"""cconv: the CNNs of *Deep Learning from Scratch* (ch. 7-8) on fast Cython + OpenMP kernels.

The book's modules keep their names: ``cconv.layers``, ``cconv.util``, ``cconv.optimizer``,
``cconv.trainer``, ``cconv.gradient``, ``cconv.functions``, ``cconv.datasets``.
"""
__version__ = "0.1.0"

from ._config import get_num_threads, set_num_threads, show_config  # noqa: E402

__all__ = ["__version__", "get_num_threads", "set_num_threads", "show_config"]
