"""Faults during training: SIGKILL at random moments, then resume.

A training process is killed (SIGKILL: no handler runs, no cleanup) at random times
and started again with ``resume=True`` until it finishes. Its final parameters must
equal, bit for bit, those of an uninterrupted run with the same seed, and every
checkpoint left on disk by a killed process must load (atomic writes: never half a
file). The training is small (real MNIST subset, a narrow SimpleConvNet) so that a
kill lands in every phase: start-up, steps, evaluation and checkpoint writing.
"""
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

SCRIPT = textwrap.dedent("""
    import sys, numpy as np
    from cconv.datasets import load_mnist
    from cconv.networks import SimpleConvNet
    from cconv.trainer import Trainer
    data_dir, out, resume = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    (x, t), (xt, tt) = load_mnist(flatten=False, data_dir=data_dir, download=False)
    net = SimpleConvNet(conv_param={'filter_num': 6, 'filter_size': 5, 'pad': 0, 'stride': 1},
                        hidden_size=20, dtype=np.float32, rng=0)
    tr = Trainer(net, x[:3000], t[:3000], xt[:300], tt[:300], epochs=8,
                 mini_batch_size=50, optimizer='Adam', optimizer_param={'lr': 0.002},
                 evaluate_sample_num_per_epoch=300, verbose=False, seed=7,
                 checkpoint_dir=out + '/ckpt', resume=resume)
    tr.train()
    net.save_params(out + '/final.npz')
    print('done', tr.current_epoch if hasattr(tr, 'current_epoch') else '')
""")


def _run(script, data_dir, out, resume, kill_after=None):
    p = subprocess.Popen([sys.executable, str(script), str(data_dir), str(out),
                          "1" if resume else "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    if kill_after is None:
        outp, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        return True
    try:
        p.wait(timeout=kill_after)
        return True  # finished before the kill
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGKILL)
        p.wait()
        return False


def _params(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files if not k.startswith("__")}


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_result(
        tmp_path, datasets_dir):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    # Two uninterrupted runs: the reference result (both must agree), and the duration
    # of a warm run (the first pays for cold caches and imports), which sets the kill
    # times below so that a full-length attempt is killed before it can finish.
    durations = []
    for name in ("straight", "straight2"):
        (tmp_path / name).mkdir()
        t0 = time.monotonic()
        _run(script, datasets_dir, tmp_path / name, resume=False)
        durations.append(time.monotonic() - t0)
    duration = min(durations)
    want = _params(tmp_path / "straight" / "final.npz")
    again = _params(tmp_path / "straight2" / "final.npz")
    assert all(np.array_equal(want[k], again[k]) for k in want)

    rng = random.Random(1234)
    kills = 0
    for trial in range(3):
        out = tmp_path / f"killed{trial}"
        out.mkdir()
        resume = False
        for _ in range(12):
            finished = _run(script, datasets_dir, out, resume,
                            kill_after=rng.uniform(0.3, 0.9) * duration)
            if finished:
                break
            kills += 1
            resume = True
            ckpt = out / "ckpt" / "checkpoint.npz"
            if ckpt.exists():  # whatever moment the kill hit, the file is whole
                from cconv.io.npz import load_npz
                load_npz(ckpt)
            leftovers = [f for f in os.listdir(out / "ckpt") if f.endswith(".tmp")] \
                if (out / "ckpt").exists() else []
            # a killed writer may leave its temp file, never a broken checkpoint
            assert all(f.startswith(".checkpoint.npz.") for f in leftovers)
        else:
            _run(script, datasets_dir, out, resume=True)
        if not (out / "final.npz").exists():
            _run(script, datasets_dir, out, resume=True)
        got = _params(out / "final.npz")
        assert got.keys() == want.keys()
        for k in want:
            assert np.array_equal(got[k], want[k]), (trial, k)
    print(f"{kills} SIGKILLs, straight run {duration:.1f} s")
    assert kills >= 3, "the kills should have interrupted the runs"
