"""The datasets of the command line by name, with the subsets quick runs use."""
import numpy as np

from ..datasets import FASHION_MNIST_CLASSES, load_fashion_mnist, load_mnist

__all__ = ["DATASETS", "load_data", "class_names"]

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
