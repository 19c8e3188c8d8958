"""Bad input through the public API: the README's "Reliability" table, one row per case.

Each row is ``category | where | case``: the call is made through a public name
(``cconv.util``, ``cconv.ops``, ``cconv.layers``, ``cconv.networks``,
``cconv.datasets``) and must either raise the documented class with a message that
names the numbers, or (for NaN/inf, empty and tiny-but-valid input) return a checked
result. Never a crash, a hang, or silent garbage.

Cases already tested elsewhere are not repeated here: tests/test_im2col.py, test_pooling.py, test_ops.py
(``BAD``, dtype policy, zero N or C), tests/test_layers.py (layer shape errors),
tests/test_networks.py (params files: wrong network, missing key, shape, float32,
NaN, truncated, junk; ``posix.system`` pickle) and tests/test_datasets.py (corrupt
IDX headers, gzip damage, unwritable download directories).

Rows marked ``xfail(strict=True)`` are bugs found by this table and reported to the
owners of the code; the mark's reason says what is expected. When a bug is fixed the
row XPASSes, which fails the run: then delete its ``bug=``.
"""
import gzip
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from cconv import ops as K
from cconv.ops import reference as R
from cconv import util
from cconv.io.npz import load_npz
from cconv.datasets import DatasetError, DownloadError, fetch, load_mnist
from cconv import layers as L
from cconv.layers import AvgPooling, Convolution, Pooling
from cconv.networks import (DeepConvNet, ParamsFileError, SimpleConvNet, load_book_pickle,
                            load_network)

F32, F64 = np.float32, np.float64
ROWS = []


# .ci/sanitize sets CCONV_DEBUG=1 when it tests the bounds-checked build.
DEBUG_BUILD = os.environ.get("CCONV_DEBUG", "").strip().lower() in ("1", "true", "on")


def row(category, where, case, fn, expect, match=None, bug=None, debug_bug=None):
    """Add one table row.

    ``fn(tmp_path)`` makes the call. ``expect`` is an exception class (then ``match`` is
    a regex its message must contain) or a function that checks the returned value.
    ``bug`` marks a known bug (strict xfail, with the expected behaviour as reason);
    ``debug_bug`` one that only the bounds-checked build (CCONV_DEBUG=1) shows.
    """
    marks = [pytest.mark.xfail(strict=True, reason=f"bug: {bug}")] if bug else []
    if debug_bug:
        marks.append(pytest.mark.xfail(DEBUG_BUILD, strict=True, reason=f"bug: {debug_bug}"))
    ROWS.append(pytest.param(fn, expect, match, id=f"{category} | {where} | {case}",
                             marks=marks))


def z(shape, dtype=F64):
    return np.zeros(shape, dtype)


def rand(shape, dtype=F64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def is_(shape, dtype=None, value=None):
    """A check: the result has this shape (and dtype, and every element == value)."""
    def check(r):
        assert r.shape == shape, r.shape
        if dtype is not None:
            assert r.dtype == dtype, r.dtype
        if value is not None:
            assert np.all(r == value), r
    return check


def small_net(**kw):
    return SimpleConvNet(input_dim=(1, 10, 10),
                         conv_param={'filter_num': 3, 'filter_size': 3, 'pad': 0, 'stride': 1,
                                     **kw.pop('conv', {})},
                         hidden_size=5, output_size=4, weight_init_std=0.1, rng=0, **kw)


# ---- wrong ndim ------------------------------------------------------------------------

row("wrong ndim", "ops.maxpool_forward", "5-D x",
    lambda _: K.maxpool_forward(z((1, 1, 1, 4, 4)), 2, 2), ValueError,
    r"x must be 4-D \(N, C, H, W\), got 5-D with shape \(1, 1, 1, 4, 4\)")
row("wrong ndim", "ops.avgpool_forward", "2-D x",
    lambda _: K.avgpool_forward(z((4, 4)), 2, 2), ValueError, r"x must be 4-D .* got 2-D")
row("wrong ndim", "ops.maxpool_backward", "3-D dout",
    lambda _: K.maxpool_backward(z((1, 2, 2)), z((1, 2, 2), int), (1, 1, 4, 4), 2, 2, 2),
    ValueError, r"dout must be 4-D .* got 3-D")
row("wrong ndim", "ops.avgpool_backward", "0-D dout",
    lambda _: K.avgpool_backward(np.float64(1), (1, 1, 2, 2), 2, 2), ValueError,
    r"dout must be 4-D .* got 0-D")
row("wrong ndim", "util.col2im", "3-D col",
    lambda _: util.col2im(z((1, 4, 4)), (1, 1, 3, 3), 2, 2), ValueError,
    r"col has shape \(1, 4, 4\).*needs \(4, 4\)")
row("wrong ndim", "layers.Pooling.forward", "flat (N, 784) rows",
    lambda _: Pooling(2, 2, 2).forward(z((3, 784))), ValueError, r"4-D .* got 2-D")
row("wrong ndim", "layers.AvgPooling.forward", "3-D x",
    lambda _: AvgPooling(2, 2, 2).forward(z((1, 4, 4))), ValueError, r"4-D .* got 3-D")
row("wrong ndim", "networks.SimpleConvNet", "2-value input_dim",
    lambda _: SimpleConvNet(input_dim=(28, 28)), (ValueError, TypeError), r"input_dim")

# ---- zero-size and huge dimensions ------------------------------------------------------

row("zero-size", "util.im2col", "0x0 image with pad 1 (windows of padding only)",
    lambda _: util.im2col(z((2, 3, 0, 0), F32), 2, 2, pad=1), is_((2, 12), F32, 0))
row("zero-size", "ops.maxpool_forward", "0x0 image with pad 1 -> -inf, arg 0",
    lambda _: K.maxpool_forward(z((1, 2, 0, 0)), 2, 2, pad=1),
    lambda r: (is_((1, 2, 1, 1), F64, -np.inf)(r[0]), is_((1, 2, 1, 1), np.uint16, 0)(r[1])))
row("zero-size", "ops.avgpool_forward", "0x0 image with pad 1 -> 0",
    lambda _: K.avgpool_forward(z((1, 2, 0, 0), F32), 2, 2, pad=1), is_((1, 2, 1, 1), F32, 0))
row("zero-size", "util.col2im", "0x0 image with pad 1",
    lambda _: util.col2im(np.ones((1, 4)), (1, 1, 0, 0), 2, 2, pad=1), is_((1, 1, 0, 0)))
row("zero-size", "ops.maxpool_backward", "0x0 image with pad 1",
    lambda _: K.maxpool_backward(np.ones((1, 1, 1, 1)), z((1, 1, 1, 1), int), (1, 1, 0, 0),
                                 2, 2, pad=1), is_((1, 1, 0, 0)))
row("zero-size", "ops.avgpool_backward", "N=0 batch",
    lambda _: K.avgpool_backward(z((0, 3, 2, 2)), (0, 3, 4, 4), 2, 2, 2), is_((0, 3, 4, 4)))
row("zero-size", "util.im2col", "H=0 without pad",
    lambda _: util.im2col(z((1, 1, 0, 3)), 1, 1), ValueError,
    "filter 1x1 with pad 0x0 does not fit a 0x3 input")
row("zero-size", "layers.Convolution", "N=0 batch, forward and backward",
    lambda _: (lambda c: (c.forward(z((0, 3, 5, 5))), c.backward(z((0, 4, 3, 3))))[1])(
        Convolution(rand((4, 3, 3, 3)), z(4))), is_((0, 3, 5, 5)))
row("zero-size", "layers.Pooling", "N=0 batch, forward and backward",
    lambda _: (lambda p: (p.forward(z((0, 2, 4, 4))), p.backward(z((0, 2, 2, 2))))[1])(
        Pooling(2, 2, 2)), is_((0, 2, 4, 4)))
row("zero-size", "networks.SimpleConvNet", "empty batch: predict, accuracy",
    lambda _: (lambda n: (n.predict(z((0, 1, 10, 10))).shape, n.accuracy(z((0, 1, 10, 10)),
                                                                         z(0, int))))(small_net()),
    lambda r: r == ((0, 4), 0.0))
row("huge dims", "util.im2col", "filter 2**40",
    lambda _: util.im2col(z((1, 1, 3, 3)), 2**40, 2), ValueError,
    "filter 1099511627776x2 with pad 0x0 does not fit a 3x3 input")
row("huge dims", "util.im2col", "stride 2**40 (one window)",
    lambda _: util.im2col(rand((2, 1, 3, 3)), 2, 2, stride=2**40), is_((2, 4)))
row("huge dims", "util.im2col", "stride 2**63 (beyond C's ssize_t)",
    lambda _: util.im2col(z((1, 1, 3, 3)), 2, 2, stride=2**63), ValueError, "stride")
row("huge dims", "util.col2im", "input_shape 2**62 x 2**62 (needs 2**127 bytes)",
    lambda _: util.col2im(z((1, 1)), (1, 1, 2**62, 2**62), 1, 1, stride=2**62), MemoryError,
    r"dx of shape \(1, 1, 4611686018427387904, 4611686018427387904\) .* would need .* GiB")
row("huge dims", "ops.maxpool_backward", "x_shape 2**31 x 2**31",
    lambda _: K.maxpool_backward(z((1, 1, 1, 1)), z((1, 1, 1, 1), int), (1, 1, 2**31, 2**31),
                                 2**31, 2**31), MemoryError, r"dx of shape .* GiB, more than")
row("huge dims", "ops.maxpool_forward", "4 TiB broadcast x, one 1x1 window",
    lambda _: K.maxpool_forward(np.broadcast_to(F32(0), (1, 1, 2**20, 2**20)), 1, 1,
                                stride=2**20), MemoryError, r"allocate|GiB|TiB")
row("huge dims", "util.im2col", "n_threads=2**31 (beyond C int)",
    lambda _: util.im2col(z((1, 1, 3, 3)), 2, 2, n_threads=2**31), ValueError, "n_threads")


def _threads_in_subprocess(_):
    # libgomp allocates a team for every requested thread; too many must not kill python.
    code = ("import numpy as np\nfrom cconv import util\ntry:\n"
            "    util.im2col(np.zeros((1, 1, 3, 3)), 2, 2, n_threads=2**31 - 1)\n"
            "    print('ok')\nexcept ValueError:\n    print('ValueError')\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


row("huge dims", "util.im2col", "n_threads=2**31-1 (process must survive)",
    _threads_in_subprocess,
    lambda r: r.returncode == 0 and r.stdout.strip() in ("ok", "ValueError"))

# ---- negative / zero stride -------------------------------------------------------------

row("stride", "ops.maxpool_forward", "stride 0",
    lambda _: K.maxpool_forward(z((1, 1, 4, 4)), 2, 2, 0), ValueError,
    "stride must be positive, got 0")
row("stride", "ops.avgpool_forward", "stride (1, -1)",
    lambda _: K.avgpool_forward(z((1, 1, 4, 4)), 2, 2, (1, -1)), ValueError,
    r"stride must be positive, got \(1, -1\)")
row("stride", "util.col2im", "stride 0",
    lambda _: util.col2im(z((4, 4)), (1, 1, 3, 3), 2, 2, stride=0), ValueError,
    "stride must be positive")
row("stride", "ops.avgpool_backward", "stride -2",
    lambda _: K.avgpool_backward(z((1, 1, 2, 2)), (1, 1, 4, 4), 2, 2, -2), ValueError,
    "stride must be positive")
row("stride", "layers.Pooling.forward", "stride -2",
    lambda _: Pooling(2, 2, -2).forward(z((1, 1, 4, 4))), ValueError, "stride must be positive")
row("stride", "layers.Convolution.forward", "stride 0",
    lambda _: Convolution(rand((2, 1, 3, 3)), z(2), stride=0).forward(z((1, 1, 5, 5))),
    ValueError, "stride must be positive")
row("stride", "util.im2col", "stride True (a bool)",
    lambda _: util.im2col(z((1, 1, 3, 3)), 2, 2, stride=True), TypeError,
    r"stride must be an int, not bool")
row("stride", "util.im2col", "stride 1.5",
    lambda _: util.im2col(z((1, 1, 3, 3)), 2, 2, stride=1.5), TypeError,
    r"stride must be an int, not float \(1.5\)")
row("stride", "networks.SimpleConvNet", "conv stride 0",
    lambda _: small_net(conv={'stride': 0}), ValueError, "stride")
row("stride", "networks.DeepConvNet", "conv_param_1 stride 0",
    lambda _: DeepConvNet(conv_param_1={'filter_num': 16, 'filter_size': 3, 'pad': 1,
                                        'stride': 0}), ValueError, "stride")
row("stride", "networks.SimpleConvNet", "pool_size 0",
    lambda _: small_net(pool_size=0), ValueError, "pool")

# ---- pad larger than the filter ---------------------------------------------------------

row("pad", "ops.avgpool_forward", "pad equal to the pool",
    lambda _: K.avgpool_forward(z((1, 1, 4, 4)), 2, 2, 2, pad=2), ValueError,
    "pad 2x2 must be smaller than the pool 2x2")
# (a filter's pad may be as large as the filter, as in the book: its windows of padding
# alone give 0; tests/test_book_scripts.py checks those against the reference)
row("pad", "util.col2im", "col sized for pad 0, pad 3 given",
    lambda _: util.col2im(z((4, 9)), (1, 1, 3, 3), 3, 3, pad=3), ValueError,
    r"col has shape \(4, 9\).*pad 3 needs \(49, 9\)")
row("pad", "util.im2col", "pad (0, -3)",
    lambda _: util.im2col(z((1, 1, 5, 5)), 3, 3, pad=(0, -3)), ValueError,
    r"pad must be >= 0, got \(0, -3\)")
row("pad", "layers.Convolution.forward", "pad (4, -1)",
    lambda _: Convolution(rand((2, 1, 3, 3)), z(2), pad=(4, -1)).forward(z((1, 1, 5, 5))),
    ValueError, r"pad must be >= 0, got \(4, -1\)")
row("pad", "networks.SimpleConvNet", "pad -1 (refused when built)",
    lambda _: small_net(conv={'pad': -1}), ValueError, "pad")

# ---- filters larger than the padded input -----------------------------------------------

row("filter too large", "ops.maxpool_forward", "5x5 pool on 4x4",
    lambda _: K.maxpool_forward(z((1, 1, 4, 4)), 5, 5), ValueError,
    "pool 5x5 with pad 0x0 does not fit a 4x4 input")
row("filter too large", "ops.maxpool_forward", "257x256 pool: argmax past uint16",
    lambda _: K.maxpool_forward(z((1, 1, 257, 256), F32), 257, 256), ValueError,
    "257x256 max-pooling window has 65,792 cells.*at most 65,536")
row("filter too large", "ops.avgpool_forward", "3x7 pool, pad (1, 1), on 4x4",
    lambda _: K.avgpool_forward(z((1, 1, 4, 4)), 3, 7, pad=1), ValueError,
    "pool 3x7 with pad 1x1 does not fit a 4x4 input")
row("filter too large", "util.col2im", "4x4 filter on a 3x3 input_shape",
    lambda _: util.col2im(z((1, 16)), (1, 1, 3, 3), 4, 4), ValueError,
    "filter 4x4 with pad 0x0 does not fit a 3x3 input")
row("filter too large", "ops.avgpool_backward", "3x3 pool on 2x2 x_shape",
    lambda _: K.avgpool_backward(z((1, 1, 1, 1)), (1, 1, 2, 2), 3, 3), ValueError,
    "pool 3x3 with pad 0x0 does not fit a 2x2 input")
row("filter too large", "layers.Pooling.forward", "3x3 pool on 2x2",
    lambda _: Pooling(3, 3).forward(z((1, 1, 2, 2))), ValueError, "pool 3x3 .* 2x2 input")

# ---- non-float, complex and other dtypes ------------------------------------------------

row("dtype", "ops.maxpool_forward", "complex64",
    lambda _: K.maxpool_forward(z((1, 1, 4, 4), np.complex64), 2, 2), TypeError,
    "x has dtype complex64; cconv works on float32 or float64")
row("dtype", "ops.avgpool_forward", "str (<U3)",
    lambda _: K.avgpool_forward(z((1, 1, 4, 4)).astype("U3"), 2, 2), TypeError, "dtype <U3")
row("dtype", "util.col2im", "complex col",
    lambda _: util.col2im(z((4, 4), complex), (1, 1, 3, 3), 2, 2), TypeError,
    "col has dtype complex128")
row("dtype", "ops.maxpool_backward", "complex dout",
    lambda _: K.maxpool_backward(z((1, 1, 2, 2), complex), z((1, 1, 2, 2), int),
                                 (1, 1, 4, 4), 2, 2, 2), TypeError, "dout has dtype complex128")
row("dtype", "util.im2col", "datetime64",
    lambda _: util.im2col(z((1, 1, 3, 3), "M8[s]"), 2, 2), TypeError, "datetime64")
row("dtype", "util.im2col", "float128 (long double)",
    lambda _: util.im2col(z((1, 1, 3, 3), np.longdouble), 2, 2), TypeError,
    "float32 or float64")
row("dtype", "util.im2col", "int8 and uint16 become float64",
    lambda _: [util.im2col(np.arange(9, dtype=d).reshape(1, 1, 3, 3), 2, 2) for d in
               (np.int8, np.uint16)],
    lambda r: all(c.dtype == F64 and np.array_equal(c, r[0]) for c in r))
row("dtype", "util.im2col", "big-endian float64 (>f8) is still float64",
    lambda _: util.im2col(np.arange(9.0).reshape(1, 1, 3, 3).astype(">f8"), 2, 2),
    lambda r: np.array_equal(r, R.im2col.im2col(np.arange(9.0).reshape(1, 1, 3, 3), 2, 2)))
row("dtype", "layers.Pooling.forward", "complex x",
    lambda _: Pooling(2, 2, 2).forward(z((1, 1, 4, 4), complex)), TypeError, "complex128")
row("dtype", "layers.Convolution", "complex W (refused when built)",
    lambda _: Convolution(z((2, 1, 3, 3), complex), z(2)), TypeError, "complex")
row("dtype", "layers.Pooling.backward", "complex dout",
    lambda _: (lambda p: (p.forward(rand((1, 1, 4, 4))), p.backward(z((1, 1, 2, 2), complex)))[1])(
        Pooling(2, 2, 2)), TypeError, "complex")
row("dtype", "networks.SimpleConvNet.predict", "complex x",
    lambda _: small_net().predict(z((1, 1, 10, 10), complex)), TypeError, "complex")
row("dtype", "networks.SimpleConvNet.predict", "str x ('0.5' strings)",
    lambda _: small_net().predict(np.full((1, 1, 10, 10), "0.5")), TypeError, "dtype")

# ---- object arrays ----------------------------------------------------------------------

row("object arrays", "layers.Pooling.forward", "object array of floats",
    lambda _: Pooling(2, 2).forward(np.ones((1, 1, 2, 2), object)), TypeError, "dtype object")
row("object arrays", "util.col2im", "object col",
    lambda _: util.col2im(np.ones((4, 4), object), (1, 1, 3, 3), 2, 2), TypeError,
    "col has dtype object")
row("object arrays", "ops.maxpool_backward", "object arg",
    lambda _: K.maxpool_backward(z((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), object),
                                 (1, 1, 4, 4), 2, 2, 2), TypeError, "arg must hold integers")
row("object arrays", "util.im2col", "ragged nested list",
    lambda _: util.im2col([[[[1, 2], [3]]]], 1, 1), TypeError,
    "input_data must be an array of real numbers")
row("object arrays", "util.im2col", "None",
    lambda _: util.im2col(None, 1, 1), TypeError, "dtype object")

# ---- NaN / inf / huge / denormal values: propagate, no crash ----------------------------

SPECIAL = np.array([np.nan, np.inf, -np.inf, 1e308, -1e308, 5e-324, -0.0, 1.0, 0.0])


def _special_x(dtype=F64):
    return np.resize(SPECIAL.astype(dtype), 2 * 2 * 5 * 5).reshape(2, 2, 5, 5)


row("NaN/inf", "util.im2col", "NaN, +-inf, +-1e308, denormals are copied bit for bit",
    lambda _: (util.im2col(_special_x(), 3, 3, 2, 1), R.im2col.im2col(_special_x(), 3, 3, 2, 1)),
    lambda r: np.array_equal(r[0].view(np.int64), r[1].view(np.int64)))
SUMMABLE = SPECIAL[np.abs(SPECIAL) != 1e308]  # sums of +-1e308 depend on the order

row("NaN/inf", "util.col2im", "NaN, +-inf and denormals sum like the reference",
    lambda _: (util.col2im(np.resize(SUMMABLE, (18, 18)), (2, 2, 3, 3), 3, 3, pad=1),
               R.im2col.col2im(np.resize(SUMMABLE, (18, 18)), (2, 2, 3, 3), 3, 3, pad=1)),
    lambda r: np.array_equal(r[0], r[1], equal_nan=True))
row("NaN/inf", "ops.avgpool_forward", "inf and -inf in one window give NaN, 1e308s give inf",
    lambda _: (K.avgpool_forward(_special_x(), 2, 2, 1, 1),
               R.pooling.avgpool_forward(_special_x(), 2, 2, 1, 1)),
    lambda r: np.array_equal(r[0], r[1], equal_nan=True))
row("NaN/inf", "ops.maxpool_backward", "NaN dout is routed to the argmax only",
    lambda _: K.maxpool_backward(np.full((1, 1, 2, 2), np.nan), np.array([[[[0, 1], [2, 3]]]]),
                                 (1, 1, 4, 4), 2, 2, 2),
    lambda r: np.isnan(r).sum() == 4 and np.all(r[~np.isnan(r)] == 0))
row("NaN/inf", "ops.avgpool_backward", "inf dout spreads over its window",
    lambda _: K.avgpool_backward(np.full((1, 1, 1, 1), np.inf, F32), (1, 1, 3, 3), 2, 2, 2),
    lambda r: r.dtype == F32 and np.isinf(r).sum() == 4 and r[0, 0, 2, 2] == 0)
row("NaN/inf", "layers.Convolution", "NaN input: NaN out where windows see it, finite elsewhere",
    lambda _: (lambda x: Convolution(np.ones((1, 1, 3, 3)), z(1)).forward(x))(
        np.where(np.arange(49).reshape(1, 1, 7, 7) == 0, np.nan, 1.0)),
    lambda r: np.isnan(r).sum() == 1 and np.isnan(r[0, 0, 0, 0]) and np.all(r[0, 0, 1:] == 9))
row("NaN/inf", "networks.SimpleConvNet.gradient", "NaN batch: NaN loss and gradients",
    lambda _: (lambda n: (n.gradient(np.full((2, 1, 10, 10), np.nan), np.array([0, 1])),
                          n.last_loss))(small_net()),
    lambda r: np.isnan(r[1]) and all(np.isnan(g).any() for g in r[0].values()))
row("NaN/inf", "networks.SimpleConvNet.predict", "inf batch: no exception",
    lambda _: small_net().predict(np.full((2, 1, 10, 10), np.inf)), is_((2, 4)))

# ---- mismatched col / input_shape -------------------------------------------------------

row("col/input_shape mismatch", "util.col2im", "col transposed",
    lambda _: util.col2im(z((27, 32)), (2, 3, 5, 5), 3, 3, stride=2), ValueError,
    r"col has shape \(27, 32\), but input_shape \(2, 3, 5, 5\).* needs \(8, 27\)")
row("col/input_shape mismatch", "util.col2im", "col of the padded geometry, pad=0 given",
    lambda _: util.col2im(util.im2col(z((1, 1, 4, 4)), 3, 3, pad=1), (1, 1, 4, 4), 3, 3),
    ValueError, r"col has shape \(16, 9\).*needs \(4, 9\)")
row("col/input_shape mismatch", "util.col2im", "input_shape with a float",
    lambda _: util.col2im(z((4, 4)), (1, 1, 3.0, 3), 2, 2), TypeError,
    r"input_shape must be an int, not float \(3.0\)")
row("col/input_shape mismatch", "util.col2im", "input_shape with a negative size",
    lambda _: util.col2im(z((4, 4)), (1, 1, -3, 3), 2, 2), ValueError,
    r"shape \(1, 1, -3, 3\) has a negative dimension")
row("col/input_shape mismatch", "util.col2im", "input_shape None",
    lambda _: util.col2im(z((4, 4)), None, 2, 2), TypeError, "input_shape must be")
row("col/input_shape mismatch", "util.col2im", "out of the wrong shape",
    lambda _: util.col2im(z((4, 4)), (1, 1, 3, 3), 2, 2, out=z((1, 1, 3, 4))), ValueError,
    r"out for dx must have shape \(1, 1, 3, 3\)")
row("col/input_shape mismatch", "util.col2im", "out= is a view of col itself",
    lambda _: (lambda c: util.col2im(c, (1, 1, 4, 4), 1, 1, out=c.reshape(1, 1, 4, 4)))(
        np.arange(16.0).reshape(16, 1)), ValueError, "memory|overlap|alias")
row("col/input_shape mismatch", "layers.Convolution.backward", "dout of another geometry",
    lambda _: (lambda c: (c.forward(rand((2, 3, 5, 5))), c.backward(z((2, 4, 3, 2))))[1])(
        Convolution(rand((4, 3, 3, 3)), z(4))), ValueError, r"dout has shape \(2, 4, 3, 2\)")
row("col/input_shape mismatch", "layers.Convolution.backward", "backward before forward",
    lambda _: Convolution(rand((4, 3, 3, 3)), z(4)).backward(z((2, 4, 3, 3))), RuntimeError,
    "forward")

# ---- mismatched argmax arrays -----------------------------------------------------------

row("argmax mismatch", "ops.maxpool_backward", "arg of a 3x3 pool used with 2x2",
    lambda _: K.maxpool_backward(z((1, 1, 2, 2)), np.full((1, 1, 2, 2), 8), (1, 1, 4, 4),
                                 2, 2, 2), ValueError,
    r"arg values must lie in \[0, 4\) for a 2x2 pool, got \[8, 8\]")
row("argmax mismatch", "ops.maxpool_backward", "bool arg",
    lambda _: K.maxpool_backward(z((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), bool), (1, 1, 4, 4),
                                 2, 2, 2), TypeError, "arg must hold integers, got dtype bool")
row("argmax mismatch", "ops.maxpool_backward", "uint64 arg 2**64-1",
    lambda _: K.maxpool_backward(z((1, 1, 1, 1)), np.full((1, 1, 1, 1), 2**64 - 1, np.uint64),
                                 (1, 1, 2, 2), 2, 2), ValueError, r"arg values must lie in")
row("argmax mismatch", "ops.maxpool_backward", "arg as a nested list",
    lambda _: K.maxpool_backward(np.ones((1, 1, 1, 1)), [[[[3]]]], (1, 1, 2, 2), 2, 2),
    lambda r: np.array_equal(r, [[[[0, 0], [0, 1]]]]))
row("argmax mismatch", "ops.maxpool_backward", "arg transposed (C and N swapped)",
    lambda _: K.maxpool_backward(z((1, 2, 2, 2)), z((2, 1, 2, 2), int), (1, 2, 4, 4), 2, 2, 2),
    ValueError, r"arg has shape \(2, 1, 2, 2\), dout has \(1, 2, 2, 2\)")
row("argmax mismatch", "layers.Pooling.backward", "dout of another batch size",
    lambda _: (lambda p: (p.forward(rand((2, 3, 4, 4))), p.backward(z((3, 3, 2, 2))))[1])(
        Pooling(2, 2, 2)), ValueError, r"dout has shape \(3, 3, 2, 2\)")
row("argmax mismatch", "layers.Pooling.backward", "backward before forward",
    lambda _: Pooling(2, 2, 2).backward(z((1, 1, 2, 2))), RuntimeError, "forward")

# ---- layers used out of order, complex gradients and parameters ------------------------

for _name, _make, _dout in [
        ("Affine", lambda: L.Affine(z((4, 3)), z(3)), z((2, 3))),
        ("Relu", L.Relu, z((2, 3))), ("Sigmoid", L.Sigmoid, z((2, 3))),
        ("Tanh", L.Tanh, z((2, 3))), ("Dropout", L.Dropout, z((2, 3))),
        ("SoftmaxWithLoss", L.SoftmaxWithLoss, 1),
        ("BatchNormalization", lambda: L.BatchNormalization(np.ones(3), z(3)), z((2, 3))),
        ("AvgPooling", lambda: L.AvgPooling(2, 2, 2), z((1, 1, 2, 2)))]:
    row("layer order", f"layers.{_name}.backward", "backward before forward",
        lambda _, m=_make, d=_dout: m().backward(d), RuntimeError,
        f"{_name}.backward called before forward: call forward first")
row("dtype", "layers.Affine", "complex W (refused when built)",
    lambda _: L.Affine(z((4, 3), complex), z(3)), TypeError, "W has dtype complex128")
row("dtype", "layers.BatchNormalization", "str gamma (refused when built)",
    lambda _: L.BatchNormalization(np.array(["1"] * 3), z(3)), TypeError, "gamma has dtype <U1")
row("dtype", "layers.Convolution", "int W and b still accepted (converted when used)",
    lambda _: Convolution(np.ones((2, 1, 2, 2), int), np.zeros(2, int)).forward(z((1, 1, 3, 3))),
    is_((1, 2, 2, 2), F64, 0))
for _name, _layer, _x, _dout in [
        ("Convolution", lambda: Convolution(rand((2, 1, 2, 2)), z(2)), (1, 1, 3, 3), (1, 2, 2, 2)),
        ("AvgPooling", lambda: AvgPooling(2, 2, 2), (1, 1, 4, 4), (1, 1, 2, 2)),
        ("Affine", lambda: L.Affine(rand((4, 3)), z(3)), (2, 4), (2, 3))]:
    row("dtype", f"layers.{_name}.backward", "complex dout",
        lambda _, m=_layer, x=_x, d=_dout: (lambda ly: (ly.forward(rand(x)),
                                                        ly.backward(z(d, complex))))(m()),
        TypeError, "dout has dtype complex128")

# ---- params files: missing keys, wrong shapes, wrong dtypes, odd containers -------------


def _saved(tmp, name="good.npz"):
    p = tmp / name
    small_net().save_params(p)
    return p


def _npz(tmp, name, arrays, meta_text=None, raw_members=()):
    """An .npz written by hand: arrays, an optional raw __meta__ text, raw members."""
    buf = io.BytesIO()
    out = dict(arrays)
    if meta_text is not None:
        out["__meta__"] = np.array([meta_text])
    np.savez(buf, **out)
    p = tmp / name
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zin, zipfile.ZipFile(p, "w") as zo:
        for n in zin.namelist():
            zo.writestr(n, zin.read(n))
        for n, data in raw_members:
            zo.writestr(n, data)
    return p


def _params(cast=None, drop=(), **replace):
    arrays = {k: v.copy() for k, v in small_net().params.items() if k not in drop}
    if cast is not None:
        arrays = {k: v.astype(cast) for k, v in arrays.items()}
    arrays.update(replace)
    return arrays


def _npy_header(shape, descr="<f8"):
    h = ("{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)).encode()
    h += b" " * (63 - (10 + len(h)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h


def _load(p, cast=False):
    return small_net().load_params(p, cast=cast)


row("params file", "Network.load_params", "int64 arrays even with cast=True",
    lambda t: _load(_npz(t, "i.npz", _params(cast=np.int64)), cast=True), ParamsFileError,
    "W1 has dtype int64, this SimpleConvNet uses float64")
row("params file", "Network.load_params", "complex arrays",
    lambda t: _load(_npz(t, "c.npz", _params(cast=complex))), ParamsFileError,
    "dtype complex128")
row("params file", "Network.load_params", "a str array for W1",
    lambda t: _load(_npz(t, "s.npz", _params(W1=np.array(["x"])))), ParamsFileError,
    r"W1 has shape \(1,\)")
row("params file", "Network.load_params", "an extra unknown key",
    lambda t: _load(_npz(t, "x.npz", _params(W9=z(3)))), ParamsFileError,
    r"missing \[\], unexpected \['W9'\]")
row("params file", "Network.load_params", "inf in W2",
    lambda t: _load(_npz(t, "inf.npz", _params(W2=np.full((48, 5), np.inf)))),
    ParamsFileError, "W2 contains NaN or inf")
row("params file", "Network.load_params", "an object-array member (needs pickle)",
    lambda t: _load(_npz(t, "o.npz", {}, raw_members=[("W1.npy", _npy_header("(2,)", "|O"))])),
    ParamsFileError, "truncated or corrupt .npz")
row("params file", "Network.load_params", "a member that is not .npy data",
    lambda t: _load(_npz(t, "b.npz", _params(drop=("W1",)), raw_members=[("W1", b"hello")])),
    ParamsFileError, "W1")
row("params file", "Network.load_params", "metadata that is a JSON list, not an object",
    lambda t: _load(_npz(t, "m.npz", _params(), meta_text="[1, 2]")), ParamsFileError,
    "meta")
row("params file", "_io.load_npz", "metadata nested 100000 deep",
    lambda t: load_npz(_npz(t, "d.npz", {}, meta_text="[" * 100000 + "]" * 100000)),
    ValueError, "truncated or corrupt")
row("params file", "_io.load_npz", "a 1 KiB member claiming 10**13 float64s",
    lambda t: load_npz(_npz(t, "h.npz", {}, raw_members=[("W1.npy", _npy_header("(10000000000000,)") + b"\0" * 1024)])),
    ValueError, "truncated or corrupt")
row("params file", "_io.load_npz", "a member claiming 2**62 float64s",
    lambda t: load_npz(_npz(t, "h2.npz", {}, raw_members=[("W1.npy", _npy_header("(4611686018427387904,)"))])),
    ValueError, "truncated or corrupt")
def _zip_patched(tmp, name, flags=0, method=None):
    """A valid params .npz whose zip headers claim encryption flags or another method."""
    data = bytearray(_saved(tmp).read_bytes())
    central = data.find(b"PK\x01\x02")
    for off in (0 + 6, central + 8):  # general-purpose flags, then the method, in both headers
        struct.pack_into("<H", data, off, struct.unpack_from("<H", data, off)[0] | flags)
        if method is not None:
            struct.pack_into("<H", data, off + 2, method)
    p = tmp / name
    p.write_bytes(bytes(data))
    return p


row("params file", "Network.load_params", "zip member flagged as encrypted",
    lambda t: _load(_zip_patched(t, "enc.npz", flags=1)), ParamsFileError, "corrupt|encrypt")
row("params file", "Network.load_params", "zip member with compression method 99",
    lambda t: _load(_zip_patched(t, "m99.npz", method=99)), ParamsFileError,
    "corrupt|compression")
row("params file", "Network.load_params", "an .npy file, not an .npz",
    lambda t: (np.save(t / "a.npy", z(3)), _load(t / "a.npy"))[1], ParamsFileError,
    "neither an .npz archive nor a params pickle")
row("params file", "Network.load_params", "an empty file",
    lambda t: ((t / "e.npz").write_bytes(b""), _load(t / "e.npz"))[1], ParamsFileError,
    "neither")
row("params file", "Network.load_params", "a directory",
    lambda t: _load(t), IsADirectoryError, "Is a directory")
row("params file", "networks.load_network", "config with an unknown argument",
    lambda t: load_network(_npz(t, "n1.npz", _params(), json.dumps(
        {"network": "SimpleConvNet", "config": {"nope": 1}}))), ParamsFileError, "nope")
row("params file", "networks.load_network", "config with stride 0",
    lambda t: load_network(_npz(t, "n2.npz", _params(), json.dumps(
        {"network": "SimpleConvNet", "config": {"conv_param": {"stride": 0}}}))),
    ParamsFileError, "stride")
row("params file", "networks.load_network", "metadata that is a JSON string",
    lambda t: load_network(_npz(t, "n3.npz", _params(), json.dumps("network config"))),
    ParamsFileError, "no network description")
row("params file", "networks.load_network", "network name that is a list",
    lambda t: load_network(_npz(t, "n4.npz", _params(), json.dumps(
        {"network": ["SimpleConvNet"], "config": {}}))), ParamsFileError, "unknown network")
row("params file", "networks.load_network", "dtype 'int8' in the metadata",
    lambda t: load_network(_npz(t, "n5.npz", _params(), json.dumps(
        {"network": "SimpleConvNet", "config": {}, "dtype": "int8"}))), ParamsFileError,
    "int8")

# ---- pickles that try to run code -------------------------------------------------------


class _RunsCode:
    def __init__(self, *call):
        self.call = call

    def __reduce__(self):
        return self.call


def _pickle(tmp, name, obj, protocol=pickle.DEFAULT_PROTOCOL):
    p = tmp / name
    p.write_bytes(pickle.dumps(obj, protocol=protocol))
    return p


def _no_side_effect(tmp, name, obj):
    marker = tmp / "pwned"
    p = _pickle(tmp, name, {"W1": z(2), "x": obj(str(marker))})
    try:
        load_book_pickle(p)
    finally:
        assert not marker.exists(), "the pickle ran code"


row("pickle runs code", "networks.load_book_pickle", "os.system touching a file",
    lambda t: _no_side_effect(t, "sys.pkl", lambda m: _RunsCode(os.system, (f"touch {m}",))),
    ParamsFileError, "refusing to unpickle posix.system")
row("pickle runs code", "networks.load_book_pickle", "builtins.exec",
    lambda t: _no_side_effect(t, "exec.pkl", lambda m: _RunsCode(
        exec, (f"open({m!r}, 'w').close()",))), ParamsFileError, "refusing to unpickle builtins.exec")
row("pickle runs code", "networks.load_book_pickle", "subprocess.call",
    lambda t: _no_side_effect(t, "sp.pkl", lambda m: _RunsCode(subprocess.call, (["touch", m],))),
    ParamsFileError, "refusing to unpickle subprocess.call")
row("pickle runs code", "Network.load_params", "getattr gadget (builtins.getattr)",
    lambda t: _load(_pickle(t, "g.pkl", {"W1": _RunsCode(getattr, ("", "join"))})),
    ParamsFileError, "refusing to unpickle builtins.getattr")
row("pickle runs code", "networks.load_book_pickle", "object array smuggling a dict",
    lambda t: load_book_pickle(_pickle(t, "oa.pkl", {"W1": np.array([{}], object)})),
    ParamsFileError, "expected a dict of name -> float array")
row("pickle runs code", "networks.load_book_pickle", "a list instead of a dict",
    lambda t: load_book_pickle(_pickle(t, "l.pkl", [z(2)])), ParamsFileError,
    "expected a dict of name -> float array")
row("pickle runs code", "networks.load_book_pickle", "the book's dict saved with protocol 5",
    lambda t: load_book_pickle(_pickle(t, "p5.pkl", _params(), protocol=5)),
    lambda r: sorted(r) == sorted(_params()))
for _p in (0, 1, 2, 3, 4):
    row("pickle runs code", "networks.load_book_pickle",
        f"the book's dict saved with protocol {_p}",
        lambda t, p=_p: load_book_pickle(_pickle(t, f"p{p}.pkl", _params(), protocol=p)),
        lambda r: sorted(r) == sorted(_params()))

def _memo_bomb(tmp):
    # PROTO 2, EMPTY_DICT, LONG_BINPUT 0x0A000000, STOP: CPython's C unpickler grows its
    # memo table to 2 * 0x0A000000 pointers (2.7 GB, zero-filled) for these 11 bytes. The
    # child process may not map more than 1 GiB after its imports: a parser that needs the
    # table fails with MemoryError, a safe one returns {}.
    # Under .ci/sanitize's ASan build the child keeps the preloaded runtime (the kernels
    # need it) and runs without the limit (ASan maps terabytes of shadow memory).
    p = tmp / "memo.pkl"
    p.write_bytes(b"\x80\x02}r" + (0x0A000000).to_bytes(4, "little") + b".")
    asan = "libasan" in os.environ.get("LD_PRELOAD", "")
    limit = ("" if asan else
             "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, resource.RLIM_INFINITY))\n")
    code = ("import resource, sys\nfrom cconv.networks import load_book_pickle\n" + limit +
            "try:\n    print(load_book_pickle(sys.argv[1]))\n"
            "except Exception as e:\n    print(type(e).__name__, e)\n")
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" or asan}
    return subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True,
                          text=True, timeout=120, env=env).stdout.strip()


row("pickle runs code", "networks.load_book_pickle", "memo bomb: 11 bytes asking for 2.7 GB",
    _memo_bomb, lambda out: out == "{}")

# ---- truncated .npz / .gz ---------------------------------------------------------------


def _cut(tmp, src, n):
    data = src.read_bytes()
    p = tmp / f"cut{n}"
    p.write_bytes(data[:n] if n >= 0 else data[:len(data) + n])
    return p


row("truncated file", "Network.load_params", ".npz cut after the zip magic (4 bytes)",
    lambda t: _load(_cut(t, _saved(t), 4)), ParamsFileError, "truncated or corrupt")
row("truncated file", "Network.load_params", ".npz missing its last 10 bytes",
    lambda t: _load(_cut(t, _saved(t), -10)), ParamsFileError, "truncated or corrupt")
row("truncated file", "Network.load_params", "book pickle cut in half",
    lambda t: _load(_cut(t, _pickle(t, "b.pkl", _params()), 300)), ParamsFileError,
    "not a readable params pickle|truncated")


def _mnist_dir(tmp, **replace):
    rng = np.random.default_rng(0)

    def idx(magic, dims, payload):
        return (magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
                + np.asarray(payload, np.uint8).tobytes())
    files = {
        "train-images-idx3-ubyte": idx(0x803, (3, 28, 28), rng.integers(0, 256, 3 * 784)),
        "train-labels-idx1-ubyte": idx(0x801, (3,), [1, 2, 3]),
        "t10k-images-idx3-ubyte": idx(0x803, (2, 28, 28), rng.integers(0, 256, 2 * 784)),
        "t10k-labels-idx1-ubyte": idx(0x801, (2,), [4, 5]),
    }
    d = tmp / "mnist"
    d.mkdir(exist_ok=True)
    for name, raw in files.items():
        data = replace.get(name, lambda b: gzip.compress(b))(raw)
        (d / (name + ".gz")).write_bytes(data)
    return d


def _load_mnist(d):
    return load_mnist(data_dir=d, download=False)


row("truncated file", "datasets.load_mnist", ".gz with only its 10-byte gzip header",
    lambda t: _load_mnist(_mnist_dir(t, **{"t10k-labels-idx1-ubyte":
                                           lambda b: gzip.compress(b)[:10]})),
    DatasetError, "t10k-labels-idx1-ubyte.gz: corrupt or truncated gzip data")
row("truncated file", "datasets.load_mnist", ".gz followed by garbage bytes",
    lambda t: _load_mnist(_mnist_dir(t, **{"train-images-idx3-ubyte":
                                           lambda b: gzip.compress(b) + b"garbage"})),
    DatasetError, "train-images-idx3-ubyte.gz: corrupt or truncated gzip data")
row("truncated file", "datasets.load_mnist", ".gz whose content is cut (valid gzip)",
    lambda t: _load_mnist(_mnist_dir(t, **{"train-images-idx3-ubyte":
                                           lambda b: gzip.compress(b[:-1])})),
    DatasetError, r"announces 3 images .* \(truncated\)")

# ---- corrupted IDX headers (beyond tests/test_datasets.py) ------------------------------


def _hdr(magic, *dims):
    return lambda b: gzip.compress(magic.to_bytes(4, "big")
                                   + b"".join(d.to_bytes(4, "big") for d in dims))


row("corrupt IDX", "datasets.load_mnist", "image count 0xFFFFFFFF, no pixels",
    lambda t: _load_mnist(_mnist_dir(t, **{"train-images-idx3-ubyte":
                                           _hdr(0x803, 2**32 - 1, 28, 28)})),
    DatasetError, r"announces 4,294,967,295 items \(4294967295x28x28\), more than the 60,000")
row("corrupt IDX", "datasets.load_mnist", "images of 0x0 pixels",
    lambda t: _load_mnist(_mnist_dir(t, **{"t10k-images-idx3-ubyte": _hdr(0x803, 2, 0, 0)})),
    DatasetError, "images are 0x0, MNIST images are 28x28")
row("corrupt IDX", "datasets.load_mnist", "signed-byte type code 0x09",
    lambda t: _load_mnist(_mnist_dir(t, **{"train-labels-idx1-ubyte": _hdr(0x901, 3)})),
    DatasetError, r"bad magic number 0x00000901 \(type code 0x09, 1 dimension")
row("corrupt IDX", "datasets.load_mnist", "zero images and zero labels (valid, empty)",
    lambda t: _load_mnist(_mnist_dir(t, **{"train-images-idx3-ubyte": _hdr(0x803, 0, 28, 28),
                                           "train-labels-idx1-ubyte": _hdr(0x801, 0)})),
    lambda r: r[0][0].shape == (0, 784) and r[0][1].shape == (0,) and r[1][0].shape == (2, 784))

# ---- dataset directory that is not writable ---------------------------------------------


@pytest.fixture
def no_data_env(tmp_path, monkeypatch):
    from cconv import datasets
    for var in ("CCONV_DATA_DIR", "CCONV_MNIST_MIRRORS", "CCONV_FASHION_MNIST_MIRRORS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setattr(datasets, "MNIST_MIRRORS", [])  # never download
    monkeypatch.setattr(datasets, "FASHION_MNIST_MIRRORS", [])
    # the shipped MNIST out of sight: these rows are about finding and downloading files
    monkeypatch.setattr(datasets, "BUNDLED_DATA_DIR", tmp_path / "no-bundled-data")


row("unwritable data dir", "datasets.fetch", "data_dir on a read-only file system (/proc)",
    lambda t: fetch("mnist", "/proc/cconv-test"), DownloadError,
    r"/proc/cconv-test/mnist is not writable")
row("unwritable data dir", "datasets.load_mnist", "data_dir is a regular file",
    lambda t: ((t / "f").write_bytes(b"x"), load_mnist(data_dir=t / "f"))[1], DownloadError,
    "is not writable")
row("unwritable data dir", "datasets.load_mnist", "data_dir is a file, download=False",
    lambda t: ((t / "f").write_bytes(b"x"), load_mnist(data_dir=t / "f", download=False))[1],
    DatasetError, r"MNIST file\(s\) not found")


# ---- the table ----------------------------------------------------------------------------

@pytest.mark.parametrize("fn, expect, match", ROWS)
def test_bad_input(fn, expect, match, tmp_path, no_data_env):
    if isinstance(expect, type) or isinstance(expect, tuple):
        with pytest.raises(expect, match=match):
            fn(tmp_path)
    else:
        result = fn(tmp_path)
        ok = expect(result)
        assert ok is None or ok, f"unexpected result: {result!r}"[:2000]


def test_table_ids_are_unique():
    ids = [p.id for p in ROWS]
    assert len(ids) == len(set(ids))
