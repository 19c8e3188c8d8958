"""Issue 17: receptive fields, top patches, activation maximisation, saliency, pictures.

Receptive fields are checked against values computed by hand and against the network
itself (pixels outside a field never change the unit). Top patches are recomputed
independently, one image at a time. Gradients are compared with central differences.
Pictures are written, read back and their tiles found from the pixels (the gaps between
tiles have the gap colour).
"""
import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.image import imread

from cconv.networks import NETWORKS, AlexNet, DeepConvNet, LeNet, SimpleConvNet
from cconv.viz import _grid
from cconv.viz.hierarchy import (conv_layers, cut_patch, hierarchy, maximize_activation,
                                 top_patches)
from cconv.viz.receptive import POINTWISE, layer_window, receptive_field, receptive_fields
from cconv.viz.saliency import class_gradients, saliency, saliency_figure
from cconv.viz._backprop import input_gradient, input_gradients

DTYPES = ("float32", "float64")


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def test_images(mnist_data_4d):
    (_, _), (x, t) = mnist_data_4d
    return np.asarray(x[:1500]), np.asarray(t[:1500]).astype(np.int64)


@pytest.fixture(scope="module")
def trained_simple(mnist_data_4d):
    """A SimpleConvNet after 150 Adam steps on real MNIST (about 90% right)."""
    from cconv.optimizer import Adam
    (x, t), (xt, tt) = mnist_data_4d
    net = SimpleConvNet(dtype="float32", rng=0)
    opt = Adam(lr=0.002)
    g = np.random.default_rng(0)
    for _ in range(150):
        i = g.integers(0, len(x), 100)
        opt.update(net.params, net.gradient(x[i], t[i]))
    assert net.accuracy(xt[:1000], tt[:1000]) > 0.85
    return net


# --------------------------------------------------------------------------- receptive fields

# (layer, size, jump, start) worked out by hand from each network's layer list:
# r' = r + (k - 1) j, j' = j s, a' = a - p j.
HAND = {
    "simple": [("Conv1", 5, 1, 0), ("Relu1", 5, 1, 0), ("Pool1", 6, 2, 0)],
    "deep": [("Conv1", 3, 1, -1), ("Conv2", 5, 1, -2), ("Pool1", 6, 2, -2),
             ("Conv3", 10, 2, -4), ("Conv4", 14, 2, -8), ("Pool2", 16, 4, -8),
             ("Conv5", 24, 4, -12), ("Conv6", 32, 4, -16), ("Relu6", 32, 4, -16),
             ("Pool3", 36, 8, -16)],
    "lenet": [("Normalize", 1, 1, 0), ("Conv1", 5, 1, -2), ("Pool1", 6, 2, -2),
              ("Conv2", 14, 2, -2), ("Pool2", 16, 4, -2)],
    "alexnet": [("Conv1", 3, 1, -1), ("LRN1", 3, 1, -1), ("Pool1", 5, 2, -2),
                ("Conv2", 9, 2, -4), ("Pool2", 13, 4, -6), ("Conv3", 21, 4, -10),
                ("Conv4", 29, 4, -14), ("Conv5", 37, 4, -18), ("Pool3", 45, 8, -22)],
}
SHAPES = {
    "simple": {"Conv1": (30, 24, 24), "Pool1": (30, 12, 12), "Affine2": (10,)},
    "deep": {"Conv4": (32, 16, 16), "Pool2": (32, 8, 8), "Pool3": (64, 4, 4),
             "Dropout2": (10,)},
    "lenet": {"Conv2": (16, 10, 10), "Pool2": (16, 5, 5), "Affine3": (10,)},
    "alexnet": {"Pool1": (32, 14, 14), "Pool3": (64, 4, 4), "Affine3": (10,)},
}


@pytest.mark.parametrize("name", list(NETWORKS))
def test_receptive_fields_by_hand(name):
    net = NETWORKS[name](dtype="float32", rng=0)
    fields = receptive_fields(net)
    assert list(fields) == list(net.layers)
    for layer, r, j, a in HAND[name]:
        f = fields[layer]
        assert (f.size, f.jump, f.start, f.spatial) == ((r, r), (j, j), (a, a), True), layer
    for layer, shape in SHAPES[name].items():
        assert fields[layer].out_shape == shape
    # from the first affine layer on, a unit sees the whole image
    first = next(n for n, lay in net.layers.items() if layer_window(lay) is None)
    after = list(fields)[list(fields).index(first):]
    assert all(not fields[n].spatial and fields[n].size == (28, 28) for n in after)
    assert fields[first].box(0, 0) == (0, 0, 28, 28)


def test_receptive_field_boxes_and_other_geometry():
    net = SimpleConvNet(conv_param={"filter_num": 4, "filter_size": 3, "pad": 1,
                                    "stride": 2}, hidden_size=8, rng=0)
    f = receptive_field(net, "Pool1")      # conv 3/2 pad 1 (14x14), then pool 2/2 (7x7)
    assert (f.size, f.jump, f.start, f.out_shape) == ((5, 5), (4, 4), (-1, -1), (4, 7, 7))
    assert f.box(0, 0) == (-1, -1, 4, 4)
    assert f.clip(0, 0) == (0, 0, 4, 4)
    assert f.box(6, 2) == (23, 7, 28, 12)
    assert f.center() == (3, 3)
    with pytest.raises(IndexError, match="outside"):
        f.box(7, 0)
    with pytest.raises(KeyError, match="no layer 'Conv9'"):
        receptive_field(net, "Conv9")


def test_a_layer_of_unknown_geometry_is_refused():
    net = SimpleConvNet(hidden_size=8, rng=0)

    class Crop:                              # changes the map size, says nothing of it
        def forward(self, x):
            return x[:, :, 1:, 1:]
    layers = list(net.layers.items())
    net.layers.clear()
    net.layers.update([layers[0], ("Crop", Crop())] + layers[1:])
    with pytest.raises(ValueError, match="'Crop'.*cannot tell its receptive field"):
        receptive_fields(net)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_pixels_outside_a_field_never_reach_its_unit(name, test_images):
    """The field is exact: noise outside it leaves the unit alone, noise inside moves it."""
    net = NETWORKS[name](dtype="float64", rng=1)
    x0 = test_images[0][:1].astype(np.float64)
    g = np.random.default_rng(2)
    for layer, f in receptive_fields(net).items():
        if not f.spatial or layer_window(net.layers[layer]) == POINTWISE:
            continue
        oh, ow = f.positions
        for i, j in {(0, 0), (oh - 1, ow - 1), f.center(), (g.integers(oh), g.integers(ow))}:
            t, l, b, r = f.clip(i, j)
            inside = np.zeros(x0.shape, bool)
            inside[..., t:b, l:r] = True
            noise = g.random(x0.shape)
            before = net.forward_until(x0, layer)[0, :, i, j]
            outside = net.forward_until(np.where(inside, x0, noise), layer)[0, :, i, j]
            np.testing.assert_array_equal(outside, before, err_msg=f"{layer} ({i}, {j})")
            moved = net.forward_until(np.where(inside, noise, x0), layer)[0, :, i, j]
            assert np.abs(moved - before).max() > 0, (layer, i, j)
            for edge in ((slice(t, t + 1), slice(l, r)), (slice(b - 1, b), slice(l, r)),
                         (slice(t, b), slice(l, l + 1)), (slice(t, b), slice(r - 1, r))):
                only = np.zeros(x0.shape, bool)       # the field is no larger than it is:
                only[(..., *edge)] = True             # each of its border lines counts
                hit = net.forward_until(np.where(only, noise + 1, x0), layer)[0, :, i, j]
                assert np.abs(hit - before).max() > 0, (layer, i, j, edge)


# --------------------------------------------------------------------------- top patches

def test_top_patches_are_the_highest_activations(trained_simple, test_images):
    net = trained_simple
    x = test_images[0][:1000]
    layers = ["Conv1", "Pool1", "Affine2"]
    tops = top_patches(net, x, layers, k=5, batch_size=300, progress=False)
    g = np.random.default_rng(0)
    for layer in layers:
        tp = tops[layer]
        assert tp.values.shape == (tp.field.out_shape[0], 5) and tp.n_images == 1000
        assert np.all(np.diff(tp.values, axis=1) <= 0)
        # brute force over the whole set at once, a different batch split
        full = net.forward_until(x, layer).astype(np.float64)
        per_image = full.reshape(len(x), full.shape[1], -1).max(axis=2).T   # (F, N)
        np.testing.assert_allclose(tp.values, -np.sort(-per_image, axis=1)[:, :5],
                                   rtol=1e-5, atol=1e-6)
        for f in g.choice(len(tp.values), size=min(6, len(tp.values)), replace=False):
            idx = tp.indices[f]
            assert len(set(idx.tolist())) == 5
            for v, n, (i, j) in zip(tp.values[f], idx, tp.positions[f]):
                one = np.asarray(net.forward_until(x[n:n + 1], layer)[0, f],
                                 dtype=np.float64).reshape(-1)
                assert one[i * tp.field.positions[1] + j] == pytest.approx(v, rel=1e-5,
                                                                           abs=1e-6)
                assert one.max() == pytest.approx(v, rel=1e-5, abs=1e-6)
            others = np.setdiff1d(np.arange(len(x)), idx)
            sample = g.choice(others, 60, replace=False)
            act = net.forward_until(x[sample], layer).astype(np.float64)
            peak = act[:, f].reshape(len(sample), -1).max(axis=1)
            assert np.all(peak <= tp.values[f, -1] + 1e-6)


def test_top_patches_batch_split_does_not_matter_and_patches_are_cut_right(
        trained_simple, test_images):
    net = trained_simple
    x = test_images[0][:300]
    a = top_patches(net, x, ["Pool1"], k=4, batch_size=300, progress=False)["Pool1"]
    b = top_patches(net, x, ["Pool1"], k=4, batch_size=7, progress=False)["Pool1"]
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.positions, b.positions)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-6)
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (10, 10), (10, 10)),
                    constant_values=np.nan)
    for f in (0, 7, 29):
        patches = a.patches(x, f)
        assert patches.shape == (4, 1, 6, 6)
        for p, n, (t, l, bt, r) in zip(patches, a.indices[f], a.boxes(f)):
            np.testing.assert_array_equal(p, padded[n, :, t + 10:bt + 10, l + 10:r + 10])


def test_cut_patch_at_the_borders():
    img = np.arange(16.0).reshape(1, 4, 4)
    p = cut_patch(img, (-1, 2, 2, 5))
    assert p.shape == (1, 3, 3)
    assert np.isnan(p[0, 0]).all() and np.isnan(p[0, :, 2]).all()
    np.testing.assert_array_equal(p[0, 1:, :2], [[2, 3], [6, 7]])
    assert np.isnan(cut_patch(img, (5, 5, 7, 7))).all()


def test_top_patches_progress_bar_and_bad_input(trained_simple, test_images, capsys):
    x = test_images[0][:200]
    top_patches(trained_simple, x, "Conv1", k=3, batch_size=64, progress=True)
    err = capsys.readouterr().err
    assert "top patches" in err and "200/200" in err
    top_patches(trained_simple, x, "Conv1", k=3, progress=False)
    assert capsys.readouterr().err == ""
    with pytest.raises(KeyError, match="no layer 'Conv7'"):
        top_patches(trained_simple, x, ["Conv7"], progress=False)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        top_patches(trained_simple, x[:, 0], "Conv1", progress=False)
    with pytest.raises(ValueError, match="k must be"):
        top_patches(trained_simple, x, "Conv1", k=0, progress=False)


# --------------------------------------------------------------------------- gradients

SMALL = {
    "simple": lambda dt: SimpleConvNet(input_dim=(1, 10, 10), hidden_size=6,
                                       conv_param={"filter_num": 3, "filter_size": 3,
                                                   "pad": 1, "stride": 1},
                                       dtype=dt, rng=3),
    "deep": lambda dt: DeepConvNet(input_dim=(1, 8, 8), hidden_size=6, dtype=dt, rng=3,
                                   conv_param_1=dict(filter_num=2, filter_size=3, pad=1,
                                                     stride=1),
                                   conv_param_2=dict(filter_num=2, filter_size=3, pad=1,
                                                     stride=1)),
    "lenet": lambda dt: LeNet(input_dim=(1, 12, 12), hidden_sizes=(6, 5), dtype=dt, rng=3),
    "alexnet": lambda dt: AlexNet(input_dim=(1, 8, 8), channels=(3, 3, 3, 3, 3),
                                  hidden_sizes=(6, 6), dtype=dt, rng=3),
}


def _numeric_grad(fn, x, h=1e-5):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        up = fn(x)
        x[i] = old - h
        down = fn(x)
        x[i] = old
        g[i] = (up - down) / (2 * h)
    return g


@pytest.mark.parametrize("name", list(NETWORKS))
def test_saliency_is_the_numerical_input_gradient(name):
    net = SMALL[name]("float64")
    for layer in net.layers.values():               # biases off zero: ReLU kinks move
        if hasattr(layer, "b"):
            layer.b += np.random.default_rng(4).normal(0, 0.1, layer.b.shape)
    C, H, W = net.config["input_dim"]
    x = np.random.default_rng(5).random((2, C, H, W))
    classes = [3, 7]
    scores, grad = class_gradients(net, x, classes)
    np.testing.assert_allclose(scores, net.predict(x), rtol=1e-12)
    for n, k in enumerate(classes):
        num = _numeric_grad(lambda z: net.predict(z[None])[0, k], x[n].copy())
        np.testing.assert_allclose(grad[n], num, rtol=1e-5, atol=1e-8)
    # a hidden unit too (what activation maximisation climbs)
    conv = conv_layers(net)[-1]
    f = receptive_field(net, conv)
    ci, cj = f.center()

    def seed(out):
        d = np.zeros_like(out)
        d[:, 1, ci, cj] = 1
        return d
    _, g = input_gradient(net, x[:1], conv, seed)
    num = _numeric_grad(lambda z: net.forward_until(z[None], conv)[0, 1, ci, cj],
                        x[0].copy())
    np.testing.assert_allclose(g[0], num, rtol=1e-5, atol=1e-8)


def test_input_gradients_restores_need_dx():
    net = DeepConvNet(rng=0)
    assert net.layers["Conv1"].need_dx is False
    with pytest.raises(RuntimeError):
        with input_gradients(net):
            assert net.layers["Conv1"].need_dx is True
            raise RuntimeError("inside")
    assert net.layers["Conv1"].need_dx is False
    assert all(net.layers[f"Conv{i}"].need_dx for i in range(2, 7))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(NETWORKS))
def test_gradient_ascent_raises_the_target(name, dtype):
    net = NETWORKS[name](dtype=dtype, rng=0)
    layers = conv_layers(net)
    for layer in (layers[0], layers[-1], list(net.layers)[-1]):
        x, start, end = maximize_activation(net, layer, [0, 1, 2], steps=25, rng=1)
        assert x.dtype == np.dtype(dtype) and x.shape == (3, 1, 28, 28)
        assert x.min() >= 0 and x.max() <= 1
        assert np.all(end > start + 1e-3), (layer, start, end)
    assert net.layers["Conv1"].need_dx is False


def test_maximised_class_inputs_are_classified_as_that_class(trained_simple):
    x, start, end = maximize_activation(trained_simple, "Affine2", list(range(10)),
                                        steps=120, rng=0)
    assert np.all(end > start)
    assert (trained_simple.predict(x).argmax(axis=1) == np.arange(10)).mean() >= 0.9


def test_maximize_bad_input(trained_simple):
    with pytest.raises(ValueError, match=r"units must be in 0..29"):
        maximize_activation(trained_simple, "Conv1", [30])
    with pytest.raises(ValueError, match="pixel_range"):
        maximize_activation(trained_simple, "Conv1", [0], pixel_range=(1, 0))
    with pytest.raises(KeyError):
        maximize_activation(trained_simple, "Nope", [0])
    with pytest.raises(ValueError, match="lr must be > 0"):
        maximize_activation(trained_simple, "Conv1", [0], lr=0)
    with pytest.raises(TypeError, match="steps must be an int"):
        maximize_activation(trained_simple, "Conv1", [0], steps="9")


def test_saliency_compares_prediction_and_label(trained_simple, test_images):
    x, t = test_images
    pred = trained_simple.predict(x).argmax(axis=1)
    wrong = int(np.flatnonzero(pred != t)[0])
    s = saliency(trained_simple, x[wrong], t[wrong])
    assert (s.pred, s.true, s.true_is_label) == (pred[wrong], t[wrong], True)
    _, g = class_gradients(trained_simple, x[wrong:wrong + 1], [t[wrong]])
    np.testing.assert_allclose(s.grad_true, g[0], rtol=1e-4, atol=1e-7)   # float32, batch 2 vs 1
    np.testing.assert_allclose(s.input_x_grad_pred, s.image * s.grad_pred)
    right = int(np.flatnonzero(pred == t)[0])
    s = saliency(trained_simple, x[right], t[right])
    assert s.pred == t[right] and not s.true_is_label
    assert s.true == int(np.argsort(-s.scores)[1])        # the runner-up
    assert s.probs.sum() == pytest.approx(1)


# --------------------------------------------------------------------------- pictures

GAP = np.array(to_rgb(_grid._GAP_COLOR))


def _png(path):
    img = imread(path)
    return img[..., :3].astype(np.float64)


def _runs(mask):
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def _grid_tiles(img, fig, ax):
    """Tile rows and columns found in an axes from the pixels: runs of non-gap colour."""
    x0, y0, x1, y1 = ax.get_window_extent().extents
    H = img.shape[0]
    sub = img[int(round(H - y1)):int(round(H - y0)), int(round(x0)):int(round(x1))]
    gap = np.abs(sub - GAP).max(axis=2) < 0.02
    rows = _runs(~gap.all(axis=1))
    cols = _runs(~gap.all(axis=0))
    assert gap[:, 0].all() and gap[0].all(), "the grid has a gap-coloured frame"
    return sub, rows, cols


def _check_size(fig, img):
    w, h = fig.get_size_inches() * fig.dpi
    assert img.shape[:2] == (round(h), round(w))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(NETWORKS))
def test_hierarchy_picture_of_every_network(name, dtype, test_images, tmp_path):
    net = NETWORKS[name](dtype=dtype, rng=0)
    x = test_images[0][:200]
    out = tmp_path / f"{name}.png"
    fig = hierarchy(net, x, k=3, n_filters=2, steps=5, progress=False, path=out)
    img = _png(out)
    _check_size(fig, img)
    convs = conv_layers(net)
    assert [b[0] for b in fig.cconv_blocks] == convs
    assert len(fig.axes) == len(convs)
    for ax in fig.axes:
        sub, rows, cols = _grid_tiles(img, fig, ax)
        assert len(rows) == 2 and len(cols) == 4            # 2 filters x (3 patches + 1)
        gaps = [cols[i + 1][0] - cols[i][1] for i in range(3)]
        assert gaps[2] > gaps[0] == gaps[1]                 # the maximised input set apart
        for r0, r1 in rows:
            for c0, c1 in cols:
                tile = sub[r0:r1, c0:c1]
                assert tile.std() > 0.02, "a blank tile"


def test_hierarchy_tiles_show_the_patches(trained_simple, test_images, tmp_path):
    from matplotlib import colormaps
    net = trained_simple
    x = test_images[0][:500]
    out = tmp_path / "h.png"
    fig = hierarchy(net, x, ["Conv1", "Affine2"], k=4, n_filters=3, steps=20,
                    progress=False, path=out, tile_px=40)
    img = _png(out)
    _check_size(fig, img)
    assert fig.cconv_blocks == [("Conv1", 3, 5), ("Affine2", 3, 5)]
    tops = top_patches(net, x, ["Conv1", "Affine2"], k=4, progress=False)
    for ax, layer in zip(fig.axes, ["Conv1", "Affine2"]):
        sub, rows, cols = _grid_tiles(img, fig, ax)
        assert (len(rows), len(cols)) == (3, 5)
        tp = tops[layer]
        f = int(np.argsort(-tp.values.mean(axis=1), kind="stable")[0])  # first row
        patch = tp.patches(x, f)[0, 0]
        (r0, r1), (c0, c1) = rows[0], cols[0]
        h, w = patch.shape
        ys = (r0 + (np.arange(h) + 0.5) * (r1 - r0) / h).astype(int)
        xs = (c0 + (np.arange(w) + 0.5) * (c1 - c0) / w).astype(int)
        seen = sub[np.ix_(ys, xs)]
        want = colormaps["gray_r"](np.clip(patch, 0, 1))[..., :3]
        np.testing.assert_allclose(seen, want, atol=0.02)


def test_hierarchy_marks_padding(tmp_path, test_images):
    net = DeepConvNet(dtype="float32", rng=0)
    out = tmp_path / "p.png"
    fig = hierarchy(net, test_images[0][:100], ["Conv6"], k=2, n_filters=1, steps=2,
                    progress=False, path=out)
    img = _png(out)
    beige = np.abs(img - np.array(to_rgb(_grid.OUTSIDE_COLOR))).max(axis=2) < 0.02
    # a 32x32 field on a 28x28 image: at least 4 rows of each tile are padding
    assert beige.sum() >= 3 * 4 * 28 * (fig.cconv_blocks[0][2] - 1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(NETWORKS))
def test_saliency_picture(name, dtype, test_images, tmp_path):
    net = NETWORKS[name](dtype=dtype, rng=0)
    x, t = test_images
    out = tmp_path / "s.png"
    fig = saliency_figure(net, x[3], t[3], path=out)
    img = _png(out)
    _check_size(fig, img)
    sub, rows, cols = _grid_tiles(img, fig, fig.axes[0])
    assert len(rows) == 1 and len(cols) == 6
    tiles = [sub[rows[0][0]:rows[0][1], c0:c1] for c0, c1 in cols]
    assert all(tile.std() > 0.02 for tile in tiles)
    # the digit is drawn in grays; the evidence tiles are coloured (red and blue)
    assert np.ptp(tiles[0], axis=2).max() < 0.02
    for tile in tiles[1:]:
        red = (tile[..., 0] - tile[..., 2]) > 0.15
        blue = (tile[..., 2] - tile[..., 0]) > 0.15
        assert red.any() or blue.any()


# --------------------------------------------------------------------------- CLI

@pytest.fixture(scope="module")
def params_file(trained_simple, tmp_path_factory):
    p = tmp_path_factory.mktemp("run") / "params.npz"
    trained_simple.save_params(str(p))
    return p


def _cli(argv, capsys):
    from cconv.cli import main
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:           # argparse's own usage errors
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_show_hierarchy(params_file, datasets_dir, tmp_path, capsys):
    out = tmp_path / "h.png"
    rc, stdout, err = _cli(["show", "hierarchy", params_file, "--layers", "Conv1,Affine2",
                            "--k", 3, "--filters", 2, "--steps", 5, "--test-size", 300,
                            "--data-dir", datasets_dir, "--out", out], capsys)
    assert rc == 0, err
    assert f"wrote {out}" in stdout and "top patches" in err
    img = _png(out)
    assert img.shape[0] > 100 and img.std() > 0.05
    rc, stdout, _ = _cli(["show", "hierarchy", params_file, "--test-size", 100, "--steps",
                          2, "--no-progress", "--data-dir", datasets_dir], capsys)
    assert rc == 0 and (params_file.parent / "hierarchy.png").is_file()


def test_cli_show_saliency(params_file, datasets_dir, tmp_path, capsys, test_images):
    rc, stdout, err = _cli(["show", "saliency", params_file, "--data-dir", datasets_dir,
                            "--out", tmp_path / "a.png"], capsys)
    assert rc == 0, err
    assert "the first misclassified one" in stdout
    rc, stdout, err = _cli(["show", "saliency", params_file, "--index", 5, "--data-dir",
                            datasets_dir], capsys)
    assert rc == 0 and (params_file.parent / "saliency-5.png").is_file()
    from PIL import Image
    digit = (255 - 255 * np.asarray(test_images[0][7, 0])).astype(np.uint8)  # dark on white
    Image.fromarray(digit).save(tmp_path / "d.png")
    rc, _, err = _cli(["show", "saliency", params_file, "--image", tmp_path / "d.png",
                       "--label", 3, "--out", tmp_path / "b.png"], capsys)
    assert rc == 0, err
    assert _png(tmp_path / "b.png").std() > 0.05


@pytest.mark.parametrize("argv, message", [
    (["hierarchy", "{p}", "--layers", "Conv1,Nope"], "has no layer 'Nope'"),
    (["hierarchy", "{p}", "--layers", ","], "no layer names"),
    (["hierarchy", "{p}", "--out", "x.txt"], "must end in .png"),
    (["hierarchy", "missing.npz"], "no params file"),
    (["hierarchy", "{p}", "--k", "0"], "must be > 0"),
    (["saliency", "{p}", "--index", "10000"], "outside the test set"),
    (["saliency", "{p}", "--label", "3"], "--label goes with --image"),
    (["saliency", "{p}", "--image", "nothing.png"], "--image"),
    (["saliency", "{p}", "--index", "1", "--image", "x.png"], "not allowed with"),
])
def test_cli_errors_without_traceback(argv, message, params_file, datasets_dir, tmp_path,
                                      capsys):
    argv = ["show"] + [a.format(p=params_file) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "o.png")]
    rc, _, err = _cli(argv + ["--data-dir", str(datasets_dir)], capsys)
    assert rc == 2
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()
