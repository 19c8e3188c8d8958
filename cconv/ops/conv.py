"""Convolution (cross-correlation, as in the book) by cconv's convolution engine, and
its gradients.

Kernels: ``src/_conv.pyx`` over the C engine in ``src/conv/`` (direct convolution: an
implicit GEMM that reads its operand in place and never stores the columns; bias, and
optionally ReLU, applied while the sums are in registers; one OpenMP region per call,
GIL released; the instruction-set variant chosen at import; Winograd F(2x2, 3x3) for the
3x3 stride-1 shapes where it measured faster, :func:`use_winograd`), plus the bias kernels;
NumPy reference: :mod:`cconv.ops.reference.conv`. :func:`conv_forward` and
:func:`conv_backward` are the door the :class:`~cconv.nn.conv.Convolution` layer goes
through: each checks its arguments once, taking every size from the arrays it is handed.
``dW`` sums per-chunk partial sums in chunk order, the chunks fixed by the shapes alone,
so results do not depend on the thread count. :func:`conv_isa` and :func:`use_conv_isa`
report and choose the instruction-set variant; ``CCONV_ISA=baseline|avx2|avx512``
chooses it when this module is imported, and a value that cannot be honoured (unknown, or
a variant this build or CPU lacks) makes every call here raise
:class:`~cconv._checks.ConfigError` naming it.
"""
import os

import numpy as np

from .. import _conv
from .._checks import ConfigError, float_array
from .._threads import resolve_threads
from ._buffers import output, same_dtype
from .geometry import check_4d, window_geometry
from .im2col import im2col

__all__ = ["ConvSaved", "conv_forward", "conv_forward_relu_pool", "conv_backward",
           "conv_backward_from_pool",
           "bias_add_", "sum_channels", "conv_isa", "use_conv_isa", "fma_flops", "winograd",
           "use_winograd", "cvec", "use_cvec"]


class ConvSaved:
    """What :func:`conv_backward` needs from a forward pass.

    Attributes
    ----------
    x : ndarray (N, C, H, W)
        The forward's input (C-contiguous).
    colT : None
        Kept for the interface: the engine stores no columns (see ``col``).
    w_shape : tuple
        ``W.shape`` of the forward, (FN, C, FH, FW).
    geometry : tuple
        ``(FH, FW, sh, sw, ph, pw)``, the kernels' window arguments.
    out_shape : tuple
        (N, FN, OH, OW), the shape ``dout`` must have.
    """

    __slots__ = ("x", "colT", "w_shape", "geometry", "out_shape")

    def __init__(self, x, colT, w_shape, geometry, out_shape):
        self.x, self.colT, self.w_shape = x, colT, w_shape
        self.geometry, self.out_shape = geometry, out_shape

    @property
    def col(self):
        """The input in the book's im2col layout (N*OH*OW, C*FH*FW), made on demand."""
        FH, FW, sh, sw, ph, pw = self.geometry
        return im2col(self.x, FH, FW, (sh, sw), (ph, pw))


def _apply_cconv_isa():
    """Select the variant CCONV_ISA names; the error to raise at first use, or None."""
    want = os.environ.get("CCONV_ISA", "").strip().lower()
    if not want or want == "auto":
        return None
    try:
        _conv.select_isa(want)
    except (ValueError, RuntimeError) as exc:
        return ConfigError(f"CCONV_ISA={want!r} cannot be used: {exc} (unset it, or set "
                           "it to auto to let the CPU choose)")
    return None


_CCONV_ISA_ERROR = _apply_cconv_isa()


def _engine():
    """The engine module, once CCONV_ISA is known to be honoured (else ConfigError)."""
    if _CCONV_ISA_ERROR is not None:
        raise _CCONV_ISA_ERROR
    return _conv


def _weights(W, b):
    W = float_array(W, "W")
    b = float_array(b, "b")
    if W.ndim != 4:
        raise ValueError(f"W must be 4-D (FN, C, FH, FW), got shape {W.shape}")
    if b.ndim != 1 or b.shape[0] != W.shape[0]:
        raise ValueError(f"b has shape {b.shape} but W of shape {W.shape} has "
                         f"{W.shape[0]} filters: b must be ({W.shape[0]},)")
    return W, b


def _forward_args(x, W, b, stride, pad):
    """A forward's arguments checked: ``(x, W, b, (N, C, FN, FH, FW, OH, OW, sh, sw, ph,
    pw))``, ``x`` C-contiguous."""
    W, b = _weights(W, b)
    x = float_array(x, "x")
    check_4d(x, "x")
    FN, C, FH, FW = W.shape
    if x.shape[1] != C:
        raise ValueError(f"x has {x.shape[1]} channels but W of shape {W.shape} expects {C}")
    oh, ow, sh, sw, ph, pw = window_geometry(x.shape, FH, FW, stride, pad)
    return (np.ascontiguousarray(x), W, b,
            (x.shape[0], C, FN, FH, FW, oh, ow, sh, sw, ph, pw))


def conv_forward(x, W, b, stride=1, pad=0, *, n_threads=None, saved=None, relu=False):
    """Convolve ``x`` (N, C, H, W) with filters ``W`` (FN, C, FH, FW), add ``b`` (FN,).

    Returns ``(out, saved)``: ``out`` (N, FN, OH, OW), C-contiguous in ``x``'s dtype,
    ``OH = (H + 2*pad - FH) // stride + 1`` (with ``relu``, ``max(out, 0)``, NaN passing
    as in the book's mask); ``saved``, a :class:`ConvSaved` for :func:`conv_backward`
    (``saved=`` is accepted for the interface; the engine keeps no buffers).
    """
    x, W, b, (N, C, FN, FH, FW, oh, ow, sh, sw, ph, pw) = _forward_args(x, W, b, stride, pad)
    out = output(None, (N, FN, oh, ow), x.dtype, "out")
    if C == 0:   # no input channels: every output is its bias
        out[...] = np.asarray(b, dtype=x.dtype)[None, :, None, None]
        if relu:
            np.maximum(out, 0, out=out)   # NaN passes, as in the book's mask
    else:
        _engine().forward_into(x, np.ascontiguousarray(W, dtype=x.dtype),
                           np.ascontiguousarray(b, dtype=x.dtype), out, sh, sw, ph, pw,
                           bool(relu), resolve_threads(n_threads))
    return out, ConvSaved(x, None, W.shape, (FH, FW, sh, sw, ph, pw), (N, FN, oh, ow))


def conv_forward_relu_pool(x, W, b, stride=1, pad=0, *, keep_output=True, need_arg=True,
                           n_threads=None):
    """``maxpool(relu(conv_forward(x, W, b)))`` over 2x2 windows, stride 2, in one pass:
    the pooling is done from the sums while they are in cache.

    Returns ``(out, pooled, arg, saved)``: ``out`` the rectified convolution output as
    :func:`conv_forward` with ``relu=True`` gives it (None unless ``keep_output``: then it
    is never written), ``pooled`` and ``arg`` (uint16, each window's argmax
    ``kh * 2 + kw``) exactly as :func:`~cconv.ops.pooling.maxpool_forward` gives them for
    ``out`` (``arg`` None unless ``need_arg``: an inference pass, which the indices would
    only slow down), and ``saved`` for :func:`conv_backward`. The output must be at
    least 2x2.
    """
    x, W, b, (N, C, FN, FH, FW, oh, ow, sh, sw, ph, pw) = _forward_args(x, W, b, stride, pad)
    if oh < 2 or ow < 2:
        raise ValueError(f"the convolution's output is {oh}x{ow}; a 2x2 pooling needs "
                         "at least 2x2")
    if C == 0:   # no input channels: every output is its bias; the plain path
        from .pooling import maxpool_forward
        y, saved = conv_forward(x, W, b, (sh, sw), (ph, pw), relu=True, n_threads=n_threads)
        pooled, arg = maxpool_forward(y, 2, 2, 2, 0, n_threads=n_threads)
        return (y if keep_output else None), pooled, (arg if need_arg else None), saved
    out = output(None, (N, FN, oh, ow), x.dtype, "out") if keep_output else None
    pooled = output(None, (N, FN, oh // 2, ow // 2), x.dtype, "pooled")
    arg = np.empty(pooled.shape, np.uint16) if need_arg else None
    _engine().forward_pool_into(x, np.ascontiguousarray(W, dtype=x.dtype),
                                np.ascontiguousarray(b, dtype=x.dtype), out, pooled, arg,
                                sh, sw, ph, pw, True, resolve_threads(n_threads))
    return out, pooled, arg, ConvSaved(x, None, W.shape, (FH, FW, sh, sw, ph, pw),
                                       (N, FN, oh, ow))


def _backward_weights(saved, W):
    """``W`` for a backward of the forward that left ``saved`` (else TypeError or
    ValueError naming what is wrong)."""
    if not isinstance(saved, ConvSaved):
        raise TypeError(f"saved must be the ConvSaved of conv_forward, not "
                        f"{type(saved).__name__}")
    W = float_array(W, "W")
    if W.shape != saved.w_shape:
        raise ValueError(f"W has shape {W.shape}, the forward pass used {saved.w_shape}")
    return W


def conv_backward(dout, saved, W, *, need_dx=True, need_dW=True, n_threads=None,
                  relu_input=False):
    """Gradients of :func:`conv_forward`: returns ``(dx, dW, db)``.

    ``dout`` must have exactly the forward output's shape (N, FN, OH, OW); ``W`` the
    forward's filter shape. ``dx`` (N, C, H, W) is None when ``need_dx`` is False (a
    network's first layer), ``dW`` and ``db`` when ``need_dW`` is False. Arrays are in
    the forward input's dtype. ``relu_input``: the forward's input was a ReLU's output,
    and ``dx`` is taken through that ReLU too (0 where the input was <= 0), in the same
    pass.
    """
    W = _backward_weights(saved, W)
    x = saved.x
    dt = x.dtype
    dout = float_array(dout, "dout")
    if dout.shape != saved.out_shape:
        raise ValueError(f"dout has shape {dout.shape}, the forward output was "
                         f"{saved.out_shape}")
    d = np.ascontiguousarray(dout, dtype=dt)
    _, _, sh, sw, ph, pw = saved.geometry
    nt = resolve_threads(n_threads)
    engine = _engine()
    dx = dW = db = None
    if need_dW:
        dW = np.empty(W.shape, dtype=dt)
        db = np.empty(W.shape[0], dtype=dt)
        if W.size == 0:   # no input channels: no weights, yet every filter has its bias
            db[...] = d.sum(axis=(0, 2, 3))
        else:
            engine.backward_filter_into(x, d, dW, db, sh, sw, ph, pw, nt)
    if need_dx:
        dx = np.empty(x.shape, dtype=dt)
        if W.shape[0] == 0:   # no filters: nothing flows back
            dx[...] = 0
        else:
            engine.backward_data_into(d, same_dtype(np.ascontiguousarray(W), dt), dx,
                                     sh, sw, ph, pw, nt, x if relu_input else None)
    return dx, dW, db


def conv_backward_from_pool(dpool, arg, saved, W, *, gate=None, n_threads=None):
    """``(dW, db)`` of :func:`conv_forward` for the output gradient that a 2x2 stride-2
    max pooling of its output gives back: ``dpool`` (N, FN, OH//2, OW//2) to each
    window's argmax ``arg`` (what :func:`conv_forward_relu_pool` returns), and with
    ``gate`` (that pooling's output) through the ReLU between them (0 where the window's
    maximum is <= 0). The same values as :func:`~cconv.ops.pooling.maxpool_backward`
    then :func:`conv_backward`; where the engine's direct kernel takes the weight
    gradient (stride 1) that output gradient is never stored: its rows are made from
    ``dpool`` as the kernel needs them.
    """
    from .pooling import maxpool_backward, route_args
    W = _backward_weights(saved, W)
    x, dt = saved.x, saved.x.dtype
    dpool, arg, gate, shape, _ = route_args(dpool, arg, gate, saved.out_shape, 2, 2, 2, 0, dt)
    _, _, sh, sw, ph, pw = saved.geometry
    nt = resolve_threads(n_threads)
    engine = _engine()
    wd = np.ascontiguousarray(same_dtype(W, dt))
    if ((sh, sw) != (1, 1) or x.shape[1] == 0 or W.shape[0] == 0
            or engine.conv_path(x.shape, wd, sh, sw, ph, pw, False, True) != "direct"):
        d = maxpool_backward(dpool, arg, shape, 2, 2, 2, 0, n_threads=nt, gate=gate)
        return conv_backward(d, saved, W, need_dx=False, n_threads=nt)[1:]
    dW = np.empty(W.shape, dtype=dt)
    db = np.empty(W.shape[0], dtype=dt)
    engine.backward_filter_unpool_into(x, dpool, arg, gate, dW, db, sh, sw, ph, pw, nt)
    return dW, db


def conv_isa(name=None):
    """The engine's instruction-set variants: a dict with ``active`` (the one in use),
    ``built`` (compiled into this build), ``supported`` (what this CPU and OS run) and
    ``info`` (name, detail, vector_bytes, block) of ``name`` (default: the active one)."""
    e = _engine()
    return {"active": e.active_isa(), "built": list(e.built_isas()),
            "supported": list(e.supported_isas()), "info": e.isa_info(name),
            "forced": os.environ.get("CCONV_ISA", "").strip().lower() not in ("", "auto")}


def use_conv_isa(name):
    """Run the convolutions with variant ``name`` (baseline, avx2, avx512) from now on;
    returns the previous one. ValueError for an unknown name, RuntimeError for a variant
    this build lacks or this CPU cannot run."""
    return _engine().select_isa(name)


def winograd():
    """When the 3x3 stride-1 convolutions run by Winograd F(2x2, 3x3): ``'off'``,
    ``'auto'`` (the default: the shapes where it measured faster than the direct kernel)
    or ``'on'`` (wherever it applies: 16+ channels in and out, finite input)."""
    return _engine().winograd()


def use_winograd(mode):
    """Set the Winograd mode (see :func:`winograd`); returns the previous one."""
    return _engine().set_winograd(mode)


def cvec():
    """When stride-1 convolutions run on the channel-vector kernel (output channels
    across the vector lanes, only real outputs computed: ``src/conv/cvec.h``):
    ``'off'``, ``'auto'`` (the default: the small planes where it measured faster than
    the flat-layout kernel) or ``'on'`` (wherever it applies). Its forward and input
    gradient give the direct kernel's bits; its weight gradient (the filters across the
    lanes, only real positions summed) adds in another order, within rounding of it."""
    return _engine().cvec()


def use_cvec(mode):
    """Set the channel-vector kernel's mode (see :func:`cvec`); returns the previous one."""
    return _engine().set_cvec(mode)


def fma_flops(name, dtype, n_iter):
    """Run variant ``name``'s FMA-throughput loop on this thread; returns its FLOP count."""
    return _engine().fma_loop(name, np.dtype(dtype).name, int(n_iter))


def bias_add_(out3, b, n_threads=None):
    """In place: ``out3[n, f, :] += b[f]`` for a C-contiguous, writeable (N, F, P) array."""
    if not isinstance(out3, np.ndarray) or out3.ndim != 3 or out3.dtype not in (
            np.float32, np.float64):
        raise ValueError("out3 must be a float32/float64 (N, F, P) array, got "
                         f"{getattr(out3, 'shape', out3)!r}")
    if not out3.flags.c_contiguous or not out3.flags.writeable:
        raise ValueError("out3 must be C-contiguous and writeable (it is changed in place)")
    b = float_array(b, "b")
    if b.shape != (out3.shape[1],):
        raise ValueError(f"b has shape {b.shape}, out3 of shape {out3.shape} needs "
                         f"({out3.shape[1]},)")
    _conv.bias_add_into(out3, np.ascontiguousarray(b, dtype=out3.dtype),
                        resolve_threads(n_threads))
    return out3


def sum_channels(d3, out=None, n_threads=None):
    """``d3.sum(axis=(0, 2))`` for an (N, F, P) array, in a fixed order."""
    d3 = float_array(d3, "d3")
    if d3.ndim != 3:
        raise ValueError(f"d3 must be 3-D (N, F, P), got shape {d3.shape}")
    d3 = np.ascontiguousarray(d3)
    out = output(out, (d3.shape[1],), d3.dtype, "db", [(d3, "d3")])
    _conv.sum_channels_into(d3, out, resolve_threads(n_threads))
    return out
