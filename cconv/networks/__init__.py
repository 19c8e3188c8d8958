"""cconv's networks: the book's SimpleConvNet and DeepConvNet (and the classic designs).

Each has the book's interface: ``params``, ``predict``, ``loss``, ``accuracy``,
``gradient``, ``numerical_gradient``, ``save_params``, ``load_params``.
"""
from .base import Network, ParamsFileError, convert_pkl_to_npz, load_book_pickle
from .alexnet import AlexNet
from .deep_convnet import DeepConvNet
from .lenet import LeNet
from .simple_convnet import SimpleConvNet

NETWORKS = {"simple": SimpleConvNet, "deep": DeepConvNet, "lenet": LeNet, "alexnet": AlexNet}


def load_network(path, dtype=None):
    """Rebuild the network saved in ``path`` (by ``save_params``) and load its parameters.

    The file's metadata names the class and its constructor arguments. ``dtype``
    overrides the saved dtype (the parameters are converted).
    """
    from .._io import load_npz
    try:
        _, meta = load_npz(path)
    except ValueError as exc:
        raise ParamsFileError(str(exc)) from None
    if not meta or "network" not in meta or "config" not in meta:
        raise ParamsFileError(f"{path}: no network description in the file (was it written "
                              "by cconv's save_params?)")
    cls = {c.__name__: c for c in NETWORKS.values()}.get(meta["network"])
    if cls is None:
        raise ParamsFileError(f"{path}: unknown network {meta['network']!r}")
    net = cls(dtype=dtype or meta.get("dtype", "float64"), **meta["config"])
    return net.load_params(path, cast=dtype is not None)


def get_network(name, **kwargs):
    """Build a network by its short name (``'simple'``, ``'deep'``, ...) or class name."""
    key = str(name).lower()
    for short, cls in NETWORKS.items():
        if key in (short, cls.__name__.lower()):
            return cls(**kwargs)
    raise ValueError(f"unknown network {name!r}; choose one of {sorted(NETWORKS)}")


__all__ = ["Network", "ParamsFileError", "SimpleConvNet", "DeepConvNet", "LeNet", "AlexNet",
           "NETWORKS", "get_network", "load_network", "convert_pkl_to_npz", "load_book_pickle"]
