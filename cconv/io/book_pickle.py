"""The book's parameter pickle (``params.pkl``), read without running code.

:func:`load_book_pickle` reads a dict of float arrays through an allow-list unpickler;
:func:`convert_pkl_to_npz` rewrites it as cconv's pickle-free ``.npz``.
"""
import codecs
import functools
import importlib
import io
import os
import pickle
import pickletools
import warnings
from collections import OrderedDict

import numpy as np

from .files import open_regular
from .npz import save_npz_atomic

__all__ = ["ParamsFileError", "load_book_pickle", "convert_pkl_to_npz"]


class ParamsFileError(ValueError):
    """A parameter file that does not belong to this network (or is not one)."""


def _numpy_core(sub, name):
    # numpy >= 2 has numpy._core (numpy.core is a deprecated alias); numpy 1.x only core.
    try:
        mod = importlib.import_module(f"numpy._core.{sub}")
    except ImportError:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            mod = importlib.import_module(f"numpy.core.{sub}")
    return getattr(mod, name)


def _latin1_encode(obj, encoding="utf-8", errors="strict"):
    # Pickles of protocol <= 2 store bytes as _codecs.encode(str, 'latin1'); no other
    # codec is needed (or allowed: codecs can be registered by any module).
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1") or \
            errors != "strict":
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return codecs.encode(obj, "latin1")


class _NotFloatArrays(pickle.UnpicklingError):
    """The pickle builds something a params file cannot hold (an object array)."""


def _frombuffer(buf, dtype, shape, order):
    # numpy's own _frombuffer (protocol 5 arrays), restricted to the byte strings the
    # pickle itself holds: a view of an array could outlive that array's data.
    if type(buf) not in (bytes, bytearray) or not isinstance(dtype, np.dtype):
        raise pickle.UnpicklingError("refusing _frombuffer of a "
                                     f"{type(buf).__name__}: expected bytes")
    if dtype.hasobject:
        raise _NotFloatArrays(f"an array of dtype {dtype}")
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order)


def _check_dtype_state(inst, state):
    # numpy trusts a dtype's state: a forged one can crash the interpreter (a subarray
    # that is an int) or tell a float dtype that it holds object pointers. Only the
    # state numpy writes for a fixed-size dtype, (3, byteorder, None, None, None, -1,
    # -1, flags), with the dtype's own flags, is let through.
    if not (inst.kind in "biufcO" and type(state) is tuple and len(state) == 8
            and state[:1] == (3,) and state[1] in ("<", ">", "|", "=")
            and state[2:7] == (None, None, None, -1, -1) and type(state[7]) is int):
        raise pickle.UnpicklingError(f"refusing dtype {inst.str} with state {state!r:.100}: "
                                     "a params .pkl holds float arrays")
    if state[7] != inst.flags:
        raise pickle.UnpicklingError(f"refusing dtype {inst.str} with forged flags "
                                     f"{state[7]}")


def _check_array_state(state):
    # (version, shape, dtype, fortran, data) as ndarray.__reduce__ writes it (version 0
    # has no version). numpy does not check an object array's list against its shape
    # (a short list crashes it), and params are float arrays: object arrays are refused.
    if type(state) is tuple and len(state) == 5 and type(state[0]) is int:
        state = state[1:]
    if not (type(state) is tuple and len(state) == 4 and isinstance(state[1], np.dtype)):
        raise pickle.UnpicklingError(f"refusing an array state {state!r:.100}")
    shape, dtype, _, data = state
    if dtype.hasobject:
        raise _NotFloatArrays(f"an array of dtype {dtype}")
    if not (type(shape) is tuple and all(type(n) is int for n in shape)
            and type(data) in (bytes, bytearray)):
        raise pickle.UnpicklingError(f"refusing an array state {state!r:.100}")


class _NumpyOnlyUnpickler(pickle._Unpickler):
    """Unpickles the book's ``params.pkl`` (a dict of ndarrays) and refuses anything else.

    The pure-Python unpickler is used on purpose: its memo is a dict, while the C
    unpickler allocates a memo table as large as the largest index a PUT names (an
    11-byte file can ask for gigabytes). Params pickles hold a few large byte strings,
    so the speed difference does not matter. The states that BUILD hands to dtypes and
    arrays are checked first (numpy trusts them), and each array is built once.
    """

    # (module, name) in the file -> how to get the object; nothing is imported by name.
    _ALLOWED = {
        **{(f"numpy.{core}.multiarray", name): functools.partial(_numpy_core, "multiarray",
                                                                 name)
           for core in ("core", "_core") for name in ("_reconstruct", "scalar")},
        # protocol 5: an array is _frombuffer(bytes, dtype, shape, order)
        ("numpy.core.numeric", "_frombuffer"): lambda: _frombuffer,
        ("numpy._core.numeric", "_frombuffer"): lambda: _frombuffer,
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
        ("collections", "OrderedDict"): lambda: OrderedDict,
        # protocols 0-2: bytes are stored as _codecs.encode(str, 'latin1')
        ("_codecs", "encode"): lambda: _latin1_encode,
    }

    dispatch = dict(pickle._Unpickler.dispatch)

    def _load_build(self):
        if len(self.stack) >= 2:
            inst, state = self.stack[-2], self.stack[-1]
            if isinstance(inst, np.dtype):
                _check_dtype_state(inst, state)
            elif isinstance(inst, np.ndarray):
                # setting an array's state again would free data a view may still use
                if any(a is inst for a in self._built):
                    raise pickle.UnpicklingError("refusing to set an array's state twice")
                _check_array_state(state)
                self._built.append(inst)
        pickle._Unpickler.load_build(self)

    dispatch[pickle.BUILD[0]] = _load_build

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._built = []

    def find_class(self, module, name):
        get = self._ALLOWED.get((module, name))
        if get is not None:
            return get()
        raise pickle.UnpicklingError(
            f"refusing to unpickle {module}.{name}: a params .pkl may only hold numpy "
            "arrays (the book's format); this file could run code")


def load_book_pickle(path):
    """Read the book's ``params.pkl`` (dict of float arrays) through an allow-list unpickler.

    Pickles of any protocol (0 to 5) written by numpy 1.x or 2.x are read; only the
    callables that rebuild arrays, dtypes and bytes are allowed, and the pure-Python
    unpickler is used so that a crafted memo index cannot make it allocate gigabytes.

    Raises
    ------
    ParamsFileError
        If the file holds anything but a dict of str -> numeric ndarray (a pickle that
        would import other callables is refused before anything runs).
    """
    with open_regular(path) as f:
        data = f.read()
    try:
        # Walk the opcodes first: pickletools reads each length-prefixed argument from
        # what the file holds, while the unpickler allocates a claimed length (a
        # BYTEARRAY8 of 4 GB in a 1 KB file) before it reads anything.
        for _ in pickletools.genops(data):
            pass
    except Exception as exc:
        raise ParamsFileError(f"{path}: not a readable params pickle "
                              f"({type(exc).__name__}: {exc})") from None
    try:
        obj = _NumpyOnlyUnpickler(io.BytesIO(data)).load()
    except _NotFloatArrays as exc:
        raise ParamsFileError(f"{path}: expected a dict of name -> float array, found "
                              f"{exc}") from None
    except pickle.UnpicklingError as exc:
        raise ParamsFileError(f"{path}: {exc}") from None
    except Exception as exc:  # truncated or garbage pickles raise many kinds of errors
        raise ParamsFileError(f"{path}: not a readable params pickle "
                              f"({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict) or not all(
            isinstance(k, str) and isinstance(v, np.ndarray) and v.dtype.kind == "f"
            for k, v in obj.items()):
        raise ParamsFileError(f"{path}: expected a dict of name -> float array")
    return dict(obj)


def convert_pkl_to_npz(pkl_path, npz_path):
    """Convert the book's ``params.pkl`` to a pickle-free ``.npz`` (same keys)."""
    params = load_book_pickle(pkl_path)
    save_npz_atomic(npz_path, params, {"converted_from": os.path.basename(str(pkl_path))})
    return npz_path
