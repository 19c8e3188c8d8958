"""Jupyter's progress bars, which :func:`cconv.training.progress.make_progress` picks.

Under ipykernel ``sys.stderr.isatty()`` is False, so the text bar of
:mod:`cconv.training.progress` would print a log line per tenth of the work (over 200
lines for a 20-epoch run). ``make_progress`` picks instead, in order:

1. tqdm's widget bar (``tqdm.notebook``), when running under ipykernel with tqdm and
   ipywidgets installed (the ``notebook`` extra: ``pip install "cconv[notebook]"``);
2. one HTML line (a ``<progress>`` element and the text bar's status) updated in place
   through IPython's display machinery, under ipykernel without the extra;
3. the text bar everywhere else (terminals redraw in place; logs get ten lines).

``CCONV_PROGRESS=0`` switches every bar off, as before.
"""
import sys
import time

__all__ = ["in_notebook", "notebook_bar", "NotebookProgress"]

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

    Same interface as :class:`cconv.training.progress.Progress` (``update(n, **postfix)``,
    ``set_postfix``, ``close``, ``n``, ``postfix``). ``state`` is a switched-off text bar
    that counts, and whose :meth:`~cconv.training.progress.Progress.format_line` is the
    text after the bar.
    """

    def __init__(self, state, clock=None):
        from IPython.display import HTML, display

        self._HTML = HTML
        self._clock = time.monotonic if clock is None else clock
        self._state = state
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


def notebook_bar(state):
    """A Jupyter bar for the work ``state`` (a switched-off text bar) counts, or None.

    tqdm's widget bar when tqdm and ipywidgets are installed, else :class:`NotebookProgress`;
    None when not in a kernel or when the frontend takes neither.
    """
    if not in_notebook():
        return None
    cls = _tqdm_notebook()
    try:
        if cls is not None:
            return _TqdmBar(cls, state.total, state.desc, state.unit)
        return NotebookProgress(state)
    except Exception:  # a frontend that cannot take either: the text bar
        return None
