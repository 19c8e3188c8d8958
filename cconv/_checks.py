"""The argument checks every part of cconv shares: one helper per check.

Each helper returns the value in its plain Python form (``int``, ``float``, a float
ndarray) or raises a TypeError/ValueError whose message names the argument and the
value. Ranges are compared in Python integers, so a huge value is refused, never
truncated.
"""
import math
import numbers

import numpy as np

__all__ = ["integer", "positive_int", "real", "pair", "float_array", "param_array",
           "forward_done", "is_integer", "is_real", "dout_array"]


class ConfigError(RuntimeError):
    """A setting from the environment that cconv cannot honour (e.g. ``CCONV_ISA``)."""


def is_integer(v):
    """True for a Python or NumPy integer that is not a bool."""
    return type(v) is int or (isinstance(v, numbers.Integral)
                              and not isinstance(v, (bool, np.bool_)))


def is_real(v):
    """True for a Python or NumPy real number (integers included) that is not a bool."""
    return type(v) is float or (isinstance(v, numbers.Real)
                                and not isinstance(v, (bool, np.bool_)))


def integer(v, name, *, low=None, high=None, integral_float=False):
    """``v`` as an int (Python/NumPy integers; bools, floats and strings are refused).

    ``integral_float=True`` also takes a float that holds an integer (``28.0``), for the
    few arguments the book's scripts pass as floats; never a fractional one.
    """
    if type(v) is not int:   # the common case skips the slower abstract-class checks
        if (integral_float and is_real(v) and math.isfinite(v)
                and float(v).is_integer()):
            v = int(v)
        elif not is_integer(v):
            raise TypeError(f"{name} must be an int, not {type(v).__name__} ({v!r})")
        v = int(v)
    if low is not None and v < low:
        raise ValueError(f"{name} must be >= {low}, got {v}")
    if high is not None and v > high:
        raise ValueError(f"{name} must be <= {high}, got {v}")
    return v


def positive_int(v, name):
    """``v`` as an int >= 1."""
    return integer(v, name, low=1)


def real(v, name, *, low=None, low_open=False, high=None, high_open=True):
    """``v`` as a finite float (bools and non-numbers refused), optionally in a range.

    ``low``/``high`` bound it; ``low_open=True`` excludes ``low`` itself, and ``high``
    is excluded unless ``high_open=False``.
    """
    if not is_real(v):
        raise TypeError(f"{name} must be a real number, not {type(v).__name__} ({v!r})")
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if low is not None and (v <= low if low_open else v < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {v}")
    if high is not None and (v >= high if high_open else v > high):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {v}")
    return v


def pair(v, name):
    """An int or an (h, w) pair of ints -> (h, w)."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair (h, w), not {v!r}")
        return integer(v[0], name), integer(v[1], name)
    i = integer(v, name)
    return i, i


def float_array(a, name="x"):
    """Return ``a`` as a float32/float64 ndarray, converting or refusing other dtypes.

    float32 and float64 are kept. float16 becomes float32; bool and integer arrays become
    float64 (what the book's NumPy code computes with). Floats in non-native byte order
    (e.g. big-endian ``>f8`` read from a file) are converted to native order, same
    precision. Complex, object, string and other dtypes raise TypeError.
    """
    if not isinstance(a, np.ndarray):
        try:
            a = np.asarray(a)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(f"{name} must be an array of real numbers: {exc}") from None
    dt = a.dtype
    if dt.kind == "f" and not dt.isnative:
        a = a.astype(dt.newbyteorder("="))
        dt = a.dtype
    if dt == np.float32 or dt == np.float64:
        return a
    if dt == np.float16:
        return a.astype(np.float32)
    if dt.kind in "biu":
        return a.astype(np.float64)
    raise TypeError(f"{name} has dtype {dt}; cconv works on float32 or float64 "
                    "(integers and bool are converted to float64, float16 to float32)")


def param_array(p, name):
    """A layer parameter: a numpy array of real numbers, kept as is (never copied)."""
    if not isinstance(p, np.ndarray):
        raise TypeError(f"{name} must be a numpy array (it is shared with the optimizer "
                        f"and updated in place), not {type(p).__name__}")
    if p.dtype.kind not in "biuf":  # complex, object, str...: the kernels' dtype policy
        raise TypeError(f"{name} has dtype {p.dtype}; cconv works on float32 or float64")
    return p


def forward_done(layer, value):
    """``value`` (state the last forward left), or RuntimeError if there was none."""
    if value is None:
        if getattr(layer, "_inference_pass", False):
            raise RuntimeError(
                f"{type(layer).__name__}.backward after an inference pass: a network's "
                "predict outside training keeps no activations for backward; run a "
                "training forward first (forward, or the network's loss or gradient)")
        raise RuntimeError(f"{type(layer).__name__}.backward called before forward: "
                           "call forward first")
    return value


def dout_array(layer, dout, shape, dtype):
    """``dout`` as a layer's ``backward`` takes it: exactly the forward output's ``shape``,
    in its float ``dtype`` (None: dout's own float dtype).

    Integer, bool and float16 arrays are converted to ``dtype`` (never truncated);
    complex, object and string arrays raise TypeError; any other shape raises ValueError
    naming both shapes (broadcasting would return a gradient of another shape).
    """
    d = float_array(dout, "dout")
    if d.shape != tuple(shape):
        raise ValueError(f"{type(layer).__name__}.backward: dout has shape {d.shape}, the "
                         f"forward output had shape {tuple(shape)}")
    return d if dtype is None or d.dtype == dtype else d.astype(dtype)
