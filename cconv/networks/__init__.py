"""cconv's networks: the book's SimpleConvNet and DeepConvNet (and the classic designs).

Each has the book's interface: ``params``, ``predict``, ``loss``, ``accuracy``,
``gradient``, ``numerical_gradient``, ``save_params``, ``load_params``.
"""
import contextlib

from ..io.book_pickle import ParamsFileError, convert_pkl_to_npz, load_book_pickle
from .base import Network, parameter_budget
from .alexnet import AlexNet
from .deep_convnet import DeepConvNet
from .lenet import LeNet
from .simple_convnet import SimpleConvNet

NETWORKS = {"simple": SimpleConvNet, "deep": DeepConvNet, "lenet": LeNet, "alexnet": AlexNet}


#: Weight values a config may ask for beyond what its file holds (64 MB of float64).
_BUDGET_MARGIN = 1 << 23


def load_network(path, dtype=None):
    """Rebuild the network saved in ``path`` (by ``save_params``) and load its parameters.

    The file's metadata names the class and its constructor arguments. ``dtype``
    overrides the saved dtype (the parameters are converted).

    Raises
    ------
    ParamsFileError
        For a file that is not a readable .npz, has no network description (metadata
        missing, not a JSON object, or without ``network``/``config``), names an unknown
        network, holds a configuration the constructor refuses (the constructor's
        message is kept), or parameters that do not fit the rebuilt network.
    """
    from ..io.npz import NpzMetadataError, load_npz
    from .base import resolve_dtype
    if dtype is not None:
        dtype = resolve_dtype(dtype)  # the caller's argument: its TypeError stays one
    try:
        arrays, meta = load_npz(path)
    except NpzMetadataError as exc:
        raise ParamsFileError(f"{path}: no network description in the file ({exc})") from None
    except ValueError as exc:
        raise ParamsFileError(str(exc)) from None
    if not isinstance(meta, dict) or "network" not in meta or "config" not in meta:
        raise ParamsFileError(f"{path}: no network description in the file (was it written "
                              "by cconv's save_params?)")
    dt = dtype if dtype is not None else meta.get("dtype", "float64")
    held = sum(a.size for k, a in arrays.items() if "/" not in k)
    del arrays
    net = network_from_description(path, meta["network"], meta["config"], dt, held)
    return net.load_params(path, cast=dtype is not None)


def network_from_description(path, name, config, dtype, held=None):
    """A new network of class ``name`` (e.g. ``'LeNet'``) built with ``config``, the
    description a parameter file of ``path`` holds; ParamsFileError if it cannot be.

    ``held``: the number of parameter values the file holds. The network may draw no
    more weights than that (and a margin, so that a config the constructor refuses, or
    small differences, keep their own messages): a small file whose config asks for
    huge layers fails before allocating them."""
    classes = {c.__name__: c for c in NETWORKS.values()}
    cls = classes.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ParamsFileError(f"{path}: unknown network {name!r}")
    if not isinstance(config, dict):
        raise ParamsFileError(f"{path}: the network's config is not a JSON object: "
                              f"{config!r}"[:300])
    # options added since a file was written: the values that describe its network
    config = {**getattr(cls, "CONFIG_OF_OLDER_FILES", {}), **config}
    budget = (parameter_budget(held + _BUDGET_MARGIN, path) if held is not None
              else contextlib.nullcontext())
    try:
        with budget:
            return cls(dtype=dtype, **config)
    except ParamsFileError:
        raise
    except (TypeError, ValueError, ArithmeticError, KeyError, MemoryError) as exc:
        raise ParamsFileError(f"{path}: cannot rebuild the {name} it describes: "
                              f"{type(exc).__name__}: {exc}") from None


def get_network(name, **kwargs):
    """Build a network by its short name (``'simple'``, ``'deep'``, ...) or class name."""
    key = str(name).lower()
    for short, cls in NETWORKS.items():
        if key in (short, cls.__name__.lower()):
            return cls(**kwargs)
    raise ValueError(f"unknown network {name!r}; choose one of {sorted(NETWORKS)}")


__all__ = ["Network", "ParamsFileError", "SimpleConvNet", "DeepConvNet", "LeNet", "AlexNet",
           "NETWORKS", "get_network", "load_network", "network_from_description", "convert_pkl_to_npz", "load_book_pickle"]
