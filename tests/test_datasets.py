"""cconv.datasets against the real MNIST / Fashion-MNIST files and a local mirror server.

No test reaches the internet: downloads go to a ``http.server`` on 127.0.0.1 that serves
copies of the shared files (and broken variants of them), into temporary directories.
"""
import gzip
import hashlib
import http.server
import logging
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import cconv
from cconv import datasets
from cconv.datasets import (FASHION_MNIST_CLASSES, FASHION_MNIST_SHA256, FILES, MNIST_SHA256,
                            DatasetError, DownloadError, fetch, get_data_home,
                            load_fashion_mnist, load_mnist)

# From shared/datasets/README.md (train); the test counts are MNIST's well-known ones.
TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
SMALL = "t10k-labels-idx1-ubyte"   # 4.5 kB: the file the download tests fetch


# --- real MNIST -------------------------------------------------------------------------

def test_mnist_book_defaults(mnist_data):
    (x_train, t_train), (x_test, t_test) = mnist_data
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert x_train.dtype == np.float32 and x_test.dtype == np.float32
    assert t_train.shape == (60000,) and t_test.shape == (10000,)
    assert t_train.dtype == np.uint8 and t_test.dtype == np.uint8
    for x in (x_train, x_test):
        assert x.min() == 0.0 and x.max() == 1.0
        assert 0.12 < x.mean() < 0.14          # MNIST's mean intensity is about 0.1307
    assert np.bincount(t_train, minlength=10).tolist() == TRAIN_LABEL_COUNTS
    assert np.bincount(t_test, minlength=10).tolist() == TEST_LABEL_COUNTS
    # the first training labels of the real file (5 0 4 1 9 2 1 3 1 4)
    assert t_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def test_mnist_raw_values_and_both_directory_layouts(datasets_dir, mnist_data):
    """normalize=False gives the uint8 pixels; the book's float32 / 255 is reproduced exactly."""
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=False, data_dir=datasets_dir,
                                                      download=False)  # <dir>/mnist/<file>.gz
    assert x_train.dtype == np.uint8 and x_train.shape == (60000, 784)
    assert x_train.max() == 255 and x_train.min() == 0
    assert x_train.flags.writeable and x_train.flags.c_contiguous
    (nx_train, nt_train), (nx_test, nt_test) = mnist_data
    book = x_train.astype(np.float32)
    book /= 255.0                              # dataset/mnist.py's normalisation
    np.testing.assert_array_equal(nx_train, book)
    np.testing.assert_array_equal(nx_test, x_test.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(t_train, nt_train)
    np.testing.assert_array_equal(t_test, nt_test)


def test_mnist_one_hot_4d_verified(mnist_dir, mnist_data):
    (x_train, t_train), (x_test, t_test) = load_mnist(
        flatten=False, one_hot_label=True, data_dir=mnist_dir, download=False,
        verify=True)                          # <dir>/<file>.gz, with SHA-256 checks
    (nx_train, nt_train), (nx_test, nt_test) = mnist_data
    assert x_train.shape == (60000, 1, 28, 28) and x_test.shape == (10000, 1, 28, 28)
    np.testing.assert_array_equal(x_train.reshape(60000, 784), nx_train)
    np.testing.assert_array_equal(x_test.reshape(10000, 784), nx_test)
    assert t_train.shape == (60000, 10) and t_test.shape == (10000, 10)
    assert t_train.dtype == np.float32        # the images' dtype (the book: float64)
    assert set(np.unique(t_train)) == {0.0, 1.0}
    np.testing.assert_array_equal(t_train.sum(axis=1), 1)
    np.testing.assert_array_equal(t_train.argmax(axis=1), nt_train)
    np.testing.assert_array_equal(t_test.argmax(axis=1), nt_test)


def test_mnist_data_4d_fixture(mnist_data_4d, mnist_data):
    (x4, t4), (x4_test, _) = mnist_data_4d
    assert x4.shape == (60000, 1, 28, 28) and x4_test.shape == (10000, 1, 28, 28)
    assert np.shares_memory(x4, mnist_data[0][0]) and not x4.flags.writeable


def test_uncompressed_idx_files_are_accepted(tmp_path, mnist_dir, mnist_data):
    d = tmp_path / "raw"
    d.mkdir()
    (d / "train-images-idx3-ubyte.gz").symlink_to(mnist_dir / "train-images-idx3-ubyte.gz")
    for stem in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (d / stem).write_bytes(gzip.decompress((mnist_dir / (stem + ".gz")).read_bytes()))
    (x_train, t_train), (x_test, t_test) = load_mnist(data_dir=d, download=False, verify=True)
    np.testing.assert_array_equal(x_test, mnist_data[1][0])
    np.testing.assert_array_equal(t_test, mnist_data[1][1])
    np.testing.assert_array_equal(t_train, mnist_data[0][1])


def test_float_dtype_needed_to_normalize():
    with pytest.raises(ValueError, match="float dtype, not int32"):
        load_mnist(dtype=np.int32)
    with pytest.raises(ValueError, match="float or integer dtype"):
        load_mnist(normalize=False, dtype=np.complex64)


# --- real Fashion-MNIST ------------------------------------------------------------------

def test_fashion_mnist(fashion_mnist_data):
    (x_train, t_train), (x_test, t_test) = fashion_mnist_data
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert x_train.dtype == np.float32 and t_train.dtype == np.uint8
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert np.bincount(t_train, minlength=10).tolist() == [6000] * 10
    assert np.bincount(t_test, minlength=10).tolist() == [1000] * 10
    assert len(FASHION_MNIST_CLASSES) == 10 and FASHION_MNIST_CLASSES[9] == "Ankle boot"


def test_fashion_mnist_found_in_system_dir_and_verified(isolated_data_env, fashion_mnist_dir):
    paths = fetch("fashion-mnist", download=False, verify=True)
    assert set(paths) == set(FILES)
    assert all(p.parent == fashion_mnist_dir for p in paths.values())


def test_fashion_mnist_hashes_differ_from_mnist():
    assert set(FASHION_MNIST_SHA256) == set(MNIST_SHA256) == set(FILES.values())
    assert not set(FASHION_MNIST_SHA256.values()) & set(MNIST_SHA256.values())


# --- where the files are looked for ------------------------------------------------------

def _link_mnist(d, mnist_dir, skip=()):
    d.mkdir(parents=True, exist_ok=True)
    for stem in FILES.values():
        if stem not in skip:
            (d / (stem + ".gz")).symlink_to(mnist_dir / (stem + ".gz"))
    return d


def test_search_order_data_dir_then_env_then_cache(tmp_path, monkeypatch, isolated_data_env,
                                                   mnist_dir):
    arg = _link_mnist(tmp_path / "arg", mnist_dir)
    env = _link_mnist(tmp_path / "env" / "mnist", mnist_dir)
    cache = _link_mnist(isolated_data_env / "cconv", mnist_dir)
    monkeypatch.setenv("CCONV_DATA_DIR", str(tmp_path / "env"))
    assert {p.parent for p in fetch(data_dir=arg, download=False).values()} == {arg}
    assert {p.parent for p in fetch(download=False).values()} == {env}
    monkeypatch.delenv("CCONV_DATA_DIR")
    assert {p.parent for p in fetch(download=False).values()} == {cache}


def test_subfolder_is_preferred_and_files_may_come_from_several_dirs(tmp_path, isolated_data_env,
                                                                     mnist_dir):
    flat = _link_mnist(tmp_path / "d", mnist_dir)
    sub = _link_mnist(tmp_path / "d" / "mnist", mnist_dir, skip=[SMALL])
    paths = fetch(data_dir=tmp_path / "d", download=False)
    assert paths["test_label"].parent == flat
    assert {paths[k].parent for k in ("train_img", "train_label", "test_img")} == {sub}


def test_get_data_home(tmp_path, monkeypatch, isolated_data_env):
    assert get_data_home() == isolated_data_env / "cconv"
    monkeypatch.setenv("CCONV_DATA_DIR", str(tmp_path / "env"))
    assert get_data_home() == tmp_path / "env"
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("CCONV_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")   # not absolute: ignored (XDG spec)
    assert get_data_home() == Path.home() / ".cache" / "cconv"


def test_missing_without_download_lists_the_directories(tmp_path, isolated_data_env, mnist_dir):
    d = _link_mnist(tmp_path / "d", mnist_dir, skip=[SMALL])
    with pytest.raises(DatasetError) as info:
        load_mnist(data_dir=d, download=False)
    msg = str(info.value)
    assert SMALL in msg and "train-images" not in msg
    cache = isolated_data_env / "cconv"
    for searched in (d, d / "mnist", cache, cache / "mnist"):
        assert str(searched) in msg


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'kmnist'"):
        fetch("kmnist")


# --- corrupt files ----------------------------------------------------------------------

def _idx(magic, dims, payload):
    return (magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
            + np.asarray(payload, dtype=np.uint8).tobytes())


def _tiny(d, n_train=6, n_test=4, gz=True, **replace):
    """A valid tiny MNIST-format dataset in `d` (any count is allowed); `replace` maps a
    book key to the raw bytes that file gets instead."""
    rng = np.random.default_rng(0)
    content = {}
    for split, n in (("train", n_train), ("test", n_test)):
        content[split + "_img"] = _idx(0x803, (n, 28, 28), rng.integers(0, 256, n * 784))
        content[split + "_label"] = _idx(0x801, (n,), rng.integers(0, 10, n))
    content.update(replace)
    d.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key, raw in content.items():
        p = d / (FILES[key] + (".gz" if gz else ""))
        p.write_bytes(gzip.compress(raw) if gz else raw)
        paths[key] = p
    return paths


def test_tiny_valid_dataset_loads(tmp_path):
    paths = _tiny(tmp_path / "t", gz=False)
    (x, t), (xt, tt) = load_mnist(data_dir=tmp_path / "t", download=False, one_hot_label=True,
                                  normalize=False, flatten=False)
    raw = paths["train_img"].read_bytes()
    assert x.shape == (6, 1, 28, 28) and xt.shape == (4, 1, 28, 28) and t.shape == (6, 10)
    np.testing.assert_array_equal(x.ravel(), np.frombuffer(raw, np.uint8, offset=16))
    labels = np.frombuffer(paths["train_label"].read_bytes(), np.uint8, offset=8)
    np.testing.assert_array_equal(t.argmax(1), labels)
    assert t.dtype == np.float32


def test_float64_images_and_one_hot(tmp_path):
    paths = _tiny(tmp_path / "t")
    (x, t), (xt, tt) = load_mnist(data_dir=tmp_path / "t", download=False, dtype=np.float64,
                                  one_hot_label=True)
    raw = np.frombuffer(gzip.decompress(paths["test_img"].read_bytes()), np.uint8, offset=16)
    assert x.dtype == xt.dtype == t.dtype == np.float64 and xt.shape == (4, 784)
    np.testing.assert_array_equal(xt.ravel(), raw.astype(np.float64) / 255.0)
    (x, _), _ = load_mnist(data_dir=tmp_path / "t", download=False, dtype=np.float64,
                           normalize=False)
    assert x.dtype == np.float64 and x.max() == 255.0


@pytest.mark.parametrize("key, raw, pattern", [
    ("train_label", _idx(0x803, (6,), [1] * 6),
     r"bad magic number 0x00000803 \(type code 0x08, 3 "),
    ("test_img", b"<!DOCTYPE html><html>Not Found</html>", r"not an IDX file"),
    ("test_img", _idx(0x00000D03, (4, 28, 28), [0] * 4 * 784), r"type code 0x0D"),
    ("train_img", _idx(0x802, (6, 784), [0] * 6 * 784), r"bad magic number 0x00000802"),
    ("train_img", _idx(0x803, (6, 27, 28), [0] * 6 * 27 * 28),
     r"images are 27x28, MNIST images are 28x28"),
    ("train_img", _idx(0x803, (6, 28, 28), [0] * 5 * 784),
     r"announces 6 images .*4720 bytes.* has 3936 bytes \(truncated\)"),
    ("test_label", _idx(0x801, (4,), [1, 2, 3, 4, 5]), r"announces 4 labels .*trailing data"),
    ("test_label", b"\x00\x00\x08\x01\x00\x00", r"truncated header: 6 bytes"),
    ("test_label", b"", r"0 bytes is too short"),
    ("train_label", _idx(0x801, (6,), [1, 2, 10, 3, 255, 0]),
     r"label 10 at index 2 is not a class 0-9 \(2 such"),
], ids=["labels-magic", "html", "float-type", "2d-images", "27x28", "truncated", "trailing",
        "short-header", "empty", "label-10"])
def test_corrupt_idx_is_reported_with_the_file_name(tmp_path, key, raw, pattern):
    paths = _tiny(tmp_path / "t", **{key: raw})
    with pytest.raises(DatasetError, match=pattern) as info:
        load_mnist(data_dir=tmp_path / "t", download=False)
    assert str(paths[key]) in str(info.value)


def test_image_and_label_counts_must_agree(tmp_path):
    paths = _tiny(tmp_path / "t", train_label=_idx(0x801, (5,), [1] * 5))
    with pytest.raises(DatasetError, match="has 6 images but .* has 5 labels") as info:
        load_mnist(data_dir=tmp_path / "t", download=False)
    assert str(paths["train_img"]) in str(info.value)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupt_gzip_is_reported(tmp_path, damage):
    paths = _tiny(tmp_path / "t", n_train=60)
    p = paths["train_img"]
    data = bytearray(p.read_bytes())
    if damage == "truncate":
        del data[len(data) // 2:]
    else:
        for i in range(len(data) // 3, len(data) // 3 + 8):
            data[i] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="corrupt or truncated gzip data") as info:
        load_mnist(data_dir=tmp_path / "t", download=False)
    assert str(p) in str(info.value)


def test_verify_detects_a_file_that_is_not_mnist(tmp_path):
    paths = _tiny(tmp_path / "t")
    load_mnist(data_dir=tmp_path / "t", download=False)        # valid IDX: loads unverified
    with pytest.raises(DatasetError, match="SHA-256 of the decompressed content") as info:
        load_mnist(data_dir=tmp_path / "t", download=False, verify=True)
    assert str(paths["train_img"]) in str(info.value)
    with pytest.raises(DatasetError, match="delete it to download it again"):
        fetch(data_dir=tmp_path / "t", download=False, verify=True)


def test_verify_accepts_the_real_files(mnist_dir):
    paths = fetch(data_dir=mnist_dir, download=False, verify=True)
    assert {p.name for p in paths.values()} == {s + ".gz" for s in FILES.values()}


# --- downloads from a local mirror -------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    files = {}        # file name -> the shared .gz bytes
    requests = []

    def log_message(self, *args):
        pass

    def _send(self, body, ctype="application/x-gzip", length=None, status=200):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.requests.append(self.path)
        _, mode, name = self.path.split("/", 2)
        body = self.files.get(name)
        try:
            if body is None or mode == "missing":
                self._send(b"<html>404</html>", "text/html", status=404)
            elif mode == "good":
                self._send(body)
            elif mode == "html":
                self._send(b"<!DOCTYPE html><html><body>Please log in</body></html>",
                           "text/html; charset=utf-8")
            elif mode == "htmlbin":   # an HTML page that claims to be binary
                self._send(b"<!DOCTYPE html><html></html>", "application/octet-stream")
            elif mode == "truncated":
                self._send(body[:len(body) // 2])
            elif mode == "short":     # announces the full length, then hangs up
                self._send(body[:len(body) // 2], length=len(body))
            elif mode == "flipped":
                bad = bytearray(body)
                for i in range(len(bad) // 2, len(bad) // 2 + 16):
                    bad[i] ^= 0xFF
                self._send(bytes(bad))
            elif mode == "altered":   # valid gzip, wrong content
                raw = bytearray(gzip.decompress(body))
                raw[-1] ^= 1
                self._send(gzip.compress(bytes(raw)))
            elif mode == "slow":
                time.sleep(2.0)
                self._send(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture(scope="module")
def mirror(mnist_dir):
    """Base URL of a local server; ``<base>/<mode>/`` is a mirror of that behaviour."""
    _Handler.files = {p.name: p.read_bytes() for p in mnist_dir.glob("*.gz")}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def dead_mirror():
    """A URL on a port nobody listens on: connections are refused."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/mnist/"


@pytest.fixture
def requests():
    _Handler.requests.clear()
    return _Handler.requests


def _files_in(d):
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_download_end_to_end_into_an_empty_cache(isolated_data_env, monkeypatch, mirror,
                                                 requests, mnist_data, capfd):
    package_dir = Path(cconv.__file__).parent
    before = _files_in(package_dir)
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", [mirror + "/good/"])
    (x_train, t_train), (x_test, t_test) = load_mnist(progress=True)
    target = isolated_data_env / "cconv" / "mnist"
    assert _files_in(target) == sorted(s + ".gz" for s in FILES.values())
    umask = os.umask(0o022)
    os.umask(umask)
    assert all((target / f).stat().st_mode & 0o777 == 0o666 & ~umask for f in _files_in(target))
    assert sorted(requests) == sorted(f"/good/{s}.gz" for s in FILES.values())
    np.testing.assert_array_equal(x_train, mnist_data[0][0])
    np.testing.assert_array_equal(t_test, mnist_data[1][1])
    err = capfd.readouterr().err
    assert "train-images-idx3-ubyte.gz: 100%" in err and "9.72MB" in err
    fetch()                                   # now found in the cache: no new request
    assert len(requests) == 4
    assert _files_in(package_dir) == before   # nothing written into the package


def test_dead_mirror_then_a_good_one(tmp_path, isolated_data_env, monkeypatch, mirror,
                                     dead_mirror, mnist_dir, caplog):
    target = _link_mnist(tmp_path / "mnist", mnist_dir, skip=[SMALL])
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", [dead_mirror, mirror + "/good"])
    with caplog.at_level(logging.WARNING, logger="cconv.datasets"):
        paths = fetch(data_dir=tmp_path, progress=False)
    assert paths["test_label"] == target / (SMALL + ".gz")
    assert hashlib.sha256(gzip.decompress(paths["test_label"].read_bytes())).hexdigest() == \
        MNIST_SHA256[SMALL]
    assert dead_mirror + SMALL + ".gz" in caplog.text and "trying the next mirror" in caplog.text
    assert _files_in(target) == sorted(s + ".gz" for s in FILES.values())


@pytest.mark.parametrize("mode, reason", [
    ("html", "served an HTML page (Content-Type: text/html"),
    ("htmlbin", "not gzip data (it starts with b'<!DOCTYPE"),
    ("truncated", "corrupt or truncated gzip data"),
    ("short", "truncated: the connection ended after 2258 of 4517 bytes"),
    ("flipped", "corrupt or truncated gzip data"),
    ("altered", "checksum mismatch: SHA-256 of the decompressed content is"),
    ("missing", "HTTPError: HTTP Error 404: Not Found"),
    ("slow", "timed out"),
])
def test_a_bad_mirror_is_reported_and_the_next_one_used(tmp_path, isolated_data_env, monkeypatch,
                                                        mirror, requests, mnist_dir, caplog,
                                                        mode, reason):
    target = _link_mnist(tmp_path / "mnist", mnist_dir, skip=[SMALL])
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", [f"{mirror}/{mode}/", f"{mirror}/good/"])
    monkeypatch.setattr(datasets, "DOWNLOAD_TIMEOUT", 0.5)
    with caplog.at_level(logging.WARNING, logger="cconv.datasets"):
        paths = fetch(data_dir=tmp_path, progress=False)
    assert f"{mirror}/{mode}/{SMALL}.gz" in caplog.text and reason in caplog.text
    assert requests == [f"/{mode}/{SMALL}.gz", f"/good/{SMALL}.gz"]
    assert hashlib.sha256(gzip.decompress(paths["test_label"].read_bytes())).hexdigest() == \
        MNIST_SHA256[SMALL]
    assert _files_in(target) == sorted(s + ".gz" for s in FILES.values())   # no .part left


def test_every_mirror_failing_leaves_nothing_and_says_what_was_tried(isolated_data_env,
                                                                     monkeypatch, mirror,
                                                                     dead_mirror):
    bad = [dead_mirror, f"{mirror}/html/", f"{mirror}/missing/", f"{mirror}/short/"]
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", bad)
    with pytest.raises(DownloadError) as info:
        load_mnist(progress=False)
    err = info.value
    assert isinstance(err, DatasetError) and isinstance(err, OSError)
    msg = str(err)
    for url in bad:
        assert url.rstrip("/") + "/train-images-idx3-ubyte.gz" in msg
    assert "offline" in msg and "by hand" in msg
    assert str(isolated_data_env / "cconv" / "mnist") in msg and "CCONV_MNIST_MIRRORS" in msg
    assert not isolated_data_env.exists()       # created for the download, removed again


def test_no_mirrors_configured(isolated_data_env):
    with pytest.raises(DownloadError, match="no mirrors configured"):
        fetch(progress=False)


def test_mirrors_from_the_environment(tmp_path, isolated_data_env, monkeypatch, mirror,
                                      dead_mirror, requests, mnist_dir):
    _link_mnist(tmp_path / "mnist", mnist_dir, skip=[SMALL])
    monkeypatch.setenv("CCONV_MNIST_MIRRORS", f" {dead_mirror} , {mirror}/good ,")
    fetch(data_dir=tmp_path, progress=False)    # module list is empty: the variable is used
    assert requests == [f"/good/{SMALL}.gz"]


def test_interrupted_download_leaves_no_partial_file(tmp_path, isolated_data_env, monkeypatch,
                                                     mirror, mnist_dir):
    target = _link_mnist(tmp_path / "mnist", mnist_dir, skip=["t10k-images-idx3-ubyte"])
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", [f"{mirror}/good/"])

    class Interrupting(datasets.Progress):
        def update(self, n=1, **postfix):
            if self.n > 100_000:
                raise KeyboardInterrupt
            super().update(n, **postfix)

    monkeypatch.setattr(datasets, "Progress", Interrupting)
    with pytest.raises(KeyboardInterrupt):
        fetch(data_dir=tmp_path, progress=False)
    assert _files_in(target) == sorted(s + ".gz" for s in FILES.values()
                                       if s != "t10k-images-idx3-ubyte")


def test_target_under_a_regular_file_is_not_writable(tmp_path, isolated_data_env, monkeypatch,
                                                     mirror, requests):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", [f"{mirror}/good/"])
    with pytest.raises(DownloadError, match="is not writable") as info:
        load_mnist(data_dir=blocker / "data", progress=False)
    msg = str(info.value)
    assert str(blocker / "data" / "mnist") in msg and "data_dir=" in msg
    assert requests == []                      # nothing was fetched


def test_write_permission_refused(tmp_path, isolated_data_env, monkeypatch, mirror, requests):
    """What a non-root user sees for a read-only directory (os.access is what says no)."""
    (tmp_path / "mnist").mkdir()
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", [f"{mirror}/good/"])
    monkeypatch.setattr(datasets.os, "access", lambda path, mode: False)
    with pytest.raises(DownloadError, match=r"mnist is not writable \(no write permission\)"):
        fetch(data_dir=tmp_path, progress=False)
    assert requests == [] and _files_in(tmp_path / "mnist") == []


def test_a_file_url_mirror_works_offline(tmp_path, isolated_data_env, monkeypatch, mnist_dir):
    target = _link_mnist(tmp_path / "mnist", mnist_dir, skip=[SMALL])
    monkeypatch.setenv("CCONV_MNIST_MIRRORS", mnist_dir.as_uri())
    paths = fetch(data_dir=tmp_path, progress=False)
    assert paths["test_label"] == target / (SMALL + ".gz") and not paths["test_label"].is_symlink()
    assert paths["test_label"].read_bytes() == (mnist_dir / (SMALL + ".gz")).read_bytes()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root may write into a 0o555 directory; the regular-file case "
                           "above covers an unwritable target")
def test_read_only_target_dir(tmp_path, isolated_data_env, monkeypatch, mirror):
    ro = tmp_path / "ro"
    (ro / "mnist").mkdir(parents=True)
    os.chmod(ro / "mnist", 0o555)
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", [f"{mirror}/good/"])
    try:
        with pytest.raises(DownloadError, match="not writable"):
            fetch(data_dir=ro, progress=False)
    finally:
        os.chmod(ro / "mnist", 0o755)


def test_fashion_mnist_download_uses_its_own_subfolder_and_hashes(tmp_path, isolated_data_env,
                                                                 monkeypatch, mirror,
                                                                 mnist_dir, caplog):
    # an MNIST mirror is not a Fashion-MNIST mirror: the checksum refuses its files
    monkeypatch.setattr(datasets._DATASETS["fashion-mnist"], "extra_dirs", ())  # not /usr/share
    monkeypatch.setattr(datasets, "FASHION_MNIST_MIRRORS", [f"{mirror}/good/"])
    with caplog.at_level(logging.WARNING, logger="cconv.datasets"):
        with pytest.raises(DownloadError, match="Fashion-MNIST file"):
            load_fashion_mnist(data_dir=tmp_path, progress=False)
    assert "checksum mismatch" in caplog.text
    assert not (tmp_path / "fashion-mnist").exists() and not (tmp_path / "mnist").exists()


# --------------------------------------------------------------------------- bundled copy

def test_mnist_ships_inside_the_package_with_its_license_and_checksums():
    d = datasets.BUNDLED_DATA_DIR / "mnist"
    for stem in FILES.values():
        assert (d / (stem + ".gz")).is_file(), stem
    license_text = (d / "LICENSE").read_text(encoding="utf-8")
    assert "CC BY-SA 3.0" in license_text and "LeCun" in license_text and "Cortes" in license_text
    sums = dict(line.split()[::-1] for line in (d / "SHA256SUMS").read_text().splitlines())
    assert sums == datasets.MNIST_SHA256
    found = fetch("mnist", d, download=False, verify=True)   # every checksum verified
    assert set(found) == set(FILES)


def test_bundled_copy_is_found_offline_with_nothing_else(tmp_path, monkeypatch):
    for var in ("CCONV_DATA_DIR", "CCONV_MNIST_MIRRORS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", [])   # a download would fail at once
    paths = fetch("mnist", download=True)
    assert {p.parent for p in paths.values()} == {datasets.BUNDLED_DATA_DIR / "mnist"}
    (x_train, t_train), (x_test, t_test) = load_mnist()
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert np.bincount(t_train, minlength=10).tolist() == TRAIN_LABEL_COUNTS
    assert not (tmp_path / "empty-cache").exists()   # nothing written anywhere


def test_data_dir_env_and_cache_come_before_the_bundled_copy(tmp_path, monkeypatch,
                                                              isolated_data_env, mnist_dir):
    monkeypatch.setattr(datasets, "BUNDLED_DATA_DIR", mnist_dir.parent)   # the real copy
    mine = _link_mnist(tmp_path / "mine", mnist_dir)
    assert fetch("mnist", mine, download=False)["train_img"].parent == mine
    monkeypatch.setenv("CCONV_DATA_DIR", str(mine))
    assert fetch("mnist", download=False)["test_label"].parent == mine
    monkeypatch.delenv("CCONV_DATA_DIR")
    cache = _link_mnist(isolated_data_env / "cconv" / "mnist", mnist_dir)
    assert fetch("mnist", download=False)["test_img"].parent == cache
    for p in cache.iterdir():
        p.unlink()
    assert fetch("mnist", download=False)["test_img"].parent == mnist_dir


def test_bundled_false_downloads_a_fresh_copy(tmp_path, isolated_data_env, monkeypatch,
                                              mnist_dir):
    monkeypatch.setattr(datasets, "BUNDLED_DATA_DIR", mnist_dir.parent)
    with pytest.raises(DatasetError, match="not found"):
        fetch("mnist", download=False, bundled=False)
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", [mnist_dir.as_uri() + "/"])
    paths = fetch("mnist", bundled=False, progress=False)
    assert {p.parent for p in paths.values()} == {isolated_data_env / "cconv" / "mnist"}
