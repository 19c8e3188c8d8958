"""The Trainer's checkpoint file: the full state of a run in one atomic ``.npz``.

Arrays: ``param/<key>``, ``optimizer/<state>/<key>``, and the sampler's (``perm``).
JSON metadata: counters, histories, the optimizer's scalars, and both RNG states (the
Trainer's ``Generator`` and numpy's global ``RandomState``, serialised here). Reading
checks the whole file before anything is changed: :func:`read` returns a
:class:`Checkpoint` whose every field has been parsed.
"""
import copy
import math
import os

import numpy as np

from ..io.npz import load_npz, save_npz_atomic
from .log import jsonable, run_config
from .rng import get_states, set_states

__all__ = ["CHECKPOINT_NAME", "Checkpoint", "write", "read", "save", "load",
           "rng_states_to_json", "rng_states_from_json", "path_for", "save_interrupted"]

CHECKPOINT_NAME = "checkpoint.npz"
FORMAT = "cconv-trainer-checkpoint"
FORMAT_VERSION = 1
_LISTS = ("train_loss_list", "train_acc_list", "test_acc_list", "epoch_loss_list",
          "epoch_times", "eval_times")


def rng_states_to_json(states):
    """``(generator_state, legacy_state)`` -> two JSON-able values."""
    gen, legacy = states
    return gen, [legacy[0], legacy[1].tolist(), int(legacy[2]), int(legacy[3]),
                 float(legacy[4])]


def rng_states_from_json(gen, legacy):
    """The inverse of :func:`rng_states_to_json`; ValueError for a damaged state.

    Each state is tried on a scratch generator first, so a state that numpy refuses is
    reported here, before any RNG of the run is touched.
    """
    try:
        legacy = (legacy[0], np.array(legacy[1], dtype=np.uint32), int(legacy[2]),
                  int(legacy[3]), float(legacy[4]))
        np.random.RandomState().set_state(legacy)
        g = np.random.Generator(np.random.PCG64())
        g.bit_generator.state = gen
    except (TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
        raise ValueError(f"its RNG state is damaged ({type(exc).__name__}: {exc})") from None
    return gen, legacy


def write(path, arrays, meta):
    """Write a checkpoint atomically (``meta`` gets the format tag)."""
    meta = {"format": FORMAT, "version": FORMAT_VERSION, **meta}
    return save_npz_atomic(path, arrays, jsonable(meta))


class Checkpoint:
    """A checkpoint read and parsed by :func:`read` (nothing applied yet).

    Attributes: ``path``, ``meta`` (the raw JSON), ``params`` ({key: array}),
    ``optimizer`` (the state dict, arrays included, or {}), ``sampler_arrays``,
    ``current_iter``, ``current_epoch``, ``lists`` ({name: list of float}),
    ``epoch_train_time``, ``rng`` (the two states), ``base_lr``.
    """

    def __init__(self, path, arrays, meta):
        self.path, self.meta = path, meta
        self.params = {k[len("param/"):]: v for k, v in arrays.items()
                       if k.startswith("param/")}
        self.optimizer = dict(meta["optimizer"])
        self.optimizer.update({k[len("optimizer/"):]: v for k, v in arrays.items()
                               if k.startswith("optimizer/")})
        self.sampler_arrays = {k: v for k, v in arrays.items() if "/" not in k}
        self.current_iter = _count(meta, "current_iter")
        self.current_epoch = _count(meta, "current_epoch")
        self.lists = {name: [float(v) for v in meta[name]] for name in _LISTS}
        self.epoch_train_time = float(meta["epoch_train_time"])
        self.rng = rng_states_from_json(meta["rng"], meta["np_random"])
        base_lr = meta.get("base_lr")
        self.base_lr = None if base_lr is None else float(base_lr)
        if self.base_lr is not None and not math.isfinite(self.base_lr):
            raise ValueError(f"its base_lr {self.base_lr} is not finite")


def _count(meta, name):
    v = meta[name]
    if type(v) is not int or v < 0:
        raise ValueError(f"its {name} {v!r} is not a count")
    return v


def read(path):
    """Read and parse the checkpoint at ``path``; ValueError naming what is wrong."""
    path = os.fspath(path)
    arrays, meta = load_npz(path)
    if not meta or meta.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not a cconv Trainer checkpoint")
    try:
        return Checkpoint(path, arrays, meta)
    except KeyError as exc:
        raise ValueError(f"checkpoint {path!r} is damaged: it lacks {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"checkpoint {path!r} is damaged: {exc}") from None


def save(trainer, path):
    """The body of :meth:`Trainer.save_checkpoint`."""
    arrays = {f"param/{k}": v for k, v in trainer.network.params.items()}
    opt_scalars = {}
    if callable(getattr(trainer.optimizer, "state_dict", None)):
        for k, v in trainer.optimizer.state_dict().items():
            if isinstance(v, np.ndarray):
                arrays[f"optimizer/{k}"] = v
            else:
                opt_scalars[k] = v
    sampler_arrays, sampler_scalars = trainer.sampler.state()
    arrays.update(sampler_arrays)
    gen, legacy = rng_states_to_json(trainer._snapshot)
    meta = {
        "current_iter": trainer.current_iter, "current_epoch": trainer.current_epoch,
        **sampler_scalars, "train_size": trainer.train_size,
        "mini_batch_size": trainer.batch_size, "sampling": trainer.sampling,
        "epochs": trainer.epochs, "param_keys": list(trainer.network.params),
        "lr_schedule": trainer.lr_schedule, "base_lr": trainer.base_lr,
        "optimizer": opt_scalars, "rng": gen, "np_random": legacy,
        "train_loss_list": trainer.train_loss_list,
        "train_acc_list": trainer.train_acc_list,
        "test_acc_list": trainer.test_acc_list,
        "epoch_loss_list": trainer.epoch_loss_list,
        "epoch_times": trainer.epoch_times, "eval_times": trainer.eval_times,
        "epoch_train_time": trainer._epoch_train_time,
        "config": run_config(trainer),
    }
    if trainer.run_id is not None:
        meta["run_id"] = trainer.run_id
    return write(path, arrays, meta)



def load(trainer, path):
    """The body of :meth:`Trainer.load_checkpoint`."""
    c = read(path)
    meta = c.meta
    theirs = meta.get("run_id")
    if trainer.run_id is not None and theirs is not None and theirs != trainer.run_id:
        raise ValueError(f"checkpoint {path!r} belongs to run {str(theirs)[:8]}, this is "
                         f"run {trainer.run_id[:8]}: it cannot continue that run")
    for name, mine in (("train_size", trainer.train_size),
                       ("mini_batch_size", trainer.batch_size),
                       ("sampling", trainer.sampling), ("lr_schedule", trainer.lr_schedule)):
        if meta.get(name) != mine:
            raise ValueError(f"checkpoint {path!r} was made with {name}="
                             f"{meta.get(name)!r}, this Trainer has {name}={mine!r}: "
                             "it cannot continue that run")
    params = trainer.network.params
    if set(c.params) != set(params):
        raise ValueError(f"checkpoint {path!r} has parameters {sorted(c.params)}, the "
                         f"network has {sorted(params)}")
    for k, v in c.params.items():
        p = params[k]
        if v.shape != p.shape or v.dtype != p.dtype:
            raise ValueError(f"checkpoint {path!r}: param {k!r} is {v.shape} {v.dtype}, "
                             f"the network's is {p.shape} {p.dtype}")
    try:
        apply_sampler = trainer.sampler.load_state(c.sampler_arrays, meta)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"checkpoint {path!r} is damaged: {exc}") from None
    if c.optimizer:
        if not callable(getattr(trainer.optimizer, "load_state_dict", None)):
            raise ValueError(f"checkpoint {path!r} holds optimizer state but "
                             f"{type(trainer.optimizer).__name__} has no load_state_dict")
        copy.deepcopy(trainer.optimizer).load_state_dict(c.optimizer)   # a dry run
    # everything is checked: from here on, nothing can fail half-way
    if c.optimizer:
        trainer.optimizer.load_state_dict(c.optimizer)
    for k, v in c.params.items():
        np.copyto(params[k], v)   # in place: layers hold these arrays
    if trainer.lr_schedule is not None:
        trainer.base_lr = c.base_lr   # the run's own, like its other hypers
    trainer.current_iter, trainer.current_epoch = c.current_iter, c.current_epoch
    apply_sampler()
    for name, values in c.lists.items():
        setattr(trainer, name, values)
    trainer._epoch_train_time = c.epoch_train_time
    set_states(trainer.rng, c.rng)
    trainer._snapshot = get_states(trainer.rng)
    return meta


def path_for(trainer, path):
    """``path``, or the trainer's ``<checkpoint_dir>/checkpoint.npz`` when it is None."""
    path = trainer.checkpoint_path if path is None else os.fspath(path)
    if path is None:
        raise ValueError("no path given and the Trainer has no checkpoint_dir")
    return path


def save_interrupted(trainer):
    """After Ctrl-C: rewind the RNGs to the last commit, checkpoint it, log it."""
    trainer._close_bar()
    # an interrupted step may have drawn from the RNGs: rewind to the last commit,
    # so that calling train() again in this process continues exactly too
    set_states(trainer.rng, trainer._snapshot)
    where = f"step {trainer.current_iter}, epoch {trainer.current_epoch} completed"
    if trainer.checkpoint_path is not None:
        trainer.save_checkpoint()
        trainer._say(f"interrupted after {where}; checkpoint saved to "
                     f"{trainer.checkpoint_path} (resume=True continues from it)")
    else:
        trainer._say(f"interrupted after {where} (no checkpoint_dir, nothing saved)")
    trainer.log.write(event="interrupted", step=trainer.current_iter,
                      epoch=trainer.current_epoch, checkpoint=trainer.checkpoint_path)
