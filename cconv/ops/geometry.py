"""Shapes and sliding-window geometry, checked before any kernel sees them."""
import sys

from .._checks import integer, pair


def check_4d(x, name):
    if x.ndim != 4:
        raise ValueError(f"{name} must be 4-D (N, C, H, W), got {x.ndim}-D with shape "
                         f"{x.shape}")


def shape4(input_shape, name="input_shape"):
    """``input_shape`` as a tuple of four ints (N, C, H, W)."""
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise TypeError(f"{name} must be (N, C, H, W), not {input_shape!r}") from None
    if len(shape) != 4:
        raise ValueError(f"{name} must be (N, C, H, W), got {shape}")
    return tuple(integer(s, name) for s in shape)


def _both(a, b):
    return (a, b) if a != b else a


def window_geometry(shape, fh, fw, stride, pad, what="filter"):
    """Validate a window (filter or pool) over an (N, C, H, W) shape; return the geometry.

    Returns ``(OH, OW, sh, sw, ph, pw)``. A filter's pad may be as large as the filter or
    larger, as in the book's im2col: the windows that see only padding give zeros. A pool's
    may not (the max of padding alone would be -inf). Every size the kernels compute with (window,
    stride, pad, padded input) must fit C's ``Py_ssize_t`` (``sys.maxsize``); larger
    values raise ValueError here rather than OverflowError in the compiled call.
    """
    fh = integer(fh, f"{what}_h")
    fw = integer(fw, f"{what}_w")
    sh, sw = pair(stride, "stride")
    ph, pw = pair(pad, "pad")
    N, C, H, W = (int(s) for s in shape)
    if min(N, C, H, W) < 0:
        raise ValueError(f"shape {tuple(shape)} has a negative dimension")
    if fh <= 0 or fw <= 0:
        raise ValueError(f"{what} size must be positive, got {fh}x{fw}")
    if sh <= 0 or sw <= 0:
        raise ValueError(f"stride must be positive, got {_both(sh, sw)}")
    if ph < 0 or pw < 0:
        raise ValueError(f"pad must be >= 0, got {_both(ph, pw)}")
    if max(sh, sw) > sys.maxsize:
        raise ValueError(f"stride {_both(sh, sw)} is larger than the largest supported "
                         f"size, sys.maxsize = {sys.maxsize}")
    if what == "pool" and (ph >= fh or pw >= fw):
        # a max over a window of padding alone is -inf; a filter's is 0, as in the book
        raise ValueError(f"pad {ph}x{pw} must be smaller than the {what} {fh}x{fw}: "
                         "a larger pad makes windows that see only padding")
    if H + 2 * ph < fh or W + 2 * pw < fw:
        raise ValueError(f"{what} {fh}x{fw} with pad {ph}x{pw} does not fit a {H}x{W} input")
    if max(N, C, H + 2 * ph, W + 2 * pw) > sys.maxsize:
        raise ValueError(f"input {H}x{W} with pad {ph}x{pw} (shape {tuple(shape)}) is "
                         f"larger than the largest supported size, sys.maxsize = "
                         f"{sys.maxsize}")
    oh = (H + 2 * ph - fh) // sh + 1
    ow = (W + 2 * pw - fw) // sw + 1
    return oh, ow, sh, sw, ph, pw


def out_size(size, filt, stride, pad, what="filter", where=None):
    """Output length of a window (filter or pool) sliding over ``size`` positions.

    For the networks' constructors: validates what the kernels would refuse at the first
    forward pass, so that a network with an impossible layer fails when it is built. The
    ValueError names the value (and ``where``, e.g. ``'conv_param_2'``).
    """
    size, filt = integer(size, "size"), integer(filt, f"{what} size")
    stride, pad = integer(stride, "stride"), integer(pad, "pad")
    try:
        return window_geometry((1, 1, size, size), filt, filt, stride, pad, what)[0]
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}" if where else str(exc)) from None
