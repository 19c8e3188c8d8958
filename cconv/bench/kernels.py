"""The kernel benchmark, ``cconv bench kernels``.

Each op of :mod:`cconv.ops` against its NumPy reference (:mod:`cconv.ops.reference`) on the shapes of SimpleConvNet and DeepConvNet at batch 100, in
float32 and float64, at 1 thread and all threads, with effective GB/s and the machine's
copy bandwidth for scale. Timings are interleaved (reference, 1 thread, N threads, then
again) so that a noisy neighbour slows all of them alike; medians are reported. The
"fill ms" column is numpy writing zeros into arrays the size of the kernel's outputs, in
the same rounds: the time it takes just to write those bytes, which no kernel that
writes them beats by much (where the target asks for less, memory bandwidth is the
bound, not the kernel).
"""
import json

import numpy as np

from .. import ops as K
from .._threads import _available_cpus
from ..ops.reference import im2col as RI
from ..ops.reference import pooling as RP
from ._timing import copy_bandwidth, interleaved

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
               lambda: RI.im2col(x, fh, fw, s, p),
               lambda n: K.im2col(x, fh, fw, s, p, out=out, n_threads=n), [col])
        yield ("col2im", name, x.nbytes + col.nbytes,
               lambda: RI.col2im(col, shape, fh, fw, s, p),
               lambda n: K.col2im(col, shape, fh, fw, s, p, out=dx, n_threads=n), [x])
        # the per-sample layout (N, C*FH*FW, OH*OW) that the layers use
        colT = K.im2col_t(x, fh, fw, s, p)
        outT = np.empty_like(colT)
        yield ("im2col_t", name, x.nbytes + colT.nbytes,
               lambda: RI.im2col(x, fh, fw, s, p),   # the book's layout: its cost
               lambda n: K.im2col_t(x, fh, fw, s, p, out=outT, n_threads=n), [colT])
        yield ("col2im_t", name, x.nbytes + colT.nbytes,
               lambda: RI.col2im(col, shape, fh, fw, s, p),
               lambda n: K.col2im_t(colT, shape, fh, fw, s, p, out=dx, n_threads=n), [x])
    for name, (shape, ph, pw, s, p) in POOL_SHAPES.items():
        x = rng.standard_normal(shape).astype(dtype)
        out, arg = K.maxpool_forward(x, ph, pw, s, p)
        g = rng.standard_normal(out.shape).astype(dtype)
        ob, ab, dx = np.empty_like(out), np.empty_like(arg), np.empty_like(x)
        moved_f = x.nbytes + out.nbytes + arg.nbytes
        moved_b = g.nbytes + arg.nbytes + x.nbytes
        yield ("maxpool fwd", name, moved_f,
               lambda: RP.maxpool_forward(x, ph, pw, s, p),
               lambda n: K.maxpool_forward(x, ph, pw, s, p, out=ob, arg=ab, n_threads=n),
               [out, arg])
        yield ("maxpool bwd", name, moved_b,
               lambda: RP.maxpool_backward(g, arg, shape, ph, pw, s, p),
               lambda n: K.maxpool_backward(g, arg, shape, ph, pw, s, p, out=dx, n_threads=n),
               [x])
        yield ("avgpool fwd", name, x.nbytes + out.nbytes,
               lambda: RP.avgpool_forward(x, ph, pw, s, p),
               lambda n: K.avgpool_forward(x, ph, pw, s, p, out=ob, n_threads=n), [out])
        yield ("avgpool bwd", name, g.nbytes + x.nbytes,
               lambda: RP.avgpool_backward(g, shape, ph, pw, s, p),
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


