"""The IDX file format of MNIST and Fashion-MNIST (gzip-compressed or not), read and checked.

:func:`read_bytes` returns a file's content (gunzipped); :func:`parse_idx` checks an IDX
file of unsigned bytes against what MNIST's images (N, 28, 28) or labels (N,) must be and
returns a uint8 view. Every problem is a :class:`DatasetError` naming the file and the
numbers.
"""
import hashlib
import zlib

import numpy as np

from .files import open_regular

__all__ = ["DatasetError", "read_bytes", "sha256", "parse_idx", "IMG_ROWS", "IMG_COLS",
           "N_CLASSES", "GZIP_MAGIC", "MAX_IDX_ITEMS"]

IMG_ROWS = IMG_COLS = 28
N_CLASSES = 10
GZIP_MAGIC = b"\x1f\x8b"

#: The most items an IDX file may announce: MNIST's and Fashion-MNIST's training sets
#: have 60,000 (their test sets 10,000). Larger claims are refused before decompressing.
MAX_IDX_ITEMS = 60_000
#: The largest file of these datasets (training images with their 16-byte header), as
#: read from disk (gzip never makes these files larger than that).
MAX_FILE_BYTES = 16 + MAX_IDX_ITEMS * IMG_ROWS * IMG_COLS


class DatasetError(ValueError):
    """A data file is missing, malformed, or does not have the expected content."""


def _open(path, what):
    """``open_regular`` (FIFOs, devices and folders refused unread), as DatasetError."""
    try:
        return open_regular(path)
    except OSError as e:
        raise DatasetError(f"cannot read {what}: {e.strerror or e}") from e


def _idx_size(head, what):
    """Bytes an IDX file with header ``head`` holds, or None if ``head`` is not one of
    MNIST's IDX headers (:func:`parse_idx` then says what is wrong). A header announcing
    more items than the largest known dataset file is refused here, before anything
    else is decompressed."""
    if len(head) < 8 or head[:3] != b"\x00\x00\x08" or head[3] not in (1, 3):
        return None
    ndim = head[3]
    if len(head) < 4 + 4 * ndim:
        return None
    dims = [int.from_bytes(head[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    n = 1
    for d in dims:
        n *= d
    if dims[0] > MAX_IDX_ITEMS or n > MAX_IDX_ITEMS * IMG_ROWS * IMG_COLS:
        shape = "x".join(map(str, dims))
        raise DatasetError(f"{what}: the IDX header announces {dims[0]:,} items ({shape}), "
                           f"more than the {MAX_IDX_ITEMS:,} of the largest MNIST or "
                           f"Fashion-MNIST file; the file is not one of theirs")
    return 4 + 4 * ndim + n


def read_bytes(path, what=None):
    """Content of `path`, gunzipped when it starts with the gzip magic number.

    Decompression is bounded by what the IDX header announces (checked against the
    known dataset sizes), so that a small file that claims, or inflates to, gigabytes
    fails after reading its header instead of allocating them. Anything but a regular
    file (a FIFO, a device, a folder) is refused before it is read.
    """
    what = what or str(path)
    limit = MAX_FILE_BYTES
    with _open(path, what) as f:
        try:
            raw = f.read(limit + 1)
        except OSError as e:
            raise DatasetError(f"cannot read {what}: {e}") from e
    if len(raw) > limit:
        raise DatasetError(f"{what}: larger than {limit:,} bytes; no MNIST or Fashion-MNIST "
                           f"file is")
    if raw[:2] != GZIP_MAGIC:
        _idx_size(raw[:16], what)   # refuses headers beyond the known sizes
        return raw
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)   # gzip framing
    try:
        head = d.decompress(raw, 16)
        size = _idx_size(head, what)
        if size is None:  # not IDX: at most what the largest known file holds
            size = MAX_FILE_BYTES
        out = [head]
        # one byte beyond the announced size tells "trailing data" from "exact"
        budget = size + 1 - len(head)
        if budget > 0:   # (a max_length of 0 would mean "no limit")
            out.append(d.decompress(d.unconsumed_tail, budget))
        data = b"".join(out)
        if len(data) <= size and not d.eof:
            data += d.flush()
            if not d.eof:
                raise EOFError("the gzip stream ends before its end marker")
        if d.eof and d.unused_data:
            data += _read_members(d.unused_data, size + 1 - len(data))
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{what}: corrupt or truncated gzip data ({len(raw)} bytes): "
                           f"{e or type(e).__name__}") from e
    return data


def _read_members(raw, budget):
    """The decompressed content of further gzip members (``gzip -c a b`` writes several),
    at most ``budget`` bytes."""
    out = []
    while raw and budget > 0:
        if raw[:2] != GZIP_MAGIC:   # as gzip.decompress does
            raise OSError(f"not a gzip member after the first one (it starts with "
                          f"{raw[:4]!r})")
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        chunk = d.decompress(raw, budget)
        if not d.eof and not d.unconsumed_tail:
            chunk += d.flush()
        if not d.eof and len(chunk) < budget:
            raise EOFError("a gzip member ends before its end marker")
        out.append(chunk)
        budget -= len(chunk)
        raw = d.unused_data
    return b"".join(out)


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
