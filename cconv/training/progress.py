"""A small, dependency-free progress bar (downloads, and the Trainer's epochs).

On a terminal the bar is redrawn in place with ``\\r`` (at most every ``min_interval``
seconds); on anything else (a CI log, a pipe, a file) it prints a new line only each time
another tenth of the work is done, so a log gets about ten lines, never thousands. In a
Jupyter kernel :func:`make_progress` gives a live notebook bar instead
(:mod:`cconv.training.notebook`). Setting the environment variable ``CCONV_PROGRESS=0``
turns every bar off by default.
"""
import math
import os
import sys
import time

from .._checks import is_integer, is_real
from . import notebook

__all__ = ["Progress", "EpochBar", "make_progress", "format_seconds", "format_count",
           "progress_enabled_by_default"]

_BAR_WIDTH = 20
_NON_TTY_STEPS = 10  # a non-TTY gets a line per 1/_NON_TTY_STEPS of the total


def format_seconds(seconds):
    """Format a duration as ``MM:SS``, or ``H:MM:SS`` from one hour on.

    Parameters
    ----------
    seconds : float or None
        Duration in seconds. Negative values count as 0.

    Returns
    -------
    str
        ``"00:07"``, ``"01:05"``, ``"2:03:04"``; ``"?"`` when `seconds` is None, NaN or
        infinite (an ETA that cannot be estimated yet).
    """
    if seconds is None:
        return "?"
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        return "?"
    if not math.isfinite(seconds):
        return "?"
    total = int(max(0.0, seconds) + 0.5)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"


def format_count(n, scale=False):
    """Format a count, with SI prefixes (``k``, ``M``, ``G``, ``T``) when `scale` is true.

    ``format_count(9912422, scale=True)`` -> ``"9.91M"``; without `scale` integers print
    as they are and floats with 4 significant digits.
    """
    if not scale:
        if is_integer(n):
            return str(int(n))
        return f"{float(n):.4g}"
    value = float(n)
    for prefix in ("", "k", "M", "G", "T"):
        if abs(value) < 999.5 or prefix == "T":
            if prefix == "" and float(n).is_integer():
                return str(int(n))
            decimals = 2 if abs(value) < 9.995 else 1 if abs(value) < 99.95 else 0
            return f"{value:.{decimals}f}{prefix}"  # 3 significant digits: 9.91M 47.0M 123k
        value /= 1000.0
    return f"{value:.2f}T"  # pragma: no cover (the loop always returns)


def _format_value(v):
    if not is_real(v):
        return str(v)
    if is_integer(v):
        return str(int(v))
    return f"{float(v):.4g}"


def progress_enabled_by_default():
    """False when ``$CCONV_PROGRESS`` is ``0``, ``false``, ``no`` or ``off``; else True."""
    return os.environ.get("CCONV_PROGRESS", "").strip().lower() not in ("0", "false", "no", "off")


def _isatty(file):
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class Progress:
    """A text progress bar: count/total, percent, rate, elapsed time and ETA.

    A line looks like::

        train-images-idx3-ubyte.gz:  45%|#########...........| 4.46M/9.91MB [00:02<00:03, 1.87MB/s]
        epoch 3:  60%|############........| 360/600 it [00:12<00:08, 29.9 it/s, loss=0.123]

    Parameters
    ----------
    total : int or None
        Number of units of work, or None when unknown (no percent, bar or ETA then).
    desc : str, optional
        Label printed in front of the bar.
    unit : str, optional
        Name of one unit of work, used in the count and the rate (``"it/s"``, ``"B/s"``).
    file : file-like, optional
        Where to write; default ``sys.stderr`` (looked up when the bar is created).
    enabled : bool or None, optional
        False prints nothing at all (the count is still kept). None (default) means enabled
        unless the environment variable ``CCONV_PROGRESS`` is ``0``/``false``/``no``/``off``.
    min_interval : float, optional
        On a terminal, the shortest time in seconds between two redraws (the final draw
        at :meth:`close` always happens).
    unit_scale : bool, optional
        Print counts and rates with SI prefixes (``9.91MB``, ``1.87MB/s``): for bytes.
    tty : bool or None, optional
        Force terminal (True: redraw in place with ``\\r``) or log behaviour (False: a new
        line at each 10 % of `total`, and one at the end). None asks ``file.isatty()``.
    clock : callable, optional
        Returns the current time in seconds; default :func:`time.monotonic` (tests pass a
        fake clock).

    Attributes
    ----------
    n : int or float
        Units done so far.
    postfix : dict
        The latest ``key=value`` pairs given to :meth:`update`, shown after the rate.

    Examples
    --------
    >>> with Progress(600, desc="epoch 1") as bar:          # doctest: +SKIP
    ...     for i in range(600):
    ...         loss = train_step()
    ...         bar.update(1, loss=loss)
    """

    def __init__(self, total, desc="", unit="it", file=None, enabled=None, min_interval=0.1,
                 unit_scale=False, tty=None, clock=None):
        if total is not None:
            if not is_real(total):
                raise TypeError(f"total must be a number or None, not {type(total).__name__}")
            if not total >= 0:
                raise ValueError(f"total must be >= 0 or None, not {total}")
        if min_interval < 0:
            raise ValueError(f"min_interval must be >= 0, not {min_interval}")
        self.total = total
        self.desc = str(desc)
        self.unit = str(unit)
        self.file = sys.stderr if file is None else file
        self.enabled = progress_enabled_by_default() if enabled is None else bool(enabled)
        self.min_interval = float(min_interval)
        self.unit_scale = bool(unit_scale)
        self.tty = _isatty(self.file) if tty is None else bool(tty)
        self._clock = time.monotonic if clock is None else clock
        self.n = 0
        self.postfix = {}
        self.closed = False
        self._start = self._clock()
        self._last_draw = None      # clock time of the last terminal redraw
        self._last_len = 0          # length of the line on screen, to blank a longer one
        self._last_step = 0         # non-TTY: last tenth printed
        self._printed_final = False  # non-TTY: the 100 % line is out already
        if self.enabled and self.tty:
            self._draw()

    # --- public API ---------------------------------------------------------------
    @property
    def elapsed(self):
        """Seconds since the bar was created."""
        return max(0.0, self._clock() - self._start)

    def update(self, n=1, **postfix):
        """Add `n` units of work done, and update the ``key=value`` pairs shown.

        Parameters
        ----------
        n : int or float, optional
            Units done since the last call (may be 0, to refresh only the postfix).
        **postfix
            Values to show after the rate, e.g. ``loss=0.123``; floats get 4 significant
            digits. They replace earlier values of the same key; other keys stay.
        """
        if self.closed:
            raise ValueError("update() on a closed Progress")
        self.n += n
        if postfix:
            self.postfix.update(postfix)
        if not self.enabled:
            return
        if self.tty:
            now = self._clock()
            if self._last_draw is None or now - self._last_draw >= self.min_interval:
                self._draw(now)
        else:
            self._log_line_if_due()

    def set_postfix(self, **postfix):
        """Update the ``key=value`` pairs shown, without counting work."""
        self.update(0, **postfix)

    def write(self, message):
        """Print `message` on its own line without breaking the bar.

        On a terminal the bar is blanked, the message printed, and the bar redrawn below.
        """
        if not self.enabled:
            return
        if self.tty and not self.closed:
            self.file.write("\r" + " " * self._last_len + "\r" + str(message) + "\n")
            self._last_len = 0
            self._draw()
        else:
            self.file.write(str(message) + "\n")
        self._flush()

    def close(self):
        """Draw the final state and end the line. Calling it again does nothing."""
        if self.closed:
            return
        self.closed = True
        if not self.enabled:
            return
        if self.tty:
            self._draw()
            self.file.write("\n")
            self._flush()
        elif not self._printed_final:
            self._emit_line()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    def __repr__(self):
        return f"Progress({self.format_line()!r})"

    # --- formatting ---------------------------------------------------------------
    def format_line(self):
        """The current status as one line of text (no ``\\r`` or newline)."""
        elapsed = self.elapsed
        rate = self.n / elapsed if elapsed > 0 else None
        scale = self.unit_scale
        parts = []
        prefix = f"{self.desc}: " if self.desc else ""
        if self.total:
            frac = min(max(self.n / self.total, 0.0), 1.0)
            filled = int(frac * _BAR_WIDTH)
            bar = "#" * filled + "." * (_BAR_WIDTH - filled)
            count = f"{format_count(self.n, scale)}/{format_count(self.total, scale)}"
            parts.append(f"{prefix}{100 * frac:3.0f}%|{bar}| {count}{self._unit_suffix()}")
            if rate and self.n < self.total:
                eta = (self.total - self.n) / rate
            elif self.n >= self.total:
                eta = 0.0
            else:
                eta = None
            timing = f"{format_seconds(elapsed)}<{format_seconds(eta)}"
        else:
            total = "" if self.total is None else f"/{format_count(self.total, scale)}"
            parts.append(f"{prefix}{format_count(self.n, scale)}{total}{self._unit_suffix()}")
            timing = format_seconds(elapsed)
        stats = [timing, self._format_rate(rate)]
        stats += [f"{k}={_format_value(v)}" for k, v in self.postfix.items()]
        parts.append("[" + ", ".join(stats) + "]")
        return " ".join(parts)

    def _unit_suffix(self):
        # "9.91MB" reads better than "9.91M B"; "360/600 it" needs the space
        return self.unit if self.unit_scale else f" {self.unit}"

    def _format_rate(self, rate):
        if rate is None or rate <= 0:
            return f"? {self.unit}/s"
        if self.unit_scale:
            return f"{format_count(rate, True)}{self.unit}/s"
        if rate < 1:
            return f"{1 / rate:.3g} s/{self.unit}"
        return f"{rate:.3g} {self.unit}/s"

    # --- output -------------------------------------------------------------------
    def _flush(self):
        try:
            self.file.flush()
        except (AttributeError, ValueError, OSError):
            pass

    def _draw(self, now=None):
        line = self.format_line()
        pad = " " * max(0, self._last_len - len(line))  # blank what a longer line left
        self.file.write("\r" + line + pad)
        self._flush()
        self._last_len = len(line)
        self._last_draw = self._clock() if now is None else now

    def _emit_line(self):
        self.file.write(self.format_line() + "\n")
        self._flush()
        if self.total is not None and self.n >= self.total:
            self._printed_final = True

    def _log_line_if_due(self):
        # Without a known total a log gets only the final line, from close().
        if not self.total:
            return
        step = min(int(_NON_TTY_STEPS * self.n / self.total), _NON_TTY_STEPS)
        if step > self._last_step:
            self._last_step = step
            if step < _NON_TTY_STEPS or not self._printed_final:
                self._emit_line()


def make_progress(total, desc="", unit="it", enabled=None, **kwargs):
    """A progress bar for where the code runs: Jupyter's in a kernel, else :class:`Progress`.

    Parameters
    ----------
    total, desc, unit
        As for :class:`Progress`.
    enabled : bool or None
        False: a text bar that prints nothing (counts kept). None: on unless
        ``CCONV_PROGRESS=0``.
    **kwargs
        Passed to :class:`Progress` when the text bar is chosen; a ``file`` other than the
        standard streams always gets the text bar.

    Returns
    -------
    An object with ``update(n=1, **postfix)``, ``set_postfix(**postfix)`` and ``close()``:
    tqdm's widget bar in a kernel with the ``notebook`` extra (tqdm, ipywidgets), an HTML
    line updated in place in a kernel without it, the text bar elsewhere.
    """
    on = progress_enabled_by_default() if enabled is None else bool(enabled)
    if on and kwargs.get("file") in (None, sys.stderr, sys.stdout) and notebook.in_notebook():
        bar = notebook.notebook_bar(Progress(total, desc=desc, unit=unit, enabled=False))
        if bar is not None:
            return bar
    return Progress(total, desc=desc, unit=unit, enabled=on, **kwargs)


class EpochBar:
    """The Trainer's bar for one epoch: images done, running loss and batch accuracy.

    ``enabled=False`` keeps the statistics but draws nothing (and skips the accuracy,
    which only the bar shows).
    """

    def __init__(self, images, epoch, epochs, enabled):
        self._bar = make_progress(images, desc=f"epoch {epoch}/{epochs}", unit="img") \
            if enabled else None
        self._loss, self._steps, self._correct, self._seen = 0.0, 0, 0, 0

    def update(self, n, loss, network, t_batch):
        self._loss += loss
        self._steps += 1
        if self._bar is None:
            return
        postfix = {"loss": self._loss / self._steps}
        correct = batch_correct(network, t_batch)
        if correct is not None:
            self._correct += correct
            self._seen += len(t_batch)
            postfix["acc"] = self._correct / self._seen
        self._bar.update(n, **postfix)

    def close(self):
        if self._bar is not None:
            self._bar.close()


def batch_correct(network, t):
    """Correct predictions in the last batch, from the softmax layer's cached output
    (``network.last_layer.y``, as the book's networks keep it); None if unavailable."""
    import numpy as np
    layer = getattr(network, "last_layer", None) or getattr(network, "lastLayer", None)
    y = getattr(layer, "y", None)
    if not isinstance(y, np.ndarray) or y.ndim != 2 or y.shape[0] != len(t):
        return None
    from ..functions import target_labels
    label = target_labels(t)
    return int(np.count_nonzero(y.argmax(axis=1) == label))
