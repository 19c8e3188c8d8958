"""NumPy Local Response Normalization across channels: the test oracle of ``cconv._lrn``.

Dtype-preserving, written for clarity. PyTorch's ``LocalResponseNorm`` convention: the
window of channel ``c`` is ``[c - size//2, c + (size-1)//2]`` clipped to ``[0, C)`` and
the sum of squares is multiplied by ``alpha / size`` (Krizhevsky et al. 2012 multiply by
``alpha``).
"""
import numpy as np


def _window_sum(a, before, after):
    """Sum of ``a`` (N, C, H, W) over channels ``[c - before, c + after]``, clipped.

    Adds the shifted slices in increasing channel order (zeros outside ``[0, C)``), the
    order the kernel uses.
    """
    N, C, H, W = a.shape
    padded = np.zeros((N, C + before + after, H, W), dtype=a.dtype)
    padded[:, before:before + C] = a
    s = np.zeros_like(a)
    for i in range(before + after + 1):
        s += padded[:, i:i + C]
    return s


def lrn_forward(x, size, alpha=1e-4, beta=0.75, k=2.0):
    """LRN of ``x`` (N, C, H, W); returns ``(out, scale)``, both (N, C, H, W).

    ``scale = k + alpha/size * sum_{c'} x[:, c']**2`` over the window of each channel,
    ``out = x * scale**-beta``.
    """
    s = _window_sum(x * x, size // 2, (size - 1) // 2)
    scale = k + (alpha / size) * s
    return x * scale ** -beta, scale


def lrn_backward(dout, x, scale, size, alpha=1e-4, beta=0.75, k=2.0):
    """Gradient of the LRN with respect to ``x``: ``dout``, ``x``, ``scale`` (N, C, H, W).

    ``dx_j = dout_j * scale_j**-beta - 2*alpha*beta/size * x_j * sum_c t_c`` with
    ``t = dout * x * scale**(-beta-1)``, summed over the channels ``c`` whose window holds
    ``j``: ``[j - (size-1)//2, j + size//2]``. ``k`` is already inside ``scale``.
    """
    p = scale ** -beta
    t = dout * x * p / scale
    tsum = _window_sum(t, (size - 1) // 2, size // 2)
    return dout * p - (2 * alpha * beta / size) * x * tsum
