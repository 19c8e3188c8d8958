"""The training-step benchmark, ``cconv bench train``: the book's NumPy code, cconv and
PyTorch side by side, on the same network with the same initial weights."""
import json

import numpy as np

from .._threads import _available_cpus
from ._timing import interleaved

def _torch_twin(net, torch):
    """The same network in PyTorch, with the same weights (:func:`cconv.export.to_torch`),
    or None when the exporter is not available."""
    try:
        from ..export import to_torch
    except ImportError:
        return None
    module = to_torch(net)
    module.train()   # the benchmark times training steps (Dropout active)
    return module


def _batch(dtype, n=100, seed=0):
    """A batch of real MNIST when the loader finds it, else random images."""
    try:
        from ..datasets import load_mnist
        (x, t), _ = load_mnist(flatten=False, download=False)
        return x[:n].astype(dtype), t[:n].astype(np.int64), "MNIST"
    except Exception:
        rng = np.random.default_rng(seed)
        return (rng.random((n, 1, 28, 28)).astype(dtype), rng.integers(0, 10, n),
                "random images")


def _peak_bytes(fn):
    import tracemalloc
    fn()  # warm: optimizer state and workspaces exist before measuring
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def bench_train(nets=("simple", "deep", "lenet", "alexnet"), dtypes=("float32", "float64"),
                repeat=15,
                batch=100, with_torch=True, with_reference=True, inference=True,
                json_path=None, file=None):
    """Median time of one training step (forward + backward + Adam) per implementation.

    Interleaved rounds: the book's NumPy code (float64, as the book runs it), cconv at 1
    thread and at all threads, and PyTorch (eager, CPU) at all threads when installed.
    The PyTorch twin is :func:`cconv.export.to_torch` of the same network (same
    weights, the book's Dropout), in training mode. The book's code has SimpleConvNet's
    and DeepConvNet's layers only, so LeNet and AlexNet have no "book" row. Also the
    peak memory of a step (tracemalloc: NumPy allocations) and, with ``inference``,
    ``predict`` over the 10,000 test images against PyTorch and, for float32, ONNX
    Runtime running :func:`cconv.export.to_onnx`'s graph.
    """
    from .._threads import get_num_threads, set_num_threads
    from ..networks import get_network
    from ..optimizer import Adam
    from . import book
    say = (lambda *a: print(*a, file=file, flush=True))
    nt = _available_cpus()
    torch = None
    if with_torch:
        try:
            import torch
        except ImportError:
            say("PyTorch is not installed: its columns are skipped (pip install torch)")
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        threadpool_limits = None
    old_threads = get_num_threads()
    rows = []
    say(f"cconv training-step benchmark: batch {batch}, {nt} threads, Adam, "
        f"median of {repeat} interleaved rounds")
    hdr = (f"{'network':<8} {'dtype':<8} {'impl':<22} {'median ms':>9} {'min-max ms':>15} "
           f"{'img/s':>7} {'vs torch':>8} {'vs book':>8} {'peak MiB':>8}")
    say(hdr)
    say("-" * len(hdr))
    for name in nets:
        for dt in dtypes:
            dt = np.dtype(dt)
            x, t, src = _batch(dt, batch)
            kw = {"dropout_ratio": 0.5} if name == "deep" else {}
            net = get_network(name, dtype=dt, rng=0, **kw)
            opt = Adam(lr=0.001)
            fns = {}

            def cconv_step(n):
                def f():
                    set_num_threads(n)
                    if threadpool_limits is not None:
                        with threadpool_limits(limits=n, user_api="blas"):
                            opt.update(net.params, net.gradient(x, t))
                    else:
                        opt.update(net.params, net.gradient(x, t))
                return f
            ref = None
            if with_reference and dt == np.float64:
                try:
                    ref = book.mirror(net, np.float64)
                except TypeError:   # a layer the book's code does not have (LRN, Tanh, ...)
                    pass
            if ref is not None:
                ropt = book.Adam(lr=0.001)
                xr = x.astype(np.float64)
                fns["book NumPy (float64)"] = lambda: ropt.update(ref.params, ref.gradient(xr, t))
            fns["cconv 1 thread"] = cconv_step(1)
            fns[f"cconv {nt} threads"] = cconv_step(nt)
            tm = _torch_twin(net, torch) if torch is not None else None
            if torch is not None and tm is None:
                say("cconv.export is not available: the PyTorch columns are skipped")
            if tm is not None:
                topt = torch.optim.Adam(tm.parameters(), lr=0.001)
                lossf = torch.nn.CrossEntropyLoss()
                tx, tt = torch.from_numpy(x), torch.from_numpy(np.asarray(t, np.int64))

                def torch_step():
                    torch.set_num_threads(nt)
                    topt.zero_grad()
                    lossf(tm(tx), tt).backward()
                    topt.step()
                fns[f"PyTorch {nt} threads"] = torch_step
            med, ts = interleaved(fns, repeat=repeat, warmup=2)
            tkey = f"PyTorch {nt} threads"
            peaks = {}
            for k in fns:
                if not k.startswith("PyTorch"):
                    peaks[k] = _peak_bytes(fns[k])
            for k, m in med.items():
                row = dict(network=name, dtype=dt.name, impl=k, median_ms=m * 1e3,
                           min_ms=min(ts[k]) * 1e3, max_ms=max(ts[k]) * 1e3,
                           images_per_s=batch / m, data=src,
                           vs_torch=(m / med[tkey]) if tkey in med else None,
                           vs_book=(m / med["book NumPy (float64)"])
                           if "book NumPy (float64)" in med else None,
                           peak_mib=peaks[k] / 2**20 if k in peaks else None)
                rows.append(row)
                vt = f"{row['vs_torch']:7.2f}x" if row["vs_torch"] is not None else f"{'':>8}"
                vb = f"{row['vs_book']:7.3f}x" if row["vs_book"] is not None else f"{'':>8}"
                pk = f"{row['peak_mib']:8.1f}" if row["peak_mib"] is not None else f"{'n/a':>8}"
                say(f"{name:<8} {dt.name:<8} {k:<22} {row['median_ms']:9.2f} "
                    f"{row['min_ms']:7.2f}-{row['max_ms']:<7.2f} {row['images_per_s']:7.0f} "
                    f"{vt} {vb} {pk}")
            if inference:
                rows += _bench_inference(name, net, torch if tm is not None else None, tm,
                                         dt, nt, say)
    set_num_threads(old_threads)
    result = {"threads": nt, "batch": batch, "rows": rows}
    if json_path:
        with open(json_path, "w") as f:
            json.dump(result, f, indent=1)
    return result


def _bench_inference(name, net, torch, tm, dt, nt, say, n=10000):
    from .._threads import set_num_threads
    try:
        from ..datasets import load_mnist
        _, (xt, _t) = load_mnist(flatten=False, download=False)
        xt = xt[:n].astype(dt)
    except Exception:
        xt = np.random.default_rng(1).random((n, 1, 28, 28)).astype(dt)
    fns = {}

    def cc():
        set_num_threads(nt)
        net.predict_labels(xt, batch_size=500)
    fns[f"cconv {nt} threads"] = cc
    if torch is not None:
        tm.eval()
        tx = torch.from_numpy(xt)

        def tp():
            torch.set_num_threads(nt)
            with torch.no_grad():
                for i in range(0, len(tx), 500):
                    tm(tx[i:i + 500]).argmax(1)
        fns[f"PyTorch {nt} threads"] = tp
    ort_predict = _onnxruntime_predict(net, dt, nt, say)
    if ort_predict is not None:
        fns[f"ONNX Runtime {nt}T"] = lambda: ort_predict(xt)
    med, ts = interleaved(fns, repeat=3, warmup=1)
    rows = []
    tkey = f"PyTorch {nt} threads"
    for k, m in med.items():
        r = dict(network=name, dtype=dt.name, impl=k + " predict 10k", median_ms=m * 1e3,
                 min_ms=min(ts[k]) * 1e3, max_ms=max(ts[k]) * 1e3,
                 images_per_s=len(xt) / m, vs_torch=m / med[tkey] if tkey in med else None)
        rows.append(r)
        vt = f"{r['vs_torch']:7.2f}x" if r["vs_torch"] is not None else ""
        say(f"{name:<8} {dt.name:<8} {k + ' predict':<22} {r['median_ms']:9.1f} "
            f"{r['min_ms']:7.1f}-{r['max_ms']:<7.1f} {r['images_per_s']:7.0f} {vt}")
    if tm is not None:
        tm.train()
    return rows


def _onnxruntime_predict(net, dt, nt, say):
    """``f(x)``: labels by onnxruntime on ``to_onnx(net)``'s graph, in batches of 500;
    None when onnx/onnxruntime are missing or for float64 (no Conv kernel for it)."""
    if dt != np.float32:
        return None
    try:
        import tempfile

        import onnxruntime as ort
        from ..export import to_onnx
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = nt, 1
        with tempfile.TemporaryDirectory() as d:
            path = to_onnx(net, f"{d}/net.onnx")
            sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    except ImportError:
        say('onnxruntime is not installed: its predict row is skipped '
            '(pip install "cconv[export]")')
        return None

    def predict(x):
        for i in range(0, len(x), 500):
            sess.run(None, {"x": x[i:i + 500]})[0].argmax(1)
    return predict
