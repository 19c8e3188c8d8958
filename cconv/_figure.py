"""The Figure class of cconv's pictures: displays itself in Jupyter without pyplot.

IPython shows a matplotlib Figure as a picture only once pyplot has been imported (the
inline backend registers a formatter for Figure on that import); a Figure made without
pyplot, as cconv makes them, would print ``<Figure size ... with 1 Axes>``. This subclass
adds ``_repr_png_``, which IPython uses when no formatter is registered; with the inline
backend active its own formatter wins, so a figure is never shown twice.
"""
import io

from matplotlib.figure import Figure

__all__ = ["InlineFigure"]


class InlineFigure(Figure):
    """A :class:`matplotlib.figure.Figure` that Jupyter displays inline when returned."""

    def _repr_png_(self):
        if self.canvas is None or type(self.canvas).__name__ == "FigureCanvasBase":
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            FigureCanvasAgg(self)
        buf = io.BytesIO()
        self.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()
