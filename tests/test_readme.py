"""Every command of the README's quick start and examples sections, run as a new user runs
them: in a fresh virtual environment, in the documented order, from a folder outside the
source tree, with no dataset variables set (small settings appended, so it takes minutes,
not hours).

The quick start's two commands are checked word for word against the README. The first,
``pip install . && cconv train simple --out runs/simple``, runs as written from a copy of
the source tree (``pip install .``) and from the outside folder (``cconv train``, with
``--epochs 1`` and a subset appended). The second, ``pip install ".[test]" && pytest``,
runs its install as written and ``pytest --collect-only`` (the suite itself is what is
running this test; CI runs the command as written).
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread, imsave

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

QUICK_START = [
    "pip install . && cconv train simple --out runs/simple",
    'pip install ".[test]" && pytest',
]

# What each long command gets appended: 1 epoch on a subset.
SMALL = {
    "cconv train": "--epochs 1 --train-size 1000 --test-size 500 --eval-samples 200 "
                   "--no-progress",
    "examples/train_convnet.py": "--epochs 1 --train-size 500 --test-size 200",
    "examples/train_deepnet.py": "--epochs 1 --train-size 200 --test-size 100",
    "examples/misclassified_mnist.py": "--test-size 100",
    "examples/train_classic.py": "--epochs 1 --train-size 300 --test-size 100",
    "cconv show misclassified": "--test-size 500",
    "cconv evaluate": "--test-size 500",
}


def _section(text, heading):
    m = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## )", text, re.S | re.M)
    assert m, f"README has no '## {heading}' section"
    return m.group(1)


def _bash_blocks(section):
    return [b.strip("\n") for b in re.findall(r"```bash\n(.*?)```", section, re.S)]


def _commands(block):
    """The block's command lines, comments stripped."""
    out = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            out.append(line.split("  #")[0].strip())
    return out


def _script(commands, clone):
    """A bash script running ``commands`` with the small settings and the clone's paths."""
    lines = ["set -euo pipefail"]
    for cmd in commands:
        parts = []
        for part in cmd.split(" && "):
            part = part.strip()
            if part.startswith("pip install"):
                part = f"(cd {shlex.quote(str(clone))} && {part})"
            elif part == "pytest":
                part = (f"(cd {shlex.quote(str(clone))} && pytest --collect-only -q "
                        f"-p no:cacheprovider)")
            else:
                for prefix, extra in SMALL.items():
                    if prefix in part:
                        part = f"{part} {extra}"
                part = part.replace("python examples/",
                                    f"python {shlex.quote(str(clone))}/examples/")
            parts.append(part)
        lines.append(" && ".join(parts))
    return "\n".join(lines) + "\n"


def _png(path, min_w=200, min_h=150):
    img = imread(path)
    h, w = img.shape[:2]
    assert w >= min_w and h >= min_h, (path, w, h)
    gray = img[..., :3].mean(axis=2)
    assert (gray < 0.5).mean() > 0.01 and gray.std() > 0.1, f"{path}: blank figure?"


def test_quick_start_commands_are_the_documented_ones():
    text = README.read_text(encoding="utf-8")
    blocks = _bash_blocks(_section(text, "Quick start"))
    assert _commands(blocks[0]) == QUICK_START
    assert not re.search(r"CCONV_TEST_DATA|\.\./shared", _section(text, "Quick start"))


@pytest.mark.slow
def test_readme_commands_in_order_in_a_fresh_venv(tmp_path, mnist_data_4d):
    text = README.read_text(encoding="utf-8")
    quick = [_commands(b) for b in _bash_blocks(_section(text, "Quick start"))]
    examples = [_commands(b) for b in _bash_blocks(_section(text, "Examples"))]
    assert quick[0] == QUICK_START and examples, "README sections changed shape"

    # A fresh clone: the tracked files only (no build/, no compiled modules).
    clone = tmp_path / "clone"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                             check=False)
    if tracked.returncode == 0 and tracked.stdout:
        for name in tracked.stdout.decode().split("\0"):
            if name and (REPO / name).is_file():
                (clone / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, clone / name)
    else:  # not a git checkout (an unpacked sdist): copy it, leaving build products out
        shutil.copytree(REPO, clone, ignore=shutil.ignore_patterns(
            "build", "*.so", "*.pyd", "*.egg-info", ".git", "__pycache__"))
    for f in (clone / "cconv").glob("*.so"):
        f.unlink()

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True)
    user = tmp_path / "user"   # outside the clone
    user.mkdir()
    digit = mnist_data_4d[1][0][0, 0]   # a test digit, drawn dark on light as on paper
    imsave(user / "my_digit.png", np.kron(1.0 - digit, np.ones((3, 3))), cmap="gray",
           vmin=0, vmax=1)
    # A fresh machine has no pytest: `pip install ".[test]"` puts one into the venv. The
    # system site this venv sees may hold one already (then pip installs none), so the
    # venv gets its own launcher here, and no other venv stays on PATH: `pytest` must be
    # the venv's, running on the cconv the README just installed.
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
                    "--ignore-installed", "pytest"], check=True)
    outer = os.environ.get("VIRTUAL_ENV")
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep)
            if not (outer and p.startswith(outer))]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CCONV_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(PATH=os.pathsep.join([str(venv / "bin")] + path),
               VIRTUAL_ENV=str(venv), XDG_CACHE_HOME=str(tmp_path / "cache"),
               MPLBACKEND="Agg", CCONV_PROGRESS="0", PIP_DISABLE_PIP_VERSION_CHECK="1")
    commands = [c for block in quick for c in block] + [c for b in examples for c in b]
    script = _script(commands, clone)
    proc = subprocess.run(["bash", "-c", script], cwd=user, env=env, capture_output=True,
                          text=True, timeout=2400)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{script}\n{proc.stdout[-6000:]}" \
                                 f"\n{proc.stderr[-6000:]}"

    # What the README says each command leaves behind.
    run = user / "runs" / "simple"
    for name in ("params.npz", "params_init.npz", "history.json", "summary.json"):
        assert (run / name).is_file(), name
    for name in ("filters.png", "features.png", "misclassified.png", "curves.png"):
        _png(run / name)
    for name in ("filters.png", "features.png", "mistakes.png", "curves.png",
                 "confusion.png"):
        _png(user / name)
    assert "test accuracy" in proc.stdout and "tests collected" in proc.stdout
    for name in ("params.npz", "filters.png", "feature_maps.png"):
        assert (user / "runs" / "convnet" / name).is_file(), name
    for name in ("params.npz", "misclassified.png"):
        assert (user / "runs" / "deepnet" / name).is_file(), name
    assert (user / "runs" / "lenet-mnist" / "params.npz").is_file()
