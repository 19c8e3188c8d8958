"""Ctrl-C deferral: a block during which SIGINT waits, so a step's commit is never cut."""
import signal
import threading

__all__ = ["DeferSigint"]


class DeferSigint:
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
