"""Fuzz harness for cconv's file parsers: IDX (MNIST), the book's params pickle, .npz files.

Every input must end in a result or in the entry point's documented error class:

=====================================  ===============================================
entry point                            documented errors
=====================================  ===============================================
cconv.datasets._parse_idx (bytes)      DatasetError
cconv.datasets._read_bytes (.gz file)  DatasetError
cconv.networks.load_book_pickle        ParamsFileError
cconv.io.npz.load_npz                    ValueError
Network.load_params                    ParamsFileError
cconv.networks.load_network            ParamsFileError
=====================================  ===============================================

Anything else is a bug. Bugs already reported are listed in ``KNOWN_BUGS`` and counted,
not raised, so that fuzzing goes on looking for new ones; delete an entry when its bug
is fixed.

The first input byte picks a target; raw targets hand the rest to the parser as is,
structured targets first build a well-formed container (gzip, zip with correct CRCs,
pickle) around fuzzed content, so that mutations reach the checks behind the container.

Run with atheris (coverage-guided; ``pip install atheris``)::

    python tests/fuzz/fuzz_loaders.py -max_total_time=60 [corpus_dir]

(``CCONV_FUZZ_REPORT=path.json`` also writes the outcome counts there), or without it,
as a plain random fuzzer (``--random N [seed]`` inputs), or through
``tests/test_atheris.py`` (atheris) and ``tests/test_fuzz.py`` (hypothesis), which call
:func:`check_input`. A line ``fuzz_loaders: outcomes {...}`` is printed at exit.
"""
import collections
import gzip
import io
import json
import os
import pickle
import struct
import sys
import tempfile
import time
import zipfile

import numpy as np

OUTCOMES = collections.Counter()

# --- a byte reader that both atheris and hypothesis drive ---------------------------------


class Reader:
    """Consumes fuzz bytes as small decisions; past the end every read gives zeros."""

    def __init__(self, data):
        self.data = bytes(data)
        self.pos = 0

    def remaining(self):
        return max(0, len(self.data) - self.pos)

    def bytes(self, n):
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def int(self, lo, hi):
        span = hi - lo + 1
        nbytes = 1 if span <= 256 else 2 if span <= 65536 else 4 if span <= 2**32 else 8
        raw = self.bytes(nbytes).ljust(nbytes, b"\0")
        return lo + int.from_bytes(raw, "little") % span

    def choice(self, seq):
        return seq[self.int(0, len(seq) - 1)]

    def chunk(self, max_len):
        return self.bytes(self.int(0, max_len))

    def rest(self):
        return self.bytes(self.remaining())

    def text(self, max_len):
        return self.chunk(max_len).decode("utf-8", "replace")


# --- the bugs already reported (see tests/test_bad_input.py, "bug:" rows) ------------------

KNOWN_BUGS = {
    # name: lambda target, exc: bool -- none open; the ones found so far (non-.npy
    # members, metadata that is not a JSON object or nested too deeply, .npy headers
    # claiming huge sizes, encrypted / unknown-method zip members, load_network's
    # constructor errors, the pickle memo bomb) are fixed and tested in
    # tests/test_bad_input.py.
}


class UnexpectedError(AssertionError):
    """A parser raised something its documentation does not allow (a new bug)."""


def _run(target, fn, allowed):
    """Call fn(); classify the outcome; raise UnexpectedError for an undocumented error."""
    try:
        result = fn()
    except allowed:
        OUTCOMES[target + ": documented error"] += 1
        return None
    except Exception as exc:  # noqa: BLE001 - the point is to classify everything
        for name, match in KNOWN_BUGS.items():
            if match(target, exc):
                OUTCOMES[target + ": known bug " + name] += 1
                return None
        raise UnexpectedError(f"{target}: {type(exc).__name__}: {exc}") from exc
    OUTCOMES[target + ": ok"] += 1
    return result


# --- fixtures: a tiny network and a scratch directory -------------------------------------

_STATE = {}


def _net():
    if "net" not in _STATE:
        from cconv.networks import SimpleConvNet
        _STATE["net"] = SimpleConvNet(
            input_dim=(1, 6, 6), conv_param={'filter_num': 2, 'filter_size': 3, 'pad': 0,
                                             'stride': 1},
            hidden_size=3, output_size=2, weight_init_std=0.1, rng=0)
        _STATE["snapshot"] = {k: (v, v.copy()) for k, v in _STATE["net"].params.items()}
    return _STATE["net"]


def _scratch(name):
    if "dir" not in _STATE:
        base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        _STATE["dir"] = tempfile.mkdtemp(prefix="cconv-fuzz-", dir=base)
    return os.path.join(_STATE["dir"], name)


def _write(name, data):
    path = _scratch(name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _check_params_unchanged_or_loaded(net, loaded):
    # load_params either loads everything or changes nothing; arrays keep their identity.
    for k, (arr, before) in _STATE["snapshot"].items():
        if net.params[k] is not arr:
            raise UnexpectedError(f"load_params replaced the array {k} (identity lost)")
        if not loaded and not np.array_equal(arr, before):
            raise UnexpectedError(f"a failed load_params changed {k}")
        if not np.all(np.isfinite(arr)) or arr.dtype != np.float64:
            raise UnexpectedError(f"load_params left {k} non-finite or {arr.dtype}")
    if loaded:  # put the original values back for the next input
        for k, (arr, before) in _STATE["snapshot"].items():
            arr[...] = before


# --- targets -----------------------------------------------------------------------------

def _idx_raw(r):
    from cconv.datasets import DatasetError, _parse_idx
    kind = r.choice(("images", "labels"))
    data = r.rest()
    arr = _run("idx", lambda: _parse_idx(data, "fuzz", kind), DatasetError)
    if arr is not None and (arr.dtype != np.uint8 or (kind == "labels" and arr.size and arr.max() > 9)):
        raise UnexpectedError(f"_parse_idx accepted bad {kind}: {arr.dtype} {arr.shape}")


def _idx_structured(r):
    from cconv.datasets import DatasetError, _parse_idx, _read_bytes
    kind = r.choice(("images", "labels"))
    magic = r.choice((0x801, 0x803, 0x802, 0x901, 0x80D, r.int(0, 2**32 - 1)))
    ndim = r.choice((1, 3, 0, 2, 4))
    dims = [r.choice((0, 1, 2, 3, 28, 27, 2**32 - 1, r.int(0, 2**32 - 1))) for _ in range(ndim)]
    n_items = int(np.prod(dims, dtype=object)) if dims else 0
    body_len = r.choice((n_items, n_items - 1, n_items + 1, 0, r.int(0, 4096)))
    body_len = max(0, min(body_len, 1 << 16))
    fill = r.choice((0, 9, 10, 255, None))
    body = bytes([fill]) * body_len if fill is not None else r.bytes(body_len).ljust(body_len, b"\3")
    data = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + body
    data = data[:len(data) - r.int(0, 3)] if r.int(0, 7) == 0 else data
    how = r.choice(("bytes", "file", "gzip", "gzip-cut"))
    if how == "bytes":
        _run("idx", lambda: _parse_idx(data, "fuzz", kind), DatasetError)
        return
    payload = data if how == "file" else gzip.compress(data, compresslevel=1)
    if how == "gzip-cut":
        payload = payload[:r.int(0, len(payload))]
    path = _write("f.idx", payload)
    _run("idx-file", lambda: _parse_idx(_read_bytes(path), "fuzz", kind), DatasetError)


def _pickle_file(target, data):
    from cconv.networks import ParamsFileError, load_book_pickle
    path = _write("p.pkl", data)
    out = _run(target + " load_book_pickle", lambda: load_book_pickle(path), ParamsFileError)
    if out is not None and not all(isinstance(v, np.ndarray) and v.dtype.kind == "f"
                                   for v in out.values()):
        raise UnexpectedError("load_book_pickle returned a non-float array")
    net = _net()
    loaded = _run(target + " load_params", lambda: net.load_params(path), ParamsFileError)
    _check_params_unchanged_or_loaded(net, loaded is not None)


def _pickle_raw(r):
    _pickle_file("pickle", r.rest())


class _Call:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _value(r, depth=0):
    kind = r.int(0, 11)
    shape = tuple(r.int(0, 3) for _ in range(r.int(0, 3)))
    if kind == 0:
        return np.zeros(shape, r.choice((np.float64, np.float32, np.float16)))
    if kind == 1:
        return np.full(shape, r.choice((np.nan, np.inf, 1e308, -0.0)))
    if kind == 2:
        return np.zeros(shape, r.choice((np.int64, np.uint8, np.bool_, np.complex128, "U3")))
    if kind == 3:
        return np.array([None, 1.0], dtype=object)
    if kind == 4:
        return _Call(r.choice((os.getcwd, len, print, str.upper)),
                     r.choice(((), ("x",), ("",))))
    if kind == 5 and depth < 2:
        return {r.text(6): _value(r, depth + 1) for _ in range(r.int(0, 3))}
    if kind == 6 and depth < 2:
        return [_value(r, depth + 1) for _ in range(r.int(0, 3))]
    if kind == 7:
        return np.zeros((2, 3), np.float64).T  # non-contiguous
    if kind == 8:
        return r.int(-5, 5)
    if kind == 9:
        return r.text(8)
    if kind == 10:
        return np.float64(r.int(0, 9))
    return _net().params[r.choice(sorted(_net().params))].copy()


def _pickle_structured(r):
    net = _net()
    obj = {k: v.copy() for k, v in net.params.items()} if r.int(0, 1) else {}
    for _ in range(r.int(0, 3)):
        key = r.choice(sorted(net.params) + ["", "x", "W9"]) if r.int(0, 1) else r.int(0, 3)
        obj[key] = _value(r)
    if r.int(0, 7) == 0:
        obj = r.choice((list(obj.values()), collections.OrderedDict(obj), _value(r)))
    try:
        data = pickle.dumps(obj, protocol=r.int(0, 5))
    except (pickle.PicklingError, TypeError, AttributeError):  # not cconv's concern
        return
    action = r.int(0, 3)
    if action == 1:
        data = data[:r.int(0, len(data))]
    elif action == 2 and data:
        i = r.int(0, len(data) - 1)
        data = data[:i] + bytes([r.int(0, 255)]) + data[i + 1:]
    _pickle_file("pickle-structured", data)


def _npz_file(target, data):
    from cconv.io.npz import load_npz
    from cconv.networks import ParamsFileError, load_network
    path = _write("p.npz", data)
    out = _run(target + " load_npz", lambda: load_npz(path), ValueError)
    if out is not None:
        arrays, meta = out
        if not all(isinstance(v, np.ndarray) for v in arrays.values()):
            raise UnexpectedError("load_npz returned a member that is not an array")
        if meta is not None and not isinstance(meta, dict):
            raise UnexpectedError(f"load_npz returned metadata of type {type(meta).__name__}")
    net = _net()
    loaded = _run(target + " load_params", lambda: net.load_params(path), ParamsFileError)
    _check_params_unchanged_or_loaded(net, loaded is not None)
    _run(target + " load_network", lambda: load_network(path), ParamsFileError)


def _npz_raw(r):
    _npz_file("npz", r.rest())


def _npy_member(r):
    descr = r.choice(("<f8", "<f4", "<i8", "|u1", "|O", "<c16", "<U3", "|b1", ">f8", "|V4",
                      "<f16", "zz"))
    shape = tuple(r.choice((0, 1, 2, 3, 5, 48, 2**31, 2**62, -1))
                  for _ in range(r.int(0, 3)))
    header = {"descr": descr, "fortran_order": bool(r.int(0, 1)), "shape": shape}
    if r.int(0, 9) == 0:
        header.pop(r.choice(sorted(header)))
    text = repr(header).encode("latin1")
    version = r.choice((1, 2, 3, 1))
    text += b" " * ((-(len(text) + 11 + (2 if version > 1 else 0))) % 64) + b"\n"
    head = b"\x93NUMPY" + bytes([version, 0])
    head += (struct.pack("<H", len(text)) if version == 1 else struct.pack("<I", len(text)))
    return head + text + r.chunk(512)


def _meta(r):
    kind = r.int(0, 5)
    if kind == 0:
        return r.text(64)
    if kind == 1:
        return "[" * r.int(0, 3000) + "]" * r.int(0, 3000)
    net = r.choice(("SimpleConvNet", "DeepConvNet", "Other", None, ["SimpleConvNet"], 3))
    config = {}
    for _ in range(r.int(0, 4)):
        key = r.choice(("input_dim", "conv_param", "hidden_size", "output_size",
                        "weight_init_std", "pool_size", "dropout_ratio", "nope"))
        small = r.int(-2, 12)
        config[key] = r.choice((small, [1, 6, 6], [1, small, small], {"stride": small},
                                {"filter_size": small, "pad": r.int(-1, 3)}, "x", None,
                                float(small) / 4))
    meta = {"network": net, "config": config if kind != 2 else r.choice(([1], "c", 5)),
            "dtype": r.choice(("float64", "float32", "int8", "nope", None))}
    if kind == 3:
        meta = r.choice((meta, [meta], json.dumps(meta), 7))
    if kind == 4:
        meta = {"network": "SimpleConvNet", "dtype": "float64",
                "config": dict(input_dim=[1, 6, 6], conv_param={'filter_num': 2,
                               'filter_size': 3, 'pad': 0, 'stride': 1},
                               hidden_size=3, output_size=2)}
    return json.dumps(meta)


def _npz_structured(r):
    net = _net()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=r.choice((zipfile.ZIP_STORED,
                                                         zipfile.ZIP_DEFLATED))) as z:
        names = sorted(net.params)
        for k in names:
            if r.int(0, 5):
                arr = net.params[k]
                if r.int(0, 5) == 0:
                    arr = _value(r)
                    if not isinstance(arr, np.ndarray) or arr.dtype.hasobject:
                        arr = np.zeros(2)
                m = io.BytesIO()
                np.lib.format.write_array(m, np.asanyarray(arr), allow_pickle=False)
                z.writestr(k + ".npy", m.getvalue())
        for _ in range(r.int(0, 2)):
            name = r.choice(names + ["x", "__meta__", "Conv1/running_mean", "a/b"])
            name += r.choice((".npy", "", ".txt"))
            z.writestr(name, _npy_member(r) if r.int(0, 2) else r.chunk(64))
        if r.int(0, 3):
            text = _meta(r)
            m = io.BytesIO()
            np.lib.format.write_array(m, np.array([text]) if r.int(0, 7) else
                                      np.array([text, text]))
            z.writestr("__meta__.npy", m.getvalue())
    data = buf.getvalue()
    if r.int(0, 5) == 0:
        data = data[:r.int(0, len(data))]
    _npz_file("npz-structured", data)


TARGETS = [_idx_raw, _idx_structured, _pickle_raw, _pickle_structured, _npz_raw,
           _npz_structured]


def check_input(data):
    """Run one fuzz input; raises UnexpectedError on an undocumented outcome."""
    r = Reader(data)
    target = TARGETS[r.int(0, len(TARGETS) - 1)]
    target(r)


def seeds():
    """Valid inputs for every target (a starting corpus)."""
    from cconv.datasets import _IMG_COLS, _IMG_ROWS  # noqa: F401 (fails loudly if renamed)
    net = _net()
    out = []
    images = (0x803).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (2, 28, 28))
    out.append(bytes([0, 0]) + images + bytes(range(256)) * 6 + bytes(32))
    out.append(bytes([0, 1]) + (0x801).to_bytes(4, "big") + (3).to_bytes(4, "big") + b"\1\2\3")
    out.append(bytes([1]) + bytes(40))
    pk = io.BytesIO()
    pickle.dump({k: v.copy() for k, v in net.params.items()}, pk)
    out.append(bytes([2]) + pk.getvalue())
    out.append(bytes([3]) + bytes(40))
    z = io.BytesIO()
    np.savez(z, **net.params, __meta__=np.array([json.dumps(
        {"network": "SimpleConvNet", "config": net.config, "dtype": "float64"})]))
    out.append(bytes([4]) + z.getvalue())
    out.append(bytes([5]) + bytes(60))
    out.append(bytes([5]) + bytes([4]) * 60)
    return out


def quiet():
    """Count (not print) warnings and unraisable errors that fuzz inputs provoke."""
    import warnings
    warnings.simplefilter("ignore")  # zipfile's "Duplicate name", numpy's casts

    def hook(u):
        OUTCOMES[f"unraisable {type(u.exc_value).__name__}: {u.exc_value}"[:100]] += 1
    sys.unraisablehook = hook


def report():
    print("fuzz_loaders: outcomes " + json.dumps(dict(sorted(OUTCOMES.items())), indent=1),
          file=sys.stderr)


def _random_mode(n, seed):
    rng = np.random.default_rng(seed)
    corpus = seeds()
    for i in range(n):
        base = bytearray(corpus[i % len(corpus)] if i % 3 else rng.bytes(rng.integers(1, 200)))
        for _ in range(rng.integers(0, 8)):
            if base:
                base[rng.integers(0, len(base))] = rng.integers(0, 256)
        if i % 5 == 0:
            base = base[:rng.integers(1, len(base) + 1)]
        check_input(bytes(base))


def main(argv):
    quiet()
    if len(argv) > 2 and argv[1] == "--random":
        try:
            _random_mode(int(argv[2]), int(argv[3]) if len(argv) > 3 else 0)
        finally:
            report()
        return
    import atexit

    import atheris
    with atheris.instrument_imports(include=["cconv"]):
        import cconv.io.npz  # noqa: F401
        import cconv.datasets  # noqa: F401
        import cconv.networks  # noqa: F401
    atexit.register(report)
    # libFuzzer ends the process without running atexit handlers: the outcome counts are
    # also written every few seconds to $CCONV_FUZZ_REPORT (JSON), when it is set.
    out_path = os.environ.get("CCONV_FUZZ_REPORT")
    last = [0.0]

    def one_input(data):
        check_input(data)
        OUTCOMES["executions"] += 1
        now = time.monotonic()
        if out_path and now - last[0] > 2:
            last[0] = now
            with open(out_path + ".tmp", "w") as f:
                json.dump(dict(OUTCOMES), f, indent=1, sort_keys=True)
            os.replace(out_path + ".tmp", out_path)
    corpus = [a for a in argv[1:] if not a.startswith("-")]
    for d in corpus:  # seed an empty corpus directory with the valid inputs
        if os.path.isdir(d) and not os.listdir(d):
            for i, s in enumerate(seeds()):
                with open(os.path.join(d, f"seed{i}"), "wb") as f:
                    f.write(s)
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
