"""Coverage-guided fuzzing of the file parsers with atheris, for a bounded time.

Runs tests/fuzz/fuzz_loaders.py (IDX, params pickles, .npz, load_params, load_network)
under atheris' libFuzzer for ``$CCONV_ATHERIS_SECONDS`` seconds (default 30), starting
from the harness' valid seed inputs. Any undocumented exception, a hang (over 20 s on
one input) or more than 3 GiB of memory fails the test; libFuzzer's crash input is then
named in the message. Skipped when atheris is not installed (``pip install atheris``:
a binary wheel, no compiler needed).
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

HARNESS = Path(__file__).resolve().parent / "fuzz" / "fuzz_loaders.py"


@pytest.mark.slow
def test_atheris_fuzz_loaders(tmp_path):
    seconds = int(os.environ.get("CCONV_ATHERIS_SECONDS", "30"))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    report = tmp_path / "outcomes.json"
    env = dict(os.environ, CCONV_FUZZ_REPORT=str(report))
    env.pop("LD_PRELOAD", None)  # atheris' libFuzzer does not run under a preloaded ASan
    # a fixed seed keeps CI reproducible (CCONV_ATHERIS_SEED=0 lets libFuzzer choose)
    seed = os.environ.get("CCONV_ATHERIS_SEED", "1")
    cmd = [sys.executable, str(HARNESS), f"-max_total_time={seconds}", "-timeout=20",
           f"-seed={seed}",
           "-rss_limit_mb=3072", "-print_final_stats=1", f"-artifact_prefix={tmp_path}/",
           str(corpus)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 180)
    log = r.stdout + r.stderr
    execs = re.search(r"stat::number_of_executed_units:\s*(\d+)", log)
    outcomes = json.loads(report.read_text()) if report.exists() else {}
    print(f"atheris: {execs.group(1) if execs else '?'} executions in {seconds} s; "
          f"outcomes: {json.dumps(outcomes, indent=1, sort_keys=True)}")
    crashes = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(
        ("crash-", "timeout-", "oom-", "leak-")))
    tail = "\n".join(line for line in log.splitlines()
                     if not line.startswith(("#", "INFO: Instrumenting")))[-6000:]
    assert r.returncode == 0 and not crashes, (
        f"atheris found a problem (exit {r.returncode}); inputs {crashes} in {tmp_path}:\n{tail}")
    assert execs and int(execs.group(1)) > 100, f"atheris barely ran:\n{tail}"
