"""SimpleConvNet and DeepConvNet: the book's interface, gradients, dtypes, parameter files."""
import os
import pickle

import numpy as np
import pytest

from cconv.gradient import gradient_check
from cconv.nn import Relu
from cconv.networks import DeepConvNet, ParamsFileError, SimpleConvNet, convert_pkl_to_npz, \
    get_network


def cp(n, pad=1):
    return {'filter_num': n, 'filter_size': 3, 'pad': pad, 'stride': 1}


def small_simple(dtype=np.float64, rng=0):
    return SimpleConvNet(input_dim=(1, 10, 10),
                         conv_param={'filter_num': 3, 'filter_size': 3, 'pad': 1, 'stride': 1},
                         hidden_size=8, weight_init_std=0.1, dtype=dtype, rng=rng)


def small_deep(dtype=np.float64, rng=0, dropout_ratio=0.0):
    return DeepConvNet(input_dim=(1, 12, 12), conv_param_1=cp(3), conv_param_2=cp(3),
                       conv_param_3=cp(4), conv_param_4=cp(4, 2), conv_param_5=cp(4),
                       conv_param_6=cp(4), hidden_size=6, dtype=dtype, rng=rng,
                       dropout_ratio=dropout_ratio)


def jitter_biases(net, seed):
    # Zero biases put ReLU inputs exactly on the kink for padded positions, where a
    # central difference is meaningless; small positive biases avoid that.
    r = np.random.default_rng(seed)
    for k, v in net.params.items():
        if k.startswith('b'):
            v[...] = r.uniform(0.05, 0.2, v.shape)


def test_book_params_keys_and_shapes():
    net = SimpleConvNet()
    assert list(net.params) == ['W1', 'b1', 'W2', 'b2', 'W3', 'b3']
    assert net.params['W1'].shape == (30, 1, 5, 5)
    assert net.params['W2'].shape == (30 * 12 * 12, 100)
    assert net.params['W1'].dtype == np.float64
    deep = DeepConvNet()
    assert [k for k in deep.params if k.startswith('W')] == [f'W{i}' for i in range(1, 9)]
    assert deep.params['W7'].shape == (64 * 4 * 4, 50)


@pytest.mark.parametrize("make", [small_simple, small_deep])
def test_params_shared_by_identity_with_layers(make):
    net = make()
    for key, (lname, attr) in net._param_map.items():
        assert net.params[key] is getattr(net.layers[lname], attr)
    x = np.random.default_rng(0).standard_normal((2,) + tuple(net.config['input_dim']))
    before = net.predict(x).copy()
    net.params['b%d' % (len(net.params) // 2)] += 1.0  # an optimizer's in-place update
    assert not np.allclose(net.predict(x), before)


def test_simple_convnet_gradient_check_float64():
    net = small_simple()
    jitter_biases(net, 1)
    x = np.random.default_rng(1).standard_normal((3, 1, 10, 10))
    errors = gradient_check(net, x, np.array([1, 2, 3]), h=1e-6)
    assert max(errors.values()) < 1e-5, errors


@pytest.mark.parametrize("seed", [0, 1])
def test_deep_convnet_gradient_check_float64(seed):
    net = small_deep(rng=seed)
    jitter_biases(net, seed + 10)
    x = np.random.default_rng(seed).standard_normal((2, 1, 12, 12))
    errors = gradient_check(net, x, np.array([1, 2]), h=1e-6)
    assert max(errors.values()) < 1e-5, errors


@pytest.mark.parametrize("make", [small_simple, small_deep])
def test_float32_network_stays_float32_and_matches_float64(make):
    n64, n32 = make(np.float64), make(np.float32)
    for k in n64.params:
        n32.params[k][...] = n64.params[k]
    x = np.random.default_rng(2).standard_normal((4,) + tuple(n64.config['input_dim']))
    t = np.array([0, 1, 2, 3])
    g64, g32 = n64.gradient(x, t), n32.gradient(x.astype(np.float32), t)
    assert isinstance(n32.last_loss, float)
    assert n32.last_loss == pytest.approx(n64.last_loss, rel=1e-4)
    for k in g64:
        assert g32[k].dtype == np.float32, k
        np.testing.assert_allclose(g32[k], g64[k], rtol=2e-3, atol=2e-5 * np.abs(g64[k]).max())
    assert n32.predict(x).dtype == np.float32  # float64 input is cast, not upcast


def test_gradient_sets_last_loss_equal_to_loss():
    net = small_simple()
    x = np.random.default_rng(3).standard_normal((5, 1, 10, 10))
    t = np.array([0, 1, 2, 3, 4])
    net.gradient(x, t)
    assert net.last_loss == pytest.approx(float(net.loss(x, t)))


def test_accuracy_counts_the_last_partial_batch():
    net = small_simple()
    x = np.random.default_rng(4).standard_normal((7, 1, 10, 10))
    pred = np.argmax(net.predict(x), axis=1)
    t = pred.copy()
    t[-1] = (t[-1] + 1) % 10  # only the last sample (in the partial batch) is wrong
    assert net.accuracy(x, t, batch_size=3) == pytest.approx(6 / 7)
    onehot = np.eye(10)[t]
    assert net.accuracy(x, onehot, batch_size=3) == pytest.approx(6 / 7)


def test_flat_input_rows_are_reshaped_and_bad_shapes_refused():
    net = small_simple()
    x = np.random.default_rng(5).standard_normal((2, 1, 10, 10))
    np.testing.assert_array_equal(net.predict(x.reshape(2, -1)), net.predict(x))
    with pytest.raises(ValueError, match=r"expects \(N,\) \+ \(1, 10, 10\)"):
        net.predict(np.zeros((2, 1, 9, 10)))


def test_forward_until_named_layer():
    net = small_deep()
    x = np.random.default_rng(6).standard_normal((2, 1, 12, 12))
    assert net.forward_until(x, 'Conv1').shape == (2, 3, 12, 12)
    assert net.forward_until(x, 'Pool3').shape[1] == 4
    with pytest.raises(KeyError, match="no layer 'Conv9'"):
        net.forward_until(x, 'Conv9')


def test_dropout_only_in_training():
    net = small_deep(dropout_ratio=0.5)
    x = np.random.default_rng(7).standard_normal((3, 1, 12, 12))
    np.testing.assert_array_equal(net.predict(x), net.predict(x))


# ---- parameter files ----

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_load_round_trip_keeps_identity(tmp_path, dtype):
    a, b = small_deep(dtype, rng=1), small_deep(dtype, rng=2)
    path = tmp_path / "p.npz"
    a.save_params(path)
    ids = {k: id(v) for k, v in b.params.items()}
    b.load_params(path)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
        assert id(b.params[k]) == ids[k]
        assert b.params[k] is b.layers[b._param_map[k][0]].__dict__[b._param_map[k][1]]
    assert not list(tmp_path.glob(".*tmp"))  # no temp file left behind


def test_book_style_pkl_name_and_book_pickles(tmp_path):
    net = small_simple()
    net.save_params(tmp_path / "params.pkl")  # the book's scripts use this name
    small_simple(rng=5).load_params(tmp_path / "params.pkl")
    # A real pickle in the book's format (dict of float64 arrays) loads and converts.
    book = tmp_path / "book.pkl"
    with open(book, "wb") as f:
        pickle.dump({k: v.copy() for k, v in net.params.items()}, f)
    other = small_simple(rng=9)
    other.load_params(book)
    for k in net.params:
        np.testing.assert_array_equal(other.params[k], net.params[k])
    convert_pkl_to_npz(book, tmp_path / "book.npz")
    small_simple(rng=3).load_params(tmp_path / "book.npz")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_malicious_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as f:
        pickle.dump({"W1": _Evil()}, f)
    with pytest.raises(ParamsFileError, match="refusing to unpickle posix.system"):
        small_simple().load_params(path)


def test_bad_params_files_are_refused_and_change_nothing(tmp_path):
    net = small_simple()
    before = {k: v.copy() for k, v in net.params.items()}
    good = tmp_path / "good.npz"
    small_simple(rng=4).save_params(good)
    # wrong network
    deep = tmp_path / "deep.npz"
    small_deep().save_params(deep)
    with pytest.raises(ParamsFileError, match="parameters of a DeepConvNet"):
        net.load_params(deep)
    # missing key
    from cconv.io.npz import save_npz_atomic, load_npz
    arrays, meta = load_npz(good)
    save_npz_atomic(tmp_path / "missing.npz", {k: v for k, v in arrays.items() if k != 'b3'}, meta)
    with pytest.raises(ParamsFileError, match=r"missing \['b3'\]"):
        net.load_params(tmp_path / "missing.npz")
    # wrong shape
    bad = dict(arrays, W2=np.zeros((3, 3)))
    save_npz_atomic(tmp_path / "shape.npz", bad, meta)
    with pytest.raises(ParamsFileError, match=r"W2 has shape \(3, 3\)"):
        net.load_params(tmp_path / "shape.npz")
    # wrong dtype (cast=True accepts it)
    save_npz_atomic(tmp_path / "f32.npz", {k: v.astype(np.float32) for k, v in arrays.items()}, meta)
    with pytest.raises(ParamsFileError, match="dtype float32, this SimpleConvNet uses float64"):
        net.load_params(tmp_path / "f32.npz")
    # NaN
    save_npz_atomic(tmp_path / "nan.npz", dict(arrays, b1=np.full_like(arrays['b1'], np.nan)), meta)
    with pytest.raises(ParamsFileError, match="b1 contains NaN"):
        net.load_params(tmp_path / "nan.npz")
    # truncated and garbage files
    data = good.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ParamsFileError, match="truncated or corrupt"):
        net.load_params(tmp_path / "trunc.npz")
    (tmp_path / "junk.bin").write_bytes(b"hello world")
    with pytest.raises(ParamsFileError, match="neither an .npz archive nor a params pickle"):
        net.load_params(tmp_path / "junk.bin")
    for k in before:
        np.testing.assert_array_equal(net.params[k], before[k])
    net.load_params(tmp_path / "f32.npz", cast=True)
    assert net.params['W1'].dtype == np.float64


@pytest.mark.parametrize("make", [small_simple, small_deep])
def test_load_network_rebuilds_from_the_file(tmp_path, make):
    from cconv.networks import load_network
    net = make(np.float32)
    net.save_params(tmp_path / "n.npz")
    back = load_network(tmp_path / "n.npz")
    assert type(back) is type(net) and back.dtype == np.float32
    x = np.random.default_rng(0).standard_normal((2,) + tuple(net.config['input_dim']))
    np.testing.assert_array_equal(back.predict(x), net.predict(x))
    assert load_network(tmp_path / "n.npz", dtype=np.float64).dtype == np.float64


def test_get_network_and_book_import_paths():
    from cconv.deep_convnet import DeepConvNet as D
    from cconv.simple_convnet import SimpleConvNet as S
    assert S is SimpleConvNet and D is DeepConvNet
    assert isinstance(get_network("simple", rng=0), SimpleConvNet)
    assert isinstance(get_network("DeepConvNet", rng=0), DeepConvNet)
    with pytest.raises(ValueError, match="unknown network 'vgg'"):
        get_network("vgg")


def test_bad_constructor_arguments():
    with pytest.raises(TypeError, match="float32 or float64"):
        SimpleConvNet(dtype=np.int32)
    with pytest.raises(ValueError, match="does not fit"):
        SimpleConvNet(input_dim=(1, 3, 3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradients_bit_identical_for_any_thread_count(dtype):
    import cconv
    net = DeepConvNet(rng=3, dtype=dtype, dropout_ratio=0.0)
    x = np.random.default_rng(8).random((13, 1, 28, 28)).astype(dtype)  # odd batch
    t = np.arange(13) % 10
    old = cconv.get_num_threads()
    try:
        cconv.set_num_threads(1)
        g1 = {k: v.copy() for k, v in net.gradient(x, t).items()}
        for n in (2, 3, 8):
            cconv.set_num_threads(n)
            g = net.gradient(x, t)
            for k in g1:
                assert np.array_equal(g[k], g1[k]), (n, k)
    finally:
        cconv.set_num_threads(None if old is None else old)


# ---- hardening: pickles of every protocol, forged pickles, odd .npz files ----------------

@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_book_pickles_of_every_protocol_load(tmp_path, protocol):
    from collections import OrderedDict
    from cconv.networks import load_book_pickle
    net = small_simple()
    params = {k: v.copy() for k, v in net.params.items()}
    params["f32"] = np.arange(6, dtype=np.float32).reshape(2, 3)
    params["fortran"] = np.asfortranarray(np.random.default_rng(0).random((3, 4)))
    for i, obj in enumerate((params, OrderedDict(params))):
        path = tmp_path / f"p{protocol}_{i}.pkl"
        path.write_bytes(pickle.dumps(obj, protocol=protocol))
        back = load_book_pickle(path)
        assert type(back) is dict and sorted(back) == sorted(params)
        for k, v in params.items():
            assert back[k].dtype == v.dtype and back[k].shape == v.shape
            np.testing.assert_array_equal(back[k], v)
    if protocol >= 2:  # load_params recognises pickles by their PROTO opcode
        other = small_simple(rng=7)
        path = tmp_path / f"book{protocol}.pkl"
        path.write_bytes(pickle.dumps({k: v.copy() for k, v in net.params.items()},
                                      protocol=protocol))
        other.load_params(path)
        for k in net.params:
            np.testing.assert_array_equal(other.params[k], net.params[k])


class _ForgedDtype:
    # pickles as np.dtype('f8', False, True) whose BUILD state claims other flags
    def __init__(self, flags):
        self.flags = flags

    def __reduce__(self):
        return np.dtype, ('f8', False, True), (3, '<', None, None, None, -1, -1, self.flags)


def test_forged_pickles_are_refused(tmp_path):
    from cconv.networks import load_book_pickle
    path = tmp_path / "f.pkl"
    # flags 193 would make numpy treat float64 data as holding object references
    path.write_bytes(pickle.dumps({"W1": _ForgedDtype(193)}, protocol=2))
    with pytest.raises(ParamsFileError, match="refusing dtype <f8 with forged flags 193"):
        load_book_pickle(path)
    path.write_bytes(pickle.dumps({"W1": _ForgedDtype(0)}, protocol=4))  # honest, but
    with pytest.raises(ParamsFileError, match="expected a dict of name -> float array"):
        load_book_pickle(path)                                          # not an array
    # _codecs.encode is allowed for protocol 2's bytes, with latin1 only
    path.write_bytes(b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13"
                     b"\x86R.")
    with pytest.raises(ParamsFileError, match="encoding 'rot13'"):
        load_book_pickle(path)
    # a memo index far beyond the file (the C unpickler would allocate 2**32 pointers)
    path.write_bytes(b"\x80\x02}r\xff\xff\xff\x7f.")
    assert load_book_pickle(path) == {}


class _Reduce:
    def __init__(self, *reduce):
        self.reduce = reduce

    def __reduce__(self):
        return self.reduce


def test_pickles_that_would_crash_numpy_are_refused(tmp_path):
    # Each of these makes numpy crash (SIGSEGV) or misbehave if its state is applied.
    from cconv.networks import load_book_pickle
    try:
        from numpy._core.multiarray import _reconstruct
        from numpy._core.numeric import _frombuffer
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct
        from numpy.core.numeric import _frombuffer
    arr = np.arange(4.0)
    cases = [
        # a dtype state whose 'subarray' is an int
        ({"W1": _Reduce(np.dtype, ('b1', False, True), (3, '|', 1313754664, -1, -1, 0))},
         r"refusing dtype \|b1 with state"),
        # an object array whose list is shorter than its shape
        ({"W1": _Reduce(_reconstruct, (np.ndarray, (0,), b'b'),
                        (1, (165,), np.dtype('O'), False, [None, 1.0]))},
         "expected a dict of name -> float array, found an array of dtype object"),
        # a protocol-5 array viewing another array's memory
        ({"W1": _Reduce(_frombuffer, (arr, np.dtype('f8'), (4,), 'C'))},
         "refusing _frombuffer of a ndarray"),
    ]
    for i, (obj, msg) in enumerate(cases):
        path = tmp_path / f"c{i}.pkl"
        path.write_bytes(pickle.dumps(obj, protocol=2))
        with pytest.raises(ParamsFileError, match=msg):
            load_book_pickle(path)
    # an array whose state is set twice (the first data could be viewed, then freed)
    data = pickle.dumps(arr, protocol=2)
    again = pickle.dumps((1, (2,), np.dtype('f8'), False, bytes(16)), protocol=2)[2:-1]
    (tmp_path / "twice.pkl").write_bytes(data[:-1] + again + b"b.")
    with pytest.raises(ParamsFileError, match="refusing to set an array's state twice"):
        load_book_pickle(tmp_path / "twice.pkl")


def test_load_npz_reads_what_np_load_reads(tmp_path):
    import io
    import zipfile
    from cconv.io.npz import load_npz
    arrays = {"a": np.arange(12.0).reshape(3, 4), "f": np.asfortranarray(np.ones((2, 3))),
              "be": np.arange(4).astype(">i4"), "s": np.array(["ab", "c"]),
              "e": np.zeros((0, 5), np.float32), "b": np.array(True), "nested/k": np.ones(1)}
    for save in (np.savez, np.savez_compressed):
        path = tmp_path / f"{save.__name__}.npz"
        save(path, **arrays)
        got, meta = load_npz(path)
        assert meta is None and sorted(got) == sorted(arrays)
        for k, v in arrays.items():
            assert got[k].dtype == v.dtype and got[k].shape == v.shape
            assert got[k].flags.writeable and got[k].flags.f_contiguous == v.flags.f_contiguous
            np.testing.assert_array_equal(got[k], v)
    # .npy format 2.0 and 3.0 headers, and a member whose name lacks '.npy' (np.load
    # reads it by its content)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for version, name in (((2, 0), "v2.npy"), ((3, 0), "v3.npy"), ((1, 0), "plain")):
            m = io.BytesIO()
            np.lib.format.write_array(m, np.arange(3.0), version=version)
            z.writestr(name, m.getvalue())
    (tmp_path / "v.npz").write_bytes(buf.getvalue())
    got, _ = load_npz(tmp_path / "v.npz")
    ref = np.load(tmp_path / "v.npz")
    assert sorted(got) == sorted(ref.files) == ["plain", "v2", "v3"]
    for k in got:
        np.testing.assert_array_equal(got[k], ref[k])


def test_load_npz_damaged_compressed_member(tmp_path):
    from cconv.io.npz import load_npz
    np.savez_compressed(tmp_path / "c.npz", a=np.random.default_rng(0).random(5000))
    data = bytearray((tmp_path / "c.npz").read_bytes())
    data[200:210] = b"\x00" * 10  # inside the deflate stream
    (tmp_path / "bad.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="bad.npz.*truncated or corrupt"):
        load_npz(tmp_path / "bad.npz")


def test_load_network_errors_name_the_file(tmp_path):
    from cconv.io.npz import save_npz_atomic
    from cconv.networks import load_network
    net = small_simple()
    params = {k: v.copy() for k, v in net.params.items()}
    cases = [({"network": "SimpleConvNet", "config": [1, 2]}, "config is not a JSON object"),
             ({"network": {"a": 1}, "config": {}}, "unknown network"),
             ({"network": "SimpleConvNet", "config": {"input_dim": [28, 28]}},
              "cannot rebuild the SimpleConvNet.*input_dim"),
             ({"network": "SimpleConvNet", "config": {"pool_size": 0}}, "pool_size"),
             ({"network": "DeepConvNet", "config": {"conv_param_3": {"filter_num": 2,
               "filter_size": 3, "pad": -1, "stride": 1}}}, "conv_param_3: pad must be >= 0"),
             ({"network": "SimpleConvNet", "config": {}, "dtype": "complex64"}, "complex64")]
    for i, (meta, msg) in enumerate(cases):
        path = tmp_path / f"m{i}.npz"
        save_npz_atomic(path, params, meta)
        with pytest.raises(ParamsFileError, match=f"m{i}.npz.*{msg}"):
            load_network(path)
    # the caller's own bad dtype is the caller's TypeError, not the file's fault
    net.save_params(tmp_path / "ok.npz")
    with pytest.raises(TypeError, match="float32 or float64"):
        load_network(tmp_path / "ok.npz", dtype=np.int8)
    # a dtype *instance* overrides too (np.dtype('float32') is falsy: len() == 0)
    assert load_network(tmp_path / "ok.npz", dtype=np.dtype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("make", [small_simple, small_deep])
def test_empty_batch_and_input_dtype_policy(make):
    net = make()
    shape = tuple(net.config['input_dim'])
    assert net.predict(np.zeros((0,) + shape)).shape == (0, 10)
    assert net.predict(np.zeros((0, int(np.prod(shape))))).shape == (0, 10)  # flat rows
    assert net.predict_labels(np.zeros((0,) + shape)).shape == (0,)
    x = np.random.default_rng(0).integers(0, 255, (2,) + shape).astype(np.uint8)
    np.testing.assert_array_equal(net.predict(x), net.predict(x.astype(np.float64)))
    np.testing.assert_array_equal(net.predict(x.astype(">f8")), net.predict(x / 1.0))
    for bad in (x.astype(np.complex64), x.astype(str), x.astype(object)):
        with pytest.raises(TypeError, match="float32 or float64"):
            net.predict(bad)


def test_impossible_geometries_are_refused_when_built():
    bad = [
        (lambda: SimpleConvNet(input_dim=(1, 0, 28)), "input_dim"),
        (lambda: SimpleConvNet(input_dim=(1, 28, 28.5)), "input_dim"),
        (lambda: SimpleConvNet(conv_param={'filter_size': 0}), "filter size must be positive"),
        (lambda: SimpleConvNet(conv_param={'stride': -1}), "conv_param: stride must be positive"),
        (lambda: SimpleConvNet(pool_size=-2), "pool_size must be positive, got -2"),
        (lambda: DeepConvNet(conv_param_4={'filter_num': 4, 'filter_size': 3, 'pad': -1,
                                           'stride': 1}), "conv_param_4: pad must be >= 0"),
        (lambda: DeepConvNet(input_dim=(1, 28)), "input_dim"),
    ]
    for fn, msg in bad:
        with pytest.raises(ValueError, match=msg):
            fn()
    # what the book builds still builds; an integral float size is an int
    assert SimpleConvNet(input_dim=(1, 28.0, 28), rng=0).config['input_dim'] == [1, 28, 28]
    # so does a pad as large as the filter (the book's im2col pads whatever it is given)
    wide = SimpleConvNet(input_dim=(1, 6, 6), conv_param={'filter_size': 3, 'pad': 3},
                         hidden_size=4, rng=0)
    assert wide.predict(np.ones((1, 1, 6, 6))).shape == (1, 10)
    assert wide.params['W2'].shape[0] == 30 * 5 * 5     # conv 10x10 -> pool 5x5


def test_pickle_length_claims_are_checked_before_allocating(tmp_path):
    # BYTEARRAY8 claiming 4 GiB in a 20-byte file: refused at once, nothing allocated
    import time
    from cconv.networks import load_book_pickle
    path = tmp_path / "bomb.pkl"
    path.write_bytes(b"\x80\x05\x96" + (2**32).to_bytes(8, "little") + b"xx.")
    t0 = time.monotonic()
    with pytest.raises(ParamsFileError, match="expected 4294967296 bytes in a bytearray8"):
        load_book_pickle(path)
    with pytest.raises(ParamsFileError, match="bytearray8"):
        small_simple().load_params(path)
    assert time.monotonic() - t0 < 5


def _unfused(net, x, t):
    """The book's path, one layer at a time (no Convolution -> Relu fusion), and its
    gradients: what the fused network must reproduce bit for bit."""
    y = net._input(x)
    for layer in net.layers.values():
        y = layer.call(y, True)
    net.last_layer.forward(y, t)
    d = net.last_layer.backward(1)
    for layer in reversed(net.layers.values()):
        d = layer.backward(d)
        if d is None:
            break
    return y, {k: getattr(net.layers[ln], net.layers[ln].grad_name(a)).copy()
               for k, (ln, a) in net.param_map.items()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", [small_simple, small_deep])
def test_convolution_relu_fusion_changes_no_value(make, dtype):
    # The network runs Conv -> Relu as one pass (ReLU in the convolution's epilogue);
    # scores, masks and gradients are those of the layer-by-layer book path, exactly.
    net = make(dtype=dtype)
    jitter_biases(net, 3)
    x = np.random.default_rng(4).standard_normal((5,) + tuple(net.config["input_dim"]))
    x[0, 0, :2] = np.nan if dtype == np.float64 else 0.0   # NaN passes, as the mask says
    t = np.arange(5) % 10
    y_ref, g_ref = _unfused(net, x, t)
    masks_ref = {n: l.mask.copy() for n, l in net.layers.items() if hasattr(l, "mask")}
    y = net.predict(x, train_flg=True)
    assert all(l._y is not None for n, l in net.layers.items()
               if type(l).__name__ == "Relu" and n in ("Relu1",)), "Relu1 was not fused"
    np.testing.assert_array_equal(y, y_ref)
    for n, m in masks_ref.items():
        np.testing.assert_array_equal(net.layers[n].mask, m, err_msg=n)
    g = net.gradient(x, t)
    for k in g_ref:
        np.testing.assert_array_equal(g[k], g_ref[k], err_msg=k)


def test_forward_until_a_convolution_gives_its_output_before_the_relu():
    net = small_deep()
    jitter_biases(net, 1)
    x = np.random.default_rng(6).standard_normal((2, 1, 12, 12))
    conv = net.forward_until(x, 'Conv2')
    assert (conv < 0).any(), "the ReLU was applied to a convolution's own output"
    np.testing.assert_array_equal(net.forward_until(x, 'Relu2'), np.maximum(conv, 0))


def test_a_patched_layer_is_not_fused_past():
    # A forward set on the instance (a hook, a profiler) is called, not skipped.
    net = small_simple()
    seen = []
    conv = net.layers['Conv1']
    real = conv.forward
    conv.forward = lambda x: seen.append(x.shape) or real(x)
    net.predict(np.zeros((2, 1, 10, 10)))
    assert seen == [(2, 1, 10, 10)]


def test_relu_backward_is_taken_by_the_layer_after_it(monkeypatch):
    # Relu1..Relu6 feed a Convolution or a max Pooling, whose backward_with_relu does
    # their backward too; Relu7 feeds Dropout, so its own backward runs.
    from cconv.nn import Relu
    calls = []
    real = Relu.backward
    monkeypatch.setattr(Relu, "backward", lambda self, d: calls.append(self) or real(self, d))
    net = small_deep()
    net.gradient(np.random.default_rng(2).standard_normal((3, 1, 12, 12)), np.arange(3))
    assert calls == [net.layers['Relu7']]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", [small_simple, small_deep])
def test_inference_with_pooling_in_the_convolution_changes_no_value(make, dtype):
    # Outside training, Conv -> Relu -> 2x2 Pooling runs as one pass that never stores
    # the convolution's output; the scores are those of the layer-by-layer path.
    net = make(dtype=dtype)
    jitter_biases(net, 5)
    x = np.random.default_rng(9).standard_normal((4,) + tuple(net.config["input_dim"]))
    x[1, 0, 3, :] = np.nan
    y = net._input(x)
    for layer in net.layers.values():
        y = layer.call(y, False)
    np.testing.assert_array_equal(net.predict(x), y)
    np.testing.assert_array_equal(net.forward_until(x, 'Pool1'),
                                  net.layers['Pool1'].forward(
                                      net.layers['Relu1' if make is small_simple else 'Relu2']
                                      .forward(net.forward_until(
                                          x, 'Conv1' if make is small_simple else 'Conv2'))))


def assert_layer_by_layer_gradients(net, x, t, grads):
    """``grads`` (a network's gradient of x, t) are those of a forward and a backward
    run layer by layer: no fused pair anywhere."""
    y = net._input(x)
    for layer in net.layers.values():
        y = layer.call(y, True)
    net.last_layer.forward(y, t)
    d = net.last_layer.backward(1)
    for layer in reversed(list(net.layers.values())):
        d = layer.backward(d)
        if d is None:
            break
    for key, (lname, attr) in net.param_map.items():
        layer = net.layers[lname]
        np.testing.assert_array_equal(getattr(layer, layer.grad_name(attr)), grads[key])


@pytest.mark.parametrize("make", [small_simple, small_deep])
def test_a_relu_after_an_affine_runs_in_its_product_and_keeps_its_mask(make):
    # Affine -> Relu runs as one pass (Affine.forward_relu) in predict and in a step; the
    # Relu's out and mask are what its own forward gives, and the gradients are the
    # layer-by-layer backward's
    net = make(dtype=np.float64)
    jitter_biases(net, 3)
    x = np.random.default_rng(4).standard_normal((3,) + tuple(net.config["input_dim"]))
    t = np.arange(3) % 10
    names = list(net.layers)
    pairs = [(a, r) for a, r in zip(names, names[1:])
             if type(net.layers[a]).__name__ == "Affine" and r.startswith("Relu")]
    assert pairs
    grads = {k: v.copy() for k, v in net.gradient(x, t).items()}
    for a, r in pairs:
        relu, affine = net.layers[r], net.layers[a]
        ref = Relu().forward(affine.forward(affine.x))
        np.testing.assert_array_equal(relu.out, ref)
        np.testing.assert_array_equal(relu.mask, affine.forward(affine.x) <= 0)
    assert_layer_by_layer_gradients(net, x, t, grads)


def test_a_first_convolution_takes_its_weight_gradient_from_the_pooling(monkeypatch):
    # SimpleConvNet's Conv1 -> Relu1 -> Pool1 (need_dx=False): dW and db come from the
    # pooling's gradient (backward_from_pool), the same bits as the layer-by-layer
    # backward; a Convolution that needs dx gets it the two-op way, the same as well
    from cconv.nn import Convolution
    calls = []
    real = Convolution.backward_from_pool
    monkeypatch.setattr(Convolution, "backward_from_pool",
                        lambda self, *a, **k: calls.append(self) or real(self, *a, **k))
    net = small_simple(dtype=np.float32)
    jitter_biases(net, 2)
    x = np.random.default_rng(5).standard_normal((4, 1, 10, 10)).astype(np.float32)
    t = np.arange(4)
    grads = {k: v.copy() for k, v in net.gradient(x, t).items()}
    assert calls == [net.layers["Conv1"]]
    conv, relu, pool = net.layers["Conv1"], net.layers["Relu1"], net.layers["Pool1"]
    dpool = np.random.default_rng(6).standard_normal(pool._out.shape).astype(np.float32)
    d = pool.backward_with_relu(dpool)
    conv.backward(d)
    ref = conv.dW.copy(), conv.db.copy()
    conv.backward_from_pool(dpool, pool.arg_max, pool._out)
    assert conv.dW.tobytes() == ref[0].tobytes() and conv.db.tobytes() == ref[1].tobytes()
    conv.need_dx = True
    dx = conv.backward_from_pool(dpool, pool.arg_max, pool._out)
    np.testing.assert_array_equal(dx, conv.backward(d))
    conv.need_dx = False
    net2 = small_simple(dtype=np.float32)
    jitter_biases(net2, 2)
    assert_layer_by_layer_gradients(net2, x, t, grads)


@pytest.mark.parametrize("name", ["Relu1", "Relu2", "Pool1"])
def test_a_fused_layer_refuses_its_own_bad_thread_count(name):
    # a Relu or Pooling whose work runs in another layer's epilogue still refuses a bad
    # n_threads (as its own forward and backward would), before anything runs
    net = small_simple()
    x = np.random.default_rng(1).standard_normal((2, 1, 10, 10))
    net.layers[name].n_threads = 0
    with pytest.raises(ValueError, match="n_threads must be a positive int"):
        net.predict(x)
    net.layers[name].n_threads = None
    net.loss(x, np.arange(2))
    net.layers[name].n_threads = "two"
    with pytest.raises(TypeError, match="n_threads must be an int"):
        net.gradient(x, np.arange(2))


def test_backward_after_an_inference_pass_says_so():
    # predict outside training keeps no activations of a fused Relu or Pooling; their
    # backward names the cause instead of "called before forward"
    net = small_deep()
    x = np.random.default_rng(2).standard_normal((2, 1, 12, 12))
    net.predict(x)
    for name in ("Relu2", "Pool1"):
        layer = net.layers[name]
        with pytest.raises(RuntimeError, match="after an inference pass"):
            layer.backward(np.ones((2, 3, 12, 12) if name == "Relu2" else (2, 3, 6, 6)))
    net.gradient(x, np.arange(2))   # a training pass brings them back
    assert net.layers['Relu2'].out is not None and net.layers['Pool1'].x is not None


@pytest.mark.parametrize("make", [small_simple, small_deep])
def test_a_training_step_writes_no_pooled_convolution_output_yet_keeps_the_book_attributes(
        make):
    # In a step, Conv -> Relu -> 2x2 Pooling does not write the convolution's own output
    # (nothing in the step reads it); the Relu's out and mask and the Pooling's x make it
    # on first use: the values of the layer-by-layer path, from the step's input and
    # weights even after the caller reused its input buffer and Adam moved the weights.
    from cconv.nn.base import DeferredOutput
    from cconv.optimizer import Adam
    net = make()
    jitter_biases(net, 7)
    x = np.random.default_rng(8).standard_normal((4,) + tuple(net.config["input_dim"]))
    t = np.arange(4) % 10
    relu_name = "Relu1" if make is small_simple else "Relu2"
    pool_name = "Pool1"
    y = net._input(x)
    want = {}
    for name, layer in net.layers.items():
        y = layer.call(y, True)
        if name == relu_name:
            want["out"], want["mask"] = y.copy(), layer.mask.copy()
            break
    grads = net.gradient(x, t)
    relu, pool = net.layers[relu_name], net.layers[pool_name]
    assert isinstance(relu._out, DeferredOutput) and relu._out is pool._x
    assert relu._out._value is None, "the step wrote the convolution's output"
    x[:] = 123.0                      # the caller's buffer, reused for the next batch
    Adam(lr=0.5).update(net.params, grads)
    assert pool.x.shape == want["out"].shape
    np.testing.assert_array_equal(pool.x, want["out"])
    assert relu.out is pool.x         # one array, as the fused pass would have shared
    np.testing.assert_array_equal(relu.mask, want["mask"])
    d = np.random.default_rng(1).standard_normal(want["out"].shape)
    np.testing.assert_array_equal(relu.backward(d), np.where(want["out"] > 0, d, 0))
