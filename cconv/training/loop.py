"""The training loop: the book's ``common/trainer.py`` Trainer (also :mod:`cconv.trainer`).

The loop only: batches come from :mod:`~cconv.training.sampling`, checkpoints are
:mod:`~cconv.training.checkpoint` files, the bar is :mod:`~cconv.training.progress`'s,
the log :mod:`~cconv.training.log`'s, Ctrl-C is held back by
:mod:`~cconv.training.signals`, divergence is told (and undone) by
:mod:`~cconv.training.divergence`, the RNGs are :mod:`~cconv.training.rng`'s and the
network is called and evaluated by :mod:`~cconv.training.evaluate`.

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
import math
import os
import time

import numpy as np

from .._checks import integer
from ..optimizer import get_optimizer
from . import checkpoint as ckpt
from .checkpoint import CHECKPOINT_NAME
from .divergence import TrainingDiverged, all_finite, restore_diverged
from .evaluate import epoch_accuracies, final_accuracy, gradient_and_loss
from .log import JsonLog, history, run_config, save_history
from .progress import EpochBar
from .rng import get_states, make_rng
from .sampling import epoch_images, epoch_steps, make_sampler
from .schedule import LR_SCHEDULES, check_schedule, lr_at, set_lr
from .signals import DeferSigint

__all__ = ["Trainer", "TrainingDiverged", "CHECKPOINT_NAME", "LR_SCHEDULES"]

def _data(x, t, what):
    x, t = np.asarray(x), np.asarray(t)
    if x.ndim == 0 or t.ndim == 0 or len(x) != len(t):
        raise ValueError(f"x_{what} and t_{what} must have the same length, got "
                         f"shapes {x.shape} and {t.shape}")
    if len(x) == 0:
        raise ValueError(f"the {what} set is empty")
    return x, t


def _make_optimizer(optimizer, optimizer_param):
    if isinstance(optimizer, str):
        return get_optimizer(optimizer, **dict(optimizer_param or {}))
    if callable(getattr(optimizer, "update", None)):
        return optimizer
    raise TypeError(f"optimizer must be a name or an object with update(params, "
                    f"grads), not {type(optimizer).__name__}")


def _count(v, name, *, allow_none=False, allow_zero=False):
    if v is None and allow_none:
        return None
    return integer(v, name, low=0 if allow_zero else 1)


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
    See the module's notes on divergence and Ctrl-C.
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
        self.x_train, self.t_train = _data(x_train, t_train, "train")
        self.x_test, self.t_test = _data(x_test, t_test, "test")
        self.epochs = _count(epochs, "epochs", allow_zero=True)
        self.batch_size = _count(mini_batch_size, "mini_batch_size")
        self.evaluate_sample_num_per_epoch = _count(
            evaluate_sample_num_per_epoch, "evaluate_sample_num_per_epoch", allow_none=True)
        self.eval_batch_size = _count(eval_batch_size, "eval_batch_size", allow_none=True)
        self.train_size = len(self.x_train)
        self.sampler = make_sampler(sampling, self.train_size, self.batch_size)
        self.sampling = sampling
        if resume and checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir (where the checkpoint is)")
        self.optimizer = _make_optimizer(optimizer, optimizer_param)
        self.lr_schedule, self.base_lr = check_schedule(lr_schedule, self.optimizer)
        self.iter_per_epoch = self.sampler.iter_per_epoch
        self.max_iter = self._epoch_end(self.epochs)
        self.current_iter = 0
        self.current_epoch = 0
        self.train_loss_list, self.train_acc_list, self.test_acc_list = [], [], []
        self.epoch_loss_list = []
        self.epoch_times = []   # training seconds (gradient + update) per epoch
        self.eval_times = []    # evaluation seconds per epoch
        self.final_test_acc = None
        self.final_eval_time = None
        self._epoch_train_time = 0.0
        self.seed = seed
        self.rng = make_rng(seed)
        self._bar = None
        # a run id (`cconv train` sets the network's): recorded in the log, the history
        # and the checkpoint; a resume refuses a checkpoint of another run
        rid = getattr(network, "run_id", None)
        self.run_id = rid if isinstance(rid, str) else None
        self.log = JsonLog(log_file, self.run_id)
        self.log_file = self.log.path
        self.checkpoint_dir = os.fspath(checkpoint_dir) if checkpoint_dir is not None else None
        self.checkpoint_path = None
        if self.checkpoint_dir is not None:
            os.makedirs(self.checkpoint_dir, exist_ok=True)
            self.checkpoint_path = os.path.join(self.checkpoint_dir, CHECKPOINT_NAME)
        self._snapshot = get_states(self.rng)
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
        return lr_at(self.lr_schedule, self.base_lr, step, self.max_iter)

    # -- epochs and steps ------------------------------------------------------------
    def _epoch_end(self, e):
        """Steps completed when epoch ``e`` (1-based; 0 -> 0) is over."""
        return self.sampler.epoch_end(e)

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
        idx, sampler_state = self.sampler.next_batch(self.rng)
        x_batch, t_batch = self.x_train[idx], self.t_train[idx]
        if self._bar is None:
            self._open_bar(epoch)
        net = self.network
        t0 = time.perf_counter()
        grads, loss = gradient_and_loss(net, x_batch, t_batch)
        if not math.isfinite(loss) or not all_finite(grads):
            restore_diverged(self, step, epoch, loss, grads_bad=math.isfinite(loss))
        with DeferSigint():
            if self.lr_schedule is not None:
                set_lr(self.optimizer, self.lr_at(step - 1))
            self.optimizer.update(net.params, grads)
            self.sampler.commit(sampler_state)
            self.train_loss_list.append(loss)
            self.current_iter = step
            self._epoch_train_time += time.perf_counter() - t0
            self._snapshot = get_states(self.rng)
        self._bar.update(len(idx), loss, net, t_batch)
        if self.current_iter == self._epoch_end(self.current_epoch + 1):
            self._finish_epoch()
        return loss

    def _finish_epoch(self):
        e = self.current_epoch + 1
        self._close_bar()
        train_acc, test_acc, eval_time = epoch_accuracies(self)
        steps = epoch_steps(self.sampler, e)
        losses = self.train_loss_list[-steps:]
        loss = float(np.mean(losses)) if losses else float("nan")
        train_time = self._epoch_train_time
        with DeferSigint():
            self.train_acc_list.append(train_acc)
            self.test_acc_list.append(test_acc)
            self.epoch_loss_list.append(loss)
            self.epoch_times.append(train_time)
            self.eval_times.append(eval_time)
            self._epoch_train_time = 0.0
            self.current_epoch = e
            self._snapshot = get_states(self.rng)
        ips = epoch_images(self.sampler, e) / train_time if train_time > 0 else float("inf")
        width = len(str(max(self.epochs, e)))
        self._say(f"epoch {e:>{width}}/{self.epochs}  train acc {train_acc:.4f}  "
                  f"test acc {test_acc:.4f}  loss {loss:.4f}  "
                  f"{train_time + eval_time:.1f}s ({ips:,.0f} img/s)")
        self.log.write(event="epoch", epoch=e, step=self.current_iter, train_acc=train_acc,
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
        self.log.write(event="start", step=self.current_iter, epoch=self.current_epoch,
                       resumed_from=self.resumed_from, config=run_config(self))
        try:
            # an interrupted run may have completed an epoch's steps but not its evaluation
            if (self.current_iter == self._epoch_end(self.current_epoch + 1)
                    and self.current_iter > 0):
                self._finish_epoch()
            while self.current_iter < self.max_iter:
                self.train_step()
            self.final_test_acc, self.final_eval_time = final_accuracy(self)
        except KeyboardInterrupt:
            ckpt.save_interrupted(self)
            raise
        finally:
            self._close_bar()
        self._say(f"final test acc {self.final_test_acc:.4f} "
                  f"({len(self.x_test)} test images)")
        self.log.write(event="final", step=self.current_iter, epoch=self.current_epoch,
                       final_test_acc=self.final_test_acc, eval_seconds=self.final_eval_time)

    # -- output ------------------------------------------------------------------------
    def _say(self, text):
        if self.verbose:
            print(text, flush=True)

    def _open_bar(self, epoch):
        done = self.current_iter - self._epoch_end(epoch - 1)   # >0 when resumed mid-epoch
        images = self.sampler.images(done, epoch_steps(self.sampler, epoch))
        self._bar = EpochBar(images, epoch, self.epochs, self.verbose and self.progress)

    def _close_bar(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    # -- checkpoints -------------------------------------------------------------------
    def save_checkpoint(self, path=None):
        """Write the full training state atomically to one .npz file.

        ``path`` defaults to ``<checkpoint_dir>/checkpoint.npz``. Arrays: ``param/<key>``
        (every ``network.params`` array, dtype kept), ``optimizer/<state>/<key>`` and
        ``perm`` (the epoch's permutation, 'epoch' sampling); JSON metadata: counters,
        the optimizer's scalars, both RNG states as of the last completed step, the
        histories and the run's configuration (see :mod:`cconv.training.checkpoint`).
        """
        return ckpt.save(self, ckpt.path_for(self, path))

    def load_checkpoint(self, path=None):
        """Restore the state written by :meth:`save_checkpoint` (parameters in place).

        The whole file is checked before anything changes: ValueError if it is corrupt,
        or was made for another training set size, batch size, sampling mode,
        learning-rate schedule, optimizer class, or parameter set (names, shapes,
        dtypes); nothing is changed then.
        """
        return ckpt.load(self, ckpt.path_for(self, path))

    # -- history -----------------------------------------------------------------------
    def history(self):
        """The run so far as a JSON-able dict (see :func:`cconv.training.log.history`)."""
        return history(self)

    def save_history(self, path):
        """Write :meth:`history` as JSON to ``path`` (atomically)."""
        return save_history(self, path)

