"""The safetensors format, read and written here (no dependency), and network weights in it.

A file is an 8-byte little-endian header length ``n``, ``n`` bytes of JSON (padded with
spaces), then the tensors' raw little-endian bytes. The JSON maps each name to
``{"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}`` (offsets into the
bytes after the header) and may hold ``"__metadata__"``, a map of strings. Files
written here load with the ``safetensors`` package and vice versa.

:func:`save_safetensors` writes a network's :func:`cconv.export.state_dict` (PyTorch
names) with the network's class and configuration in the metadata, so that
:func:`load_safetensors` can rebuild it.
"""
import json
import os
import struct

import numpy as np

from .. import __version__
from ..io.npz import atomic_write
from ..networks.base import ParamsFileError
from .graph import _dtype, load_state_dict, state_dict

__all__ = ["read", "write", "save_safetensors", "load_safetensors"]

_DTYPES = {"BOOL": "?", "U8": "u1", "I8": "i1", "U16": "<u2", "I16": "<i2", "F16": "<f2",
           "U32": "<u4", "I32": "<i4", "F32": "<f4", "U64": "<u8", "I64": "<i8",
           "F64": "<f8"}
_CODES = {np.dtype(v).newbyteorder("<"): k for k, v in _DTYPES.items()}
_MAX_HEADER = 100 << 20   # the safetensors package's limit


def write(path, tensors, metadata=None):
    """Write ``tensors`` (name -> array) and ``metadata`` (str -> str) to ``path``, atomically.

    Raises TypeError for a dtype the format has no code for (complex, object, ...) and
    for metadata that is not a map of strings.
    """
    metadata = dict(metadata or {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError("safetensors metadata must map str to str")
    arrays = {}
    for name, a in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"invalid tensor name {name!r}")
        a = np.asarray(a)
        code = _CODES.get(a.dtype.newbyteorder("<"))
        if code is None:
            raise TypeError(f"tensor {name!r} has dtype {a.dtype}, which safetensors "
                            f"cannot hold (it has {', '.join(_DTYPES)})")
        arrays[name] = (code, np.asarray(a, dtype=np.dtype(_DTYPES[code]), order="C"))
    header, offset = {}, 0
    # largest items first, as the safetensors package orders them: each tensor starts
    # aligned to its item size (the data follows an 8-byte aligned header)
    order = sorted(arrays, key=lambda k: (-arrays[k][1].itemsize, k))
    for name in order:
        code, a = arrays[name]
        header[name] = {"dtype": code, "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)

    def writer(f):
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name in order:
            f.write(arrays[name][1].tobytes())
    return atomic_write(path, writer)


def read(path):
    """``(tensors, metadata)`` of a safetensors file: native-endian NumPy arrays, and the
    ``__metadata__`` map (empty if none).

    Raises
    ------
    ParamsFileError
        For a file that is not valid safetensors (the message says what is wrong), or
        holds a dtype NumPy has no type for (BF16, F8_*).
    """
    path = os.fspath(path)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ParamsFileError(f"{path}: not a safetensors file ({size} bytes, shorter "
                                  "than its 8-byte header length)")
        (n,) = struct.unpack("<Q", head)
        if n > min(_MAX_HEADER, size - 8):
            raise ParamsFileError(f"{path}: not a safetensors file (header length {n} "
                                  f"does not fit the file's {size} bytes)")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ParamsFileError(f"{path}: not a safetensors file (its header is not "
                                  f"JSON: {exc})") from None
        data = f.read()
    if not isinstance(header, dict):
        raise ParamsFileError(f"{path}: the safetensors header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise ParamsFileError(f"{path}: __metadata__ is not a JSON object")
    entries = sorted(((_entry(path, k, v), k) for k, v in header.items()),
                     key=lambda e: e[0][2])
    tensors, end = {}, 0
    for (dt, shape, (begin, stop)), name in entries:
        if begin != end:
            raise ParamsFileError(f"{path}: tensor {name!r} starts at byte {begin}, the "
                                  f"previous one ends at {end} (overlap or gap)")
        want = dt.itemsize * int(np.prod(shape, dtype=np.int64))
        if stop - begin != want:
            raise ParamsFileError(f"{path}: tensor {name!r} of shape {shape} needs {want} "
                                  f"bytes, its offsets span {stop - begin}")
        if stop > len(data):
            raise ParamsFileError(f"{path}: tensor {name!r} ends at byte {stop} but the "
                                  f"file holds {len(data)} bytes of data (truncated?)")
        a = np.frombuffer(data, dtype=dt, count=want // dt.itemsize, offset=begin)
        tensors[name] = a.reshape(shape).astype(dt.newbyteorder("="))
        end = stop
    if end != len(data):
        raise ParamsFileError(f"{path}: {len(data) - end} bytes after the last tensor")
    return tensors, metadata


def _entry(path, name, v):
    try:
        code, shape, (begin, stop) = v["dtype"], v["shape"], v["data_offsets"]
        shape = tuple(shape)
        ok = all(isinstance(i, int) and i >= 0 for i in (*shape, begin, stop)) and stop >= begin
    except (TypeError, KeyError, ValueError):
        ok = False
    if not ok:
        raise ParamsFileError(f"{path}: bad safetensors entry for {name!r}: {v!r}"[:300])
    if not isinstance(code, str) or code not in _DTYPES:
        raise ParamsFileError(f"{path}: tensor {name!r} has dtype {code!r}, which NumPy "
                              f"cannot hold (it reads {', '.join(_DTYPES)})")
    return np.dtype(_DTYPES[code]), shape, (begin, stop)


def save_safetensors(network, path, dtype=None):
    """Write the network's :func:`~cconv.export.state_dict` to ``path`` (PyTorch names),
    with its class, configuration and dtype in the metadata. Returns ``path``."""
    dt = _dtype(network, dtype)
    meta = {"format": "pt", "network": type(network).__name__, "dtype": dt.name,
            "config": json.dumps(getattr(network, "config", {})), "cconv": __version__}
    return write(path, state_dict(network, dt), meta)


def load_safetensors(path, network=None, cast=False):
    """The network of a :func:`save_safetensors` file, or its weights loaded into ``network``.

    Without ``network`` the file's metadata names the class and configuration to build.
    With it, the tensors must fit it (see :func:`~cconv.export.load_state_dict`).

    Raises
    ------
    ParamsFileError
        The file is not safetensors, describes no cconv network (when ``network`` is
        None), or its tensors do not fit.
    """
    tensors, meta = read(path)
    if network is None:
        from ..networks import network_from_description
        try:
            config = json.loads(meta["config"])
        except (KeyError, ValueError):
            raise ParamsFileError(f"{path}: no cconv network description in the "
                                  "safetensors metadata (pass network=)") from None
        network = network_from_description(path, meta.get("network"), config,
                                           meta.get("dtype", "float64"),
                                           held=sum(np.size(t) for t in tensors.values()))
    try:
        return load_state_dict(network, tensors, cast=cast)
    except ValueError as exc:
        raise ParamsFileError(f"{path}: {exc}") from None
