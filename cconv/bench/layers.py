"""``cconv bench layers``: each convolution layer of DeepConvNet and SimpleConvNet, batch
100 — forward, input gradient (dx) and weight gradient (dW, db) — for every
instruction-set variant of the engine this CPU runs, by the direct kernel (the flat
layout) and by the other kernels where they apply:
Winograd F(2x2, 3x3) for the 3x3 stride-1 layers (the "wino" rows, whose FLOPs are still
the direct convolution's) and the channel-vector kernel for stride-1 layers (the "cvec"
rows, all three passes), at 1 thread and all threads, in GFLOP/s and as a percentage of
the machine's FMA peak, which it measures: each variant's FMA-throughput loop
(independent multiply-add chains) on one thread, times the threads. Which kernels apply,
and which one a call runs by default (the row marked ``*``: the active variant, the
kernel the auto modes pick), is the engine's own answer (``_conv.conv_path``).

The variants take turns in each round (so a noisy neighbour slows all of them alike);
medians of the rounds are reported. FLOPs are the convolution's own, 2*N*F*C*FH*FW*OH*OW
per pass (db's additions are not counted); the padded zeros and, for stride > 1, the
skipped positions the kernels compute are not counted either. Each pass goes through the
checked op door (:func:`cconv.ops.conv_forward` / :func:`~cconv.ops.conv_backward`, which
allocates its outputs), as the layers call it.
"""
import json
import time

import numpy as np

from .. import ops
from .._threads import _available_cpus

# name -> (C, H, W, F, FH, FW, stride, pad, needs dx): the networks' convolution layers
LAYERS = {
    "deep conv1": (1, 28, 28, 16, 3, 3, 1, 1, False),
    "deep conv2": (16, 28, 28, 16, 3, 3, 1, 1, True),
    "deep conv3": (16, 14, 14, 32, 3, 3, 1, 1, True),
    "deep conv4": (32, 14, 14, 32, 3, 3, 1, 2, True),
    "deep conv5": (32, 8, 8, 64, 3, 3, 1, 1, True),
    "deep conv6": (64, 8, 8, 64, 3, 3, 1, 1, True),
    "simple conv1": (1, 28, 28, 30, 5, 5, 1, 0, False),
}


def fma_peak(isa, dtype, seconds=0.05):
    """GFLOP/s of ``isa``'s FMA-throughput loop on one thread (best of 5 runs)."""
    n = 1 << 16
    while True:  # size the loop to about `seconds`
        t0 = time.perf_counter()
        flops = ops.fma_flops(isa, dtype, n)
        t = time.perf_counter() - t0
        if t > seconds / 4 or n > 1 << 34:
            break
        n *= 4
    best = 0.0
    for _ in range(5):
        t0 = time.perf_counter()
        flops = ops.fma_flops(isa, dtype, n)
        best = max(best, flops / (time.perf_counter() - t0) / 1e9)
    return best


def _path(spec, case, pname, wino, cvec, isa):
    """The kernel (a KERNELS key) this pass of the layer runs with these modes on this
    variant, as the engine itself says (``_conv.conv_path``)."""
    from ..ops.conv import _engine
    x, w = case[0], case[1]
    s, p = spec[6], spec[7]
    pi, pw, pc = ops.use_conv_isa(isa), ops.use_winograd(wino), ops.use_cvec(cvec)
    try:
        path = _engine().conv_path(x.shape, w, s, s, p, p, pname == "dx", pname == "dW")
    finally:
        ops.use_conv_isa(pi)
        ops.use_winograd(pw)
        ops.use_cvec(pc)
    return {"winograd": "wino", "cvec": "cvec"}.get(path, "direct")


#: the kernel of a row -> (Winograd mode, channel-vector mode, label suffix)
KERNELS = {"direct": ("off", "off", ""), "wino": ("on", "off", " wino"),
           "cvec": ("off", "on", " cvec")}


def _layer_case(spec, dtype, n=100, seed=0):
    C, H, W, F, FH, FW, s, p, _ = spec
    OH, OW = (H + 2 * p - FH) // s + 1, (W + 2 * p - FW) // s + 1
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, C, H, W)).astype(dtype)
    w = (0.1 * rng.standard_normal((F, C, FH, FW))).astype(dtype)
    b = np.zeros(F, dtype)
    dout = rng.standard_normal((n, F, OH, OW)).astype(dtype)
    flops = 2.0 * n * F * C * FH * FW * OH * OW
    return x, w, b, dout, None, flops


def _passes(spec, case, nt):
    """The three passes through the op door; each backward pass computes only its part."""
    x, w, b, dout, _, _ = case
    s, p = spec[6], spec[7]
    _, saved = ops.conv_forward(x, w, b, s, p, n_threads=nt)
    fns = {
        "forward": lambda: ops.conv_forward(x, w, b, s, p, n_threads=nt),
        "dW": lambda: ops.conv_backward(dout, saved, w, need_dx=False, n_threads=nt),
    }
    if spec[8]:
        fns["dx"] = lambda: ops.conv_backward(dout, saved, w, need_dW=False, n_threads=nt)
    return fns


def bench_layers(repeat=7, dtypes=("float32", "float64"), json_path=None, file=None,
                 layers=None):
    """Print (and return) the per-layer, per-variant table; see the module docstring."""
    say = (lambda *a: print(*a, file=file, flush=True))
    nt_all = _available_cpus()
    isas = ops.conv_isa()["supported"]
    prev = ops.conv_isa()["active"]
    prev_wino, prev_cvec = ops.winograd(), ops.cvec()
    results = {"threads": nt_all, "peak_gflops": {}, "rows": []}
    say(f"cconv layer benchmark: batch 100, 1 and {nt_all} threads, median of {repeat} "
        f"rounds; variants here: {', '.join(isas)} (active: {prev})")
    for dt in dtypes:
        peaks = {isa: fma_peak(isa, dt) for isa in isas}
        results["peak_gflops"][dt] = peaks
        say(f"FMA peak, {dt}, 1 thread: " + ", ".join(f"{k} {v:.0f} GFLOP/s"
                                                      for k, v in peaks.items()))
    say(f"{'layer':13s} {'dtype':8s} {'pass':8s} {'isa':14s} {'1T ms':>8s} {'GFLOP/s':>8s} "
        f"{'%peak':>6s} {str(nt_all) + 'T ms':>8s} {'GFLOP/s':>8s} {'%peak':>6s} {'xT':>5s}")
    say("-" * 99)
    try:
        for dt in dtypes:
            for name, spec in LAYERS.items():
                if layers and name not in layers:
                    continue
                case = _layer_case(spec, dt)
                flops = case[5]
                for pname in _passes(spec, case, 1):
                    # every variant and thread count of this pass takes a turn in each round;
                    # the direct kernel in each, and the others where they apply
                    kernels = ["direct"] + [
                        k for k in ("wino", "cvec")
                        if _path(spec, case, pname, *KERNELS[k][:2], prev) == k]
                    auto = _path(spec, case, pname, prev_wino, prev_cvec, prev)
                    variants = [(isa, k) for k in kernels for isa in isas]
                    fns = {}
                    for isa, k in variants:
                        wino, cvec = KERNELS[k][:2]
                        for nt in sorted({1, nt_all}):
                            fn = _passes(spec, case, nt)[pname]
                            fns[(isa, k, nt)] = (lambda fn=fn, isa=isa, wino=wino, cvec=cvec:
                                                 (ops.use_conv_isa(isa), ops.use_winograd(wino),
                                                  ops.use_cvec(cvec), fn()))
                    med = _interleave(fns, repeat)
                    for isa, k in variants:
                        t1, tn = med[(isa, k, 1)], med[(isa, k, nt_all)]
                        g1, gn = flops / t1 / 1e9, flops / tn / 1e9
                        peak = results["peak_gflops"][dt][isa]
                        picked = isa == prev and k == auto   # what runs unless asked
                        label = isa + KERNELS[k][2]
                        row = {"layer": name, "dtype": dt, "pass": pname, "isa": label,
                               "kernel": k, "winograd": k == "wino", "default": picked,
                               "ms_1": t1 * 1e3, "gflops_1": g1, "pct_peak_1": 100 * g1 / peak,
                               "ms_n": tn * 1e3, "gflops_n": gn,
                               "pct_peak_n": 100 * gn / (peak * nt_all), "speedup": t1 / tn}
                        results["rows"].append(row)
                        label += "*" if picked else ""
                        say(f"{name:13s} {dt:8s} {pname:8s} {label:14s} {t1 * 1e3:8.2f} {g1:8.1f} "
                            f"{row['pct_peak_1']:5.0f}% {tn * 1e3:8.2f} {gn:8.1f} "
                            f"{row['pct_peak_n']:5.0f}% {t1 / tn:5.2f}")
    finally:
        ops.use_conv_isa(prev)
        ops.use_winograd(prev_wino)
        ops.use_cvec(prev_cvec)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(results, f, indent=1)
    return results


def _interleave(fns, repeat):
    for f in fns.values():
        f()
    ts = {k: [] for k in fns}
    for _ in range(repeat):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            ts[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in ts.items()}
