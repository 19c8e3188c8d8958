"""Atomic file writing and pickle-free .npz files (checkpoints, network parameters).

A file written here is either the complete new version or the untouched old one: the bytes
go to a temporary file in the same directory, are flushed and fsync'ed, then
``os.replace`` swaps it in (atomic on POSIX and Windows). Loading never unpickles.
"""
import ast
import json
import lzma
import os
import struct
import uuid
import zipfile
import zlib

import numpy as np

from .files import NotARegularFileError, check_replaceable, open_regular

__all__ = ["atomic_write", "save_npz_atomic", "load_npz", "NpzMetadataError", "META_KEY"]

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
    check_replaceable(path)   # a FIFO or a device is never replaced by a file
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


class NpzMetadataError(ValueError):
    """An .npz file whose ``__meta__`` member is unreadable or not a JSON object."""


_CHUNK = 1 << 18  # bytes read from a zip member at a time (numpy's BUFFER_SIZE)
_HEADER_LEN = {(1, 0): ("<H", "latin1"), (2, 0): ("<I", "latin1"), (3, 0): ("<I", "utf8")}
_MAX_HEADER = 10000  # numpy's own limit without allow_pickle


def _read_exact(f, n, what):
    """Read n bytes from a zip member in bounded chunks (no allocation from a claim)."""
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(min(_CHUNK, n - len(buf)))
        if not chunk:
            raise ValueError(f"{what}: the member ends after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def _npy_header(f, name):
    # The .npy header, parsed like numpy.lib.format (literal dict, checked keys).
    magic = f.read(8)
    if len(magic) < 8 or magic[:6] != b"\x93NUMPY":
        raise ValueError(f"member {name!r} is not .npy data")
    version = (magic[6], magic[7])
    if version not in _HEADER_LEN:
        raise ValueError(f"member {name!r} has unknown .npy format version {version}")
    fmt, encoding = _HEADER_LEN[version]
    hlen = struct.unpack(fmt, _read_exact(f, struct.calcsize(fmt), name))[0]
    if hlen > _MAX_HEADER:
        raise ValueError(f"member {name!r} has a {hlen}-byte .npy header (more than "
                         f"{_MAX_HEADER})")
    text = bytes(_read_exact(f, hlen, name)).decode(encoding)
    try:
        d = ast.literal_eval(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise ValueError(f"member {name!r}: cannot parse the .npy header "
                         f"({type(exc).__name__})") from None
    if not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}:
        raise ValueError(f"member {name!r}: the .npy header is not a dict of descr, "
                         "fortran_order and shape")
    shape, fortran = d["shape"], d["fortran_order"]
    if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape):
        raise ValueError(f"member {name!r}: bad shape {shape!r} in the .npy header")
    if not isinstance(fortran, bool):
        raise ValueError(f"member {name!r}: bad fortran_order {fortran!r}")
    try:
        dtype = np.lib.format.descr_to_dtype(d["descr"])
    except Exception:  # numpy raises TypeError, ValueError, ... for odd descriptors
        raise ValueError(f"member {name!r}: bad dtype {d['descr']!r} in the .npy "
                         "header") from None
    return shape, fortran, dtype, 8 + struct.calcsize(fmt) + hlen


def _read_member(zf, info):
    """One .npy member as an ndarray, its claimed size checked before anything is read."""
    name = info.filename
    with zf.open(info) as f:
        shape, fortran, dtype, header_len = _npy_header(f, name)
        if dtype.hasobject:
            raise ValueError(f"member {name!r} holds pickled objects (dtype {dtype}); "
                             "load_npz never unpickles")
        count = 1
        for n in shape:
            count *= n
        nbytes = count * dtype.itemsize
        if nbytes > info.file_size - header_len:
            raise ValueError(f"member {name!r} claims {shape} x {dtype} = {nbytes} bytes "
                             f"but holds {max(0, info.file_size - header_len)}")
        if nbytes == 0:
            return np.empty(shape, dtype=dtype, order="F" if fortran else "C")
        buf = _read_exact(f, nbytes, name)
        f.read(1)  # reach the end of the member where possible, so its CRC is checked
    arr = np.frombuffer(buf, dtype=dtype, count=count)  # writeable: buf is a bytearray
    if fortran:
        return arr.reshape(shape[::-1]).transpose()
    return arr.reshape(shape)


#: A compressed member may inflate at most this much (deflate's ceiling is about 1032:1;
#: cconv writes stored members, and float parameters compress to about 1.1:1).
MAX_RATIO = 100


def _check_sizes(info, archive_size):
    """Refuse a member whose claimed size the archive cannot hold: a stored member larger
    than the file, or a compressed one inflating more than MAX_RATIO times (a bomb)."""
    name = info.filename
    if info.compress_type == zipfile.ZIP_STORED:
        if info.file_size > archive_size:
            raise ValueError(f"member {name!r} claims {info.file_size:,} bytes, more than "
                             f"the whole {archive_size:,}-byte file")
    elif info.file_size > MAX_RATIO * max(1, info.compress_size) + (1 << 20):
        raise ValueError(f"member {name!r} would inflate {info.compress_size:,} bytes to "
                         f"{info.file_size:,} (more than {MAX_RATIO} times: refusing a "
                         f"decompression bomb)")


def _read_members(zf, archive_size):
    """(arrays, meta) of an open archive; every member's sizes checked before reading."""
    infos = {}
    for info in zf.infolist():   # a name stored twice: the last entry wins, as np.load
        infos[info.filename] = info
    for info in infos.values():
        _check_sizes(info, archive_size)
    arrays, meta = {}, None
    for member, info in infos.items():
        key = member[:-4] if member.endswith(".npy") else member
        a = _read_member(zf, info)
        if key == META_KEY:
            meta = _parse_meta(a)
        else:
            arrays[key] = a
    return arrays, meta


def _parse_meta(m):
    if m.shape != (1,) or m.dtype.kind != "U":
        raise NpzMetadataError(f"member {META_KEY!r} is not a 1-element str array")
    try:
        meta = json.loads(str(m[0]))
    except RecursionError:
        raise NpzMetadataError(f"metadata {META_KEY!r} is JSON nested too deeply") from None
    except ValueError as exc:
        raise NpzMetadataError(f"metadata {META_KEY!r} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise NpzMetadataError(f"metadata {META_KEY!r} is not a JSON object but a "
                               f"{type(meta).__name__}")
    return meta


def load_npz(path):
    """Load a file written by :func:`save_npz_atomic` (or any pickle-free .npz).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    arrays : dict of str -> ndarray
        Every member except the metadata, read fully into memory (a member ``name.npy``
        is returned as ``name``, as ``np.load`` does).
    meta : dict or None
        The decoded JSON metadata, or None when the file has none.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is truncated, corrupt or not an .npz archive; if a member is not
        .npy data, holds pickled objects, or claims more data than it holds (checked
        before anything is allocated); if the archive uses zip features this reader
        lacks (encryption, unknown compression); or if the metadata is not a JSON
        object (then a :class:`NpzMetadataError`). The message names the file.
    """
    path = os.fspath(path)
    try:
        with open_regular(path) as f:
            head = f.read(6)
            if head == b"\x93NUMPY":
                raise ValueError("not an .npz archive (a single .npy array?)")
            f.seek(0)
            size = os.fstat(f.fileno()).st_size
            with zipfile.ZipFile(f) as zf:
                arrays, meta = _read_members(zf, size)
    except (FileNotFoundError, IsADirectoryError, PermissionError, NotARegularFileError):
        raise
    except NpzMetadataError as exc:
        raise NpzMetadataError(f"cannot read {path!r}: truncated or corrupt .npz file "
                               f"({exc})") from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, ValueError,
            UnicodeDecodeError, RuntimeError, OverflowError, lzma.LZMAError) as exc:
        # RuntimeError: encrypted members; NotImplementedError (a RuntimeError): unknown
        # compression methods and strong encryption.
        raise ValueError(f"cannot read {path!r}: truncated or corrupt .npz file "
                         f"({type(exc).__name__}: {exc})") from exc
    return arrays, meta
