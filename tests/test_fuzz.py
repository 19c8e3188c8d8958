"""Property-based fuzzing of every kernel through the public API, and of the file parsers.

Random shapes, strides, pads, filter sizes and dtypes, valid and invalid: an invalid
call must raise ValueError or TypeError (MemoryError for sizes beyond the machine),
never crash or return garbage; a valid call must equal ``cconv.ops.reference`` (exactly for
data-moving kernels, to rounding for sums). Values mix NaN, +-inf, +-huge, denormals and
-0.0. The file parsers get random and mutated bytes (tests/fuzz/fuzz_loaders.py).

The number of examples is ``$CCONV_FUZZ_EXAMPLES`` (default 2000) in total, shared by the
tests below in proportion to their weights; the hypothesis profile ``cconv-fuzz`` holds
the other settings. Geometry is kept small so that 2000 examples take well under a
minute on 2 cores.
"""
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cconv import ops as K
from cconv.ops import reference as R
from cconv import util
from cconv.layers import AvgPooling, Convolution, Pooling

TOTAL = int(os.environ.get("CCONV_FUZZ_EXAMPLES", "2000"))
settings.register_profile("cconv-fuzz", deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.filter_too_much,
                                                 HealthCheck.data_too_large])
WEIGHTS = {"im2col": 4, "col2im": 3, "maxpool": 4, "avgpool": 3, "args": 4, "layers": 2,
           "loaders": 4}


def fuzz(name):
    share = max(10, TOTAL * WEIGHTS[name] // sum(WEIGHTS.values()))
    return settings(settings.get_profile("cconv-fuzz"), max_examples=share)


# The reference overflows on purpose (huge values): its RuntimeWarnings are expected.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
OK_ERRORS = (ValueError, TypeError)
SPECIAL = [np.nan, np.inf, -np.inf, 1e308, -1e308, 3e38, 5e-324, 1e-45, -0.0, 0.0, 1.0, -2.5]
DTYPES = [np.float64, np.float32]


@st.composite
def arrays(draw, shape, dtype, special=True):
    """An array of `shape`: mostly normal values, some specials (NaN, inf, huge, denormal)."""
    n = int(np.prod(shape))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(n)
    if special and n and draw(st.booleans()):
        k = draw(st.integers(1, max(1, n // 3)))
        a[rng.integers(0, n, k)] = rng.choice(SPECIAL, k)
    if draw(st.booleans()):
        a = np.round(a)  # ties: the first-maximum rule
    with np.errstate(over="ignore"):
        return a.astype(dtype).reshape(shape)


@st.composite
def geometry(draw, valid=None):
    """(shape, fh, fw, stride, pad, (sh, sw, ph, pw)); `valid=None` mixes valid and invalid."""
    valid = draw(st.booleans()) if valid is None else valid
    pair_stride, pair_pad = draw(st.booleans()), draw(st.booleans())
    n, c = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    fh, fw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    if valid:
        ph = draw(st.integers(0, min(fh, fw) - 1 if not pair_pad else fh - 1))
        pw = draw(st.integers(0, fw - 1)) if pair_pad else ph
        h = draw(st.integers(max(0, fh - 2 * ph), 9))
        w = draw(st.integers(max(0, fw - 2 * pw), 9))
        sh = draw(st.integers(1, 4))
        sw = draw(st.integers(1, 4)) if pair_stride else sh
    else:
        ph = draw(st.integers(-2, 6))
        pw = draw(st.integers(-2, 6)) if pair_pad else ph
        h, w = draw(st.integers(0, 9)), draw(st.integers(0, 9))
        sh = draw(st.integers(-2, 4))
        sw = draw(st.integers(-2, 4)) if pair_stride else sh
        fh = draw(st.sampled_from([fh, 0, -1, 12]))
    stride = (sh, sw) if pair_stride else sh
    pad = (ph, pw) if pair_pad else ph
    return (n, c, h, w), fh, fw, stride, pad, (sh, sw, ph, pw)


def is_valid(shape, fh, fw, s, pool=False):
    """The geometry an op must accept. im2col/col2im take any pad >= 0, as the book's
    im2col does (windows over padding alone are zeros); pooling refuses a pad as large as
    the window (a max over padding alone would be -inf)."""
    sh, sw, ph, pw = s
    _, _, h, w = shape
    pads = 0 <= ph < fh and 0 <= pw < fw if pool else ph >= 0 and pw >= 0
    return (fh > 0 and fw > 0 and sh > 0 and sw > 0 and pads
            and h + 2 * ph >= fh and w + 2 * pw >= fw)


def out_size(shape, fh, fw, s):
    sh, sw, ph, pw = s
    return (shape[2] + 2 * ph - fh) // sh + 1, (shape[3] + 2 * pw - fw) // sw + 1


# .ci/sanitize sets CCONV_DEBUG=1 for the bounds-checked build, where the forward kernels
# raise IndexError on an H=0 or W=0 input with padding (a reported bug, see
# tests/test_bad_input.py): such inputs are left out there.
DEBUG_BUILD = os.environ.get("CCONV_DEBUG", "").strip().lower() in ("1", "true", "on")


def debug_empty_plane(shape):
    return DEBUG_BUILD and (shape[2] == 0 or shape[3] == 0)


def has_ref(shape):
    return shape[0] > 0 and shape[1] > 0  # the NumPy reference cannot reshape empty batches


def same(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


def huge(a):
    """1.0 where a holds a finite value beyond 1e30, else 0.0."""
    return (np.abs(np.nan_to_num(a.astype(np.float64), nan=0, posinf=0, neginf=0))
            > 1e30).astype(np.float64)


def close(a, b, dtype, skip=None):
    """a equals the reference b to rounding, NaN and inf included.

    ``skip`` masks the outputs that sum a huge finite value: there the result depends on
    the order of the sum (1e308 + 1e308 - 1e308 is inf or 1e308), as in any BLAS.
    """
    assert a.shape == b.shape and a.dtype == b.dtype == dtype
    keep = np.ones(b.shape, bool) if skip is None else ~skip
    np.testing.assert_array_equal(np.isnan(a)[keep], np.isnan(b)[keep])
    inf = keep & np.isinf(b)
    np.testing.assert_array_equal(a[inf], b[inf])
    fin = keep & np.isfinite(b)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(a[fin], b[fin], rtol=tol, atol=tol)


def expect_refused(call):
    with pytest.raises(OK_ERRORS):
        call()


@fuzz("im2col")
@given(geometry(), st.sampled_from(DTYPES), st.data())
def test_fuzz_im2col(g, dtype, data):
    shape, fh, fw, stride, pad, s = g
    x = data.draw(arrays(shape, dtype))
    if not is_valid(shape, fh, fw, s):
        expect_refused(lambda: util.im2col(x, fh, fw, stride, pad))
        return
    assume(not debug_empty_plane(shape))
    col = util.im2col(x, fh, fw, stride, pad, n_threads=data.draw(st.sampled_from([1, 2, 3])))
    oh, ow = out_size(shape, fh, fw, s)
    assert col.shape == (shape[0] * oh * ow, shape[1] * fh * fw) and col.dtype == dtype
    if has_ref(shape):
        assert same(col, R.im2col.im2col(x, fh, fw, s[:2], s[2:]).astype(dtype)), "im2col != reference"


@fuzz("col2im")
@given(geometry(), st.sampled_from(DTYPES), st.data())
def test_fuzz_col2im(g, dtype, data):
    shape, fh, fw, stride, pad, s = g
    if not is_valid(shape, fh, fw, s):
        col = np.zeros((4, 4), dtype)
        expect_refused(lambda: util.col2im(col, shape, fh, fw, stride, pad))
        return
    oh, ow = out_size(shape, fh, fw, s)
    want = (shape[0] * oh * ow, shape[1] * fh * fw)
    bad = data.draw(st.booleans()) and min(want) > 0
    cshape = (want[0] + 1, want[1]) if bad else want
    col = data.draw(arrays(cshape, dtype))
    if bad:
        expect_refused(lambda: util.col2im(col, shape, fh, fw, stride, pad))
        return
    dx = util.col2im(col, shape, fh, fw, stride, pad, n_threads=data.draw(st.sampled_from([1, 4])))
    assert dx.shape == shape and dx.dtype == dtype
    if has_ref(shape):
        close(dx, R.im2col.col2im(col, shape, fh, fw, s[:2], s[2:]).astype(dtype), dtype,
              R.im2col.col2im(huge(col), shape, fh, fw, s[:2], s[2:]) > 0)


@fuzz("maxpool")
@given(geometry(), st.sampled_from(DTYPES), st.data())
def test_fuzz_maxpool(g, dtype, data):
    shape, fh, fw, stride, pad, s = g
    x = data.draw(arrays(shape, dtype))
    if not is_valid(shape, fh, fw, s, pool=True):
        expect_refused(lambda: K.maxpool_forward(x, fh, fw, stride, pad))
        return
    assume(not debug_empty_plane(shape))
    threads = data.draw(st.sampled_from([1, 2, 5]))
    out, arg = K.maxpool_forward(x, fh, fw, stride, pad, n_threads=threads)
    d = data.draw(arrays(out.shape, dtype))
    dx = K.maxpool_backward(d, arg, shape, fh, fw, stride, pad, n_threads=threads)
    assert out.shape == arg.shape == shape[:2] + out_size(shape, fh, fw, s) and dx.shape == shape
    if has_ref(shape):
        rout, rarg = R.pooling.maxpool_forward(x, fh, fw, s[:2], s[2:])
        assert same(out, rout.astype(dtype)) and np.array_equal(arg, rarg)
        close(dx, R.pooling.maxpool_backward(d, rarg, shape, fh, fw, s[:2], s[2:]).astype(dtype), dtype,
              R.pooling.maxpool_backward(huge(d), rarg, shape, fh, fw, s[:2], s[2:]) > 0)
    if arg.size:  # a corrupted argmax is refused, never followed out of the window
        bad = arg.astype(np.int64)   # room for the out-of-range values
        bad.flat[data.draw(st.integers(0, arg.size - 1))] = data.draw(
            st.sampled_from([-1, fh * fw, 2**40]))
        expect_refused(lambda: K.maxpool_backward(d, bad, shape, fh, fw, stride, pad))


@fuzz("avgpool")
@given(geometry(), st.sampled_from(DTYPES), st.data())
def test_fuzz_avgpool(g, dtype, data):
    shape, fh, fw, stride, pad, s = g
    x = data.draw(arrays(shape, dtype))
    if not is_valid(shape, fh, fw, s, pool=True):
        expect_refused(lambda: K.avgpool_forward(x, fh, fw, stride, pad))
        expect_refused(lambda: K.avgpool_backward(np.zeros((1, 1, 1, 1), dtype), shape,
                                                  fh, fw, stride, pad))
        return
    assume(not debug_empty_plane(shape))
    threads = data.draw(st.sampled_from([1, 3]))
    out = K.avgpool_forward(x, fh, fw, stride, pad, n_threads=threads)
    d = data.draw(arrays(out.shape, dtype))
    dx = K.avgpool_backward(d, shape, fh, fw, stride, pad, n_threads=threads)
    assert out.shape == shape[:2] + out_size(shape, fh, fw, s) and dx.shape == shape
    if has_ref(shape):
        close(out, R.pooling.avgpool_forward(x, fh, fw, s[:2], s[2:]).astype(dtype), dtype,
              R.pooling.avgpool_forward(huge(x), fh, fw, s[:2], s[2:]) > 0)
        close(dx, R.pooling.avgpool_backward(d, shape, fh, fw, s[:2], s[2:]).astype(dtype), dtype,
              R.pooling.avgpool_backward(huge(d), shape, fh, fw, s[:2], s[2:]) > 0)
    if d.ndim == 4 and d.shape[3] > 0:
        expect_refused(lambda: K.avgpool_backward(d[..., 1:], shape, fh, fw, stride, pad))


# ---- garbage arguments: any type, any size -------------------------------------------------

SMALL = st.integers(-3, 8)
HUGE = st.integers(2**40, 2**62)  # any product with one of these exceeds the machine
JUNK = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True), st.text(max_size=3),
                 st.just(np.float32(2)), st.lists(SMALL, max_size=3), st.just(object()),
                 st.just(np.array([2, 2])))
PARAM = st.one_of(SMALL, SMALL, HUGE, JUNK, st.tuples(SMALL, SMALL), st.tuples(HUGE, SMALL),
                  st.integers(-2**40, -1), st.just(np.int64(2)), st.just(np.uint8(1)))
THREADS = st.one_of(st.none(), st.integers(-3, 64), st.just(-1), JUNK)
XS = st.one_of(
    st.builds(lambda s, d: np.ones(s, d),
              st.tuples(*[st.integers(0, 4)] * 4),
              st.sampled_from([np.float64, np.float32, np.float16, np.int32, np.bool_,
                               np.complex64, object, "U2", "M8[s]"])),
    st.builds(lambda s: np.ones(s), st.lists(st.integers(0, 3), max_size=6).map(tuple)),
    st.builds(lambda: np.ones((2, 3, 4, 4))[:, ::2, ::-1, 1:]),  # non-contiguous view
    st.builds(lambda: np.broadcast_to(np.float32(1), (1, 1, 2**20, 2**20))),
    JUNK,
)

CALLS = {
    "im2col": lambda x, a, b, s, p, t: util.im2col(x, a, b, s, p, n_threads=t),
    "col2im": lambda x, a, b, s, p, t: util.col2im(x, np.shape(x), a, b, s, p, n_threads=t),
    "col2im-2d": lambda x, a, b, s, p, t: util.col2im(np.reshape(x, (-1, 4)) if np.size(x)
                                                      else x, (1, 1, 3, 3), a, b, s, p,
                                                      n_threads=t),
    "maxpool": lambda x, a, b, s, p, t: K.maxpool_forward(x, a, b, s, p, n_threads=t),
    "maxpool-back": lambda x, a, b, s, p, t: K.maxpool_backward(
        x, np.zeros(np.shape(x), int), (1, 1, 4, 4), a, b, s, p, n_threads=t),
    "avgpool": lambda x, a, b, s, p, t: K.avgpool_forward(x, a, b, s, p, n_threads=t),
    "avgpool-back": lambda x, a, b, s, p, t: K.avgpool_backward(x, np.shape(x), a, b, s, p,
                                                                n_threads=t),
    "Pooling": lambda x, a, b, s, p, t: Pooling(a, b, s, p, n_threads=t).forward(x),
    "AvgPooling": lambda x, a, b, s, p, t: AvgPooling(a, b, s, p, n_threads=t).forward(x),
}


@fuzz("args")
@given(st.sampled_from(sorted(CALLS)), XS, PARAM, PARAM, PARAM, PARAM, THREADS)
def test_fuzz_garbage_arguments(name, x, fh, fw, stride, pad, n_threads):
    """Whatever the arguments: a result, or ValueError / TypeError / MemoryError."""
    try:
        out = CALLS[name](x, fh, fw, stride, pad, n_threads)
    except (ValueError, TypeError, MemoryError):
        return
    for a in (out if isinstance(out, tuple) else (out,)):
        assert isinstance(a, np.ndarray) and a.dtype in (np.float32, np.float64, np.uint16)


# ---- layers: forward and backward against the book's formulas ----------------------------

@fuzz("layers")
@given(geometry(valid=True), st.sampled_from(DTYPES), st.integers(1, 3), st.data())
def test_fuzz_layers(g, dtype, fn, data):
    shape, fh, fw, stride, pad, s = g
    x = data.draw(arrays(shape, dtype, special=False))
    c = shape[1]
    W = data.draw(arrays((fn, c, fh, fw), dtype, special=False))
    b = data.draw(arrays((fn,), dtype, special=False))
    oh, ow = out_size(shape, fh, fw, s)
    assume(not debug_empty_plane(shape))
    conv = Convolution(W, b, stride, pad, n_threads=1)
    out = conv.forward(x)
    assert out.shape == (shape[0], fn, oh, ow) and out.dtype == dtype
    if not has_ref(shape):  # empty batch or no channels: shapes only
        assert conv.backward(np.zeros(out.shape, dtype)).shape == shape
        return
    col = R.im2col.im2col(x, fh, fw, s[:2], s[2:])
    ref = (col @ W.reshape(fn, -1).T + b).reshape(shape[0], oh, ow, fn).transpose(0, 3, 1, 2)
    close(out, ref.astype(dtype), dtype)
    d = data.draw(arrays(out.shape, dtype, special=False))
    dx = conv.backward(d)
    d2 = d.transpose(0, 2, 3, 1).reshape(-1, fn)
    close(conv.dW, (col.T @ d2).T.reshape(W.shape).astype(dtype), dtype)
    close(dx, R.im2col.col2im(d2 @ W.reshape(fn, -1), shape, fh, fw, s[:2], s[2:]).astype(dtype),
          dtype)
    for layer, fwd in ((Pooling(fh, fw, stride, pad, n_threads=1), R.pooling.maxpool_forward),
                       (AvgPooling(fh, fw, stride, pad, n_threads=1), R.pooling.avgpool_forward)):
        y = layer.forward(x)
        close(y, np.asarray(fwd(x, fh, fw, s[:2], s[2:])[0] if fwd is R.pooling.maxpool_forward
                            else fwd(x, fh, fw, s[:2], s[2:])).astype(dtype), dtype)
        assert layer.backward(np.ones_like(y)).shape == shape


# ---- file parsers: random and mutated bytes -----------------------------------------------

def _harness():
    path = Path(__file__).resolve().parent / "fuzz" / "fuzz_loaders.py"
    spec = importlib.util.spec_from_file_location("cconv_fuzz_loaders", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


H = _harness()
SEEDS = H.seeds()


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.integers(0, 3))
        i = draw(st.integers(0, max(0, len(data) - 1)))
        if op == 0 and data:
            data[i] = draw(st.integers(0, 255))
        elif op == 1:
            data[i:i] = draw(st.binary(max_size=8))
        elif op == 2:
            del data[i:i + draw(st.integers(1, 16))]
        else:
            data = data[:i + 1]
    return bytes(data)


@pytest.mark.filterwarnings("ignore")  # zipfile's "Duplicate name" for fuzzed archives
@fuzz("loaders")
@given(st.one_of(mutated(), st.binary(max_size=600)))
def test_fuzz_loaders(data):
    """Only documented errors (or bugs already reported, counted by the harness)."""
    H.check_input(data)


@pytest.mark.parametrize("i", range(len(SEEDS)))
def test_loader_seeds_reach_success(i):
    """The seeds are valid inputs: each reaches a parser's success path."""
    H.OUTCOMES.clear()
    H.check_input(SEEDS[i])
    assert any(k.endswith(": ok") for k in H.OUTCOMES) or i in (2, 4, 6, 7), dict(H.OUTCOMES)
