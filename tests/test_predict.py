"""Your own digit: MNIST-style preprocessing, network.predict_image and its figure.

The test pictures are made here: real MNIST test digits enlarged and pasted off centre
on larger canvases (light on dark and dark on light, as PNG and JPEG), and digits drawn
with matplotlib lines and text. A SimpleConvNet trained for one epoch on real MNIST
(about 96 % on the test set) must name them.
"""
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imread
from PIL import Image

from cconv.predict import Prediction, plot_prediction
from cconv.preprocess import load_gray, to_mnist
from cconv.simple_convnet import SimpleConvNet
from cconv.trainer import Trainer


@pytest.fixture(scope="session")
def digit_net(mnist_data_4d):
    (x, t), (xt, tt) = mnist_data_4d
    net = SimpleConvNet(dtype=np.float32, rng=0)
    Trainer(net, x, t, xt[:500], tt[:500], epochs=1, optimizer='Adam',
            optimizer_param={'lr': 0.001}, verbose=False, seed=0).train()
    assert net.accuracy(xt[:2000], tt[:2000]) > 0.95
    return net


def _canvas(digit, scale, shape, at, dark_on_light):
    big = np.asarray(Image.fromarray((digit * 255).astype(np.uint8)).resize(
        (28 * scale, 28 * scale), Image.BILINEAR))
    c = np.zeros(shape, np.uint8)
    y, x = at
    c[y:y + big.shape[0], x:x + big.shape[1]] = big
    return 255 - c if dark_on_light else c


def test_mnist_digits_pass_through_nearly_unchanged(mnist_data_4d):
    _, (xt, _) = mnist_data_4d
    diffs = [np.abs(to_mnist(xt[i, 0]) - xt[i, 0]).mean() for i in range(300)]
    assert np.mean(diffs) < 0.002, np.mean(diffs)


def test_output_is_mnist_like(mnist_data_4d):
    _, (xt, _) = mnist_data_4d
    img = to_mnist(_canvas(xt[3, 0], 5, (400, 300), (210, 5), dark_on_light=True))
    assert img.shape == (28, 28) and img.dtype == np.float32
    assert img.min() == 0.0 and img.max() == 1.0
    assert img[0].max() == 0 and img[:, 0].max() == 0      # background black at the border
    rows, cols = np.nonzero(img)
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 <= 21  # the 20x20 box
    h = np.arange(28)
    cy = (img.sum(1) * h).sum() / img.sum()
    cx = (img.sum(0) * h).sum() / img.sum()
    assert abs(cy - 14) <= 0.6 and abs(cx - 14) <= 0.6      # centred by mass, as MNIST


@pytest.mark.parametrize("dark_on_light", [False, True], ids=["light-on-dark", "dark-on-light"])
def test_off_centre_digits_on_large_canvases_get_their_class(digit_net, mnist_data_4d,
                                                               dark_on_light):
    _, (xt, tt) = mnist_data_4d
    rng = np.random.default_rng(1)
    right = 0
    for i in range(60):
        scale = int(rng.integers(2, 6))
        H, W = 28 * scale + int(rng.integers(20, 200)), 28 * scale + int(rng.integers(20, 200))
        at = (int(rng.integers(0, H - 28 * scale)), int(rng.integers(0, W - 28 * scale)))
        canvas = _canvas(xt[i, 0], scale, (H, W), at, dark_on_light)
        right += digit_net.predict_image(canvas).label == tt[i]
    # the network's own accuracy on these 60 untouched digits is 59/60
    assert right >= 57, right


def test_picture_files_png_and_jpeg_rgb(digit_net, mnist_data_4d, tmp_path):
    _, (xt, tt) = mnist_data_4d
    for i, (suffix, dark) in enumerate([(".png", True), (".jpg", False), (".png", False)]):
        gray = _canvas(xt[i, 0], 4, (200, 260), (60, 130), dark)
        rgb = np.stack([gray, gray, gray], axis=2)
        path = tmp_path / f"digit{i}{suffix}"
        Image.fromarray(rgb).save(path)
        p = digit_net.predict_image(path)
        assert p.label == tt[i] and p.source == str(path), p
        assert p.probabilities.shape == (10,) and abs(p.probabilities.sum() - 1) < 1e-6


def _drawn(path, draw, size=(3, 3), dpi=80):
    fig = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    draw(ax)
    fig.savefig(path)
    return path


def test_digits_drawn_with_lines_and_text(digit_net, tmp_path):
    thick = dict(color="black", linewidth=14, solid_capstyle="round")
    thin = dict(color="black", linewidth=2)          # a thin pen: strokes get thickened
    cases = {
        7: lambda ax: ax.plot([0.2, 0.6, 0.35], [0.75, 0.75, 0.1], **thick),
        1: lambda ax: ax.plot([0.75, 0.75], [0.15, 0.85], **thick),
        4: lambda ax: (ax.plot([0.55, 0.25, 0.75], [0.85, 0.4, 0.4], **thin),
                       ax.plot([0.6, 0.6], [0.7, 0.1], **thin)),
        0: lambda ax: ax.add_patch(__import__("matplotlib.patches").patches.Ellipse(
            (0.4, 0.55), 0.35, 0.6, fill=False, linewidth=14)),
        3: lambda ax: ax.text(0.3, 0.5, "3", fontsize=90, ha="center", va="center"),
        8: lambda ax: ax.text(0.7, 0.4, "8", fontsize=60, ha="center", va="center"),
    }
    for want, draw in cases.items():
        p = digit_net.predict_image(_drawn(tmp_path / f"drawn{want}.png", draw))
        assert p.label == want, (want, p.format())


def test_prediction_object_and_its_figure(digit_net, mnist_data_4d, tmp_path):
    _, (xt, tt) = mnist_data_4d
    p = digit_net.predict_image(xt[0, 0])
    assert isinstance(p, Prediction) and p.source == "<array>"
    top = p.top(3)
    assert [c for c, _ in top][0] == p.label == tt[0]
    assert top[0][1] >= top[1][1] >= top[2][1]
    assert p.format().startswith(f"<array>: {tt[0]}  ({tt[0]} ")
    fig = plot_prediction([p, digit_net.predict_image(xt[1, 0])], path=tmp_path / "p.png")
    img = imread(tmp_path / "p.png")
    assert img.shape[0] >= 300 and img.shape[1] >= 500
    # the left panel of the first row is the 28x28 input: a white digit on black
    ax = fig.axes[0]
    shown = ax.get_images()[0].get_array()
    assert np.array_equal(np.asarray(shown), p.image)
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == [str(k) for k in range(10)]
    bars = fig.axes[1].patches
    assert np.allclose([b.get_height() for b in bars], p.probabilities)


def test_bad_pictures_are_refused_clearly(digit_net, tmp_path):
    with pytest.raises(ValueError, match="no digit found"):
        to_mnist(np.full((50, 50), 200, np.uint8))
    with pytest.raises(ValueError, match="no digit found"):
        to_mnist(np.zeros((50, 50)))
    with pytest.raises(ValueError, match="negative"):
        to_mnist(-np.ones((10, 10)))
    with pytest.raises(ValueError, match="NaN"):
        to_mnist(np.full((10, 10), np.nan))
    with pytest.raises(ValueError, match="shape"):
        to_mnist(np.zeros((2, 3, 4, 5)))
    with pytest.raises(TypeError, match="dtype"):
        to_mnist(np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(FileNotFoundError):
        digit_net.predict_image(tmp_path / "missing.png")
    (tmp_path / "not.jpg").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="not an image"):
        digit_net.predict_image(tmp_path / "not.jpg")
    with pytest.raises(ValueError, match="3-channel"):
        SimpleConvNet(input_dim=(3, 28, 28)).predict_image(np.eye(28))


def test_invert_can_be_forced(mnist_data_4d):
    _, (xt, _) = mnist_data_4d
    d = xt[0, 0]
    assert np.allclose(to_mnist(d, invert=False), to_mnist(1 - d, invert=True), atol=1e-6)
    assert np.allclose(to_mnist(1 - d), to_mnist(d), atol=1e-6)
    g = load_gray((d * 255).astype(np.uint8))
    assert g.dtype == np.float64 and np.allclose(g, d, atol=1 / 255)


# ----------------------------------------------------------------- cconv predict

@pytest.fixture(scope="session")
def digit_params(digit_net, tmp_path_factory):
    path = tmp_path_factory.mktemp("predict") / "params.npz"
    digit_net.save_params(path)
    return path


def test_cli_predict_prints_class_and_top3_and_draws(digit_params, mnist_data_4d, tmp_path,
                                                     capsys):
    from cconv.cli import main
    _, (xt, tt) = mnist_data_4d
    files = []
    for i, dark in enumerate([True, False, True, False]):      # both polarities, off centre
        path = tmp_path / f"mine{i}.png"
        Image.fromarray(_canvas(xt[10 + i, 0], 6, (400, 480), (20 + 60 * i, 300 - 80 * i),
                                dark)).save(path)
        files.append(path)
    drawn = _drawn(tmp_path / "seven.png", lambda ax: ax.plot(
        [0.15, 0.55, 0.3], [0.9, 0.9, 0.3], color="navy", linewidth=12))
    out = tmp_path / "shown" / "pred.png"
    assert main(["predict", str(digit_params), *map(str, files), str(drawn),
                 "--show", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6 and lines[-1] == f"wrote {out}"
    want = [int(tt[10 + i]) for i in range(4)] + [7]
    for line, path, label in zip(lines, files + [drawn], want):
        m = __import__("re").fullmatch(
            rf"{__import__('re').escape(str(path))}: (\d)  \((\d) (\d+\.\d)%, (\d) (\d+\.\d)%,"
            r" (\d) (\d+\.\d)%\)", line)
        assert m, line
        assert int(m.group(1)) == int(m.group(2)) == label, line
        p = [float(m.group(k)) for k in (3, 5, 7)]
        assert p == sorted(p, reverse=True) and sum(p) <= 100.05
    img = imread(out)
    assert img.shape[0] >= 5 * 200 and img.shape[1] >= 600     # a row per picture
    gray = img[..., :3].mean(axis=2)
    assert (gray < 0.1).mean() > 0.05                          # the black input panels


def test_cli_predict_user_mistakes_are_one_line(digit_params, tmp_path):
    import subprocess
    import sys
    (tmp_path / "blank.png").write_bytes(b"")
    Image.fromarray(np.full((40, 40), 255, np.uint8)).save(tmp_path / "white.png")
    cases = [([str(tmp_path / "missing.png")], "no image file at"),
             ([str(tmp_path / "blank.png")], "not an image"),
             ([str(tmp_path / "white.png")], "no digit found"),
             ([str(tmp_path / "white.png"), "--show", str(tmp_path / "x.txt")], "--show"),
             ([str(tmp_path / "white.png"), "--top", "0"], "--top")]
    for extra, msg in cases:
        proc = subprocess.run([sys.executable, "-m", "cconv", "predict", str(digit_params),
                               *extra], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, (extra, proc.stderr)
        assert proc.stderr.count("\n") == 1 and msg in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "cconv", "predict", str(tmp_path / "no.npz"),
                           str(tmp_path / "white.png")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "no params file" in proc.stderr
