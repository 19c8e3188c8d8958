"""What each layer responds to: top patches (Zeiler & Fergus 2014), maximised inputs.

:func:`top_patches` runs one pass of batched forward passes over a dataset and keeps, for
every filter of the chosen layers, the k images whose strongest response is the largest,
with the position of that response; the patch is the input region the position sees
(its receptive field, :mod:`cconv.viz.receptive`). :func:`maximize_activation` finds the
input a filter or class "wants" by gradient ascent on the input from noise, with the
usual regularisers (jitter, L2 decay, blur, clipping to the pixel range).
:func:`hierarchy` draws both, layer by layer.
"""
import numpy as np

from .._checks import integer, positive_int, real
from ..training.progress import Progress
from ._backprop import eval_forward, input_gradient
from ._grid import grid, stack_figure, to_rgb_tile
from .receptive import POINTWISE, layer_window, receptive_fields

__all__ = ["TopPatches", "top_patches", "cut_patch", "maximize_activation",
           "conv_layers", "hierarchy"]


def conv_layers(network):
    """Names of the layers of ``network`` that slide learnt filters (its convolutions)."""
    return [name for name, layer in network.layers.items()
            if layer_window(layer) not in (None, POINTWISE) and hasattr(layer, "W")]


def cut_patch(image, box):
    """The part of ``image`` (C, H, W) in ``box`` (top, left, bottom, right), NaN outside.

    Returns (C, bottom - top, right - left) in float64: the region a receptive field sees,
    with the padding beyond the image borders as NaN.
    """
    C, H, W = image.shape
    top, left, bottom, right = box
    out = np.full((C, bottom - top, right - left), np.nan)
    t, l, b, r = max(top, 0), max(left, 0), min(bottom, H), min(right, W)
    if b > t and r > l:
        out[:, t - top:b - top, l - left:r - left] = image[:, t:b, l:r]
    return out


class TopPatches:
    """The k strongest responses of every filter of one layer over a dataset.

    Attributes
    ----------
    layer : str
    field : cconv.viz.receptive.Field
    values : ndarray, shape (F, k)
        Each filter's k largest per-image maxima, in decreasing order.
    indices : ndarray of int64, shape (F, k)
        The images they come from (distinct within a row).
    positions : ndarray of int64, shape (F, k, 2)
        Where in the layer's (OH, OW) map each maximum lies.
    n_images : int
        Images looked at.
    """

    def __init__(self, layer, field, values, indices, positions, n_images):
        self.layer, self.field = layer, field
        self.values, self.indices, self.positions = values, indices, positions
        self.n_images = n_images

    @property
    def k(self):
        return self.values.shape[1]

    def boxes(self, f):
        """Input boxes (top, left, bottom, right) of filter ``f``'s k patches."""
        return [self.field.box(int(i), int(j)) for i, j in self.positions[f]]

    def patches(self, x, f):
        """Filter ``f``'s k patches cut from ``x`` (N, C, H, W): (k, C, rh, rw), NaN
        where the receptive field lies beyond the image."""
        return np.stack([cut_patch(np.asarray(x[n], dtype=np.float64), box)
                         for n, box in zip(self.indices[f], self.boxes(f))])


def _as_batch(x):
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must be images (N, C, H, W), got shape {x.shape}")
    if len(x) == 0:
        raise ValueError("x holds no images")
    return x


def _check_layers(network, layers):
    if isinstance(layers, str):
        layers = [layers]
    layers = list(layers)
    if not layers:
        raise ValueError("no layers given")
    for name in layers:
        if name not in network.layers:
            raise KeyError(f"{type(network).__name__} has no layer {name!r}; its layers "
                           f"are {', '.join(network.layers)}")
    return layers


def top_patches(network, x, layers, k=9, batch_size=250, progress=None):
    """For every filter of each layer, the k images of ``x`` that excite it most.

    One pass of batched test-mode forward passes over ``x``, as deep as the deepest
    layer asked for. An image counts once per filter, with the largest response of that
    filter anywhere in the map.

    Parameters
    ----------
    network : cconv network
    x : ndarray, shape (N, C, H, W)
        The images (e.g. the test set).
    layers : str or list of str
        Layer names: convolutions, activations, poolings (one row per channel) or
        affine layers (one row per unit; the patch is the whole image).
    k : int
        Patches per filter (at most N).
    batch_size : int
    progress : bool, optional
        Show a progress bar (default: unless ``$CCONV_PROGRESS=0``).

    Returns
    -------
    dict of str -> TopPatches
    """
    x = _as_batch(x)
    layers = _check_layers(network, layers)
    k = min(positive_int(k, "k"), len(x))
    batch_size = positive_int(batch_size, "batch_size")
    fields = receptive_fields(network)
    order = [n for n in network.layers if n in layers]
    deepest = order[-1]
    best = {}
    n = len(x)
    with Progress(n, desc="top patches", unit="img", enabled=progress) as bar:
        for lo in range(0, n, batch_size):
            xb = x[lo:lo + batch_size]
            for name, _, out in eval_forward(network, xb, until=deepest):
                if name in layers:
                    _merge(best, name, out, lo, k)
            bar.update(len(xb))
    return {name: TopPatches(name, fields[name], *best[name], n) for name in layers}


def _merge(best, name, out, offset, k):
    B, F = out.shape[:2]
    flat = out.reshape(B, F, -1)
    pos = flat.argmax(axis=2)                                   # (B, F), first maximum
    val = np.take_along_axis(flat, pos[..., None], axis=2)[..., 0].T.astype(np.float64)
    idx = np.broadcast_to(np.arange(offset, offset + B), (F, B))
    ow = out.shape[3] if out.ndim == 4 else 1
    yx = np.stack([pos.T // ow, pos.T % ow], axis=-1)           # (F, B, 2)
    if name in best:
        v0, i0, p0 = best[name]
        val = np.concatenate([v0, val], axis=1)
        idx = np.concatenate([i0, idx], axis=1)
        yx = np.concatenate([p0, yx], axis=1)
    # stable sort on -value: ties go to the earlier image, so the result is the same for
    # any batch size
    sel = np.argsort(-val, axis=1, kind="stable")[:, :k]
    best[name] = (np.take_along_axis(val, sel, axis=1),
                  np.take_along_axis(idx, sel, axis=1).astype(np.int64),
                  np.take_along_axis(yx, sel[..., None], axis=1).astype(np.int64))


def _blur(x, sigma):
    """Separable Gaussian blur of (N, C, H, W) over H and W, edges repeated."""
    r = max(1, int(np.ceil(2 * sigma)))
    t = np.arange(-r, r + 1)
    g = np.exp(-0.5 * (t / sigma) ** 2)
    g = (g / g.sum()).astype(x.dtype)
    for axis in (2, 3):
        pad = [(0, 0)] * 4
        pad[axis] = (r, r)
        xp = np.pad(x, pad, mode="edge")
        n = x.shape[axis]
        x = sum(g[i] * np.take(xp, np.arange(i, i + n), axis=axis) for i in range(len(g)))
    return x


def _unit_seed(units, field, out_ndim):
    ci, cj = field.center()

    def seed(out):
        d = np.zeros_like(out)
        b = np.arange(len(units))
        if out_ndim == 4:
            d[b, units, ci, cj] = 1
        else:
            d[b, units] = 1
        return d
    return seed


def _unit_values(out, units, field):
    b = np.arange(len(units))
    if out.ndim == 4:
        ci, cj = field.center()
        return out[b, units, ci, cj].astype(np.float64)
    return out[b, units].astype(np.float64)


def maximize_activation(network, layer, units, steps=200, lr=0.05, jitter=None, l2=0.01,
                        blur_sigma=0.5, blur_every=4, pixel_range=(0.0, 1.0), rng=0):
    """The inputs that maximise given filters (or classes) of ``layer``, by gradient ascent.

    For a layer with (C, OH, OW) outputs the objective of filter ``u`` is its activation
    at the centre of the map (``field.center()``), so the picture that matters lies in
    that position's receptive field; for an (M,) layer (affine, the class scores) it is
    unit ``u``. All units are optimised together, one image each, from noise.

    Parameters
    ----------
    network : cconv network
    layer : str
    units : sequence of int
        Filters (channels) or units to maximise.
    steps : int
        Gradient-ascent steps.
    lr : float
        Step size in pixel units: each step moves the image by ``lr`` times its gradient
        divided by the mean absolute value of the gradient's non-zero pixels (those of
        the receptive field).
    jitter : int, optional
        Each step, the image is rolled by up to ``jitter`` pixels in each direction before
        the gradient is taken (and the gradient rolled back): features that only work at
        one exact offset do not survive. Default: an eighth of the field, at most 2 (no
        jitter for fields under 8 pixels, where a shift would be a different input).
    l2 : float
        Decay: each step multiplies the image by ``1 - l2`` (towards the dark background).
    blur_sigma, blur_every : float, int
        A Gaussian blur of ``blur_sigma`` pixels every ``blur_every`` steps (0: never).
    pixel_range : (float, float)
        Pixels are clipped to it after every step (MNIST: [0, 1]).
    rng : int or numpy.random.Generator
        Source of the starting noise and the jitter.

    Returns
    -------
    x : ndarray, shape (len(units), C, H, W), the network's dtype
        The maximised inputs.
    start, end : ndarray, shape (len(units),)
        Each unit's objective on the starting noise and on ``x``.
    """
    layer = _check_layers(network, layer)[0]
    field = receptive_fields(network)[layer]
    units = np.asarray(units, dtype=np.int64).reshape(-1)
    n_units = field.out_shape[0]
    if len(units) == 0 or units.min() < 0 or units.max() >= n_units:
        raise ValueError(f"units must be in 0..{n_units - 1} for layer {layer!r}, got "
                         f"{units.tolist()}")
    steps = integer(steps, "steps", low=0)
    lr = real(lr, "lr", low=0, low_open=True)
    l2 = real(l2, "l2", low=0, high=1)
    blur_sigma = real(blur_sigma, "blur_sigma", low=0)
    blur_every = integer(blur_every, "blur_every", low=0)
    lo, hi = (float(v) for v in pixel_range)
    if not hi > lo:
        raise ValueError(f"pixel_range must be (low, high) with high > low, got {pixel_range}")
    if jitter is None:
        jitter = min(2, max(field.size) // 8)
    jitter = integer(jitter, "jitter", low=0)
    g = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    C, H, W = (int(d) for d in network.config["input_dim"])
    dt = network.dtype
    x = (lo + (hi - lo) * (0.1 + 0.05 * g.standard_normal((len(units), C, H, W))))
    x = np.clip(x, lo, hi).astype(dt)
    seed = _unit_seed(units, field, len(field.out_shape) + 1)
    out, _ = input_gradient(network, x, layer, seed)
    start = _unit_values(out, units, field)
    decay = dt.type(1.0 - l2)
    for step in range(steps):
        dy, dx = (int(v) for v in g.integers(-jitter, jitter + 1, size=2)) if jitter else (0, 0)
        xj = np.roll(x, (dy, dx), axis=(2, 3))
        _, grad = input_gradient(network, xj, layer, seed)
        grad = np.roll(grad, (-dy, -dx), axis=(2, 3))
        mag = np.abs(grad)
        scale = mag.sum(axis=(1, 2, 3), keepdims=True) / np.maximum(
            np.count_nonzero(mag, axis=(1, 2, 3)).reshape(-1, 1, 1, 1), 1)
        x = x + dt.type(lr) * grad / (scale + dt.type(1e-12))
        x *= decay
        if blur_every and blur_sigma > 0 and (step + 1) % blur_every == 0:
            x = _blur(x, blur_sigma)
        x = np.clip(x, lo, hi).astype(dt, copy=False)
    return x, start, _unit_values(_layer_output(network, x, layer), units, field)


def _layer_output(network, x, layer):
    for name, _, out in eval_forward(network, x, until=layer):
        if name == layer:
            return out
    raise AssertionError("unreachable")


def _pick_filters(tp, n):
    """The ``n`` filters with the strongest top-k responses (their mean), strongest first."""
    strength = tp.values.mean(axis=1)
    return np.argsort(-strength, kind="stable")[:n]


def hierarchy(network, x, layers=None, *, k=8, n_filters=6, steps=200, batch_size=250,
              pixel_range=(0.0, 1.0), tile_px=42, progress=None, rng=0, title=None,
              path=None, show=False, dpi=100):
    """Layer by layer: each filter's top patches next to the input that maximises it.

    Parameters
    ----------
    network : cconv network
    x : ndarray, shape (N, C, H, W)
        The images the patches come from (e.g. the test set), pixels in ``pixel_range``.
    layers : list of str, optional
        Default: every convolution (:func:`conv_layers`).
    k : int
        Top patches per filter.
    n_filters : int
        Filters per layer: those whose top-k responses are strongest.
    steps : int
        Gradient-ascent steps of :func:`maximize_activation`.
    tile_px : int
        About how many screen pixels a tile is high (each field pixel is a whole block).
    title, path, show, dpi :
        As in :func:`cconv.visualize.filter_show`.

    Returns
    -------
    matplotlib.figure.Figure
        One block per layer, one row per filter: k patches cut at the receptive fields
        (beyond the image borders: padding, drawn in its own colour), then the maximised
        input cut at the central position's field. ``fig.cconv_blocks`` lists per layer
        ``(name, rows, columns)``.
    """
    x = _as_batch(x)
    layers = conv_layers(network) if layers is None else _check_layers(network, layers)
    if not layers:
        raise ValueError(f"{type(network).__name__} has no convolution layers")
    n_filters = positive_int(n_filters, "n_filters")
    tops = top_patches(network, x, layers, k=k, batch_size=batch_size, progress=progress)
    lo, hi = (float(v) for v in pixel_range)
    blocks, layout = [], []
    for name in layers:
        tp = tops[name]
        f = tp.field
        chosen = _pick_filters(tp, n_filters)
        best, a0, a1 = maximize_activation(network, name, chosen, steps=steps,
                                           pixel_range=pixel_range, rng=rng)
        box = f.box(*f.center()) if f.spatial else (0, 0) + f.input_hw
        rows = []
        for r, c in enumerate(chosen):
            tiles = [p.mean(axis=0) for p in tp.patches(x, c)]
            tiles.append(cut_patch(best[r].astype(np.float64), box).mean(axis=0))
            rows.append([to_rgb_tile(t, lo, hi) for t in tiles])
        h = tiles[0].shape[0]
        scale = max(1, -(-tile_px // h))
        img, _, ys = grid(rows, scale, sep_after=len(rows[0]) - 2)
        what = (f"{f.out_shape[0]} filters, field {f.size[0]}x{f.size[1]} px" if f.spatial
                else f"{f.out_shape[0]} units, whole image")
        blocks.append(dict(
            image=img,
            heading=f"{name} ({what}): top {tp.k} of "
                    f"{tp.n_images} images per filter  |  maximised input",
            ylabels=[(y, f"#{c}") for y, c in zip(ys, chosen)]))
        layout.append((name, len(rows), len(rows[0])))
    if title is None:
        title = f"{type(network).__name__}: what each layer responds to"
    note = ("rows: the filters with the strongest responses; tiles: the input regions "
            "their units see (padding in beige)")
    fig = stack_figure(blocks, title=title, note=note, dpi=dpi, show=show, path=path)
    fig.cconv_blocks = layout
    return fig
