"""Fuzzing the ``cconv`` command line (issue 14): random argument vectors, broken files.

Argument vectors are drawn from the real subcommands with random and broken option
values (negative, zero, huge, not numbers, empty) and paths that are missing, folders,
FIFOs, truncated or garbage ``.npz`` files, broken images, damaged checkpoints, an
existing run folder; ``cconv download`` gets mirror lists with non-URL entries through
``$CCONV_MNIST_MIRRORS``. Every run is checked: no traceback, exit status 0, 1 or 2 (as
documented in ``cconv.cli.main``), an error message of one line (``cconv: error: ...``
or argparse's usage + one error line), no FIFO, device or folder replaced, and an
existing run never changed unless ``--resume`` or ``--overwrite`` was given.

``main`` runs in this process (a subprocess each would take 20x longer); a hang fails
after ``HANG_SECONDS``. ``$CCONV_CLI_FUZZ_EXAMPLES`` argument vectors (default 40),
derandomized unless ``$CCONV_STATEFUL_SEED`` is set.
"""
import contextlib
import hashlib
import io
import os
import re
import shutil
import signal
import stat
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis import given

import cconv
from cconv import cli

EXAMPLES = int(os.environ.get("CCONV_CLI_FUZZ_EXAMPLES", "40"))
SEED = os.environ.get("CCONV_STATEFUL_SEED", "").strip()
HANG_SECONDS = int(os.environ.get("CCONV_STATEFUL_HANG_SECONDS", "30"))
TINY = ["--train-size", "60", "--test-size", "20", "--epochs", "1", "--batch-size", "20",
        "--eval-samples", "10", "--no-progress"]


class Hang(BaseException):
    pass


def _alarm(signum, frame):
    raise Hang(f"cconv did not finish within {HANG_SECONDS} s")


def _png(path, size=(8, 8)):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.imsave(path, np.random.default_rng(0).random(size), cmap="gray")
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Files and folders, good and broken, that the argument vectors name."""
    d = tmp_path_factory.mktemp("cli-fuzz")
    run = d / "run"
    rc = cli.main(["train", "simple", "--out", str(run)] + TINY)
    assert rc == 0, "the fixture's tiny training run failed"
    good = run / "params.npz"
    blob = good.read_bytes()
    files = {
        "good": good, "init": run / "params_init.npz", "history": run / "history.json",
        "missing": d / "missing.npz", "dir": d / "a-folder",
        "fifo": d / "a-fifo", "truncated": d / "truncated.npz", "garbage": d / "garbage.npz",
        "empty": d / "empty.npz", "pkl_junk": d / "junk.pkl", "png": _png(d / "ok.png"),
        "broken_png": d / "broken.png", "text_png": d / "text.png", "bad_json": d / "bad.json",
        "list_json": d / "list.json", "devnull": Path("/dev/null"),
        "out_png": d / "out" / "fig.png", "out_txt": d / "out.txt",
        "unwritable": Path("/proc/cconv-fuzz/fig.png"),
    }
    files["dir"].mkdir()
    os.mkfifo(files["fifo"])
    files["truncated"].write_bytes(blob[:len(blob) // 2])
    files["garbage"].write_bytes(b"PK\x03\x04" + os.urandom(300))
    files["empty"].write_bytes(b"")
    files["pkl_junk"].write_bytes(b"\x80\x04\x95junkjunk")
    files["broken_png"].write_bytes(files["png"].read_bytes()[:40])
    files["text_png"].write_text("not a picture")
    files["bad_json"].write_text("{\"train_loss_list\": [1, 2")
    files["list_json"].write_text("[1, 2, 3]")
    # a run whose checkpoint is damaged, and one whose checkpoint metadata is not JSON
    for name, damage in (("run_trunc_ckpt", lambda b: b[:len(b) // 3]),
                         ("run_junk_ckpt", lambda b: b[:30] + bytes(len(b) - 30))):
        r = d / name
        shutil.copytree(run, r)
        ck = r / "checkpoint" / "checkpoint.npz"
        if ck.is_file():
            ck.write_bytes(damage(ck.read_bytes()))
        files[name] = r
    files["run"] = run
    shutil.copytree(run, d / "run_pristine")
    files["run_pristine"] = d / "run_pristine"
    files["fresh_out"] = d / "fresh"
    return d, files


def _fingerprint(path):
    """Type of every special file, and content hashes of the run folder's files."""
    p = Path(path)
    if not p.exists() and not p.is_symlink():
        return None
    mode = p.lstat().st_mode
    if stat.S_ISDIR(mode):
        return ("dir", tuple(sorted((str(f.relative_to(p)), _fingerprint(f))
                                    for f in p.rglob("*") if not f.is_dir())))
    if stat.S_ISREG(mode):
        return ("file", hashlib.sha256(p.read_bytes()).hexdigest())
    return (stat.S_IFMT(mode),)


def _changed(before, now):
    """Names of the files added, removed or changed between two folder fingerprints."""
    a, b = dict((before or ("dir", ()))[1]), dict((now or ("dir", ()))[1])
    return {p for p in set(a) | set(b) if a.get(p) != b.get(p)}


NUMBERS = st.sampled_from(["0", "-1", "1", "2", "3", "100000", "100000", "5000", "1e9", "abc",
                           "", "nan",
                           "inf", "-inf", "2.5", "-0", "99999999999999999999", "0x10", " 4",
                           "1_000", "٣"])
PATHS = ["good", "init", "missing", "dir", "fifo", "truncated", "garbage", "empty",
         "pkl_junk", "png", "devnull", "run", "run_trunc_ckpt", "run_junk_ckpt"]
OUT_PNG = ["out_png", "out_txt", "fifo", "dir", "devnull", "unwritable", "good"]


@st.composite
def argv(draw, files):
    """One argument vector for a subcommand, with some options broken."""
    f = lambda key: str(files[key])  # noqa: E731
    path = lambda keys: f(draw(st.sampled_from(keys)))  # noqa: E731
    sub = draw(st.sampled_from(["train", "train", "evaluate", "show", "show", "info",
                                "download", "bench", "junk"]))
    opt = lambda name, values: [name, draw(values)] if draw(st.booleans()) else []  # noqa
    if sub == "train":
        net = draw(st.sampled_from(["simple", "simple", "lenet", "SimpleConvNet", "nope", ""]))
        out = path(["fresh_out", "run", "run_trunc_ckpt", "run_junk_ckpt", "fifo", "good",
                    "devnull", "dir"])
        args = ["train", net] + TINY + ["--out", out]
        broken = draw(st.lists(st.sampled_from(
            ["--epochs", "--batch-size", "--train-size", "--test-size", "--eval-samples",
             "--threads", "--threads", "--seed", "--lr"]), max_size=2, unique=True))
        for name in broken:
            args += [name, draw(NUMBERS)]
        args += draw(st.sampled_from([[], [], ["--resume"], ["--overwrite"]]))
        args += opt("--data-dir", st.sampled_from([f("dir"), f("missing"), f("good"), ""]))
        args += opt("--dtype", st.sampled_from(["float32", "float16", "int"]))
        args += opt("--optimizer", st.sampled_from(["sgd", "adam", "nope"]))
        return args
    if sub == "evaluate":
        return (["evaluate", path(PATHS[:2] * 3 + PATHS)] + opt("--test-size", NUMBERS) +
                opt("--confusion", st.sampled_from([f(k) for k in OUT_PNG])) +
                opt("--net", st.sampled_from(["simple", "deep", "nope"])))
    if sub == "show":
        what = draw(st.sampled_from(["filters", "features", "misclassified", "curves", "all",
                                     "nothing"]))
        out = ["--out", path(OUT_PNG)] if draw(st.integers(0, 5)) else []
        if what == "curves":
            return ["show", "curves", path(["history", "bad_json", "list_json", "missing",
                                            "fifo", "dir", "good"])] + out
        if what == "all":
            return (["show", "all", path(["run", "run_trunc_ckpt", "missing", "fifo", "good",
                                          "dir"])] + opt("--index", NUMBERS) +
                    opt("--out", st.sampled_from([f("dir"), f("fifo"), f("good"),
                                                  str(files["fresh_out"]) + "-pics"])))
        args = ["show", what, path(PATHS[:2] * 4 + PATHS)] + out
        if what == "filters":
            args += opt("--before", st.sampled_from([f(k) for k in PATHS]))
            args += opt("--layer", st.sampled_from(["Conv1", "Affine1", "Nope", ""]))
        elif what == "features":
            if draw(st.booleans()):
                args += ["--image", path(["png", "broken_png", "text_png", "fifo", "dir",
                                          "missing", "devnull", "good"])]
            else:
                args += opt("--index", NUMBERS)
            args += opt("--layer", st.sampled_from(["Conv1", "Relu1", "Pool1", "Affine2",
                                                    "Nope"]))
        elif what == "misclassified":
            args += opt("--max", NUMBERS) + opt("--test-size", NUMBERS)
        return args
    if sub == "info":
        return ["info"] + opt("--data-dir", st.sampled_from([f("dir"), f("fifo"), f("good"),
                                                             f("missing")]))
    if sub == "download":
        return ["download", "--data-dir", path(["fresh_out", "dir", "fifo", "good"])] + \
            opt("--dataset", st.sampled_from(["mnist", "fashion-mnist", "cifar"]))
    if sub == "bench":   # only broken options: a real benchmark takes minutes
        return ["bench", draw(st.sampled_from(["kernels", "nope"])), "--repeat",
                draw(st.sampled_from(["0", "-1", "abc", ""]))]
    return draw(st.sampled_from([[], ["nope"], ["--threads", "4"], ["train"], ["show"],
                                 ["evaluate"], ["--version"]]))


MIRRORS = st.sampled_from(["not a url", "ftp//x, ,file:///nonexistent/",
                           "http://127.0.0.1:9/,javascript:alert(1)", "::::", "http://",
                           "file:///dev/null/", "http://[::1/", "http://example.invalid:99999/"])


COLLECT = os.environ.get("CCONV_STATEFUL_COLLECT", "").strip()


def _record(args, env, exc, stderr):
    """Collect mode (see tests/test_stateful.py): one JSON line per failure."""
    import json
    last = [ln for ln in stderr.splitlines() if ln.strip()][-1:] or [""]
    msg = str(exc).splitlines()[0]
    key = re.sub(r"/tmp/\S*", "PATH", re.sub(r"\d+", "#", f"{msg[:60]} | {last[0][:90]}"))
    with open(COLLECT, "a") as f:
        f.write(json.dumps({"rule": "cli", "key": key, "where": args[0] if args else "",
                            "msg": f"{' '.join(args)} [mirrors={env}] -> {last[0][:300]}"})
                + "\n")


def run_cli(args, env):
    """(exit status, stdout, stderr) of cconv.cli.main(args), in this process."""
    out, err = io.StringIO(), io.StringIO()
    old_env = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_SECONDS)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = cli.main(args)
            except SystemExit as exc:   # argparse
                rc = exc.code if isinstance(exc.code, int) else 2
            except Exception:   # noqa: BLE001 -- what a user would see as a traceback
                import traceback
                traceback.print_exc()
                rc = "traceback"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        cconv.set_num_threads(None)
    return rc, out.getvalue(), err.getvalue()


def check_run(args, rc, stdout, stderr):
    assert "Traceback (most recent call last)" not in stderr, \
        f"cconv {' '.join(args)}: traceback:\n{stderr[-3000:]}"
    assert rc in (0, 1, 2), f"cconv {' '.join(args)}: exit status {rc!r}\n{stderr[-2000:]}"
    if rc != 0:
        lines = [ln for ln in stderr.splitlines() if ln.strip()]
        err = [i for i, ln in enumerate(lines) if re.match(r"^cconv( \w+)*: error: ", ln)]
        assert err, f"cconv {' '.join(args)}: exit {rc} without 'cconv: error:'\n{stderr[-2000:]}"
        tail = lines[err[-1] + 1:]
        assert not tail, (f"cconv {' '.join(args)}: the error takes more than one line:\n"
                          f"{stderr[-2000:]}")


def test_cli_fuzz(world, monkeypatch):
    d, files = world
    monkeypatch.setenv("XDG_CACHE_HOME", str(d / "cache"))
    monkeypatch.delenv("CCONV_DATA_DIR", raising=False)
    special = ["fifo", "dir", "devnull", "good", "run", "init", "history", "png"]
    counts = {"runs": 0}

    def restore_run():
        shutil.rmtree(files["run"])
        shutil.copytree(files["run_pristine"], files["run"])
    tally = {}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=not SEED, print_blob=True,
              suppress_health_check=list(HealthCheck), database=None)
    @given(data=st.data())
    def fuzz(data):
        args = data.draw(argv(files))
        env = {"CCONV_MNIST_MIRRORS": data.draw(MIRRORS)}
        before = {k: _fingerprint(files[k]) for k in special}
        rc, stdout, stderr = run_cli(args, env)
        counts["runs"] += 1
        key = f"{' '.join(args[:2] if args[:1] == ['show'] else args[:1])} -> {rc}"
        tally[key] = tally.get(key, 0) + 1
        try:
            check_run(args, rc, stdout, stderr)
        except AssertionError as exc:
            if not COLLECT:
                raise
            _record(args, env, exc, stderr)
        problems = []
        for k in special:
            now = _fingerprint(files[k])
            if now == before[k]:
                continue
            if k == "run":
                if "--resume" in args or "--overwrite" in args:
                    restore_run()
                    continue
                changed = _changed(before[k], now)
                # `show all RUN` writes its pictures into RUN (its default --out)
                if not (args[:2] == ["show", "all"] and changed <= {
                        "filters.png", "features.png", "misclassified.png", "curves.png"}):
                    problems.append(f"cconv {' '.join(args)} changed the run in "
                                    f"{files['run']}: {sorted(changed)}")
                restore_run()
            elif now is None or now[0] != before[k][0]:
                problems.append(f"cconv {' '.join(args)} replaced the {k} at {files[k]}")
                if k == "fifo":
                    Path(files[k]).unlink(missing_ok=True)
                    os.mkfifo(files[k])
        for msg in problems:
            assert COLLECT, msg
            _record(args, env, AssertionError(msg), stderr)
        shutil.rmtree(files["fresh_out"], ignore_errors=True)
        shutil.rmtree(str(files["fresh_out"]) + "-pics", ignore_errors=True)
    fuzz()
    print(f"cli fuzz: {counts['runs']} argument vectors; exit statuses: "
          + ", ".join(f"{k}: {n}" for k, n in sorted(tally.items())))
    assert counts["runs"] >= min(EXAMPLES, 10)
