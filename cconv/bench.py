"""Benchmarks that print ratios measured side by side in one run.

``python -m cconv bench kernels``: each compiled kernel against the book's NumPy algorithm
(``cconv._reference``) on the shapes of SimpleConvNet and DeepConvNet at batch 100, in
float32 and float64, at 1 thread and all threads, with effective GB/s and the machine's
copy bandwidth for scale. Timings are interleaved (reference, 1 thread, N threads, then
again) so that a noisy neighbour slows all of them alike; medians are reported. The
"fill ms" column is numpy writing zeros into arrays the size of the kernel's outputs, in
the same rounds: the time it takes just to write those bytes, which no kernel that
writes them beats by much (where the target asks for less, memory bandwidth is the
bound, not the kernel).
"""
import json
import time

import numpy as np

from . import _kernels as K
from . import _reference as R
from ._config import _available_cpus

# name -> (x shape, window h, w, stride, pad)
CONV_SHAPES = {
    "simple conv1 5x5": ((100, 1, 28, 28), 5, 5, 1, 0),
    "deep conv2 3x3": ((100, 16, 28, 28), 3, 3, 1, 1),
    "deep conv4 3x3 p2": ((100, 32, 14, 14), 3, 3, 1, 2),
    "deep conv6 3x3": ((100, 64, 8, 8), 3, 3, 1, 1),
}
POOL_SHAPES = {
    "simple pool 2x2": ((100, 30, 24, 24), 2, 2, 2, 0),
    "deep pool1 2x2": ((100, 16, 28, 28), 2, 2, 2, 0),
    "deep pool3 2x2": ((100, 64, 8, 8), 2, 2, 2, 0),
}


def _time(fn, repeat):
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return ts


def interleaved(fns, repeat=7, warmup=1):
    """Median seconds of each callable, run in turn ``repeat`` times after a warm-up."""
    for f in fns.values():
        for _ in range(warmup):
            f()
    ts = {k: [] for k in fns}
    for _ in range(repeat):
        for k, f in fns.items():
            ts[k] += _time(f, 1)
    return {k: float(np.median(v)) for k, v in ts.items()}, ts


def copy_bandwidth(nbytes=256 << 20, repeat=5):
    """GB/s of a plain large memcpy (read + write), numpy's single-threaded copy."""
    src = np.ones(nbytes // 8)
    dst = np.empty_like(src)
    t = min(_time(lambda: np.copyto(dst, src), repeat))
    return 2 * src.nbytes / t / 1e9


def _cases(dtype):
    """(kernel, shape name, bytes moved, reference, cconv(n_threads), outputs): outputs
    are arrays shaped like what the kernel writes (for the fill column)."""
    rng = np.random.default_rng(0)
    for name, (shape, fh, fw, s, p) in CONV_SHAPES.items():
        x = rng.standard_normal(shape).astype(dtype)
        col = K.im2col(x, fh, fw, s, p)
        out = np.empty_like(col)
        dx = np.empty_like(x)
        yield ("im2col", name, x.nbytes + col.nbytes,
               lambda: R.im2col(x, fh, fw, s, p),
               lambda n: K.im2col(x, fh, fw, s, p, out=out, n_threads=n), [col])
        yield ("col2im", name, x.nbytes + col.nbytes,
               lambda: R.col2im(col, shape, fh, fw, s, p),
               lambda n: K.col2im(col, shape, fh, fw, s, p, out=dx, n_threads=n), [x])
        # the per-sample layout (N, C*FH*FW, OH*OW) that the layers use
        colT = K.im2col_t(x, fh, fw, s, p)
        outT = np.empty_like(colT)
        yield ("im2col_t", name, x.nbytes + colT.nbytes,
               lambda: R.im2col(x, fh, fw, s, p),
               lambda n: K.im2col_t(x, fh, fw, s, p, out=outT, n_threads=n), [colT])
        yield ("col2im_t", name, x.nbytes + colT.nbytes,
               lambda: R.col2im(col, shape, fh, fw, s, p),
               lambda n: K.col2im_t(colT, shape, fh, fw, s, p, out=dx, n_threads=n), [x])
    for name, (shape, ph, pw, s, p) in POOL_SHAPES.items():
        x = rng.standard_normal(shape).astype(dtype)
        out, arg = K.maxpool_forward(x, ph, pw, s, p)
        g = rng.standard_normal(out.shape).astype(dtype)
        ob, ab, dx = np.empty_like(out), np.empty_like(arg), np.empty_like(x)
        moved_f = x.nbytes + out.nbytes + arg.nbytes
        moved_b = g.nbytes + arg.nbytes + x.nbytes
        yield ("maxpool fwd", name, moved_f,
               lambda: R.maxpool_forward(x, ph, pw, s, p),
               lambda n: K.maxpool_forward(x, ph, pw, s, p, out=ob, arg=ab, n_threads=n),
               [out, arg])
        yield ("maxpool bwd", name, moved_b,
               lambda: R.maxpool_backward(g, arg, shape, ph, pw, s, p),
               lambda n: K.maxpool_backward(g, arg, shape, ph, pw, s, p, out=dx, n_threads=n),
               [x])
        yield ("avgpool fwd", name, x.nbytes + out.nbytes,
               lambda: R.avgpool_forward(x, ph, pw, s, p),
               lambda n: K.avgpool_forward(x, ph, pw, s, p, out=ob, n_threads=n), [out])
        yield ("avgpool bwd", name, g.nbytes + x.nbytes,
               lambda: R.avgpool_backward(g, shape, ph, pw, s, p),
               lambda n: K.avgpool_backward(g, shape, ph, pw, s, p, out=dx, n_threads=n),
               [x])


def bench_kernels(repeat=7, dtypes=("float32", "float64"), json_path=None, file=None):
    """Print and return the kernel table (see module docstring)."""
    nt = _available_cpus()
    bw = copy_bandwidth()
    rows = []
    say = (lambda *a: print(*a, file=file, flush=True))
    say(f"cconv kernel benchmark: batch 100, {nt} threads available, median of {repeat}")
    say(f"machine copy bandwidth (numpy memcpy, read+write): {bw:.1f} GB/s")
    hdr = (f"{'kernel':<12} {'shape':<19} {'dtype':<8} {'numpy ms':>9} {'1T ms':>8} "
           f"{f'{nt}T ms':>8} {'x numpy':>8} {f'{nt}T/1T':>7} {'GB/s':>6} {'%copy':>6} "
           f"{'fill ms':>8}")
    say(hdr)
    say("-" * len(hdr))
    for dt in dtypes:
        for kern, name, moved, ref, fast, outs in _cases(np.dtype(dt)):
            blanks = [np.empty_like(o) for o in outs]

            def fill():
                for b in blanks:
                    b.fill(0)
            med, _ = interleaved({"ref": ref, "1": lambda: fast(1), "n": lambda: fast(nt),
                                  "fill": fill}, repeat=repeat)
            gbs = moved / med["n"] / 1e9
            row = dict(kernel=kern, shape=name, dtype=dt, numpy_ms=med["ref"] * 1e3,
                       t1_ms=med["1"] * 1e3, tn_ms=med["n"] * 1e3, threads=nt,
                       speedup_vs_numpy=med["ref"] / med["n"], scaling=med["1"] / med["n"],
                       gbps=gbs, pct_copy_bw=100 * gbs / bw, fill_ms=med["fill"] * 1e3)
            rows.append(row)
            say(f"{kern:<12} {name:<19} {dt:<8} {row['numpy_ms']:9.2f} {row['t1_ms']:8.2f} "
                f"{row['tn_ms']:8.2f} {row['speedup_vs_numpy']:7.1f}x {row['scaling']:6.2f}x "
                f"{gbs:6.1f} {row['pct_copy_bw']:5.0f}% {row['fill_ms']:8.2f}")
    result = {"copy_bandwidth_gbps": bw, "threads": nt, "rows": rows}
    if json_path:
        with open(json_path, "w") as f:
            json.dump(result, f, indent=1)
    return result


# ---- whole training steps: the book's NumPy code, cconv, and PyTorch side by side ----

def _torch_mirror(net, torch, dtype):
    """The same architecture in PyTorch with the same initial weights (or None)."""
    from . import layers as L
    nn = torch.nn
    tdt = torch.float32 if np.dtype(dtype) == np.float32 else torch.float64
    mods = []
    for name, layer in net.layers.items():
        if isinstance(layer, L.Convolution):
            W, b = (net.params[k] for k in net.layer_param_keys(name))
            m = nn.Conv2d(W.shape[1], W.shape[0], W.shape[2:], stride=layer.stride,
                          padding=layer.pad)
            with torch.no_grad():
                m.weight.copy_(torch.from_numpy(np.array(W, dtype=dtype)))
                m.bias.copy_(torch.from_numpy(np.array(b, dtype=dtype)))
            mods.append(m)
        elif isinstance(layer, L.Affine):
            W, b = (net.params[k] for k in net.layer_param_keys(name))
            if mods and not isinstance(mods[-1], (nn.Linear, nn.ReLU, nn.Dropout, nn.Flatten)):
                mods.append(nn.Flatten())
            elif not mods:
                mods.append(nn.Flatten())
            m = nn.Linear(W.shape[0], W.shape[1])
            with torch.no_grad():
                m.weight.copy_(torch.from_numpy(np.array(W.T, dtype=dtype)))
                m.bias.copy_(torch.from_numpy(np.array(b, dtype=dtype)))
            mods.append(m)
        elif isinstance(layer, L.Relu):
            mods.append(nn.ReLU())
        elif isinstance(layer, L.Pooling):
            mods.append(nn.MaxPool2d((layer.pool_h, layer.pool_w), stride=layer.stride,
                                     padding=layer.pad))
        elif isinstance(layer, L.Dropout):
            mods.append(nn.Dropout(layer.dropout_ratio))
        else:
            return None
    return nn.Sequential(*mods).to(tdt)


def _batch(dtype, n=100, seed=0):
    """A batch of real MNIST when the loader finds it, else random images."""
    try:
        from .datasets import load_mnist
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


def bench_train(nets=("simple", "deep"), dtypes=("float32", "float64"), repeat=15,
                batch=100, with_torch=True, with_reference=True, inference=True,
                json_path=None, file=None):
    """Median time of one training step (forward + backward + Adam) per implementation.

    Interleaved rounds: the book's NumPy code (float64, as the book runs it), cconv at 1
    thread and at all threads, and PyTorch (eager, CPU) at all threads when installed.
    Also the peak memory of a step (tracemalloc: NumPy allocations) and, with
    ``inference``, ``predict`` over the 10,000 test images against PyTorch.
    """
    from . import _reference_nets as RN
    from ._config import set_num_threads, get_num_threads
    from .networks import get_network
    from .optimizer import Adam
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
            if with_reference and dt == np.float64:
                ref = RN.mirror(net, np.float64)
                ropt = RN.Adam(lr=0.001)
                xr = x.astype(np.float64)
                fns["book NumPy (float64)"] = lambda: ropt.update(ref.params, ref.gradient(xr, t))
            fns["cconv 1 thread"] = cconv_step(1)
            fns[f"cconv {nt} threads"] = cconv_step(nt)
            if torch is not None:
                tm = _torch_mirror(net, torch, dt)
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
                rows += _bench_inference(name, net, torch, tm if torch is not None else None,
                                         dt, nt, say)
    set_num_threads(old_threads)
    result = {"threads": nt, "batch": batch, "rows": rows}
    if json_path:
        with open(json_path, "w") as f:
            json.dump(result, f, indent=1)
    return result


def _bench_inference(name, net, torch, tm, dt, nt, say, n=10000):
    from ._config import set_num_threads
    try:
        from .datasets import load_mnist
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
