"""What every cconv network shares: named layers, the book's methods, parameter files.

A network is an ordered dict of named layers (``network.layers``) ending in a
``SoftmaxWithLoss`` (``network.last_layer``), and ``network.params``, whose arrays are
the very arrays the layers hold (the book's optimizers update them in place). Layers
are found by name, never by position (the book's DeepConvNet hard-codes indices).
"""
import contextlib
import contextvars
import os
from collections import OrderedDict

import numpy as np

from .. import __version__
from .._checks import float_array, integer, pair
from .._threads import resolve_threads
from ..functions import target_labels
from ..gradient import numerical_gradient
from ..io.book_pickle import ParamsFileError, load_book_pickle
from ..io.files import open_regular
from ..io.npz import load_npz, save_npz_atomic
from ..nn.activation import Relu, Tanh
from ..nn.conv import Convolution
from ..nn.linear import Affine
from ..nn.pooling import Pooling
from ..ops.geometry import out_size as conv_out  # noqa: F401  (for the networks)
from ..ops.geometry import window_geometry

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


_budget = contextvars.ContextVar("cconv_parameter_budget", default=None)


@contextlib.contextmanager
def parameter_budget(n_values, what):
    """Within the block, the weights networks draw (:func:`randn`) may hold at most
    ``n_values`` values in all; a network whose configuration asks for more raises
    ParamsFileError before allocating (``load_network``: a small file whose config
    asks for huge layers). ``what`` names the source in the message."""
    token = _budget.set([int(n_values), what])
    try:
        yield
    finally:
        _budget.reset(token)


def randn(rng, shape, dtype):
    budget = _budget.get()
    if budget is not None:
        n = 1
        for d in shape:
            n *= int(d)
        if n > budget[0]:
            raise ParamsFileError(f"{budget[1]}: its configuration asks for a weight of "
                                  f"shape {tuple(shape)} ({n:,} values), more than the "
                                  f"{budget[0]:,} values the file can still account for")
        budget[0] -= n
    a = np.random.randn(*shape) if rng is None else rng.standard_normal(shape)
    return a.astype(dtype, copy=False)


def check_input_dim(input_dim):
    """``input_dim`` as a validated (C, H, W) tuple of positive ints (else ValueError).

    Integral floats (``28.0``) are taken, as ``int()`` used to.
    """
    try:
        dims = tuple(integer(v, "input_dim", low=1, integral_float=True) for v in input_dim)
    except (TypeError, ValueError):
        dims = ()
    if len(dims) != 3:
        raise ValueError(f"input_dim must be (C, H, W) with three positive ints, got "
                         f"{input_dim!r}")
    return dims


def _read_params_file(path):
    """``(arrays, meta)`` of a params file: cconv's .npz or the book's pickle."""
    with open_regular(path) as f:
        head = f.read(4)
    if head[:2] == b"PK":
        try:
            return load_npz(path)
        except ValueError as exc:
            raise ParamsFileError(str(exc)) from None
    if head[:1] == b"\x80":
        return load_book_pickle(path), None
    raise ParamsFileError(f"{path}: neither an .npz archive nor a params pickle")


def _fusable(layer, nxt):
    """A Convolution or an Affine and the Relu after it, all of exactly those classes
    and neither with a forward of its own set on the instance (a hook, a patch): then
    the ReLU can run in the layer's epilogue (``forward_relu``)."""
    return (type(layer) in (Convolution, Affine) and type(nxt) is Relu
            and "forward" not in vars(layer) and "forward" not in vars(nxt))


def _from_pool(conv, relu, pool):
    """A Convolution (exact class, no backward set on the instance) without an input
    gradient, then its Relu and a 2x2 stride-2 max Pooling whose backward takes the
    Relu's (:func:`_takes_relu`): the convolution's dW can come from the pooling's
    gradient directly (:meth:`Convolution.backward_from_pool`)."""
    return (type(conv) is Convolution and "backward" not in vars(conv)
            and "backward_from_pool" not in vars(conv)
            and not conv.need_dx and _takes_relu(pool, relu) and type(pool) is Pooling
            and "routing" not in vars(pool) and pool.arg_max is not None
            and _last_window(pool) == (2, 2, 2, 2, 0, 0))


def _last_window(pool):
    """The window of a pooling's last forward, (ph, pw, sh, sw, pad_h, pad_w), or None."""
    try:
        ph, pw, stride, pad = pool._geometry
        return (int(ph), int(pw), *pair(stride, "stride"), *pair(pad, "pad"))
    except (TypeError, ValueError):
        return None


def _check_threads(*layers):
    """Refuse a bad ``n_threads`` of layers whose work another layer's epilogue does, as
    their own forward would (ValueError or TypeError), before anything runs."""
    for layer in layers:
        resolve_threads(layer.n_threads)


def _poolable(conv, pool, x):
    """A max Pooling of exactly that class, no forward set on the instance, 2x2 windows,
    stride 2, no padding (the book's), after a convolution whose output for ``x`` is at
    least 2x2: the convolution's epilogue can pool."""
    if type(pool) is not Pooling or "forward" in vars(pool) or np.ndim(x) != 4:
        return False
    try:
        if (pool.window != (2, 2, 2, 2, 0, 0) or type(conv.W) is not np.ndarray
                or conv.W.ndim != 4):
            return False
        oh, ow, *_ = window_geometry(np.shape(x), conv.W.shape[2], conv.W.shape[3],
                                     conv.stride, conv.pad)
    except (TypeError, ValueError):
        return False   # the layers' own calls report it
    return oh >= 2 and ow >= 2


def _input_of(layer):
    """The layer's last input as it holds it (a Pooling's ``_x`` may be a DeferredOutput,
    which this leaves unmade)."""
    held = vars(layer)
    return held["_x"] if "_x" in held else held.get("x")


def _takes_relu(layer, relu):
    """A Convolution or max Pooling whose input is the output of the Relu before it
    (exact classes, no backward set on either instance): its backward can take the
    ReLU's in the same pass (``backward_with_relu``)."""
    return (type(relu) is Relu and type(layer) in (Convolution, Pooling)
            and relu._out is not None and _input_of(layer) is relu._out
            and "backward" not in vars(layer) and "backward" not in vars(relu))


class Network:
    """Base class of cconv's CNNs (SimpleConvNet, DeepConvNet, LeNet, AlexNet).

    Subclasses build their layers with :meth:`add`, naming each parameter once::

        self.add('Conv1', Convolution(W, b, stride, pad), 'W1', 'b1')

    From the layers' protocol (:class:`cconv.nn.Layer`) the network derives ``params``
    (the layers' very arrays), ``param_map``, the ``train_flg`` routing of ``predict``,
    and what :meth:`save_params` writes and :meth:`load_params` reads (parameters, then
    each layer's buffers under ``'<layer>/<buffer>'``).
    """

    def __init__(self, dtype=np.float64):
        self.dtype = resolve_dtype(dtype)
        self.params = {}
        self.layers = OrderedDict()
        self.last_layer = None
        self.param_map = {}
        self.last_loss = None
        self.config = {}

    @property
    def _param_map(self):   # the name it had before the layer protocol
        return self.param_map

    def add(self, name, layer, *keys):
        """Append ``layer`` as ``name``; ``keys`` name its parameters in ``params``.

        ``keys`` pair with ``layer.param_names`` in order (``'W1', 'b1'`` for a
        Convolution's ``W``, ``b``). Returns the layer.
        """
        if name in self.layers:
            raise ValueError(f"{type(self).__name__} already has a layer {name!r}")
        if len(keys) != len(layer.param_names):
            raise ValueError(f"layer {name} has parameters {list(layer.param_names)}, "
                             f"got keys {list(keys)}")
        for key, attr in zip(keys, layer.param_names):
            if key in self.params:
                raise ValueError(f"parameter key {key!r} is used twice")
            self.params[key] = getattr(layer, attr)
            self.param_map[key] = (name, attr)
        self.layers[name] = layer
        return layer

    # -- the book's methods --------------------------------------------------
    def _cast(self, x):
        # The kernels' dtype policy (complex, str, object... raise TypeError), then the
        # network's own dtype.
        x = float_array(x, "x")
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        return x

    def predict(self, x, train_flg=False):
        """Scores (N, output_size) for input ``x`` (N, C, H, W) (flat rows are reshaped).

        ``x`` is converted to the network's dtype. ``train_flg`` switches Dropout and
        BatchNormalization to training behaviour.
        """
        return self._run(self._input(x), train_flg)

    def forward_until(self, x, name, train_flg=False):
        """The output of layer ``name`` (e.g. ``'Conv1'``, ``'Relu1'``) for input ``x``."""
        if name not in self.layers:
            raise KeyError(f"no layer {name!r}; layers are {list(self.layers)}")
        return self._run(self._input(x), train_flg, stop=name)

    def _run(self, x, train_flg, stop=None):
        """The layers in order, up to and including ``stop`` (None: all). A Convolution
        or an Affine followed by a Relu runs as one pass (``forward_relu`` and
        :meth:`Relu.take_output`) unless the output between them is asked for."""
        items = list(self.layers.items())
        i = 0
        while i < len(items):
            lname, layer = items[i]
            nxt = items[i + 1] if lname != stop and i + 1 < len(items) else None
            if (nxt is not None and nxt[0] != stop and i + 2 < len(items)
                    and type(layer) is Convolution and _fusable(layer, nxt[1])
                    and _poolable(layer, items[i + 2][1], x)):
                relu, pool = nxt[1], items[i + 2][1]
                _check_threads(relu, pool)   # (the kernels run with the first's count)
                # nothing in a step reads the convolution's own output: never stored
                # outside training, and made on first use in it (DeferredOutput)
                # outside training, no argmax either: no backward will read it
                y, pooled, arg = layer.forward_relu_pool(
                    x, keep_output="deferred" if train_flg else False, copy_input=i == 0,
                    need_arg=bool(train_flg))
                x = pool.take_output(pooled, arg, relu.take_output(y))
                i += 3
            elif nxt is not None and _fusable(layer, nxt[1]):
                _check_threads(nxt[1])
                x = nxt[1].take_output(layer.forward_relu(x))
                i += 2
            elif not train_flg and type(layer) is Tanh and "forward" not in vars(layer):
                x = layer.forward_inference(x)   # (no copy for a backward)
                i += 1
            else:
                x = layer.call(x, train_flg)
                i += 1
            if items[i - 1][0] == stop:   # the last layer of this step was asked for
                return x
        return x

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
        of samples predicted as class 0. ``t`` must hold one target per sample of ``x``:
        integer labels (N,) or (N, 1) in ``[0, output_size)``, or one-hot rows
        (N, output_size); anything else raises (the book compares what broadcasting
        makes of it). 0.0 for an empty ``x``.
        """
        batch_size = integer(batch_size, "batch_size", low=1)
        x = self._input(x)
        t = self._targets(t, len(x))
        n = len(x)
        if n == 0:
            return 0.0
        acc = 0
        for i in range(0, n, batch_size):
            y = self.predict(x[i:i + batch_size])
            acc += int(np.sum(np.argmax(y, axis=1) == t[i:i + batch_size]))
        return acc / n

    def _targets(self, t, n):
        """``t`` as integer labels (n,), from labels or one-hot rows (else an error)."""
        t = np.asarray(t)
        k = self._n_classes()
        if t.shape == (n, 1) and k != 1:   # a column of labels (the book's gradient check)
            t = t[:, 0]
        if t.ndim == 2 and t.shape[0] == n and (k is None or t.shape[1] == k):
            if t.dtype.kind not in "biuf":
                raise TypeError(f"one-hot targets must be numbers, got dtype {t.dtype}")
            return np.argmax(t, axis=1) if n else np.zeros(0, dtype=np.intp)
        if t.shape != (n,):
            raise ValueError(f"t has shape {t.shape}; for {n} samples it must be labels "
                             f"({n},) or one-hot ({n}, {k if k is not None else 'K'})")
        if n and t.dtype.kind not in "iu":
            raise TypeError(f"label targets must be integers, got dtype {t.dtype} (pass "
                            "one-hot targets of shape (N, K) or integer labels)")
        if n and k is not None and (t.min() < 0 or t.max() >= k):
            raise ValueError(f"labels must lie in [0, {k}) for {k} classes, got "
                             f"[{t.min()}, {t.max()}]")
        return t

    def _n_classes(self):
        """The number of classes the network scores (``output_size``), or None."""
        k = self.config.get("output_size")
        return int(k) if isinstance(k, (int, np.integer)) else None

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
        layers = list(reversed(self.layers.values()))
        i = 0
        while i < len(layers):
            layer = layers[i]
            if i + 2 < len(layers) and _from_pool(layers[i + 2], layers[i + 1], layer):
                # Conv -> Relu -> Pooling of a first layer: its dW from the pooling's
                # gradient, which is never spread out to the convolution's output
                _check_threads(layers[i + 1], layer)
                dout = layers[i + 2].backward_from_pool(*layer.routing(dout))
                i += 3
            elif i + 1 < len(layers) and _takes_relu(layer, layers[i + 1]):
                _check_threads(layers[i + 1])
                dout = layer.backward_with_relu(dout)   # and the Relu before it
                i += 2
            else:
                dout = layer.backward(dout)
                i += 1
            if dout is None:  # a first Convolution with need_dx=False
                break
        grads = {}
        for key, (lname, attr) in self.param_map.items():
            layer = self.layers[lname]
            grads[key] = getattr(layer, layer.grad_name(attr))
        return grads

    def numerical_gradient(self, x, t, h=None):
        """Central-difference gradients of every parameter (slow: for checks only)."""
        return {key: numerical_gradient(lambda _: self.loss(x, t, train_flg=True), p, h)
                for key, p in self.params.items()}

    # -- parameter files -------------------------------------------------------
    def buffers(self):
        """``{'<layer>/<buffer>': array}`` of every layer's buffers that are set."""
        return {f"{lname}/{b}": v for lname, layer in self.layers.items()
                for b, v in layer.buffers().items() if v is not None}

    def save_params(self, file_name="params.npz"):
        """Write the parameters atomically as a pickle-free ``.npz``.

        Whatever the extension (the book's scripts say ``params.pkl``), the content is an
        .npz archive with the network's class, configuration and dtype as metadata, and
        the layers' buffers (BatchNormalization's running statistics). A ``run_id``
        attribute (``cconv train`` sets one) is written too, so that the files of one
        run can be told from another's.
        """
        arrays = dict(self.params)
        arrays.update(self.buffers())
        meta = {"network": type(self).__name__, "config": self.config,
                "dtype": self.dtype.name, "cconv": __version__}
        if getattr(self, "run_id", None) is not None:   # set by `cconv train`
            meta["run_id"] = self.run_id
        save_npz_atomic(file_name, arrays, meta)
        return file_name

    def load_params(self, file_name="params.npz", cast=False):
        """Read parameters written by :meth:`save_params` (or the book's ``.pkl``).

        Values are copied into the existing arrays, so the layers and any optimizer
        keep seeing the same objects. Names, shapes, dtypes and buffers are all checked
        first; on any mismatch nothing is changed and :class:`ParamsFileError` says what
        differs. ``cast=True`` accepts another float dtype and converts it.
        """
        path = os.fspath(file_name)
        arrays, meta = _read_params_file(path)
        name = type(self).__name__
        if meta is not None and not isinstance(meta, dict):  # load_npz returns dicts only
            raise ParamsFileError(f"{path}: its metadata is not a JSON object")
        if meta and meta.get("network") not in (None, name):
            raise ParamsFileError(f"{path} holds parameters of a {meta['network']}, "
                                  f"not of this {name}")
        extra = {k: v for k, v in arrays.items() if "/" in k}
        arrays = {k: v for k, v in arrays.items() if "/" not in k}
        self._check_params(path, arrays, cast)
        buffers = self._check_buffers(path, extra)
        for k, v in arrays.items():
            np.copyto(self.params[k], v, casting="unsafe" if cast else "same_kind")
        for (layer, attr), v in buffers.items():
            setattr(layer, attr, v)
        return self

    def _check_params(self, path, arrays, cast):
        name = type(self).__name__
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

    def _check_buffers(self, path, extra):
        """``{(layer, attr): checked value}`` of the file's ``'<layer>/<buffer>'`` entries."""
        out = {}
        for key, v in extra.items():
            lname, attr = key.split("/", 1)
            layer = self.layers.get(lname)
            if layer is None or attr not in layer.buffer_names:
                continue   # state of another cconv version: not this network's to hold
            try:
                out[(layer, attr)] = layer.check_buffer(attr, v).astype(self.dtype)
            except (TypeError, ValueError) as exc:
                raise ParamsFileError(f"{path}: {key}: {exc}") from None
        return out

    def layer_param_keys(self, lname):
        """The params keys held by layer ``lname`` (e.g. ``['W1', 'b1']``)."""
        return [k for k, (ln, _) in self.param_map.items() if ln == lname]

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
