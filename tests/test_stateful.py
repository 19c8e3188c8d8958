"""Stateful fuzzing of the layers and networks through their public API (issue 14).

Hypothesis ``RuleBasedStateMachine``s build layers and networks, assign their public
attributes (valid and invalid values: negative, zero, huge, floats, bools, numpy
integers, arrays of the wrong shape or dtype, non-contiguous, big-endian, None), and
call forward, backward, predict, loss, accuracy, gradient, save and load in random
orders with random shapes and dtypes. Every outcome is checked: either it equals the
plain NumPy oracle (tests/fuzz/misuse_oracle.py) computed from the state at the time of
the call, or it is a clean refusal (ValueError, TypeError or RuntimeError with a
message). Never a crash, a hang, a wrong shape, a silently wrong number, an integer
gradient, a changed input array, or a half-applied change.

Sizes: ``$CCONV_STATEFUL_EXAMPLES`` sequences (default 60) of up to
``$CCONV_STATEFUL_STEPS`` steps (default 30), derandomized (a fixed seed) unless
``$CCONV_STATEFUL_SEED`` is set; ``.ci/fuzz-nightly`` runs them long.
"""
import copy
import importlib.util
import os
import signal
import stat
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from cconv import layers as L
from cconv.networks import DeepConvNet, LeNet, ParamsFileError, SimpleConvNet

_path = Path(__file__).resolve().parent / "fuzz" / "misuse_oracle.py"
_spec = importlib.util.spec_from_file_location("cconv_misuse_oracle", _path)
O = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(O)
Bad = O.Bad

EXAMPLES = int(os.environ.get("CCONV_STATEFUL_EXAMPLES", "60"))
STEPS = int(os.environ.get("CCONV_STATEFUL_STEPS", "30"))
SEED = os.environ.get("CCONV_STATEFUL_SEED", "").strip()
HANG_SECONDS = int(os.environ.get("CCONV_STATEFUL_HANG_SECONDS", "5"))

CLEAN = (ValueError, TypeError, RuntimeError)
# (a MemoryError is clean only for a request beyond the machine; the fuzzer's sizes are
# small, so it is not accepted here)

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def fuzz_settings(examples=EXAMPLES, steps=STEPS):
    kw = dict(max_examples=examples, stateful_step_count=steps, deadline=None,
              print_blob=True, derandomize=not SEED, report_multiple_bugs=False,
              suppress_health_check=list(HealthCheck))
    if os.environ.get("CCONV_STATEFUL_SHRINK", "1") == "0":   # look for more, faster
        kw["phases"] = [Phase.explicit, Phase.reuse, Phase.generate]
    return settings(**kw)


def layer_class(kind):
    cls = getattr(L, kind, None)
    if cls is None:   # before the redesign, Normalize lives beside LRN
        import cconv.layers_extra as LE
        cls = getattr(LE, kind)
    return cls


COLLECT = os.environ.get("CCONV_STATEFUL_COLLECT", "").strip()


def collect(fn):
    """In collect mode ($CCONV_STATEFUL_COLLECT=file), a rule's failure is appended to the
    file (one JSON line: the rule, the error, where) and the sequence goes on, so that one
    long run lists every kind of finding; otherwise failures fail the test."""
    if not COLLECT:
        return fn
    import functools
    import json
    import re
    import traceback

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Hang as exc:
            err = exc
        except Exception as exc:  # noqa: BLE001 (recorded, not swallowed silently)
            err = exc
        tb = traceback.extract_tb(err.__traceback__)
        where = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(tb)
                      if "cconv/" in f.filename and "/tests/" not in f.filename),
                     f"{Path(tb[-1].filename).name}:{tb[-1].lineno}")
        msg = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        key = re.sub(r"[-+]?\d[\d.e+-]*", "#", msg)[:160]
        with open(COLLECT, "a") as f:
            f.write(json.dumps({"rule": fn.__name__, "key": key, "where": where,
                                "msg": msg[:400]}) + "\n")
    return wrapper


class Hang(BaseException):
    """A call that did not return within HANG_SECONDS (a blocking open, a deadlock)."""


def _alarm(signum, frame):
    raise Hang(f"no answer within {HANG_SECONDS} s")


def call(fn, *args, **kwargs):
    """``('ok', value)`` or ``('refused', exc)``; anything else fails the test."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_SECONDS)
    try:
        return "ok", fn(*args, **kwargs)
    except CLEAN as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        return "refused", exc
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def judge(outcome, verdict, fn_ok, what):
    """Check an outcome against the oracle: ``verdict`` is a Verdict or a Bad."""
    kind, value = outcome
    if isinstance(verdict, Bad):
        assert kind == "refused", f"{what}: accepted although {verdict}; returned {value!r:.200}"
        return False
    if kind == "refused":
        assert verdict.may_refuse, f"{what}: refused a valid call: {type(value).__name__}: {value}"
        return False
    fn_ok(value)
    return True


# ---- values a user may assign --------------------------------------------------------

def _int_zoo(low, high):
    return st.one_of(
        st.integers(low, high),
        st.integers(low, high).map(np.int64),
        st.integers(max(low, 0), min(high, 255)).map(np.uint8),
        st.integers(low, high).map(float),
        st.sampled_from([0, -1, -3, 2 ** 31, 2 ** 63, 2 ** 64 + 1, 10 ** 30, 2.5, -0.5,
                         float("nan"), float("inf"), True, False, np.bool_(True), "2",
                         None, (1, 2), [2, 2], (1, 2, 3), np.array([2, 2])]))


def _real_zoo(low, high):
    return st.one_of(
        st.floats(low, high, allow_nan=False, allow_infinity=False),
        st.floats(low, high, allow_nan=False, allow_infinity=False).map(np.float32),
        st.sampled_from([0, 0.0, -0.1, 1.0, 1, 2, -1e300, 1e300, float("nan"),
                         float("inf"), -float("inf"), True, "0.5", None, np.array(0.5),
                         1e-320]))


THREADS = st.sampled_from([None, 1, 2, 3, -1, 0, -2, 4096, 4097, 100000, 2 ** 31,
                           2 ** 63, 2.0, 1.5, True, "2", np.int32(2), np.uint64(3)])


@st.composite
def array_like(draw, shape, *, finite=True):
    """An array of ``shape`` (mostly float) in a random dtype and memory layout."""
    shape = tuple(shape)
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    a = rng.standard_normal(shape) if shape else np.float64(rng.standard_normal())
    a = np.asarray(a)
    dt = draw(st.sampled_from(["f8", "f8", "f8", "f4", "f4", ">f8", ">f4", "f2", "i8",
                               "i4", "u1", "?", "c16", "O", "U3"]))
    if dt in ("i8", "i4"):
        a = np.round(a * 3).astype(dt)
    elif dt == "u1":
        a = np.abs(np.round(a * 3)).astype(dt)
    elif dt == "?":
        a = a > 0
    else:
        a = a.astype(dt)
    layout = draw(st.sampled_from(["c", "c", "f", "strided", "readonly", "list"]))
    if layout == "f":
        a = np.asfortranarray(a)
    elif layout == "strided" and a.ndim:
        big = np.repeat(a, 2, axis=-1)
        a = big[..., ::2]
    elif layout == "readonly":
        a = np.array(a)
        a.flags.writeable = False
    elif layout == "list" and dt in ("f8", "f4") and a.size <= 64:
        return a.tolist()
    return a


def _perturb_shape(draw, shape):
    """A shape near ``shape``: swapped axes, one off, an axis more or less, or empty."""
    shape = tuple(shape)
    choices = ["same"] * 6 + ["off", "swap", "extra", "fewer", "flat"]
    how = draw(st.sampled_from(choices))
    if how == "same" or not shape:
        return shape
    if how == "off":
        i = draw(st.integers(0, len(shape) - 1))
        return shape[:i] + (max(0, shape[i] + draw(st.sampled_from([-1, 1]))),) + shape[i + 1:]
    if how == "swap" and len(shape) >= 2:
        return shape[:-2] + (shape[-1], shape[-2])
    if how == "extra":
        return shape + (1,)
    if how == "fewer":
        return shape[:-1]
    return (int(np.prod(shape)),)


# ---- the layers: attributes, shapes, oracle -------------------------------------------

def _conv_W(d, layer):
    draw = d.draw
    W = getattr(layer, "W", None)
    shape = W.shape if isinstance(W, np.ndarray) and W.ndim == 4 else (2, 1, 2, 2)
    shape = draw(st.sampled_from([shape, shape, (3,) + tuple(shape[1:]),
                                  tuple(shape[:2]) + (3, 1), (2, 2, 2), (0,) + tuple(shape[1:])]))
    return draw(array_like(shape))


def _affine_W(d, layer):
    draw = d.draw
    W = getattr(layer, "W", None)
    shape = W.shape if isinstance(W, np.ndarray) and W.ndim == 2 else (4, 3)
    shape = draw(st.sampled_from([shape, shape, (shape[0], shape[1] + 1), (shape[0],),
                                  (shape[0] + 1, shape[1])]))
    return draw(array_like(shape))


def _vector(d, n):
    draw = d.draw
    shape = draw(st.sampled_from([(n,), (n,), (n,), (max(0, n - 1),), (n + 1,), (n, 1), ()]))
    return draw(array_like(shape))


def _bias(d, layer):
    W = getattr(layer, "W", None)
    n = (W.shape[0] if type(layer).__name__ == "Convolution" else W.shape[-1]) \
        if isinstance(W, np.ndarray) and W.ndim else 2
    return _vector(d, n)


def _features(layer):
    g = getattr(layer, "gamma", None)
    return g.size if isinstance(g, np.ndarray) else 4


ATTRS = {
    "Convolution": {"W": _conv_W, "b": _bias,
                    "stride": lambda d, l: d.draw(_int_zoo(1, 3)),
                    "pad": lambda d, l: d.draw(_int_zoo(0, 2)),
                    "need_dx": lambda d, l: d.draw(st.sampled_from([True, False, 0, 1])),
                    "n_threads": lambda d, l: d.draw(THREADS)},
    "Affine": {"W": _affine_W, "b": _bias, "n_threads": lambda d, l: d.draw(THREADS)},
    "Pooling": {"pool_h": lambda d, l: d.draw(_int_zoo(1, 3)),
                "pool_w": lambda d, l: d.draw(_int_zoo(1, 3)),
                "stride": lambda d, l: d.draw(_int_zoo(1, 3)),
                "pad": lambda d, l: d.draw(_int_zoo(0, 2)),
                "n_threads": lambda d, l: d.draw(THREADS)},
    "Relu": {"n_threads": lambda d, l: d.draw(THREADS)},
    "Sigmoid": {},
    "Tanh": {},
    "Dropout": {"dropout_ratio": lambda d, l: d.draw(_real_zoo(0, 0.9)),
                "rng": lambda d, l: d.draw(st.sampled_from(
                    [None, np.random.default_rng(1), np.random.default_rng(2), 0, "x"]))},
    "BatchNormalization": {
        "gamma": lambda d, l: _vector(d, _features(l)),
        "beta": lambda d, l: _vector(d, _features(l)),
        "momentum": lambda d, l: d.draw(_real_zoo(0, 1)),
        "eps": lambda d, l: d.draw(_real_zoo(1e-8, 1e-2)),
        "running_mean": lambda d, l: d.draw(st.none()) if d.draw(st.booleans())
        else _vector(d, _features(l)),
        "running_var": lambda d, l: d.draw(st.none()) if d.draw(st.booleans())
        else _vector(d, _features(l)),
    },
    "LRN": {"size": lambda d, l: d.draw(_int_zoo(1, 6)),
            "alpha": lambda d, l: d.draw(_real_zoo(0, 1)),
            "beta": lambda d, l: d.draw(_real_zoo(0, 2)),
            "k": lambda d, l: d.draw(_real_zoo(0.5, 3)),
            "n_threads": lambda d, l: d.draw(THREADS)},
    "Normalize": {"mean": lambda d, l: d.draw(_real_zoo(-1, 1)),
                  "std": lambda d, l: d.draw(_real_zoo(0.1, 3))},
    "SoftmaxWithLoss": {},
}
ATTRS["AvgPooling"] = ATTRS["Pooling"]
KINDS = sorted(ATTRS)


def _f(a, dt=np.float64):
    return np.asarray(a, dtype=dt)


def build_layer(draw, kind):
    """Arguments for ``kind``'s constructor, mostly valid."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    dt = draw(st.sampled_from([np.float64, np.float32]))
    if kind == "Convolution":
        fn, c, fh, fw = (draw(st.integers(1, 3)), draw(st.integers(1, 2)),
                         draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        W = _f(rng.standard_normal((fn, c, fh, fw)), dt)
        return (W, np.zeros(fn, dt) + _f(rng.standard_normal(fn), dt)), dict(
            stride=draw(st.integers(1, 2)), pad=draw(st.integers(0, min(fh, fw) - 1)),
            need_dx=draw(st.booleans()))
    if kind == "Affine":
        d, m = draw(st.integers(1, 6)), draw(st.integers(1, 4))
        return (_f(rng.standard_normal((d, m)), dt), _f(rng.standard_normal(m), dt)), {}
    if kind in ("Pooling", "AvgPooling"):
        ph, pw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        return (ph, pw), dict(stride=draw(st.integers(1, 3)),
                              pad=draw(st.integers(0, min(ph, pw) - 1)))
    if kind == "Dropout":
        return (), dict(dropout_ratio=draw(st.sampled_from([0.0, 0.3, 0.5])),
                        rng=np.random.default_rng(draw(st.integers(0, 9))))
    if kind == "BatchNormalization":
        d = draw(st.integers(1, 6))
        return (_f(1 + 0.1 * rng.standard_normal(d), dt), _f(0.1 * rng.standard_normal(d), dt)), \
            dict(momentum=draw(st.sampled_from([0.9, 0.5, 0.0])))
    if kind == "LRN":
        return (), dict(size=draw(st.integers(1, 5)), alpha=draw(st.sampled_from([1e-4, 0.5])),
                        beta=draw(st.sampled_from([0.75, 0.5, 1.0])),
                        k=draw(st.sampled_from([2.0, 1.0])))
    if kind == "Normalize":
        return (draw(st.sampled_from([0.1, 0.0, -0.5])), draw(st.sampled_from([0.3, 1.0]))), {}
    return (), {}


def input_shape(draw, kind, layer):
    """A shape that fits ``layer`` (mostly), else a nearby one."""
    g = lambda lo, hi: draw(st.integers(lo, hi))  # noqa: E731
    N = g(0, 3) if draw(st.integers(0, 9)) == 0 else g(1, 3)
    W = getattr(layer, "W", None)
    if kind == "Convolution":
        C = W.shape[1] if isinstance(W, np.ndarray) and W.ndim == 4 else 1
        shape = (N, C, g(1, 6), g(1, 6))
    elif kind == "Affine":
        D = W.shape[0] if isinstance(W, np.ndarray) and W.ndim == 2 else 4
        shape = draw(st.sampled_from([(N, D), (N, D, 1, 1)] + ([(N, 1, D // 2, 2)]
                                                               if D % 2 == 0 else [])))
    elif kind in ("Pooling", "AvgPooling", "LRN"):
        shape = (N, g(1, 4), g(1, 6), g(1, 6))
    elif kind == "BatchNormalization":
        shape = draw(st.sampled_from([(N, _features(layer))] + (
            [(N, 1, 1, _features(layer))])))
    elif kind == "SoftmaxWithLoss":
        shape = (N, g(1, 4))
    else:
        shape = draw(st.sampled_from([(N, g(1, 5)), (N, g(1, 3), g(1, 3), g(1, 3)), (g(1, 4),)]))
    return _perturb_shape(draw, shape)


def _window_hyper(v, layer, x_shape, fh, fw, pool=False):
    if len(x_shape) != 4:
        raise Bad(f"x is {len(x_shape)}-D")
    return O.geometry(v, x_shape, fh, fw, layer.stride, layer.pad, pool)


def expect_forward(kind, layer, x, train_flg, v):
    """The oracle's forward: (reference output, context for backward) or raises Bad."""
    if kind == "SoftmaxWithLoss":
        raise AssertionError("handled by the loss rule")
    xf = v.array(x, "x", convert_ints=True)
    ctx = {"x": xf, "x_shape": xf.shape}
    if kind in ("Convolution", "Affine", "Relu", "Pooling", "AvgPooling", "LRN"):
        v.threads(layer.n_threads)
    if kind == "Convolution":
        W = v.array(layer.W, "W", ndim=4)
        b = v.array(layer.b, "b")
        if b.shape != (W.shape[0],):
            if b.size == W.shape[0] and b.ndim == 2:
                v.loose("b of another shape with FN elements")
                b = b.reshape(-1)
            else:
                raise Bad(f"b has shape {b.shape}, W {W.shape}")
        if xf.ndim != 4 or xf.shape[1] != W.shape[1]:
            raise Bad("x does not fit W")
        if W.shape[0] == 0:
            v.loose("no filters")
        geo = _window_hyper(v, layer, xf.shape, *W.shape[2:])
        ctx.update(W=W, b=b, geo=geo[2:])
        return O.conv_forward(xf, W, b, geo[2:]), ctx
    if kind == "Affine":
        W = v.array(layer.W, "W", ndim=2)
        b = v.array(layer.b, "b")
        if b.shape != (W.shape[1],):
            if b.size == W.shape[1]:
                v.loose("b of another shape with M elements")
                b = b.reshape(-1)
            else:
                raise Bad(f"b has shape {b.shape}, W {W.shape}")
        if xf.ndim == 0:
            raise Bad("scalar x")
        x2 = xf.reshape(xf.shape[0], int(np.prod(xf.shape[1:])))
        if x2.shape[1] != W.shape[0]:
            raise Bad("x does not fit W")
        ctx.update(W=W, b=b, x2=x2)
        return x2 @ W + b, ctx
    if kind in ("Pooling", "AvgPooling"):
        ph_ = v.int_(layer.pool_h, "pool_h", 1)
        pw_ = v.int_(layer.pool_w, "pool_w", 1)
        geo = _window_hyper(v, layer, xf.shape, ph_, pw_, pool=True)
        ctx.update(ph=ph_, pw=pw_, geo=geo[2:])
        if kind == "Pooling":
            out, arg = O.maxpool_forward(xf, ph_, pw_, geo[2:])
            ctx["arg"] = arg
            return out, ctx
        return O.avgpool_forward(xf, ph_, pw_, geo[2:]), ctx
    if kind == "Relu":
        return np.where(xf > 0, xf, 0.0), ctx
    if kind == "Sigmoid":
        y = O.sigmoid(xf)
        ctx["y"] = y
        return y, ctx
    if kind == "Tanh":
        y = np.tanh(xf)
        ctx["y"] = y
        return y, ctx
    if kind == "Normalize":
        mean = v.real(layer.mean, "mean")
        std = v.real(layer.std, "std", low=0, low_open=True)
        ctx["std"] = std
        return (xf - mean) / std, ctx
    if kind == "LRN":
        if xf.ndim != 4:
            raise Bad("LRN x not 4-D")
        p = (v.int_(layer.size, "size", 1), v.real(layer.alpha, "alpha", low=0),
             v.real(layer.beta, "beta", low=0), v.real(layer.k, "k", low=0, low_open=True))
        ctx["p"] = p
        return O.lrn_forward(xf, *p)[0], ctx
    if kind == "Dropout":
        r = v.real(layer.dropout_ratio, "dropout_ratio", low=0, high=1, high_open=True)
        ctx.update(ratio=r, train=bool(train_flg))
        if train_flg:
            rng = layer.rng
            if rng is None:
                ctx["mask_from"] = ("global", np.random.get_state())
            elif isinstance(rng, np.random.Generator):
                ctx["mask_from"] = ("gen", copy.deepcopy(rng))
            else:
                v.loose(f"rng is {rng!r}")
                ctx["mask_from"] = ("unknown", None)
            return None, ctx   # the output needs the mask: see _dropout_mask
        return xf * (1 - r), ctx
    if kind == "BatchNormalization":
        gamma = v.array(layer.gamma, "gamma", ndim=1)
        beta = v.array(layer.beta, "beta", shape=gamma.shape)
        eps = v.real(layer.eps, "eps", low=0, low_open=True)
        m = v.real(layer.momentum, "momentum", low=0, high=1)
        if xf.ndim == 0:
            raise Bad("scalar x")
        if xf.ndim == 1:
            v.loose("1-D x: N samples of one feature")
        x2 = xf.reshape(xf.shape[0], int(np.prod(xf.shape[1:])))
        D = gamma.size
        if x2.shape[1] != D:
            raise Bad("x does not fit gamma")
        rm, rv = layer.running_mean, layer.running_var
        rm = np.zeros(D) if rm is None else v.array(rm, "running_mean", shape=(D,))
        rv = np.zeros(D) if rv is None else v.array(rv, "running_var", shape=(D,))
        if layer.running_var is not None and np.any(rv + eps <= 0):
            raise Bad("running_var + eps <= 0")
        if layer.running_var is not None and np.any(rv < 0):
            v.loose("running_var < 0")
        if (layer.running_mean is None) != (layer.running_var is None):
            v.loose("one running statistic is None")
        ctx.update(gamma=gamma, eps=eps, train=bool(train_flg), x2=x2)
        if train_flg:
            if x2.shape[0] == 0:
                raise Bad("training on an empty batch")
            mu = x2.mean(axis=0)
            var = x2.var(axis=0)
            std = np.sqrt(var + eps)
            xn = (x2 - mu) / std
            ctx.update(xn=xn, std=std, running=(m * rm + (1 - m) * mu, m * rv + (1 - m) * var))
        else:
            std = np.sqrt(rv + eps)
            xn = (x2 - rm) / std
            ctx.update(xn=xn, std=std, running=(rm, rv))
        return (gamma * xn + beta).reshape(xf.shape), ctx
    raise AssertionError(kind)


def expect_backward(kind, ctx, layer, dout, v):
    """Reference (dx, {grad_name: value}) from the forward's context, or Bad."""
    out_shape = ctx["out_shape"]
    d = v.array(dout, "dout", shape=out_shape)
    if np.dtype(getattr(dout, "dtype", np.float64)) != ctx["out_dtype"]:
        v.loose("dout in another dtype than the forward's output")
    x_shape = ctx["x_shape"]
    if kind in ("Convolution", "Affine", "Relu", "Pooling", "AvgPooling", "LRN"):
        v.threads(layer.n_threads)   # read again: it may have been reassigned since
    if kind == "Convolution":
        dx, dW, db = O.conv_backward(d, ctx["x"], ctx["W"], ctx["geo"])
        return dx, {"dW": dW, "db": db}
    if kind == "Affine":
        dx = (d @ ctx["W"].T).reshape(x_shape)
        return dx, {"dW": ctx["x2"].T @ d, "db": d.sum(axis=0)}
    if kind == "Pooling":
        return O.maxpool_backward(d, ctx["arg"], x_shape, ctx["ph"], ctx["pw"], ctx["geo"]), {}
    if kind == "AvgPooling":
        return O.avgpool_backward(d, x_shape, ctx["ph"], ctx["pw"], ctx["geo"]), {}
    if kind == "Relu":
        return d * (ctx["x"] > 0), {}
    if kind == "Sigmoid":
        return d * (1 - ctx["y"]) * ctx["y"], {}
    if kind == "Tanh":
        return d * (1 - ctx["y"] ** 2), {}
    if kind == "Normalize":
        return d / ctx["std"], {}
    if kind == "LRN":
        return O.lrn_backward(d, ctx["x"], *ctx["p"]), {}
    if kind == "Dropout":
        if ctx["train"]:
            return d * ctx["mask"], {}
        return d * (1 - ctx["ratio"]), {}
    if kind == "BatchNormalization":
        d2 = d.reshape(d.shape[0], int(np.prod(d.shape[1:])))   # (N = 0 too)
        xn, std, gamma = ctx["xn"], ctx["std"], ctx["gamma"]
        dxn = d2 * gamma
        if ctx["train"]:
            N = d2.shape[0]
            dx = (N * dxn - dxn.sum(axis=0) - xn * (dxn * xn).sum(axis=0)) / (N * std)
        else:
            dx = dxn / std
        return dx.reshape(x_shape), {"dgamma": (d2 * xn).sum(axis=0), "dbeta": d2.sum(axis=0)}
    raise AssertionError(kind)


PARAMS = {"Convolution": ("W", "b"), "Affine": ("W", "b"),
          "BatchNormalization": ("gamma", "beta")}


def hyper_names(kind):
    return [n for n in ATTRS[kind] if n not in PARAMS.get(kind, ()) + ("n_threads",)
            and not n.startswith("running_")]


def _alternative(kind, ctx, layer, dout):
    """The backward reference from the parameters as they are now (the book's layers read
    the current W in backward), or None if they are not usable."""
    v = O.Verdict()
    try:
        alt = dict(ctx)
        if kind == "Convolution":
            alt["W"] = v.array(layer.W, "W", shape=ctx["W"].shape)
        elif kind == "Affine":
            alt["W"] = v.array(layer.W, "W", shape=ctx["W"].shape)
        elif kind == "BatchNormalization":
            alt["gamma"] = v.array(layer.gamma, "gamma", shape=ctx["gamma"].shape)
        else:
            return None
        return expect_backward(kind, alt, layer, dout, v)
    except Bad:
        return None


def _dropout_mask(ctx, shape):
    how, src = ctx["mask_from"]
    if how == "global":
        rs = np.random.RandomState()
        rs.set_state(src)
        return rs.random_sample(shape) > ctx["ratio"]
    if how == "gen":
        return src.random(shape) > ctx["ratio"]
    return None


def _snapshot(a):
    if isinstance(a, np.ndarray):
        return a.copy()
    if isinstance(a, list):
        return copy.deepcopy(a)
    return a


def _same(a, b):
    if isinstance(b, np.ndarray) and not isinstance(a, np.ndarray):
        return False
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and \
            np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    try:
        return bool(a == b) if not isinstance(a, float) else (a == b or (a != a and b != b))
    except ValueError:   # sequences holding arrays
        return False


class Slot:
    def __init__(self, kind, layer):
        self.kind, self.layer = kind, layer
        self.ctx = None          # the last successful forward's context
        self.stale = False       # a forward failed (or state changed) after it
        self.out = None          # the array the last forward returned (for edits)


class LayerMachine(RuleBasedStateMachine):
    """Layers of every kind, their public attributes, forward and backward."""

    def __init__(self):
        super().__init__()
        self.slots = []

    def _slot(self, data, pred=lambda s: True):
        cands = [s for s in self.slots if pred(s)]
        return data.draw(st.sampled_from(cands)) if cands else None

    @rule(data=st.data(), kind=st.sampled_from(KINDS))
    @collect
    def build(self, data, kind):
        args, kwargs = build_layer(data.draw, kind)
        cls = layer_class(kind)
        out = call(cls, *args, **kwargs)
        assert out[0] == "ok", f"{kind}{args, kwargs}: refused valid arguments: {out[1]}"
        layer = out[1]
        for name, a in zip(PARAMS.get(kind, ()), args):
            assert getattr(layer, name) is a, f"{kind}.{name} is not the array passed in"
        if len(self.slots) < 6:
            self.slots.append(Slot(kind, layer))

    @precondition(lambda self: any(ATTRS[s.kind] for s in self.slots))
    @rule(data=st.data())
    @collect
    def assign(self, data):
        slot = self._slot(data, lambda s: ATTRS[s.kind])
        name = data.draw(st.sampled_from(sorted(ATTRS[slot.kind])))
        value = ATTRS[slot.kind][name](data, slot.layer)
        try:
            setattr(slot.layer, name, value)
        except CLEAN:  # refusing at assignment is as good as refusing at use
            return

    @precondition(lambda self: any(s.kind in PARAMS for s in self.slots))
    @rule(data=st.data())
    @collect
    def optimizer_step(self, data):
        """What the book's optimizers do: update a parameter in place."""
        slot = self._slot(data, lambda s: s.kind in PARAMS)
        p = getattr(slot.layer, data.draw(st.sampled_from(PARAMS[slot.kind])))
        if isinstance(p, np.ndarray) and p.dtype.kind == "f" and p.flags.writeable:
            with np.errstate(all="ignore"):
                p -= p.dtype.type(0.01) * np.ones_like(p)

    @precondition(lambda self: any(s.kind != "SoftmaxWithLoss" for s in self.slots))
    @rule(data=st.data())
    @collect
    def forward(self, data):
        slot = self._slot(data, lambda s: s.kind != "SoftmaxWithLoss")
        kind, layer = slot.kind, slot.layer
        x = data.draw(array_like(input_shape(data.draw, kind, layer)))
        x_before = _snapshot(x)
        train = data.draw(st.sampled_from([True, False, np.bool_(True)]))
        v = O.Verdict()
        try:
            ref, ctx = expect_forward(kind, layer, x, train, v)
            verdict = v
        except Bad as exc:
            verdict, ctx, ref = exc, None, None
        takes_flg = kind in ("Dropout", "BatchNormalization")
        args = (x, train) if takes_flg else (x,)
        outcome = call(layer.forward, *args)
        assert _same(x_before, x), f"{kind}.forward changed its input"

        def check(out):
            assert isinstance(out, np.ndarray) or (np.ndim(x) == 0 and isinstance(out, np.generic)), \
                f"{kind}.forward returned {type(out)}"
            out = np.asarray(out)
            want = ref
            if kind == "Dropout" and ctx["train"]:
                mask = _dropout_mask(ctx, ctx["x"].shape)
                if mask is None:   # an RNG the oracle cannot replay: the layer's own mask
                    mask = np.asarray(layer.mask)
                    assert mask.shape == ctx["x"].shape and mask.dtype == bool
                ctx["mask"] = mask
                want = ctx["x"] * mask
            O.close(out, want, v.f32, f"{kind}.forward")
            if kind == "BatchNormalization":
                for got, w, n in zip((layer.running_mean, layer.running_var), ctx["running"],
                                     ("running_mean", "running_var")):
                    O.close(got, w, True, f"BatchNormalization.{n} after forward")
        if judge(outcome, verdict, check, f"{kind}.forward"):
            out = outcome[1]
            ctx["out_shape"], ctx["out_dtype"], ctx["f32"] = out.shape, out.dtype, v.f32
            ctx["params"] = {n: getattr(layer, n) for n in PARAMS.get(kind, ())}
            ctx["param_copies"] = {n: _snapshot(p) for n, p in ctx["params"].items()}
            ctx["hyper"] = {n: _snapshot(getattr(layer, n)) for n in hyper_names(kind)}
            slot.ctx, slot.stale, slot.out = ctx, False, out
        else:
            slot.stale = True

    @precondition(lambda self: any(s.out is not None for s in self.slots))
    @rule(data=st.data())
    @collect
    def edit_output(self, data):
        """The caller edits the array forward returned (the book's Relu is right then)."""
        slot = self._slot(data, lambda s: s.out is not None)
        if slot.out.flags.writeable and slot.out.size:
            slot.out[...] = data.draw(st.sampled_from([0.0, 1.0, -1.0]))

    @precondition(lambda self: any(s.kind != "SoftmaxWithLoss" for s in self.slots))
    @rule(data=st.data())
    @collect
    def backward(self, data):
        slot = self._slot(data, lambda s: s.kind != "SoftmaxWithLoss")
        kind, layer, ctx = slot.kind, slot.layer, slot.ctx
        if ctx is None:
            shape = input_shape(data.draw, kind, layer)
        else:
            shape = _perturb_shape(data.draw, ctx["out_shape"])
        dout = data.draw(array_like(shape))
        d_before = _snapshot(dout)
        params_before = {n: getattr(layer, n) for n in PARAMS.get(kind, ())}
        v = O.Verdict()
        if ctx is None:
            verdict = Bad("backward before any successful forward")
        else:
            if slot.stale:
                v.loose("a forward failed since the last one that worked")
            if ctx.get("f32"):
                v.f32 = True
            alt = None
            if any(getattr(layer, n) is not p for n, p in ctx["params"].items()):
                v.loose("a parameter was replaced since the forward")
            if any(getattr(layer, n) is not p or not _same(p, ctx["param_copies"][n])
                   for n, p in ctx["params"].items()):
                alt = _alternative(kind, ctx, layer, dout)
            if any(not _same(val, getattr(layer, n)) for n, val in ctx["hyper"].items()):
                v.loose("a hyperparameter changed since the forward")
            try:
                ref_dx, ref_grads = expect_backward(kind, ctx, layer, dout, v)
                verdict = v
            except Bad as exc:
                verdict = exc
        outcome = call(layer.backward, dout)
        assert _same(d_before, dout), f"{kind}.backward changed dout"
        for n, p in params_before.items():
            assert getattr(layer, n) is p, f"{kind}.backward replaced {n}"

        def check(dx):
            try:
                check_against(dx, ref_dx, ref_grads)
            except AssertionError:
                if alt is None:
                    raise
                check_against(dx, *alt)

        def check_against(dx, ref_dx, ref_grads):
            f32 = v.f32 or ctx["out_dtype"] == np.float32
            if kind == "Convolution" and not layer.need_dx:
                assert dx is None or dx.shape == ctx["x_shape"]
            else:
                O.close(dx, ref_dx, f32, f"{kind}.backward dx")
            for g, ref in ref_grads.items():
                got = getattr(layer, g)
                assert isinstance(got, np.ndarray), f"{kind}.{g} is {type(got)}"
                assert got.dtype.kind == "f", f"{kind}.{g} has dtype {got.dtype} (an integer gradient)"
                O.close(got, ref, f32, f"{kind}.{g}")
        judge(outcome, verdict, check, f"{kind}.backward")

    @precondition(lambda self: any(s.kind == "SoftmaxWithLoss" for s in self.slots))
    @rule(data=st.data())
    @collect
    def loss(self, data):
        slot = self._slot(data, lambda s: s.kind == "SoftmaxWithLoss")
        N, K = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
        x = data.draw(array_like(_perturb_shape(data.draw, (N, K))))
        rng = np.random.default_rng(data.draw(st.integers(0, 99)))
        how = data.draw(st.sampled_from(["labels", "labels", "onehot", "float_labels",
                                         "out_of_range", "short", "2d"]))
        labels = rng.integers(0, K, N)
        t = {"labels": labels, "onehot": np.eye(K)[labels], "float_labels": labels * 1.0,
             "out_of_range": labels + K, "short": labels[:-1],
             "2d": labels.reshape(-1, 1)}[how]
        v = O.Verdict()
        try:
            xf = v.array(x, "x", convert_ints=True)
            tt = np.asarray(t)
            if xf.ndim == 1:   # the book's single sample: t of shape (K,) is one-hot
                v.loose("a single sample (K,)")
                tt = tt.reshape(1, -1) if tt.shape == xf.shape else tt.reshape(-1)
                xf = xf.reshape(1, -1)
                if tt.shape == xf.shape:
                    how = "onehot"
            if xf.ndim != 2 or xf.shape[0] == 0:
                raise Bad(f"x shape {xf.shape}")
            if tt.shape == xf.shape and xf.shape[1] == 1:   # one class: label 0 either way
                labels = np.zeros(xf.shape[0], dtype=np.intp)
            elif tt.shape == xf.shape:
                if how != "onehot" or tt.dtype.kind not in "biuf" or np.any(
                        (tt < 0) | (tt > 1)) or np.any(np.abs(tt.sum(axis=1) - 1) > 1e-3):
                    raise Bad(f"targets of the scores' shape {tt.shape} that are not one-hot")
                labels = tt.argmax(axis=1)
            elif tt.shape in ((xf.shape[0],), (xf.shape[0], 1)) and tt.dtype.kind in "iu":
                labels = tt.reshape(-1)   # labels, or a column of them (the book's check)
                if labels.min() < 0 or labels.max() >= xf.shape[1]:
                    raise Bad("labels out of range")
            else:
                raise Bad(f"targets {how} of shape {tt.shape} for scores {xf.shape}")
            N, K = xf.shape
            y = O.softmax(xf)
            ref = -np.mean(np.log(y[np.arange(N), labels] + O._EPS_LOG))
            verdict = v
        except Bad as exc:
            verdict = exc
        outcome = call(slot.layer.forward, x, t)

        def check(loss):
            O.close(np.asarray(loss), ref, v.f32, "SoftmaxWithLoss.forward")
            assert np.ndim(loss) == 0, f"loss of shape {np.shape(loss)}"
        if judge(outcome, verdict, check, "SoftmaxWithLoss.forward"):
            scale = data.draw(st.sampled_from([None, 1, 2.0, np.float32(0.5)]))
            outcome = call(slot.layer.backward) if scale is None else call(
                slot.layer.backward, scale)
            ref_dx = (y - np.eye(K)[labels]) / N * (1 if scale is None else float(scale))
            if np.ndim(x) == 1:
                ref_dx = ref_dx.reshape(-1)
            judge(outcome, v, lambda dx: O.close(dx, ref_dx, v.f32,
                                                 "SoftmaxWithLoss.backward"),
                  "SoftmaxWithLoss.backward")


# ---- networks ------------------------------------------------------------------------

def param_map(net):
    """{key: (layer name, attribute)} (``param_map`` since the layer protocol)."""
    return getattr(net, "param_map", None) or net._param_map


def _fifo(path):
    os.mkfifo(path)
    return path


class NetworkMachine(RuleBasedStateMachine):
    """A small SimpleConvNet: predict, loss, accuracy, gradient, save and load."""

    def __init__(self):
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="cconv-stateful-"))
        self.net = None
        self.saved = []   # (path, params copy) of save_params calls that worked

    def teardown(self):
        import shutil
        shutil.rmtree(self.tmp, ignore_errors=True)

    @rule(kind=st.sampled_from(["simple", "simple", "lenet", "deep"]),
          dtype=st.sampled_from(["float64", "float32"]), size=st.integers(8, 10),
          fn=st.integers(1, 3), fs=st.integers(1, 3), pad=st.integers(0, 1),
          hidden=st.integers(1, 5), out=st.integers(2, 4), seed=st.integers(0, 9),
          variant=st.booleans())
    @collect
    def build(self, kind, dtype, size, fn, fs, pad, hidden, out, seed, variant):
        pad = min(pad, fs - 1)
        conv = {"filter_num": fn, "filter_size": fs, "pad": pad, "stride": 1}
        if kind == "simple":
            self.net = SimpleConvNet(input_dim=(1, size, size), conv_param=conv,
                                     hidden_size=hidden, output_size=out, dtype=dtype, rng=seed)
        elif kind == "lenet":
            self.net = LeNet(input_dim=(1, size, size),
                             conv_param_1={"filter_num": fn, "filter_size": 3, "pad": 1},
                             conv_param_2={"filter_num": 2, "filter_size": 2, "pad": 0},
                             hidden_sizes=(hidden, 3), output_size=out, dtype=dtype, rng=seed,
                             pool="max" if variant else "avg",
                             activation="relu" if variant else "tanh")
        else:
            c = {"filter_num": fn, "filter_size": 3, "pad": 1, "stride": 1}
            self.net = DeepConvNet(input_dim=(1, size, size),
                                   **{f"conv_param_{i}": c for i in range(1, 7)},
                                   hidden_size=hidden, output_size=out, dtype=dtype, rng=seed)
        self.kind = kind
        for key, (lname, attr) in param_map(self.net).items():
            assert self.net.params[key] is getattr(self.net.layers[lname], attr)

    def _x(self, data, n=None):
        C, H, W = self.net.config["input_dim"]
        n = data.draw(st.integers(0, 5)) if n is None else n
        shape = data.draw(st.sampled_from([(n, C, H, W)] * 4 + [(n, C * H * W), (n, C, W, H + 1),
                                                                (n, C, H), (C, H, W)]))
        return data.draw(array_like(shape))

    def _reference_input(self, x, v):
        C, H, W = self.net.config["input_dim"]
        xf = v.array(x, "x", convert_ints=True)
        if xf.ndim == 2 and xf.shape[1] == C * H * W:
            xf = xf.reshape(-1, C, H, W)
        if xf.ndim != 4 or xf.shape[1:] != (C, H, W):
            raise Bad(f"input shape {xf.shape}")
        return xf

    def _reference_predict(self, x):
        """The layers' oracle chained: the network's scores from its current state."""
        v = O.Verdict()
        xf = self._reference_input(x, v)
        ctxs = []
        for name, layer in self.net.layers.items():
            kind = type(layer).__name__
            ref, ctx = expect_forward(kind, layer, xf, False, v)
            ctx["out_shape"], ctx["out_dtype"] = ref.shape, np.dtype(np.float64)
            ctxs.append((kind, layer, ctx))
            xf = ref
        return xf, ctxs, v

    @precondition(lambda self: self.net is not None)
    @rule(data=st.data())
    @collect
    def predict(self, data):
        x = self._x(data)
        try:
            ref, _, v = self._reference_predict(x)
            verdict = v
        except Bad as exc:
            verdict = exc
        f32 = self.net.dtype == np.float32
        judge(call(self.net.predict, x), verdict,
              lambda y: O.close(y, ref, f32, "predict"), "predict")

    @precondition(lambda self: self.net is not None)
    @rule(data=st.data())
    @collect
    def accuracy(self, data):
        n = data.draw(st.integers(0, 6))
        x = self._x(data, n)
        K = self.net.config["output_size"]
        rng = np.random.default_rng(data.draw(st.integers(0, 99)))
        labels = rng.integers(0, K, n)
        how = data.draw(st.sampled_from(["labels", "labels", "onehot", "short", "long",
                                         "float", "out_of_range", "2d"]))
        t = {"labels": labels, "onehot": np.eye(K)[labels], "short": labels[:-1],
             "long": np.append(labels, 0), "float": labels + 0.5,
             "out_of_range": labels + K, "2d": labels.reshape(1, -1)}[how]
        bs = data.draw(st.sampled_from([100, 1, 2, 3, 0, -1, 2.0, 2.5, None, True, 2 ** 70]))
        kwargs = {} if bs == 100 else {"batch_size": bs}
        try:
            if n == 0:   # no sample reaches the layers: only the input's shape counts
                v = O.Verdict()
                self._reference_input(x, v)
                v.loose("accuracy of no samples")
                ref = None
            else:
                ref, _, v = self._reference_predict(x)
            if how == "long" or (how == "2d" and n != 1) or (
                    n and how in ("short", "out_of_range", "float")):   # (1, 1): a column
                raise Bad(f"targets {how}")
            v.int_(bs, "batch_size", 1, huge_ok=True)
            if n == 0:
                v.loose("accuracy of no samples")
            want = float(np.mean(ref.argmax(axis=1) == labels)) if n else 0.0
            verdict = v
        except Bad as exc:
            verdict = exc

        def check(acc):
            assert isinstance(acc, float), f"accuracy returned {type(acc)}"
            # ties in the scores may break either way in float32; the fuzzer's are random
            assert abs(acc - want) < 1e-12, f"accuracy {acc}, expected {want}"
        judge(call(self.net.accuracy, x, t, **kwargs), verdict, check, "accuracy")

    @precondition(lambda self: self.net is not None and self.kind != "deep")
    @rule(data=st.data())
    @collect
    def gradient(self, data):
        """(DeepConvNet's Dropout masks are not replayed by the oracle: no gradient rule.)"""
        n = data.draw(st.integers(1, 4))
        x = self._x(data, n)
        K = self.net.config["output_size"]
        t = np.random.default_rng(n).integers(0, K, n)
        try:
            scores, ctxs, v = self._reference_predict(x)
            y = O.softmax(scores)
            d = (y - np.eye(K)[t]) / n
            grads = {}
            for kind, layer, ctx in reversed(ctxs):
                d, g = expect_backward(kind, ctx, layer, d, O.Verdict())
                for gname, val in g.items():
                    grads[(id(layer), gname[1:])] = val
            verdict = v
        except Bad as exc:
            verdict = exc
        f32 = self.net.dtype == np.float32

        def check(got):
            for key, (lname, attr) in param_map(self.net).items():
                O.close(got[key], grads[(id(self.net.layers[lname]), attr)], f32,
                        f"gradient {key}")
        judge(call(self.net.gradient, x, t), verdict, check, "gradient")

    @precondition(lambda self: self.net is not None)
    @rule(data=st.data())
    @collect
    def save(self, data):
        where = data.draw(st.sampled_from(["file", "file", "dir", "fifo", "missing_dir"]))
        self.n_files = getattr(self, "n_files", 0) + 1
        path = self.tmp / f"p{self.n_files}.npz"
        if where == "dir":
            path.mkdir(exist_ok=True)
        elif where == "fifo" and not path.exists():
            _fifo(path)
        elif where == "missing_dir":
            path = self.tmp / "no" / "such" / "p.npz"
        kind_before = path.lstat().st_mode if path.exists() else None
        outcome = _call_or_oserror(self.net.save_params, path)
        if where == "file":
            assert outcome[0] == "ok", f"save_params refused a plain path: {outcome[1]}"
            self.saved.append((path, {k: v.copy() for k, v in self.net.params.items()}))
        else:
            assert outcome[0] == "refused", f"save_params wrote over a {where}"
            if kind_before is not None:
                assert stat.S_IFMT(path.lstat().st_mode) == stat.S_IFMT(kind_before), \
                    f"save_params replaced the {where} at {path}"

    @precondition(lambda self: self.net is not None)
    @rule(data=st.data())
    @collect
    def load(self, data):
        what = data.draw(st.sampled_from(["saved", "saved", "truncated", "fifo", "dir",
                                          "missing", "garbage", "other_net"]))
        before = {k: v.copy() for k, v in self.net.params.items()}
        self.n_files = getattr(self, "n_files", 0) + 1
        path = self.tmp / f"load-{self.n_files}-{what}.npz"
        expect_ok = None
        if what == "saved" and self.saved:
            path, expect_ok = data.draw(st.sampled_from(self.saved))
        elif what in ("saved", "truncated") and self.saved:
            src = data.draw(st.sampled_from(self.saved))[0]
            blob = src.read_bytes()
            path.write_bytes(blob[:data.draw(st.integers(0, len(blob) - 1))])
        elif what == "fifo" and not path.exists():
            _fifo(path)
        elif what == "dir":
            path.mkdir(exist_ok=True)
        elif what == "garbage":
            path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 3)
        elif what == "other_net":
            SimpleConvNet(input_dim=(1, 5, 5), conv_param={"filter_num": 1, "filter_size": 2,
                                                           "pad": 0, "stride": 1},
                          hidden_size=2, output_size=2).save_params(path)
        outcome = _call_or_oserror(self.net.load_params, path)
        if expect_ok is not None and self.net.dtype == next(iter(expect_ok.values())).dtype \
                and all(self.net.params[k].shape == v.shape for k, v in expect_ok.items()) \
                and set(expect_ok) == set(self.net.params):
            assert outcome[0] == "ok", f"load_params refused its own file: {outcome[1]}"
            for k, val in expect_ok.items():
                assert np.array_equal(self.net.params[k], val), f"{k} not loaded"
        elif outcome[0] == "refused":
            for k, val in before.items():
                assert np.array_equal(self.net.params[k], val), \
                    f"a failed load_params ({what}) changed {k}"
        for key, (lname, attr) in param_map(self.net).items():
            assert self.net.params[key] is getattr(self.net.layers[lname], attr)

    @precondition(lambda self: self.net is not None)
    @rule(data=st.data())
    @collect
    def assign(self, data):
        """A public attribute of one of the network's layers."""
        name = data.draw(st.sampled_from(sorted(self.net.layers)))
        layer = self.net.layers[name]
        kind = type(layer).__name__
        if not ATTRS.get(kind):
            return
        attr = data.draw(st.sampled_from(sorted(ATTRS[kind])))
        if attr in ("W", "b", "gamma", "beta"):
            return   # replacing a parameter array unlinks it from net.params (the book's way)
        try:
            setattr(layer, attr, ATTRS[kind][attr](data, layer))
        except CLEAN:
            pass


def _call_or_oserror(fn, *args):
    """Like call(), with OSError (and ParamsFileError) also a clean refusal."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_SECONDS)
    try:
        return "ok", fn(*args)
    except (OSError, ParamsFileError) + CLEAN as exc:
        assert str(exc).strip()
        return "refused", exc
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


TestLayers = LayerMachine.TestCase
TestLayers.settings = fuzz_settings()
TestNetworks = NetworkMachine.TestCase
TestNetworks.settings = fuzz_settings(max(10, EXAMPLES // 3), max(10, STEPS // 2))
