"""Learning curves: accuracy per epoch and loss per step of a training run."""
import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .._checks import is_real
from ..io.files import open_regular
from ..util import smooth_curve
from ._figure import _finish, _new_figure


_TRAIN_COLOR, _TEST_COLOR = "#1f77b4", "#ff7f0e"


_RAW_LOSS_COLOR, _SMOOTH_LOSS_COLOR = "#a6c8e6", "#1f4e9c"


_HISTORY_KEYS = ("train_loss_list", "train_acc_list", "test_acc_list")


def _history(history):
    if isinstance(history, (str, os.PathLike)):
        p = Path(os.fspath(history))
        try:
            with open_regular(p, "r", encoding="utf-8") as fh:
                history = json.load(fh)
        except FileNotFoundError:
            raise FileNotFoundError(2, f"no history file at '{p}'") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"'{p}' is not valid JSON: {exc}") from None
        where = f"'{p}'"
    else:
        where = "history"
    if isinstance(history, Mapping):
        missing = [k for k in _HISTORY_KEYS if k not in history]
        if missing:
            raise KeyError(f"{where} lacks {', '.join(missing)} (has: "
                           f"{', '.join(map(str, history)) or 'nothing'})")
        get = history.__getitem__
    elif all(hasattr(history, k) for k in _HISTORY_KEYS):
        get = lambda k: getattr(history, k)  # noqa: E731  (a Trainer)
    else:
        raise TypeError(f"history must be a dict with {', '.join(_HISTORY_KEYS)}, a path to "
                        f"a JSON file with them, or a Trainer; got {type(history).__name__}")
    out = {}
    for k in _HISTORY_KEYS:
        try:
            v = np.asarray(get(k), dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{k} in {where} must be a list of numbers") from None
        if v.ndim != 1:
            raise ValueError(f"{k} in {where} must be a flat list, got shape {v.shape}")
        out[k] = v
    out.update(_history_extras(get, history))
    return out


def _history_extras(get, history):
    """The optional facts a curve title uses: the accuracy on the whole test set at the
    end, and how many test images each per-epoch estimate used (None when unknown)."""
    def value(key):
        try:
            return get(key)
        except (KeyError, AttributeError):
            return None

    final = value("final_test_acc")
    run_id = value("run_id")
    cfg = value("config")
    if cfg is None and hasattr(history, "evaluate_sample_num_per_epoch"):  # a Trainer
        cfg = {"evaluate_sample_num_per_epoch": history.evaluate_sample_num_per_epoch,
               "test_size": len(history.x_test)}
    cfg = cfg if isinstance(cfg, Mapping) else {}
    test_size = cfg.get("test_size")
    sample = cfg.get("evaluate_sample_num_per_epoch") or test_size
    return {"final_test_acc": float(final) if is_real(final) and np.isfinite(final) else None,
            "eval_samples": int(sample) if is_real(sample) else None,
            "test_size": int(test_size) if is_real(test_size) else None,
            "run_id": run_id if isinstance(run_id, str) else None}


def _accuracy_limits(*curves):
    """y limits that show the accuracy curves' own range (they crowd the top of 0..1
    once a network learns), with a margin, clipped to [0, 1]."""
    vals = np.concatenate([np.asarray(c, dtype=np.float64).ravel() for c in curves])
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return 0.0, 1.0
    lo, hi = float(vals.min()), float(vals.max())
    pad = max(0.1 * (hi - lo), 0.005)
    return max(0.0, lo - pad), min(1.0, hi + pad)


def learning_curves(history, *, smooth=True, title=None, path=None, show=False, dpi=100,
                    figsize=(11.0, 4.2)):
    """Plot accuracy per epoch and training loss per iteration.

    Parameters
    ----------
    history : dict, str, os.PathLike or Trainer
        A mapping (or a JSON file holding one, or an object with these attributes, such as
        a Trainer) with ``train_loss_list`` (one loss per iteration), ``train_acc_list``
        and ``test_acc_list`` (one accuracy per evaluation, normally per epoch).
    smooth : bool
        Draw the loss raw in a light color and, on top, smoothed with
        :func:`cconv.util.smooth_curve` (the book's chapter-6 plots). False: raw only, dark.
    title, path, show, dpi :
        As in :func:`filter_show`.
    figsize : (float, float)
        Inches; the saved PNG is ``figsize * dpi`` pixels.

    Returns
    -------
    matplotlib.figure.Figure
        Left: train (marker 'o') and test (marker 's') accuracy against epoch 1, 2, ...;
        the axis zooms to the curves' range (on 0..1 they crowd the top once the network
        learns). The per-epoch test accuracy is labelled as an estimate when it used a
        sample of the test set (``evaluate_sample_num_per_epoch``); the title gives the
        accuracy on the whole test set at the end (``final_test_acc``) when the history
        has it. Right: loss against iteration.
    """
    h = _history(history)
    loss, tr, te = h["train_loss_list"], h["train_acc_list"], h["test_acc_list"]
    fig = _new_figure(tuple(figsize), dpi, show, layout="constrained")
    ax_acc, ax_loss = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.25]})

    n_ep = max(len(tr), len(te))
    every = max(1, n_ep // 25)
    if len(tr):
        ax_acc.plot(np.arange(1, len(tr) + 1), tr, marker="o", markevery=every,
                    color=_TRAIN_COLOR, label="train")
    sample, test_size = h["eval_samples"], h["test_size"]
    estimate = sample is not None and test_size is not None and sample < test_size
    if len(te):
        label = f"test (estimate on {sample:,} images)" if estimate else "test"
        ax_acc.plot(np.arange(1, len(te) + 1), te, marker="s", markevery=every,
                    color=_TEST_COLOR, label=label)
    if n_ep:
        ax_acc.legend(loc="lower right")
        ax_acc.set_xlim(0.5, n_ep + 0.5)
        if n_ep <= 20:
            ax_acc.set_xticks(np.arange(1, n_ep + 1))
        if h["final_test_acc"] is not None:
            on = f" ({test_size:,} images)" if test_size is not None else ""
            final = f"final test {h['final_test_acc']:.4f}{on}"
        elif len(te):
            final = f"last test estimate {te[-1]:.4f}" if estimate else f"final test {te[-1]:.4f}"
        else:
            final = f"final train {tr[-1]:.4f}"
        ax_acc.set_title(f"accuracy ({final})", fontsize=11)
        ax_acc.set_ylim(*_accuracy_limits(tr, te))
    else:
        ax_acc.text(0.5, 0.5, "no accuracy recorded", ha="center", va="center",
                    transform=ax_acc.transAxes)
        ax_acc.set_title("accuracy", fontsize=11)
        ax_acc.set_ylim(0.0, 1.0)
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.grid(True, alpha=0.3)

    if len(loss):
        it = np.arange(len(loss))
        if smooth:
            ax_loss.plot(it, loss, color=_RAW_LOSS_COLOR, lw=0.9, label="raw")
            ax_loss.plot(it, smooth_curve(loss), color=_SMOOTH_LOSS_COLOR, lw=1.8,
                         label="smoothed")
            ax_loss.legend(loc="upper right")
        else:
            ax_loss.plot(it, loss, color=_SMOOTH_LOSS_COLOR, lw=1.0)
        finite = loss[np.isfinite(loss)]
        if finite.size and finite.min() >= 0:
            ax_loss.set_ylim(bottom=0.0)
        ax_loss.set_xlim(0, max(1, len(loss) - 1))
        ax_loss.set_title(f"training loss ({len(loss)} iterations)", fontsize=11)
    else:
        ax_loss.text(0.5, 0.5, "no loss recorded", ha="center", va="center",
                     transform=ax_loss.transAxes)
        ax_loss.set_title("training loss", fontsize=11)
    ax_loss.set_xlabel("iteration")
    ax_loss.set_ylabel("loss")
    ax_loss.grid(True, alpha=0.3)
    fig.suptitle(title if title is not None else "learning curves", fontsize=12)
    return _finish(fig, path, run_id=h["run_id"])
