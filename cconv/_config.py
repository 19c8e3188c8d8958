"""Thread count resolution and build/runtime configuration report."""
import numbers
import os
import platform
import sys

_num_threads = None  # set by set_num_threads(); None means "decide from the environment"

#: The most threads a kernel call may use. OpenMP runtimes allocate a team for every
#: requested thread (libgomp aborts the interpreter when ``2**31 - 1`` do not fit in
#: memory), and no machine has more than a few thousand hardware threads.
MAX_THREADS = 4096


def _available_cpus():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _cache_size(text):
    text = text.strip().upper()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(text.rstrip("KMGB") or 0) * mult


def last_level_cache_bytes():
    """The size of the CPU's largest cache in bytes (Linux sysfs or sysconf), or None."""
    sizes = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for d in os.listdir(base):
            if d.startswith("index"):
                with open(os.path.join(base, d, "level")) as f:
                    level = int(f.read())
                with open(os.path.join(base, d, "size")) as f:
                    sizes[level] = max(sizes.get(level, 0), _cache_size(f.read()))
    except (OSError, ValueError):
        sizes = {}
    if sizes and sizes[max(sizes)] > 0:
        return sizes[max(sizes)]
    for name in ("SC_LEVEL3_CACHE_SIZE", "SC_LEVEL2_CACHE_SIZE"):
        try:
            n = os.sysconf(name)
        except (AttributeError, ValueError, OSError):
            continue
        if n > 0:
            return n
    return None


def _env_threads():
    # OMP_NUM_THREADS above MAX_THREADS is clamped to it (an environment setting should
    # not make every call fail); unparsable or non-positive values are ignored.
    raw = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if not raw:
        return None
    try:
        n = int(raw)
    except ValueError:
        return None
    return min(n, MAX_THREADS) if n > 0 else None


def resolve_threads(n_threads=None):
    """The thread count a kernel call uses.

    None -> the value of set_num_threads(), else OMP_NUM_THREADS (clamped to
    ``MAX_THREADS``), else the CPUs this process may use; -1 -> all usable CPUs (at most
    ``MAX_THREADS``); a positive int up to ``MAX_THREADS`` (4096) is taken as is; 0, a
    larger count or any other value is an error (ValueError, TypeError for non-ints).
    """
    if n_threads is None:
        if _num_threads is not None:
            return _num_threads
        env = _env_threads()
        return env if env is not None else _available_cpus()
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(f"n_threads must be an int or None, not {type(n_threads).__name__}")
    n = int(n_threads)
    if n == -1:
        return min(_available_cpus(), MAX_THREADS)
    if n <= 0:
        raise ValueError(f"n_threads must be a positive int, -1 (all CPUs) or None, not {n}")
    if n > MAX_THREADS:
        raise ValueError(f"n_threads={n} is more than cconv's limit of {MAX_THREADS} "
                         "threads")
    return n


def set_num_threads(n_threads):
    """Set the default number of OpenMP threads of cconv's kernels.

    Parameters
    ----------
    n_threads : int or None
        A positive count up to ``MAX_THREADS`` (4096), -1 for every usable CPU, or None
        to go back to the default (``OMP_NUM_THREADS``, else the CPUs this process may
        use).

    Raises
    ------
    ValueError
        For 0, a negative count other than -1, or more than ``MAX_THREADS``.
    TypeError
        For a value that is not an int (bool included) or None.
    """
    global _num_threads
    _num_threads = None if n_threads is None else resolve_threads(n_threads)


def get_num_threads():
    """The number of threads a kernel call uses when given ``n_threads=None``."""
    return resolve_threads(None)


def config():
    """Build and runtime facts as a dict (see show_config)."""
    from . import _im2col, _kernels, _lrn, _ops, _pool  # noqa: F401 (_kernels sets up _im2col)
    import numpy as np

    modules = {m.__name__.rsplit(".", 1)[-1]: m for m in (_im2col, _pool, _ops, _lrn)}
    builds = {name: m.build_info() for name, m in modules.items()}
    info = {
        "cconv": _version(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": np.__version__,
        "openmp_compiled": all(b["openmp"] for b in builds.values()),
        "modules": builds,
        "mixed_build": len({tuple(sorted(b.items())) for b in builds.values()}) > 1,
        "openmp_max_threads": int(_im2col.openmp_max_threads()),
        "sse2_compiled": bool(_im2col.sse2_compiled()),
        "last_level_cache": last_level_cache_bytes(),
        "stream_min_bytes": int(_im2col.get_stream_min_bytes()),
        "num_threads": get_num_threads(),
        "available_cpus": _available_cpus(),
        "blas": [],
    }
    try:
        from threadpoolctl import threadpool_info
        for pool in threadpool_info():
            info["blas"].append({k: pool.get(k) for k in
                                 ("user_api", "internal_api", "version", "num_threads",
                                  "threading_layer", "architecture", "filepath")})
    except ImportError:  # threadpoolctl is a dependency, but stay usable without it
        info["blas"] = "threadpoolctl not installed"
    return info


def _build_text(b):
    flags = [f"OpenMP {'on' if b['openmp'] else 'off'}",
             "optimized" if b["optimized"] else "not optimized (-O0)"]
    flags += ["debug (bounds checks)"] * b["debug"] + ["AddressSanitizer"] * b["asan"]
    return f"{', '.join(flags)}; configuration: {b['tag']}"


def _version():
    from . import __version__
    return __version__


def show_config(file=None):
    """Print what cconv was built with and what it runs with.

    Reports the version, whether OpenMP was really compiled in (the ``_OPENMP`` macro seen
    by the compiler), the thread count in effect, and the BLAS libraries numpy uses (via
    threadpoolctl).
    """
    info = config()
    out = file or sys.stdout
    print(f"cconv {info['cconv']}  (python {info['python']}, numpy {info['numpy']})", file=out)
    print(f"platform:        {info['platform']}", file=out)
    print(f"OpenMP compiled: {'yes' if info['openmp_compiled'] else 'no (serial kernels)'}",
          file=out)
    builds = info["modules"]
    if info["mixed_build"]:
        print("build:           MIXED: the compiled modules come from different builds "
              "(reinstall: pip install --force-reinstall .)", file=out)
        for name, b in builds.items():
            print(f"  {name:<14} {_build_text(b)}", file=out)
    else:
        print(f"build:           {_build_text(next(iter(builds.values())))} "
              f"({', '.join(builds)})", file=out)
    print(f"SSE2 paths:      {'yes' if info['sse2_compiled'] else 'no (portable C)'}",
          file=out)
    cache = info["last_level_cache"]
    print(f"streaming:       im2col outputs of {info['stream_min_bytes'] / 2**20:.1f} MiB and "
          f"more ({'half the ' + format(cache / 2**20, '.0f') + ' MiB' if cache else 'no'}"
          f" last-level cache{'' if cache else ' size found'})", file=out)
    print(f"threads:         {info['num_threads']} in use, "
          f"{info['available_cpus']} CPUs available", file=out)
    if isinstance(info["blas"], str):
        print(f"BLAS:            {info['blas']}", file=out)
    else:
        for b in info["blas"]:
            print(f"threadpool:      {b['user_api']} {b['internal_api']} {b['version']} "
                  f"({b['num_threads']} threads) {b['filepath']}", file=out)
    return info
