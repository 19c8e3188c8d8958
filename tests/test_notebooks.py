"""Jupyter: the notebooks of examples/notebooks run in a real kernel, and what cconv shows there.

Every test starts a real ipykernel (through nbclient) running this interpreter, so the
kernel imports the cconv under test. The kernel's environment is Jupyter's: no
MPLBACKEND (ipykernel picks the inline backend), no CCONV_PROGRESS.
"""
import base64
import io
import json
import re
import sys
from pathlib import Path

import ipykernel  # noqa: F401  (the test extra installs nbclient, nbformat and ipykernel)
import nbclient
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "examples" / "notebooks"
KERNEL = "cconv-test-python"


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
    """A kernelspec that runs ``sys.executable`` (the default one runs whatever ``python``
    is first on PATH, which may import another cconv)."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "cconv tests", "language": "python"}))
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_PATH", str(root))
    for var in ("MPLBACKEND", "CCONV_PROGRESS"):
        mp.delenv(var, raising=False)
    yield root
    mp.undo()


def _run(nb, cwd, timeout=300):
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name=KERNEL,
                                     resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb


def _run_cells(sources, cwd):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    return _run(nb, cwd).cells


def _outputs(cell, kind=None):
    return [o for o in cell.outputs if kind is None or o.output_type == kind]


def _stderr(cell):
    return "".join(o.text for o in cell.outputs
                   if o.output_type == "stream" and o.name == "stderr")


def _png(output):
    from matplotlib.image import imread
    img = imread(io.BytesIO(base64.b64decode(output["data"]["image/png"])), format="png")
    return img


def _check_picture(output, min_side=100):
    img = _png(output)
    h, w = img.shape[:2]
    assert h >= min_side and w >= min_side, (h, w)
    gray = img[..., :3].mean(axis=2)
    assert gray.std() > 0.05, "a blank picture"


def test_returned_figures_display_inline_without_pyplot(kernel_env, tmp_path):
    cells = _run_cells([
        "import sys, numpy as np\nfrom cconv import visualize as viz",
        "viz.filter_show(np.random.default_rng(0).standard_normal((8, 1, 5, 5)))",
        "'matplotlib.pyplot' in sys.modules",
        "import matplotlib.pyplot as plt\n"
        "viz.filter_show(np.random.default_rng(0).standard_normal((8, 1, 5, 5)))",
    ], tmp_path)
    for i in (1, 3):
        outs = [o for o in cells[i].outputs if "image/png" in o.get("data", {})]
        assert len(outs) == 1, cells[i].outputs     # shown once, also with the inline backend
        _check_picture(outs[0], min_side=50)
    assert cells[2].outputs[0]["data"]["text/plain"] == "False"


def _train_cell(epochs):
    return ("import numpy as np\n"
            "from cconv.datasets import load_mnist\n"
            "from cconv.simple_convnet import SimpleConvNet\n"
            "from cconv.trainer import Trainer\n"
            "(x, t), (xt, tt) = load_mnist(flatten=False)\n"
            "net = SimpleConvNet(dtype=np.float32, rng=0)\n"
            f"tr = Trainer(net, x[:2000], t[:2000], xt[:500], tt[:500], epochs={epochs}, "
            "optimizer='Adam', optimizer_param={'lr': 0.001}, seed=0)\n"
            "tr.train()")


@pytest.mark.parametrize("widgets", [True, False], ids=["tqdm-widget", "html-line"])
def test_trainer_progress_bar_in_a_kernel(kernel_env, tmp_path, widgets):
    pre = "import sys" if widgets else "import sys; sys.modules['ipywidgets'] = None"
    cells = _run_cells([pre, _train_cell(3)], tmp_path)
    cell = cells[1]
    assert _stderr(cell) == ""                      # no log lines, no warnings
    bars = _outputs(cell, "display_data")
    assert len(bars) == 3                           # one live bar per epoch
    want = "application/vnd.jupyter.widget-view+json" if widgets else "text/html"
    assert all(want in b["data"] for b in bars)
    if not widgets:  # the final state of each HTML line: the epoch done, with its loss
        for k, b in enumerate(bars, start=1):
            html = b["data"]["text/html"]
            assert f"epoch {k}/3" in html and "100%" in html and "loss=" in html
            assert re.search(r'<progress value="2000" max="2000"', html)
    stdout = "".join(o.text for o in _outputs(cell, "stream"))
    assert stdout.count("\n") <= 8                  # the epoch summaries only


def test_progress_switched_off_in_a_kernel(kernel_env, tmp_path):
    cells = _run_cells(["import os; os.environ['CCONV_PROGRESS'] = '0'", _train_cell(1)],
                       tmp_path)
    assert _outputs(cells[1], "display_data") == [] and _stderr(cells[1]) == ""


def test_text_bar_outside_a_kernel_is_unchanged(capsys):
    from cconv.training.progress import make_progress
    from cconv.training.progress import Progress
    bar = make_progress(10, desc="x", enabled=True)
    assert isinstance(bar, Progress)


def test_network_and_layer_summary_in_a_kernel(kernel_env, tmp_path):
    cells = _run_cells([
        "from cconv.simple_convnet import SimpleConvNet\nnet = SimpleConvNet(rng=0)\nnet",
        "net.layers['Conv1']",
        "import numpy as np\nnet.predict_image(np.eye(28))",
    ], tmp_path)
    pred = cells[2].outputs[0]["data"]
    assert pred["text/plain"].startswith("Prediction(<array>: ")
    _check_picture(cells[2].outputs[0], min_side=100)  # a prediction shows its picture
    data = cells[0].outputs[0]["data"]
    html, text = data["text/html"], data["text/plain"]
    assert "<table" in html and "Conv1" in html and "(N, 30, 24, 24)" in html
    assert "433,890" in html and "float64" in html
    assert "Affine1" in text and "(N, 100)" in text and "432,100" in text
    layer = cells[1].outputs[0]["data"]
    assert "Convolution" in layer["text/plain"] and "at 0x" not in layer["text/plain"]
    assert "<table" in layer["text/html"] and "(30, 1, 5, 5) float64 (750 values)" in \
        layer["text/html"] and "stride" in layer["text/html"]


@pytest.mark.parametrize("name", ["ch07", "ch08"])
def test_chapter_notebook_executes_with_pictures_and_accuracy(kernel_env, tmp_path, name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
        "notebooks are committed without outputs"
    _run(nb, tmp_path, timeout=600)
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    assert all(_stderr(c) == "" for c in code), [_stderr(c) for c in code]
    pictures = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(pictures) >= (6 if name == "ch07" else 4), len(pictures)
    for p in pictures:
        _check_picture(p)
    text = "".join(o.get("text", "") for c in code for o in c.outputs)
    acc = float(re.search(r"test accuracy: (0\.\d+)", text).group(1))
    assert acc > (0.95 if name == "ch07" else 0.8), acc
    # the network's summary table was displayed
    htmls = [o["data"]["text/html"] for c in code for o in c.outputs
             if "text/html" in o.get("data", {})]
    assert any("<table" in h and "Total params" in h for h in htmls)
    if name == "ch07":
        diffs = [float(m) for m in re.findall(r"^[Wb]\d (\S+)$", text, re.M)]
        assert len(diffs) == 6 and max(diffs) < 1e-6, diffs
        assert re.search(r"my_seven\.png: 7 ", text), text
    else:
        a64, a16 = map(float, re.findall(r"accuracy with .*: (0\.\d+)", text))
        assert abs(a64 - a16) <= 0.01
