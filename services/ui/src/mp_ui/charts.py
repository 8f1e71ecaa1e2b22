"""Small charts as inline SVG: no script, no outside file, readable by screen readers.

Each chart is an ``<svg role="img">`` with a title and a description in words; the panels put
the same figures in a table next to it. Values are shares from 0 to 1 (accuracy, drift share).
Colours keep at least 3:1 against the page for the marks and 4.5:1 for the text, which uses the
page's own text colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

WIDTH: Final = 640
HEIGHT: Final = 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 16, 44
#: Distinct at a glance and at least 4.5:1 on white: teal, blue, amber, violet.
SERIES_COLOURS: Final = ("#0f766e", "#1d4ed8", "#b45309", "#7c3aed")


@dataclass(frozen=True, slots=True)
class Series:
    """One named line or set of bars; ``None`` where there is no value."""

    name: str
    values: tuple[float | None, ...]


def _y(value: float) -> float:
    return TOP + (1.0 - max(0.0, min(1.0, value))) * (HEIGHT - TOP - BOTTOM)


def _frame(chart_id: str, title: str, description: str, body: str) -> str:
    return (
        f'<svg class="mp-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" preserveAspectRatio="xMidYMid meet">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>' + _axis() + body + "</svg>"
    )


def _axis() -> str:
    lines = []
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = _y(tick)
        lines.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            'class="mp-chart-grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="mp-chart-text">'
            f"{tick:.0%}</text>"
        )
    return "".join(lines)


def _x_labels(labels: Sequence[str], centres: Sequence[float]) -> str:
    # Past eight labels every other one is drawn, so they never overlap on a phone.
    step = 1 if len(labels) <= 8 else 2
    return "".join(
        f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle" '
        f'class="mp-chart-text">{escape(label)}</text>'
        for i, (label, x) in enumerate(zip(labels, centres, strict=True))
        if i % step == 0 or i == len(labels) - 1
    )


def line_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    threshold: float | None = None,
    threshold_name: str = "threshold",
) -> str:
    """One line over time (oldest left), with an optional dashed threshold."""
    span = WIDTH - LEFT - RIGHT
    count = len(values)
    xs = [LEFT + (span * (i + 0.5) / count) for i in range(count)]
    points = " ".join(f"{x:.1f},{_y(v):.1f}" for x, v in zip(xs, values, strict=True))
    colour = SERIES_COLOURS[0]
    marks = "".join(
        f'<circle cx="{x:.1f}" cy="{_y(v):.1f}" r="4" fill="{colour}"/>'
        for x, v in zip(xs, values, strict=True)
    )
    limit = ""
    if threshold is not None:
        y = _y(threshold)
        limit = (
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            'class="mp-chart-threshold"/>'
            f'<text x="{WIDTH - RIGHT}" y="{y - 5:.1f}" text-anchor="end" class="mp-chart-text">'
            f"{escape(threshold_name)} {threshold:.0%}</text>"
        )
    words = ", ".join(f"{label}: {v:.0%}" for label, v in zip(labels, values, strict=True))
    description = (
        f"{title}. "
        + words
        + (f". The {threshold_name} is {threshold:.0%}." if threshold is not None else ".")
    )
    body = (
        limit
        + f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.5"/>'
        + marks
        + _x_labels(labels, xs)
    )
    return _frame(chart_id, title, description, body)


def bar_chart(chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series]) -> str:
    """Grouped bars: one group per label (a model version), one bar per series."""
    span = WIDTH - LEFT - RIGHT
    group = span / max(1, len(labels))
    bar = min(28.0, group * 0.8 / max(1, len(series)))
    bars, words = [], []
    for i, label in enumerate(labels):
        start = LEFT + group * i + (group - bar * len(series)) / 2
        said = []
        for j, one in enumerate(series):
            value = one.values[i]
            if value is None:
                continue
            y = _y(value)
            bars.append(
                f'<rect x="{start + j * bar:.1f}" y="{y:.1f}" width="{bar - 2:.1f}" '
                f'height="{HEIGHT - BOTTOM - y:.1f}" fill="{SERIES_COLOURS[j % 4]}"/>'
            )
            said.append(f"{one.name} {value:.0%}")
        words.append(f"{label}: " + (", ".join(said) or "no figures"))
    centres = [LEFT + group * (i + 0.5) for i in range(len(labels))]
    description = f"{title}. " + "; ".join(words) + "."
    return _frame(chart_id, title, description, "".join(bars) + _x_labels(labels, centres))


def legend(series: Sequence[Series]) -> str:
    """The colour of each series, in words next to a swatch."""
    items = "".join(
        f'<li><span class="mp-swatch" style="background: {SERIES_COLOURS[j % 4]}" '
        f'aria-hidden="true"></span>{escape(one.name)}</li>'
        for j, one in enumerate(series)
    )
    return f'<ul class="mp-legend">{items}</ul>'
