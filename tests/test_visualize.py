"""cconv.visualize: render to real files, open them, and check what a person would see.

Images come from real MNIST (the ``mnist_data`` fixture). Pixel checks read the saved PNG
back with matplotlib.image.imread and locate tiles from the picture itself (the gaps
between tiles are a non-gray tint), not from the code's layout arithmetic.
"""
import json
import os
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.image import imread

from cconv import visualize as viz
from cconv.viz import _figure, curves
from cconv.util import smooth_curve


# --------------------------------------------------------------------------- helpers

def _png(path):
    img = imread(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4), img.shape
    return img[..., :3].astype(np.float64)


def _size_ok(fig, img):
    w, h = fig.get_size_inches() * fig.dpi
    assert img.shape[:2] == (round(h), round(w))


def _box(fig, ax, img):
    """Pixel box (rows, cols slices) of an axes in the saved image."""
    x0, y0, x1, y1 = ax.get_window_extent().extents
    H = img.shape[0]
    return slice(int(round(H - y1)), int(round(H - y0))), slice(int(round(x0)), int(round(x1)))


def _runs(mask_1d):
    """[start, stop) intervals where mask_1d is True."""
    m = np.concatenate([[False], mask_1d, [False]]).astype(np.int8)
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def _tiles(img, fig, ax):
    """Gray tiles seen in the axes: list of (row0, row1, col0, col1) in image pixels.

    Tiles are pure grays (R == G == B); the gaps are tinted. A slot counts as a tile when
    nearly all of it is gray.
    """
    rs, cs = _box(fig, ax, img)
    sub = img[rs, cs]
    gray = (np.abs(sub[..., 0] - sub[..., 1]) < 0.01) & (np.abs(sub[..., 1] - sub[..., 2]) < 0.01)
    rows = [r for r in _runs(gray.any(axis=1)) if r[1] - r[0] > 2]
    cols = [c for c in _runs(gray.any(axis=0)) if c[1] - c[0] > 2]
    found = []
    for r0, r1 in rows:
        for c0, c1 in cols:
            if gray[r0:r1, c0:c1].mean() > 0.95:
                found.append((rs.start + r0, rs.start + r1, cs.start + c0, cs.start + c1))
    return found


def _sample(img, tile, h, w):
    """The h x w grid of gray values at the centres of a tile's cells."""
    r0, r1, c0, c1 = tile
    ys = (r0 + (np.arange(h) + 0.5) * (r1 - r0) / h).astype(int)
    xs = (c0 + (np.arange(w) + 0.5) * (c1 - c0) / w).astype(int)
    return img[np.ix_(ys, xs)][..., 0]


def _gray_r(u):
    """What gray_r draws for values u in [0, 1] (one channel)."""
    return colormaps["gray_r"](np.asarray(u))[..., 0]


def _unit(a):
    lo, hi = a.min(), a.max()
    return (a - lo) / (hi - lo)


@pytest.fixture(scope="module")
def digits(mnist_data):
    """Real MNIST test digits (1000, 28, 28) in [0, 1] and their labels."""
    (_, _), (x, t) = mnist_data
    return x[:1000].reshape(-1, 28, 28).astype(np.float64), t[:1000].astype(np.int64)


@pytest.fixture(scope="module")
def stroke_filters(digits):
    """30 filters (30, 1, 5, 5) cut from the centres of real digits: stroke-like patterns."""
    x, _ = digits
    f = np.stack([x[i, 11:16, 11:16] for i in range(200)])
    f = f[f.std(axis=(1, 2)) > 0.15][:30]
    assert len(f) == 30
    return f[:, None]


# --------------------------------------------------------------------------- filter grids

def test_filter_show_grid_of_constant_tiles(tmp_path):
    # 30 flat filters with values 0..29 on one scale: 30 tiles, 8 per row, getting darker.
    vals = np.arange(30.0)
    filters = vals[:, None, None, None] * np.ones((30, 1, 5, 5))
    out = tmp_path / "sub" / "dir" / "filters.png"
    fig = viz.filter_show(filters, shared_scale=True, path=out)
    assert isinstance(fig, Figure)
    img = _png(out)
    _size_ok(fig, img)
    tiles = _tiles(img, fig, fig.axes[0])
    assert len(tiles) == 30
    assert len({t[2] for t in tiles}) == 8 and len({t[0] for t in tiles}) == 4
    for t in tiles:  # scale=10 pixels per filter pixel at 100 dpi
        assert abs((t[1] - t[0]) - 50) <= 1 and abs((t[3] - t[2]) - 50) <= 1
    tiles.sort(key=lambda t: (t[0], t[2]))  # row-major, as the filters
    means = np.array([img[r0:r1, c0:c1, 0].mean() for r0, r1, c0, c1 in tiles])
    np.testing.assert_allclose(means, _gray_r(vals / 29), atol=2 / 255)
    assert any("30 filters 5x5" in t.get_text() for t in fig.texts)


def test_filter_show_tiles_show_the_filters(tmp_path, stroke_filters):
    fig = viz.filter_show(stroke_filters, nx=6, path=tmp_path / "f.png")
    img = _png(tmp_path / "f.png")
    tiles = sorted(_tiles(img, fig, fig.axes[0]), key=lambda t: (t[0], t[2]))
    assert len(tiles) == 30 and len({t[2] for t in tiles}) == 6
    for tile, f in zip(tiles, stroke_filters[:, 0]):
        # The book's look: each tile stretched over its own range, high values dark.
        np.testing.assert_allclose(_sample(img, tile, 5, 5), _gray_r(_unit(f)), atol=2 / 255)


def test_filter_show_every_channel_and_channel_choice(tmp_path, stroke_filters):
    f = stroke_filters[:18].reshape(6, 3, 5, 5)
    fig = viz.filter_show(f, path=tmp_path / "all.png")
    img = _png(tmp_path / "all.png")
    tiles = sorted(_tiles(img, fig, fig.axes[0]), key=lambda t: (t[0], t[2]))
    assert len(tiles) == 18
    assert len({t[0] for t in tiles}) == 6 and len({t[2] for t in tiles}) == 3  # a row per filter
    for tile, plane in zip(tiles, f.reshape(18, 5, 5)):
        np.testing.assert_allclose(_sample(img, tile, 5, 5), _gray_r(_unit(plane)), atol=2 / 255)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "input channel" and ax.get_ylabel() == "filter"

    for channel, want in ((1, f[:, 1]), (-1, f[:, 2]), ("mean", f.mean(axis=1))):
        fig = viz.filter_show(f, channel=channel, path=tmp_path / "one.png")
        img = _png(tmp_path / "one.png")
        tiles = sorted(_tiles(img, fig, fig.axes[0]), key=lambda t: (t[0], t[2]))
        assert len(tiles) == 6 and len({t[0] for t in tiles}) == 1
        for tile, plane in zip(tiles, want):
            np.testing.assert_allclose(_sample(img, tile, 5, 5), _gray_r(_unit(plane)),
                                       atol=2 / 255)

    with pytest.raises(ValueError, match="channel 3 does not exist.*3 input channels"):
        viz.filter_show(f, channel=3)
    with pytest.raises(ValueError, match="'mean'"):
        viz.filter_show(f, channel="max")


def test_filter_show_size_follows_dpi_and_scale(tmp_path, stroke_filters):
    fig1 = viz.filter_show(stroke_filters, path=tmp_path / "a.png")
    fig2 = viz.filter_show(stroke_filters, dpi=200, path=tmp_path / "b.png")
    a, b = _png(tmp_path / "a.png"), _png(tmp_path / "b.png")
    _size_ok(fig1, a)
    _size_ok(fig2, b)
    assert abs(b.shape[0] - 2 * a.shape[0]) <= 1 and abs(b.shape[1] - 2 * a.shape[1]) <= 1
    fig3 = viz.filter_show(stroke_filters, scale=4, margin=1, path=tmp_path / "c.png")
    tiles = _tiles(_png(tmp_path / "c.png"), fig3, fig3.axes[0])
    assert len(tiles) == 30 and all(t[1] - t[0] == 20 for t in tiles)


def test_filter_show_huge_grid_is_capped(tmp_path):
    rng = np.random.default_rng(0)
    # 64 channels of 5x5 at scale 10 would make a grid 3395 pixels wide.
    fig = viz.filter_show(rng.standard_normal((8, 64, 5, 5)), path=tmp_path / "big.png")
    w, h = fig.get_size_inches() * fig.dpi
    assert 1000 < w < 2600
    tiles = _tiles(_png(tmp_path / "big.png"), fig, fig.axes[0])
    assert len(tiles) == 8 * 64
    assert len({(t[1] - t[0], t[3] - t[2]) for t in tiles}) == 1 and tiles[0][1] - tiles[0][0] < 50


def test_filter_show_bad_input():
    with pytest.raises(ValueError, match="4-D"):
        viz.filter_show(np.zeros((3, 5, 5)))
    with pytest.raises(ValueError, match="non-finite"):
        viz.filter_show(np.full((2, 1, 3, 3), np.nan))
    with pytest.raises(ValueError, match="nx must be >= 1"):
        viz.filter_show(np.zeros((2, 1, 3, 3)), nx=0)


def test_filters_before_after(tmp_path, stroke_filters):
    rng = np.random.default_rng(1)
    before = 0.01 * rng.standard_normal((30, 1, 5, 5))
    fig = viz.filters_before_after(before, stroke_filters, path=tmp_path / "ba.png")
    img = _png(tmp_path / "ba.png")
    _size_ok(fig, img)
    assert [ax.get_title() for ax in fig.axes] == ["before learning", "after learning"]
    left, right = (sorted(_tiles(img, fig, ax), key=lambda t: (t[0], t[2])) for ax in fig.axes)
    assert len(left) == len(right) == 30
    assert left[0][3] <= right[0][2]  # side by side
    for tile, f in zip(left, before[:, 0]):
        np.testing.assert_allclose(_sample(img, tile, 5, 5), _gray_r(_unit(f)), atol=2 / 255)
    a = np.stack([_sample(img, t, 5, 5) for t in left])
    b = np.stack([_sample(img, t, 5, 5) for t in right])
    assert np.abs(a - b).mean() > 0.1  # different filters look different

    fig = viz.filters_before_after(stroke_filters, stroke_filters, path=tmp_path / "same.png")
    img = _png(tmp_path / "same.png")
    left, right = (sorted(_tiles(img, fig, ax), key=lambda t: (t[0], t[2])) for ax in fig.axes)
    for tl, tr in zip(left, right):
        np.testing.assert_array_equal(img[tl[0]:tl[1], tl[2]:tl[3]], img[tr[0]:tr[1], tr[2]:tr[3]])
    with pytest.raises(ValueError, match="5x5 filters but after has 3x3"):
        viz.filters_before_after(before, np.zeros((30, 1, 3, 3)))


# --------------------------------------------------------------------------- conv + maps

def _correlate(img, W, b, stride, pad):
    """Plain-loop cross-correlation, the definition the book's Convolution computes."""
    C, H, Wd = img.shape
    FN, _, FH, FW = W.shape
    x = np.pad(img, ((0, 0), (pad, pad), (pad, pad)))
    oh, ow = (H + 2 * pad - FH) // stride + 1, (Wd + 2 * pad - FW) // stride + 1
    out = np.empty((FN, oh, ow))
    for f in range(FN):
        for i in range(oh):
            for j in range(ow):
                patch = x[:, i * stride:i * stride + FH, j * stride:j * stride + FW]
                out[f, i, j] = (patch * W[f]).sum() + b[f]
    return out


def test_apply_filters_matches_correlation(digits):
    x, _ = digits
    rng = np.random.default_rng(2)
    W = rng.standard_normal((4, 1, 5, 3))
    b = rng.standard_normal(4)
    for stride, pad in ((1, 0), (2, 1), (3, 2)):
        got = viz.apply_filters(x[0], W, b, stride=stride, pad=pad)
        np.testing.assert_allclose(got, _correlate(x[0][None], W, b, stride, pad), atol=1e-12)
        assert got.dtype == np.float64 and got.flags.c_contiguous
    rgb = np.stack([x[1], x[2], x[3]])
    W3 = rng.standard_normal((2, 3, 3, 3))
    np.testing.assert_allclose(viz.apply_filters(rgb, W3), _correlate(rgb, W3, np.zeros(2), 1, 0),
                               atol=1e-12)
    got32 = viz.apply_filters(x[0].astype(np.float32), W.astype(np.float32), b.astype(np.float32))
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, _correlate(x[0][None], W, b, 1, 0), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="W has 3 input channels but the image has 1"):
        viz.apply_filters(x[0], W3)
    with pytest.raises(ValueError, match="one per filter"):
        viz.apply_filters(x[0], W, b=np.zeros(3))
    with pytest.raises(ValueError, match="does not fit"):
        viz.apply_filters(x[0][:4, :4], W)


def test_feature_maps_of_a_real_digit(tmp_path, digits, stroke_filters):
    x, _ = digits
    maps = viz.apply_filters(x[0], stroke_filters[:16])
    assert maps.shape == (16, 24, 24)
    fig = viz.feature_maps(maps[None], path=tmp_path / "maps.png")
    img = _png(tmp_path / "maps.png")
    _size_ok(fig, img)
    tiles = sorted(_tiles(img, fig, fig.axes[0]), key=lambda t: (t[0], t[2]))
    assert len(tiles) == 16 and len({t[0] for t in tiles}) == 4  # 4 x 4, as the book
    for tile, m in zip(tiles, maps):
        np.testing.assert_allclose(_sample(img, tile, 24, 24), _gray_r(_unit(m)), atol=2 / 255)
    assert any("16 feature maps 24x24" in t.get_text() for t in fig.texts)
    fig = viz.feature_maps(maps[:5], nx=5, cmap="viridis", path=tmp_path / "row.png")
    assert os.path.getsize(tmp_path / "row.png") > 0
    with pytest.raises(ValueError, match="hold 2 images"):
        viz.feature_maps(np.zeros((2, 3, 4, 4)))


# --------------------------------------------------------------------------- load_image

def test_load_image_png_jpeg_color_alpha_resize(tmp_path, digits):
    from PIL import Image
    x, _ = digits
    d = x[7]
    u8 = np.round(d * 255).astype(np.uint8)
    Image.fromarray(u8, "L").save(tmp_path / "g.png")
    got = viz.load_image(tmp_path / "g.png")
    assert got.dtype == np.float32 and got.shape == (28, 28)
    np.testing.assert_allclose(got, u8 / 255, atol=1e-6)

    # Color: a digit drawn in pure green, luminance 0.587 of its gray value.
    rgb = np.zeros((28, 28, 3), np.uint8)
    rgb[..., 1] = u8
    Image.fromarray(rgb, "RGB").save(tmp_path / "c.png")
    np.testing.assert_allclose(viz.load_image(tmp_path / "c.png"), 0.587 * u8 / 255, atol=1e-6)

    # Alpha: black ink on a transparent sheet reads as black on white.
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., 3] = u8
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    np.testing.assert_allclose(viz.load_image(tmp_path / "a.png"), 1 - u8 / 255, atol=1e-6)
    np.testing.assert_allclose(viz.load_image(tmp_path / "a.png", invert=True), u8 / 255,
                               atol=1e-6)

    # JPEG, through Pillow: lossy, so close, not equal.
    Image.fromarray(np.repeat(u8[..., None], 3, 2), "RGB").save(tmp_path / "d.jpg", quality=95)
    got = viz.load_image(tmp_path / "d.jpg")
    assert got.dtype == np.float32 and got.shape == (28, 28)
    assert np.abs(got - u8 / 255).mean() < 0.02

    # A 4x enlarged scan shrinks back to the 28x28 digit the networks take.
    big = np.kron(u8, np.ones((4, 4), np.uint8))
    Image.fromarray(big, "L").save(tmp_path / "big.jpg", quality=98)
    small = viz.load_image(tmp_path / "big.jpg", size=28)
    assert small.shape == (28, 28) and small.min() >= 0 and small.max() <= 1
    assert np.abs(small - u8 / 255).max() < 0.06
    assert viz.load_image(tmp_path / "g.png", size=(14, 20)).shape == (14, 20)

    with pytest.raises(FileNotFoundError, match="no image file"):
        viz.load_image(tmp_path / "missing.png")
    (tmp_path / "notimg.jpg").write_text("hello")
    with pytest.raises(ValueError, match="not an image"):
        viz.load_image(tmp_path / "notimg.jpg")


# --------------------------------------------------------------------------- curves

def _history():
    rng = np.random.default_rng(3)
    it = np.arange(600)
    loss = 2.3 * np.exp(-it / 120) + 0.05 + 0.15 * rng.random(600)
    return {"train_loss_list": loss.tolist(),
            "train_acc_list": list(np.linspace(0.85, 0.995, 10)),
            "test_acc_list": list(np.linspace(0.84, 0.985, 10))}


def _color_pixels(img, box, hex_color, tol=0.03):
    rgb = np.array([int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(img[box] - rgb).max(axis=-1) < tol).sum())


def test_learning_curves_dict_and_json(tmp_path):
    h = _history()
    fig = viz.learning_curves(h, path=tmp_path / "lc.png")
    img = _png(tmp_path / "lc.png")
    _size_ok(fig, img)
    assert img.shape[:2] == (420, 1100)
    ink = (img < 0.9).any(axis=-1).mean()
    assert ink > 0.02  # not blank
    acc_ax, loss_ax = fig.axes[:2]
    assert (acc_ax.get_xlabel(), acc_ax.get_ylabel()) == ("epoch", "accuracy")
    assert (loss_ax.get_xlabel(), loss_ax.get_ylabel()) == ("iteration", "loss")
    assert [ln.get_marker() for ln in acc_ax.lines] == ["o", "s"]
    raw, smoothed = loss_ax.lines
    np.testing.assert_allclose(smoothed.get_ydata(), smooth_curve(h["train_loss_list"]))
    # The lines are really drawn, in their panels.
    la, ll = _box(fig, acc_ax, img), _box(fig, loss_ax, img)
    assert _color_pixels(img, ll, curves._RAW_LOSS_COLOR) > 300
    assert _color_pixels(img, ll, curves._SMOOTH_LOSS_COLOR) > 300
    assert _color_pixels(img, la, curves._TRAIN_COLOR) > 100
    assert _color_pixels(img, la, curves._TEST_COLOR) > 100
    # The smoothed loss falls from the top left to the bottom right, as the data.
    mask = np.abs(img[ll] - np.array([0x1f, 0x4e, 0x9c]) / 255).max(axis=-1) < 0.03
    ys, xs = np.nonzero(mask)
    assert ys[xs < np.percentile(xs, 10)].mean() < ys[xs > np.percentile(xs, 90)].mean()

    jpath = tmp_path / "hist.json"
    jpath.write_text(json.dumps(h))
    viz.learning_curves(str(jpath), path=tmp_path / "lc2.png")
    np.testing.assert_array_equal(_png(tmp_path / "lc2.png"), img)
    fig3 = viz.learning_curves(types.SimpleNamespace(**h))  # a Trainer-like object
    assert len(fig3.axes[1].lines) == 2


def test_learning_curves_title_estimates_and_zoom(tmp_path):
    """The title gives the accuracy on the whole test set, the per-epoch points are labelled
    as the estimates they are, and the axis shows the curves, not 0..1."""
    h = dict(train_loss_list=list(np.linspace(2.3, 0.05, 50)),
             train_acc_list=[0.95, 0.975, 0.985, 0.99], test_acc_list=[0.96, 0.97, 0.98, 0.99],
             final_test_acc=0.9886,
             config={"evaluate_sample_num_per_epoch": 1000, "test_size": 10000})
    fig = viz.learning_curves(h, path=tmp_path / "lc.png")
    acc_ax = fig.axes[0]
    assert acc_ax.get_title() == "accuracy (final test 0.9886 (10,000 images))"
    labels = [t.get_text() for t in acc_ax.get_legend().get_texts()]
    assert labels == ["train", "test (estimate on 1,000 images)"]
    lo, hi = acc_ax.get_ylim()
    assert 0.9 < lo < 0.95 and 0.99 < hi <= 1.0, (lo, hi)
    _png(tmp_path / "lc.png")
    # The whole test set every epoch: no estimate; no final figure: the last point, named.
    whole = dict(h, config={"evaluate_sample_num_per_epoch": None, "test_size": 10000})
    whole.pop("final_test_acc")
    ax = viz.learning_curves(whole).axes[0]
    assert ax.get_title() == "accuracy (final test 0.9900)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "test"]
    sampled = dict(h)
    sampled.pop("final_test_acc")
    assert viz.learning_curves(sampled).axes[0].get_title() == \
        "accuracy (last test estimate 0.9900)"


def test_learning_curves_bad_history(tmp_path):
    with pytest.raises(KeyError, match="lacks test_acc_list"):
        viz.learning_curves({"train_loss_list": [1.0], "train_acc_list": [0.5]})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        viz.learning_curves(bad)
    with pytest.raises(FileNotFoundError, match="no history file"):
        viz.learning_curves(tmp_path / "none.json")
    with pytest.raises(TypeError, match="history must be"):
        viz.learning_curves(42)
    empty = {"train_loss_list": [], "train_acc_list": [], "test_acc_list": []}
    fig = viz.learning_curves(empty, path=tmp_path / "empty.png")
    assert any("no loss recorded" in t.get_text() for t in fig.axes[1].texts)


# --------------------------------------------------------------------------- mistakes

@pytest.fixture(scope="module")
def centroid_predictions(mnist_data):
    """A nearest-class-mean classifier on real MNIST: makes real mistakes (~18 %)."""
    (x_train, t_train), (x_test, t_test) = mnist_data
    x_train, x_test = x_train[:5000].astype(np.float64), x_test[:300].astype(np.float64)
    means = np.stack([x_train[t_train[:5000] == k].mean(axis=0) for k in range(10)])
    scores = -((x_test[:, None, :] - means[None]) ** 2).sum(axis=-1)
    return x_test, t_test[:300].astype(np.int64), scores


def test_misclassified_shows_the_wrong_digits(tmp_path, centroid_predictions):
    x, t, scores = centroid_predictions
    y = scores.argmax(axis=1)
    wrong = np.flatnonzero(y != t)
    assert 20 < len(wrong) < 100
    fig = viz.misclassified(x.reshape(-1, 1, 28, 28), t, scores, max_images=12,
                            path=tmp_path / "mis.png")
    img = _png(tmp_path / "mis.png")
    _size_ok(fig, img)
    assert len(fig.axes) == 12
    for ax, i in zip(fig.axes, wrong[:12]):
        assert ax.get_title() == f"true {t[i]} / pred {y[i]}"
        rs, cs = _box(fig, ax, img)
        tile = img[rs, cs, 0]
        ys = (np.arange(28) + 0.5) * tile.shape[0] / 28
        xs = (np.arange(28) + 0.5) * tile.shape[1] / 28
        seen = tile[np.ix_(ys.astype(int), xs.astype(int))]
        # gray_r: ink is dark; the tile is the digit (up to colormap quantisation). The
        # outer ring of cells is left out: the tile's frame is drawn over it.
        want = _gray_r(_unit(x[i].reshape(28, 28)))
        np.testing.assert_allclose(seen[1:-1, 1:-1], want[1:-1, 1:-1], atol=3 / 255)
    assert any(f"{len(wrong)} of 300" in t.get_text() for t in fig.texts)

    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    fig = viz.misclassified(x, np.eye(10)[t], y, class_names=names, path=tmp_path / "m2.png")
    assert len(fig.axes) == 20  # the book's 20
    i = wrong[0]
    assert fig.axes[0].get_title() == f"true {names[t[i]]}\npred {names[y[i]]}"


def test_misclassified_none_wrong_and_bad_input(tmp_path, centroid_predictions):
    x, t, _ = centroid_predictions
    fig = viz.misclassified(x[:10], t[:10], t[:10], path=tmp_path / "ok.png")
    assert len(fig.axes) == 0
    assert any("all 10 are right" in s.get_text() for s in fig.texts)
    with pytest.raises(ValueError, match="y_pred has 9 labels but there are 10 samples"):
        viz.misclassified(x[:10], t[:10], t[:9])
    with pytest.raises(ValueError, match="not square"):
        viz.misclassified(x[:10, :780], t[:10], t[:10])


def test_confusion_matrix_known_case():
    t = [0, 0, 1, 1, 1, 2, 2, 2, 2]
    y = [0, 1, 1, 1, 2, 2, 2, 0, 2]
    cm = viz.confusion_matrix(t, y, n_classes=3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 2, 1], [1, 0, 3]])
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(viz.confusion_matrix(np.eye(3)[t], np.eye(3)[y] * 5, 3), cm)
    with pytest.raises(ValueError, match="y_pred has label 3, outside 0..2"):
        viz.confusion_matrix(t, [3] * 9, n_classes=3)
    with pytest.raises(ValueError, match="8 labels but there are 9"):
        viz.confusion_matrix(t, y[:8], n_classes=3)


def test_plot_confusion_matrix_cells(tmp_path, centroid_predictions):
    x, t, scores = centroid_predictions
    cm = viz.confusion_matrix(t, scores)
    assert cm.sum() == 300 and np.trace(cm) == (scores.argmax(1) == t).sum()
    fig = viz.plot_confusion_matrix(cm, path=tmp_path / "cm.png")
    img = _png(tmp_path / "cm.png")
    _size_ok(fig, img)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted label", "true label")
    assert sorted(tx.get_text() for tx in ax.texts) == sorted(str(v) for v in cm.ravel())
    cmap = colormaps["Blues"]
    H = img.shape[0]
    for i in range(10):
        for j in range(10):
            # Sample near a cell corner, away from the number in its middle.
            px, py = ax.transData.transform((j - 0.35, i - 0.35))
            got = img[int(H - py), int(px)]
            np.testing.assert_allclose(got, cmap(cm[i, j] / cm.max())[:3], atol=3 / 255)
    assert "accuracy" in ax.get_title()
    fig = viz.plot_confusion_matrix(cm, normalize=True, class_names=list("abcdefghij"),
                                    path=tmp_path / "cmn.png")
    assert fig.axes[0].texts[0].get_text() == f"{cm[0, 0] / cm[0].sum():.2f}"
    with pytest.raises(ValueError, match="square"):
        viz.plot_confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="3 names for a 10x10"):
        viz.plot_confusion_matrix(cm, class_names=["a", "b", "c"])


# --------------------------------------------------------------------------- saving, backends

def test_formats_by_extension(tmp_path, stroke_filters):
    for ext, magic in ((".svg", b"<svg"), (".pdf", b"%PDF"), (".PNG", b"\x89PNG")):
        out = tmp_path / f"f{ext}"
        viz.filter_show(stroke_filters, path=out)
        head = out.read_bytes()[:400]
        assert magic in head, ext
    with pytest.raises(ValueError, match=r"extension '\.gif'.*\.png, \.svg, \.pdf"):
        viz.filter_show(stroke_filters, path=tmp_path / "f.gif")
    with pytest.raises(ValueError, match="no extension"):
        viz.learning_curves(_history(), path=tmp_path / "curves")


def test_unwritable_destinations(tmp_path, stroke_filters, monkeypatch):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(OSError, match="afile' is a file, not a folder"):
        viz.filter_show(stroke_filters, path=blocker / "sub" / "f.png")
    ro = tmp_path / "readonly"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if not os.access(ro, os.W_OK):  # not root
            with pytest.raises(PermissionError, match="readonly' is not writable"):
                viz.filter_show(stroke_filters, path=ro / "f.png")
    finally:
        ro.chmod(0o700)
    # Root ignores permission bits: check the same message through os.access.
    monkeypatch.setattr(_figure.os, "access", lambda p, mode: False)
    with pytest.raises(PermissionError, match="readonly' is not writable"):
        viz.filter_show(stroke_filters, path=ro / "f.png")


def test_show_without_display_warns_and_returns(monkeypatch, tmp_path, stroke_filters):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.warns(UserWarning, match="show=True ignored") as record:
        fig = viz.filter_show(stroke_filters, show=True, path=tmp_path / "f.png")
    assert record[0].filename == __file__  # blamed on the caller, not on cconv
    assert isinstance(fig, Figure) and (tmp_path / "f.png").stat().st_size > 0


def test_show_uses_pyplot_when_a_window_can_open(monkeypatch, tmp_path):
    made, shown = [], []

    def figure(**kw):
        fig = Figure(**kw)
        made.append(fig)
        return fig

    fake = types.SimpleNamespace(figure=figure, show=lambda: shown.append(True))
    monkeypatch.setattr(_figure, "_showable_pyplot", lambda: fake)
    fig = viz.learning_curves(_history(), show=True, path=tmp_path / "lc.png")
    assert made == [fig] and shown == [True]
    assert (tmp_path / "lc.png").stat().st_size > 0  # saved before the (blocking) show


def test_user_backend_is_left_alone(tmp_path):
    """Importing and drawing never import pyplot; a user's backend survives show=False."""
    code = textwrap.dedent(f"""
        import sys, warnings
        import numpy as np
        from cconv import visualize as viz
        f = np.random.default_rng(0).standard_normal((8, 1, 3, 3))
        viz.filter_show(f, path={str(tmp_path / 'a.png')!r})
        assert "matplotlib.pyplot" not in sys.modules, "pyplot imported"
        import matplotlib
        matplotlib.use("svg")
        import matplotlib.pyplot as plt
        viz.filter_show(f, path={str(tmp_path / 'b.png')!r})
        assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            viz.filter_show(f, show=True)
        assert any("cannot open windows" in str(x.message) for x in w), [str(x.message) for x in w]
        assert matplotlib.get_backend() == "svg"
        print("ok")
    """)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    assert imread(tmp_path / "b.png").shape[2] in (3, 4)
