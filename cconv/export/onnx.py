"""cconv networks as ONNX graphs, written with the ``onnx`` package (``onnx.helper``).

The graph computes ``network.predict`` (test mode) on an input ``x`` of shape
(N, C, H, W) with a dynamic batch dimension ``N``, and outputs ``scores`` (N, K), or
``probabilities`` with ``softmax=True``. Its initializers carry the names of
:func:`cconv.export.state_dict` (``Conv1.weight``, ``Affine1.bias``, ...).

What maps to what: Convolution -> Conv; Relu/Tanh/Sigmoid -> Relu/Tanh/Sigmoid;
Pooling -> MaxPool and AvgPooling -> AveragePool (``count_include_pad=1``: cconv
divides every window by pool_h*pool_w, padding included), both with ``pads``; LRN ->
LRN for an odd ``size`` (ONNX's window is cconv's then), else the same formula from
Pad, Slice, Add, Mul and Pow (ONNX centres an even window one channel later than
cconv and PyTorch do); Affine -> Flatten + Gemm (``transB=1``); BatchNormalization ->
BatchNormalization (with Flatten and Reshape around it for (C, H, W) inputs: the book
normalises each of the C*H*W features on its own); the book's Dropout -> Mul by
``1 - ratio``; Normalize -> Sub, Div.

float32 and float64 graphs are both valid ONNX; onnxruntime 1.32's CPU provider runs
float32 graphs, but has no float64 kernels for Conv, AveragePool and LRN, so a float64
graph of any of cconv's networks does not load there (``onnx.reference`` runs it).
"""
import json

import numpy as np

from .. import __version__
from ..io.npz import atomic_write
from ._optional import require
from .graph import _dtype, describe, input_shape, state_dict

__all__ = ["to_onnx", "OPSET"]

OPSET = 17
IR_VERSION = 8   # what opset 17 needs; older runtimes read it too


class _Graph:
    """Nodes and initializers under construction; ``cur`` names the running tensor."""

    def __init__(self, onnx, dtype):
        self.onnx, self.dtype = onnx, dtype
        self.nodes, self.inits = [], []
        self.cur = "x"

    def const(self, name, value, dtype=None):
        a = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        self.inits.append(self.onnx.numpy_helper.from_array(a, name))
        return name

    def node(self, op, inputs, out, **attrs):
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def step(self, op, out, *extra, **attrs):
        """``op`` of the running tensor (and ``extra`` inputs) into ``out``."""
        self.cur = self.node(op, [self.cur, *extra], out, **attrs)
        return self.cur


def _window(a):
    (ph, pw) = a["pad"]
    return dict(kernel_shape=list(a["kernel"]), strides=list(a["stride"]),
                pads=[ph, pw, ph, pw])


def _lrn_formula(g, s):
    """``x * (k + alpha/size * window sum of x**2) ** -beta`` over cconv's channel window
    ``[c - size//2, c + (size-1)//2]``, from primitive operators."""
    a, n, C = s.attrs, s.name, s.in_shape[0]
    size = a["size"]
    x = g.cur
    sq = g.node("Mul", [x, x], f"{n}/square")
    before, after = size // 2, (size - 1) // 2
    padded = g.node("Pad", [sq, g.const(f"{n}.pads", [0, before, 0, 0, 0, after, 0, 0],
                                        np.int64)], f"{n}/padded")
    axis = g.const(f"{n}.axis", [1], np.int64)
    total = None
    for i in range(size):   # increasing channel order, as cconv's kernel adds them
        part = g.node("Slice", [padded, g.const(f"{n}.start{i}", [i], np.int64),
                                g.const(f"{n}.end{i}", [i + C], np.int64), axis],
                      f"{n}/window{i}")
        total = part if total is None else g.node("Add", [total, part], f"{n}/sum{i}")
    scaled = g.node("Mul", [total, g.const(f"{n}.alpha", a["alpha"] / size)], f"{n}/scaled")
    scale = g.node("Add", [scaled, g.const(f"{n}.k", a["k"])], f"{n}/scale")
    power = g.node("Pow", [scale, g.const(f"{n}.minus_beta", -a["beta"])], f"{n}/power")
    g.cur = g.node("Mul", [x, power], n)


def _emit(g, s):
    a, n, op = s.attrs, s.name, s.op
    simple = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid"}
    if op in simple:
        g.step(simple[op], n)
    elif op == "conv":
        g.step("Conv", n, f"{n}.weight", f"{n}.bias", **_window(a))
    elif op == "maxpool":
        g.step("MaxPool", n, **_window(a))
    elif op == "avgpool":
        g.step("AveragePool", n, count_include_pad=1, **_window(a))
    elif op == "lrn":
        if a["size"] % 2:
            g.step("LRN", n, size=a["size"], alpha=a["alpha"], beta=a["beta"], bias=a["k"])
        else:
            _lrn_formula(g, s)
    elif op == "flatten":
        g.step("Flatten", n, axis=1)
    elif op == "linear":
        g.step("Gemm", n, f"{n}.weight", f"{n}.bias", transB=1)
    elif op == "batchnorm":
        spatial = len(s.in_shape) > 1
        if spatial:
            g.step("Flatten", f"{n}/flat", axis=1)
        g.step("BatchNormalization", f"{n}/bn" if spatial else n, f"{n}.weight", f"{n}.bias",
               f"{n}.running_mean", f"{n}.running_var", epsilon=a["eps"])
        if spatial:
            g.step("Reshape", n, g.const(f"{n}.shape", [-1, *s.in_shape], np.int64))
    elif op == "dropout":   # the book's test-time rule
        g.step("Mul", n, g.const(f"{n}.scale", 1.0 - a["dropout_ratio"]))
    elif op == "normalize":
        g.step("Sub", f"{n}/centred", g.const(f"{n}.mean", a["mean"]))
        g.step("Div", n, g.const(f"{n}.std", a["std"]))
    else:  # pragma: no cover - graph.EXPORTERS and this function list the same ops
        raise AssertionError(f"no ONNX operator for step {op!r}")


def to_onnx(network, path, softmax=False, dtype=None):
    """Write ``network`` as an ONNX model.

    Parameters
    ----------
    network : cconv network
    path : str or os.PathLike
        The ``.onnx`` file to write.
    softmax : bool, default False
        End with a Softmax: the output is then ``probabilities`` instead of ``scores``.
    dtype : float32 or float64, optional
        Default: the network's dtype (see the module notes on float64 and onnxruntime).

    Returns
    -------
    path

    Raises
    ------
    ImportError
        The ``onnx`` package is not installed (``pip install "cconv[export]"``).
    TypeError
        A layer has no exporter.
    """
    onnx = require("onnx", "cconv.export.to_onnx")
    from onnx import TensorProto, helper
    dt = _dtype(network, dtype)
    elem = TensorProto.FLOAT if dt == np.float32 else TensorProto.DOUBLE
    steps = describe(network)
    g = _Graph(onnx, dt)
    for k, v in state_dict(network, dt).items():
        g.const(k, v)
    for s in steps:
        _emit(g, s)
    k_out = steps[-1].out_shape if steps else input_shape(network)
    out = "scores"
    if softmax:
        g.step("Softmax", "probabilities", axis=1)
        out = "probabilities"
    else:
        g.step("Identity", "scores")
    graph = helper.make_graph(
        g.nodes, type(network).__name__, [helper.make_tensor_value_info(
            "x", elem, ["N", *input_shape(network)])],
        [helper.make_tensor_value_info(out, elem, ["N", *k_out])], initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="cconv", producer_version=__version__,
                              ir_version=IR_VERSION)
    meta = {"network": type(network).__name__, "dtype": dt.name,
            "config": json.dumps(getattr(network, "config", {}))}
    helper.set_model_props(model, meta)
    data = model.SerializeToString()
    atomic_write(path, lambda f: f.write(data))
    return path
