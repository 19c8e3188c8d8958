"""Issue 14's classes of misuse, one test (or a few) per class.

The stateful fuzzers (tests/test_stateful.py, tests/test_cli_fuzz.py) look for new
cases; these pin the classes they and the issue found: files that are not regular
files, decompression bombs, thread counts, run folders, the command line's messages.
"""
import os
import resource
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest


def _gzip_stream(header, zero_bytes, level=1):
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    parts = [c.compress(header)]
    block = bytes(1 << 22)
    left = zero_bytes
    while left > 0:
        parts.append(c.compress(block[:min(left, len(block))]))
        left -= len(block)
    parts.append(c.flush())
    return b"".join(parts)


def _peak_mib(code, *args):
    """Run ``code`` in a fresh interpreter; (its stdout, its peak RSS in MiB)."""
    wrapper = (code + "\nimport resource\nprint('peak', resource.getrusage("
               "resource.RUSAGE_SELF).ru_maxrss // 1024)\n")
    out = subprocess.run([sys.executable, "-c", wrapper, *map(str, args)], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    lines = out.strip().splitlines()
    return "\n".join(lines[:-1]), int(lines[-1].split()[1])


READ_IDX = """
import sys
from cconv.datasets import DatasetError, _parse_idx, _read_bytes
try:
    _parse_idx(_read_bytes(sys.argv[1]), 'bomb', sys.argv[2])
    print('accepted')
except DatasetError as e:
    print('DatasetError', e)
"""


def test_idx_header_claiming_billions_fails_before_decompressing(tmp_path):
    # the bomb: a .gz whose header claims 3e9 labels (content: 200 MB of zeros,
    # the rest of the claim would only make the file and the test slower)
    bomb = tmp_path / "train-labels-idx1-ubyte.gz"
    bomb.write_bytes(_gzip_stream(b"\x00\x00\x08\x01" + struct.pack(">I", 3_000_000_000),
                                  200 << 20))
    out, peak = _peak_mib(READ_IDX, bomb, "labels")
    assert "announces 3,000,000,000 items" in out and "60,000" in out, out
    base = _peak_mib("import cconv.datasets")[1]
    assert peak - base < 20, f"peak {peak} MiB (import alone: {base} MiB)"


def test_gzip_inflating_far_beyond_its_header_stops_at_the_header_size(tmp_path):
    # a header announcing 10 labels followed by 512 MiB of zeros: read 19 bytes, not all
    bomb = tmp_path / "t10k-labels-idx1-ubyte.gz"
    bomb.write_bytes(_gzip_stream(b"\x00\x00\x08\x01" + struct.pack(">I", 10), 512 << 20,
                                  level=9))
    assert bomb.stat().st_size < 1 << 20
    out, peak = _peak_mib(READ_IDX, bomb, "labels")
    assert "trailing data" in out, out
    base = _peak_mib("import cconv.datasets")[1]
    assert peak - base < 20, f"peak {peak} MiB (import alone: {base} MiB)"


@pytest.mark.parametrize("kind", ["fifo", "dir", "dev"])
def test_dataset_reader_refuses_what_is_not_a_regular_file(tmp_path, kind):
    from cconv.datasets import DatasetError, _read_bytes
    path = {"fifo": tmp_path / "f.gz", "dir": tmp_path, "dev": "/dev/zero"}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    with pytest.raises(DatasetError, match="not a regular file|Is a directory"):
        _read_bytes(path)   # a FIFO would block forever, /dev/zero never end


def test_mirror_list_with_non_url_entries_tries_the_next_mirror(tmp_path, monkeypatch,
                                                               isolated_data_env,
                                                               mnist_dir):
    from cconv.datasets import fetch
    monkeypatch.setenv("CCONV_MNIST_MIRRORS",
                       f"not a url, http://[::1/,javascript:x, file://{mnist_dir}/")
    paths = fetch("mnist", tmp_path / "data", download=True, bundled=False)
    assert all(os.path.isfile(p) for p in paths.values())


THREADS_UNDER_A_MEMORY_LIMIT = """
import warnings
import numpy as np
import cconv
from cconv import ops
warnings.simplefilter("always")
try:
    with warnings.catch_warnings(record=True) as w:
        out = ops.im2col(np.zeros((64, 1, 16, 16)), 2, 2, n_threads=1000)
        cconv.set_num_threads(2000)
    print("result", out.shape, "threads now", cconv.get_num_threads())
    print("warned", [str(x.message) for x in w])
finally:
    print("finally ran")
"""


@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="ASan reserves terabytes of address space: no RLIMIT_AS")
def test_thread_count_that_cannot_start_is_lowered_not_fatal():
    # libgomp exit()s the process when it cannot create a team member ("Thread creation
    # failed"): with 3 GB of address space, 1000 threads of 8 MB stacks do not fit.
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    proc = subprocess.run([sys.executable, "-c", THREADS_UNDER_A_MEMORY_LIMIT],
                          preexec_fn=limit, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_STACKSIZE": ""})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "finally ran" in proc.stdout and "result (14400, 4)" in proc.stdout, proc.stdout
    assert "could be started on this machine" in proc.stdout, proc.stdout
    assert "Thread creation failed" not in proc.stderr


def test_thread_counts_beyond_the_ceiling_are_refused():
    import cconv
    from cconv import ops
    for bad in (4097, 100000, 2 ** 31, 2 ** 64):
        with pytest.raises(ValueError, match="limit of 4096"):
            cconv.set_num_threads(bad)
        with pytest.raises(ValueError, match="limit of 4096"):
            ops.im2col(np.zeros((1, 1, 2, 2)), 1, 1, n_threads=bad)
    for bad in (2.0, True, "4", None.__class__):
        with pytest.raises(TypeError):
            cconv.set_num_threads(bad)
    env = {**os.environ, "OMP_NUM_THREADS": "100000"}   # clamped, not fatal
    out = subprocess.run([sys.executable, "-c", "import cconv; print(cconv.get_num_threads())"],
                         env=env, capture_output=True, text=True, timeout=60, check=True)
    assert int(out.stdout) <= 4096


LOAD_NETWORK = """
import sys
from cconv.networks import ParamsFileError, load_network
try:
    load_network(sys.argv[1])
    print('accepted')
except ParamsFileError as e:
    print('ParamsFileError', e)
"""


def test_small_params_file_whose_config_asks_for_huge_layers(tmp_path):
    from cconv.io.npz import load_npz, save_npz_atomic
    from cconv.networks import SimpleConvNet
    net = SimpleConvNet(input_dim=(1, 8, 8), conv_param={"filter_num": 2, "filter_size": 3,
                                                         "pad": 0, "stride": 1},
                        hidden_size=3, output_size=2, rng=0)
    good = tmp_path / "good.npz"
    net.save_params(good)
    arrays, meta = load_npz(good)
    meta["config"]["hidden_size"] = 10 ** 9          # W2: (18, 1e9) float64 = 144 GB
    bomb = tmp_path / "bomb.npz"
    save_npz_atomic(bomb, arrays, meta)
    assert bomb.stat().st_size < 4096
    out, peak = _peak_mib(LOAD_NETWORK, bomb)
    assert "ParamsFileError" in out and "asks for a weight of shape (18, 1000000000)" in out, out
    base = _peak_mib("import cconv.networks")[1]
    assert peak - base < 20, f"peak {peak} MiB (import alone: {base} MiB)"
    assert "accepted" in _peak_mib(LOAD_NETWORK, good)[0]


def test_npz_member_inflating_too_much_is_refused_before_reading(tmp_path):
    import zipfile
    from cconv.io.npz import load_npz
    path = tmp_path / "bomb.npz"
    header = np.lib.format.header_data_from_array_1_0(np.zeros(0))
    header["shape"] = (250_000_000,)                   # 2 GB of float64 zeros
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("W1.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, header)
            block = bytes(1 << 24)
            for _ in range(2_000_000_000 // len(block)):
                f.write(block)
            f.write(bytes(2_000_000_000 % len(block)))
    assert path.stat().st_size < 4 << 20
    out, peak = _peak_mib("import sys\nfrom cconv.io.npz import load_npz\n"
                          "try:\n    load_npz(sys.argv[1]); print('accepted')\n"
                          "except ValueError as e:\n    print('ValueError', e)\n", path)
    assert "decompression bomb" in out, out
    base = _peak_mib("import cconv.io.npz")[1]
    assert peak - base < 20, f"peak {peak} MiB (import alone: {base} MiB)"


# ---- the command line ----------------------------------------------------------------

TINY = ["--train-size", "60", "--test-size", "20", "--epochs", "1", "--batch-size", "20",
        "--eval-samples", "10", "--no-progress"]


def _cli(args, capsys):
    from cconv.cli import main
    try:
        rc = main([str(a) for a in args])
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line_error(rc, err, *needles):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and "Traceback" not in err, err
    assert lines and "error:" in lines[-1], err
    assert sum("error:" in ln for ln in lines) == 1 and lines[-1].count("\n") == 0
    for n in needles:
        assert n in lines[-1], lines[-1]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from cconv.cli import main
    run = tmp_path_factory.mktemp("run") / "run"
    assert main(["train", "simple", "--out", str(run)] + TINY) == 0
    return run


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_train_into_a_folder_holding_a_run_is_refused(finished_run, capsys):
    before = _snapshot(finished_run)
    rc, _, err = _cli(["train", "simple", "--out", finished_run] + TINY, capsys)
    _one_line_error(rc, err, "already holds a run", "--resume", "--overwrite")
    assert _snapshot(finished_run) == before


RUN_WRITES = ("params.npz", "params_init.npz", "history.json", "curves.png", "summary.json",
              "log.jsonl", "checkpoint/checkpoint.npz")


def _ids(run, names=RUN_WRITES):
    from cconv.cli._common import run_ids_of
    return {name: run_ids_of(run / name) for name in names}


def test_every_file_of_a_run_records_its_id(finished_run):
    ids = _ids(finished_run)
    assert all(len(i) == 1 for i in ids.values()), ids
    assert len(set().union(*ids.values())) == 1, ids


def test_overwrite_replaces_the_whole_run_and_ids_agree(finished_run, tmp_path, capsys):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    (old,) = set().union(*_ids(run).values())
    rc, _, err = _cli(["train", "simple", "--out", run, "--overwrite", "--seed", "1"] + TINY,
                      capsys)
    assert rc == 0, err
    ids = _ids(run)
    assert all(len(i) == 1 for i in ids.values()), ids
    (new,) = set().union(*ids.values())
    assert new != old


@pytest.fixture(scope="module")
def other_run(tmp_path_factory):
    from cconv.cli import main
    run = tmp_path_factory.mktemp("other") / "other"
    assert main(["train", "simple", "--out", str(run), "--seed", "3"] + TINY) == 0
    return run


@pytest.mark.parametrize("name", RUN_WRITES[1:] + ("filters.png",))
def test_show_all_refuses_a_folder_mixing_two_runs(name, finished_run, other_run, tmp_path,
                                                   capsys):
    import shutil
    run = tmp_path / "mixed"
    shutil.copytree(finished_run, run)
    if name == "filters.png":   # a picture of another run, drawn by `cconv show all`
        rc, _, err = _cli(["show", "all", other_run, "--out", tmp_path / "o"], capsys)
        assert rc == 0, err
        shutil.copy(tmp_path / "o" / name, run / name)
    else:
        shutil.copy(other_run / name, run / name)
    rc, _, err = _cli(["show", "all", run, "--out", tmp_path / "pics"], capsys)
    _one_line_error(rc, err, "come from different runs", name)
    assert not (tmp_path / "pics" / "filters.png").exists()


def test_show_all_pictures_record_the_run(finished_run, tmp_path, capsys):
    rc, _, err = _cli(["show", "all", finished_run, "--out", tmp_path / "pics"], capsys)
    assert rc == 0, err
    (rid,) = _ids(finished_run, ["params.npz"])["params.npz"]
    names = ["filters.png", "features.png", "misclassified.png", "curves.png"]
    assert _ids(tmp_path / "pics", names) == {n: {rid} for n in names}


def test_a_log_appended_by_two_runs_is_seen(finished_run, other_run, tmp_path, capsys):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    with open(run / "log.jsonl", "a") as f:
        f.write((other_run / "log.jsonl").read_text())
    assert len(_ids(run, ["log.jsonl"])["log.jsonl"]) == 2
    rc, _, err = _cli(["show", "all", run, "--out", tmp_path / "pics"], capsys)
    _one_line_error(rc, err, "come from different runs", "log.jsonl")


def test_resume_from_another_runs_checkpoint_changes_nothing(finished_run, other_run,
                                                             tmp_path, capsys):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    shutil.copy(other_run / "checkpoint" / "checkpoint.npz",
                run / "checkpoint" / "checkpoint.npz")
    before = _snapshot(run)
    rc, _, err = _cli(["train", "simple", "--out", run, "--resume", "--epochs", "2"] + TINY[:-5]
                      + ["--eval-samples", "10", "--no-progress"], capsys)
    _one_line_error(rc, err, "belongs to run", "cannot continue")
    assert _snapshot(run) == before


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_as_training_log_is_refused_without_blocking(tmp_path):
    from cconv.training.log import JsonLog
    fifo = tmp_path / "log.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="FIFO"):
        JsonLog(fifo)
    log = JsonLog(tmp_path / "ok.jsonl", "abc")
    os.remove(tmp_path / "ok.jsonl") if (tmp_path / "ok.jsonl").exists() else None
    os.mkfifo(tmp_path / "ok.jsonl")     # replaced by a FIFO after the check: still refused
    with pytest.raises(OSError, match="FIFO"):
        log.write(event="x")


def test_resume_from_a_damaged_checkpoint_changes_nothing(finished_run, tmp_path, capsys):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    ck = run / "checkpoint" / "checkpoint.npz"
    ck.write_bytes(ck.read_bytes()[:ck.stat().st_size // 3])
    before = _snapshot(run)
    rc, _, err = _cli(["train", "simple", "--out", run, "--resume", "--epochs", "2"] + TINY[:-5]
                      + ["--eval-samples", "10", "--no-progress"], capsys)
    _one_line_error(rc, err, "checkpoint.npz")
    assert _snapshot(run) == before


@pytest.mark.parametrize("args, needle", [
    (["train", "simple", "--threads", "100000"], "at most 4096"),
    (["train", "simple", "--seed", "-1"], "--seed"),
])
def test_command_line_numbers_beyond_their_range(args, needle, tmp_path, capsys):
    rc, _, err = _cli(args + ["--out", tmp_path / "r"] + TINY, capsys)
    _one_line_error(rc, err, needle)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("kind", ["cut_png", "text_png", "fifo", "dir", "dev"])
def test_show_features_of_a_broken_picture(finished_run, tmp_path, kind, capsys):
    p = {"dev": "/dev/zero", "dir": tmp_path}.get(kind, tmp_path / "pic.png")
    if kind == "cut_png":
        import matplotlib.pyplot as plt
        plt.imsave(p, np.zeros((8, 8)))
        p.write_bytes(p.read_bytes()[:40])
    elif kind == "text_png":
        p.write_text("not a picture")
    elif kind == "fifo":
        os.mkfifo(p)
    rc, _, err = _cli(["show", "features", finished_run / "params.npz", "--image", p,
                       "--out", tmp_path / "f.png"], capsys)
    _one_line_error(rc, err, "--image")


def test_download_errors_are_one_line_and_every_mirror_is_tried(tmp_path, capsys,
                                                               monkeypatch):
    monkeypatch.setenv("CCONV_MNIST_MIRRORS", "not a url, http://[::1/, http://127.0.0.1:9/")
    rc, _, err = _cli(["download", "--data-dir", tmp_path / "d"], capsys)
    _one_line_error(rc, err, "'not a url': not a URL", "http://127.0.0.1:9/")


def _compiled_calls():
    """(name, call with consistent arrays, call with one array of a wrong size)."""
    from cconv import _conv, _im2col, _lrn, _pooling
    f = np.float32
    x, w, y = np.ones((2, 3, 5, 5), f), np.ones((4, 3, 3, 3), f), np.zeros((2, 4, 3, 3), f)
    nob = np.zeros(0, f)
    col, colT = np.zeros((18, 27), f), np.zeros((2, 27, 9), f)
    p, a = np.zeros((2, 3, 2, 2), f), np.zeros((2, 3, 2, 2), np.uint16)
    geo = (1, 1, 0, 0)
    return [
        ("conv forward", lambda: _conv.forward_into(x, w, nob, y, *geo, False, 2),
         lambda: _conv.forward_into(x, w, nob, np.zeros((2, 4, 3, 2), f), *geo, False, 2)),
        ("conv forward bias", lambda: _conv.forward_into(x, w, np.ones(4, f), y, *geo, 0, 2),
         lambda: _conv.forward_into(x, w, np.ones(3, f), y, *geo, False, 2)),
        ("conv channels", lambda: None,
         lambda: _conv.forward_into(x, w[:, :2].copy(), nob, y, *geo, False, 2)),
        ("conv dx", lambda: _conv.backward_data_into(y, w, np.zeros_like(x), *geo, 2),
         lambda: _conv.backward_data_into(y, w, np.zeros((2, 3, 6, 5), f), *geo, 2)),
        ("conv dw", lambda: _conv.backward_filter_into(x, y, np.zeros_like(w), nob, *geo, 2),
         lambda: _conv.backward_filter_into(x, y[:1].copy(), np.zeros_like(w), nob, *geo,
                                            2)),
        ("conv stride 0", lambda: None,
         lambda: _conv.forward_into(x, w, nob, y, 0, 1, 0, 0, False, 2)),
        ("im2col", lambda: _im2col.im2col_into(x, col, 3, 3, *geo, 2),
         lambda: _im2col.im2col_into(x, col[:17], 3, 3, *geo, 2)),
        ("col2im", lambda: _im2col.col2im_into(col, np.zeros_like(x), 3, 3, *geo, 2),
         lambda: _im2col.col2im_into(col, np.zeros((2, 3, 6, 6), f), 3, 3, *geo, 2)),
        ("im2col_t", lambda: _im2col.im2col_t_into(x, colT, 3, 3, *geo, 2),
         lambda: _im2col.im2col_t_into(x, colT[:, :26].copy(), 3, 3, *geo, 2)),
        ("col2im_t", lambda: _im2col.col2im_t_into(colT, np.zeros_like(x), 3, 3, *geo, 2),
         lambda: _im2col.col2im_t_into(colT, np.zeros((3, 3, 5, 5), f), 3, 3, *geo, 2)),
        ("maxpool", lambda: _pooling.maxpool_forward_into(x, p, a, 2, 2, 2, 2, 0, 0, 2),
         lambda: _pooling.maxpool_forward_into(x, p, a[:, :2].copy(), 2, 2, 2, 2, 0, 0, 2)),
        ("maxpool stride", lambda: None,
         lambda: _pooling.maxpool_forward_into(x, p, a, 2, 2, 1, 1, 0, 0, 2)),
        ("maxpool back", lambda: _pooling.maxpool_backward_into(p, a, np.zeros_like(x),
                                                                2, 2, 2, 2, 0, 0, 2),
         lambda: _pooling.maxpool_backward_into(p, a, np.zeros((2, 3, 9, 9), f),
                                                2, 2, 2, 2, 0, 0, 2)),
        ("avgpool", lambda: _pooling.avgpool_forward_into(x, p, 2, 2, 2, 2, 0, 0, 2),
         lambda: _pooling.avgpool_forward_into(x, p[:1].copy(), 2, 2, 2, 2, 0, 0, 2)),
        ("avgpool back", lambda: _pooling.avgpool_backward_into(p, np.zeros_like(x),
                                                                2, 2, 2, 2, 0, 0, 2),
         lambda: _pooling.avgpool_backward_into(p, np.zeros((2, 3, 6, 6), f),
                                                2, 2, 2, 2, 0, 0, 2)),
        ("lrn", lambda: _lrn.lrn_forward_into(x, np.zeros_like(x), np.zeros_like(x), 5,
                                              1e-4, .75, 2., 1, 2),
         lambda: _lrn.lrn_forward_into(x, np.zeros_like(x), np.zeros((2, 3, 5, 4), f), 5,
                                       1e-4, .75, 2., 1, 2)),
    ]


@pytest.mark.parametrize("name", [c[0] for c in _compiled_calls()])
def test_compiled_calls_check_their_own_arrays(name):
    """The ops check first; the compiled call checks again what it is handed, so that a
    caller holding stale or swapped arrays gets a ValueError, never an access outside
    them (the ASan build runs this too)."""
    (good, bad), = [c[1:] for c in _compiled_calls() if c[0] == name]
    good()
    with pytest.raises(ValueError, match="shape|elements|must be >= 1"):
        bad()


def test_ctrl_c_while_a_file_object_is_made_stays_a_ctrl_c(tmp_path, monkeypatch):
    # io.open, failing part-way, closes the descriptor it was given; the caller must not
    # close it again (that turned a Ctrl-C during the training log's append into
    # "cconv: error: Bad file descriptor", exit 2, once in 9 runs of the Ctrl-C test).
    import io
    from cconv.io import files
    from cconv.training.log import JsonLog

    def interrupted(fd, mode, encoding):
        f = io.open(fd, mode, encoding=encoding if "b" not in mode else None)
        f.close()                      # what io.open does when its text layer fails
        raise KeyboardInterrupt
    monkeypatch.setattr(files, "_file_object", interrupted)
    with pytest.raises(KeyboardInterrupt):
        JsonLog(tmp_path / "log.jsonl").write(epoch=1)
    with pytest.raises(KeyboardInterrupt):
        files.open_regular(__file__)
