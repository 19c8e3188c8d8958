"""Your own digit, made to look like an MNIST digit before a network sees it.

MNIST's digits were made this way (LeCun et al.): white strokes on black, the digit
size-normalised to fit a 20x20 box keeping its aspect ratio (anti-aliased), then placed
in the 28x28 field so that its centre of mass is at the field's centre. A network trained
on MNIST expects exactly that, so :func:`to_mnist` does the same to any picture:

1. **grayscale** -- colour is converted with the luminance weights
   0.299 R + 0.587 G + 0.114 B; transparent parts count as white (paper);
2. **inverted if the background is light** -- the background level is the median of the
   picture's outer frame (its border pixels); above 0.5 the picture is taken for a dark
   digit on light paper and inverted (``invert=`` forces either way);
3. **contrast** -- the background level is subtracted and the ink scaled so that its
   brightest pixel is 1; what is left below 0.05 is noise and set to 0;
4. **crop** -- to the bounding box of the pixels left (none: a ValueError "no digit
   found");
5. **stroke width** -- strokes much thinner than MNIST's pen (about a tenth of the digit's
   height) would fade to grey when shrunk; they are thickened (dilated) first;
6. **20x20 box** -- the crop is resized (area averaging when shrinking, bilinear when
   enlarging) so that its longer side is 20 pixels (``box``), aspect ratio kept;
7. **centre of mass** -- it is pasted into the 28x28 (``size``) field at the whole-pixel
   offset that puts its centre of mass nearest to pixel (14, 14) (``size / 2``, where
   MNIST's digits have theirs on average).

A real MNIST digit goes through nearly unchanged (mean absolute change < 0.001 over the
test set's first thousand), which the tests check.

The result is float32 in [0, 1], what :func:`cconv.datasets.load_mnist` gives with
``normalize=True``.
"""
import os

import numpy as np

__all__ = ["load_gray", "to_mnist"]

_NOISE = 0.05       # below this (after the contrast step) a pixel is background
_WORK_BOX = 80      # stroke width is measured and fixed on a crop of this size
_PEN = 0.1          # MNIST's stroke width, as a fraction of the box's longer side
_THIN = 0.75        # strokes below _THIN * _PEN of the box are thickened


def _array_to_gray(a):
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"image has dtype {a.dtype}; give a path or an array of numbers")
    if a.ndim == 4 and a.shape[:2] == (1, 1):
        a = a[0, 0]  # (1, 1, H, W) and (1, H, W): a network's input layout
    elif a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 2, 3, 4)):
        raise ValueError(f"image must be (H, W), (H, W, 3|4) or (1, H, W), got shape {a.shape}")
    if a.shape[0] < 2 or a.shape[1] < 2:
        raise ValueError(f"image of shape {a.shape} is too small to hold a digit")
    if a.dtype.kind == "b":
        a = a.astype(np.float64)
    elif a.dtype.kind in "iu":
        a = a.astype(np.float64) / (255.0 if a.max(initial=0) <= 255 else 65535.0)
    else:
        a = a.astype(np.float64)
        if not np.all(np.isfinite(a)):
            raise ValueError("image contains NaN or inf")
        if a.min() < 0:
            raise ValueError(f"image has negative values (min {a.min():.3g}); give "
                             "intensities in [0, 1] or [0, 255]")
        if a.max() > 1.0:
            a = a / 255.0
    from .io.images import _to_gray  # the same conversion as load_image
    return np.clip(_to_gray(a), 0.0, 1.0)


def load_gray(image):
    """A path or an array -> a grayscale float64 image (H, W) in [0, 1].

    Parameters
    ----------
    image : str, os.PathLike or array_like
        A PNG/JPEG (anything Pillow reads), or an array (H, W), (H, W, 3|4), (1, H, W) or
        (1, 1, H, W): uint8 / integers are read as 0..255, floats as [0, 1] (or 0..255
        when their maximum exceeds 1).

    Returns
    -------
    gray : ndarray, shape (H, W), float64 in [0, 1]; 0 is black.
    """
    if isinstance(image, (str, os.PathLike)):
        from .io.images import load_image
        return np.asarray(load_image(image), dtype=np.float64)
    return _array_to_gray(image)


def _background(g):
    frame = np.concatenate([g[0], g[-1], g[1:-1, 0], g[1:-1, -1]])
    return float(np.median(frame))


def _resize(a, h, w):
    """Resize a float image to (h, w): area averaging when shrinking, bilinear otherwise."""
    if a.shape == (h, w):
        return a
    from PIL import Image
    rs = getattr(Image, "Resampling", Image)
    shrink = h <= a.shape[0] and w <= a.shape[1]
    im = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32), mode="F")
    return np.asarray(im.resize((w, h), rs.BOX if shrink else rs.BILINEAR), dtype=np.float64)


def _fit(a, box):
    """Resize so the longer side is ``box``, aspect ratio kept."""
    h, w = a.shape
    s = box / max(h, w)
    return _resize(a, max(1, int(round(h * s))), max(1, int(round(w * s))))


def _stroke_width(a):
    """Mean stroke width in pixels: 2 * ink area / boundary pixels."""
    ink = a > 0.5
    area = int(ink.sum())
    if area == 0:
        return 0.0
    p = np.pad(ink, 1)
    inner = p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    boundary = int((ink & ~inner).sum())
    return 2.0 * area / max(boundary, 1)


def _dilate(a, r):
    """Grey dilation by a disk of radius ``r`` pixels."""
    p = np.pad(a, r)
    out = a.copy()
    H, W = a.shape
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dy * dy + dx * dx <= r * r:
                np.maximum(out, p[r + dy:r + dy + H, r + dx:r + dx + W], out=out)
    return out


def _unit(a):
    m = a.max()
    return a / m if m > 0 else a


def to_mnist(image, size=28, box=20, invert=None):
    """Preprocess a picture of a digit the way MNIST's digits were made.

    The steps (grayscale, inversion of a light background, contrast, crop, stroke width,
    a ``box`` x ``box`` fit, centring by centre of mass in ``size`` x ``size``) are those
    of this module's docstring.

    Parameters
    ----------
    image : str, os.PathLike or array_like
        A picture file or an array (see :func:`load_gray`).
    size : int, default 28
        The side of the output field.
    box : int, default 20
        The side of the box the digit is fitted into (MNIST: 20 in a 28 field).
    invert : bool or None, default None
        None inverts when the background (the median of the border pixels) is light;
        True always inverts (a dark digit on light paper), False never.

    Returns
    -------
    img : ndarray, shape (size, size), float32 in [0, 1]; the digit white on black.

    Raises
    ------
    ValueError
        When the picture holds no digit (it is blank, or all one level), or ``box`` does
        not fit in ``size``.
    """
    size, box = int(size), int(box)
    if not 1 <= box <= size:
        raise ValueError(f"box must be in [1, size={size}], got {box}")
    g = load_gray(image)
    bg = _background(g)
    if invert is None:
        invert = bg > 0.5
    if invert:
        g, bg = 1.0 - g, 1.0 - bg
    g = np.clip(g - bg, 0.0, None)
    if g.max() <= 0.05:
        raise ValueError("no digit found: the picture is blank (one level, no strokes "
                         f"{'darker' if invert else 'lighter'} than its background)")
    g = _unit(g)
    g[g < _NOISE] = 0.0
    rows, cols = np.nonzero(g)
    crop = g[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    if max(crop.shape) > _WORK_BOX:
        crop = _unit(np.clip(_fit(crop, _WORK_BOX), 0.0, 1.0))
    width = _stroke_width(crop)
    want = _PEN * max(crop.shape)
    if 0 < width < _THIN * want:
        crop = _dilate(crop, max(1, int(round((want - width) / 2))))
    digit = _unit(np.clip(_fit(crop, box), 0.0, 1.0))
    h, w = digit.shape
    total = digit.sum()
    cy = float((digit.sum(axis=1) * np.arange(h)).sum() / total)
    cx = float((digit.sum(axis=0) * np.arange(w)).sum() / total)
    centre = size / 2.0  # MNIST: mean centre of mass (14.0, 14.0) in pixel indices
    oy = int(np.clip(round(centre - cy), 0, size - h))
    ox = int(np.clip(round(centre - cx), 0, size - w))
    out = np.zeros((size, size), dtype=np.float32)
    out[oy:oy + h, ox:ox + w] = digit
    return out
