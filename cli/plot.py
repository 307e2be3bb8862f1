"""Plots: curves drawn in the terminal (plotext) and written to image files (matplotlib).

Shared by every command that plots (the loss curve of `agrad descend`; f and f' over x).
A series is (label, x, y). plotext is a dependency (pure Python, nothing to compile, draws with
Unicode block characters in any terminal, and has a log-scale y axis); it is pinned to 5.x,
whose module-level API (plot, plotsize, yscale, build) is the one used here: 6.0 moved the plot
methods onto a figure object. matplotlib is the optional extra `agrad[plot]`. Both load only when
a plot is drawn.
"""
from __future__ import annotations

import math

import numpy as np

from agrad import AgradError

PLOT_EXTRA = 'pip install "agrad[plot]"'
_COLORS = ("cyan", "magenta", "green", "yellow", "blue", "red")


def spans_decades(y, decades: float = 2.0) -> bool:
    """True when y is positive and its finite values span at least `decades` powers of ten:
    a log axis then shows the whole curve where a linear one flattens all but its start."""
    y = np.asarray(y, dtype=np.float64)
    y = y[np.isfinite(y)]
    return y.size > 1 and bool((y > 0).all()) and math.log10(y.max() / y.min()) >= decades


def _log_ticks(lo: float, hi: float):
    """Powers of ten between lo and hi (at most ~6 of them), labelled 1e-3 style."""
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    stride = max(1, math.ceil((b - a + 1) / 6))
    values = [10.0 ** k for k in range(a, b + 1, stride) if lo <= 10.0 ** k <= hi]
    return values, [f"1e{k}" if k not in (0, 1, 2) else f"{10 ** k:g}" for k in
                    (round(math.log10(v)) for v in values)]


# plotext labels ticks with 10 ** (digits to tell them apart), an int that overflows a float once
# the axis spans less than ~1e-308: an axis of values this small is drawn scaled (its label says by what)
_TINY = 1e-150


def _tiny_exponent(arrays) -> int:
    """e < 0 when every finite value on the axis is below _TINY in magnitude (and one is not 0), else 0."""
    m = max((float(np.abs(a[np.isfinite(a)]).max(initial=0.0)) for a in arrays), default=0.0)
    return math.floor(math.log10(m)) if 0 < m < _TINY else 0


def _scaled(a, e: int):
    """a * 10**-e in steps that stay within float range (10**324 is none)."""
    k = -e
    while k > 300:
        a, k = a * 1e300, k - 300
    return a * 10.0 ** k


def _axis_label(label: str, e: int) -> str:
    return f"{label} (×1e{e})".strip() if e else label


def terminal_plot(series, *, title: str = "", xlabel: str = "", ylabel: str = "", logy: bool = False,
                  width: int = 80, height: int = 20, color: bool = False, marks=()) -> str:
    """The curves drawn with Unicode characters, as a string no line of which is wider than
    `width` columns. Non-finite points are left out (a diverged run plots up to its last finite
    loss); with logy, so are points <= 0. `marks` (label, x, y) are single points drawn as x
    (kinks, undefined derivatives). An axis of tiny values (all below 1e-150) is scaled by a power
    of ten named in its label."""
    import plotext as plt

    series = [(label, np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)) for label, x, y in series]
    marks = [(label, np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)) for label, x, y in marks]
    ex = _tiny_exponent([x for _, x, _ in series + marks])
    ey = 0 if logy else _tiny_exponent([y for _, _, y in series + marks])  # a log axis has no such ticks
    if ex or ey:
        series = [(label, _scaled(x, ex), _scaled(y, ey)) for label, x, y in series]
        marks = [(label, _scaled(x, ex), _scaled(y, ey)) for label, x, y in marks]
        xlabel, ylabel = _axis_label(xlabel, ex), _axis_label(ylabel, ey)
    try:
        return _draw(plt, series, marks, title=title, xlabel=xlabel, ylabel=ylabel, logy=logy, width=width,
                     height=height, color=color)
    except (OverflowError, ValueError, ZeroDivisionError):  # plotext's arithmetic on values it cannot label
        plt.clear_figure()
        return "(no plot: plotext cannot draw axes for these values)"


def _draw(plt, series, marks, *, title, xlabel, ylabel, logy, width, height, color) -> str:
    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")  # the terminal's own background and text colour; only the curves are coloured
    lo, hi = math.inf, -math.inf
    for k, (label, x, y) in enumerate(series):
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        keep = np.isfinite(x) & np.isfinite(y) & ((y > 0) if logy else True)
        if not keep.any():
            continue
        x, y = x[keep], y[keep]
        lo, hi = min(lo, float(y.min())), max(hi, float(y.max()))
        plt.plot(x.tolist(), y.tolist(), label=label or None, marker="braille",
                 color=_COLORS[k % len(_COLORS)] if color else None)
    for label, x, y in marks:
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if x.size:
            plt.scatter(x.tolist(), np.where(np.isfinite(y), y, 0.0).tolist(), label=label or None, marker="x",
                        color="red" if color else None)
    if logy:
        plt.yscale("log")
        if math.isfinite(lo) and hi > lo:
            plt.yticks(*_log_ticks(lo, hi))
    if title:
        plt.title(title)
    if xlabel:
        plt.xlabel(xlabel)
    if ylabel:
        plt.ylabel(ylabel)
    text = plt.build()
    plt.clear_figure()
    if not color:
        text = plt.uncolorize(text)
    return "\n".join(line.rstrip() for line in text.splitlines())


def file_plot(path, series, *, title: str = "", xlabel: str = "", ylabel: str = "", logy: bool = False,
              size=(8.0, 5.0), dpi: int = 100, marks=(), force: bool = False) -> None:
    """The curves written to `path` (.png, .svg or .pdf) with matplotlib, the optional extra."""
    suffix = str(path).rsplit(".", 1)[-1].lower() if "." in str(path) else ""
    if suffix not in ("png", "svg", "pdf"):
        raise AgradError(f"the plot file must end in .png, .svg or .pdf, got {str(path)!r}", kind="usage")
    try:
        import matplotlib
    except ImportError:
        raise AgradError(f"writing a plot file needs matplotlib, the optional extra: {PLOT_EXTRA}",
                         kind="usage") from None
    matplotlib.use("Agg")  # no display: draw to the file only
    import matplotlib.pyplot as mplt

    fig, ax = mplt.subplots(figsize=size, dpi=dpi)
    try:
        for label, x, y in series:
            ax.plot(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), label=label)
        for label, x, y in marks:  # kinks and undefined derivatives: a cross on the axis where y is not finite
            y = np.asarray(y, dtype=np.float64)
            ax.plot(np.asarray(x, dtype=np.float64), np.where(np.isfinite(y), y, 0.0), "x", color="red",
                    label=label)
        if logy:
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        if any(label for label, _, _ in series):
            ax.legend()
        fig.tight_layout()
        from agrad.cli.files import write_atomic

        write_atomic(path, lambda fh: fig.savefig(fh, format=suffix), force=force)
    finally:
        mplt.close(fig)
