"""Threads: concurrent Python callers, OpenMP thread counts, and BLAS limits (threadpoolctl).

What a user can rely on, checked here:

* The kernels release the GIL and keep no shared state: calls made at the same time
  from several Python threads (each with its own OpenMP team) return what the same calls
  return one after the other.
* The OpenMP thread count never changes a result: the layers (Convolution, Pooling,
  AvgPooling, forward and backward) and a whole SimpleConvNet gradient on real MNIST are
  bit-identical for 1, 2 and 8 threads (every output element is owned by one thread
  and summed in a fixed order).
* threadpoolctl works with cconv. ``threadpool_limits(1, user_api="blas")`` limits the
  BLAS that numpy's matmul uses (the GEMMs of Convolution and Affine) and leaves the
  results unchanged. cconv's own kernels pass their thread count to OpenMP explicitly, so
  ``threadpool_limits(..., user_api="openmp")`` does not change them either: use
  ``cconv.set_num_threads`` (or ``n_threads=``, or ``OMP_NUM_THREADS`` at start-up) for
  those.
"""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import cconv
from cconv import _im2col
from cconv import ops as K
from cconv import util
from cconv.layers import AvgPooling, Convolution, Pooling
from cconv.networks import SimpleConvNet

DTYPES = [np.float32, np.float64]
THREADS = [1, 2, 8]


def rand(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.fixture
def restore_threads():
    yield
    cconv.set_num_threads(None)


def kernel_calls(dtype, seed):
    """Every kernel on its own random input, as (name, zero-argument call) pairs."""
    x = rand((6, 3, 17, 13), dtype, seed)
    col = rand((6 * 9 * 7, 3 * 3 * 3), dtype, seed + 1)  # im2col(x, 3, 3, 2, 1) shape
    out, arg = K.maxpool_forward(x, 3, 2, 2, 1, n_threads=1)
    d = rand(out.shape, dtype, seed + 2)
    return [
        ("im2col", lambda t: util.im2col(x, 3, 3, 2, 1, n_threads=t)),
        ("col2im", lambda t: util.col2im(col, x.shape, 3, 3, 2, 1, n_threads=t)),
        ("maxpool_forward", lambda t: K.maxpool_forward(x, 3, 2, 2, 1, n_threads=t)),
        ("maxpool_backward", lambda t: K.maxpool_backward(d, arg, x.shape, 3, 2, 2, 1,
                                                          n_threads=t)),
        ("avgpool_forward", lambda t: K.avgpool_forward(x, 3, 2, 2, 1, n_threads=t)),
        ("avgpool_backward", lambda t: K.avgpool_backward(d, x.shape, 3, 2, 2, 1,
                                                          n_threads=t)),
    ]


def identical(a, b):
    if isinstance(a, tuple):
        return len(a) == len(b) and all(identical(p, q) for p, q in zip(a, b))
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(
        a.view(np.uint8), b.view(np.uint8))  # bit for bit (NaN payloads, -0.0 included)


@pytest.mark.parametrize("dtype", DTYPES)
def test_concurrent_python_threads_give_the_serial_results(dtype):
    # 4 inputs x 6 kernels, each call run 3 times, all at once from 6 Python threads,
    # each call with its own OpenMP team of 1 or 2 threads.
    jobs = []
    for seed in range(4):
        for name, call in kernel_calls(dtype, 10 * seed):
            jobs.append((f"{name}#{seed}", call, call(1)))
    work = [(name, call, expected, t) for name, call, expected in jobs for t in (1, 2, 2)]
    with ThreadPoolExecutor(6) as ex:
        results = list(ex.map(lambda j: (j[0], j[3], j[1](j[3]), j[2]), work))
    bad = [f"{name} (n_threads={t})" for name, t, got, want in results
           if not identical(got, want)]
    assert not bad, f"concurrent calls differ from serial ones: {bad}"


def test_one_input_shared_by_concurrent_readers():
    # Several threads read the same (read-only) input and write their own outputs.
    x = rand((8, 4, 24, 24), np.float32, 3)
    x.flags.writeable = False
    want = util.im2col(x, 5, 5, 1, 2, n_threads=1)
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda t: util.im2col(x, 5, 5, 1, 2, n_threads=t), [1, 2, 3, 4] * 3))
    assert all(identical(g, want) for g in got)


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernels_identical_for_1_2_8_threads(dtype):
    for name, call in kernel_calls(dtype, 99):
        ref = call(1)
        for t in THREADS[1:]:
            assert identical(call(t), ref), f"{name} with {t} threads"


def streamed(f, *args, **kw):
    with K.stream_threshold(0):
        return f(*args, **kw)


def fast_path_calls(dtype, seed):
    """The kernels' special paths: the book's 2x2/2 pooling (odd sizes too), 3x3 and
    5x5 windows, im2col through the cache and streamed (straight and via blocks), and a col2im with one sample, so
    that its channels are split between threads."""
    x = rand((5, 7, 13, 11), dtype, seed)
    out, arg = K.maxpool_forward(x, 2, 2, 2, n_threads=1)
    d = rand(out.shape, dtype, seed + 1)
    big = rand((24, 16, 28, 28), dtype, seed + 2)
    dbig = rand((48, 16, 28, 28), dtype, seed + 6)
    one = rand((1, 9, 12, 10), dtype, seed + 3)
    col1 = rand(util.im2col(one, 3, 3, 1, 1).shape, dtype, seed + 4)
    col5 = rand(util.im2col(x, 5, 5, 1, 2).shape, dtype, seed + 5)
    return [
        ("maxpool 2x2", lambda t: K.maxpool_forward(x, 2, 2, 2, n_threads=t)),
        ("maxpool 2x2 backward", lambda t: K.maxpool_backward(d, arg, x.shape, 2, 2, 2,
                                                              n_threads=t)),
        ("avgpool 2x2", lambda t: K.avgpool_forward(x, 2, 2, 2, n_threads=t)),
        ("avgpool 2x2 backward", lambda t: K.avgpool_backward(d, x.shape, 2, 2, 2,
                                                              n_threads=t)),
        ("im2col", lambda t: util.im2col(big, 3, 3, 1, 1, n_threads=t)),
        ("im2col streamed", lambda t: streamed(util.im2col, big, 3, 3, 1, 1, n_threads=t)),
        ("im2col_t", lambda t: K.im2col_t(big, 3, 3, 1, 1, n_threads=t)),
        ("im2col_t narrow", lambda t: K.im2col_t(x[:, :, :, :9], 3, 3, 1, 1, n_threads=t)),
        ("im2col streamed via blocks",
         lambda t: streamed(util.im2col, big[:, :15], 3, 3, 1, 1, n_threads=t)),
        ("pooling backward, large", lambda t: K.avgpool_backward(
            dbig, (48, 16, 56, 56), 2, 2, 2, n_threads=t)),   # dx >= 8 MiB
        ("col2im one sample", lambda t: util.col2im(col1, one.shape, 3, 3, 1, 1,
                                                    n_threads=t)),
        ("col2im 5x5", lambda t: util.col2im(col5, x.shape, 5, 5, 1, 2, n_threads=t)),
    ]


@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_paths_identical_for_1_2_3_8_threads(dtype):
    for name, call in fast_path_calls(dtype, 7):
        ref = call(1)
        for t in (2, 3, 8):
            assert identical(call(t), ref), f"{name} with {t} threads"


@pytest.mark.parametrize("dtype", DTYPES)
def test_layers_identical_for_1_2_8_threads(dtype):
    x = rand((5, 3, 15, 12), dtype, 1)
    W = rand((7, 3, 3, 4), dtype, 2)
    b = rand((7,), dtype, 3)
    results = {}
    for t in THREADS:
        conv = Convolution(W, b, stride=(2, 1), pad=(1, 2), n_threads=t)
        y = conv.forward(x)
        dx = conv.backward(rand(y.shape, dtype, 4))
        pool = Pooling(3, 2, stride=2, pad=1, n_threads=t)
        p = pool.forward(y)
        dp = pool.backward(rand(p.shape, dtype, 5))
        avg = AvgPooling(2, 3, stride=(1, 2), pad=(1, 0), n_threads=t)
        a = avg.forward(y)
        da = avg.backward(rand(a.shape, dtype, 6))
        results[t] = (y, dx, conv.dW, conv.db, p, pool.arg_max, dp, a, da)
    names = ("conv out", "conv dx", "dW", "db", "pool out", "arg_max", "pool dx", "avg out",
             "avg dx")
    for t in THREADS[1:]:
        for name, got, want in zip(names, results[t], results[1]):
            assert identical(np.ascontiguousarray(got), np.ascontiguousarray(want)), \
                f"{name} differs with {t} threads ({dtype.__name__})"


@pytest.mark.parametrize("dtype", DTYPES)
def test_simple_convnet_gradient_identical_for_1_2_8_threads(dtype, mnist_data_4d,
                                                             restore_threads):
    (x_train, t_train), _ = mnist_data_4d
    x, t = x_train[:64].astype(dtype), t_train[:64]
    grads = {}
    for n in THREADS:
        cconv.set_num_threads(n)
        assert cconv.get_num_threads() == n
        net = SimpleConvNet(dtype=dtype, weight_init_std=0.05, rng=7)
        g = net.gradient(x, t)
        grads[n] = (net.last_loss, g)
    loss1, g1 = grads[1]
    assert np.isfinite(loss1) and 2.0 < loss1 < 2.6  # ln 10 ~ 2.30 at initialisation
    for n in THREADS[1:]:
        loss, g = grads[n]
        assert loss == loss1, f"loss differs with {n} threads"
        for key in g1:
            assert identical(g[key], g1[key]), f"{key} differs with {n} threads"


def _blas_pools():
    return [p for p in threadpool_info() if p["user_api"] == "blas"]


def test_threadpoolctl_blas_limit_leaves_results_unchanged(mnist_data_4d):
    (x_train, t_train), _ = mnist_data_4d
    x, t = x_train[:50], t_train[:50]
    net = SimpleConvNet(dtype=np.float32, rng=3)
    free = net.gradient(x, t)
    free_loss = net.last_loss
    assert _blas_pools(), "numpy reports no BLAS library to threadpoolctl"
    with threadpool_limits(limits=1, user_api="blas"):
        assert all(p["num_threads"] == 1 for p in _blas_pools())
        limited = net.gradient(x, t)
        limited_loss = net.last_loss
    assert limited_loss == free_loss
    for key in free:
        np.testing.assert_array_equal(limited[key], free[key], err_msg=key)


def test_threadpoolctl_openmp_limit_does_not_change_cconv_threads(restore_threads):
    # threadpoolctl sets libgomp's default team size; cconv asks for its count explicitly.
    x = rand((4, 3, 20, 20), np.float64, 8)
    want = util.im2col(x, 3, 3, 1, 1, n_threads=1)
    before = cconv.get_num_threads()
    openmp = [p for p in threadpool_info() if p["user_api"] == "openmp"]
    with threadpool_limits(limits=1, user_api="openmp"):
        if openmp:  # the OpenMP build: libgomp is loaded by the kernels
            assert _im2col.openmp_max_threads() == 1
        assert cconv.get_num_threads() == before
        got = util.im2col(x, 3, 3, 1, 1, n_threads=4)
    assert identical(got, want)
    cconv.set_num_threads(2)
    with threadpool_limits(limits=1):
        assert cconv.get_num_threads() == 2
