"""Issue 14's classes of misuse, one test (or a few) per class.

The stateful fuzzers (tests/test_stateful.py, tests/test_cli_fuzz.py) look for new
cases; these pin the classes they and the issue found: files that are not regular
files, decompression bombs, thread counts, run folders, the command line's messages.
"""
import os
import resource
import struct
import subprocess
import sys
import zlib

import pytest


def _gzip_stream(header, zero_bytes, level=1):
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    parts = [c.compress(header)]
    block = bytes(1 << 22)
    left = zero_bytes
    while left > 0:
        parts.append(c.compress(block[:min(left, len(block))]))
        left -= len(block)
    parts.append(c.flush())
    return b"".join(parts)


def _peak_mib(code, *args):
    """Run ``code`` in a fresh interpreter; (its stdout, its peak RSS in MiB)."""
    wrapper = (code + "\nimport resource\nprint('peak', resource.getrusage("
               "resource.RUSAGE_SELF).ru_maxrss // 1024)\n")
    out = subprocess.run([sys.executable, "-c", wrapper, *map(str, args)], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    lines = out.strip().splitlines()
    return "\n".join(lines[:-1]), int(lines[-1].split()[1])


READ_IDX = """
import sys
from cconv.datasets import DatasetError, _parse_idx, _read_bytes
try:
    _parse_idx(_read_bytes(sys.argv[1]), 'bomb', sys.argv[2])
    print('accepted')
except DatasetError as e:
    print('DatasetError', e)
"""


def test_idx_header_claiming_billions_fails_before_decompressing(tmp_path):
    # the bomb: a .gz whose header claims 3e9 labels (content: 200 MB of zeros,
    # the rest of the claim would only make the file and the test slower)
    bomb = tmp_path / "train-labels-idx1-ubyte.gz"
    bomb.write_bytes(_gzip_stream(b"\x00\x00\x08\x01" + struct.pack(">I", 3_000_000_000),
                                  200 << 20))
    out, peak = _peak_mib(READ_IDX, bomb, "labels")
    assert "announces 3,000,000,000 items" in out and "60,000" in out, out
    base = _peak_mib("import cconv.datasets")[1]
    assert peak - base < 20, f"peak {peak} MiB (import alone: {base} MiB)"


def test_gzip_inflating_far_beyond_its_header_stops_at_the_header_size(tmp_path):
    # a header announcing 10 labels followed by 512 MiB of zeros: read 19 bytes, not all
    bomb = tmp_path / "t10k-labels-idx1-ubyte.gz"
    bomb.write_bytes(_gzip_stream(b"\x00\x00\x08\x01" + struct.pack(">I", 10), 512 << 20,
                                  level=9))
    assert bomb.stat().st_size < 1 << 20
    out, peak = _peak_mib(READ_IDX, bomb, "labels")
    assert "trailing data" in out, out
    base = _peak_mib("import cconv.datasets")[1]
    assert peak - base < 20, f"peak {peak} MiB (import alone: {base} MiB)"


@pytest.mark.parametrize("kind", ["fifo", "dir", "dev"])
def test_dataset_reader_refuses_what_is_not_a_regular_file(tmp_path, kind):
    from cconv.datasets import DatasetError, _read_bytes
    path = {"fifo": tmp_path / "f.gz", "dir": tmp_path, "dev": "/dev/zero"}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    with pytest.raises(DatasetError, match="not a regular file|Is a directory"):
        _read_bytes(path)   # a FIFO would block forever, /dev/zero never end


def test_mirror_list_with_non_url_entries_tries_the_next_mirror(tmp_path, monkeypatch,
                                                               isolated_data_env,
                                                               mnist_dir):
    from cconv.datasets import fetch
    monkeypatch.setenv("CCONV_MNIST_MIRRORS",
                       f"not a url, http://[::1/,javascript:x, file://{mnist_dir}/")
    paths = fetch("mnist", tmp_path / "data", download=True, bundled=False)
    assert all(os.path.isfile(p) for p in paths.values())
