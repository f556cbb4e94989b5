"""The headline chart: every throughput row of a run (requests, orders, events,
invocations or changes per second) as horizontal bars on one logarithmic axis,
grouped by scenario, so that Motia 0.17 (tens per second) and the floors (tens of
thousands) fit on one picture. Hand-written SVG: no plotting dependency, the same
bytes for the same result file (the README test compares them).
"""

from __future__ import annotations

import math
import textwrap
from html import escape

from .report import Row

WIDTH = 760
LABEL_W = 150
"""Left column: the system's name, right-aligned against the axis."""
VALUE_W = 150
"""Right of the longest bar: its figure."""
BAR_H = 14
BAR_GAP = 4
GROUP_GAP = 14
HEAD_H = 56
"""Title and the axis's decade labels."""
LINE_H = 16
SUBTITLE_CHARS = 110
"""A subtitle line at 12 px fits the width with this many characters."""
FOOT_H = 28

FLOORS = {"raw-asgi", "ws-floor", "sqlite-floor", "pipe-echo"}
"""Systems that are a scenario's floor: the cheapest code doing the same work."""
COLOURS = {
    "floor": "#4b5563",
    "motiad": "#2563eb",
    "motia-0.17": "#dc2626",
    "other": "#9ca3af",
}


def _colour(system: str) -> str:
    if system in FLOORS:
        return COLOURS["floor"]
    if system == "motiad" or system.startswith("redis-x"):
        return COLOURS["motiad"]
    return COLOURS.get(system, COLOURS["other"])


def _decade_label(power: int) -> str:
    value = 10**power
    if value >= 1_000_000:
        return f"{value // 1_000_000}M"
    if value >= 1_000:
        return f"{value // 1_000}k"
    return f"{value:g}" if power >= 0 else f"{10.0**power:g}"


def _figure(row: Row) -> str:
    value = row.value
    number = f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"
    return f"{number} {row.unit}"


def throughput_rows(rows: list[Row]) -> list[Row]:
    """The rows the chart draws: a rate (``…/s``) above zero."""
    return [row for row in rows if row.unit.endswith("/s") and row.value > 0]


def throughput_svg(rows: list[Row], title: str, subtitle: str = "") -> str:
    """The chart of ``rows``' throughput rows (in their order), under ``title`` and
    ``subtitle`` (wrapped to the width)."""
    lines = textwrap.wrap(subtitle, SUBTITLE_CHARS)
    top = HEAD_H + LINE_H * len(lines)
    shown = throughput_rows(rows)
    groups: dict[str, list[Row]] = {}
    for row in shown:
        groups.setdefault(row.scenario, []).append(row)
    if not groups:
        return _svg(WIDTH, HEAD_H + FOOT_H, [_text(WIDTH / 2, 40, "no throughput rows", "middle")])
    # From 1/s (or lower): bar lengths then compare across runs and scenarios.
    low = min(0, math.floor(math.log10(min(row.value for row in shown))))
    high = math.ceil(math.log10(max(row.value for row in shown)))
    high = max(high, low + 1)
    axis_left, axis_right = LABEL_W, WIDTH - VALUE_W

    def x_of(value: float) -> float:
        share = (math.log10(value) - low) / (high - low)
        return axis_left + share * (axis_right - axis_left)

    body: list[str] = []
    y = top
    for scenario, members in groups.items():
        body.append(_text(8, y + 11, scenario, "start", weight="bold"))
        y += 16
        for row in members:
            end = x_of(row.value)
            body.append(_text(axis_left - 6, y + BAR_H - 3, row.system, "end"))
            body.append(
                f'<rect x="{axis_left}" y="{y}" width="{end - axis_left:.1f}" '
                f'height="{BAR_H}" fill="{_colour(row.system)}"/>'
            )
            body.append(_text(end + 4, y + BAR_H - 3, _figure(row), "start"))
            y += BAR_H + BAR_GAP
        y += GROUP_GAP
    height = y + FOOT_H
    grid: list[str] = []
    for power in range(low, high + 1):
        x = x_of(10.0**power)
        grid.append(
            f'<line x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" y2="{y - GROUP_GAP + 4}" '
            'stroke="#e5e7eb"/>'
        )
        grid.append(_text(x, top - 12, _decade_label(power), "middle", fill="#6b7280"))
    head = [
        _text(8, 20, title, "start", weight="bold", size=14),
        *[
            _text(8, 20 + LINE_H * (index + 1), line, "start", fill="#374151")
            for index, line in enumerate(lines)
        ],
        _text(
            8,
            height - 10,
            "per second, higher is better, log scale; grey: the floor, blue: motiad, "
            "red: Motia 0.17, light grey: reference",
            "start",
            fill="#6b7280",
        ),
    ]
    return _svg(WIDTH, height, [*grid, *head, *body])


def _text(
    x: float,
    y: float,
    text: str,
    anchor: str,
    *,
    weight: str = "normal",
    size: int = 12,
    fill: str = "#111827",
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
        f'font-weight="{weight}" fill="{fill}">{escape(text)}</text>'
    )


def _svg(width: int, height: float, parts: list[str]) -> str:
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0f}" '
            f'viewBox="0 0 {width} {height:.0f}" font-family="system-ui, sans-serif">',
            f'<rect width="{width}" height="{height:.0f}" fill="#ffffff"/>',
            *parts,
            "</svg>",
            "",
        ]
    )
