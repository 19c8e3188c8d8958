"""Jupyter: the progress bar that suits where the code runs, and inline figures.

Under ipykernel ``sys.stderr.isatty()`` is False, so the text bar of
:mod:`cconv._progress` would print a log line per tenth of the work (over 200 lines for a
20-epoch run). :func:`make_progress` picks instead, in order:

1. tqdm's widget bar (``tqdm.notebook``), when running under ipykernel with tqdm and
   ipywidgets installed (the ``notebook`` extra: ``pip install "cconv[notebook]"``);
2. one HTML line (a ``<progress>`` element and the text bar's status) updated in place
   through IPython's display machinery, under ipykernel without the extra;
3. the text bar everywhere else (terminals redraw in place; logs get ten lines).

``CCONV_PROGRESS=0`` switches every bar off, as before.
"""
import sys
import time

from ._progress import Progress, progress_enabled_by_default

__all__ = ["in_notebook", "make_progress", "NotebookProgress"]

_HTML_INTERVAL = 0.2  # seconds between two in-place HTML updates


def in_notebook():
    """True when running in a Jupyter kernel (ipykernel), not in a terminal IPython."""
    if "ipykernel" not in sys.modules:
        return False
    ip_mod = sys.modules.get("IPython")
    try:
        ip = ip_mod.get_ipython() if ip_mod is not None else None
    except Exception:
        return False
    return ip is not None and getattr(ip, "kernel", None) is not None


def _tqdm_notebook():
    """tqdm's notebook bar class, or None when tqdm or ipywidgets is missing."""
    try:
        import ipywidgets  # noqa: F401  (tqdm.notebook needs it to draw anything)
        from tqdm.notebook import tqdm
    except Exception:
        return None
    return tqdm


class _TqdmBar:
    """The Progress interface (update with postfix, close) on a tqdm notebook bar."""

    def __init__(self, cls, total, desc, unit):
        self._bar = cls(total=total, desc=desc, unit=unit, leave=True)
        self.n = 0
        self.postfix = {}

    def update(self, n=1, **postfix):
        self.n += n
        if postfix:
            self.postfix.update(postfix)
            self._bar.set_postfix({k: (f"{v:.4g}" if isinstance(v, float) else v)
                                   for k, v in self.postfix.items()}, refresh=False)
        self._bar.update(n)

    def set_postfix(self, **postfix):
        self.update(0, **postfix)

    def close(self):
        self._bar.close()


class NotebookProgress:
    """A bar drawn as one HTML line that IPython updates in place (no widgets needed).

    Same interface as :class:`cconv._progress.Progress` (``update(n, **postfix)``,
    ``set_postfix``, ``close``, ``n``, ``postfix``); the text after the bar is
    :meth:`Progress.format_line`.
    """

    def __init__(self, total, desc="", unit="it", clock=None):
        from IPython.display import HTML, display

        self._HTML = HTML
        self._clock = time.monotonic if clock is None else clock
        self._state = Progress(total, desc=desc, unit=unit, enabled=False, clock=self._clock)
        self._last = None
        self.closed = False
        self._handle = display(self._html(), display_id=True)

    @property
    def n(self):
        return self._state.n

    @property
    def postfix(self):
        return self._state.postfix

    def _html(self):
        from html import escape

        total = self._state.total
        bar = ("" if not total else
               f'<progress value="{min(self._state.n, total)}" max="{total}" '
               'style="width:30%;vertical-align:middle"></progress> ')
        return self._HTML(f'<div style="font-family:monospace">{bar}'
                          f"{escape(self._state.format_line())}</div>")

    def update(self, n=1, **postfix):
        self._state.update(n, **postfix)
        now = self._clock()
        if self._last is None or now - self._last >= _HTML_INTERVAL:
            self._last = now
            self._handle.update(self._html())

    def set_postfix(self, **postfix):
        self.update(0, **postfix)

    def close(self):
        if not self.closed:
            self.closed = True
            self._state.close()
            self._handle.update(self._html())


def make_progress(total, desc="", unit="it", enabled=None, **kwargs):
    """A progress bar for where the code runs (see the module docstring).

    Parameters
    ----------
    total, desc, unit
        As for :class:`cconv._progress.Progress`.
    enabled : bool or None
        False: the text bar, switched off (counts kept, nothing printed). None: on unless
        ``CCONV_PROGRESS=0``.
    **kwargs
        Passed to :class:`~cconv._progress.Progress` when the text bar is chosen; a
        ``file`` other than the standard streams always gets the text bar.

    Returns
    -------
    An object with ``update(n=1, **postfix)``, ``set_postfix(**postfix)`` and ``close()``.
    """
    on = progress_enabled_by_default() if enabled is None else bool(enabled)
    file = kwargs.get("file")
    if on and in_notebook() and file in (None, sys.stderr, sys.stdout):
        cls = _tqdm_notebook()
        try:
            if cls is not None:
                return _TqdmBar(cls, total, desc, unit)
            return NotebookProgress(total, desc=desc, unit=unit)
        except Exception:  # a frontend that cannot take either: the text bar below
            pass
    return Progress(total, desc=desc, unit=unit, enabled=on, **kwargs)
