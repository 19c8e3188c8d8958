"""The book's ``common/trainer.py``: a Trainer that runs mini-batch training epochs.

Same constructor, ``train_step()``, ``train()``, ``train_loss_list``, ``train_acc_list``
and ``test_acc_list`` as the book, plus reproducible sampling (``seed``), a progress bar,
a guard against a diverging loss, atomic checkpoints with exact resume, and a JSON history.

Differences from the book (each is a fix or says why):

- No second forward pass per step: the book calls ``network.loss(x, t)`` after the
  update; cconv's networks set ``network.last_loss`` inside ``gradient(x, t)`` and the
  Trainer records that (the loss *before* the update, on the batch the gradient came
  from). Only a network without ``last_loss`` costs the extra ``loss(x, t)`` call.
- ``sampling='epoch'`` (default) makes every epoch one pass over a fresh permutation of
  the training set, the last, smaller batch included, so ``iter_per_epoch`` is
  ``ceil(train_size / mini_batch_size)`` and every image is seen once per epoch.
  ``sampling='book'`` keeps the book's ``choice`` with replacement and
  ``iter_per_epoch = max(train_size / mini_batch_size, 1)``.
- Accuracy is evaluated at the *end* of each epoch (the book evaluates after the first
  step of each epoch, i.e. almost untrained at epoch 1), and the final accuracy on the
  whole test set is kept in ``final_test_acc``.
- The book's ``'rmsprpo'`` typo is gone: ``optimizer='RMSprop'`` works.
- With ``verbose=True`` the book prints the loss of every step; here a progress bar per
  epoch (images/s, loss, running batch accuracy, ETA) and one summary line per epoch.
"""
import json
import math
import numbers
import os
import signal
import threading
import time

import numpy as np

from . import _io
from ._notebook import make_progress
from .functions import target_labels
from .optimizer import get_optimizer

__all__ = ["Trainer", "TrainingDiverged"]

CHECKPOINT_NAME = "checkpoint.npz"
_FORMAT = "cconv-trainer-checkpoint"
_FORMAT_VERSION = 1
LR_SCHEDULES = (None, "constant", "cosine")


class TrainingDiverged(RuntimeError):
    """The loss (or a gradient) stopped being finite.

    Attributes
    ----------
    step : int
        The 1-based number of the step whose loss was not finite (``current_iter + 1``).
    epoch : int
        The 1-based epoch that step belongs to.
    loss : float
        The offending loss (nan or inf; the loss itself when only a gradient was bad).
    restored : str or None
        What the trainer's state was put back to: ``'start of step'``, a checkpoint
        description, or None when nothing finite was available.
    """

    def __init__(self, message, *, step, epoch, loss, restored):
        super().__init__(message)
        self.step = step
        self.epoch = epoch
        self.loss = loss
        self.restored = restored


class _DeferSigint:
    """Hold Ctrl-C back while the parameters and counters change (a step's commit).

    An interrupt arriving inside the block is delivered when the block ends, so the
    parameters are never left half-updated. Only effective in the main thread.
    """

    def __enter__(self):
        self._old = None
        self._hit = None
        if threading.current_thread() is threading.main_thread():
            cur = signal.getsignal(signal.SIGINT)
            if cur is not None:  # None: a handler not installed from Python; leave it
                try:
                    self._old = signal.signal(signal.SIGINT, self._handler)
                except (ValueError, OSError):  # pragma: no cover
                    self._old = None
        return self

    def _handler(self, signum, frame):
        self._hit = (signum, frame)

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            if self._hit is not None:
                if callable(self._old):
                    self._old(*self._hit)
                elif self._old == signal.SIG_DFL:  # pragma: no cover
                    signal.raise_signal(signal.SIGINT)
        return False


class _NullProgress:
    def update(self, n=1, **postfix):
        pass

    def close(self):
        pass


def _positive_int(v, name, *, allow_none=False, allow_zero=False):
    if v is None and allow_none:
        return None
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an int, not {type(v).__name__} ({v!r})")
    v = int(v)
    if v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {v}")
    return v


def _jsonable(v):
    """Convert numpy scalars/arrays inside v to plain Python for json."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return repr(v)


def _grads_finite(grads):
    # a sum is finite iff every element is (barring overflow, itself a sign of divergence);
    # one read pass per gradient and no temporary
    for g in grads.values():
        if not math.isfinite(float(np.sum(g))):
            return False
    return True


class Trainer:
    """Train a network with mini-batch gradient descent (the book's Trainer).

    Parameters
    ----------
    network : object
        The book's network interface: ``params`` (dict of float arrays, updated in place),
        ``gradient(x, t)`` -> dict of gradients (setting ``last_loss``, a float, if it can),
        ``loss(x, t)`` and ``accuracy(x, t, batch_size=100)``.
    x_train : ndarray, shape (N, ...)
        Training inputs, e.g. (N, 1, 28, 28) or (N, 784).
    t_train : ndarray, shape (N,) or (N, classes)
        Labels or one-hot targets.
    x_test, t_test : ndarray, shape (M, ...), (M,) or (M, classes)
    epochs : int, default 20
    mini_batch_size : int, default 100
    optimizer : str or optimizer object, default 'SGD'
        A book name for :func:`cconv.optimizer.get_optimizer` (any case), or an object
        with ``update(params, grads)`` (and ``state_dict``/``load_state_dict`` for
        checkpoints), in which case ``optimizer_param`` is ignored.
    optimizer_param : dict, default {'lr': 0.01}
    evaluate_sample_num_per_epoch : int, optional
        Per-epoch accuracy on the first this many training and test samples (the book's
        shortcut); None evaluates on all of them. The final test accuracy always uses the
        whole test set.
    verbose : bool, default True
        Progress bar and per-epoch summary on stdout; False prints nothing.
    seed : int, optional
        Seeds the Trainer's ``numpy.random.Generator`` (``self.rng``; batch sampling) and
        also numpy's global RNG (``np.random.seed``), which the book's ``Dropout`` uses,
        from two independent streams spawned from ``SeedSequence(seed)``. With the same
        seed, the same initial network and the same data, two runs end with bit-identical
        parameters. Seed the network's initialisation yourself, before building it.
        None: fresh entropy, and the global RNG is left alone.
    sampling : {'epoch', 'book'}, default 'epoch'
        ``'epoch'``: a new permutation per epoch, last partial batch included.
        ``'book'``: ``rng.choice(train_size, mini_batch_size)`` with replacement.
    progress : bool, default True
        Show a progress bar per epoch on stderr (only when ``verbose``): images done,
        images/s, running loss and batch accuracy, ETA. Redrawn in place on a terminal,
        about ten lines per epoch in a log; ``CCONV_PROGRESS=0`` in the environment
        turns it off.
    checkpoint_dir : str or os.PathLike, optional
        At the end of every epoch, ``<checkpoint_dir>/checkpoint.npz`` is replaced
        atomically by the full training state (see :meth:`save_checkpoint`).
    resume : bool, default False
        Restore that checkpoint (if it exists) and continue from it. The checkpoint's
        RNG states and optimizer hyper-parameters win over ``seed``/``optimizer_param``.
    log_file : str or os.PathLike, optional
        Appends one JSON object per line for each event: ``start``, ``epoch`` (the
        per-epoch summary), ``final``, ``interrupted``, ``diverged``.
    eval_batch_size : int, optional
        ``batch_size`` passed to ``network.accuracy`` (default: the network's own).
    lr_schedule : {None, 'constant', 'cosine'}, default None
        ``'cosine'`` sets the optimizer's ``lr`` before every step to
        ``base_lr * (1 + cos(pi * step / max_iter)) / 2`` (cosine annealing without
        restarts, Loshchilov & Hutter 2017), where ``base_lr`` is the optimizer's ``lr``
        when the Trainer is made and ``step`` counts from 0: the full rate at first,
        nearly 0 at the end. None or ``'constant'`` leave ``lr`` alone (the book). The
        rate depends only on the step, so a resumed run uses the same rates.

    Attributes
    ----------
    train_loss_list : list of float
        Loss of every step, computed in the step's forward pass (before its update).
    train_acc_list, test_acc_list : list of float
        Accuracies at the end of each epoch.
    epoch_loss_list : list of float
        Mean step loss of each epoch.
    final_test_acc : float or None
        Accuracy on the whole test set after :meth:`train`.
    current_iter : int
        Steps completed.
    current_epoch : int
        Epochs completed (evaluated). The book counts epochs started.
    iter_per_epoch : int or float
        ``ceil(N / mini_batch_size)`` ('epoch') or ``max(N / mini_batch_size, 1)`` ('book').
    max_iter : int
        Steps :meth:`train` runs to.

    Notes
    -----
    Divergence: each step checks its loss (and that every gradient sums to a finite
    number) *before* the optimizer update, so when a step fails the parameters and the
    optimizer state are still those at the start of that step, without keeping any copy;
    the RNG states are rewound to the start of the step too. Only if the parameters are
    themselves no longer finite is the last checkpoint loaded. Then
    :class:`TrainingDiverged` is raised naming the step and epoch, and the checkpoint on
    disk (from the last good epoch) is left alone. A network's non-parameter state (e.g.
    BatchNorm running statistics updated by the failing forward pass) is not restored.

    Ctrl-C: the update and bookkeeping of a step run with SIGINT held back, so an
    interrupt never leaves a half-updated state. :meth:`train` then writes a checkpoint
    of the last *completed step* (params, optimizer, RNG states, the epoch's permutation
    and position) when ``checkpoint_dir`` is set, and re-raises KeyboardInterrupt;
    resuming from it gives the same final parameters as an uninterrupted run.
    """

    def __init__(self, network, x_train, t_train, x_test, t_test,
                 epochs=20, mini_batch_size=100,
                 optimizer='SGD', optimizer_param={'lr': 0.01},  # noqa: B006 (book API; copied)
                 evaluate_sample_num_per_epoch=None, verbose=True, *,
                 seed=None, sampling='epoch', progress=True, checkpoint_dir=None,
                 resume=False, log_file=None, eval_batch_size=None, lr_schedule=None):
        params = getattr(network, "params", None)
        if not isinstance(params, dict) or not callable(getattr(network, "gradient", None)):
            raise TypeError("network must have a dict 'params' and a method "
                            "gradient(x, t) -> grads (the book's network interface)")
        self.network = network
        self.verbose = bool(verbose)
        self.progress = bool(progress)
        self.x_train, self.t_train = np.asarray(x_train), np.asarray(t_train)
        self.x_test, self.t_test = np.asarray(x_test), np.asarray(t_test)
        for xs, ts, what in ((self.x_train, self.t_train, "train"),
                             (self.x_test, self.t_test, "test")):
            if xs.ndim == 0 or ts.ndim == 0 or len(xs) != len(ts):
                raise ValueError(f"x_{what} and t_{what} must have the same length, got "
                                 f"shapes {xs.shape} and {ts.shape}")
            if len(xs) == 0:
                raise ValueError(f"the {what} set is empty")
        self.epochs = _positive_int(epochs, "epochs", allow_zero=True)
        self.batch_size = _positive_int(mini_batch_size, "mini_batch_size")
        self.evaluate_sample_num_per_epoch = _positive_int(
            evaluate_sample_num_per_epoch, "evaluate_sample_num_per_epoch", allow_none=True)
        self.eval_batch_size = _positive_int(eval_batch_size, "eval_batch_size",
                                             allow_none=True)
        if sampling not in ("epoch", "book"):
            raise ValueError(f"sampling must be 'epoch' or 'book', got {sampling!r}")
        self.sampling = sampling
        if resume and checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir (where the checkpoint is)")

        if isinstance(optimizer, str):
            self.optimizer = get_optimizer(optimizer, **dict(optimizer_param or {}))
        elif callable(getattr(optimizer, "update", None)):
            self.optimizer = optimizer
        else:
            raise TypeError(f"optimizer must be a name or an object with update(params, "
                            f"grads), not {type(optimizer).__name__}")

        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {lr_schedule!r}")
        self.lr_schedule = None if lr_schedule == "constant" else lr_schedule
        self.base_lr = None
        if self.lr_schedule is not None:
            lr = getattr(self.optimizer, "lr", None)
            if not isinstance(lr, numbers.Real) or isinstance(lr, bool):
                raise TypeError(f"lr_schedule={lr_schedule!r} needs an optimizer with a "
                                f"numeric 'lr'; {type(self.optimizer).__name__} has "
                                f"{lr!r}")
            self.base_lr = float(lr)

        self.train_size = len(self.x_train)
        n, b = self.train_size, self.batch_size
        self.iter_per_epoch = -(-n // b) if sampling == "epoch" else max(n / b, 1)
        self.max_iter = self._epoch_end(self.epochs)
        self.current_iter = 0
        self.current_epoch = 0

        self.train_loss_list = []
        self.train_acc_list = []
        self.test_acc_list = []
        self.epoch_loss_list = []
        self.epoch_times = []   # training seconds (gradient + update) per epoch
        self.eval_times = []    # evaluation seconds per epoch
        self.final_test_acc = None
        self.final_eval_time = None
        self._epoch_train_time = 0.0

        self.seed = seed
        gen_seq, legacy_seq = np.random.SeedSequence(seed).spawn(2)
        self.rng = np.random.Generator(np.random.PCG64(gen_seq))
        if seed is not None:
            np.random.seed(legacy_seq.generate_state(4))
        self._perm = None   # 'epoch' sampling: this epoch's permutation and position in it
        self._pos = 0
        self._bar = None
        self._bar_stats = None

        self.log_file = os.fspath(log_file) if log_file is not None else None
        self.checkpoint_dir = os.fspath(checkpoint_dir) if checkpoint_dir is not None else None
        self.checkpoint_path = None
        if self.checkpoint_dir is not None:
            os.makedirs(self.checkpoint_dir, exist_ok=True)
            self.checkpoint_path = os.path.join(self.checkpoint_dir, CHECKPOINT_NAME)
        self._snapshot = self._rng_states()
        self.resumed_from = None
        if resume:
            if os.path.exists(self.checkpoint_path):
                self.load_checkpoint(self.checkpoint_path)
                self.resumed_from = self.checkpoint_path
                self._say(f"resumed from {self.checkpoint_path}: epoch {self.current_epoch}, "
                          f"step {self.current_iter} of {self.max_iter}")
            else:
                self._say(f"no checkpoint in {self.checkpoint_dir}; starting from scratch")

    def lr_at(self, step):
        """The learning rate ``lr_schedule`` gives step ``step`` (0-based)."""
        if self.lr_schedule is None:
            return getattr(self.optimizer, "lr", None)
        return self.base_lr * 0.5 * (1.0 + math.cos(math.pi * step / self.max_iter))

    # -- epochs and steps ------------------------------------------------------------
    def _epoch_end(self, e):
        """Steps completed when epoch ``e`` (1-based; 0 -> 0) is over."""
        if self.sampling == "epoch":
            return e * self.iter_per_epoch
        n, b = self.train_size, self.batch_size
        return (e * n) // b if n >= b else e   # floor(e * max(n / b, 1)), exactly

    def _rng_states(self):
        return self.rng.bit_generator.state, np.random.get_state()

    def _set_rng_states(self, states):
        gen, legacy = states
        self.rng.bit_generator.state = gen
        np.random.set_state(legacy)

    def _batch_indices(self):
        """(indices, new_perm, new_pos) for the next step; commits nothing."""
        if self.sampling == "book":
            return self.rng.choice(self.train_size, self.batch_size), None, 0
        perm, pos = self._perm, self._pos
        if perm is None or pos >= len(perm):
            perm, pos = self.rng.permutation(self.train_size), 0
        idx = perm[pos:pos + self.batch_size]
        return idx, perm, pos + len(idx)

    def train_step(self):
        """Run one mini-batch step: sample, gradient, update, record the loss.

        When the step completes an epoch, the epoch is evaluated, summarised and (with
        ``checkpoint_dir``) checkpointed.

        Returns
        -------
        float
            The step's loss (from the forward pass of ``gradient``).

        Raises
        ------
        TrainingDiverged
            If the loss or a gradient is not finite (nothing is updated).
        """
        epoch = self.current_epoch + 1
        step = self.current_iter + 1
        idx, perm, pos = self._batch_indices()
        x_batch, t_batch = self.x_train[idx], self.t_train[idx]
        if self._bar is None:
            self._open_bar(epoch)
        net = self.network
        t0 = time.perf_counter()
        if getattr(net, "last_loss", None) is not None:
            try:
                net.last_loss = None   # never credit a stale value to this step
            except AttributeError:
                pass
        grads = net.gradient(x_batch, t_batch)
        loss = getattr(net, "last_loss", None)
        if loss is None:
            loss = net.loss(x_batch, t_batch)
        loss = float(loss)
        if not math.isfinite(loss) or not _grads_finite(grads):
            self._diverged(step, epoch, loss, grads_bad=math.isfinite(loss))
        with _DeferSigint():
            if self.lr_schedule is not None:
                self.optimizer.lr = self.lr_at(step - 1)
            self.optimizer.update(net.params, grads)
            self._perm, self._pos = perm, pos
            self.train_loss_list.append(loss)
            self.current_iter = step
            self._epoch_train_time += time.perf_counter() - t0
            self._snapshot = self._rng_states()
        self._bar_update(len(idx), loss, t_batch)
        if self.current_iter == self._epoch_end(self.current_epoch + 1):
            self._finish_epoch()
        return loss

    def _finish_epoch(self):
        e = self.current_epoch + 1
        self._close_bar()
        t0 = time.perf_counter()
        xtr, ttr, xte, tte = self.x_train, self.t_train, self.x_test, self.t_test
        k = self.evaluate_sample_num_per_epoch
        if k is not None:
            xtr, ttr, xte, tte = xtr[:k], ttr[:k], xte[:k], tte[:k]
        train_acc = self._accuracy(xtr, ttr)
        test_acc = self._accuracy(xte, tte)
        eval_time = time.perf_counter() - t0
        steps = self._epoch_end(e) - self._epoch_end(e - 1)
        losses = self.train_loss_list[-steps:]
        loss = float(np.mean(losses)) if losses else float("nan")
        train_time = self._epoch_train_time
        with _DeferSigint():
            self.train_acc_list.append(train_acc)
            self.test_acc_list.append(test_acc)
            self.epoch_loss_list.append(loss)
            self.epoch_times.append(train_time)
            self.eval_times.append(eval_time)
            self._epoch_train_time = 0.0
            self.current_epoch = e
            self._snapshot = self._rng_states()
        images = steps * self.batch_size if self.sampling == "book" else self.train_size
        ips = images / train_time if train_time > 0 else float("inf")
        width = len(str(max(self.epochs, e)))
        self._say(f"epoch {e:>{width}}/{self.epochs}  train acc {train_acc:.4f}  "
                  f"test acc {test_acc:.4f}  loss {loss:.4f}  "
                  f"{train_time + eval_time:.1f}s ({ips:,.0f} img/s)")
        self._log(event="epoch", epoch=e, step=self.current_iter, train_acc=train_acc,
                  test_acc=test_acc, loss=loss, train_seconds=train_time,
                  eval_seconds=eval_time, images_per_second=ips)
        if self.checkpoint_path is not None:
            self.save_checkpoint()

    def train(self):
        """Train up to ``max_iter`` steps, then measure ``final_test_acc`` on the whole
        test set.

        Ctrl-C saves a checkpoint of the last completed step (with ``checkpoint_dir``)
        and re-raises KeyboardInterrupt; :class:`TrainingDiverged` propagates.
        """
        self._log(event="start", step=self.current_iter, epoch=self.current_epoch,
                  resumed_from=self.resumed_from, config=self._config())
        try:
            # an interrupted run may have completed an epoch's steps but not its evaluation
            if (self.current_iter == self._epoch_end(self.current_epoch + 1)
                    and self.current_iter > 0):
                self._finish_epoch()
            while self.current_iter < self.max_iter:
                self.train_step()
            t0 = time.perf_counter()
            self.final_test_acc = self._accuracy(self.x_test, self.t_test)
            self.final_eval_time = time.perf_counter() - t0
        except KeyboardInterrupt:
            self._close_bar()
            # an interrupted step may have drawn from the RNGs: rewind to the last commit,
            # so that calling train() again in this process continues exactly too
            self._set_rng_states(self._snapshot)
            where = f"step {self.current_iter}, epoch {self.current_epoch} completed"
            if self.checkpoint_path is not None:
                self.save_checkpoint()
                self._say(f"interrupted after {where}; checkpoint saved to "
                          f"{self.checkpoint_path} (resume=True continues from it)")
            else:
                self._say(f"interrupted after {where} (no checkpoint_dir, nothing saved)")
            self._log(event="interrupted", step=self.current_iter, epoch=self.current_epoch,
                      checkpoint=self.checkpoint_path)
            raise
        finally:
            self._close_bar()
        self._say(f"final test acc {self.final_test_acc:.4f} "
                  f"({len(self.x_test)} test images)")
        self._log(event="final", step=self.current_iter, epoch=self.current_epoch,
                  final_test_acc=self.final_test_acc,
                  eval_seconds=self.final_eval_time)

    def _accuracy(self, x, t):
        if self.eval_batch_size is None:
            return float(self.network.accuracy(x, t))
        return float(self.network.accuracy(x, t, batch_size=self.eval_batch_size))

    def _diverged(self, step, epoch, loss, grads_bad):
        self._close_bar()
        self._set_rng_states(self._snapshot)    # the RNGs as at the start of the step
        params = self.network.params
        restored = "start of step"
        if not all(math.isfinite(float(np.sum(p))) for p in params.values()):
            if self.checkpoint_path is not None and os.path.exists(self.checkpoint_path):
                self.load_checkpoint(self.checkpoint_path)
                restored = (f"checkpoint {self.checkpoint_path} (epoch {self.current_epoch}, "
                            f"step {self.current_iter})")
            else:
                restored = None
        in_epoch = step - self._epoch_end(epoch - 1)
        what = (f"a gradient is not finite (loss {loss})" if grads_bad
                else f"the loss is {loss}")
        msg = f"training diverged at step {step} (epoch {epoch}, step {in_epoch}): {what}; "
        if restored == "start of step":
            msg += "the parameters and optimizer are as at the start of that step"
        elif restored is None:
            msg += "the parameters are no longer finite and there is no checkpoint to restore"
        else:
            msg += f"restored {restored}"
        if self.checkpoint_path is not None and os.path.exists(self.checkpoint_path):
            msg += f"; the last good checkpoint is {self.checkpoint_path}"
        msg += ". Try a smaller learning rate."
        self._say(msg)
        self._log(event="diverged", step=step, epoch=epoch, loss=loss, restored=restored)
        raise TrainingDiverged(msg, step=step, epoch=epoch, loss=loss, restored=restored)

    # -- output ------------------------------------------------------------------------
    def _say(self, text):
        if self.verbose:
            print(text, flush=True)

    def _log(self, **record):
        if self.log_file is None:
            return
        record = {"time": time.time(), **record}
        with open(self.log_file, "a", encoding="utf-8") as f:
            f.write(json.dumps(_jsonable(record)) + "\n")

    def _open_bar(self, epoch):
        self._bar_stats = [0.0, 0, 0, 0]   # loss sum, steps, correct, seen
        if not (self.verbose and self.progress):
            self._bar = _NullProgress()
            return
        done = self.current_iter - self._epoch_end(epoch - 1)   # >0 when resumed mid-epoch
        if self.sampling == "epoch":   # every batch but an epoch's last one is full
            images = self.train_size - done * self.batch_size
        else:
            images = (self._epoch_end(epoch) - self.current_iter) * self.batch_size
        self._bar = make_progress(images, desc=f"epoch {epoch}/{self.epochs}", unit="img")

    def _bar_update(self, n, loss, t_batch):
        s = self._bar_stats
        s[0] += loss
        s[1] += 1
        postfix = {"loss": s[0] / s[1]}
        if not isinstance(self._bar, _NullProgress):
            correct = _batch_correct(self.network, t_batch)
            if correct is not None:
                s[2] += correct
                s[3] += len(t_batch)
                postfix["acc"] = s[2] / s[3]
        self._bar.update(n, **postfix)

    def _close_bar(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    # -- checkpoints -------------------------------------------------------------------
    def save_checkpoint(self, path=None):
        """Write the full training state atomically to one .npz file.

        Parameters
        ----------
        path : str or os.PathLike, optional
            Default: ``<checkpoint_dir>/checkpoint.npz``.

        Notes
        -----
        Arrays: ``param/<key>`` (every ``network.params`` array, dtype kept),
        ``optimizer/<state>/<key>`` (the optimizer's state arrays) and ``perm`` (the
        current epoch's permutation, 'epoch' sampling). JSON metadata: step and epoch
        counters, the position in the permutation, the optimizer's scalars, the
        Generator's bit-generator state and numpy's global RNG state as of the last
        completed step, the history lists and timings, and the run's configuration.
        """
        path = self.checkpoint_path if path is None else os.fspath(path)
        if path is None:
            raise ValueError("no path given and the Trainer has no checkpoint_dir")
        arrays = {f"param/{k}": v for k, v in self.network.params.items()}
        opt_scalars = {}
        if callable(getattr(self.optimizer, "state_dict", None)):
            for k, v in self.optimizer.state_dict().items():
                if isinstance(v, np.ndarray):
                    arrays[f"optimizer/{k}"] = v
                else:
                    opt_scalars[k] = v
        if self._perm is not None:
            arrays["perm"] = self._perm
        gen, legacy = self._snapshot
        meta = {
            "format": _FORMAT, "version": _FORMAT_VERSION,
            "current_iter": self.current_iter, "current_epoch": self.current_epoch,
            "pos": self._pos, "train_size": self.train_size,
            "mini_batch_size": self.batch_size, "sampling": self.sampling,
            "epochs": self.epochs, "param_keys": list(self.network.params),
            "lr_schedule": self.lr_schedule, "base_lr": self.base_lr,
            "optimizer": opt_scalars,
            "rng": gen,
            "np_random": [legacy[0], legacy[1].tolist(), int(legacy[2]), int(legacy[3]),
                          float(legacy[4])],
            "train_loss_list": self.train_loss_list,
            "train_acc_list": self.train_acc_list,
            "test_acc_list": self.test_acc_list,
            "epoch_loss_list": self.epoch_loss_list,
            "epoch_times": self.epoch_times, "eval_times": self.eval_times,
            "epoch_train_time": self._epoch_train_time,
            "config": self._config(),
        }
        return _io.save_npz_atomic(path, arrays, _jsonable(meta))

    def load_checkpoint(self, path=None):
        """Restore the state written by :meth:`save_checkpoint` (parameters in place).

        Raises
        ------
        ValueError
            If the file is corrupt, or was made for another training set size, batch
            size, sampling mode, learning-rate schedule, optimizer class, or parameter
            set (names, shapes, dtypes); nothing is changed then.
        """
        path = self.checkpoint_path if path is None else os.fspath(path)
        if path is None:
            raise ValueError("no path given and the Trainer has no checkpoint_dir")
        arrays, meta = _io.load_npz(path)
        if not meta or meta.get("format") != _FORMAT:
            raise ValueError(f"{path!r} is not a cconv Trainer checkpoint")
        for name, mine in (("train_size", self.train_size),
                           ("mini_batch_size", self.batch_size),
                           ("sampling", self.sampling)):
            if meta[name] != mine:
                raise ValueError(f"checkpoint {path!r} was made with {name}={meta[name]!r}, "
                                 f"this Trainer has {name}={mine!r}: it cannot continue "
                                 "that run")
        if meta.get("lr_schedule") != self.lr_schedule:
            raise ValueError(f"checkpoint {path!r} was made with lr_schedule="
                             f"{meta.get('lr_schedule')!r}, this Trainer has "
                             f"{self.lr_schedule!r}: it cannot continue that run")
        params = self.network.params
        saved = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
        if set(saved) != set(params):
            raise ValueError(f"checkpoint {path!r} has parameters {sorted(saved)}, the "
                             f"network has {sorted(params)}")
        for k, v in saved.items():
            p = params[k]
            if v.shape != p.shape or v.dtype != p.dtype:
                raise ValueError(f"checkpoint {path!r}: param {k!r} is {v.shape} {v.dtype}, "
                                 f"the network's is {p.shape} {p.dtype}")
        opt_state = dict(meta["optimizer"])
        opt_state.update({k[len("optimizer/"):]: v for k, v in arrays.items()
                          if k.startswith("optimizer/")})
        if opt_state:
            if not callable(getattr(self.optimizer, "load_state_dict", None)):
                raise ValueError(f"checkpoint {path!r} holds optimizer state but "
                                 f"{type(self.optimizer).__name__} has no load_state_dict")
            self.optimizer.load_state_dict(opt_state)   # validates the class first
        for k, v in saved.items():
            np.copyto(params[k], v)   # in place: layers hold these arrays
        if self.lr_schedule is not None:
            self.base_lr = float(meta["base_lr"])   # the run's own, like its other hypers
        self.current_iter = int(meta["current_iter"])
        self.current_epoch = int(meta["current_epoch"])
        self._perm = arrays.get("perm")
        self._pos = int(meta["pos"])
        self.train_loss_list = [float(v) for v in meta["train_loss_list"]]
        self.train_acc_list = [float(v) for v in meta["train_acc_list"]]
        self.test_acc_list = [float(v) for v in meta["test_acc_list"]]
        self.epoch_loss_list = [float(v) for v in meta["epoch_loss_list"]]
        self.epoch_times = list(meta["epoch_times"])
        self.eval_times = list(meta["eval_times"])
        self._epoch_train_time = float(meta["epoch_train_time"])
        legacy = meta["np_random"]
        states = (meta["rng"], (legacy[0], np.array(legacy[1], dtype=np.uint32),
                                legacy[2], legacy[3], legacy[4]))
        self._set_rng_states(states)
        self._snapshot = self._rng_states()
        return meta

    # -- history -----------------------------------------------------------------------
    def _config(self):
        opt = self.optimizer
        hyper = {h: getattr(opt, h) for h in getattr(opt, "_hyper_names", ("lr",))
                 if hasattr(opt, h)}
        from . import __version__
        return _jsonable({
            "cconv": __version__,
            "network": type(self.network).__name__,
            "epochs": self.epochs, "mini_batch_size": self.batch_size,
            "optimizer": type(opt).__name__, "optimizer_param": hyper,
            "lr_schedule": self.lr_schedule, "base_lr": self.base_lr,
            "evaluate_sample_num_per_epoch": self.evaluate_sample_num_per_epoch,
            "eval_batch_size": self.eval_batch_size,
            "sampling": self.sampling, "seed": self.seed,
            "train_size": self.train_size, "test_size": len(self.x_test),
            "x_dtype": str(self.x_train.dtype),
            "iter_per_epoch": self.iter_per_epoch, "max_iter": self.max_iter,
        })

    def history(self):
        """The run so far as a JSON-able dict.

        Returns
        -------
        dict
            ``train_loss_list``, ``train_acc_list``, ``test_acc_list``,
            ``epoch_loss_list``, ``final_test_acc``, ``epochs_done``, ``steps_done``,
            ``config`` (sizes, optimizer and hyper-parameters, sampling, seed, ...) and
            ``timing`` (training and evaluation seconds per epoch, images/s).
        """
        ips = []
        for e, t in enumerate(self.epoch_times, start=1):
            steps = self._epoch_end(e) - self._epoch_end(e - 1)
            images = steps * self.batch_size if self.sampling == "book" else self.train_size
            ips.append(images / t if t > 0 else None)
        return _jsonable({
            "train_loss_list": self.train_loss_list,
            "train_acc_list": self.train_acc_list,
            "test_acc_list": self.test_acc_list,
            "epoch_loss_list": self.epoch_loss_list,
            "final_test_acc": self.final_test_acc,
            "epochs_done": self.current_epoch,
            "steps_done": self.current_iter,
            "config": self._config(),
            "timing": {"epoch_train_seconds": self.epoch_times,
                       "epoch_eval_seconds": self.eval_times,
                       "final_eval_seconds": self.final_eval_time,
                       "images_per_second": ips},
        })

    def save_history(self, path):
        """Write :meth:`history` as JSON to ``path`` (atomically)."""
        text = json.dumps(self.history(), indent=1).encode("utf-8")
        return _io.atomic_write(path, lambda f: f.write(text))


def _batch_correct(network, t):
    """Correct predictions in the last batch, from the softmax layer's cached output
    (``network.last_layer.y``, as the book's networks keep it); None if unavailable."""
    layer = getattr(network, "last_layer", None) or getattr(network, "lastLayer", None)
    y = getattr(layer, "y", None)
    if not isinstance(y, np.ndarray) or y.ndim != 2 or y.shape[0] != len(t):
        return None
    label = target_labels(t)
    return int(np.count_nonzero(y.argmax(axis=1) == label))
