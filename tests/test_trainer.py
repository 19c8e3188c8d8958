"""cconv.trainer (and cconv.io.npz) on a small two-layer network and real MNIST."""
import json
import os
import signal

import numpy as np
import pytest

from cconv.io import npz as _io
from cconv.optimizer import Adam
from cconv.trainer import CHECKPOINT_NAME, Trainer, TrainingDiverged, _DeferSigint


# --- a tiny network with the book's interface (ch. 5 TwoLayerNet, plain NumPy) ----------
class _SoftmaxWithLoss:
    y = None


class TwoLayerNet:
    """Affine-ReLU-(Dropout)-Affine-Softmax; ``dropout`` draws from numpy's global RNG
    like the book's Dropout, so the tests see whether the Trainer handles that RNG."""

    def __init__(self, input_size=784, hidden_size=40, output_size=10, seed=0,
                 dropout=0.0, dtype=np.float32):
        r = np.random.default_rng(seed)
        self.params = {
            "W1": (0.05 * r.standard_normal((input_size, hidden_size))).astype(dtype),
            "b1": np.zeros(hidden_size, dtype=dtype),
            "W2": (0.05 * r.standard_normal((hidden_size, output_size))).astype(dtype),
            "b2": np.zeros(output_size, dtype=dtype),
        }
        self.dropout = dropout
        self.last_layer = _SoftmaxWithLoss()
        self.last_loss = None
        self.loss_calls = 0
        self.accuracy_calls = []

    def _forward(self, x, train_flg):
        p = self.params
        a1 = x @ p["W1"] + p["b1"]
        z1 = np.maximum(a1, 0)
        mask = None
        if self.dropout:
            if train_flg:
                mask = np.random.rand(*z1.shape) > self.dropout
                z1 = z1 * mask
            else:
                z1 = z1 * (1.0 - self.dropout)
        return a1, z1, mask, z1 @ p["W2"] + p["b2"]

    def predict(self, x, train_flg=False):
        return self._forward(x, train_flg)[3]

    @staticmethod
    def _softmax_loss(a, t):
        a = a - a.max(axis=1, keepdims=True)
        y = np.exp(a)
        y /= y.sum(axis=1, keepdims=True)
        loss = -np.mean(np.log(y[np.arange(len(t)), t] + 1e-7))
        return y, float(loss)

    def loss(self, x, t):
        self.loss_calls += 1
        return self._softmax_loss(self.predict(x, train_flg=True), t)[1]

    def gradient(self, x, t):
        a1, z1, mask, a2 = self._forward(x, True)
        y, self.last_loss = self._softmax_loss(a2, t)
        self.last_layer.y = y
        p = self.params
        d2 = y.copy()
        d2[np.arange(len(t)), t] -= 1
        d2 /= len(t)
        dz1 = d2 @ p["W2"].T
        if mask is not None:
            dz1 *= mask
        da1 = dz1 * (a1 > 0)
        return {"W1": x.T @ da1, "b1": da1.sum(axis=0),
                "W2": z1.T @ d2, "b2": d2.sum(axis=0)}

    def accuracy(self, x, t, batch_size=100):
        self.accuracy_calls.append((len(x), batch_size))
        correct = 0
        for i in range(0, len(x), batch_size):   # every sample, the last partial batch too
            y = self.predict(x[i:i + batch_size])
            correct += int(np.sum(np.argmax(y, axis=1) == t[i:i + batch_size]))
        return correct / len(x)


class NoLastLoss(TwoLayerNet):
    """A book network: gradient() does not set last_loss."""

    def gradient(self, x, t):
        grads = super().gradient(x, t)
        del self.last_loss
        return grads


class Sabotaged(TwoLayerNet):
    """Misbehaves at the k-th call of gradient(): a NaN loss, a NaN gradient, an inf
    parameter, or a Ctrl-C."""

    def __init__(self, at, what, **kw):
        super().__init__(**kw)
        self.at, self.what, self.calls = at, what, 0

    def gradient(self, x, t):
        self.calls += 1
        grads = super().gradient(x, t)
        if self.calls == self.at:
            if self.what == "nan_loss":
                self.last_loss = float("nan")
            elif self.what == "nan_grad":
                grads["b2"][3] = np.nan
            elif self.what == "inf_param":
                self.params["W2"][0, 0] = np.inf
                self.last_loss = float("inf")
            elif self.what == "interrupt":
                raise KeyboardInterrupt
        return grads


@pytest.fixture(scope="module")
def data(mnist_data):
    (x_train, t_train), (x_test, t_test) = mnist_data
    return x_train[:2050], t_train[:2050], x_test[:1000], t_test[:1000]


def make(data, net=None, **kw):
    x, t, xt, tt = data
    kw.setdefault("epochs", 3)
    kw.setdefault("mini_batch_size", 100)
    kw.setdefault("optimizer", "Adam")
    kw.setdefault("optimizer_param", {"lr": 0.01})
    kw.setdefault("verbose", False)
    kw.setdefault("seed", 7)
    return Trainer(net if net is not None else TwoLayerNet(), x, t, xt, tt, **kw)


def assert_same_params(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k


# --- learning on real MNIST ----------------------------------------------------------
def test_accuracy_rises_on_real_mnist(data):
    tr = make(data, epochs=3)
    tr.train()
    assert tr.iter_per_epoch == 21                  # ceil(2050 / 100): last batch of 50
    assert tr.max_iter == 63 == len(tr.train_loss_list) == tr.current_iter
    assert len(tr.train_acc_list) == len(tr.test_acc_list) == tr.current_epoch == 3
    assert tr.test_acc_list[-1] > tr.test_acc_list[0] or tr.test_acc_list[0] > 0.85
    assert tr.epoch_loss_list[2] < tr.epoch_loss_list[0]
    assert np.mean(tr.train_loss_list[-10:]) < 0.6 * np.mean(tr.train_loss_list[:10])
    assert tr.final_test_acc > 0.85, tr.final_test_acc
    # the final accuracy covers the whole test set
    assert tr.network.accuracy_calls[-1] == (1000, 100)


def test_no_second_forward_pass(data):
    net = TwoLayerNet()
    make(data, net, epochs=1).train()
    assert net.loss_calls == 0


def test_network_without_last_loss_falls_back_to_loss(data):
    net = NoLastLoss()
    tr = make(data, net, epochs=1)
    tr.train()
    assert net.loss_calls == tr.current_iter == 21
    assert all(np.isfinite(tr.train_loss_list))


def test_stale_last_loss_is_not_reused(data):
    class Stale(TwoLayerNet):
        def gradient(self, x, t):
            g = super().gradient(x, t)
            self.__dict__.pop("last_loss")   # sets it once, then never again
            return g
    net = Stale()
    net.last_loss = 123.0
    tr = make(data, net, epochs=1)
    tr.train()
    assert 123.0 not in tr.train_loss_list
    assert net.loss_calls == 21


def test_evaluate_sample_num_and_eval_batch_size(data):
    net = TwoLayerNet()
    tr = make(data, net, epochs=2, evaluate_sample_num_per_epoch=300, eval_batch_size=64)
    tr.train()
    # per epoch: train[:300] and test[:300]; at the end: the full test set
    assert net.accuracy_calls == [(300, 64), (300, 64), (300, 64), (300, 64), (1000, 64)]


# --- sampling --------------------------------------------------------------------------
class Recorder(TwoLayerNet):
    def __init__(self, **kw):
        super().__init__(input_size=1, **kw)
        self.seen = []

    def gradient(self, x, t):
        self.seen.append(x[:, 0].astype(int).copy())
        return super().gradient(x, t)


def test_epoch_sampling_sees_every_image_once_per_epoch():
    n = 250
    x = np.arange(n, dtype=np.float32)[:, None]
    t = np.zeros(n, dtype=np.int64)
    net = Recorder()
    tr = Trainer(net, x, t, x[:10], t[:10], epochs=2, mini_batch_size=60, verbose=False,
                 seed=3)
    tr.train()
    assert tr.iter_per_epoch == 5 and tr.max_iter == 10
    sizes = [len(s) for s in net.seen]
    assert sizes == [60, 60, 60, 60, 10] * 2            # the last partial batch included
    for e in range(2):
        epoch = np.concatenate(net.seen[5 * e:5 * e + 5])
        assert np.array_equal(np.sort(epoch), np.arange(n))
    assert not np.array_equal(np.concatenate(net.seen[:5]), np.concatenate(net.seen[5:]))


def test_book_sampling():
    n = 1050
    x = np.arange(n, dtype=np.float32)[:, None]
    t = np.zeros(n, dtype=np.int64)
    net = Recorder()
    tr = Trainer(net, x, t, x[:10], t[:10], epochs=2, mini_batch_size=100, verbose=False,
                 seed=3, sampling="book", optimizer="sgd")
    assert tr.iter_per_epoch == 10.5                    # the book's float
    assert tr.max_iter == 21                            # int(2 * 10.5)
    tr.train()
    assert len(tr.train_loss_list) == 21 and len(tr.test_acc_list) == 2
    assert all(len(s) == 100 for s in net.seen)
    # np.random.choice-style: with replacement, driven by the seeded Generator
    expect = np.random.Generator(np.random.PCG64(
        np.random.SeedSequence(3).spawn(2)[0])).choice(n, 100)
    assert np.array_equal(net.seen[0], expect)
    assert any(len(np.unique(s)) < 100 for s in net.seen)
    # a training set smaller than a batch: one step per epoch
    tr = Trainer(TwoLayerNet(input_size=1), x[:30], t[:30], x[:10], t[:10], epochs=3,
                 verbose=False, sampling="book")
    assert tr.iter_per_epoch == 1 and tr.max_iter == 3


def test_book_sampling_learns_real_mnist(data):
    tr = make(data, epochs=2, sampling="book")
    tr.train()
    assert tr.max_iter == 41                          # int(2 * 20.5)
    assert tr.final_test_acc > 0.8


# --- reproducibility and resume ------------------------------------------------------
def test_same_seed_same_params_bit_for_bit(data):
    a = make(data, TwoLayerNet(dropout=0.2), epochs=2, seed=11)
    a.train()
    b = make(data, TwoLayerNet(dropout=0.2), epochs=2, seed=11)
    b.train()
    assert_same_params(a.network.params, b.network.params)
    assert a.train_loss_list == b.train_loss_list
    c = make(data, TwoLayerNet(dropout=0.2), epochs=2, seed=12)
    c.train()
    assert not np.array_equal(a.network.params["W1"], c.network.params["W1"])


@pytest.mark.parametrize("sampling", ["epoch", "book"])
def test_resume_ends_with_exactly_the_same_params(data, tmp_path, sampling):
    straight = make(data, TwoLayerNet(dropout=0.2), epochs=3, sampling=sampling)
    straight.train()

    d = tmp_path / "ckpt"
    first = make(data, TwoLayerNet(dropout=0.2), epochs=1, sampling=sampling,
                 checkpoint_dir=d)
    first.train()
    assert os.path.exists(d / CHECKPOINT_NAME)
    np.random.seed(999)          # whatever happened in between, the checkpoint restores it
    net = TwoLayerNet(dropout=0.2, seed=5)   # other initial weights: overwritten in place
    ids = {k: id(v) for k, v in net.params.items()}
    rest = make(data, net, epochs=3, sampling=sampling, checkpoint_dir=d, resume=True,
                seed=None)
    assert rest.current_epoch == 1 and rest.resumed_from is not None
    rest.train()
    assert {k: id(v) for k, v in net.params.items()} == ids
    assert_same_params(straight.network.params, net.params)
    assert rest.train_loss_list == straight.train_loss_list
    assert rest.test_acc_list == straight.test_acc_list
    assert rest.optimizer.iter == straight.optimizer.iter == straight.max_iter


def test_ctrl_c_in_a_step_checkpoints_the_last_completed_step(data, tmp_path, capsys):
    straight = make(data, TwoLayerNet(dropout=0.1), epochs=2)
    straight.train()
    d = tmp_path / "ckpt"
    net = Sabotaged(at=30, what="interrupt", dropout=0.1)   # step 30: epoch 2, step 9
    tr = make(data, net, epochs=2, checkpoint_dir=d, verbose=True, progress=False)
    with pytest.raises(KeyboardInterrupt):
        tr.train()
    assert "interrupted after step 29" in capsys.readouterr().out
    arrays, meta = _io.load_npz(d / CHECKPOINT_NAME)
    assert meta["current_iter"] == 29 and meta["current_epoch"] == 1
    assert meta["pos"] == 800 and "perm" in arrays          # mid-epoch: its permutation
    rest = make(data, TwoLayerNet(dropout=0.1), epochs=2, checkpoint_dir=d, resume=True)
    rest.train()
    assert_same_params(straight.network.params, rest.network.params)
    assert rest.train_loss_list == straight.train_loss_list


def test_ctrl_c_during_the_update_is_held_until_the_step_is_complete(data, tmp_path):
    class InterruptingAdam(Adam):
        def update(self, params, grads):
            if self.iter == 25:       # the 26th update: Ctrl-C arrives in the middle
                signal.raise_signal(signal.SIGINT)
            super().update(params, grads)

    straight = make(data, epochs=2)
    straight.train()
    d = tmp_path / "ckpt"
    tr = make(data, epochs=2, optimizer=InterruptingAdam(lr=0.01), checkpoint_dir=d)
    with pytest.raises(KeyboardInterrupt):
        tr.train()
    assert tr.current_iter == 26 and tr.optimizer.iter == 26   # the step was completed
    rest = make(data, epochs=2, checkpoint_dir=d, resume=True)
    assert rest.current_iter == 26
    rest.train()
    assert_same_params(straight.network.params, rest.network.params)


def test_defer_sigint():
    ran = []
    with pytest.raises(KeyboardInterrupt):
        with _DeferSigint():
            signal.raise_signal(signal.SIGINT)
            ran.append(1)                       # the interrupt waited for the block
    assert ran == [1]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_resume_checks_the_run_matches(data, tmp_path):
    d = tmp_path / "ckpt"
    make(data, epochs=1, checkpoint_dir=d).train()
    with pytest.raises(ValueError, match="mini_batch_size=100.*mini_batch_size=50"):
        make(data, epochs=2, mini_batch_size=50, checkpoint_dir=d, resume=True)
    with pytest.raises(ValueError, match="Adam"):
        make(data, epochs=2, optimizer="sgd", checkpoint_dir=d, resume=True)
    with pytest.raises(ValueError, match="W1"):
        make(data, TwoLayerNet(hidden_size=20), epochs=2, checkpoint_dir=d, resume=True)
    with pytest.raises(ValueError, match="checkpoint_dir"):
        make(data, resume=True)
    fresh = make(data, epochs=1, checkpoint_dir=tmp_path / "empty", resume=True)
    assert fresh.current_iter == 0 and fresh.resumed_from is None


# --- learning-rate schedule --------------------------------------------------------------
class RecordingAdam(Adam):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.lrs = []

    def update(self, params, grads):
        self.lrs.append(self.lr)
        super().update(params, grads)


def test_cosine_schedule_sets_each_steps_rate(data):
    tr = make(data, epochs=2, optimizer=RecordingAdam(lr=0.02), lr_schedule="cosine")
    tr.train()
    lrs = np.array(tr.optimizer.lrs)
    steps = np.arange(tr.max_iter)
    assert len(lrs) == tr.max_iter == 42
    np.testing.assert_allclose(lrs, 0.02 * (1 + np.cos(np.pi * steps / 42)) / 2, rtol=1e-12)
    assert lrs[0] == 0.02 and (np.diff(lrs) < 0).all() and 0 < lrs[-1] < 0.02 * 0.01
    assert tr.history()["config"]["lr_schedule"] == "cosine"
    assert tr.history()["config"]["base_lr"] == 0.02
    constant = make(data, epochs=1, optimizer=RecordingAdam(lr=0.02), lr_schedule="constant")
    constant.train()
    assert constant.optimizer.lrs == [0.02] * 21 and constant.lr_schedule is None


def test_cosine_schedule_changes_the_result_and_resumes_exactly(data, tmp_path):
    plain = make(data, epochs=2)
    plain.train()
    straight = make(data, epochs=2, lr_schedule="cosine")
    straight.train()
    assert not np.array_equal(plain.network.params["W1"], straight.network.params["W1"])
    d = tmp_path / "ckpt"
    tr = make(data, Sabotaged(at=30, what="interrupt"), epochs=2, checkpoint_dir=d,
              lr_schedule="cosine")
    with pytest.raises(KeyboardInterrupt):
        tr.train()
    rest = make(data, epochs=2, checkpoint_dir=d, resume=True, lr_schedule="cosine",
                optimizer_param={"lr": 0.5})   # the checkpoint's base rate wins
    assert rest.base_lr == 0.01
    rest.train()
    assert_same_params(straight.network.params, rest.network.params)
    with pytest.raises(ValueError, match="lr_schedule='cosine'.*None"):
        make(data, epochs=2, checkpoint_dir=d, resume=True)


def test_bad_lr_schedule(data):
    with pytest.raises(ValueError, match="lr_schedule must be one of.*'linear'"):
        make(data, lr_schedule="linear")

    class NoLr:
        def update(self, params, grads):
            pass
    with pytest.raises(TypeError, match="numeric 'lr'; NoLr has None"):
        make(data, optimizer=NoLr(), lr_schedule="cosine")


# --- divergence --------------------------------------------------------------------------
@pytest.mark.parametrize("what", ["nan_loss", "nan_grad"])
def test_nan_stops_with_params_of_the_start_of_that_step(data, tmp_path, what):
    d = tmp_path / "ckpt"
    tr = make(data, Sabotaged(at=27, what=what), epochs=3, checkpoint_dir=d)
    with pytest.raises(TrainingDiverged) as e:
        tr.train()
    assert (e.value.step, e.value.epoch) == (27, 2)
    assert "step 27 (epoch 2, step 6)" in str(e.value)
    assert e.value.restored == "start of step"
    assert tr.current_iter == 26 and len(tr.train_loss_list) == 26
    # the same run stopped by hand after 26 steps
    ref = make(data, epochs=3)
    for _ in range(26):
        ref.train_step()
    assert_same_params(tr.network.params, ref.network.params)
    assert tr.optimizer.iter == 26
    # the last good checkpoint (epoch 1) is still on disk, untouched
    _, meta = _io.load_npz(d / CHECKPOINT_NAME)
    assert meta["current_epoch"] == 1 and meta["current_iter"] == 21
    # and the trainer can go on from where it stopped (RNGs rewound to the step's start)
    tr.network.at = -1
    tr.train()
    assert_same_params(tr.network.params, make_and_train(data, epochs=3))


def make_and_train(data, **kw):
    tr = make(data, **kw)
    tr.train()
    return tr.network.params


def test_non_finite_params_are_restored_from_the_checkpoint(data, tmp_path):
    d = tmp_path / "ckpt"
    tr = make(data, Sabotaged(at=30, what="inf_param"), epochs=3, checkpoint_dir=d)
    with pytest.raises(TrainingDiverged) as e:
        tr.train()
    assert e.value.step == 30 and "checkpoint" in e.value.restored
    assert tr.current_iter == 21 and tr.current_epoch == 1
    assert all(np.isfinite(p).all() for p in tr.network.params.values())
    ref = make(data, epochs=1)
    ref.train()
    assert_same_params(tr.network.params, ref.network.params)


def test_non_finite_params_without_checkpoint_say_so(data):
    tr = make(data, Sabotaged(at=3, what="inf_param"), epochs=1)
    with pytest.raises(TrainingDiverged, match="no checkpoint") as e:
        tr.train()
    assert e.value.restored is None


# --- checkpoint files ------------------------------------------------------------------
def test_a_failing_checkpoint_write_keeps_the_old_one(data, tmp_path, monkeypatch):
    d = tmp_path / "ckpt"
    tr = make(data, epochs=2, checkpoint_dir=d)
    for _ in range(21):
        tr.train_step()                         # epoch 1 done and checkpointed
    good = (d / CHECKPOINT_NAME).read_bytes()

    def half_then_fail(f, arrays):
        f.write(good[:len(good) // 2])
        raise OSError("disk full")
    monkeypatch.setattr(_io, "_write_npz", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        tr.train()
    assert (d / CHECKPOINT_NAME).read_bytes() == good
    assert os.listdir(d) == [CHECKPOINT_NAME]      # no temporary file left behind
    _, meta = _io.load_npz(d / CHECKPOINT_NAME)
    assert meta["current_epoch"] == 1


def test_checkpoint_contents(data, tmp_path):
    d = tmp_path / "ckpt"
    tr = make(data, epochs=1, checkpoint_dir=d)
    tr.train()
    arrays, meta = _io.load_npz(d / CHECKPOINT_NAME)
    for k, p in tr.network.params.items():
        assert np.array_equal(arrays[f"param/{k}"], p) and arrays[f"param/{k}"].dtype == p.dtype
        assert arrays[f"optimizer/m/{k}"].dtype == p.dtype
    assert meta["optimizer"]["iter"] == 21 and meta["optimizer"]["lr"] == 0.01
    assert meta["rng"]["bit_generator"] == "PCG64"
    assert meta["np_random"][0] == "MT19937" and len(meta["np_random"][1]) == 624
    assert meta["train_loss_list"] == tr.train_loss_list
    assert meta["test_acc_list"] == tr.test_acc_list


# --- output, history, log ----------------------------------------------------------------
def test_verbose_false_prints_nothing(data, capsys):
    make(data, epochs=1, verbose=False).train()
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_verbose_summary_and_progress_bar(data, capsys, monkeypatch):
    monkeypatch.delenv("CCONV_PROGRESS", raising=False)
    make(data, epochs=2, verbose=True).train()
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert lines[0].startswith("epoch 1/2  train acc 0.") and "img/s" in lines[0]
    assert lines[1].startswith("epoch 2/2  ")
    assert lines[2].startswith("final test acc 0.") and "1000 test images" in lines[2]
    # the bar (stderr, not a terminal: a line per tenth) reaches 2050 images per epoch
    assert "epoch 1/2: 100%" in out.err and "2050/2050 img" in out.err
    assert "img/s" in out.err and "loss=" in out.err and "acc=" in out.err


def test_progress_bar_interface(data, monkeypatch):
    bars = []

    class FakeProgress:
        def __init__(self, total, desc="", unit="it", file=None, enabled=None):
            self.total, self.desc, self.unit, self.n, self.closed = total, desc, unit, 0, 0
            self.postfix = {}
            bars.append(self)

        def update(self, n=1, **postfix):
            self.n += n
            self.postfix.update(postfix)

        def close(self):
            self.closed += 1
    monkeypatch.setattr("cconv.training.progress.Progress", FakeProgress)
    make(data, epochs=2, verbose=True).train()
    assert [(b.desc, b.total, b.n, b.unit, b.closed) for b in bars] == \
        [("epoch 1/2", 2050, 2050, "img", 1), ("epoch 2/2", 2050, 2050, "img", 1)]
    assert set(bars[0].postfix) == {"loss", "acc"} and 0 < bars[1].postfix["acc"] <= 1
    bars.clear()
    make(data, epochs=1, verbose=True, progress=False).train()
    assert bars == []


def test_history_and_log_file(data, tmp_path):
    log = tmp_path / "train.jsonl"
    tr = make(data, epochs=2, log_file=log)
    tr.train()
    h = tr.history()
    assert json.loads(json.dumps(h)) == h
    assert h["train_acc_list"] == tr.train_acc_list and h["final_test_acc"] == tr.final_test_acc
    assert h["epochs_done"] == 2 and h["steps_done"] == 42
    c = h["config"]
    assert c["optimizer"] == "Adam" and c["optimizer_param"]["lr"] == 0.01
    assert (c["train_size"], c["test_size"], c["seed"], c["sampling"]) == (2050, 1000, 7, "epoch")
    assert len(h["timing"]["epoch_train_seconds"]) == 2
    path = tmp_path / "history.json"
    tr.save_history(path)
    assert json.loads(path.read_text()) == h
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["event"] for e in events] == ["start", "epoch", "epoch", "final"]
    assert events[2]["test_acc"] == tr.test_acc_list[1]


def test_argument_errors(data):
    x, t, xt, tt = data
    with pytest.raises(ValueError, match=r"\(2050, 784\) and \(2049,\)"):
        Trainer(TwoLayerNet(), x, t[:-1], xt, tt)
    with pytest.raises(ValueError, match="sampling"):
        make(data, sampling="random")
    with pytest.raises(ValueError, match="mini_batch_size must be >= 1, got 0"):
        make(data, mini_batch_size=0)
    with pytest.raises(ValueError, match="adadelta"):
        make(data, optimizer="adadelta")
    with pytest.raises(TypeError, match="params"):
        Trainer(object(), x, t, xt, tt)


def test_book_call_style(data):
    # the book's ch. 7 script, positional arguments and all
    x, t, xt, tt = data
    tr = Trainer(TwoLayerNet(), x, t, xt, tt, 1, 100, 'Adam', {'lr': 0.001}, 500, False)
    tr.train()
    assert len(tr.train_acc_list) == 1 and tr.final_test_acc > 0.5


# --- _io ---------------------------------------------------------------------------------
def test_atomic_write_replaces_or_keeps(tmp_path):
    p = tmp_path / "f.bin"
    _io.atomic_write(p, lambda f: f.write(b"old"))
    assert p.read_bytes() == b"old"

    def bad(f):
        f.write(b"new but not all of it")
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError, match="boom"):
        _io.atomic_write(p, bad)
    assert p.read_bytes() == b"old" and os.listdir(tmp_path) == ["f.bin"]

    def interrupted(f):
        f.write(b"x")
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        _io.atomic_write(p, interrupted)
    assert p.read_bytes() == b"old" and os.listdir(tmp_path) == ["f.bin"]
    _io.atomic_write(str(p), lambda f: f.write(b"new"))
    assert p.read_bytes() == b"new"
    if os.name == "posix":
        umask = os.umask(0)
        os.umask(umask)
        assert os.stat(p).st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _io.atomic_write(tmp_path / "nodir" / "f", lambda f: None)


def test_npz_round_trip_and_errors(tmp_path):
    p = tmp_path / "a.npz"
    arrays = {"param/W1": np.arange(6, dtype=np.float32).reshape(2, 3),
              "idx": np.arange(4), "flag": np.array(True)}
    meta = {"epoch": 3, "lists": [0.5, 0.25], "big": 2**100, "name": "x"}
    assert _io.save_npz_atomic(p, arrays, meta) == str(p)
    got, m = _io.load_npz(p)
    assert m == meta and got.keys() == arrays.keys()
    for k in arrays:
        assert np.array_equal(got[k], arrays[k]) and got[k].dtype == arrays[k].dtype
    _io.save_npz_atomic(p, arrays)
    assert _io.load_npz(p)[1] is None

    data = p.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match="trunc.npz.*truncated or corrupt"):
        _io.load_npz(tmp_path / "trunc.npz")
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.npz"):
        _io.load_npz(tmp_path / "empty.npz")
    flipped = bytearray(data)
    flipped[80:90] = b"\xff" * 10                   # inside the first member's data
    (tmp_path / "crc.npz").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="crc.npz"):
        _io.load_npz(tmp_path / "crc.npz")
    np.save(tmp_path / "one.npy", np.ones(3))
    with pytest.raises(ValueError, match="one.npy.*not an .npz"):
        _io.load_npz(tmp_path / "one.npy")
    np.savez(tmp_path / "obj.npz", a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="obj.npz"):
        _io.load_npz(tmp_path / "obj.npz")
    with pytest.raises(FileNotFoundError):
        _io.load_npz(tmp_path / "missing.npz")

    with pytest.raises(ValueError, match="dtype object"):
        _io.save_npz_atomic(p, {"a": np.array([None])})
    with pytest.raises(ValueError, match="reserved"):
        _io.save_npz_atomic(p, {"__meta__": np.ones(1)})
    with pytest.raises(ValueError, match="JSON"):
        _io.save_npz_atomic(p, {}, {"x": object()})
    assert _io.load_npz(p)[1] is None              # the failed saves left the file alone


# --- with cconv's own convolutional network ------------------------------------------
def test_simple_convnet_learns_and_resumes_exactly(mnist_data_4d, tmp_path):
    from cconv.networks import SimpleConvNet
    (x, t), (xt, tt) = mnist_data_4d
    x, t, xt, tt = x[:2000], t[:2000], xt[:500], tt[:500]

    def net():
        return SimpleConvNet(conv_param={"filter_num": 10, "filter_size": 5},
                             hidden_size=50, weight_init_std=0.1, dtype=np.float32, rng=0)
    kw = dict(mini_batch_size=100, optimizer="Adam", optimizer_param={"lr": 0.005},
              evaluate_sample_num_per_epoch=500, verbose=False, seed=1)
    straight = Trainer(net(), x, t, xt, tt, epochs=2, **kw)
    straight.train()
    assert straight.network.last_loss is not None     # the network feeds the loss
    assert straight.final_test_acc > 0.8, straight.final_test_acc
    assert straight.test_acc_list[1] > straight.test_acc_list[0] - 0.02
    d = tmp_path / "ckpt"
    Trainer(net(), x, t, xt, tt, epochs=1, checkpoint_dir=d, **kw).train()
    rest = Trainer(net(), x, t, xt, tt, epochs=2, checkpoint_dir=d, resume=True, **kw)
    rest.train()
    for k, p in straight.network.params.items():
        assert p.dtype == np.float32
        assert np.array_equal(p, rest.network.params[k]), k
