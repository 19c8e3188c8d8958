"""The training-step benchmark, ``cconv bench train``: the book's NumPy code, cconv and
PyTorch side by side, on the same network with the same initial weights."""
import json
import time

import numpy as np

from .._threads import _available_cpus
from ._timing import bursts, interleaved

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


#: Steps an implementation runs back to back in its turn of a round.
BURST = 5
#: idle seconds before each implementation's turn: the book's float64 NumPy code leaves
#: OpenBLAS workers spinning on a core for about 0.1 s, which would halve the 2-thread
#: steps of whatever runs next (the first step of a turn, which pays for waking threads,
#: is not counted either way)
SETTLE = 0.15

#: Distinct batches each implementation cycles through: every step gets a fresh batch.
N_BATCHES = 16


class _Batches:
    """Fresh batches of real MNIST (random images when the loader finds none), the
    same sequence for every implementation: ``next_for(key)`` gives ``key``'s next one."""

    def __init__(self, dtype, n=100, count=N_BATCHES, seed=0):
        try:
            from ..datasets import load_mnist
            (x, t), _ = load_mnist(flatten=False, download=False)
            self.source = "MNIST"
        except Exception:
            rng = np.random.default_rng(seed)
            x, t = rng.random((n * count, 1, 28, 28)), rng.integers(0, 10, n * count)
            self.source = "random images"
        self.batches = [(np.ascontiguousarray(x[i * n:(i + 1) * n], dtype=dtype),
                         np.asarray(t[i * n:(i + 1) * n], dtype=np.int64))
                        for i in range(count)]
        self._at = {}

    def next_index(self, key):
        i = self._at.get(key, 0)
        self._at[key] = (i + 1) % len(self.batches)
        return i

    def next_for(self, key):
        return self.batches[self.next_index(key)]


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
                repeat=5,
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
    old_threads = get_num_threads()
    rows = []
    say(f"cconv training-step benchmark: batch {batch}, {nt} threads, Adam; "
        f"{repeat} interleaved rounds, in each {BURST} back-to-back steps per "
        f"implementation on fresh batches (the first not counted; {SETTLE:g} s idle "
        f"before each turn); medians")
    hdr = (f"{'network':<8} {'dtype':<8} {'impl':<22} {'median ms':>9} {'min-max ms':>15} "
           f"{'img/s':>7} {'vs torch':>8} {'vs book':>8} {'peak MiB':>8}")
    say(hdr)
    say("-" * len(hdr))
    for name in nets:
        for dt in dtypes:
            dt = np.dtype(dt)
            data = _Batches(dt, batch)
            src = data.source
            kw = {"dropout_ratio": 0.5} if name == "deep" else {}
            net = get_network(name, dtype=dt, rng=0, **kw)
            opt = Adam(lr=0.001)
            fns = {}

            def cconv_step(n):
                key = f"cconv {n}"

                def f():   # no BLAS in a step: every product runs on the engine
                    set_num_threads(n)
                    x, t = data.next_for(key)
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

                def book_step():
                    x, t = data.next_for("book")
                    ropt.update(ref.params, ref.gradient(x.astype(np.float64), t))
                fns["book NumPy (float64)"] = book_step
            fns["cconv 1 thread"] = cconv_step(1)
            fns[f"cconv {nt} threads"] = cconv_step(nt)
            tm = _torch_twin(net, torch) if torch is not None else None
            if torch is not None and tm is None:
                say("cconv.export is not available: the PyTorch columns are skipped")
            if tm is not None:
                topt = torch.optim.Adam(tm.parameters(), lr=0.001)
                lossf = torch.nn.CrossEntropyLoss()
                tbatches = [(torch.from_numpy(x), torch.from_numpy(t)) for x, t in data.batches]

                def torch_step():
                    torch.set_num_threads(nt)
                    tx, tt = tbatches[data.next_index("torch")]
                    topt.zero_grad()
                    lossf(tm(tx), tt).backward()
                    topt.step()
                fns[f"PyTorch {nt} threads"] = torch_step
            med, ts = bursts(fns, repeat=repeat, burst=BURST, warmup=2, settle=SETTLE)
            _add_cold_start(fns, med, ts, [f"cconv {nt} threads", f"PyTorch {nt} threads"],
                            repeat)
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
                if k.endswith(COLD):
                    row["vs_back_to_back"] = m / med[k[:-len(COLD)]]
                vt = f"{row['vs_torch']:7.2f}x" if row["vs_torch"] is not None else f"{'':>8}"
                vb = f"{row['vs_book']:7.3f}x" if row["vs_book"] is not None else f"{'':>8}"
                if k.endswith(COLD):  # the cold step against the same implementation's warm one
                    vb = f"{row['vs_back_to_back']:6.2f}xw"
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


#: Suffix of the rows that time a step right after the cores sat idle.
COLD = " cold"


def _add_cold_start(fns, med, ts, keys, repeat, idle=0.02):
    """Rows ``key + COLD``: one step right after ``idle`` seconds of sleep (the worker
    threads have gone to sleep by then), median of ``repeat``; their "vs book" column
    shows the ratio to the same implementation's back-to-back step ("xw")."""
    keys = [k for k in keys if k in fns]
    cold = {k: [] for k in keys}
    for _ in range(repeat):
        for k in keys:
            time.sleep(idle)
            t0 = time.perf_counter()
            fns[k]()
            cold[k].append(time.perf_counter() - t0)
    for k in keys:
        med[k + COLD] = float(np.median(cold[k]))
        ts[k + COLD] = cold[k]


#: Images per inference call, the same for every implementation (the issue's setting).
PREDICT_BATCH = 100


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
        net.predict_labels(xt, batch_size=PREDICT_BATCH)
    fns[f"cconv {nt} threads"] = cc
    if torch is not None:
        tm.eval()
        tx = torch.from_numpy(xt)

        def tp():
            torch.set_num_threads(nt)
            with torch.no_grad():
                for i in range(0, len(tx), PREDICT_BATCH):
                    tm(tx[i:i + PREDICT_BATCH]).argmax(1)
        fns[f"PyTorch {nt} threads"] = tp
    ort_predict = _onnxruntime_predict(net, dt, nt, say)
    if ort_predict is not None:
        fns[f"ONNX Runtime {nt}T"] = lambda: ort_predict(xt)
    # (idle before each turn: ONNX Runtime's pool threads spin after a run, and took a
    # core from the cconv turn that followed: LeNet's 10k 1.22x slower right after it)
    med, ts = interleaved(fns, repeat=3, warmup=1, settle=SETTLE)
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
    """``f(x)``: labels by onnxruntime on ``to_onnx(net)``'s graph, in batches of
    PREDICT_BATCH;
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
        for i in range(0, len(x), PREDICT_BATCH):
            sess.run(None, {"x": x[i:i + PREDICT_BATCH]})[0].argmax(1)
    return predict
