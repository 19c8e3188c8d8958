"""Test-mode forward and backward passes through a network's layers, down to the input.

Training never needs the gradient with respect to the image, so networks build their
first convolution with ``need_dx=False``; :func:`input_gradients` switches it on for the
duration of a ``with`` block. Backward follows the *test-mode* forward, the function that
``predict`` computes (Dropout scales by ``1 - ratio``, BatchNormalization uses its
running statistics).
"""
import contextlib
import inspect

import numpy as np

__all__ = ["eval_forward", "input_gradients", "input_gradient"]

_TAKES_FLAG = {}


def _takes_train_flg(layer):
    t = type(layer)
    if t not in _TAKES_FLAG:
        try:
            _TAKES_FLAG[t] = "train_flg" in inspect.signature(layer.forward).parameters
        except (TypeError, ValueError):
            _TAKES_FLAG[t] = False
    return _TAKES_FLAG[t]


def _forward(layer, x):
    if hasattr(layer, "call"):          # the Layer protocol routes train_flg itself
        return layer.call(x, False)
    return layer.forward(x, False) if _takes_train_flg(layer) else layer.forward(x)


def _network_input(network, x):
    to_input = getattr(network, "_input", None)
    return to_input(x) if to_input is not None else np.asarray(x)


def eval_forward(network, x, until=None):
    """Yield ``(name, layer, output)`` for each layer in test mode, up to ``until``."""
    if until is not None and until not in network.layers:
        raise KeyError(f"{type(network).__name__} has no layer {until!r}; its layers are "
                       f"{', '.join(network.layers)}")
    x = _network_input(network, x)
    for name, layer in network.layers.items():
        x = _forward(layer, x)
        yield name, layer, x
        if name == until:
            return


def _backward(layer, dout):
    # The test-mode forward of Dropout and BatchNormalization is a fixed affine map.
    # Layers of the protocol (they record `training`) differentiate the forward they
    # last ran; the older ones follow their last *training* forward, so it is done here.
    if not hasattr(layer, "training") and _takes_train_flg(layer):
        if hasattr(layer, "dropout_ratio"):
            return dout * dout.dtype.type(1.0 - layer.dropout_ratio)
        if hasattr(layer, "running_var"):
            scale = layer.gamma / np.sqrt(layer.running_var + layer.eps)
            return (dout.reshape(dout.shape[0], -1) * scale.astype(dout.dtype)).reshape(
                dout.shape)
    return layer.backward(dout)


@contextlib.contextmanager
def input_gradients(network):
    """Within the block, every layer of ``network`` computes ``dx`` in ``backward``.

    Layers built with ``need_dx=False`` (a network's first convolution) get
    ``need_dx=True`` and are restored on exit, even after an exception.
    """
    saved = [(layer, layer.need_dx) for layer in network.layers.values()
             if hasattr(layer, "need_dx")]
    try:
        for layer, _ in saved:
            layer.need_dx = True
        yield network
    finally:
        for layer, flag in saved:
            layer.need_dx = flag


def input_gradient(network, x, layer, seed):
    """Forward ``x`` to ``layer`` in test mode, then backpropagate to the input.

    Parameters
    ----------
    network : cconv network
    x : ndarray, shape (N, C, H, W)
        Input images (converted to the network's dtype).
    layer : str
        Name of the layer whose output is differentiated.
    seed : callable
        ``seed(out)`` -> ``dout``, the gradient of the objective with respect to the
        layer's output ``out`` (same shape): e.g. a one-hot at the target unit.

    Returns
    -------
    out : ndarray
        The layer's output for ``x``.
    dx : ndarray, shape of ``x``, in the network's dtype
        The gradient of the objective with respect to ``x``.
    """
    with input_gradients(network):
        passed = []
        out = None
        for _, lay, out in eval_forward(network, x, until=layer):
            passed.append(lay)
        dout = np.asarray(seed(out), dtype=out.dtype)
        if dout.shape != out.shape:
            raise ValueError(f"the seed gradient has shape {dout.shape}, layer {layer!r} "
                             f"outputs {out.shape}")
        for lay in reversed(passed):
            dout = _backward(lay, dout)
    return out, dout
