"""Thread control and the build report."""
import io
import os
import subprocess
import sys

import numpy as np
import pytest

import cconv
import cconv.ops
from cconv import _config, _im2col, _threads


def test_show_config_reports_build_and_threads():
    buf = io.StringIO()
    info = cconv.show_config(file=buf)
    text = buf.getvalue()
    assert info["openmp_compiled"] == all(
        m.openmp_compiled() for m in cconv.ops.compiled_modules().values())
    assert "OpenMP compiled: " in text and "threads:" in text
    assert info["num_threads"] == cconv.get_num_threads()
    assert isinstance(info["blas"], list) and any(b["user_api"] == "blas" for b in info["blas"])
    # im2col streams outputs larger than half the last-level cache (8 MiB when unknown)
    llc = _config.last_level_cache_bytes()
    assert info["stream_min_bytes"] == (llc // 2 if llc else 8 << 20)
    assert f"im2col outputs of {info['stream_min_bytes'] / 2**20:.1f} MiB and more" in text


def test_each_module_reports_its_real_build_and_a_mixed_build_is_named(monkeypatch):
    from cconv import _activation
    mods = tuple(cconv.ops.compiled_modules().values())
    for m in mods:
        b = m.build_info()
        assert set(b) == {"openmp", "asan", "optimized", "debug", "tag"}
        assert b["openmp"] == bool(m.openmp_compiled())   # the _OPENMP macro, as compiled
        assert f"openmp={'on' if b['openmp'] else 'off'}" in b["tag"]
    info = _config.config()
    assert not info["mixed_build"], info["modules"]
    buf = io.StringIO()
    _config.show_config(file=buf)
    assert "MIXED" not in buf.getvalue() and "build:" in buf.getvalue()
    # A module left over from another configuration is named as such.
    stale = dict(_activation.build_info(), openmp=not _activation.build_info()["openmp"],
                 tag="openmp=?")
    monkeypatch.setattr(_activation, "build_info", lambda: stale)
    info = _config.config()
    assert info["mixed_build"] and not (info["openmp_compiled"] and not stale["openmp"])
    buf = io.StringIO()
    _config.show_config(file=buf)
    text = buf.getvalue()
    assert "MIXED" in text and "_activation" in text and "pip install --force-reinstall" in text


def test_cache_sizes_parse_and_threshold_is_checked():
    assert _threads._cache_size("32768K\n") == 32 << 20
    assert _threads._cache_size("2M") == 2 << 20
    assert _threads._cache_size("512") == 512
    llc = _config.last_level_cache_bytes()
    assert llc is None or llc >= 1 << 16
    with pytest.raises(ValueError, match="stream_min_bytes must be >= 0, got -1"):
        _im2col.set_stream_min_bytes(-1)


def test_expected_openmp_build():
    # CI sets CCONV_EXPECT_OPENMP for each of its builds, so a probe that silently
    # fell back to a serial build fails here.
    want = os.environ.get("CCONV_EXPECT_OPENMP")
    if want is None:
        pytest.skip("CCONV_EXPECT_OPENMP not set (CI sets it for the serial build, and checks the README build after its test run)")
    for m in cconv.ops.compiled_modules().values():
        assert m.openmp_compiled() == (want == "1"), m.__name__


def test_set_and_get_num_threads(monkeypatch):
    monkeypatch.setattr(_threads, "_num_threads", None)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert cconv.get_num_threads() == 3
    cconv.set_num_threads(1)
    assert cconv.get_num_threads() == 1
    cconv.set_num_threads(-1)
    assert cconv.get_num_threads() == _config._available_cpus()
    cconv.set_num_threads(None)
    assert cconv.get_num_threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert cconv.get_num_threads() == _config._available_cpus()
    with pytest.raises(ValueError, match="positive int"):
        cconv.set_num_threads(0)
    with pytest.raises(TypeError, match="int or None"):
        cconv.set_num_threads(2.5)
    with pytest.raises(TypeError):
        cconv.set_num_threads(True)


def test_omp_num_threads_is_respected_in_a_fresh_process():
    code = "import cconv; print(cconv.get_num_threads())"
    env = dict(os.environ, OMP_NUM_THREADS="5")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "5"


def test_kernels_run_concurrently_from_python_threads():
    # The kernels release the GIL; concurrent calls must give the serial results.
    from concurrent.futures import ThreadPoolExecutor
    from cconv import util
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((8, 3, 20, 20)).astype(np.float32) for _ in range(8)]
    serial = [util.im2col(x, 3, 3, 1, 1) for x in xs]
    with ThreadPoolExecutor(4) as ex:
        par = list(ex.map(lambda x: util.im2col(x, 3, 3, 1, 1), xs * 4))
    for i, p in enumerate(par):
        assert np.array_equal(p, serial[i % 8])
