"""Small helpers shared by the ``cconv`` command (:mod:`cconv.cli`) and ``examples/``.

Data loading with the subsets the quick runs use, a picture file turned into a network
input, and the class names to print for a dataset.
"""
import os
import time
from pathlib import Path

import numpy as np

from .datasets import FASHION_MNIST_CLASSES, load_fashion_mnist, load_mnist

__all__ = ["DATASETS", "load_data", "class_names", "image_input", "default_run_dir"]

#: Dataset names accepted by :func:`load_data` (and ``--dataset``).
DATASETS = ("mnist", "fashion-mnist")


def load_data(dataset="mnist", data_dir=None, *, dtype="float32", train_size=None,
              test_size=None, download=False, bundled=True):
    """Load a dataset as image tensors for the CNNs (the book's ``flatten=False``).

    Parameters
    ----------
    dataset : {'mnist', 'fashion-mnist'}
    data_dir : str or os.PathLike, optional
        Searched first (see :mod:`cconv.datasets` for the other places).
    dtype : float32 or float64
        dtype of the images (use the network's).
    train_size, test_size : int, optional
        Keep only the first this many training / test images (quick runs).
    download : bool
        Download missing files. False: a missing file raises :class:`DatasetError`.
    bundled : bool
        Fall back on the MNIST copy that ships with cconv (default True).

    Returns
    -------
    (x_train, t_train), (x_test, t_test)
        x (N, 1, 28, 28) in ``dtype`` scaled to [0, 1]; t (N,) uint8 labels.

    Raises
    ------
    cconv.datasets.DatasetError
        A file is missing or malformed; the message says where files were looked for.
    ValueError
        ``train_size`` or ``test_size`` is not in 1..the size of the set.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    loader = load_mnist if dataset == "mnist" else load_fashion_mnist
    (x_train, t_train), (x_test, t_test) = loader(
        flatten=False, data_dir=data_dir, dtype=np.dtype(dtype), download=download,
        bundled=bundled)
    for n, x, what in ((train_size, x_train, "train_size"), (test_size, x_test, "test_size")):
        if n is not None and not 1 <= n <= len(x):
            raise ValueError(f"{what} must be between 1 and {len(x)} (the {dataset} set's "
                             f"size), got {n}")
    if train_size is not None:
        x_train, t_train = x_train[:train_size], t_train[:train_size]
    if test_size is not None:
        x_test, t_test = x_test[:test_size], t_test[:test_size]
    return (x_train, t_train), (x_test, t_test)


def class_names(dataset):
    """Names of the labels 0..9 of ``dataset`` (digits for MNIST)."""
    if dataset == "fashion-mnist":
        return tuple(FASHION_MNIST_CLASSES)
    return tuple(str(k) for k in range(10))


def image_input(path, input_dim=(1, 28, 28), invert="auto", dtype=np.float32):
    """Read a picture file as one input of a network, like an MNIST test image.

    Parameters
    ----------
    path : str or os.PathLike
        A PNG, JPEG, ... (anything Pillow reads).
    input_dim : (C, H, W)
        The network's input shape: the picture is converted to grayscale and resized to
        H x W (not cropped); the gray plane is repeated over the C channels.
    invert : {'auto', True, False}
        MNIST digits are light on a dark background. ``'auto'`` inverts a picture whose
        mean is above 0.5 (a dark digit drawn on white paper).
    dtype : float32 or float64

    Returns
    -------
    x : ndarray, shape (1, C, H, W), values in [0, 1]
    """
    c, h, w = (int(v) for v in input_dim)
    from .visualize import load_image
    gray = load_image(path, size=(h, w))
    if invert == "auto":
        invert = float(gray.mean()) > 0.5
    if invert:
        gray = 1.0 - gray
    x = np.repeat(gray[None, None], c, axis=1)
    return np.ascontiguousarray(x, dtype=dtype)


def default_run_dir(net, dataset, root="runs"):
    """``<root>/<net>-<dataset>-<YYYYmmdd-HHMMSS>``, with a suffix if it exists already."""
    base = Path(root) / f"{net}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = Path(f"{base}-{k}")
    return path


def _check_writable_dir(path):
    """Create ``path`` (and parents) and make sure a file can be written into it.

    Raises
    ------
    OSError
        With a message naming the folder and why it cannot be used.
    """
    path = Path(os.fspath(path))
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".cconv-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        blocker = next((p for p in [path, *path.parents] if p.exists() and not p.is_dir()),
                       None)
        why = (f"'{blocker}' is a file, not a folder" if blocker is not None
               else exc.strerror or str(exc))
        raise type(exc)(exc.errno, f"cannot write to output folder '{path}': {why}") \
            from None
    return path

