"""MNIST and Fashion-MNIST loaders: the book's ``dataset/mnist.py``, with checks and downloads.

``load_mnist(normalize=True, flatten=True, one_hot_label=False)`` returns
``(x_train, t_train), (x_test, t_test)`` exactly as the book's loader does, so
``from dataset.mnist import load_mnist`` becomes ``from cconv.datasets import load_mnist``.

Where the files are looked for
------------------------------
Each of the four files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, gzip-compressed with a ``.gz``
suffix or not) is looked for in these directories, first match wins:

1. the ``data_dir`` argument,
2. ``$CCONV_DATA_DIR``,
3. the user cache directory ``$XDG_CACHE_HOME/cconv`` (default ``~/.cache/cconv``),
4. for MNIST, the copy that ships inside cconv (:data:`BUNDLED_DATA_DIR` ``/mnist``; the
   files' license, CC BY-SA 3.0 by Y. LeCun and C. Cortes, and checksums lie beside
   them), so that MNIST loads offline out of the box; ``bundled=False`` passes it over
   (to download a fresh copy instead),
5. for Fashion-MNIST, ``/usr/share/datasets/fashion-mnist`` (Debian's
   ``dataset-fashion-mnist`` package).

In each directory ``D`` the files may lie in the dataset's subfolder ``D/mnist/``
(``D/fashion-mnist/``), which is tried first, or in ``D`` itself; so both
``data_dir="/data"`` and ``data_dir="/data/mnist"`` work. The two datasets use the same
file names: keep them in their own subfolders (downloads always do), or a folder of MNIST
files would also be taken for Fashion-MNIST (``verify=True`` would catch that).

Download policy
---------------
Files found nowhere are downloaded (``download=True``, the default) into the dataset's
subfolder of the first directory of the list above (``data_dir``, else
``$CCONV_DATA_DIR``, else the cache directory); :func:`get_data_home` says which. The
mirrors of :data:`MNIST_MIRRORS` (:data:`FASHION_MNIST_MIRRORS`) are tried in turn, or
those of the comma-separated environment variable ``$CCONV_MNIST_MIRRORS``
(``$CCONV_FASHION_MNIST_MIRRORS``) when it is set. Each file is written to a temporary
file in the target directory, its *decompressed* content is checked against the SHA-256
recorded here, and only then is it renamed into place (``os.replace``, atomic): a mirror
that is down, too slow (``DOWNLOAD_TIMEOUT`` seconds without data), serves an HTML page,
a truncated or a corrupted file is logged as a warning and the next mirror is tried, and
no partial or wrong file is ever left behind. When every mirror fails a
:class:`DownloadError` lists the URLs tried and the directories where the files can be
put by hand. Files already present are not hashed unless ``verify=True``.

Nothing is pickled and nothing is ever written into the package folder (the bundled
copy is only read). Parsing the
gzip files takes about half a second, so there is no parsed cache either: one less file
to go stale or corrupt.
"""
import http.client
import logging
import os
import secrets
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

from .io.idx import DatasetError
from .io.idx import GZIP_MAGIC as _GZIP_MAGIC
from .io.idx import IMG_COLS as _IMG_COLS  # noqa: F401  (tests read them here)
from .io.idx import IMG_ROWS as _IMG_ROWS
from .io.idx import N_CLASSES as _N_CLASSES
from .io.idx import parse_idx as _parse_idx
from .io.idx import read_bytes as _read_bytes
from .io.idx import sha256 as _sha256
from .training.progress import Progress

__all__ = [
    "load_mnist", "load_fashion_mnist", "fetch", "get_data_home",
    "DatasetError", "DownloadError",
    "MNIST_MIRRORS", "FASHION_MNIST_MIRRORS", "MNIST_SHA256", "FASHION_MNIST_SHA256",
    "FASHION_MNIST_CLASSES", "DOWNLOAD_TIMEOUT", "FILES", "BUNDLED_DATA_DIR",
]

logger = logging.getLogger(__name__)


class DownloadError(DatasetError, OSError):
    """No mirror delivered a good file, or the download directory is not writable."""


#: The book's keys (``dataset/mnist.py``'s ``key_file``) and the files' names without ``.gz``.
FILES = {
    "train_img": "train-images-idx3-ubyte",
    "train_label": "train-labels-idx1-ubyte",
    "test_img": "t10k-images-idx3-ubyte",
    "test_label": "t10k-labels-idx1-ubyte",
}

#: SHA-256 of the *decompressed* MNIST files (also in shared/datasets/mnist/SHA256SUMS.raw).
#: Hashing the content, not the .gz, accepts any recompression of the same data.
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: SHA-256 of the decompressed Fashion-MNIST files, computed from Debian's
#: dataset-fashion-mnist 0.0~git20200523.55506a9-1 (its .gz files are recompressed; the
#: content is the upstream one, and these hashes agree with other projects' records).
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

#: Base URLs tried in turn for MNIST; ``<mirror>/<file>.gz`` is fetched. Replace the list
#: (or set ``$CCONV_MNIST_MIRRORS``) to use a local mirror.
MNIST_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]

#: Base URLs tried in turn for Fashion-MNIST (or ``$CCONV_FASHION_MNIST_MIRRORS``).
FASHION_MNIST_MIRRORS = [
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
]

#: Fashion-MNIST class names, indexed by label (for plot titles).
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

#: Seconds a download may wait for the server (to connect, or for the next data) before
#: the mirror counts as down.
DOWNLOAD_TIMEOUT = 30.0

#: The datasets that ship inside the package (``mnist/`` with the four MNIST files).
BUNDLED_DATA_DIR = Path(__file__).resolve().parent / "data"

_CHUNK = 1 << 16


class _Dataset:
    def __init__(self, key, title, subdir, sha_attr, mirrors_attr, mirrors_env, extra_dirs=(),
                 bundled=False):
        self.key, self.title, self.subdir = key, title, subdir
        self.sha_attr, self.mirrors_attr, self.mirrors_env = sha_attr, mirrors_attr, mirrors_env
        self.extra_dirs = tuple(extra_dirs)
        self.bundled = bundled

    def bundled_dir(self):
        """The copy shipped inside cconv, or None (read at call time: tests move it)."""
        return BUNDLED_DATA_DIR / self.subdir if self.bundled else None

    @property
    def sha256(self):
        return globals()[self.sha_attr]

    def mirrors(self):
        env = os.environ.get(self.mirrors_env, "").strip()
        if env:
            return [m.strip() for m in env.split(",") if m.strip()]
        return list(globals()[self.mirrors_attr])


_DATASETS = {
    "mnist": _Dataset("mnist", "MNIST", "mnist", "MNIST_SHA256", "MNIST_MIRRORS",
                      "CCONV_MNIST_MIRRORS", bundled=True),
    "fashion-mnist": _Dataset("fashion-mnist", "Fashion-MNIST", "fashion-mnist",
                              "FASHION_MNIST_SHA256", "FASHION_MNIST_MIRRORS",
                              "CCONV_FASHION_MNIST_MIRRORS",
                              extra_dirs=("/usr/share/datasets/fashion-mnist",)),
}


def _dataset(name):
    key = str(name).lower().replace("_", "-")
    if key == "fashion":
        key = "fashion-mnist"
    if key not in _DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(_DATASETS)}")
    return _DATASETS[key]


# --- where the files are --------------------------------------------------------------

def _user_cache_dir():
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "cconv"


def _as_dir(d):
    return Path(os.path.abspath(os.path.expanduser(os.fspath(d))))


def get_data_home(data_dir=None):
    """The directory downloads go to (each dataset in its own subfolder of it).

    Parameters
    ----------
    data_dir : str or path-like, optional
        Returned (absolute) when given.

    Returns
    -------
    pathlib.Path
        `data_dir`, else ``$CCONV_DATA_DIR``, else ``$XDG_CACHE_HOME/cconv`` (default
        ``~/.cache/cconv``). The directory need not exist yet.
    """
    if data_dir is not None:
        return _as_dir(data_dir)
    env = os.environ.get("CCONV_DATA_DIR", "").strip()
    if env:
        return _as_dir(env)
    return _user_cache_dir()


def _search_dirs(ds, data_dir, bundled=True):
    bases = []
    if data_dir is not None:
        bases.append(_as_dir(data_dir))
    env = os.environ.get("CCONV_DATA_DIR", "").strip()
    if env:
        bases.append(_as_dir(env))
    bases.append(_user_cache_dir())
    dirs = []
    for base in bases:
        dirs += [base / ds.subdir, base]
    if bundled and ds.bundled_dir() is not None:
        dirs.append(ds.bundled_dir())
    dirs += [Path(d) for d in ds.extra_dirs]
    unique = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def _find(stem, dirs):
    for d in dirs:
        for name in (stem + ".gz", stem):
            p = d / name
            if p.is_file():
                return p
    return None


# --- checking ---------------------------------------------------------------------

def _check_sha256(data, expected, what, ds, stem):
    got = _sha256(data)
    if got != expected:
        raise DatasetError(
            f"{what}: SHA-256 of the decompressed content is {got}, expected {expected} "
            f"for {ds.title} {stem}; the file is damaged or is not {ds.title}'s "
            f"(delete it to download it again)")


# --- downloading ----------------------------------------------------------------------

class _MirrorFailed(Exception):
    pass


def _ensure_writable(target, ds, dirs):
    def fail(reason, cause=None):
        raise DownloadError(
            f"cannot download {ds.title}: the download directory {target} is not writable "
            f"({reason}). Pass data_dir= a writable directory or set $CCONV_DATA_DIR, or put "
            f"the files ({', '.join(s + '.gz' for s in FILES.values())}) by hand in one of: "
            f"{', '.join(map(str, dirs))}") from cause

    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        fail(f"{type(e).__name__}: {e}", e)
    if not os.access(target, os.W_OK | os.X_OK):
        fail("no write permission")
    try:  # os.access says yes to root even on a read-only file system
        fd, probe = tempfile.mkstemp(dir=target, prefix=".cconv-write-test.")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        fail(f"{type(e).__name__}: {e}", e)


def _create_part_file(dest):
    # os.open with mode 0o666 honours the umask (mkstemp would leave the final file 0o600)
    while True:
        tmp = dest.parent / f".{dest.name}.{secrets.token_hex(6)}.part"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                           0o666), tmp
        except FileExistsError:
            continue


def _download_from(url, dest, expected_sha, progress):
    """Fetch `url` into `dest` atomically after checking its content, or raise _MirrorFailed."""
    from . import __version__
    try:
        request = urllib.request.Request(url, headers={"User-Agent":
                                                       f"cconv/{__version__} (urllib)"})
    except ValueError as e:   # "unknown url type", "Invalid IPv6 URL"
        raise _MirrorFailed(f"not a URL ({e})") from None
    fd, tmp = _create_part_file(dest)
    done = False
    try:
        with os.fdopen(fd, "wb") as f:
            with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as resp:
                status = getattr(resp, "status", None)
                if status is not None and status != 200:
                    raise _MirrorFailed(f"HTTP status {status}")
                ctype = resp.headers.get("Content-Type", "") or ""
                if "html" in ctype.lower():
                    raise _MirrorFailed(f"served an HTML page (Content-Type: {ctype}), "
                                        f"not the gzip file")
                length = (resp.headers.get("Content-Length") or "").strip()
                total = int(length) if length.isdigit() else None
                received = 0
                with Progress(total, desc=dest.name, unit="B", unit_scale=True,
                              enabled=progress) as bar:
                    while True:
                        chunk = resp.read(_CHUNK)
                        if not chunk:
                            break
                        f.write(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                if total is not None and received != total:
                    raise _MirrorFailed(f"truncated: the connection ended after {received} of "
                                        f"{total} bytes")
            f.flush()
            os.fsync(f.fileno())
        with open(tmp, "rb") as f:
            head = f.read(16)
        if head[:2] != _GZIP_MAGIC:
            raise _MirrorFailed(f"not gzip data (it starts with {head!r})")
        data = _read_bytes(tmp, what="the downloaded file")
        got = _sha256(data)
        if got != expected_sha:
            raise _MirrorFailed(f"checksum mismatch: SHA-256 of the decompressed content is "
                                f"{got}, expected {expected_sha}")
        os.replace(tmp, dest)
        done = True
    except DatasetError as e:  # corrupt gzip, from _read_bytes
        raise _MirrorFailed(str(e)) from e
    except (OSError, http.client.HTTPException, ValueError) as e:
        # URLError, HTTPError (404...), refused connection, timeout, reset, bad URL
        if isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError):
            e_text = str(e.reason)  # "[Errno 111] Connection refused", "timed out"
        else:
            e_text = str(e) or repr(e)  # "HTTP Error 404: Not Found"
        raise _MirrorFailed(f"{type(e).__name__}: {e_text}") from e
    finally:
        if not done:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass


def _not_a_mirror(mirror):
    """Why ``mirror`` cannot be a base URL, or None (http://, https:// or file:// only)."""
    try:
        parts = urllib.parse.urlsplit(mirror)
    except ValueError as e:
        return f"not a URL ({e})"
    if parts.scheme not in ("http", "https", "file"):
        return "not a URL: a mirror starts with http://, https:// or file://"
    if parts.scheme != "file" and not parts.hostname:
        return "not a URL: no host name"
    return None


def _download(ds, stem, target, mirrors, progress, dirs):
    filename = stem + ".gz"
    dest = target / filename
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        problem = _not_a_mirror(mirror)
        if problem:
            logger.warning("cconv: skipping mirror %r: %s", mirror, problem)
            failures.append(f"  {mirror!r}: {problem}")
            continue
        try:
            _download_from(url, dest, ds.sha256[stem], progress)
        except _MirrorFailed as e:
            logger.warning("cconv: downloading %s failed: %s; trying the next mirror", url, e)
            failures.append(f"  {url}: {e}")
            continue
        logger.info("cconv: downloaded %s from %s", dest, url)
        return dest
    tried = "\n".join(failures) if failures else "  (no mirrors configured)"
    raise DownloadError(
        f"could not download {ds.title} file {filename}; mirrors tried:\n{tried}\n"
        f"If this machine is offline, put the four files "
        f"({', '.join(s + '.gz' for s in FILES.values())}) by hand in one of the directories "
        f"searched: {', '.join(map(str, dirs))} (or pass data_dir=, or set $CCONV_DATA_DIR; "
        f"other mirrors: ${ds.mirrors_env}, a comma-separated list of base URLs)")


def fetch(name="mnist", data_dir=None, *, download=True, verify=False, progress=None,
          bundled=True):
    """Find the four files of a dataset, downloading those that are missing.

    Parameters
    ----------
    name : {'mnist', 'fashion-mnist'}
        The dataset.
    data_dir : str or path-like, optional
        Searched first, and where downloads go (see the module docstring for the search
        order and the download policy).
    download : bool, optional
        Download missing files (default True). If False a missing file raises
        :class:`DatasetError`.
    verify : bool, optional
        Also check the SHA-256 of the decompressed content of files already present
        (downloaded files are always checked).
    progress : bool or None, optional
        Show a progress bar for downloads (None: unless ``$CCONV_PROGRESS=0``).
    bundled : bool, optional
        Use the MNIST copy that ships with cconv when the files are found nowhere before
        it (default True). False passes it over, so that missing files are downloaded: a
        fresh copy from the mirrors.

    Returns
    -------
    dict of str to pathlib.Path
        The book's keys ``'train_img'``, ``'train_label'``, ``'test_img'``,
        ``'test_label'`` mapped to the files.

    Raises
    ------
    DatasetError
        A file is missing and `download` is False, or `verify` found a bad file.
    DownloadError
        Every mirror failed for a missing file, or the download directory is not writable.
    """
    ds = _dataset(name)
    dirs = _search_dirs(ds, data_dir, bundled)
    found = {key: _find(stem, dirs) for key, stem in FILES.items()}
    missing = [key for key, path in found.items() if path is None]
    if missing and not download:
        names = ", ".join(FILES[k] + "[.gz]" for k in missing)
        raise DatasetError(f"{ds.title} file(s) not found: {names}. Directories searched: "
                           f"{', '.join(map(str, dirs))}. Put the files in one of them, or "
                           f"pass download=True")
    if missing:
        target = get_data_home(data_dir) / ds.subdir
        created = []  # the directories this call creates, deepest first, to undo on failure
        d = target
        while not d.exists() and d != d.parent:
            created.append(d)
            d = d.parent
        _ensure_writable(target, ds, dirs)
        mirrors = ds.mirrors()
        try:
            for key in missing:
                found[key] = _download(ds, FILES[key], target, mirrors, progress, dirs)
        except DownloadError:
            for d in created:
                try:
                    d.rmdir()  # only if still empty: files that did download stay
                except OSError:
                    break
            raise
    if verify:
        for key, path in found.items():
            if key not in missing:
                data = _read_bytes(path)
                _check_sha256(data, ds.sha256[FILES[key]], str(path), ds, FILES[key])
    return found


# --- loading --------------------------------------------------------------------------

def _resolve_dtypes(normalize, dtype):
    if dtype is None:
        img = np.dtype(np.float32) if normalize else np.dtype(np.uint8)
    else:
        img = np.dtype(dtype)
        if normalize and img.kind != "f":
            raise ValueError(f"normalize=True scales pixels to [0, 1], which needs a float "
                             f"dtype, not {img}")
        if img.kind not in "fiu":
            raise ValueError(f"dtype must be a float or integer dtype, not {img}")
    onehot = img if img.kind == "f" else np.dtype(np.float32)
    return img, onehot


def _load(name, normalize, flatten, one_hot_label, data_dir, dtype, download, verify, progress,
          bundled):
    img_dtype, onehot_dtype = _resolve_dtypes(normalize, dtype)
    ds = _dataset(name)
    paths = fetch(ds.key, data_dir, download=download, verify=False, progress=progress,
                  bundled=bundled)
    raw = {}
    for key, stem in FILES.items():
        path = paths[key]
        data = _read_bytes(path)
        if verify:
            _check_sha256(data, ds.sha256[stem], str(path), ds, stem)
        raw[key] = _parse_idx(data, str(path), "images" if key.endswith("img") else "labels")
    for split in ("train", "test"):
        n_img, n_lbl = len(raw[split + "_img"]), len(raw[split + "_label"])
        if n_img != n_lbl:
            raise DatasetError(f"{paths[split + '_img']} has {n_img} images but "
                               f"{paths[split + '_label']} has {n_lbl} labels")

    def images(x):
        out = x.astype(img_dtype)  # a fresh, writable array
        if normalize:
            out /= 255.0  # the book's float32 / 255.0, bit for bit
        return out.reshape(-1, _IMG_ROWS * _IMG_COLS) if flatten else out.reshape(
            -1, 1, _IMG_ROWS, _IMG_COLS)

    def labels(t):
        if not one_hot_label:
            return t.copy()
        out = np.zeros((t.size, _N_CLASSES), dtype=onehot_dtype)
        out[np.arange(t.size), t] = 1
        return out

    return ((images(raw["train_img"]), labels(raw["train_label"])),
            (images(raw["test_img"]), labels(raw["test_label"])))


_LOAD_DOC = """Load {title} as the book's ``load_mnist`` does.

    Parameters
    ----------
    normalize : bool, optional
        Scale pixels to [0, 1] as float32 (the book: ``astype(float32) / 255.0``); if False
        keep the raw 0-255 values as uint8.
    flatten : bool, optional
        Images as rows of 784 values, shape (N, 784); if False as (N, 1, 28, 28).
    one_hot_label : bool, optional
        Labels as one-hot rows, shape (N, 10); if False as uint8 class indices, shape (N,).
    data_dir : str or path-like, optional
        Searched first, and where missing files are downloaded (see :mod:`cconv.datasets`).
    dtype : dtype, optional
        dtype of the images: default float32 when `normalize`, else uint8. Pass
        ``np.float64`` for float64 training. With ``normalize=False`` a float or integer
        dtype holds the raw 0-255 values.
    download : bool, optional
        Download missing files from the mirrors (default True).
    verify : bool, optional
        Check the SHA-256 of the decompressed content of files already present (downloaded
        files are always checked).
    progress : bool or None, optional
        Progress bar while downloading (None: unless ``$CCONV_PROGRESS=0``).
    bundled : bool, optional
        MNIST only: fall back on the copy that ships with cconv (default True); False
        downloads the files found nowhere else (see :func:`fetch`).

    Returns
    -------
    (x_train, t_train), (x_test, t_test) : tuple of tuples of ndarray
        x_train (60000, 784) or (60000, 1, 28, 28); t_train (60000,) or (60000, 10);
        x_test and t_test the same with 10000 rows. All are fresh, writable, C-contiguous.

    Raises
    ------
    DatasetError
        A file is missing (and `download` is False), or its content is not a valid
        {title} file: bad gzip data, bad IDX magic number, image size or length, a label
        outside 0-9, images and labels in different numbers, or (with `verify`) a
        checksum mismatch. The message names the file.
    DownloadError
        Every mirror failed for a missing file, or the download directory is not writable.

    Notes
    -----
    One-hot labels take the images' float dtype (float32 by default). The book builds them
    as float64, which would silently promote the loss gradient ``(y - t) / N`` of a float32
    network to float64 and double the cost of every backward pass.
    """


def load_mnist(normalize=True, flatten=True, one_hot_label=False, data_dir=None, *,
               dtype=None, download=True, verify=False, progress=None, bundled=True):
    return _load("mnist", normalize, flatten, one_hot_label, data_dir, dtype, download,
                 verify, progress, bundled)


def load_fashion_mnist(normalize=True, flatten=True, one_hot_label=False, data_dir=None, *,
                       dtype=None, download=True, verify=False, progress=None, bundled=True):
    return _load("fashion-mnist", normalize, flatten, one_hot_label, data_dir, dtype,
                 download, verify, progress, bundled)


load_mnist.__doc__ = _LOAD_DOC.format(title="MNIST (handwritten digits 0-9)")
load_fashion_mnist.__doc__ = _LOAD_DOC.format(
    title="Fashion-MNIST (Zalando's 28x28 clothing images, classes in FASHION_MNIST_CLASSES)")
