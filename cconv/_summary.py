"""A network's summary table (like Keras's ``model.summary()``), as text and as HTML.

One row per layer: its name, type, output shape (per sample, written ``(N, ...)``), the
number of parameters it holds and their dtype; then the totals. The output shapes are
computed from the layers' geometry (filter and pool sizes, strides, pads, weight shapes),
without running a forward pass, so the summary never changes a layer's saved state.
"""
from html import escape

import numpy as np

__all__ = ["summary_rows", "summary_text", "summary_html"]


def _parameters(layer):
    """{name: array} of a layer's parameters (the Layer protocol, or the book's names)."""
    get = getattr(layer, "parameters", None)
    if callable(get):
        return dict(get())
    out = {}
    for name in ("W", "b", "gamma", "beta"):
        v = getattr(layer, name, None)
        if isinstance(v, np.ndarray):
            out[name] = v
    return out


def _pair(v):
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _window(layer):
    """(kh, kw, sh, sw, ph, pw), (1, 1, 1, 1, 0, 0) for pointwise layers, None for Affine."""
    if hasattr(type(layer), "window"):
        return layer.window
    W = getattr(layer, "W", None)
    if isinstance(W, np.ndarray) and W.ndim == 2:
        return None
    if isinstance(W, np.ndarray) and W.ndim == 4:
        kh, kw = W.shape[2:]
    elif hasattr(layer, "pool_h"):
        kh, kw = int(layer.pool_h), int(layer.pool_w)
    else:
        return (1, 1, 1, 1, 0, 0)
    sh, sw = _pair(getattr(layer, "stride", 1))
    ph, pw = _pair(getattr(layer, "pad", 0))
    return (kh, kw, sh, sw, ph, pw)


def _out_shape(layer, shape):
    """The per-sample output shape of ``layer`` for a per-sample input ``shape``."""
    if shape is None:
        return None
    W = getattr(layer, "W", None)
    win = _window(layer)
    if win is None:                               # Affine: every input feature mixed
        return (int(W.shape[1]),) if isinstance(W, np.ndarray) else None
    if win == (1, 1, 1, 1, 0, 0):                 # pointwise
        return tuple(shape)
    if len(shape) != 3:
        return None
    C, H, Wd = shape
    kh, kw, sh, sw, ph, pw = win
    oh = (H + 2 * ph - kh) // sh + 1
    ow = (Wd + 2 * pw - kw) // sw + 1
    if isinstance(W, np.ndarray) and W.ndim == 4:
        C = int(W.shape[0])
    return (C, oh, ow)


def summary_rows(network):
    """``[(name, type, output_shape or None, n_params, dtype name), ...]``, the loss last."""
    shape = network.config.get("input_dim") if isinstance(getattr(network, "config", None),
                                                          dict) else None
    shape = tuple(int(s) for s in shape) if shape else None
    rows = []
    for name, layer in network.layers.items():
        try:
            shape = _out_shape(layer, shape)
        except Exception:  # a layer this table does not know: shape unknown from here
            shape = None
        params = _parameters(layer)
        n = int(sum(p.size for p in params.values()))
        dtypes = sorted({p.dtype.name for p in params.values()})
        rows.append((name, type(layer).__name__, shape, n, "/".join(dtypes) or "-"))
    last = getattr(network, "last_layer", None)
    if last is not None:
        rows.append(("(loss)", type(last).__name__, shape, 0, "-"))
    return rows


def _fmt_shape(shape):
    return "?" if shape is None else "(N, " + ", ".join(str(s) for s in shape) + ")"


def _totals(network):
    n = int(sum(p.size for p in network.params.values()))
    nbytes = int(sum(p.nbytes for p in network.params.values()))
    return n, nbytes


def _head(network):
    dim = network.config.get("input_dim") if isinstance(getattr(network, "config", None),
                                                        dict) else None
    dt = getattr(network, "dtype", None)
    dt = getattr(dt, "name", dt)
    inp = f", input {_fmt_shape(tuple(dim))}" if dim else ""
    return f"{type(network).__name__} ({dt}{inp})"


def summary_text(network):
    """The summary table as plain text (what ``repr(network)`` prints)."""
    rows = [("Layer", "Type", "Output shape", "Params", "dtype")]
    rows += [(n, t, _fmt_shape(s), f"{p:,}", d) for n, t, s, p, d in summary_rows(network)]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    def line(r):
        return "  ".join([r[0].ljust(widths[0]), r[1].ljust(widths[1]),
                          r[2].ljust(widths[2]), r[3].rjust(widths[3]),
                          r[4].ljust(widths[4])]).rstrip()
    rule = "-" * len(line(rows[0]).ljust(sum(widths) + 8))
    n, nbytes = _totals(network)
    out = [_head(network), rule, line(rows[0]), rule] + [line(r) for r in rows[1:]]
    out += [rule, f"Total params: {n:,} ({nbytes / 2 ** 20:.2f} MiB)"]
    return "\n".join(out)


def summary_html(network):
    """The summary table as an HTML ``<table>`` (what Jupyter shows for a network)."""
    cells = "".join(
        f"<tr><td>{escape(n)}</td><td>{escape(t)}</td><td><code>{escape(_fmt_shape(s))}"
        f"</code></td><td style='text-align:right'>{p:,}</td><td>{escape(d)}</td></tr>"
        for n, t, s, p, d in summary_rows(network))
    n, nbytes = _totals(network)
    return (f"<div><b>{escape(_head(network))}</b>"
            "<table><thead><tr><th>Layer</th><th>Type</th><th>Output shape</th>"
            "<th>Params</th><th>dtype</th></tr></thead>"
            f"<tbody>{cells}</tbody></table>"
            f"<p>Total params: <b>{n:,}</b> ({nbytes / 2 ** 20:.2f} MiB)</p></div>")
