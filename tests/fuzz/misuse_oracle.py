"""The stateful fuzzers' oracle: what a layer call must do, from the state it is called in.

Plain NumPy, written from the book's algorithms (ch. 7-8) and independent of cconv's
code: sliding windows for convolution and pooling, the book's BatchNormalization, the
LRN formula. A verdict is either a reference value (the call must return it, or, where
the docs allow both, refuse it cleanly) or ``Bad`` (the call must be refused with a
clean exception: ValueError, TypeError or RuntimeError with a message).

Values are normalised here the way the issue's contract says cconv must: sizes and
strides are Python/numpy integers (not bool) in range; integral floats may be taken or
refused; parameters must be real arrays of the right shape (integer and float16 arrays
may be converted to floats or refused; complex, object and string arrays are refused).
"""
import math
import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

MAX_THREADS = 4096
_EPS_LOG = 1e-7


class Bad(Exception):
    """The oracle's verdict: the call must be refused (the message says why)."""


class Verdict:
    """Collects whether a call may also be refused (``loose``) while it is judged."""

    def __init__(self):
        self.loose_reasons = []
        self.f32 = False

    def loose(self, why):
        self.loose_reasons.append(why)

    @property
    def may_refuse(self):
        return bool(self.loose_reasons)

    # -- numbers ------------------------------------------------------------------
    def int_(self, v, name, low=None, high=None, huge_ok=False):
        if isinstance(v, (bool, np.bool_)):
            raise Bad(f"{name} is a bool")
        if isinstance(v, numbers.Integral):
            i = int(v)
        elif isinstance(v, (float, np.floating)) and math.isfinite(v) and float(v).is_integer():
            self.loose(f"{name} is the integral float {v!r}")
            i = int(v)
        else:
            raise Bad(f"{name} is not an int: {v!r}")
        if low is not None and i < low:
            raise Bad(f"{name}={i} < {low}")
        if high is not None and i > high:
            raise Bad(f"{name}={i} > {high}")
        if abs(i) > 2 ** 62 and huge_ok:
            self.loose(f"{name}={i} beyond any size")
        elif abs(i) > 2 ** 62:
            raise Bad(f"{name}={i} is beyond any size")
        return i

    def pair(self, v, name, low=None):
        if isinstance(v, (tuple, list)):
            if len(v) != 2:
                raise Bad(f"{name} pair of length {len(v)}")
            return self.int_(v[0], name, low), self.int_(v[1], name, low)
        if isinstance(v, np.ndarray):
            raise Bad(f"{name} is an array")
        i = self.int_(v, name, low)
        return i, i

    def real(self, v, name, low=None, low_open=False, high=None, high_open=False):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            raise Bad(f"{name} is not a real number: {v!r}")
        f = float(v)
        if not math.isfinite(f):
            raise Bad(f"{name} is not finite: {f}")
        if low is not None and (f < low or (low_open and f == low)):
            raise Bad(f"{name}={f} below range")
        if high is not None and (f > high or (high_open and f == high)):
            raise Bad(f"{name}={f} above range")
        return f

    def threads(self, v):
        if v is None:
            return None
        if isinstance(v, (bool, np.bool_)):
            raise Bad("n_threads is a bool")
        if isinstance(v, (float, np.floating)):
            if math.isfinite(v) and float(v).is_integer() and (v == -1 or 1 <= v <= MAX_THREADS):
                self.loose("integral float n_threads")
                return int(v)
            raise Bad(f"n_threads={v!r}")
        if not isinstance(v, numbers.Integral):
            raise Bad(f"n_threads={v!r}")
        i = int(v)
        if i == -1 or 1 <= i <= MAX_THREADS:
            return i
        if i > MAX_THREADS:
            # a ceiling: clamped with a warning, or refused
            self.loose(f"n_threads={i} above the ceiling")
            return i
        raise Bad(f"n_threads={i}")

    # -- arrays -------------------------------------------------------------------
    def array(self, a, name, *, ndim=None, shape=None, convert_ints=False):
        """A real array as float64 (or Bad). ``convert_ints``: documented conversion."""
        if a is None:
            raise Bad(f"{name} is None")
        if isinstance(a, np.generic):
            a = np.asarray(a)
        if not isinstance(a, np.ndarray):
            if isinstance(a, (list, tuple)):
                self.loose(f"{name} is a {type(a).__name__}")
                try:
                    a = np.asarray(a)
                except ValueError:
                    raise Bad(f"{name} is ragged") from None
            elif isinstance(a, (int, float)) and not isinstance(a, bool):
                self.loose(f"{name} is a Python {type(a).__name__}")
                a = np.asarray(a)
            else:
                raise Bad(f"{name} is a {type(a).__name__}")
        k = a.dtype.kind
        if k == "f":
            if a.dtype.itemsize == 2:
                self.loose(f"{name} is float16")
            elif a.dtype.itemsize not in (4, 8):
                raise Bad(f"{name} has dtype {a.dtype}")
            if a.dtype.itemsize == 4 or a.dtype.itemsize == 2:
                self.f32 = True
        elif k in "biu":
            if not convert_ints:
                self.loose(f"{name} has dtype {a.dtype}")
        else:
            raise Bad(f"{name} has dtype {a.dtype}")
        if ndim is not None and a.ndim != ndim:
            raise Bad(f"{name} is {a.ndim}-D, not {ndim}-D")
        if shape is not None and a.shape != tuple(shape):
            raise Bad(f"{name} has shape {a.shape}, not {tuple(shape)}")
        with np.errstate(all="ignore"):
            out = np.array(a, dtype=np.float64)
        if not np.all(np.isfinite(out)):
            raise Bad(f"{name} has non-finite values (the fuzzer never sends them)")
        return out


# ---- window geometry ----------------------------------------------------------------

def geometry(v, x_shape, fh, fw, stride, pad, pool=False):
    """(OH, OW, sh, sw, ph, pw) or Bad, the rules of cconv's window layers (a filter's
    pad may reach the filter's size, as in the book's im2col; a pool's may not)."""
    sh, sw = v.pair(stride, "stride", 1)
    ph, pw = v.pair(pad, "pad", 0)
    N, C, H, W = x_shape
    if pool and (ph >= fh or pw >= fw):
        raise Bad(f"pad {ph}x{pw} not smaller than the window {fh}x{fw}")
    if H + 2 * ph < fh or W + 2 * pw < fw:
        raise Bad("window does not fit")
    return (H + 2 * ph - fh) // sh + 1, (W + 2 * pw - fw) // sw + 1, sh, sw, ph, pw


def windows(x, fh, fw, sh, sw, ph, pw, fill=0.0):
    """(N, C, OH, OW, FH, FW) view of the padded input."""
    if x.size == 0:   # sliding_window_view cannot reshape an empty batch
        N, C, H, W = x.shape
        return np.zeros((N, C, (H + 2 * ph - fh) // sh + 1, (W + 2 * pw - fw) // sw + 1,
                         fh, fw))
    xp = np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)], constant_values=fill)
    return sliding_window_view(xp, (fh, fw), axis=(2, 3))[:, :, ::sh, ::sw]


def unwindow(dwin, x_shape, fh, fw, sh, sw, ph, pw):
    """The adjoint of :func:`windows`: (N, C, OH, OW, FH, FW) -> (N, C, H, W), summed."""
    N, C, H, W = x_shape
    OH, OW = dwin.shape[2:4]
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    for i in range(OH):
        for j in range(OW):
            dxp[:, :, i * sh:i * sh + fh, j * sw:j * sw + fw] += dwin[:, :, i, j]
    return dxp[:, :, ph:ph + H, pw:pw + W]


# ---- layer references (float64) ------------------------------------------------------

def conv_forward(x, W, b, geo):
    fh, fw = W.shape[2:]
    win = windows(x, fh, fw, *geo)
    return np.einsum("ncijhw,fchw->nfij", win, W) + b.reshape(1, -1, 1, 1)


def conv_backward(dout, x, W, geo):
    fh, fw = W.shape[2:]
    win = windows(x, fh, fw, *geo)
    dW = np.einsum("ncijhw,nfij->fchw", win, dout)
    db = dout.sum(axis=(0, 2, 3))
    dwin = np.einsum("nfij,fchw->ncijhw", dout, W)
    return unwindow(dwin, x.shape, fh, fw, *geo), dW, db


def maxpool_forward(x, ph_, pw_, geo):
    win = windows(x, ph_, pw_, *geo, fill=-np.inf)
    flat = np.ascontiguousarray(win).reshape(win.shape[:4] + (ph_ * pw_,))
    return flat.max(axis=-1), flat.argmax(axis=-1)


def maxpool_backward(dout, arg, x_shape, ph_, pw_, geo):
    dwin = np.zeros(dout.shape + (ph_ * pw_,))
    np.put_along_axis(dwin, arg[..., None], dout[..., None], axis=-1)
    return unwindow(dwin.reshape(dout.shape + (ph_, pw_)), x_shape, ph_, pw_, *geo)


def avgpool_forward(x, ph_, pw_, geo):
    return windows(x, ph_, pw_, *geo).mean(axis=(-2, -1))


def avgpool_backward(dout, x_shape, ph_, pw_, geo):
    dwin = np.broadcast_to((dout / (ph_ * pw_))[..., None, None], dout.shape + (ph_, pw_))
    return unwindow(dwin, x_shape, ph_, pw_, *geo)


def lrn_window_sum(a, before, after):
    N, C = a.shape[:2]
    s = np.zeros_like(a)
    for c in range(C):
        s[:, c] = a[:, max(0, c - before):min(C, c + after + 1)].sum(axis=1)
    return s


def lrn_forward(x, size, alpha, beta, k):
    scale = k + alpha / size * lrn_window_sum(x * x, size // 2, (size - 1) // 2)
    return x * scale ** -beta, scale


def lrn_backward(dout, x, size, alpha, beta, k):
    _, scale = lrn_forward(x, size, alpha, beta, k)
    p = scale ** -beta
    t = dout * x * p / scale
    return dout * p - 2 * alpha * beta / size * x * lrn_window_sum(t, (size - 1) // 2,
                                                                    size // 2)


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(x):
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))),
                    np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


def close(got, ref, f32, what):
    """Assert ``got`` (any float array) equals the float64 reference within rounding."""
    got = np.asarray(got)
    ref = np.asarray(ref, dtype=np.float64)
    assert got.dtype.kind != "c", f"{what}: complex result {got.dtype}"
    assert got.shape == ref.shape, f"{what}: shape {got.shape}, expected {ref.shape}"
    assert got.dtype.kind == "f", f"{what}: dtype {got.dtype}, expected a float dtype"
    g = got.astype(np.float64)
    assert np.all(np.isfinite(g)), f"{what}: non-finite values for finite input"
    scale = max(1.0, float(np.max(np.abs(ref)))) if ref.size else 1.0
    rel = 1e-2 if got.dtype.itemsize < 4 else 2e-4 if f32 or got.dtype != np.float64 else 1e-9
    tol = rel * scale
    err = float(np.max(np.abs(g - ref))) if ref.size else 0.0
    assert err <= tol, f"{what}: off by {err:.3g} (tolerance {tol:.3g})"
