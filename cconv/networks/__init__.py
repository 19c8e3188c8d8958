"""cconv's networks: the book's SimpleConvNet and DeepConvNet (and the classic designs).

Each has the book's interface: ``params``, ``predict``, ``loss``, ``accuracy``,
``gradient``, ``numerical_gradient``, ``save_params``, ``load_params``.
"""
from .base import Network, ParamsFileError, convert_pkl_to_npz, load_book_pickle
from .deep_convnet import DeepConvNet
from .simple_convnet import SimpleConvNet

NETWORKS = {"simple": SimpleConvNet, "deep": DeepConvNet}


def get_network(name, **kwargs):
    """Build a network by its short name (``'simple'``, ``'deep'``, ...) or class name."""
    key = str(name).lower()
    for short, cls in NETWORKS.items():
        if key in (short, cls.__name__.lower()):
            return cls(**kwargs)
    raise ValueError(f"unknown network {name!r}; choose one of {sorted(NETWORKS)}")


__all__ = ["Network", "ParamsFileError", "SimpleConvNet", "DeepConvNet", "NETWORKS",
           "get_network", "convert_pkl_to_npz", "load_book_pickle"]
