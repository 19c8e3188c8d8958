"""Timing helpers of the benchmarks: interleaved rounds, bursts of back-to-back calls,
medians, copy bandwidth."""
import time

import numpy as np


def _time(fn, repeat):
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return ts


def interleaved(fns, repeat=7, warmup=1, settle=0.0):
    """Median seconds of each callable, run in turn ``repeat`` times after a warm-up;
    ``settle``: seconds of idle before each turn (see :func:`bursts`). Returns (medians,
    times)."""
    return _rounds(fns, repeat, 1, 0, warmup, settle)


def bursts(fns, repeat=7, burst=5, warmup=1, settle=0.0):
    """Like :func:`interleaved`, but each implementation runs ``burst`` calls back to back
    in its turn of a round (training as it runs: step after step), and each call is timed;
    the first call of a turn, which follows another implementation's, is not counted.
    ``settle``: seconds of idle before each turn, so that threads the implementation
    before it left running (OpenBLAS's workers spin on a core for about 0.1 s after a
    product) are gone. Returns (medians, times) over the ``repeat * (burst - 1)`` counted
    calls."""
    return _rounds(fns, repeat, burst, 1, warmup, settle)


def _rounds(fns, repeat, per_turn, skip, warmup, settle=0.0):
    """``repeat`` rounds in which each callable runs ``per_turn`` times, the first
    ``skip`` of each turn not counted, after ``warmup`` calls each; ``settle`` seconds
    of sleep before each turn."""
    for f in fns.values():
        for _ in range(warmup):
            f()
    ts = {k: [] for k in fns}
    for _ in range(repeat):
        for k, f in fns.items():
            if settle:
                time.sleep(settle)
            ts[k] += _time(f, per_turn)[skip:]
    return {k: float(np.median(v)) for k, v in ts.items()}, ts


def copy_bandwidth(nbytes=256 << 20, repeat=5):
    """GB/s of a plain large memcpy (read + write), numpy's single-threaded copy."""
    src = np.ones(nbytes // 8)
    dst = np.empty_like(src)
    t = min(_time(lambda: np.copyto(dst, src), repeat))
    return 2 * src.nbytes / t / 1e9
