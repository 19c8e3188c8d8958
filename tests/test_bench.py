"""The benchmark harness: the book-code twin computes what cconv computes, and the
benchmark functions run end to end (timings are not asserted: machines are noisy)."""
import io
import json

import numpy as np
import pytest

from cconv.bench import book as RN
from cconv import ops
from cconv.bench import bench_kernels, bench_layers, bench_train
from cconv.networks import DeepConvNet, SimpleConvNet


@pytest.mark.parametrize("make", [lambda: SimpleConvNet(rng=0),
                                  lambda: DeepConvNet(rng=0, dropout_ratio=0.0)])
def test_book_twin_has_the_same_gradients(make):
    net = make()
    ref = RN.mirror(net)
    x = np.random.default_rng(0).random((6, 1, 28, 28))
    t = np.arange(6)
    g, gr = net.gradient(x, t), ref.gradient(x, t)
    for k in g:
        np.testing.assert_allclose(g[k], gr[k], rtol=1e-9, atol=1e-12 * np.abs(gr[k]).max())


def test_book_twin_adam_matches_cconv_adam():
    from cconv.optimizer import Adam
    net = SimpleConvNet(rng=1)
    ref = RN.mirror(net)
    x = np.random.default_rng(1).random((5, 1, 28, 28))
    t = np.arange(5)
    opt, ropt = Adam(), RN.Adam()
    for _ in range(3):
        opt.update(net.params, net.gradient(x, t))
        ropt.update(ref.params, ref.gradient(x, t))
    for k in net.params:
        np.testing.assert_allclose(net.params[k], ref.params[k], rtol=1e-7, atol=1e-10)


def test_bench_train_runs_and_writes_json(tmp_path):
    out = io.StringIO()
    res = bench_train(nets=("simple",), dtypes=("float64",), repeat=1, batch=8,
                      with_torch=False, inference=False, json_path=tmp_path / "t.json",
                      file=out)
    impls = {r["impl"] for r in res["rows"]}
    assert "book NumPy (float64)" in impls and "cconv 1 thread" in impls
    assert json.loads((tmp_path / "t.json").read_text())["rows"]
    assert "vs book" in out.getvalue()


def test_bench_kernels_runs():
    out = io.StringIO()
    res = bench_kernels(repeat=1, dtypes=("float32",), file=out)
    assert {r["kernel"] for r in res["rows"]} >= {"im2col", "col2im", "maxpool fwd"}
    assert all(r["tn_ms"] > 0 and r["fill_ms"] > 0 for r in res["rows"])
    assert "fill ms" in out.getvalue().splitlines()[2]


def test_bench_train_lenet_alexnet_twins_are_exported():
    pytest.importorskip("torch")
    out = io.StringIO()
    res = bench_train(nets=("lenet", "alexnet"), dtypes=("float32",), repeat=1, batch=4,
                      inference=False, file=out)
    impls = {(r["network"], r["impl"]) for r in res["rows"]}
    for name in ("lenet", "alexnet"):
        assert any(n == name and i.startswith("PyTorch") for n, i in impls)
        assert not any(n == name and i.startswith("book") for n, i in impls)


def test_bench_layers_covers_every_variant_and_pass(tmp_path):
    out = io.StringIO()
    before = ops.conv_isa()["active"]
    wino_before, cvec_before = ops.winograd(), ops.cvec()
    res = bench_layers(repeat=1, dtypes=("float32",), layers=("deep conv6", "deep conv1"),
                       json_path=tmp_path / "l.json", file=out)
    isas = ops.conv_isa()["supported"]
    got = {(r["layer"], r["isa"], r["pass"]) for r in res["rows"]}
    want = {(layer, i, p) for i in isas for layer, passes in
            (("deep conv6", ("forward", "dW", "dx")), ("deep conv1", ("forward", "dW")))
            for p in passes}   # conv1 is a first layer: no dx
    want |= {("deep conv6", i + " wino", p) for i in isas for p in ("forward", "dx")}
    want |= {("deep conv6", i + " cvec", p) for i in isas for p in ("forward", "dx", "dW")}
    want |= {("deep conv1", i + " cvec", p) for i in isas for p in ("forward", "dW")}
    assert got == want   # Winograd rows for the 3x3 stride-1 layer with 16+ channels only
    # one row a pass is what runs by default, on the active variant: conv6 on Winograd
    # (forward, dx) and the channel-vector layout (dW) where the variant's lanes fill
    defaults = {(r["layer"], r["pass"]): r for r in res["rows"] if r["default"]}
    assert set(defaults) == {("deep conv6", "forward"), ("deep conv6", "dx"),
                             ("deep conv6", "dW"), ("deep conv1", "forward"),
                             ("deep conv1", "dW")}
    assert all(r["isa"].startswith(before) for r in defaults.values())
    marked = [line for line in out.getvalue().splitlines() if "*" in line]
    assert len(marked) == len(defaults)   # the printed table marks them
    assert defaults[("deep conv6", "forward")]["kernel"] == "wino"
    assert defaults[("deep conv1", "forward")]["kernel"] == "direct"
    assert all(r["gflops_1"] > 0 and r["pct_peak_1"] > 0 for r in res["rows"])
    assert all(v > 0 for v in res["peak_gflops"]["float32"].values())
    assert json.loads((tmp_path / "l.json").read_text())["rows"]
    assert "%peak" in out.getvalue()
    assert ops.conv_isa()["active"] == before   # the variant in use is put back
    assert ops.winograd() == wino_before and ops.cvec() == cvec_before


def test_bench_steps_times_every_layer_and_puts_the_classes_back(tmp_path):
    from cconv.bench import bench_steps
    from cconv.nn import Convolution, Pooling, Relu
    before = {c: dict(vars(c)) for c in (Convolution, Pooling, Relu)}
    res = bench_steps(nets=("simple",), steps=2, warmup=1, batch=8,
                      json_path=str(tmp_path / "s.json"), file=io.StringIO())
    got = {(r["layer"], r["method"]) for r in res["rows"]}
    assert {("Conv1", "forward_relu_pool"), ("Conv1", "backward_from_pool"),
            ("Affine1", "forward_relu"), ("Affine1", "backward"), ("Pool1", "routing"),
            ("Adam", "update")} <= got
    assert all(r["median_ms"] > 0 for r in res["rows"] if r["method"] != "take_output")
    assert json.loads((tmp_path / "s.json").read_text())["rows"]
    for c, d in before.items():
        assert dict(vars(c)) == d, f"{c.__name__} was left wrapped"


def test_bursts_idle_before_each_turn_and_drop_its_first_call():
    # settle: the sleep comes before every turn (not inside the timed calls), and the
    # first call of a turn, which follows the sleep, is not counted
    import time
    from cconv.bench._timing import bursts
    calls = []

    def make(k):
        def f():
            calls.append((k, time.perf_counter()))
        return f
    t0 = time.perf_counter()
    med, ts = bursts({"a": make("a"), "b": make("b")}, repeat=2, burst=3, warmup=0,
                     settle=0.05)
    assert time.perf_counter() - t0 >= 4 * 0.05
    assert [k for k, _ in calls] == ["a"] * 3 + ["b"] * 3 + ["a"] * 3 + ["b"] * 3
    assert all(len(v) == 2 * 2 for v in ts.values())
    gaps = [calls[i + 1][1] - calls[i][1] for i in range(len(calls) - 1)]
    assert [g >= 0.05 for g in gaps] == [False, False, True] * 3 + [False, False]


def test_interleaved_idles_before_each_turn_and_predict_rows_use_it(monkeypatch):
    # the predict rows' turns too start after the idle: ONNX Runtime's pool threads spin
    # after a run and took a core from the cconv turn that followed
    import time
    from cconv.bench import _timing, train
    calls = []

    def make(k):
        def f():
            calls.append((k, time.perf_counter()))
        return f
    med, ts = _timing.interleaved({"a": make("a"), "b": make("b")}, repeat=2, warmup=0,
                                  settle=0.05)
    assert [k for k, _ in calls] == ["a", "b", "a", "b"]
    assert all(calls[i + 1][1] - calls[i][1] >= 0.05 for i in range(3))
    seen = {}

    def spy(fns, **kw):
        seen.update(kw)
        return {k: 1.0 for k in fns}, {k: [1.0] for k in fns}
    monkeypatch.setattr(train, "interleaved", spy)
    from cconv.networks import get_network
    net = get_network("simple", dtype=np.float32, rng=0)
    train._bench_inference("simple", net, None, None, np.dtype(np.float32), 1,
                           lambda *a: None, n=10)
    assert seen.get("settle") == train.SETTLE > 0
