"""The Trainer's checkpoint file: the full state of a run in one atomic ``.npz``.

Arrays: ``param/<key>``, ``optimizer/<state>/<key>``, and the sampler's (``perm``).
JSON metadata: counters, histories, the optimizer's scalars, and both RNG states (the
Trainer's ``Generator`` and numpy's global ``RandomState``, serialised here). Reading
checks the whole file before anything is changed: :func:`read` returns a
:class:`Checkpoint` whose every field has been parsed.
"""
import math
import os

import numpy as np

from ..io.npz import load_npz, save_npz_atomic
from .log import jsonable

__all__ = ["CHECKPOINT_NAME", "Checkpoint", "write", "read", "rng_states_to_json",
           "rng_states_from_json"]

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
