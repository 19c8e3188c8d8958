"""How many threads a kernel call uses, and the CPU facts that decide it.

Imported by the ops (:mod:`cconv.ops`) and by :mod:`cconv._config`, which reports them.
"""
import os
import threading
import warnings

from ._checks import is_integer

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


# The largest thread count known to start (None: not probed yet), and the ceiling found
# when a probe could not start all the threads it asked for.
_started = 1
_ceiling = None
_probe_lock = threading.Lock()


def _stack_size():
    """OpenMP's thread stack size in bytes ($OMP_STACKSIZE/$GOMP_STACKSIZE), or 0."""
    for var in ("OMP_STACKSIZE", "GOMP_STACKSIZE"):
        raw = os.environ.get(var, "").strip().upper()
        if raw:
            unit = {"B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(raw[-1:])
            try:
                return int(raw[:-1] if unit else raw) * (unit or 1 << 10)
            except ValueError:
                return 0
    return 0


def _startable(n):
    """How many of ``n`` threads can run at once here: n, or fewer (with a warning).

    OpenMP runtimes end the process when they cannot create a team member (libgomp:
    "Thread creation failed", then exit), so a count is tried once with Python threads
    of OpenMP's stack size before any kernel gets it; a count that fails is lowered to
    half of what started, and stays the ceiling for the rest of the process.
    """
    global _started, _ceiling
    if n <= _started:
        return n
    if _ceiling is not None and n > _ceiling:
        return _ceiling
    with _probe_lock:
        if n <= _started:
            return n
        release = threading.Event()
        threads = []
        old = threading.stack_size()
        try:
            size = _stack_size()
            if size:
                try:
                    threading.stack_size(max(size, 32768))
                except (ValueError, RuntimeError):
                    pass
            for _ in range(n - 1):   # the calling thread is the team's first member
                t = threading.Thread(target=release.wait, daemon=True)
                try:
                    t.start()
                except RuntimeError:   # "can't start new thread"
                    break
                threads.append(t)
        finally:
            release.set()
            threading.stack_size(old)
            for t in threads:
                t.join()
        ok = len(threads) + 1
        if ok >= n:
            _started = n
            return n
        _ceiling = max(1, ok // 2)
    warnings.warn(f"cconv: only {ok} of the {n} threads asked for could be started on "
                  f"this machine; using {_ceiling} (set_num_threads or OMP_NUM_THREADS "
                  f"to change it)", RuntimeWarning, stacklevel=3)
    return _ceiling


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
    A count this machine cannot start (memory, process limits) is lowered, with a
    RuntimeWarning, to half of what could be started: OpenMP would end the process.
    """
    if n_threads is None:
        if _num_threads is not None:
            return _startable(_num_threads)
        env = _env_threads()
        return _startable(env) if env is not None else _available_cpus()
    if not is_integer(n_threads):
        raise TypeError(f"n_threads must be an int or None, not {type(n_threads).__name__}")
    n = int(n_threads)
    if n == -1:
        return _startable(min(_available_cpus(), MAX_THREADS))
    if n <= 0:
        raise ValueError(f"n_threads must be a positive int, -1 (all CPUs) or None, not {n}")
    if n > MAX_THREADS:
        raise ValueError(f"n_threads={n} is more than cconv's limit of {MAX_THREADS} "
                         "threads")
    return _startable(n)


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
