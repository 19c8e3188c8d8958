"""Picture files read as arrays: grayscale and resized (:func:`load_image`), and as one
network input (:func:`image_input`)."""
import os
from pathlib import Path

import numpy as np

from .._checks import pair
from .files import open_regular

_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, what PIL's convert("L") uses


#: The most pixels a picture read as network input may have (a decompression bomb's
#: header claims billions; Pillow only warns below 179 million).
MAX_IMAGE_PIXELS = 50_000_000


def _decode(f, p, png):
    """The picture in the open file ``f`` as floats in [0, 1] (H, W[, channels])."""
    from PIL import Image, UnidentifiedImageError
    if png:
        import matplotlib.image as mpimg
        return np.asarray(mpimg.imread(f, format="png"), dtype=np.float64)
    try:
        with Image.open(f) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                a = np.asarray(im, dtype=np.float64)
                return a / (65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0)
            if im.mode == "F":
                return np.asarray(im, dtype=np.float64)
            has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
            im = im.convert("RGBA" if has_alpha else "RGB")
            return np.asarray(im, dtype=np.float64) / 255.0
    except UnidentifiedImageError:
        raise ValueError(f"'{p}' is not an image Pillow can read") from None


def _to_gray(a):
    """Float image (H, W), (H, W, 1|2|3|4) in [0, 1] -> (H, W); alpha composited on white."""
    if a.ndim == 2:
        return a
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"unsupported image layout {a.shape}")
    k = a.shape[2]
    color = a[..., 0] if k <= 2 else a[..., :3] @ _LUMA
    if k in (2, 4):
        alpha = a[..., -1]
        color = color * alpha + (1.0 - alpha)
    return color


def load_image(path, size=None, *, invert=False):
    """Read a PNG or JPEG (or any image Pillow reads) as a grayscale float32 array.

    Parameters
    ----------
    path : str or os.PathLike
    size : int or (int, int), optional
        Resize to ``(size, size)`` or ``(h, w)``, e.g. 28 for the MNIST networks
        (area averaging when shrinking, bilinear when enlarging). The picture is only
        resized, not cropped or centred.
    invert : bool
        Return ``1 - gray``: a dark digit drawn on white becomes a light digit on black,
        which is what MNIST looks like.

    Returns
    -------
    img : ndarray, shape (H, W), float32 in [0, 1]
        Color is converted with the luminance weights 0.299 R + 0.587 G + 0.114 B;
        transparent parts count as white.
    """
    try:
        p = Path(os.fspath(path))
    except TypeError:
        raise TypeError(f"path must be a str or os.PathLike, not {type(path).__name__}") from None
    if not p.exists():
        raise FileNotFoundError(2, f"no image file at '{p}'")
    from PIL import Image, UnidentifiedImageError

    try:
        with open_regular(p) as f:   # FIFOs, devices, folders refused before reading
            try:
                with Image.open(f) as im:   # the header only
                    w, h = im.size
            except UnidentifiedImageError:
                raise ValueError(f"'{p}' is not an image Pillow can read") from None
            if w * h > MAX_IMAGE_PIXELS:
                raise ValueError(f"'{p}' is {w}x{h} pixels, more than the "
                                 f"{MAX_IMAGE_PIXELS:,} a picture may have here")
            f.seek(0)
            a = _decode(f, p, p.suffix.lower() == ".png")
    except (OSError, ValueError):
        raise
    except Exception as exc:  # noqa: BLE001 -- Pillow's decoders raise many kinds
        raise ValueError(f"'{p}' is not a picture cconv can read ({type(exc).__name__}: "
                         f"{exc})") from None
    gray = _to_gray(a)
    if size is not None:
        h, w = pair(size, "size")
        if h <= 0 or w <= 0:
            raise ValueError(f"size must be positive, got {h}x{w}")
        if (h, w) != gray.shape:
            resampling = getattr(Image, "Resampling", Image)
            shrink = h <= gray.shape[0] and w <= gray.shape[1]
            im = Image.fromarray(np.ascontiguousarray(gray, dtype=np.float32))
            gray = np.asarray(im.resize((w, h), resampling.BOX if shrink
                                        else resampling.BILINEAR), dtype=np.float64)
    gray = np.clip(gray, 0.0, 1.0)
    if invert:
        gray = 1.0 - gray
    return np.ascontiguousarray(gray, dtype=np.float32)


def image_input(path, input_dim=(1, 28, 28), invert="auto", dtype=np.float32):
    """Read a picture file as one input of a network, like an MNIST test image.

    Parameters
    ----------
    path : str or os.PathLike
        A PNG, JPEG, ... (anything Pillow reads).
    input_dim : (C, H, W)
        The network's input shape: the picture is converted to grayscale and resized to
        H x W (not cropped); the gray plane is repeated over the C channels.
    invert : {'auto', True, False}
        MNIST digits are light on a dark background. ``'auto'`` inverts a picture whose
        mean is above 0.5 (a dark digit drawn on white paper).
    dtype : float32 or float64

    Returns
    -------
    x : ndarray, shape (1, C, H, W), values in [0, 1]
    """
    c, h, w = (int(v) for v in input_dim)
    gray = load_image(path, size=(h, w))
    if invert == "auto":
        invert = float(gray.mean()) > 0.5
    if invert:
        gray = 1.0 - gray
    x = np.repeat(gray[None, None], c, axis=1)
    return np.ascontiguousarray(x, dtype=dtype)
