"""Atomic file writing and pickle-free .npz files (checkpoints, network parameters).

A file written here is either the complete new version or the untouched old one: the bytes
go to a temporary file in the same directory, are flushed and fsync'ed, then
``os.replace`` swaps it in (atomic on POSIX and Windows). Loading never unpickles.
"""
import json
import os
import uuid
import zipfile
import zlib

import numpy as np

__all__ = ["atomic_write", "save_npz_atomic", "load_npz", "META_KEY"]

META_KEY = "__meta__"  # the npz member holding the JSON metadata (a 1-element str array)


def _fsync_dir(dirname):
    """Make the rename itself durable (POSIX; a no-op where directories can't be opened)."""
    if os.name == "nt":
        return
    try:
        fd = os.open(dirname, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, writer):
    """Write a file atomically: all of it, or nothing and the old file kept.

    Parameters
    ----------
    path : str or os.PathLike
        The destination. Its directory must exist.
    writer : callable
        Called as ``writer(f)`` with a binary file object open for writing; it writes the
        whole content.

    Returns
    -------
    str
        ``path`` as a string.

    Notes
    -----
    The temporary file ``.<name>.<random>.tmp`` is created beside ``path`` (same
    filesystem, so the final ``os.replace`` is atomic) with mode 0o666 less the umask, as
    ``open`` would. If ``writer`` or anything after it raises (KeyboardInterrupt
    included), the temporary file is removed, ``path`` is left as it was, and the
    exception propagates.
    """
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not callable(writer):
        raise TypeError(f"writer must be a callable taking a file object, not "
                        f"{type(writer).__name__}")
    dirname = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(dirname):
        raise FileNotFoundError(f"cannot write {path!r}: directory {dirname!r} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot write {path!r}: it is a directory")
    base = os.path.basename(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = os.path.join(dirname, f".{base}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(dirname)
    return path


def _write_npz(f, arrays):
    np.savez(f, **arrays)


def save_npz_atomic(path, arrays, meta=None):
    """Save arrays and JSON metadata to an .npz file, atomically and without pickles.

    Parameters
    ----------
    path : str or os.PathLike
        Written exactly as given (no ``.npz`` is appended, unlike ``np.savez``).
    arrays : dict of str -> array_like
        Numeric/bool/str arrays of any shape; object arrays are refused because
        :func:`load_npz` never unpickles. Keys may contain ``/``.
    meta : dict, optional
        JSON-able metadata (numbers, strings, lists, dicts), stored as the JSON text in
        a 1-element string array under the key ``'__meta__'``.

    Raises
    ------
    ValueError
        For a key ``'__meta__'`` in ``arrays``, an object array, or meta that is not
        JSON-able.
    """
    out = {}
    for key, a in arrays.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"array names must be non-empty str, got {key!r}")
        if key == META_KEY:
            raise ValueError(f"{META_KEY!r} is reserved for the metadata")
        a = np.asanyarray(a)
        if a.dtype.hasobject:
            raise ValueError(f"array {key!r} has dtype object, which would need pickle; "
                             "store numbers, or put small structures in meta")
        out[key] = a
    if meta is not None:
        try:
            text = json.dumps(meta)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"meta is not JSON-able: {exc}") from None
        out[META_KEY] = np.array([text])
    return atomic_write(path, lambda f: _write_npz(f, out))


def load_npz(path):
    """Load a file written by :func:`save_npz_atomic` (or any pickle-free .npz).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    arrays : dict of str -> ndarray
        Every member except the metadata, read fully into memory.
    meta : dict or None
        The decoded JSON metadata, or None when the file has none.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is truncated, corrupt, not an .npz archive, holds pickled objects,
        or has unreadable metadata; the message names the file.
    """
    path = os.fspath(path)
    try:
        z = np.load(path, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive (a single .npy array?)")
        with z:
            arrays = {k: z[k] for k in z.files if k != META_KEY}
            meta = None
            if META_KEY in z.files:
                m = z[META_KEY]
                if m.shape != (1,) or m.dtype.kind != "U":
                    raise ValueError(f"member {META_KEY!r} is not a 1-element str array")
                meta = json.loads(str(m[0]))
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, ValueError,
            UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path!r}: truncated or corrupt .npz file "
                         f"({type(exc).__name__}: {exc})") from exc
    return arrays, meta
