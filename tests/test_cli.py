"""The ``cconv`` command, run for real in subprocesses on a small real-MNIST subset.

One SimpleConvNet is trained once per session (2000 images, 1 epoch) and its output
folder is reused by the evaluate/show tests. Resume runs use 600 images and 200 test
images. Every subprocess gets an empty ``$XDG_CACHE_HOME`` and no ``$CCONV_DATA_DIR``, so
only ``--data-dir`` can supply data and nothing is downloaded.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread, imsave

from cconv import cli
from cconv.networks import DeepConvNet, SimpleConvNet, load_network

# Measured: 1 epoch of 100 steps (batch 20, Adam lr 0.003) on the first 2000 training
# images gives 0.79-0.84 accuracy on the first 2000 test images over seeds 0-2 (seed 0:
# 0.84). Chance is 0.10. (Batch 100, lr 0.001: 20 steps, only about 0.6.)
MIN_ACCURACY = 0.70
TEST_SIZE = 2000   # the whole test set would triple the time of the tests that predict
SMALL = ["--train-size", "2000", "--test-size", str(TEST_SIZE), "--epochs", "1",
         "--eval-samples", "500", "--batch-size", "20", "--lr", "0.003", "--no-progress"]
# resume runs: 600 images in batches of 50 = 12 steps per epoch, 200 test images
TINY = ["--train-size", "600", "--test-size", "200", "--batch-size", "50",
        "--eval-samples", "200", "--no-progress"]


@pytest.fixture(scope="session")
def cli_env(tmp_path_factory):
    env = dict(os.environ)
    env.pop("CCONV_DATA_DIR", None)
    env["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    env["CCONV_MNIST_MIRRORS"] = "http://127.0.0.1:9/"   # never reach the internet
    env["CCONV_PROGRESS"] = "0"
    env["MPLBACKEND"] = "Agg"
    return env


@pytest.fixture(scope="session")
def cconv(cli_env):
    """Run ``python -m cconv ARGS``; returns the CompletedProcess."""
    def run(*args, timeout=300):
        return subprocess.run([sys.executable, "-m", "cconv", *map(str, args)],
                              capture_output=True, text=True, env=cli_env, timeout=timeout)
    return run


def _ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _fails(proc, *needles):
    """Exit status 2, a one-line 'cconv: error' (or argparse) message, no traceback."""
    assert proc.returncode == 2, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    for n in needles:
        assert n in proc.stderr, f"{n!r} not in:\n{proc.stderr}"
    return proc


def _png(path, min_w=200, min_h=150):
    """Read a PNG back and check it is a real, non-blank picture."""
    img = imread(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4), img.shape
    h, w = img.shape[:2]
    assert w >= min_w and h >= min_h, (w, h)
    gray = img[..., :3].mean(axis=2)
    assert (gray < 0.5).mean() > 0.01, "hardly any dark pixels: blank figure?"
    assert (gray > 0.9).mean() > 0.05, "no light background"
    assert gray.std() > 0.1
    return img


@pytest.fixture(scope="session")
def simple_run(tmp_path_factory, cconv, datasets_dir):
    out = tmp_path_factory.mktemp("cli") / "simple"
    proc = _ok(cconv("train", "simple", "--data-dir", datasets_dir, "--out", out, *SMALL))
    return out, proc


@pytest.fixture(scope="session")
def straight_run(tmp_path_factory, cconv, datasets_dir):
    """Two epochs without interruption (the reference for the resume tests)."""
    out = tmp_path_factory.mktemp("cli") / "straight"
    _ok(cconv("train", "simple", "--data-dir", datasets_dir, "--out", out, "--epochs", "2",
              *TINY))
    return out


def _same_params(a, b):
    za, zb = np.load(a), np.load(b)
    keys = [k for k in za.files if k != "__meta__"]
    assert sorted(keys) == sorted(k for k in zb.files if k != "__meta__")
    return all(np.array_equal(za[k], zb[k]) for k in keys)


# ---------------------------------------------------------------------------- train

def test_train_writes_every_file_and_learns(simple_run):
    out, proc = simple_run
    for name in ("params.npz", "params_init.npz", "history.json", "curves.png",
                 "summary.json", "checkpoint/checkpoint.npz", "log.jsonl"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    history = json.loads((out / "history.json").read_text())
    assert summary["network"] == "SimpleConvNet" and summary["dataset"] == "mnist"
    assert summary["train_size"] == 2000 and summary["test_size"] == TEST_SIZE
    assert summary["epochs_done"] == 1 and summary["steps_done"] == 100
    assert summary["final_test_acc"] > MIN_ACCURACY
    assert summary["final_test_acc"] == history["final_test_acc"]
    assert summary["test_correct"] == round(summary["final_test_acc"] * TEST_SIZE)
    assert summary["dtype"] == "float32" and summary["threads"] >= 1
    assert isinstance(summary["openmp_compiled"], bool)
    assert summary["images_per_second"] > 0 and summary["wall_seconds"] > 0
    assert summary["args"]["train_size"] == 2000 and summary["args"]["lr"] == 0.003
    for key in ("cconv", "numpy", "blas", "python"):
        assert summary[key]
    assert len(history["train_loss_list"]) == 100
    assert len(history["test_acc_list"]) == 1
    assert f"test accuracy  {summary['final_test_acc']:.4f}" in proc.stdout
    assert "epoch 1/1" in proc.stdout

    net = load_network(out / "params.npz")
    init = load_network(out / "params_init.npz")
    assert isinstance(net, SimpleConvNet) and net.dtype == np.float32
    assert not np.array_equal(net.params["W1"], init.params["W1"])
    _png(out / "curves.png", 600, 300)


def test_evaluate_prints_the_summary_accuracy(simple_run, cconv, datasets_dir, tmp_path):
    out, _ = simple_run
    summary = json.loads((out / "summary.json").read_text())
    cm_png = tmp_path / "cm.png"
    proc = _ok(cconv("evaluate", out / "params.npz", "--data-dir", datasets_dir,
                     "--test-size", TEST_SIZE, "--confusion", cm_png))
    m = re.search(r"test accuracy (\d\.\d{4}) \((\d+)/(\d+)\)", proc.stdout)
    assert m, proc.stdout
    assert int(m.group(2)) == summary["test_correct"] and int(m.group(3)) == TEST_SIZE
    assert int(m.group(2)) / TEST_SIZE == summary["final_test_acc"]
    # per-class rows "  <k>  images  correct  accuracy": images add up to TEST_SIZE
    per_class = re.findall(r"^  (\d) +(\d+) +(\d+) +(\d\.\d{4})$", proc.stdout, re.M)
    assert [int(r[0]) for r in per_class] == list(range(10))
    assert sum(int(r[1]) for r in per_class) == TEST_SIZE
    assert sum(int(r[2]) for r in per_class) == summary["test_correct"]
    # the text confusion matrix: 10 rows of 10 counts whose diagonal is the correct counts
    block = proc.stdout.split("confusion matrix")[1].splitlines()[2:12]
    cm = np.array([[int(v) for v in row.split()[1:]] for row in block])
    assert cm.shape == (10, 10) and cm.sum() == TEST_SIZE
    assert list(np.diag(cm)) == [int(r[2]) for r in per_class]
    img = _png(cm_png, 300, 300)
    # the cells are drawn in Blues: some clearly blue pixels
    rgb = img[..., :3]
    assert ((rgb[..., 2] - rgb[..., 0]) > 0.3).sum() > 500


def test_show_filters_before_and_after(simple_run, cconv, tmp_path):
    out, _ = simple_run
    one, two = tmp_path / "after.png", tmp_path / "both.png"
    _ok(cconv("show", "filters", out / "params.npz", "--out", one))
    _ok(cconv("show", "filters", out / "params.npz", "--before", out / "params_init.npz",
              "--out", two))
    a, b = _png(one), _png(two)
    assert b.shape[1] > 1.5 * a.shape[1]   # two grids side by side


def test_show_features_of_a_test_digit_and_of_a_picture(simple_run, cconv, datasets_dir,
                                                         mnist_data_4d, tmp_path):
    out, _ = simple_run
    png = tmp_path / "features.png"
    proc = _ok(cconv("show", "features", out / "params.npz", "--data-dir", datasets_dir,
                     "--index", "3", "--out", png))
    assert "wrote" in proc.stdout
    _png(png)
    # a dark digit on white paper, twice MNIST's size: converted, resized, inverted
    digit = mnist_data_4d[1][0][3, 0]
    picture = tmp_path / "digit.png"
    imsave(picture, np.kron(1.0 - digit, np.ones((2, 2))), cmap="gray", vmin=0, vmax=1)
    png2 = tmp_path / "features2.png"
    _ok(cconv("show", "features", out / "params.npz", "--image", picture, "--layer", "Pool1",
              "--out", png2))
    _png(png2)
    _fails(cconv("show", "features", out / "params.npz", "--image", picture, "--layer",
                 "Affine1", "--out", png2), "not feature maps", "Conv1, Relu1, Pool1")


def test_picture_becomes_the_digit_it_shows(mnist_data_4d, tmp_path):
    from cconv.io.images import image_input
    digit = mnist_data_4d[1][0][7, 0]
    picture = tmp_path / "digit.png"
    imsave(picture, np.kron(1.0 - digit, np.ones((3, 3))), cmap="gray", vmin=0, vmax=1)
    x = image_input(picture, (1, 28, 28))
    assert x.shape == (1, 1, 28, 28) and x.dtype == np.float32
    assert np.abs(x[0, 0] - digit).max() < 2 / 255   # 8-bit PNG rounding only
    assert np.abs(image_input(picture, (1, 28, 28), invert=False)[0, 0] - (1 - digit)).max() \
        < 2 / 255
    assert image_input(picture, (3, 14, 14)).shape == (1, 3, 14, 14)


def test_show_misclassified_and_curves(simple_run, cconv, datasets_dir, tmp_path):
    out, _ = simple_run
    summary = json.loads((out / "summary.json").read_text())
    png = tmp_path / "wrong.png"
    proc = _ok(cconv("show", "misclassified", out / "params.npz", "--data-dir", datasets_dir,
                     "--max", "10", "--test-size", TEST_SIZE, "--out", png))
    wrong = TEST_SIZE - summary["test_correct"]
    assert f"{wrong} of {TEST_SIZE} MNIST test images misclassified" in proc.stdout
    _png(png, 300, 250)
    curves = tmp_path / "curves.png"
    _ok(cconv("show", "curves", out / "history.json", "--out", curves))
    _png(curves, 600, 300)
    _fails(cconv("show", "curves", out / "summary.json", "--out", curves),
           "not a training history")


def test_show_all_writes_the_four_pictures_of_a_run(simple_run, cconv, datasets_dir,
                                                    tmp_path):
    out, _ = simple_run
    pics = tmp_path / "pics"
    proc = _ok(cconv("show", "all", out, "--data-dir", datasets_dir, "--out", pics))
    for name in ("filters", "features", "misclassified", "curves"):
        assert f"{name}.png" in proc.stdout
        _png(pics / f"{name}.png", 300, 250)
    _fails(cconv("show", "all", tmp_path, "--out", pics), "no params.npz")


# ---------------------------------------------------------------------------- resume

def test_resume_raising_the_epochs_reaches_the_same_parameters(cconv, datasets_dir, tmp_path):
    # --epochs raised on --resume: at the book's constant rate the run ends where a
    # straight run of the new length does (a cosine schedule is stretched instead). The
    # resume does not repeat --lr-schedule: it keeps the schedule the run started with.
    straight, out = tmp_path / "straight", tmp_path / "resumed"
    _ok(cconv("train", "simple", "--data-dir", datasets_dir, "--out", straight, "--epochs",
              "2", "--lr-schedule", "constant", *TINY))
    _ok(cconv("train", "simple", "--data-dir", datasets_dir, "--out", out, "--epochs", "1",
              "--lr-schedule", "constant", *TINY))
    assert not _same_params(straight / "params.npz", out / "params.npz")
    proc = _ok(cconv("train", "simple", "--data-dir", datasets_dir, "--out", out,
                     "--epochs", "2", "--resume", *TINY))
    assert "resumed from" in proc.stdout and "(cosine schedule)" not in proc.stdout
    assert _same_params(straight / "params.npz", out / "params.npz")
    a = json.loads((straight / "history.json").read_text())
    b = json.loads((out / "history.json").read_text())
    for key in ("train_loss_list", "train_acc_list", "test_acc_list", "final_test_acc"):
        assert a[key] == b[key], key
    assert json.loads((out / "summary.json").read_text())["resumed_from"]


def test_the_rate_anneals_by_default(straight_run):
    # cconv train's default is cosine annealing (SimpleConvNet then reaches the book's
    # accuracy in the quick start's 20 epochs; see the README): the run records it
    history = json.loads((straight_run / "history.json").read_text())
    assert history["config"]["lr_schedule"] == "cosine", history["config"]


def test_ctrl_c_saves_and_resume_finishes_the_run(straight_run, cli_env, datasets_dir,
                                                  tmp_path, cconv):
    out = tmp_path / "interrupted"
    cmd = [sys.executable, "-m", "cconv", "train", "simple", "--data-dir", str(datasets_dir),
           "--out", str(out), "--epochs", "2", *TINY]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env)
    try:
        for line in proc.stdout:
            if line.startswith("epoch 1/2"):
                proc.send_signal(signal.SIGINT)   # somewhere in epoch 2
                break
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    assert "--resume" in stderr and str(out) in stderr
    assert (out / "checkpoint" / "checkpoint.npz").is_file()
    _ok(cconv("train", "simple", "--data-dir", datasets_dir, "--out", out, "--epochs", "2",
              "--resume", *TINY))
    assert _same_params(straight_run / "params.npz", out / "params.npz")


# ---------------------------------------------------------------------------- errors

def test_a_data_dir_that_does_not_exist_is_refused(cconv, tmp_path):
    proc = _fails(cconv("train", "simple", "--data-dir", tmp_path / "nowhere", "--out",
                        tmp_path / "run", "--epochs", "1"),
                  "--data-dir", str(tmp_path / "nowhere"), "does not exist")
    assert proc.stderr.startswith("cconv: error:") and proc.stderr.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_failed_download_speaks_the_command_line_and_leaves_no_folder(cconv, tmp_path):
    # --download passes the bundled copy over; the only mirror (cli_env) is a dead port.
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = _fails(cconv("train", "simple", "--download", "--data-dir", empty, "--out",
                        tmp_path / "runs" / "simple", "--epochs", "1"),
                  "could not download MNIST", "127.0.0.1:9", "--data-dir DIR")
    assert "data_dir=" not in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_epochs_zero_is_refused(cconv, tmp_path):
    _fails(cconv("train", "simple", "--epochs", "0", "--out", tmp_path / "run"),
           "--epochs", "must be > 0")
    assert not (tmp_path / "run").exists()


def test_params_of_another_network(simple_run, cconv, tmp_path):
    out, _ = simple_run
    _fails(cconv("show", "filters", out / "params.npz", "--net", "deep", "--out",
                 tmp_path / "f.png"), "holds parameters of a SimpleConvNet", "DeepConvNet")
    deep = tmp_path / "deep.npz"
    DeepConvNet(dtype=np.float32, rng=0).save_params(deep)
    _fails(cconv("show", "filters", out / "params.npz", "--before", deep, "--out",
                 tmp_path / "f.png"), "--before", "DeepConvNet", "SimpleConvNet")
    assert not (tmp_path / "f.png").exists()


def test_diverging_run_exits_1_and_says_what_to_change(cconv, datasets_dir, tmp_path):
    proc = cconv("train", "simple", "--data-dir", datasets_dir, "--out", tmp_path / "run",
                 "--train-size", "100", "--test-size", "50", "--batch-size", "50",
                 "--optimizer", "sgd", "--lr", "1e30", "--epochs", "1", "--no-progress")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "training diverged at step" in proc.stderr and "smaller --lr" in proc.stderr


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_params(simple_run, cconv, datasets_dir, tmp_path, damage):
    out, _ = simple_run
    data = (out / "params.npz").read_bytes()
    bad = tmp_path / "bad.npz"
    bad.write_bytes({"truncated": data[:len(data) // 2], "garbage": b"not a params file\n",
                     "empty": b""}[damage])
    _fails(cconv("evaluate", bad, "--data-dir", datasets_dir), str(bad))


def test_unwritable_output_folder(simple_run, cconv, datasets_dir, tmp_path):
    out, _ = simple_run
    blocker = tmp_path / "a-file"
    blocker.write_text("I am a file")
    # tests run as root too, so "unwritable" is a folder that is a file
    _fails(cconv("train", "simple", "--data-dir", datasets_dir, "--out", blocker / "run",
                 "--epochs", "1"), "cannot write to output folder", "is a file, not a folder")
    _fails(cconv("show", "curves", out / "history.json", "--out", blocker / "c.png"),
           str(blocker), "is a file, not a folder")
    _fails(cconv("evaluate", out / "params.npz", "--confusion", blocker / "sub" / "cm.png"),
           "is a file, not a folder")


@pytest.mark.parametrize("args, needle", [
    (["train", "simpel"], "unknown network 'simpel'"),
    (["train", "simple", "--epochs", "-1"], "must be > 0"),
    (["train", "simple", "--lr", "0"], "positive number"),
    (["train", "simple", "--optimizer", "adma"], "invalid choice"),
    (["train", "simple", "--lr-schedule", "step"], "invalid choice"),
    (["train", "simple", "--resume"], "--resume needs --out"),
    (["evaluate", "no/such/params.npz"], "no params file"),
    (["show", "filters", "x.npz"], "--out"),
    (["show", "curves", "h.json", "--out", "c.bmp"], ".png, .svg or .pdf"),
    ([], "COMMAND"),
])
def test_bad_arguments(cconv, args, needle):
    _fails(cconv(*args), needle)


def test_resume_needs_a_checkpoint_and_the_same_run(straight_run, cconv, datasets_dir,
                                                    tmp_path):
    _fails(cconv("train", "simple", "--out", tmp_path / "empty", "--resume"),
           "nothing to resume")
    copy = tmp_path / "copy"
    shutil.copytree(straight_run, copy)
    _fails(cconv("train", "simple", "--data-dir", datasets_dir, "--out", copy, "--resume",
                 "--epochs", "3", *TINY[2:], "--train-size", "500"),
           "train_size=600", "train_size=500")


# ---------------------------------------------------------------------------- other commands

def test_info_and_version(cconv, datasets_dir):
    proc = _ok(cconv("info", "--data-dir", datasets_dir))
    assert "OpenMP compiled:" in proc.stdout and "threads:" in proc.stdout
    assert re.search(r"^MNIST: +found in .*mnist", proc.stdout, re.M), proc.stdout
    assert _ok(cconv("--version")).stdout.startswith("cconv ")


def test_console_script(cli_env):
    exe = shutil.which("cconv", path=cli_env.get("PATH"))
    if exe is None:
        pytest.skip("no cconv console script on PATH (pip install -e . creates it)")
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True, env=cli_env,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    from cconv.networks import NETWORKS
    for short, cls in NETWORKS.items():   # the network list comes from NETWORKS
        assert re.search(rf"^  {short} +{cls.__name__}", proc.stdout, re.M), proc.stdout


def test_help_of_every_command(capsys):
    for args in (["train"], ["evaluate"], ["show"], ["show", "filters"], ["show", "features"],
                 ["show", "misclassified"], ["show", "curves"], ["bench"], ["info"],
                 ["download"]):
        with pytest.raises(SystemExit) as exc:
            cli.main([*args, "--help"])
        assert exc.value.code == 0
        text = capsys.readouterr().out
        assert text.startswith("usage: cconv " + " ".join(args)), text[:80]


def test_download_verifies_files_already_there(cconv, datasets_dir):
    proc = _ok(cconv("download", "--data-dir", datasets_dir))
    assert "checksums verified" in proc.stdout
    assert proc.stdout.count(".gz") == 4


def test_bench_json_and_missing_bench_train(monkeypatch, tmp_path, capsys):
    from cconv import bench
    calls = []
    monkeypatch.setattr(bench, "bench_kernels",
                        lambda repeat=7: calls.append(repeat) or {"rows": [1]})
    monkeypatch.setattr(bench, "bench_layers",
                        lambda repeat=7: calls.append(-repeat) or {"rows": [3]})
    monkeypatch.setattr(bench, "bench_steps",
                        lambda steps=40: calls.append(steps * 10) or {"rows": [4]})
    monkeypatch.delattr(bench, "bench_train", raising=False)
    path = tmp_path / "b.json"
    assert cli.main(["bench", "all", "--repeat", "2", "--json", str(path)]) == 0
    assert calls == [2, -2, 20]
    assert json.loads(path.read_text()) == {"kernels": {"rows": [1]}, "layers": {"rows": [3]},
                                            "steps": {"rows": [4]}}
    assert cli.main(["bench", "train"]) == 1
    assert "not available yet" in capsys.readouterr().err
    monkeypatch.setattr(bench, "bench_train", lambda repeat=15, file=None: {"rows": [2]},
                        raising=False)
    assert cli.main(["bench", "train", "--json", str(path)]) == 0
    assert json.loads(path.read_text()) == {"train": {"rows": [2]}}


def test_fashion_mnist_run_is_evaluated_on_fashion_mnist(cconv, fashion_mnist_dir, tmp_path):
    out = tmp_path / "fashion"
    _ok(cconv("train", "simple", "--dataset", "fashion-mnist", "--data-dir",
              fashion_mnist_dir, "--out", out, "--train-size", "300", "--test-size", "100",
              "--epochs", "1", "--eval-samples", "100", "--no-progress"))
    assert json.loads((out / "summary.json").read_text())["dataset"] == "fashion-mnist"
    # no --dataset: taken from summary.json beside the params
    proc = _ok(cconv("evaluate", out / "params.npz", "--data-dir", fashion_mnist_dir,
                     "--test-size", "300"))
    assert "first 300 images of the Fashion-MNIST test set" in proc.stdout
    assert "9 Ankle boot" in proc.stdout


def test_show_and_evaluate_read_the_data_source_the_run_recorded(tmp_path):
    """A run trained with --data-dir: `cconv show`/`evaluate` of its params read the same
    folder (from summary.json) unless told otherwise, and say so when it is gone."""
    import argparse
    run, data = tmp_path / "run", tmp_path / "data"
    run.mkdir()
    data.mkdir()
    (run / "summary.json").write_text(json.dumps(
        {"dataset": "fashion-mnist", "args": {"data_dir": str(data)}}))

    def infer(**kw):
        args = argparse.Namespace(params=str(run / "params.npz"), dataset=None,
                                  data_dir=None)
        vars(args).update(kw)
        return cli._infer_dataset(args), args.data_dir

    assert infer() == ("fashion-mnist", str(data))
    assert infer(data_dir="mine") == ("fashion-mnist", "mine")
    assert infer(dataset="mnist") == ("mnist", None)     # another dataset: default places
    data.rmdir()
    with pytest.raises(cli.CLIError, match="does not exist any more; pass --data-dir"):
        infer()
    (run / "summary.json").write_text("{broken")
    assert infer() == ("mnist", None)


def test_show_all_after_a_data_dir_run(simple_run, cconv, tmp_path):
    """The issue's case: a run with --data-dir, then `cconv show all` writes all four
    pictures (its data folder comes from summary.json)."""
    out, _ = simple_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["args"]["data_dir"]
    pics = tmp_path / "pics"
    _ok(cconv("show", "all", out, "--out", pics))
    for name in ("filters.png", "features.png", "misclassified.png", "curves.png"):
        _png(pics / name)


def test_run_from_the_source_root_says_what_to_do(tmp_path):
    """From the root of a source checkout without compiled modules, the bare source
    folder shadows the installed cconv: the error says so and what to do."""
    import cconv
    src = Path(cconv.__file__).parent
    root = tmp_path / "checkout"
    shutil.copytree(src, root / "cconv", ignore=shutil.ignore_patterns(
        "*.so", "*.pyd", "__pycache__", "data"))
    (root / "setup.py").write_text("# the source checkout's setup.py\n")
    for args in (["-m", "cconv", "info"], ["-m", "cconv", "--version"],
                 ["-c", "import cconv.layers"]):
        proc = subprocess.run([sys.executable, *args], cwd=root, capture_output=True,
                              text=True, env={k: v for k, v in os.environ.items()
                                              if k != "PYTHONPATH"})
        assert proc.returncode != 0
        assert "source folder" in proc.stderr and "pip install -e ." in proc.stderr, \
            proc.stderr
        assert "cannot import name '_" not in proc.stderr   # no compiled module named
