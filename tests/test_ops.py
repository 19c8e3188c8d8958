"""What every op of the door (cconv.ops) shares: layouts, out= buffers, the dtype policy,
bad input, threads, empty planes, byte order and size limits."""

import os
import numpy as np
import pytest

from cconv import ops as K
from cconv.ops import reference as R
from cconv import util
from op_cases import *  # noqa: F401,F403


def test_noncontiguous_fortran_readonly_inputs():
    base = rand((4, 6, 10, 12), np.float64, 11)
    views = {
        "strided": base[::2, ::2, :, ::2],
        "fortran": np.asfortranarray(base),
        "transposed": base.transpose(0, 1, 3, 2),
    }
    ro = base.copy()
    ro.setflags(write=False)
    views["readonly"] = ro
    for name, v in views.items():
        np.testing.assert_array_equal(util.im2col(v, 3, 3, 1, 1), R.im2col.im2col(v, 3, 3, 1, 1), name)
        out, arg = K.maxpool_forward(v, 2, 2, 2)
        np.testing.assert_array_equal(out, R.pooling.maxpool_forward(v, 2, 2, 2)[0], name)
    col = util.im2col(base, 3, 3)
    colf = np.asfortranarray(col)
    colf.setflags(write=False)
    np.testing.assert_allclose(util.col2im(colf, base.shape, 3, 3), R.im2col.col2im(col, base.shape, 3, 3))


def test_out_buffers_are_used_and_checked():
    x = rand((2, 3, 6, 6), np.float32, 12)
    buf = np.empty((2 * 4 * 4, 27), np.float32)
    col = util.im2col(x, 3, 3, out=buf)
    assert col is buf
    np.testing.assert_array_equal(buf, R.im2col.im2col(x, 3, 3))
    with pytest.raises(ValueError, match=r"out for col must have shape \(32, 27\)"):
        util.im2col(x, 3, 3, out=np.empty((32, 27), np.float64))
    with pytest.raises(ValueError, match="C-contiguous"):
        util.im2col(x, 3, 3, out=np.empty((27, 32), np.float32).T)
    dx = np.empty(x.shape, np.float32)
    assert util.col2im(col, x.shape, 3, 3, out=dx) is dx


def test_dtype_policy():
    xi = np.arange(2 * 1 * 4 * 4).reshape(2, 1, 4, 4)
    assert util.im2col(xi, 2, 2).dtype == np.float64
    assert util.im2col(xi.astype(np.float16), 2, 2).dtype == np.float32
    assert util.im2col(xi.astype(bool), 2, 2).dtype == np.float64
    np.testing.assert_array_equal(util.im2col(xi, 2, 2), R.im2col.im2col(xi.astype(float), 2, 2))
    with pytest.raises(TypeError, match="complex128"):
        util.im2col(xi.astype(complex), 2, 2)
    with pytest.raises(TypeError, match="object"):
        util.im2col(xi.astype(object), 2, 2)


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_input_is_refused_clearly(i):
    fn, exc, msg = BAD[i]
    with pytest.raises(exc, match=msg):
        fn()


def test_zero_size_inputs():
    x = np.zeros((0, 3, 5, 5), np.float32)
    assert util.im2col(x, 3, 3).shape == (0, 27)
    assert util.col2im(np.zeros((0, 27), np.float32), x.shape, 3, 3).shape == x.shape
    out, arg = K.maxpool_forward(x, 2, 2, 2)
    assert out.shape == (0, 3, 2, 2)
    x = np.zeros((2, 0, 5, 5))
    assert util.im2col(x, 3, 3).shape == (18, 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_count_does_not_change_results(dtype):
    x = rand((5, 3, 13, 11), dtype, 13)
    args = (3, 2, 2, 1)
    col1 = util.im2col(x, *args, n_threads=1)
    g = rand(col1.shape, dtype, 14)
    dx1 = util.col2im(g, x.shape, *args, n_threads=1)
    out1, arg1 = K.maxpool_forward(x, 3, 3, 2, 1, n_threads=1)
    d = rand(out1.shape, dtype, 15)
    mb1 = K.maxpool_backward(d, arg1, x.shape, 3, 3, 2, 1, n_threads=1)
    a1 = K.avgpool_forward(x, 3, 3, 2, 1, n_threads=1)
    ab1 = K.avgpool_backward(d, x.shape, 3, 3, 2, 1, n_threads=1)
    for n in (2, 3, 8):
        assert np.array_equal(util.im2col(x, *args, n_threads=n), col1)
        assert np.array_equal(util.col2im(g, x.shape, *args, n_threads=n), dx1)
        out, arg = K.maxpool_forward(x, 3, 3, 2, 1, n_threads=n)
        assert np.array_equal(out, out1) and np.array_equal(arg, arg1)
        assert np.array_equal(K.maxpool_backward(d, arg1, x.shape, 3, 3, 2, 1, n_threads=n), mb1)
        assert np.array_equal(K.avgpool_forward(x, 3, 3, 2, 1, n_threads=n), a1)
        assert np.array_equal(K.avgpool_backward(d, x.shape, 3, 3, 2, 1, n_threads=n), ab1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", EMPTY_PLANES)
def test_forward_kernels_on_empty_planes_equal_reference(case, dtype):
    N, C, H, W, FH, FW, s, p = case
    x = np.zeros((N, C, H, W), dtype)
    col = util.im2col(x, FH, FW, s, p)
    assert col.dtype == dtype and col.size and np.array_equal(col, R.im2col.im2col(x, FH, FW, s, p))
    colT = K.im2col_t(x, FH, FW, s, p)
    assert np.array_equal(colT, col_t_ref(x, FH, FW, s, p))
    out, arg = K.maxpool_forward(x, FH, FW, s, p)
    assert np.all(out == -np.inf) and np.all(arg == 0)   # padding reads as -inf
    assert np.array_equal(K.avgpool_forward(x, FH, FW, s, p), R.pooling.avgpool_forward(x, FH, FW, s, p))


def test_convolution_layer_on_empty_planes_gives_the_bias():
    from cconv.layers import Convolution
    conv = Convolution(rand((4, 2, 2, 2), np.float64), np.arange(4.0), pad=1)
    y = conv.forward(np.zeros((2, 2, 0, 0)))
    assert y.shape == (2, 4, 1, 1) and np.array_equal(y[1, :, 0, 0], np.arange(4.0))
    assert conv.backward(np.ones(y.shape)).shape == (2, 2, 0, 0)
    assert np.array_equal(conv.dW, np.zeros((4, 2, 2, 2))) and np.all(conv.db == 2)


def test_out_overlapping_an_input_is_refused():
    x = np.arange(2 * 16.0).reshape(2, 1, 4, 4)
    buf = np.zeros(64)
    with pytest.raises(ValueError, match="out for col overlaps input_data"):
        util.im2col(buf[:16].reshape(1, 1, 4, 4), 1, 1, out=buf[8:24].reshape(16, 1))
    col = util.im2col(x, 2, 2, 2)
    with pytest.raises(ValueError, match="out for dx overlaps col"):
        util.col2im(col, (2, 1, 4, 4), 2, 2, 2, out=col.reshape(2, 1, 4, 4))
    with pytest.raises(ValueError, match="out for out overlaps x"):
        K.avgpool_forward(x, 4, 4, 4, out=x.reshape(-1)[:2].reshape(2, 1, 1, 1))
    out = np.empty((2, 1, 2, 2))
    with pytest.raises(ValueError, match="out for arg overlaps out"):
        K.maxpool_forward(x, 2, 2, 2, out=out, arg=out.reshape(-1).view(np.uint16)[:8].reshape(2, 1, 2, 2))
    buf = np.ones(40)
    with pytest.raises(ValueError, match="out for dx overlaps dout"):
        K.avgpool_backward(buf[:8].reshape(2, 1, 2, 2), (2, 1, 4, 4), 2, 2, 2,
                           out=buf[4:36].reshape(2, 1, 4, 4))
    d3 = np.ones((1, 3, 4))
    with pytest.raises(ValueError, match="out for db overlaps d3"):
        K.sum_channels(d3, out=d3[0, 0, :3])
    # element-wise kernels may work in place, but not on a shifted view
    y = np.array([-1.0, 2.0, -3.0, 4.0])
    assert K.relu(y, out=y) is y and np.array_equal(y, [0, 2, 0, 4])
    z = np.array([-1.0, 2.0, -3.0, 4.0, 5.0])
    with pytest.raises(ValueError, match="overlaps x"):
        K.relu(z[:4], out=z[1:])
    # separate buffers are still fine
    assert np.array_equal(util.col2im(col, (2, 1, 4, 4), 2, 2, 2, out=np.empty((2, 1, 4, 4))),
                          R.im2col.col2im(col, (2, 1, 4, 4), 2, 2, 2))


@pytest.mark.parametrize("dtype", ["<f4", ">f4", ">f8", ">i4", ">f2"])
def test_non_native_byte_order_is_converted(dtype):
    x = np.arange(2 * 3 * 5 * 5).reshape(2, 3, 5, 5).astype(dtype)
    native = x.astype(x.dtype.newbyteorder("="))
    col = util.im2col(x, 3, 3, 2, 1)
    want = util.im2col(native, 3, 3, 2, 1)
    assert col.dtype == want.dtype and col.dtype.isnative and np.array_equal(col, want)
    out, _ = K.maxpool_forward(x, 2, 2, 2)
    assert np.array_equal(out, K.maxpool_forward(native, 2, 2, 2)[0])


def test_sizes_beyond_ssize_t_raise_value_error():
    x = np.zeros((1, 1, 3, 3))
    with pytest.raises(ValueError, match="stride .* sys.maxsize"):
        K.maxpool_forward(x, 2, 2, stride=(1, 2**64))
    # pad and filter that fit one by one, but H + 2*pad does not fit C's Py_ssize_t
    with pytest.raises(ValueError, match="larger than the largest supported size"):
        util.im2col(x, 2**62, 2**62, stride=2**62, pad=2**62 - 1)
    with pytest.raises(ValueError, match="larger than the largest supported size"):
        util.col2im(np.zeros((1, 1)), (1, 1, 2**63, 1), 1, 1)
    # a huge stride that fits is one window per axis, computed without overflow
    assert np.array_equal(util.im2col(x + 1, 2, 2, stride=2**62, pad=1),
                          [[0, 0, 0, 1]])


def test_thread_count_is_capped():
    from cconv import _config
    with pytest.raises(ValueError, match=r"n_threads=4097 is more than cconv's limit of 4096"):
        util.im2col(np.zeros((1, 1, 3, 3)), 2, 2, n_threads=_config.MAX_THREADS + 1)
    with pytest.raises(ValueError, match="limit of 4096"):
        _config.set_num_threads(2**31 - 1)
    assert _config.resolve_threads(-1) <= _config.MAX_THREADS


def test_huge_omp_num_threads_is_clamped(monkeypatch):
    from cconv import _config, _threads
    monkeypatch.setattr(_threads, "_num_threads", None)
    monkeypatch.setenv("OMP_NUM_THREADS", str(2**31 - 1))
    assert _config.get_num_threads() == _config.MAX_THREADS
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    assert _config.get_num_threads() == 7

