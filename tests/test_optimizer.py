"""cconv.optimizer against a transcription of the book's common/optimizer.py."""
import json
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cconv.io import npz as _io
from cconv.optimizer import (OPTIMIZERS, SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop,
                             get_optimizer)


# --- the book's optimizers, transcribed (common/optimizer.py) -------------------------
class BookSGD:
    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        for key in params.keys():
            params[key] -= self.lr * grads[key]


class BookMomentum:
    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        if self.v is None:
            self.v = {}
            for key, val in params.items():
                self.v[key] = np.zeros_like(val)
        for key in params.keys():
            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]
            params[key] += self.v[key]


class BookNesterov:
    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        if self.v is None:
            self.v = {}
            for key, val in params.items():
                self.v[key] = np.zeros_like(val)
        for key in params.keys():
            self.v[key] *= self.momentum
            self.v[key] -= self.lr * grads[key]
            params[key] += self.momentum * self.momentum * self.v[key]
            params[key] -= (1 + self.momentum) * self.lr * grads[key]


class BookAdaGrad:
    def __init__(self, lr=0.01):
        self.lr = lr
        self.h = None

    def update(self, params, grads):
        if self.h is None:
            self.h = {}
            for key, val in params.items():
                self.h[key] = np.zeros_like(val)
        for key in params.keys():
            self.h[key] += grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + 1e-7)


class BookRMSprop:
    def __init__(self, lr=0.01, decay_rate=0.99):
        self.lr = lr
        self.decay_rate = decay_rate
        self.h = None

    def update(self, params, grads):
        if self.h is None:
            self.h = {}
            for key, val in params.items():
                self.h[key] = np.zeros_like(val)
        for key in params.keys():
            self.h[key] *= self.decay_rate
            self.h[key] += (1 - self.decay_rate) * grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + 1e-7)


class BookAdam:
    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.iter = 0
        self.m = None
        self.v = None

    def update(self, params, grads):
        if self.m is None:
            self.m, self.v = {}, {}
            for key, val in params.items():
                self.m[key] = np.zeros_like(val)
                self.v[key] = np.zeros_like(val)
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2**self.iter) / (1.0 - self.beta1**self.iter)
        for key in params.keys():
            self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
            self.v[key] += (1 - self.beta2) * (grads[key]**2 - self.v[key])
            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)


PAIRS = [
    (SGD, BookSGD, {"lr": 0.1}),
    (Momentum, BookMomentum, {"lr": 0.05, "momentum": 0.9}),
    (Nesterov, BookNesterov, {"lr": 0.05, "momentum": 0.85}),
    (AdaGrad, BookAdaGrad, {"lr": 0.1}),
    (RMSprop, BookRMSprop, {"lr": 0.01, "decay_rate": 0.95}),
    (Adam, BookAdam, {"lr": 0.01, "beta1": 0.8, "beta2": 0.99}),
]
IDS = [p[0].__name__ for p in PAIRS]


def make_params(dtype, seed=0):
    r = np.random.default_rng(seed)
    return {"W1": r.standard_normal((7, 5)).astype(dtype),
            "b1": r.standard_normal(5).astype(dtype),
            "W2": r.standard_normal((3, 2, 3, 3)).astype(dtype),  # a conv filter
            "b2": np.zeros(3, dtype=dtype)}


def grads_for(params, step, seed=1):
    # a gradient that depends on the params (like a real loss) plus noise
    r = np.random.default_rng([seed, step])
    return {k: (0.5 * p + r.standard_normal(p.shape)).astype(p.dtype)
            for k, p in params.items()}


def run(opt, params, steps, start=0):
    for s in range(start, start + steps):
        opt.update(params, grads_for(params, s))
    return params


@pytest.mark.parametrize("cls, book, kw", PAIRS, ids=IDS)
def test_float64_matches_book(cls, book, kw):
    mine = make_params(np.float64)
    ref = {k: v.copy() for k, v in mine.items()}
    run(cls(**kw), mine, 6)
    run(book(**kw), ref, 6)
    for k in mine:
        # same operations in the same order: equal to the last bit in float64
        np.testing.assert_array_equal(mine[k], ref[k], err_msg=k)


@pytest.mark.parametrize("cls, book, kw", PAIRS, ids=IDS)
def test_float32_matches_book_and_keeps_dtype(cls, book, kw):
    mine = make_params(np.float32)
    ids = {k: id(v) for k, v in mine.items()}
    ref = {k: v.copy() for k, v in mine.items()}
    opt = cls(**kw)
    run(opt, mine, 6)
    run(book(**kw), ref, 6)
    for k in mine:
        assert id(mine[k]) == ids[k], "update must work in place"
        assert mine[k].dtype == np.float32
        np.testing.assert_allclose(mine[k], ref[k], rtol=2e-5, atol=2e-6, err_msg=k)
    for name in opt._state_names:
        for k, a in getattr(opt, name).items():
            assert a.dtype == np.float32, (name, k)
            assert a.shape == mine[k].shape


@pytest.mark.parametrize("cls, book, kw", PAIRS, ids=IDS)
def test_float32_close_to_float64(cls, book, kw):
    p32, p64 = make_params(np.float32), make_params(np.float64)
    run(cls(**kw), p32, 5)
    run(cls(**kw), p64, 5)
    for k in p32:
        np.testing.assert_allclose(p32[k], p64[k], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cls, book, kw", PAIRS, ids=IDS)
def test_numpy_float64_hyperparameters_do_not_upcast(cls, book, kw):
    a, b = make_params(np.float32), make_params(np.float32)
    run(cls(**kw), a, 3)
    run(cls(**{k: np.float64(v) for k, v in kw.items()}), b, 3)
    for k in a:
        assert b[k].dtype == np.float32
        np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize("cls, book, kw", PAIRS, ids=IDS)
def test_update_makes_no_temporaries(cls, book, kw):
    big = {"W": np.ones((256, 512), dtype=np.float32),
           "b": np.zeros(512, dtype=np.float32)}
    grads = {"W": np.full((256, 512), 0.5, dtype=np.float32),
             "b": np.full(512, 0.5, dtype=np.float32)}
    opt = cls(**kw)
    opt.update(big, grads)  # first step allocates the state and the workspace
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(3):
            opt.update(big, grads)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # numpy reports its data buffers to tracemalloc; one temporary would be 512 KiB
    assert peak - before < big["W"].nbytes // 4, peak - before


@pytest.mark.parametrize("cls, book, kw", PAIRS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_state_dict_round_trip_continues_identically(cls, book, kw, dtype, tmp_path):
    p = make_params(dtype)
    opt = cls(**kw)
    run(opt, p, 3)
    sd = opt.state_dict()
    assert sd["iter"] == 3 and sd["optimizer"] == cls.__name__
    for k, v in sd.items():
        assert isinstance(v, (int, float, str, np.ndarray)), (k, type(v))
        if isinstance(v, np.ndarray):
            assert v.dtype == dtype
    # through a real file: arrays in the npz, numbers in the JSON meta
    arrays = {k: v for k, v in sd.items() if isinstance(v, np.ndarray)}
    meta = {k: v for k, v in sd.items() if not isinstance(v, np.ndarray)}
    _io.save_npz_atomic(tmp_path / "opt.npz", arrays, meta)
    arrays2, meta2 = _io.load_npz(tmp_path / "opt.npz")
    opt2 = cls()  # default hyper-parameters, replaced by the loaded ones
    opt2.load_state_dict({**arrays2, **meta2})
    assert opt2.state_dict().keys() == sd.keys()
    p2 = {k: v.copy() for k, v in p.items()}
    run(opt, p, 4, start=3)
    run(opt2, p2, 4, start=3)
    for k in p:
        np.testing.assert_array_equal(p[k], p2[k])


def test_state_dict_is_a_copy():
    p = make_params(np.float64)
    opt = Momentum()
    run(opt, p, 2)
    sd = opt.state_dict()
    v0 = sd["v/W1"].copy()
    run(opt, p, 1, start=2)
    np.testing.assert_array_equal(sd["v/W1"], v0)
    assert sd["iter"] == 2 and opt.iter == 3


def test_load_state_dict_checks():
    sd = Adam().state_dict()
    with pytest.raises(ValueError, match="Adam"):
        SGD().load_state_dict(sd)
    with pytest.raises(ValueError, match="lacks"):
        Adam().load_state_dict({"optimizer": "Adam"})
    p = make_params(np.float64)
    opt = Adam()
    run(opt, p, 1)
    sd = opt.state_dict()
    del sd["v/W1"], sd["v/b1"], sd["v/W2"], sd["v/b2"]
    with pytest.raises(ValueError, match="only some"):
        Adam().load_state_dict(sd)


def test_loaded_state_for_other_params_is_refused():
    p = make_params(np.float64)
    opt = Momentum()
    run(opt, p, 1)
    opt2 = Momentum()
    opt2.load_state_dict(opt.state_dict())
    p["W3"] = np.zeros(4)
    with pytest.raises(ValueError, match="W3"):
        opt2.update(p, grads_for(p, 0))


def test_errors_name_the_key():
    p = make_params(np.float64)
    g = grads_for(p, 0)
    del g["b2"]
    with pytest.raises(KeyError, match="b2"):
        SGD().update(p, g)
    g = grads_for(p, 0)
    g["W1"] = g["W1"].T
    with pytest.raises(ValueError, match=r"W1.*\(5, 7\).*\(7, 5\)"):
        SGD().update(p, g)
    with pytest.raises(TypeError, match="in place"):
        SGD().update({"w": [1.0, 2.0]}, {"w": np.ones(2)})
    with pytest.raises(ValueError, match="lr must be >= 0"):
        SGD(lr=-1)
    with pytest.raises(ValueError, match="beta1 must be < 1"):
        Adam(beta1=1.0)
    with pytest.raises(TypeError, match="lr must be a real number"):
        Adam(lr="0.1")


def test_get_optimizer_names():
    for name, cls in OPTIMIZERS.items():
        for spelled in (name, name.upper(), cls.__name__):
            assert type(get_optimizer(spelled)) is cls
    opt = get_optimizer("Adam", lr=0.005, beta2=0.99)
    assert (opt.lr, opt.beta1, opt.beta2) == (0.005, 0.9, 0.99)
    assert type(get_optimizer("RMSprop")) is RMSprop  # the book's Trainer said 'rmsprpo'
    with pytest.raises(ValueError) as e:
        get_optimizer("adadelta")
    for cls in OPTIMIZERS.values():
        assert cls.__name__ in str(e.value)
    with pytest.raises(TypeError, match="SGD"):
        get_optimizer("sgd", momentum=0.9)


def test_book_defaults():
    assert SGD().lr == 0.01
    assert (Momentum().lr, Momentum().momentum) == (0.01, 0.9)
    assert (Nesterov().lr, Nesterov().momentum) == (0.01, 0.9)
    assert AdaGrad().lr == 0.01
    assert (RMSprop().lr, RMSprop().decay_rate) == (0.01, 0.99)
    assert (Adam().lr, Adam().beta1, Adam().beta2) == (0.001, 0.9, 0.999)
    json.dumps(Adam().state_dict())  # before any update: plain numbers only


def test_adam_minimises_a_quadratic():
    w = {"w": np.array([3.0, -2.0], dtype=np.float32)}
    opt = Adam(lr=0.1)
    for _ in range(300):
        opt.update(w, {"w": 2 * w["w"]})
    assert np.abs(w["w"]).max() < 0.05


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=4),
       idx=st.integers(0, len(PAIRS) - 1), seed=st.integers(0, 2**16),
       fortran=st.booleans())
def test_any_shape_and_layout_matches_book(shape, idx, seed, fortran):
    cls, book, kw = PAIRS[idx]
    r = np.random.default_rng(seed)
    a = r.standard_normal(shape)
    if fortran:
        a = np.asfortranarray(a)
    mine, ref = {"p": a}, {"p": a.copy()}
    run(cls(**kw), mine, 3)
    run(book(**kw), ref, 3)
    assert mine["p"] is a
    np.testing.assert_array_equal(mine["p"], ref["p"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_adam_gives_the_numpy_versions_bits(dtype, monkeypatch):
    import cconv.optimizer as O
    fused = make_params(dtype)
    run(Adam(lr=0.01, beta1=0.8, beta2=0.99), fused, 6)
    monkeypatch.setattr(O, "adam_update", lambda *a: False)   # the NumPy path
    plain = make_params(dtype)
    run(Adam(lr=0.01, beta1=0.8, beta2=0.99), plain, 6)
    for k in fused:
        assert np.array_equal(fused[k], plain[k]), k


def test_adam_with_grads_of_another_dtype_or_layout_takes_the_numpy_path():
    from cconv.ops.optimizer import fusable
    p = make_params(np.float32)
    assert fusable(p["W1"], np.zeros((7, 5), np.float32))
    assert not fusable(p["W1"], np.zeros((7, 5)))                  # float64 grads
    assert not fusable(p["W1"], np.zeros((5, 7), np.float32).T)    # Fortran order
    assert not fusable(p["W1"], p["W1"])                            # the grad is the param
    opt, q = Adam(), {k: v.copy() for k, v in p.items()}
    opt.update(q, {k: np.asfortranarray(v, dtype=np.float64) for k, v in p.items()})
    assert all(q[k].dtype == np.float32 for k in p) and not np.array_equal(q["W1"], p["W1"])


def _decaying_adam(dtype, compiled, monkeypatch):
    """Adam's p, m, v after steps where some gradients are zero (their moments decay),
    tiny (their squares are subnormal) or set just above the subnormal range."""
    import cconv.optimizer as O
    tiny = np.finfo(dtype).tiny
    rng = np.random.default_rng(3)
    p = {"W": rng.standard_normal(64).astype(dtype)}
    g = {"W": rng.standard_normal(64).astype(dtype)}
    g["W"][1::2] = 0                                # these moments decay
    g["W"][2::8] = tiny * 4                         # their squares are subnormal
    with monkeypatch.context() as mp:
        if not compiled:
            mp.setattr(O, "adam_update", lambda *a: False)   # the NumPy path
        opt = Adam(lr=0.01, beta1=0.5, beta2=0.5)
        opt.update(p, g)
        opt.m["W"][3::8] = tiny * 1.5              # one more step makes them subnormal
        opt.v["W"][5::8] = -tiny * 1.5
        g["W"][3::8] = g["W"][5::8] = 0
        for _ in range(4):
            opt.update(p, g)
    return p["W"], opt.m["W"], opt.v["W"]


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_moments_never_sink_into_subnormals(dtype, compiled, monkeypatch):
    """Where a gradient goes to zero, m decays by beta1 a step: without the flush it
    sinks into the subnormal range (and some CPUs then run each step many times
    slower). Both paths set such moments to +0."""
    tiny = np.finfo(dtype).tiny
    p, m, v = _decaying_adam(dtype, compiled, monkeypatch)
    for a in (m, v):
        sub = (a != 0) & (np.abs(a) < tiny)
        assert not sub.any(), a[sub]
        assert not np.signbit(a[a == 0]).any()   # +0, as both paths write it
    assert np.isfinite(p).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_flush_gives_the_same_bits_on_both_paths(dtype, monkeypatch):
    fused = _decaying_adam(dtype, True, monkeypatch)
    plain = _decaying_adam(dtype, False, monkeypatch)
    for x, y in zip(fused, plain):
        assert np.array_equal(x, y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make, state", [
    (lambda: Momentum(lr=0.01, momentum=0.5), "v"),
    (lambda: Nesterov(lr=0.01, momentum=0.5), "v"),
    (lambda: RMSprop(lr=0.01, decay_rate=0.5), "h")])
def test_decaying_state_never_sinks_into_subnormals(make, state, dtype):
    """Where a gradient stays zero, v (h) decays by momentum (decay_rate) a step and,
    without the flush, sinks into the subnormal range; it is set to +0 instead, and the
    entries above the range are the book's arithmetic, untouched."""
    tiny = np.finfo(dtype).tiny
    rng = np.random.default_rng(5)
    p = {"W": rng.standard_normal(64).astype(dtype)}
    g = {"W": rng.standard_normal(64).astype(dtype)}
    opt = make()
    opt.update(p, g)
    st = getattr(opt, state)["W"]
    st[1::4] = tiny * 1.5 if state == "h" else -tiny * 1.5   # one step from subnormal
    g["W"][1::4] = 0
    keep = st.copy()
    p_before = p["W"].copy()
    opt.update(p, g)
    st = getattr(opt, state)["W"]
    sub = (st != 0) & (np.abs(st) < tiny)
    assert not sub.any(), st[sub]
    assert (st[1::4] == 0).all() and not np.signbit(st[1::4]).any()
    assert (st[0::4] != 0).all() and np.isfinite(p["W"]).all()
    if state == "v":   # the decayed entries moved their parameters by +0 at most
        np.testing.assert_array_equal(p["W"][1::4], p_before[1::4])
    assert not np.array_equal(st[0::4], keep[0::4])   # the others took their step


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_adam_does_not_depend_on_the_thread_count(dtype):
    # several of the kernel's blocks and a ragged last one: every thread count gives
    # the bits of the NumPy reference (each element's update is its own)
    from cconv import ops
    from cconv.ops.reference import optimizer as R
    r = np.random.default_rng(3)
    n = 3 * 16384 + 1001
    p0, g = (r.standard_normal(n).astype(dtype) for _ in range(2))
    m0, v0 = r.standard_normal(n).astype(dtype), np.abs(r.standard_normal(n)).astype(dtype)
    ref = [a.copy() for a in (p0, g, m0, v0)]
    R.adam_update(*ref, 0.01, 0.1, 0.001, 1e-7)
    for nt in (1, 2, 3, 8):
        p, m, v = p0.copy(), m0.copy(), v0.copy()
        assert ops.adam_update(p, g, m, v, 0.01, 0.1, 0.001, 1e-7, n_threads=nt)
        for mine, theirs in zip((p, m, v), (ref[0], ref[2], ref[3])):
            np.testing.assert_array_equal(mine, theirs)
    with pytest.raises(ValueError, match="n_threads"):
        ops.adam_update(p, g, m, v, 0.01, 0.1, 0.001, 1e-7, n_threads=0)
