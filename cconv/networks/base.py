"""What every cconv network shares: named layers, the book's methods, parameter files.

A network is an ordered dict of named layers (``network.layers``) ending in a
``SoftmaxWithLoss`` (``network.last_layer``), and ``network.params``, whose arrays are
the very arrays the layers hold (the book's optimizers update them in place). Layers
are found by name, never by position (the book's DeepConvNet hard-codes indices).
"""
import codecs
import functools
import importlib
import io
import numbers
import os
import pickle
import pickletools
import warnings
from collections import OrderedDict

import numpy as np

from .. import __version__
from .._io import load_npz, save_npz_atomic
from .._kernels import as_float_array
from ..functions import _labels, target_labels  # noqa: F401  (shared with the loss)
from ..gradient import numerical_gradient
from ..layers import BatchNormalization, Dropout

_FLOATS = (np.float32, np.float64)


def resolve_dtype(dtype):
    dt = np.dtype(dtype)
    if dt not in _FLOATS:
        raise TypeError(f"dtype must be float32 or float64, not {dt}")
    return dt


def resolve_rng(rng):
    """None -> numpy's global RNG (the book's ``np.random.randn``); int -> a seeded Generator."""
    if rng is None:
        return None
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def randn(rng, shape, dtype):
    a = np.random.randn(*shape) if rng is None else rng.standard_normal(shape)
    return a.astype(dtype, copy=False)


def _int_arg(v, name):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an int, not {type(v).__name__} ({v!r})")
    return int(v)


def conv_out(size, filt, stride, pad, what="filter", where=None):
    """Output length of a window (filter or pool) sliding over ``size`` positions.

    Validates what the kernels would refuse at the first forward pass, so that a network
    with an impossible layer fails when it is built: a non-positive window or stride, a
    negative pad, a pool's pad not smaller than the pool (a filter's may be larger: its
    windows of padding alone give 0, as in the book), a window that does not fit the
    padded input. The ValueError names the value (and ``where``, e.g. ``'conv_param_2'``).
    """
    size, filt = _int_arg(size, "size"), _int_arg(filt, f"{what} size")
    stride, pad = _int_arg(stride, "stride"), _int_arg(pad, "pad")
    msg = None
    if filt <= 0:
        msg = f"{what} size must be positive, got {filt}"
    elif stride <= 0:
        msg = f"stride must be positive, got {stride}"
    elif pad < 0:
        msg = f"pad must be >= 0, got {pad}"
    elif pad >= filt and what == "pool":  # a filter's all-padding windows give 0, as the book
        msg = (f"pad {pad} must be smaller than the {what} size {filt}: a larger pad "
               "makes windows that see only padding")
    elif size + 2 * pad < filt:
        msg = f"a {filt}x{filt} window with pad {pad} does not fit a size-{size} input"
    if msg is not None:
        raise ValueError(f"{where}: {msg}" if where else msg)
    return (size + 2 * pad - filt) // stride + 1


def _positive_int(v):
    # an int, or a float holding one (28.0, as int() used to accept); not bool or str
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        return None
    try:
        i = int(v)
    except (ValueError, OverflowError):  # NaN, inf
        return None
    return i if i == v and i > 0 else None


def check_input_dim(input_dim):
    """``input_dim`` as a validated (C, H, W) tuple of positive ints (else ValueError)."""
    try:
        dims = tuple(_positive_int(v) for v in input_dim)
    except TypeError:
        dims = ()
    if len(dims) != 3 or None in dims:
        raise ValueError(f"input_dim must be (C, H, W) with three positive ints, got "
                         f"{input_dim!r}")
    return dims


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
    with open(path, "rb") as f:
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


class Network:
    """Base class of cconv's CNNs (SimpleConvNet, DeepConvNet, LeNet, AlexNet).

    Subclasses fill ``self.params`` and ``self.layers`` and list, in
    ``self._param_map``, which layer attribute holds which parameter:
    ``{'W1': ('Conv1', 'W'), 'b1': ('Conv1', 'b'), ...}``.
    """

    def __init__(self, dtype=np.float64):
        self.dtype = resolve_dtype(dtype)
        self.params = {}
        self.layers = OrderedDict()
        self.last_layer = None
        self._param_map = {}
        self.last_loss = None
        self.config = {}

    # -- the book's methods --------------------------------------------------
    def _cast(self, x):
        # The kernels' dtype policy (complex, str, object... raise TypeError), then the
        # network's own dtype.
        x = as_float_array(x, "x")
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        return x

    def predict(self, x, train_flg=False):
        """Scores (N, output_size) for input ``x`` (N, C, H, W) (flat rows are reshaped).

        ``x`` is converted to the network's dtype. ``train_flg`` switches Dropout and
        BatchNormalization to training behaviour.
        """
        x = self._input(x)
        for layer in self.layers.values():
            if isinstance(layer, (Dropout, BatchNormalization)):
                x = layer.forward(x, train_flg)
            else:
                x = layer.forward(x)
        return x

    def forward_until(self, x, name, train_flg=False):
        """The output of layer ``name`` (e.g. ``'Conv1'``, ``'Relu1'``) for input ``x``."""
        if name not in self.layers:
            raise KeyError(f"no layer {name!r}; layers are {list(self.layers)}")
        x = self._input(x)
        for lname, layer in self.layers.items():
            if isinstance(layer, (Dropout, BatchNormalization)):
                x = layer.forward(x, train_flg)
            else:
                x = layer.forward(x)
            if lname == name:
                return x
        raise AssertionError("unreachable")

    def _input(self, x):
        x = self._cast(x)
        shape = tuple(self.config.get("input_dim", ()))
        if shape and x.ndim == 2 and x.shape[1] == int(np.prod(shape)):
            x = x.reshape((x.shape[0],) + shape)  # flat MNIST rows (load_mnist(flatten=True))
        if shape and x.shape[1:] != shape:
            raise ValueError(f"input has shape {x.shape}, this network expects "
                             f"(N,) + {shape}")
        return x

    def loss(self, x, t, train_flg=True):
        """The cross-entropy loss of a batch (Dropout active, as in the book's DeepConvNet)."""
        y = self.predict(x, train_flg)
        return self.last_layer.forward(y, t)

    def accuracy(self, x, t, batch_size=100):
        """Fraction of ``x`` classified as ``t`` (labels (N,) or (N, 1), or one-hot (N, K)).

        Fixes two bugs of the book: it silently drops the last partial batch, and with
        labels of shape (N, 1) (what its gradient check passes) it takes an argmax over the
        one column, turning every label into 0, so the accuracy it reports is the fraction
        of samples predicted as class 0.
        """
        t = target_labels(t)
        n = len(x)
        if n == 0:
            return 0.0
        acc = 0
        for i in range(0, n, batch_size):
            y = self.predict(x[i:i + batch_size])
            acc += int(np.sum(np.argmax(y, axis=1) == t[i:i + batch_size]))
        return acc / n

    def predict_labels(self, x, batch_size=100):
        """Predicted class of every sample, in batches."""
        out = [np.argmax(self.predict(x[i:i + batch_size]), axis=1)
               for i in range(0, len(x), batch_size)]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.intp)

    def gradient(self, x, t):
        """Backprop gradients ``{key: array}`` of the loss; sets ``last_loss``.

        The loss of this forward pass is kept in ``self.last_loss`` (a float) so a
        training loop needs no second forward pass (the book's Trainer does one).
        """
        loss = self.loss(x, t, train_flg=True)
        self.last_loss = float(loss)
        dout = self.last_layer.backward(1)
        for layer in reversed(self.layers.values()):
            dout = layer.backward(dout)
            if dout is None:  # a first Convolution with need_dx=False
                break
        grads = {}
        for key, (lname, attr) in self._param_map.items():
            grads[key] = getattr(self.layers[lname], "d" + attr)
        return grads

    def numerical_gradient(self, x, t, h=None):
        """Central-difference gradients of every parameter (slow: for checks only)."""
        return {key: numerical_gradient(lambda _: self.loss(x, t, train_flg=True), p, h)
                for key, p in self.params.items()}

    # -- parameter files -------------------------------------------------------
    def save_params(self, file_name="params.npz"):
        """Write the parameters atomically as a pickle-free ``.npz``.

        Whatever the extension (the book's scripts say ``params.pkl``), the content is an
        .npz archive with the network's class, configuration and dtype as metadata.
        """
        arrays = {k: v for k, v in self.params.items()}
        arrays.update(self._extra_state())
        meta = {"network": type(self).__name__, "config": self.config,
                "dtype": self.dtype.name, "cconv": __version__}
        save_npz_atomic(file_name, arrays, meta)
        return file_name

    def _extra_state(self):
        """Non-parameter state to save (BatchNorm running statistics)."""
        out = {}
        for lname, layer in self.layers.items():
            if isinstance(layer, BatchNormalization) and layer.running_mean is not None:
                out[f"{lname}/running_mean"] = layer.running_mean
                out[f"{lname}/running_var"] = layer.running_var
        return out

    def load_params(self, file_name="params.npz", cast=False):
        """Read parameters written by :meth:`save_params` (or the book's ``.pkl``).

        Values are copied into the existing arrays, so the layers and any optimizer
        keep seeing the same objects. Names, shapes and dtypes are checked first; on
        any mismatch nothing is changed and :class:`ParamsFileError` says what differs.
        ``cast=True`` accepts another float dtype and converts it.
        """
        path = os.fspath(file_name)
        with open(path, "rb") as f:
            head = f.read(4)
        if head[:2] == b"PK":
            try:
                arrays, meta = load_npz(path)
            except ValueError as exc:
                raise ParamsFileError(str(exc)) from None
        elif head[:1] == b"\x80":
            arrays, meta = load_book_pickle(path), None
        else:
            raise ParamsFileError(f"{path}: neither an .npz archive nor a params pickle")
        name = type(self).__name__
        if meta is not None and not isinstance(meta, dict):  # load_npz returns dicts only
            raise ParamsFileError(f"{path}: its metadata is not a JSON object")
        if meta and meta.get("network") not in (None, name):
            raise ParamsFileError(f"{path} holds parameters of a {meta['network']}, "
                                  f"not of this {name}")
        extra = {k: v for k, v in arrays.items() if "/" in k}
        arrays = {k: v for k, v in arrays.items() if "/" not in k}
        missing = sorted(set(self.params) - set(arrays))
        unknown = sorted(set(arrays) - set(self.params))
        if missing or unknown:
            raise ParamsFileError(f"{path}: parameter names differ from this {name}'s: "
                                  f"missing {missing}, unexpected {unknown}")
        for k, v in arrays.items():
            p = self.params[k]
            if v.shape != p.shape:
                raise ParamsFileError(f"{path}: {k} has shape {v.shape}, this {name} "
                                      f"needs {p.shape}")
            if v.dtype != p.dtype and not (cast and v.dtype.kind == "f"):
                raise ParamsFileError(f"{path}: {k} has dtype {v.dtype}, this {name} uses "
                                      f"{p.dtype} (pass cast=True to convert)")
            if not np.all(np.isfinite(v)):
                raise ParamsFileError(f"{path}: {k} contains NaN or inf")
        for k, v in arrays.items():
            np.copyto(self.params[k], v, casting="unsafe" if cast else "same_kind")
        for key, v in extra.items():
            lname, attr = key.split("/", 1)
            layer = self.layers.get(lname)
            if isinstance(layer, BatchNormalization) and attr in ("running_mean", "running_var"):
                setattr(layer, attr, v.astype(self.dtype))
        return self

    def layer_param_keys(self, lname):
        """The params keys held by layer ``lname`` (e.g. ``['W1', 'b1']``)."""
        return [k for k, (ln, _) in self._param_map.items() if ln == lname]

    # -- your own digit, and the summary (Jupyter shows _repr_html_) -----------------
    def predict_image(self, image, *, invert=None, class_names=None):
        """Class and probabilities of a picture of a digit: see :func:`cconv.predict.predict_image`.

        ``image`` is a file path or an array; it is preprocessed as MNIST's digits were
        made (:func:`cconv.preprocess.to_mnist`). Returns a :class:`cconv.predict.Prediction`
        (``.label``, ``.probabilities``, ``.top(3)``, ``.image``).
        """
        from ..predict import predict_image
        return predict_image(self, image, invert=invert, class_names=class_names)

    def summary(self):
        """The summary table (layers, output shapes, parameter counts, dtype) as text."""
        from .._summary import summary_text
        return summary_text(self)

    def __repr__(self):
        return self.summary()

    def _repr_html_(self):
        from .._summary import summary_html
        return summary_html(self)
