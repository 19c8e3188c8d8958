"""Convolution filters as tile grids (book ch. 7, ``visualize_filter.py``), alone or
before and after training."""
from .._checks import integer
from ._figure import _Panel, _draw_panels, _finite_array, _range_text, _to_unit


def _filter_panel(filters, nx, channel, shared_scale, name):
    f = _finite_array(filters, name, (4,))
    fn, c, fh, fw = f.shape
    nx = integer(nx, "nx", low=1)
    if channel is None and c > 1:
        tiles, lo, hi = _to_unit(f.reshape(fn * c, fh, fw), shared_scale)
        panel = _Panel(tiles, c, fn, xlabel="input channel", ylabel="filter",
                       xticks=list(range(c)), yticks=list(range(fn)))
        what = f"{c} channels, one row per filter"
    else:
        if channel is None:
            plane, what = f[:, 0], "1 channel"
        elif isinstance(channel, str):
            if channel != "mean":
                raise ValueError(f"channel must be None, an int or 'mean', not {channel!r}")
            plane, what = f.mean(axis=1), f"mean of {c} channels"
        else:
            k = integer(channel, "channel", low=-c)
            if k >= c:
                raise ValueError(f"channel {k} does not exist: the filters have {c} "
                                 f"input channel{'s' if c > 1 else ''} (0..{c - 1})")
            plane, what = f[:, k], f"channel {k % c} of {c}"
        tiles, lo, hi = _to_unit(plane, shared_scale)
        cols = min(nx, fn)
        panel = _Panel(tiles, cols, xlabel=f"filters 0-{fn - 1}, {cols} per row"
                       if fn > 1 else None)
    if shared_scale:
        scale_txt = _range_text(lo, hi, "gray_r")
    else:
        scale_txt = "each tile scaled to its own range"
    panel.summary = f"{fn} filters {fh}x{fw}, {what}"
    panel.scale_txt = scale_txt
    return panel


def filter_show(filters, nx=8, margin=3, scale=10, *, channel=None, shared_scale=False,
                title=None, path=None, show=False, dpi=100):
    """Show convolution filters as a grid of gray tiles (the book's ``filter_show``).

    Parameters
    ----------
    filters : array_like, shape (FN, C, FH, FW)
        Conv weights, e.g. ``network.params['W1']``.
    nx : int
        Tiles per row for single-channel grids (the book's argument); the grid has
        ``ceil(FN / nx)`` rows.
    margin : int
        Gap between tiles in screen pixels (at 100 dpi). The book accepts but ignores it.
    scale : int
        Screen pixels per filter pixel (at 100 dpi); lowered automatically when a grid
        would be wider or taller than 2400 pixels. The book accepts but ignores it.
    channel : None, int or 'mean'
        Which input channels to show when C > 1. None (default): all of them, one row of
        C tiles per filter (``nx`` is then not used). An int: that channel only (negative
        counts from the end). ``'mean'``: the channel average. Either of the last two gives
        the book's grid of ``nx`` tiles per row.
    shared_scale : bool
        False (the book): each tile stretched over its own min..max, best for seeing
        shapes. True: one range for all tiles, so tiles compare in strength. A flat tile
        shows as mid gray.
    title : str, optional
        Defaults to a summary such as "30 filters 5x5, 1 channel".
    path : str or os.PathLike, optional
        Save to this .png, .svg or .pdf (folders are created).
    show : bool
        Open a window (only where an interactive backend and a display exist; otherwise
        warn and carry on).
    dpi : float
        Resolution; the figure is laid out for 100 dpi and scales with it.

    Returns
    -------
    matplotlib.figure.Figure
        Drawn with the ``gray_r`` colormap as in the book (high values dark); gaps
        between tiles are a light blue-gray.
    """
    panel = _filter_panel(filters, nx, channel, shared_scale, "filters")
    if title is None:
        title = panel.summary
    margin = integer(margin, "margin", low=0)
    scale = integer(scale, "scale", low=1)
    return _draw_panels([panel], scale, margin, title, panel.scale_txt, dpi, show, path)


def filters_before_after(before, after, nx=8, margin=3, scale=10, *, channel=None,
                         shared_scale=False, labels=("before learning", "after learning"),
                         title=None, path=None, show=False, dpi=100):
    """Two filter grids side by side, e.g. the first layer before and after training.

    Parameters
    ----------
    before, after : array_like, shape (FN, C, FH, FW)
        Conv weights; the two may differ in shape, but must have the same FH x FW.
    nx, margin, scale, channel :
        As in :func:`filter_show`.
    shared_scale : bool
        As in :func:`filter_show`, within each grid. The grids are never put on one
        scale: initial weights are usually far smaller than trained ones.
    labels : (str, str)
        Titles over the two grids.
    title, path, show, dpi :
        As in :func:`filter_show`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    pb = _filter_panel(before, nx, channel, shared_scale, "before")
    pa = _filter_panel(after, nx, channel, shared_scale, "after")
    if pb.tiles.shape[1:] != pa.tiles.shape[1:]:
        raise ValueError(f"before has {pb.tiles.shape[1]}x{pb.tiles.shape[2]} filters but "
                         f"after has {pa.tiles.shape[1]}x{pa.tiles.shape[2]}")
    if len(labels) != 2:
        raise ValueError(f"labels must be two titles, got {labels!r}")
    pb.title, pa.title = str(labels[0]), str(labels[1])
    if title is None:
        title = pb.summary if pb.summary == pa.summary else f"{pb.summary} / {pa.summary}"
    note = (pb.scale_txt if not shared_scale
            else f"before: {pb.scale_txt}; after: {pa.scale_txt}")
    margin = integer(margin, "margin", low=0)
    scale = integer(scale, "scale", low=1)
    return _draw_panels([pb, pa], scale, margin, title, note, dpi, show, path)
