"""The training log: one JSON object per line, appended, for each event of a run."""
import json
import os
import time

import numpy as np

from ..io.files import check_replaceable, open_append
from ..io.npz import atomic_write
from .sampling import epoch_images

__all__ = ["JsonLog", "jsonable", "run_config", "history", "save_history"]


def jsonable(v):
    """``v`` with numpy scalars and arrays (inside dicts, lists, tuples) made plain Python."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return repr(v)


class JsonLog:
    """Append ``{"time": ..., "run_id": ..., **record}`` lines to ``path`` (nothing when it
    is None; no ``run_id`` when ``run_id`` is None). Only a regular file is appended to."""

    def __init__(self, path, run_id=None):
        self.path = os.fspath(path) if path is not None else None
        self.run_id = run_id
        if self.path is not None:
            check_replaceable(self.path)   # a FIFO, device or folder: refused up front

    def write(self, **record):
        if self.path is None:
            return
        ident = {} if self.run_id is None else {"run_id": self.run_id}
        record = {"time": time.time(), **ident, **record}
        with open_append(self.path) as f:
            f.write(json.dumps(jsonable(record)) + "\n")


def run_config(trainer):
    """The run's configuration (sizes, optimizer and hyper-parameters, sampling, seed...)."""
    opt = trainer.optimizer
    hypers = getattr(opt, "hyperparameters", None)
    hyper = hypers() if callable(hypers) else (
        {"lr": opt.lr} if hasattr(opt, "lr") else {})
    from .. import __version__
    return jsonable({
        "cconv": __version__,
        "network": type(trainer.network).__name__,
        "epochs": trainer.epochs, "mini_batch_size": trainer.batch_size,
        "optimizer": type(opt).__name__, "optimizer_param": hyper,
        "lr_schedule": trainer.lr_schedule, "base_lr": trainer.base_lr,
        "evaluate_sample_num_per_epoch": trainer.evaluate_sample_num_per_epoch,
        "eval_batch_size": trainer.eval_batch_size,
        "sampling": trainer.sampling, "seed": trainer.seed,
        "train_size": trainer.train_size, "test_size": len(trainer.x_test),
        "x_dtype": str(trainer.x_train.dtype),
        "iter_per_epoch": trainer.iter_per_epoch, "max_iter": trainer.max_iter,
    })


def history(trainer):
    """The run so far as a JSON-able dict.

    Returns
    -------
    dict
        ``train_loss_list``, ``train_acc_list``, ``test_acc_list``,
        ``epoch_loss_list``, ``final_test_acc``, ``epochs_done``, ``steps_done``,
        ``config`` (sizes, optimizer and hyper-parameters, sampling, seed, ...) and
        ``timing`` (training and evaluation seconds per epoch, images/s).
    """
    ips = [epoch_images(trainer.sampler, e) / t if t > 0 else None
           for e, t in enumerate(trainer.epoch_times, start=1)]
    return jsonable({
        "train_loss_list": trainer.train_loss_list,
        "train_acc_list": trainer.train_acc_list,
        "test_acc_list": trainer.test_acc_list,
        "epoch_loss_list": trainer.epoch_loss_list,
        "final_test_acc": trainer.final_test_acc,
        "epochs_done": trainer.current_epoch,
        "steps_done": trainer.current_iter,
        "config": run_config(trainer),
        **({} if trainer.run_id is None else {"run_id": trainer.run_id}),
        "timing": {"epoch_train_seconds": trainer.epoch_times,
                   "epoch_eval_seconds": trainer.eval_times,
                   "final_eval_seconds": trainer.final_eval_time,
                   "images_per_second": ips},
    })


def save_history(trainer, path):
    """Write ``history(trainer)`` as JSON to ``path`` (atomically)."""
    text = json.dumps(history(trainer), indent=1).encode("utf-8")
    return atomic_write(path, lambda f: f.write(text))
