"""``cconv bench steps``: where a training step's time goes, layer by layer.

Each network runs training steps back to back on fresh batches of real MNIST (as
``cconv bench train`` does), with every layer method a network calls timed: forward,
the fused forwards (``forward_relu``, ``forward_relu_pool``), backward,
``backward_with_relu`` and ``backward_from_pool``, the loss, and Adam's update. The
methods are wrapped on their classes for the run and put back after it. Medians per
call over the counted steps; the last line compares their sum with the median step.
"""
import collections
import json
import time

import numpy as np

#: Layer methods a network calls, timed when a class defines them.
METHODS = ("forward", "forward_relu", "forward_relu_pool", "take_output", "backward",
           "backward_with_relu", "backward_from_pool", "routing")


def _wrap_classes(layers, record):
    """Wrap METHODS on the classes of ``layers``; returns what to put back."""
    undo = []
    for layer in layers:
        for cls in type(layer).__mro__:
            for m in METHODS:
                f = vars(cls).get(m)
                if f is None or getattr(f, "_cconv_timed", False):
                    continue

                def timed(self, *a, _f=f, _m=m, **k):
                    t0 = time.perf_counter()
                    try:
                        return _f(self, *a, **k)
                    finally:
                        record(self, _m, time.perf_counter() - t0)
                timed._cconv_timed = True
                setattr(cls, m, timed)
                undo.append((cls, m, f))
    return undo


def bench_steps(nets=("simple", "deep"), dtypes=("float32",), steps=40, warmup=5,
                json_path=None, file=None, batch=100):
    """Print (and return) the per-layer times of a training step; see the module doc."""
    from .._threads import get_num_threads
    from ..networks import get_network
    from ..optimizer import Adam
    from .train import _Batches
    say = (lambda *a: print(*a, file=file, flush=True))
    nt = get_num_threads()
    out = {"threads": nt, "batch": batch, "rows": []}
    say(f"cconv step profile: batch {batch}, {nt} threads, Adam, {steps} steps back to back "
        f"on fresh batches after {warmup}; median ms per call")
    for name in nets:
        for dt in dtypes:
            dt = np.dtype(dt)
            data = _Batches(dt, batch)
            kw = {"dropout_ratio": 0.5} if name == "deep" else {}
            net = get_network(name, dtype=dt, rng=0, **kw)
            opt = Adam(lr=0.001)
            names = {id(l): n for n, l in net.layers.items()}
            names[id(net.last_layer)] = "Loss"
            times = collections.defaultdict(list)
            order = []

            def record(layer, meth, t):
                key = (names.get(id(layer), type(layer).__name__), meth)
                if key not in times:
                    order.append(key)
                times[key].append(t)
            undo = _wrap_classes(list(net.layers.values()) + [net.last_layer], record)
            step_t = []
            try:
                for i in range(warmup + steps):
                    x, t = data.next_for("steps")
                    t0 = time.perf_counter()
                    grads = net.gradient(x, t)
                    t1 = time.perf_counter()
                    opt.update(net.params, grads)
                    t2 = time.perf_counter()
                    if i == warmup - 1:
                        times.clear()
                        order.clear()
                    if i >= warmup:
                        times[("Adam", "update")].append(t2 - t1)
                        step_t.append(t2 - t0)
            finally:
                for cls, m, f in reversed(undo):
                    setattr(cls, m, f)
            if ("Adam", "update") not in order:
                order.append(("Adam", "update"))
            say(f"\n{name} {dt.name}")
            say(f"  {'layer':<10} {'method':<20} {'ms':>8} {'share':>7}")
            step = float(np.median(step_t))
            total = 0.0
            for key in order:
                m = float(np.median(times[key])) * 1e3
                total += m
                out["rows"].append({"network": name, "dtype": dt.name, "layer": key[0],
                                    "method": key[1], "median_ms": m})
                say(f"  {key[0]:<10} {key[1]:<20} {m:8.3f} {m / (step * 1e3):6.1%}")
            say(f"  sum of the medians {total:.2f} ms; median step {step * 1e3:.2f} ms")
            out["rows"].append({"network": name, "dtype": dt.name, "layer": "step",
                                "method": "gradient+update", "median_ms": step * 1e3})
    if json_path:
        with open(json_path, "w") as f:
            json.dump(out, f, indent=1)
    return out
