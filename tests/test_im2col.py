"""im2col / col2im and the per-sample im2col_t / col2im_t (cconv.ops.im2col, kernel
src/_im2col.pyx) against the NumPy reference (cconv.ops.reference.im2col)."""

import numpy as np
import pytest
from hypothesis import given

from cconv import ops as K
from cconv.ops import reference as R
from cconv import util
from op_cases import *  # noqa: F401,F403


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GRID)
def test_im2col_equals_reference(case, dtype):
    N, C, H, W, FH, FW, s, p = case
    x = rand((N, C, H, W), dtype)
    col = util.im2col(x, FH, FW, s, p)
    ref = R.im2col.im2col(x, FH, FW, s, p)
    assert col.dtype == dtype and col.flags.c_contiguous
    np.testing.assert_array_equal(col, ref)


@pytest.mark.parametrize("threshold", [0, 1 << 62], ids=["streamed", "cached"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", STREAMED)
def test_im2col_both_ways_equals_reference(case, dtype, threshold):
    N, C, H, W, FH, FW, s, p = case
    x = rand((N, C, H, W), dtype, 11)
    ref = R.im2col.im2col(x, FH, FW, s, p)
    with K.stream_threshold(threshold):
        col = util.im2col(x, FH, FW, s, p)
        np.testing.assert_array_equal(col, ref)
        # an out buffer that is not 16-byte aligned cannot take aligned streaming stores
        raw = np.empty(ref.size + 1, dtype)
        out = raw[1:].reshape(ref.shape)
        util.im2col(x, FH, FW, s, p, out=out)
        np.testing.assert_array_equal(out, ref)
    c = rand(col.shape, dtype, 12)
    np.testing.assert_allclose(util.col2im(c, x.shape, FH, FW, s, p),
                               R.im2col.col2im(c, x.shape, FH, FW, s, p), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_threads", [1, 3, 8])
def test_col2im_channel_blocks_equal_reference(dtype, n_threads):
    # one or two samples: the channels are split into blocks between the threads
    for N, C in ((1, 7), (2, 3)):
        shape = (N, C, 9, 8)
        c = rand(R.im2col.im2col(np.zeros(shape, dtype), 3, 3, 1, 1).shape, dtype, 13)
        np.testing.assert_allclose(util.col2im(c, shape, 3, 3, 1, 1, n_threads=n_threads),
                                   R.im2col.col2im(c, shape, 3, 3, 1, 1), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GRID)
def test_col2im_equals_reference(case, dtype):
    N, C, H, W, FH, FW, s, p = case
    oh, ow = R.im2col.out_size(H, FH, *R.im2col._pair(s)[:1], R.im2col._pair(p)[0]), None
    col_shape = R.im2col.im2col(np.zeros((N, C, H, W), dtype), FH, FW, s, p).shape
    col = rand(col_shape, dtype, 1)
    got = util.col2im(col, (N, C, H, W), FH, FW, s, p)
    assert got.dtype == dtype and got.shape == (N, C, H, W)
    np.testing.assert_allclose(got, R.im2col.col2im(col, (N, C, H, W), FH, FW, s, p), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GRID)
def test_adjoint_identity(case, dtype):
    # <im2col(x), c> == <x, col2im(c)>: col2im is the transpose of im2col.
    N, C, H, W, FH, FW, s, p = case
    x = rand((N, C, H, W), np.float64, 2)
    col = util.im2col(x, FH, FW, s, p)
    c = rand(col.shape, np.float64, 3)
    lhs = np.vdot(col, c)
    rhs = np.vdot(x, util.col2im(c, x.shape, FH, FW, s, p))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


@HYP
@given(geometries())
def test_property_im2col_col2im(g):
    shape, fh, fw, s, p, dtype, seed = g
    x = rand(shape, dtype, seed)
    col = util.im2col(x, fh, fw, s, p)
    np.testing.assert_array_equal(col, R.im2col.im2col(x, fh, fw, s, p))
    with K.stream_threshold(0):
        np.testing.assert_array_equal(util.im2col(x, fh, fw, s, p), col)
    c = rand(col.shape, dtype, seed + 1)
    np.testing.assert_allclose(util.col2im(c, shape, fh, fw, s, p),
                               R.im2col.col2im(c, shape, fh, fw, s, p), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GRID + SAME_WIDTH)
def test_im2col_t_col2im_t_equal_reference(case, dtype):
    N, C, H, W, FH, FW, s, p = case
    x = rand((N, C, H, W), dtype, 20)
    colT = K.im2col_t(x, FH, FW, s, p)
    np.testing.assert_array_equal(colT, col_t_ref(x, FH, FW, s, p))
    g = rand(colT.shape, dtype, 21)
    ref = R.im2col.col2im(g.transpose(0, 2, 1).reshape(-1, g.shape[1]), x.shape, FH, FW, s, p)
    np.testing.assert_allclose(K.col2im_t(g, x.shape, FH, FW, s, p), ref, **TOL[dtype])
    one = K.col2im_t(g, x.shape, FH, FW, s, p, n_threads=1)
    assert np.array_equal(K.col2im_t(g, x.shape, FH, FW, s, p, n_threads=4), one)


@HYP
@given(geometries())
def test_property_im2col_t(g):
    shape, fh, fw, s, p, dtype, seed = g
    x = rand(shape, dtype, seed)
    colT = K.im2col_t(x, fh, fw, s, p)
    np.testing.assert_array_equal(colT, col_t_ref(x, fh, fw, s, p))
    c = rand(colT.shape, np.float64, seed + 1)
    # adjoint: <im2col_t(x), c> == <x, col2im_t(c)>
    assert np.vdot(colT.astype(np.float64), c) == pytest.approx(
        np.vdot(x.astype(np.float64), K.col2im_t(c, shape, fh, fw, s, p)), rel=1e-9, abs=1e-9)


def test_col2im_t_shape_is_checked():
    with pytest.raises(ValueError, match=r"colT has shape \(1, 4, 5\).*needs \(1, 4, 4\)"):
        K.col2im_t(np.zeros((1, 4, 5)), (1, 1, 3, 3), 2, 2)

