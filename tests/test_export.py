"""cconv.export: PyTorch, ONNX and safetensors exports checked against ``network.predict``.

Every network (SimpleConvNet, DeepConvNet, LeNet, AlexNet) in float32 and float64,
untrained and trained (a few dozen Adam steps on real MNIST, so the parameters are not
at their initial values). ONNX models pass ``onnx.checker``; float32 ones run in
onnxruntime. onnxruntime 1.32's CPU provider has no float64 Conv, AveragePool or LRN
kernel, so float64 models are run by ``onnx.reference`` (with its LRN replaced: onnx
1.23's loops over the batch axis instead of the channels), and the test checks that
onnxruntime still says NOT_IMPLEMENTED (so the day it supports them, this test says so).
A zoo network covers what the four do not use: BatchNormalization (2-D and 4-D),
Sigmoid, average pooling with pad, pads torch's pooling refuses, an even LRN window,
non-square strides and pads.
"""
import json
import math
import struct
import subprocess
import sys

import numpy as np
import pytest

from cconv import cli, export
from cconv.export.safetensors import read, write
from cconv.layers import (LRN, Affine, AvgPooling, BatchNormalization, Convolution, Dropout,
                          Normalize, Pooling, Relu, Sigmoid, SoftmaxWithLoss, Tanh)
from cconv.networks import NETWORKS, Network, ParamsFileError, get_network
from cconv.optimizer import Adam

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx.reference import ReferenceEvaluator  # noqa: E402
from onnx.reference.op_run import OpRun  # noqa: E402

NETS = list(NETWORKS)              # simple, deep, lenet, alexnet
DTYPES = ["float32", "float64"]
STEPS, BATCH = 30, 16              # training: enough to move every parameter


def _tol(dt, ref):
    """allclose tolerances relative to the scale of the scores."""
    scale = max(float(np.abs(ref).max()), 1e-30)
    return (dict(rtol=1e-4, atol=1e-5 * scale) if np.dtype(dt) == np.float32
            else dict(rtol=1e-10, atol=1e-12 * scale))


@pytest.fixture(scope="module")
def images(mnist_data_4d):
    (_, _), (x, _) = mnist_data_4d
    return np.array(x[:6])


@pytest.fixture(scope="module")
def trained(mnist_data_4d):
    """name -> a float32 network after STEPS Adam steps on real MNIST, and its initial
    parameters."""
    (x, t), _ = mnist_data_4d
    out = {}
    for name in NETS:
        np.random.seed(0)  # the Dropout masks
        net = get_network(name, dtype="float32", rng=0)
        init = {k: v.copy() for k, v in net.params.items()}
        opt = Adam(lr=0.002)
        first = None
        for i in range(STEPS):
            s = slice(i * BATCH, (i + 1) * BATCH)
            opt.update(net.params, net.gradient(x[s], t[s]))
            first = net.last_loss if first is None else first
        assert net.last_loss < first, f"{name} did not learn: {first} -> {net.last_loss}"
        out[name] = (net, init)
    return out


def _network(trained, name, dtype, state):
    if state == "untrained":
        return get_network(name, dtype=dtype, rng=1)
    src, init = trained[name]
    net = get_network(name, dtype=dtype, rng=1)
    for k, v in src.params.items():
        assert not np.array_equal(v, init[k]), f"{name}.{k} did not move in training"
        net.params[k][...] = v
    return net


@pytest.fixture(params=[(n, d, s) for n in NETS for d in DTYPES
                        for s in ("untrained", "trained")],
                ids=lambda p: "-".join(p))
def case(request, trained):
    name, dt, state = request.param
    return _network(trained, name, dt, state), np.dtype(dt)


class _LRN(OpRun):
    """ONNX's LRN as its specification says (onnx 1.23's reference loops over N, not C).

    Registered under the operator's name (``ReferenceEvaluator`` keys ``new_ops`` by
    ``(op_domain, __name__)``)."""

    op_domain = ""

    def _run(self, x, alpha=None, beta=None, bias=None, size=None):
        C = x.shape[1]
        lo, hi = (size - 1) // 2, math.ceil((size - 1) / 2)
        sq = np.zeros_like(x)
        for c in range(C):
            sq[:, c] = np.sum(x[:, max(0, c - lo):min(C, c + hi + 1)] ** 2, axis=1)
        return ((x / (bias + alpha / size * sq) ** beta).astype(x.dtype),)


_LRN.__name__ = "LRN"


def _run_onnx(path, x, dt):
    """Outputs of the model at ``path``: onnxruntime for float32; onnx.reference for
    float64, after checking that onnxruntime still refuses it."""
    if dt == np.float32:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return sess.run(None, {"x": x})[0]
    with pytest.raises(Exception, match="NOT_IMPLEMENTED"):
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return ReferenceEvaluator(str(path), new_ops=[_LRN]).run(None, {"x": x})[0]


# ---- the four networks -----------------------------------------------------------------

def test_torch_computes_predict(case, images):
    net, dt = case
    x = images.astype(dt)
    m = export.to_torch(net)
    assert not m.training
    assert next(m.parameters()).dtype == (torch.float32 if dt == np.float32 else torch.float64)
    with torch.no_grad():
        y = m(torch.from_numpy(x)).numpy()
    p = net.predict(x)
    assert y.dtype == p.dtype == dt
    np.testing.assert_allclose(y, p, **_tol(dt, p))


def test_onnx_checks_and_computes_predict(case, images, tmp_path):
    net, dt = case
    path = export.to_onnx(net, tmp_path / "net.onnx")
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    for n in (len(images), 1):   # the batch dimension is dynamic
        x = images[:n].astype(dt)
        p = net.predict(x)
        y = _run_onnx(path, x, dt)
        assert y.dtype == dt and y.shape == p.shape
        np.testing.assert_allclose(y, p, **_tol(dt, p))


def test_round_trip_through_torch_gives_identical_parameters(case):
    net, dt = case
    m = export.to_torch(net)
    other = get_network(type(net).__name__, dtype=dt, rng=2)
    keep = {k: v for k, v in other.params.items()}
    assert export.from_torch(m, other) is other
    for k, v in net.params.items():
        assert other.params[k] is keep[k]          # copied into the same arrays
        assert other.params[k].dtype == dt
        np.testing.assert_array_equal(other.params[k], v)
    sd = export.state_dict(other)
    assert set(sd) == set(m.state_dict())
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(sd[k], v.numpy())


def test_trained_in_torch_then_back(mnist_data_4d):
    """The twin trains (the book's Dropout in training mode) and cconv predicts with the
    result exactly as the module does in eval mode."""
    (x, t), _ = mnist_data_4d
    net = get_network("deep", dtype="float64", rng=0)
    m = export.to_torch(net).train()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    torch.manual_seed(0)
    for i in range(3):
        opt.zero_grad()
        xb = torch.from_numpy(np.array(x[i * 16:(i + 1) * 16], dtype=np.float64))
        torch.nn.functional.cross_entropy(m(xb), torch.from_numpy(t[i * 16:(i + 1) * 16]
                                                                  .astype(np.int64))).backward()
        opt.step()
    before = {k: v.copy() for k, v in net.params.items()}
    export.from_torch(m, net)
    assert all(not np.array_equal(net.params[k], before[k]) for k in before)
    xt = np.array(x[-8:], dtype=np.float64)
    with torch.no_grad():
        y = m.eval()(torch.from_numpy(xt)).numpy()
    np.testing.assert_allclose(net.predict(xt), y, **_tol("float64", y))


def test_onnx_softmax_and_dtype_override(trained, images, tmp_path):
    net = _network(trained, "lenet", "float64", "trained")
    path = export.to_onnx(net, tmp_path / "p.onnx", softmax=True, dtype="float32")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    x = images.astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["probabilities"]
    prob = sess.run(None, {"x": x})[0]
    s = net.predict(x)
    e = np.exp(s - s.max(axis=1, keepdims=True))
    np.testing.assert_allclose(prob, e / e.sum(axis=1, keepdims=True), rtol=1e-4, atol=1e-6)
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["network"] == "LeNet" and meta["dtype"] == "float32"
    assert json.loads(meta["config"]) == net.config


def test_state_dict_names_and_layout():
    net = get_network("simple", rng=0)
    sd = export.state_dict(net)
    assert list(sd) == ["Conv1.weight", "Conv1.bias", "Affine1.weight", "Affine1.bias",
                        "Affine2.weight", "Affine2.bias"]
    np.testing.assert_array_equal(sd["Affine1.weight"], net.params["W2"].T)
    assert sd["Affine1.weight"].flags.c_contiguous
    sd["Conv1.weight"][...] = 0          # copies: the network is not touched
    assert np.any(net.params["W1"] != 0)
    assert export.state_dict(net, "float32")["Conv1.bias"].dtype == np.float32


# ---- layers the four networks do not use -----------------------------------------------

class Zoo(Network):
    """Every exported layer kind, with geometries that test the mappings' corners."""

    def __init__(self, dtype="float64", rng=0):
        super().__init__(dtype)
        g = np.random.default_rng(rng)
        dt = self.dtype
        self.config = {"input_dim": [3, 11, 10]}

        def randn(*shape, scale=1.0, shift=0.0):
            return (shift + scale * g.standard_normal(shape)).astype(dt)
        D1 = 4 * 6 * 9   # conv 3x2, stride (2, 1), pad (1, 0): (3, 11, 10) -> (4, 6, 9)
        self.add("Normalize", Normalize(0.25, 0.5))
        self.add("Conv1", Convolution(randn(4, 3, 3, 2, scale=0.5), randn(4), stride=(2, 1),
                                      pad=(1, 0)), "W1", "b1")
        self.add("BN1", BatchNormalization(randn(D1, scale=0.1, shift=1),   # 4-D input
                                           randn(D1, scale=0.1)), "gamma1", "beta1")
        self.add("Sigmoid1", Sigmoid())
        self.add("LRN1", LRN(size=4, alpha=0.5, beta=0.6, k=1.5))           # even window
        self.add("Pool1", Pooling(3, 3, stride=1, pad=2))          # pad > 3 // 2: (4, 8, 11)
        self.add("Avg1", AvgPooling(3, 2, stride=(3, 2), pad=(1, 1)))        # -> (4, 3, 6)
        self.add("Avg2", AvgPooling(3, 3, stride=(1, 2), pad=2))   # pad > 3 // 2: (4, 5, 4)
        self.add("Avg3", AvgPooling(3, 2, stride=2, pad=0))                  # -> (4, 2, 2)
        self.add("Relu1", Relu())
        self.add("Affine1", Affine(randn(16, 7, scale=0.3), randn(7)), "W2", "b2")
        self.add("BN2", BatchNormalization(randn(7, scale=0.1, shift=1), randn(7, scale=0.1),
                                           momentum=0.7), "gamma2", "beta2")
        self.add("Tanh1", Tanh())
        self.add("Dropout1", Dropout(0.3))
        self.add("Affine2", Affine(randn(7, 5), np.zeros(5, dt)), "W3", "b3")
        self.last_layer = SoftmaxWithLoss()


def _zoo(dt, warm=True):
    net = Zoo(dt)
    if warm:   # running statistics away from their zeros
        g = np.random.default_rng(5)
        for _ in range(3):
            net.predict(g.random((8, 3, 11, 10)) * 2, train_flg=True)
    return net


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("warm", [True, False], ids=["bn-stats", "bn-unused"])
# unused BatchNormalization divides by sqrt(0 + eps): onnx.reference's Sigmoid overflows
@pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")
def test_zoo_torch_and_onnx(dt, warm, tmp_path):
    net = _zoo(dt, warm)
    x = np.random.default_rng(3).random((5, 3, 11, 10)).astype(dt) * 2
    p = net.predict(x)
    assert p.shape == (5, 5)
    m = export.to_torch(net)
    with torch.no_grad():
        np.testing.assert_allclose(m(torch.from_numpy(x)).numpy(), p, **_tol(dt, p))
    path = export.to_onnx(net, tmp_path / "zoo.onnx")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    np.testing.assert_allclose(_run_onnx(path, x, np.dtype(dt)), p, **_tol(dt, p))
    other = Zoo(dt, rng=9)
    export.from_torch(m, other)
    for name in ("BN1", "BN2"):
        for a in ("running_mean", "running_var"):
            np.testing.assert_array_equal(getattr(other.layers[name], a),
                                          export.state_dict(net)[f"{name}.{a}"])
    np.testing.assert_array_equal(other.predict(x), p)


def test_odd_lrn_window_is_the_onnx_operator(tmp_path):
    net = get_network("alexnet", rng=0, dtype="float32")
    path = export.to_onnx(net, tmp_path / "a.onnx")
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops.count("LRN") == 2 and "Dropout" not in ops and ops.count("Mul") == 2
    zoo = export.to_onnx(_zoo("float32"), tmp_path / "z.onnx")
    assert "LRN" not in [n.op_type for n in onnx.load(str(zoo)).graph.node]


def test_book_dropout_in_torch():
    m = export.to_torch(get_network("deep", dtype="float64", rng=0, dropout_ratio=0.4))
    d = m.Dropout1
    x = torch.rand(50, 200, dtype=torch.float64) + 1
    assert torch.equal(d.eval()(x), x * 0.6)        # the book's test-time scale
    torch.manual_seed(0)
    y = d.train()(x)
    kept = y != 0
    assert torch.equal(y[kept], x[kept])            # no rescaling in training
    assert 0.5 < kept.double().mean().item() < 0.7
    x.requires_grad_(True)
    d(x).sum().backward()
    assert set(x.grad.unique().tolist()) <= {0.0, 1.0}


def test_book_batchnorm_trains_in_torch_as_in_cconv():
    net = _zoo("float64", warm=False)
    m = export.to_torch(net).train()
    g = np.random.default_rng(4)
    for _ in range(2):   # each updates the running statistics once on both sides
        x = g.random((6, 3, 11, 10))
        with torch.no_grad():
            h = m.BN1(m.Conv1(m.Normalize(torch.from_numpy(x))))
        ref = net.forward_until(x, "BN1", train_flg=True)
    np.testing.assert_allclose(h.numpy(), ref, rtol=1e-10, atol=1e-12)
    for a in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(m.BN1, a).numpy(), getattr(net.layers["BN1"], a),
                                   rtol=1e-10, atol=1e-14)


def test_unknown_layer_is_named():
    net = get_network("simple", rng=0)
    net.layers["Odd"] = object()
    with pytest.raises(TypeError, match=r"cannot export layer Odd \(object\).*Convolution"):
        export.state_dict(net)


# ---- load_state_dict checks ------------------------------------------------------------

@pytest.mark.parametrize("change, match", [
    (lambda sd: sd.pop("Conv1.bias"), r"missing \['Conv1.bias'\]"),
    (lambda sd: sd.update(extra=np.zeros(1)), r"unexpected \['extra'\]"),
    (lambda sd: sd.update({"Affine1.weight": np.zeros((3, 3))}), "Affine1.weight has shape"),
    (lambda sd: sd.update({"Conv1.bias": np.zeros(30, np.float32)}), "cast=True"),
    (lambda sd: sd.update({"Conv1.bias": np.zeros(30, np.int64)}), "dtype int64"),
    (lambda sd: sd["Affine2.bias"].__setitem__(0, np.nan), "NaN or inf"),
])
def test_load_state_dict_refuses_and_changes_nothing(change, match):
    net = get_network("simple", rng=0)
    before = {k: v.copy() for k, v in net.params.items()}
    sd = export.state_dict(get_network("simple", rng=1))
    change(sd)
    with pytest.raises(ValueError, match=match):
        export.load_state_dict(net, sd)
    for k, v in before.items():
        np.testing.assert_array_equal(net.params[k], v)


def test_load_state_dict_checks_buffers_first():
    net = _zoo("float64")
    before = export.state_dict(net)
    sd = export.state_dict(_zoo("float64", warm=False))
    sd["BN2.running_var"] = -np.ones(7)          # the layer's own check refuses it
    with pytest.raises(ValueError, match="running_var has negative values"):
        export.load_state_dict(net, sd)
    for k, v in export.state_dict(net).items():
        np.testing.assert_array_equal(v, before[k])


def test_load_state_dict_cast():
    net = get_network("simple", rng=0)
    sd = export.state_dict(get_network("simple", rng=1), "float32")
    export.load_state_dict(net, sd, cast=True)
    assert net.params["W1"].dtype == np.float64
    np.testing.assert_array_equal(net.params["W1"], sd["Conv1.weight"])


# ---- safetensors -----------------------------------------------------------------------

@pytest.mark.parametrize("name", NETS)
def test_safetensors_round_trip_and_the_package(trained, name, tmp_path, images):
    from safetensors.numpy import load_file, save_file
    from safetensors import safe_open
    net = _network(trained, name, "float32", "trained")
    path = export.save_safetensors(net, tmp_path / "w.safetensors")
    theirs = load_file(str(path))
    ours = export.state_dict(net)
    assert set(theirs) == set(ours)
    for k in ours:
        np.testing.assert_array_equal(theirs[k], ours[k])
    with safe_open(str(path), "np") as f:
        assert f.metadata()["network"] == type(net).__name__
    back = export.load_safetensors(path)
    assert type(back) is type(net) and back.dtype == net.dtype
    np.testing.assert_array_equal(back.predict(images), net.predict(images))
    # a file the package writes, read here
    save_file({k: v.astype(np.float64) for k, v in ours.items()}, str(tmp_path / "t.st"))
    net64 = get_network(name, dtype="float64", rng=3)
    export.load_safetensors(tmp_path / "t.st", net64)
    for k, v in net.params.items():
        np.testing.assert_array_equal(net64.params[k], v.astype(np.float64))


def test_safetensors_dtypes_and_shapes_both_ways(tmp_path):
    from safetensors.numpy import load_file, save_file
    g = np.random.default_rng(0)
    tensors = {"f16": g.standard_normal((3, 2)).astype(np.float16),
               "f64": g.standard_normal(5), "i64": np.arange(-3, 3),
               "u8": np.arange(7, dtype=np.uint8), "b": np.array([True, False, True]),
               "scalar": np.float32(2.5), "empty": np.zeros((0, 4), np.float32),
               "i16": np.arange(6, dtype=">i2")}     # big-endian in: little-endian on disk
    native = {k: np.asarray(v).astype(np.asarray(v).dtype.newbyteorder("="))
              for k, v in tensors.items()}
    write(tmp_path / "a.st", tensors, {"k": "v"})
    for got in (load_file(str(tmp_path / "a.st")), read(tmp_path / "a.st")[0]):
        assert set(got) == set(tensors)
        for k, v in native.items():
            assert got[k].shape == v.shape and got[k].dtype == v.dtype
            np.testing.assert_array_equal(got[k], v)
    assert read(tmp_path / "a.st")[1] == {"k": "v"}
    save_file(native, str(tmp_path / "b.st"), metadata={"x": "y"})
    got, meta = read(tmp_path / "b.st")
    assert meta == {"x": "y"}
    for k, v in native.items():
        assert got[k].dtype == v.dtype
        np.testing.assert_array_equal(got[k], v)
    with pytest.raises(TypeError, match="complex128"):
        write(tmp_path / "c.st", {"z": np.zeros(2, complex)})


def _file(tmp_path, header, data=b"", n=None):
    text = json.dumps(header).encode()
    p = tmp_path / "bad.safetensors"
    p.write_bytes(struct.pack("<Q", len(text) if n is None else n) + text + data)
    return p


@pytest.mark.parametrize("header, data, n, match", [
    ({}, b"", 10 ** 9, "header length"),
    ("[1, 2]", b"", None, "not a JSON object"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4, None,
     "truncated"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4, None,
     "needs 8 bytes"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
      "b": {"dtype": "F32", "shape": [1], "data_offsets": [2, 6]}}, b"\0" * 6, None,
     "overlap or gap"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 9, None,
     "5 bytes after"),
    ({"a": {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]}}, b"\0" * 2, None,
     "BF16"),
    ({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, None,
     "bad safetensors entry"),
])
def test_safetensors_bad_files(tmp_path, header, data, n, match):
    if isinstance(header, str):
        p = tmp_path / "bad.safetensors"
        p.write_bytes(struct.pack("<Q", len(header)) + header.encode())
    else:
        p = _file(tmp_path, header, data, n)
    with pytest.raises(ParamsFileError, match=match):
        read(p)


def test_safetensors_without_network_description(tmp_path):
    write(tmp_path / "w.st", export.state_dict(get_network("simple", rng=0)))
    with pytest.raises(ParamsFileError, match="no cconv network description"):
        export.load_safetensors(tmp_path / "w.st")
    with pytest.raises(ParamsFileError, match="does not fit"):
        export.load_safetensors(tmp_path / "w.st", get_network("lenet"))


# ---- optional dependencies -------------------------------------------------------------

def test_state_dict_and_safetensors_need_no_framework(tmp_path):
    code = ("import sys; sys.modules['torch'] = sys.modules['onnx'] = None\n"
            "from cconv import export; from cconv.networks import LeNet\n"
            "net = LeNet(rng=0); sd = export.state_dict(net)\n"
            f"export.save_safetensors(net, {str(tmp_path / 'w.st')!r})\n"
            f"back = export.load_safetensors({str(tmp_path / 'w.st')!r})\n"
            "assert all((back.params[k] == v).all() for k, v in net.params.items())\n"
            "for f in (export.to_torch, lambda n: export.to_onnx(n, 'x.onnx')):\n"
            "    try:\n        f(net)\n    except ImportError as e:\n        print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2
    assert "to_torch needs the 'torch' package" in lines[0] and "pip install torch" in lines[0]
    assert "to_onnx needs the 'onnx' package" in lines[1]
    assert 'pip install "cconv[export]"' in lines[1]


# ---- the command -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved_lenet(trained, tmp_path_factory):
    net = _network(trained, "lenet", "float32", "trained")
    return net, net.save_params(str(tmp_path_factory.mktemp("cli") / "params.npz"))


def test_cli_export_onnx_and_safetensors(saved_lenet, images, capsys, tmp_path):
    net, params = saved_lenet
    assert cli.main(["export", params, "--format", "onnx"]) == 0
    assert "wrote" in capsys.readouterr().out
    onnx_path = params[:-4] + ".onnx"
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"x": images})[0], net.predict(images),
                               rtol=1e-4, atol=1e-5)
    out = tmp_path / "sub" / "w.safetensors"
    (tmp_path / "sub").mkdir()
    assert cli.main(["export", params, "--format", "safetensors", "--out", str(out),
                     "--dtype", "float64"]) == 0
    back = export.load_safetensors(out)
    assert back.dtype == np.float64
    np.testing.assert_allclose(back.predict(images), net.predict(images), rtol=1e-5, atol=1e-6)


def test_cli_export_torch(trained, images, tmp_path, capsys):
    net = _network(trained, "simple", "float32", "trained")
    params = net.save_params(str(tmp_path / "p.npz"))
    assert cli.main(["export", params, "--format", "torch", "--out",
                     str(tmp_path / "m.pt2")]) == 0
    prog = torch.export.load(str(tmp_path / "m.pt2"))
    for n in (6, 2):
        y = prog.module()(torch.from_numpy(images[:n])).detach().numpy()
        ref = net.predict(images[:n])   # float32 sums in another order: the scores' scale
        np.testing.assert_allclose(y, ref, **_tol(np.float32, ref))


def test_cli_export_errors(saved_lenet, tmp_path, capsys, monkeypatch):
    _, params = saved_lenet

    def fails(*args):
        assert cli.main(["export", *map(str, args)]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        return err
    assert "no params file" in fails(tmp_path / "nope.npz", "--format", "onnx")
    assert "--softmax applies to --format onnx" in fails(params, "--format", "torch",
                                                         "--softmax")
    assert "is a folder" in fails(params, "--format", "onnx", "--out", tmp_path)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    assert "neither" in fails(tmp_path / "junk.npz", "--format", "onnx", "--net", "lenet")
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert 'pip install "cconv[export]"' in fails(params, "--format", "onnx", "--out",
                                                  tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()
    with pytest.raises(SystemExit) as e:
        cli.main(["export", params, "--format", "keras"])
    assert e.value.code == 2
    assert "invalid choice: 'keras'" in capsys.readouterr().err


def test_cli_export_help(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["export", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: cconv export") and "safetensors" in text
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "export" in capsys.readouterr().out
