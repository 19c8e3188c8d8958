"""The IDX file format of MNIST and Fashion-MNIST (gzip-compressed or not), read and checked.

:func:`read_bytes` returns a file's content (gunzipped); :func:`parse_idx` checks an IDX
file of unsigned bytes against what MNIST's images (N, 28, 28) or labels (N,) must be and
returns a uint8 view. Every problem is a :class:`DatasetError` naming the file and the
numbers.
"""
import gzip
import hashlib
import zlib

import numpy as np

__all__ = ["DatasetError", "read_bytes", "sha256", "parse_idx", "IMG_ROWS", "IMG_COLS",
           "N_CLASSES", "GZIP_MAGIC"]

IMG_ROWS = IMG_COLS = 28
N_CLASSES = 10
GZIP_MAGIC = b"\x1f\x8b"


class DatasetError(ValueError):
    """A data file is missing, malformed, or does not have the expected content."""


def read_bytes(path, what=None):
    """Content of `path`, gunzipped when it starts with the gzip magic number."""
    what = what or str(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DatasetError(f"cannot read {what}: {e}") from e
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{what}: corrupt or truncated gzip data ({len(raw)} bytes): "
                           f"{e or type(e).__name__}") from e


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def parse_idx(data, what, kind):
    """Check an IDX unsigned-byte file of MNIST `kind` ('images' or 'labels'); uint8 view."""
    ndim = 3 if kind == "images" else 1
    magic_expected = 0x0800 | ndim
    if len(data) < 4:
        raise DatasetError(f"{what}: {len(data)} bytes is too short for an IDX header")
    magic = int.from_bytes(data[:4], "big")
    if magic != magic_expected:
        if data[:2] != b"\x00\x00":
            found = f"first bytes {data[:4].hex()}: not an IDX file"
        else:
            found = f"type code 0x{data[2]:02X}, {data[3]} dimension(s)"
        raise DatasetError(
            f"{what}: bad magic number 0x{magic:08X} ({found}); expected 0x{magic_expected:08X}, "
            f"an IDX file of unsigned bytes with {ndim} dimension(s) (MNIST {kind})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{what}: truncated header: {len(data)} bytes, an IDX {kind} header "
                           f"has {header}")
    dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    if kind == "images" and dims[1:] != (IMG_ROWS, IMG_COLS):
        raise DatasetError(f"{what}: images are {dims[1]}x{dims[2]}, MNIST images are "
                           f"{IMG_ROWS}x{IMG_COLS}")
    n_items = 1
    for d in dims:
        n_items *= d
    expected_len = header + n_items
    if len(data) != expected_len:
        shape = "x".join(str(d) for d in dims)
        problem = "truncated" if len(data) < expected_len else "trailing data after the items"
        raise DatasetError(
            f"{what}: the header announces {dims[0]} {kind} ({shape}), i.e. {expected_len} bytes "
            f"with the {header}-byte header, but the content has {len(data)} bytes ({problem})")
    arr = np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)
    if kind == "labels" and arr.size:
        bad = np.flatnonzero(arr >= N_CLASSES)
        if bad.size:
            i = int(bad[0])
            raise DatasetError(f"{what}: label {int(arr[i])} at index {i} is not a class "
                               f"0-{N_CLASSES - 1} ({bad.size} such labels)")
    return arr
