"""The book's scripts in examples/, run as a reader runs them, with small real-MNIST runs.

train_convnet.py and train_deepnet.py run once per session (1 epoch on a few hundred
images); the scripts that read their parameters reuse those folders.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread, imsave

from cconv.networks import DeepConvNet, SimpleConvNet

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = ["train_convnet.py", "train_deepnet.py", "visualize_filter.py", "apply_filter.py",
           "misclassified_mnist.py", "train_classic.py"]


@pytest.fixture(scope="session")
def example(tmp_path_factory):
    """Run ``python examples/<script> ARGS`` in a scratch folder; returns CompletedProcess."""
    cwd = tmp_path_factory.mktemp("examples-cwd")
    env = dict(os.environ, CCONV_PROGRESS="0", MPLBACKEND="Agg",
               XDG_CACHE_HOME=str(tmp_path_factory.mktemp("xdg-cache")))
    env.pop("CCONV_DATA_DIR", None)

    def run(script, *args, timeout=300):
        proc = subprocess.run([sys.executable, str(EXAMPLES / script), *map(str, args)],
                              capture_output=True, text=True, cwd=cwd, env=env,
                              timeout=timeout)
        assert proc.returncode == 0, f"{script}: exit {proc.returncode}\n{proc.stdout}\n" \
                                     f"{proc.stderr}"
        return proc
    return run


def _png(path, min_w=200, min_h=150):
    img = imread(path)
    h, w = img.shape[:2]
    assert w >= min_w and h >= min_h, (w, h)
    gray = img[..., :3].mean(axis=2)
    assert (gray < 0.5).mean() > 0.01 and gray.std() > 0.1, "blank figure?"
    return img


@pytest.fixture(scope="session")
def convnet_dir(example, datasets_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ex") / "convnet"
    proc = example("train_convnet.py", "--epochs", "1", "--train-size", "500",
                   "--test-size", "200", "--data-dir", datasets_dir, "--out", out)
    assert "epoch 1/1" in proc.stdout and "final test acc" in proc.stdout
    return out


@pytest.fixture(scope="session")
def deepnet_dir(example, datasets_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ex") / "deepnet"
    example("train_deepnet.py", "--epochs", "1", "--train-size", "200", "--test-size", "100",
            "--data-dir", datasets_dir, "--out", out)
    return out


@pytest.mark.parametrize("script", SCRIPTS)
def test_help(example, script):
    proc = example(script, "--help")
    assert proc.stdout.startswith("usage:") and "Book ch." in proc.stdout
    assert "--data-dir" in proc.stdout or "--params" in proc.stdout


def test_train_convnet(convnet_dir):
    for name in ("params.npz", "params_init.npz", "history.json", "curves.png"):
        assert (convnet_dir / name).is_file(), name
    net = SimpleConvNet(dtype=np.float32).load_params(convnet_dir / "params.npz")
    hist = json.loads((convnet_dir / "history.json").read_text())
    assert len(hist["train_loss_list"]) == 5              # 500 images, batch 100
    assert hist["config"]["optimizer"] == "Adam"
    assert hist["train_loss_list"][-1] < hist["train_loss_list"][0]
    assert net.params["W1"].shape == (30, 1, 5, 5)
    _png(convnet_dir / "curves.png", 600, 300)


def test_visualize_filter(example, convnet_dir, tmp_path):
    out = tmp_path / "filters.png"
    example("visualize_filter.py", "--params", convnet_dir / "params.npz", "--out", out)
    both = _png(out)
    assert both.shape[1] > 1.5 * both.shape[0]   # two grids side by side
    # without params_init.npz beside the params a fresh network stands in
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "params.npz").write_bytes((convnet_dir / "params.npz").read_bytes())
    example("visualize_filter.py", "--params", alone / "params.npz", "--out", alone / "f.png")
    _png(alone / "f.png")


def test_apply_filter(example, convnet_dir, datasets_dir, mnist_data_4d, tmp_path):
    out = tmp_path / "maps.png"
    proc = example("apply_filter.py", "--params", convnet_dir / "params.npz", "--data-dir",
                   datasets_dir, "--index", "1", "--out", out)
    assert "Saved" in proc.stdout
    _png(out)
    picture = tmp_path / "digit.png"   # a dark digit on white
    imsave(picture, np.kron(1.0 - mnist_data_4d[1][0][1, 0], np.ones((2, 2))), cmap="gray",
           vmin=0, vmax=1)
    out2 = tmp_path / "maps2.png"
    example("apply_filter.py", "--params", convnet_dir / "params.npz", "--image", picture,
            "--size", "28", "--invert", "--out", out2)
    _png(out2)


def test_train_deepnet_and_misclassified(example, deepnet_dir, datasets_dir, tmp_path):
    for name in ("params.npz", "history.json", "curves.png", "checkpoint/checkpoint.npz"):
        assert (deepnet_dir / name).is_file(), name
    DeepConvNet(dtype=np.float32).load_params(deepnet_dir / "params.npz")
    out = tmp_path / "wrong.png"
    proc = example("misclassified_mnist.py", "--params", deepnet_dir / "params.npz",
                   "--test-size", "100", "--data-dir", datasets_dir, "--out", out)
    acc = float(proc.stdout.split("test accuracy:")[1].split()[0])
    assert 0.0 <= acc <= 1.0
    _png(out, 300, 250)


@pytest.mark.parametrize("net", ["lenet", "alexnet"])
def test_train_classic(example, datasets_dir, tmp_path, net):
    out = tmp_path / net
    proc = example("train_classic.py", net, "--epochs", "1", "--train-size", "300",
                   "--test-size", "100", "--data-dir", datasets_dir, "--out", out)
    assert "test accuracy" in proc.stdout
    for name in ("params.npz", "history.json"):
        assert (out / name).is_file()
    _png(out / "curves.png")
