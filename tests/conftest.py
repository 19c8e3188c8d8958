"""Shared fixtures: the real datasets, loaded once per test session.

The datasets directory (the folder that holds ``mnist/``) is the copy of MNIST that ships
inside the installed cconv (``cconv.datasets.BUNDLED_DATA_DIR``), so the tests need no
download and no variable. ``$CCONV_TEST_DATA`` overrides it (optional: a folder holding
``mnist/``, to test against another copy). Real data is required: when it is missing the
fixtures fail with a message, they do not skip.

Arrays handed out by session fixtures are read-only, so that no test can change them
under another one; copy before modifying (``x = x.copy()``).
"""
import os
import signal
from pathlib import Path

import sys

import pytest

REPO = Path(__file__).resolve().parents[1]
# tests/op_cases.py: the shapes and helpers the op tests share (importlib import mode
# does not put this folder on sys.path by itself)
sys.path.insert(0, str(Path(__file__).resolve().parent))
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="session", autouse=True)
def _outside_the_source_tree(tmp_path_factory):
    """Run the session from an empty folder.

    ``python -m cconv`` and ``python -c`` put the working directory first on sys.path;
    from the repository root they would import the source folder (which has no compiled
    modules) instead of the installed cconv.
    """
    old = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(old)


@pytest.fixture(scope="session", autouse=True)
def _ctrl_c_delivered():
    """Tests of Ctrl-C handling need SIGINT to arrive: a shell that starts a job in the
    background ignores SIGINT, and the ignoring is inherited. Restore Python's handler
    (children then start with the default disposition)."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield


def _freeze(tree):
    if isinstance(tree, tuple):
        return tuple(_freeze(t) for t in tree)
    tree.flags.writeable = False
    return tree


@pytest.fixture(scope="session")
def datasets_dir():
    """The datasets directory (holds ``mnist/``), as a Path: cconv's bundled copy, or
    ``$CCONV_TEST_DATA`` when that is set."""
    from cconv.datasets import BUNDLED_DATA_DIR
    override = os.environ.get("CCONV_TEST_DATA", "").strip()
    d = Path(override) if override else BUNDLED_DATA_DIR
    if not (d / "mnist").is_dir():
        where = ("$CCONV_TEST_DATA" if override else
                 "the MNIST copy that ships inside cconv (reinstall with `pip install .`)")
        pytest.fail(f"real MNIST not found: {d / 'mnist'} does not exist ({where})")
    return d


@pytest.fixture(scope="session")
def mnist_dir(datasets_dir):
    """The directory holding the four real MNIST ``.gz`` files."""
    return datasets_dir / "mnist"


@pytest.fixture(scope="session")
def mnist_data(mnist_dir):
    """Real MNIST as the book loads it by default, read-only, loaded once per session.

    ``(x_train, t_train), (x_test, t_test)``: x float32 in [0, 1], shape (60000, 784) and
    (10000, 784); t uint8 class indices, shape (60000,) and (10000,).
    """
    from cconv.datasets import load_mnist
    return _freeze(load_mnist(data_dir=mnist_dir, download=False))


@pytest.fixture(scope="session")
def mnist_data_4d(mnist_data):
    """:func:`mnist_data` with images shaped (N, 1, 28, 28), as ``flatten=False`` gives.

    Read-only views of the same memory (no second load).
    """
    (x_train, t_train), (x_test, t_test) = mnist_data
    return ((x_train.reshape(-1, 1, 28, 28), t_train),
            (x_test.reshape(-1, 1, 28, 28), t_test))


@pytest.fixture(scope="session")
def fashion_mnist_dir():
    """Debian's Fashion-MNIST directory; the test is skipped only when it is absent."""
    if not FASHION_MNIST_SYSTEM_DIR.is_dir():
        pytest.skip(f"{FASHION_MNIST_SYSTEM_DIR} is absent: `apt-get install "
                    f"dataset-fashion-mnist` installs Fashion-MNIST there (CI does)")
    return FASHION_MNIST_SYSTEM_DIR


@pytest.fixture(scope="session")
def fashion_mnist_data(fashion_mnist_dir):
    """Real Fashion-MNIST (book defaults: float32 (N, 784), uint8 labels), read-only."""
    from cconv.datasets import load_fashion_mnist
    return _freeze(load_fashion_mnist(data_dir=fashion_mnist_dir, download=False))


@pytest.fixture
def isolated_data_env(tmp_path, monkeypatch):
    """Point every dataset location and mirror list away from the real ones.

    ``$CCONV_DATA_DIR`` and the mirror variables are unset, the bundled MNIST copy is
    moved out of sight (``BUNDLED_DATA_DIR`` points at a folder that does not exist),
    ``$XDG_CACHE_HOME`` is a fresh
    temporary directory (so nothing is written to ``~/.cache``), and both mirror lists are
    empty, so an accidental download fails at once instead of reaching the internet.
    Returns the temporary cache home.
    """
    from cconv import datasets
    for var in ("CCONV_DATA_DIR", "CCONV_MNIST_MIRRORS", "CCONV_FASHION_MNIST_MIRRORS"):
        monkeypatch.delenv(var, raising=False)
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setattr(datasets, "BUNDLED_DATA_DIR", tmp_path / "no-bundled-data")
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", [])
    monkeypatch.setattr(datasets, "FASHION_MNIST_MIRRORS", [])
    return cache

