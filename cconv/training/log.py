"""The training log: one JSON object per line, appended, for each event of a run."""
import json
import os
import time

import numpy as np

__all__ = ["JsonLog", "jsonable"]


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
    """Append ``{"time": ..., **record}`` lines to ``path`` (nothing when it is None)."""

    def __init__(self, path):
        self.path = os.fspath(path) if path is not None else None

    def write(self, **record):
        if self.path is None:
            return
        record = {"time": time.time(), **record}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(jsonable(record)) + "\n")
