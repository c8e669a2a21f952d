"""Figures as PNG bytes: a grid of panels on matplotlib's Agg canvas, without pyplot's global state.

Every figure of a report is a grid of panels (one per task, per model, ...), up to `columns` wide; a
grid with nothing to draw says so in its one panel instead of being blank.
"""

from __future__ import annotations

import io
import math
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator


def panel_grid(count: int, empty: str, columns: int = 3) -> tuple[Figure, list[Axes]]:
    """A figure with `count` panels (spare cells hidden); with none, one panel showing `empty`."""
    panels = max(count, 1)
    wide = min(panels, columns)
    rows = math.ceil(panels / wide)
    fig = Figure(figsize=(5.0 * wide, 3.8 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = list(fig.subplots(rows, wide, squeeze=False).ravel())
    for ax in axes[count:]:
        ax.set_visible(False)
    if not count:
        axes[0].set_visible(True)
        axes[0].text(0.5, 0.5, empty, ha="center", va="center")
        axes[0].set_axis_off()
    return fig, axes[:count]


def png(fig: Figure, dpi: int = 120) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


# --- axes a reader can read ------------------------------------------------------------------------------

# Above this many tokens a linear axis squashes the short-budget points together.
SYMLOG_ABOVE = 100.0
_ROUND = (1.0, 2.0, 5.0)


def token_axis(ax: Axes, xs: list[float], scale_from: list[float] | None = None) -> None:
    """Scale and tick a reasoning-token x axis so that every panel has labelled ticks.

    Log when every point is positive; symlog keeps zero-token points visible on wide ranges; linear otherwise.
    matplotlib's own log ticks label only powers of ten, so a panel inside one decade showed none: ticks here
    are round numbers (1, 2, 5 x 10^k) inside the panel's range, or the points' own values when fewer than two
    round numbers fall inside, always written out in plain numbers.
    """
    basis = scale_from if scale_from else xs
    if not basis:
        return
    if min(basis) > 0:
        ax.set_xscale("log")
    elif max(basis) > SYMLOG_ABOVE:
        positive = [x for x in basis if x > 0]
        ax.set_xscale("symlog", linthresh=max(1.0, min(positive)))
    if not xs:
        return
    low = min(xs)
    if len(set(xs)) == 1:  # one point: give it room rather than a zero-width axis
        ax.set_xlim(low * 0.8, low * 1.25) if low > 0 else ax.set_xlim(-1.0, 1.0)
    scale = ax.get_xscale()
    if scale == "linear":
        ticks = list(ax.get_xticks())
    else:
        smallest = getattr(ax.xaxis.get_transform(), "linthresh", 0.0)  # symlog's linear part holds only 0
        ticks = [0.0] if low <= 0 else []
        ticks += [m * 10.0**k for k in range(-2, 9) for m in _ROUND if m * 10.0**k >= smallest]
    left, right = ax.get_xlim()
    inside = [t for t in ticks if left - 1e-9 <= t <= right + 1e-9]
    if len(inside) < 2:  # too narrow a range for round numbers: the points themselves, and the axis ends
        ends = [float(f"{v:.2g}") for v in (left, right) if not (scale == "log" and v <= 0)]
        inside = sorted({float(f"{x:.3g}") for x in xs} | {v for v in ends if left <= v <= right})
    ax.xaxis.set_major_locator(FixedLocator(_spaced(ax, inside)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_locator(NullLocator())


def _spaced(ax: Axes, ticks: list[float]) -> list[float]:
    """Keep the ticks whose labels do not touch a kept neighbour's: 0 and powers of ten first, then 5s, then 2s."""
    ax.get_xlim()  # settles autoscaling, so data -> pixel is final
    char = 7.0 * ax.figure.dpi / 72.0  # about one digit of a tick label, in pixels

    def rank(tick: float) -> int:
        lead = f"{tick:e}"[0]
        return 0 if tick == 0 or lead == "1" else 1 if lead == "5" else 2

    kept: list[tuple[float, float, int]] = []  # (tick, pixel, label length)
    for tick in sorted(ticks, key=rank):
        at, width = ax.transData.transform((tick, 0.0))[0], len(f"{tick:g}")
        if all(abs(at - p) >= char * ((width + w) / 2 + 1.5) for _, p, w in kept):
            kept.append((tick, at, width))
    return sorted(t for t, _, _ in kept)


def label_points(ax: Axes, points: list[tuple[float, float, str]], fontsize: float = 7.5) -> list[Text]:
    """Write each point's label beside it without labels printing over each other.

    Points drawn at the same spot (two budgets whose reasoning came out the same length) share one label,
    "64, 256"; a label that would overlap one already placed is moved to the next free offset.
    """
    if not points:
        return []
    ax.get_xlim(), ax.get_ylim()  # settles autoscaling, so data -> pixel is final
    to_pixels = ax.transData.transform
    merged: list[tuple[float, float, list[str]]] = []
    for x, y, text in points:
        px = to_pixels((x, y))
        for mx, my, texts in merged:
            if abs(to_pixels((mx, my)) - px).max() < 4.0:
                if text not in texts:
                    texts.append(text)
                break
        else:
            merged.append((x, y, [text]))
    renderer = ax.figure.canvas.get_renderer()
    step = fontsize * 1.3
    offsets = [(4.0, 4.0), (4.0, -4.0 - step), *((4.0, 4.0 + step * i) for i in range(1, 8)),
               *((4.0, -4.0 - step * i) for i in range(2, 8))]
    placed: list[Any] = []
    labels = []
    for x, y, texts in merged:
        label = ax.annotate(", ".join(texts), (x, y), textcoords="offset points", xytext=offsets[0],
                            fontsize=fontsize)
        for offset in offsets:
            label.xyann = offset
            box = label.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed):
                break
        placed.append(label.get_window_extent(renderer))
        labels.append(label)
    return labels


def series_style(index: int) -> dict[str, Any]:
    """Markers and dashes that keep a series visible when it lies exactly on top of another."""
    markers = ("o", "s", "^", "D", "v", "P", "X")
    dashes = ("-", "--", ":", "-.")
    return {
        "marker": markers[index % len(markers)],
        "linestyle": dashes[index % len(dashes)],
        "markersize": max(4.0, 9.0 - 1.5 * index),
        "markerfacecolor": "none" if index % 2 == 0 else None,
        "linewidth": 1.6,
    }
