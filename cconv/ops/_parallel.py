"""Batch-parallel execution of the layers' GEMM work.

A convolution's batch is cut into chunks of a few samples whose columns fit in L2, and
the chunks are shared out among Python worker threads (NumPy's BLAS and cconv's kernels
release the GIL). While they run, BLAS is held to one thread per caller, so there are
never more busy threads than ``n_threads`` and no two thread pools spin against each
other. Chunk boundaries depend only on the shapes, and partial sums are added in chunk
order, so results are bit-identical for every thread count.
"""
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

_executor = None
_executor_size = 0
_lock = threading.Lock()
_blas = None


def _pool(n):
    global _executor, _executor_size
    with _lock:
        if _executor is None or _executor_size < n:
            if _executor is not None:
                _executor.shutdown(wait=False)
            _executor = ThreadPoolExecutor(max_workers=n, thread_name_prefix="cconv")
            _executor_size = n
        return _executor


@contextmanager
def single_threaded_blas():
    """Hold BLAS to one thread (threadpoolctl) for the duration of the block."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
            _blas = ThreadpoolController().select(user_api="blas")
        except Exception:  # threadpoolctl missing or broken: run as is
            _blas = False
    if _blas is False or not _blas.lib_controllers:
        yield
        return
    with _blas.limit(limits=1):
        yield


def chunk_size(per_sample_bytes, n, target=384 << 10):
    """Samples per chunk so that one chunk's columns take about ``target`` bytes."""
    return max(1, min(n, target // max(1, per_sample_bytes)))


def run_chunks(fn, n_chunks, n_threads):
    """Call ``fn(lo, hi)`` over chunk indices ``0..n_chunks-1`` with up to ``n_threads``.

    Threads take chunks one at a time from a shared counter (the caller's thread works
    too), so a worker that the OS schedules late, or never, on a busy machine costs
    nothing: the others take its share, and nobody waits for a thread that has no
    chunk. What each chunk computes does not depend on which thread runs it.
    """
    if n_chunks <= 0:
        return
    t = min(int(n_threads), n_chunks)
    # BLAS is single-threaded on every path: a BLAS's result may depend on its own
    # thread count, and ours must not.
    if t <= 1:
        with single_threaded_blas():
            fn(0, n_chunks)
        return
    cond = threading.Condition()
    state = {"next": 0, "running": 0, "error": None}

    def worker():
        while True:
            with cond:
                if state["next"] >= n_chunks or state["error"] is not None:
                    return
                c = state["next"]
                state["next"] += 1
                state["running"] += 1
            err = None
            try:
                fn(c, c + 1)
            except BaseException as exc:  # handed to the caller's thread below
                err = exc
            with cond:
                state["running"] -= 1
                if err is not None and state["error"] is None:
                    state["error"] = err
                cond.notify_all()
            if err is not None:
                return

    ex = _pool(t - 1)
    with single_threaded_blas():
        for _ in range(t - 1):
            ex.submit(worker)
        worker()
        with cond:
            while state["running"] > 0:
                cond.wait()
    if state["error"] is not None:
        raise state["error"]


def for_chunks(fn, n, size, n_threads):
    """Call ``fn(c, s)`` for chunk ``c``, the slice ``s`` of ``0..n-1`` it covers, where
    every chunk but the last holds ``size`` items. Returns the number of chunks.

    The one place that cuts a range into chunks: the batch of a layer, the elements of
    an element-wise kernel, the features of an affine layer's backward.
    """
    size = max(1, int(size))
    nch = n_chunks(n, size)

    def work(lo, hi):
        for c in range(lo, hi):
            fn(c, slice(c * size, min(n, (c + 1) * size)))
    run_chunks(work, nch, n_threads)
    return nch


def n_chunks(n, size):
    """How many chunks :func:`for_chunks` makes of ``n`` items, ``size`` per chunk."""
    return -(-n // max(1, int(size))) if n > 0 else 0


def for_batch(fn, n, per_sample_bytes, n_threads, target=1 << 20):
    """Call ``fn(c, s)`` for every chunk ``c`` (a slice ``s`` of the batch ``0..n-1``).

    The chunks (about ``target`` bytes of input each) depend only on the shapes; they are
    shared among the threads by :func:`run_chunks`. Returns the number of chunks.
    """
    return for_chunks(fn, n, chunk_size(per_sample_bytes, n, target), n_threads)
