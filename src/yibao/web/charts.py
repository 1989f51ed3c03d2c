"""Small charts as inline SVG, drawn on the server: no script, no external library.

Each chart is an image with a title and a description for screen readers
(``role="img"``, ``aria-labelledby``); pages also show the same numbers as a table.
Amounts are integer fen; axis labels are in yuan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 76, 16, 16, 40
TICKS = 4
NICE_STEPS = (1, 2, 2.5, 5, 10)


@dataclass(frozen=True)
class Point:
    label: str  # the x-axis label, such as "6月"
    value_fen: int


def nice_top(largest_fen: int) -> int:
    """The smallest round amount (1, 2, 2.5 or 5 times a power of ten yuan) at or above ``largest_fen``."""
    if largest_fen <= 0:
        return 100 * TICKS  # an empty chart still gets a sensible axis: 0 to 4 yuan
    step_fen = largest_fen / TICKS
    power = 100  # one yuan
    while power * 10 <= step_fen:
        power *= 10
    for factor in NICE_STEPS:
        if power * factor >= step_fen:
            return int(power * factor * TICKS)
    return int(power * 10 * TICKS)


def _yuan_label(fen: float) -> str:
    yuan = fen / 100
    return f"{yuan:,.0f}" if yuan == int(yuan) else f"{yuan:,.2f}"


def _frame(chart_id: str, title: str, description: str, body: list[str], top_fen: int, labels: Sequence[str]) -> Markup:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    for tick in range(TICKS + 1):
        y = TOP + plot_h - plot_h * tick / TICKS
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="axis" x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{_yuan_label(top_fen * tick / TICKS)}</text>'
        )
    slot = plot_w / max(1, len(labels))
    for index, label in enumerate(labels):
        x = LEFT + slot * (index + 0.5)
        # Every other label is marked so that a narrow screen can hide it and enlarge the rest.
        kind = "axis x-label x-odd" if (len(labels) - 1 - index) % 2 else "axis x-label"
        parts.append(f'<text class="{kind}" x="{x:.1f}" y="{HEIGHT - 12}" text-anchor="middle">{escape(label)}</text>')
    parts += body
    parts.append("</svg>")
    return Markup("".join(parts))


def _y(value_fen: int, top_fen: int) -> float:
    plot_h = HEIGHT - TOP - BOTTOM
    return TOP + plot_h - plot_h * max(0, value_fen) / top_fen


def line_chart(chart_id: str, points: Sequence[Point], *, title: str, description: str) -> Markup:
    """A line with a dot per point, for a balance over time."""
    top = nice_top(max((point.value_fen for point in points), default=0))
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(points))
    coordinates = [(LEFT + slot * (index + 0.5), _y(point.value_fen, top)) for index, point in enumerate(points)]
    body = []
    if coordinates:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates)
        body.append(f'<polyline class="line" points="{path}"/>')
        body += [f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3.5"/>' for x, y in coordinates]
    return _frame(chart_id, title, description, body, top, [point.label for point in points])


def bar_chart(chart_id: str, points: Sequence[Point], *, title: str, description: str) -> Markup:
    """One bar per point, for amounts per month."""
    top = nice_top(max((point.value_fen for point in points), default=0))
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(points))
    bar_w = slot * 0.6
    base = HEIGHT - BOTTOM
    body = []
    for index, point in enumerate(points):
        y = _y(point.value_fen, top)
        if base - y > 0:
            x = LEFT + slot * index + (slot - bar_w) / 2
            body.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{base - y:.1f}"/>')
    return _frame(chart_id, title, description, body, top, [point.label for point in points])
