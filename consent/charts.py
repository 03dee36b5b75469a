"""Inline SVG charts for the admin dashboard, drawn on the server.

They need no JavaScript and no inline style (the admin's CSP forbids both): shapes carry
SVG presentation attributes only. Every chart has a <title> and <desc> for assistive
technology, and each mark a <title> with its exact value; the dashboard also shows the
numbers in a table.
"""

from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH = 720
HEIGHT = 240
LEFT = 44
RIGHT = 12
TOP = 12
BOTTOM = 28
PALETTE = ("#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b7791f", "#c53030")


@dataclass
class Series:
    name: str
    values: list[float | None]
    color: str = ""


def _colored(series: list[Series]) -> list[Series]:
    return [
        Series(s.name, s.values, s.color or PALETTE[i % len(PALETTE)]) for i, s in enumerate(series)
    ]


def _frame(title: str, desc: str, body: SafeString, labels: list[str], y_max: float, unit: str):
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    grid = []
    for i in range(5):
        value = y_max * i / 4
        y = TOP + plot_h - plot_h * i / 4
        grid.append(
            format_html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#ddd" stroke-width="1"/>'
                '<text x="{}" y="{}" font-size="11" text-anchor="end" fill="#555">{}{}</text>',
                LEFT,
                WIDTH - RIGHT,
                _n(y),
                _n(y),
                LEFT - 4,
                _n(y + 4),
                f"{value:.0f}",
                unit,
            )
        )
    step = max(1, len(labels) // 6)
    ticks = [
        format_html(
            '<text x="{}" y="{}" font-size="11" text-anchor="middle" fill="#555">{}</text>',
            _n(LEFT + plot_w * (i + 0.5) / len(labels)),
            HEIGHT - 8,
            label,
        )
        for i, label in enumerate(labels)
        if i % step == 0
    ]
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="100%" '
        'role="img" aria-labelledby="{}-t {}-d"><title id="{}-t">{}</title>'
        '<desc id="{}-d">{}</desc>{}{}{}</svg>',
        WIDTH,
        HEIGHT,
        _slug(title),
        _slug(title),
        _slug(title),
        title,
        _slug(title),
        desc,
        SafeString("".join(grid)),
        SafeString("".join(ticks)),
        body,
    )


def _n(number: float) -> str:
    return f"{number:.1f}"


def _slug(text: str) -> str:
    return "chart-" + "".join(c if c.isalnum() else "-" for c in text.lower())


def _x(i: int, count: int) -> float:
    return LEFT + (WIDTH - LEFT - RIGHT) * (i + 0.5) / count


def _y(value: float, y_max: float) -> float:
    plot_h = HEIGHT - TOP - BOTTOM
    return TOP + plot_h - plot_h * min(value, y_max) / y_max


def legend(series: list[Series]) -> SafeString:
    """The colour key, as HTML beside the chart (colour swatches are SVG too)."""
    return format_html_join(
        "",
        '<span class="chart-key"><svg width="12" height="12" aria-hidden="true">'
        '<rect width="12" height="12" fill="{}"/></svg> {}</span> ',
        ((s.color, s.name) for s in _colored(series)),
    )


def line_chart(
    title: str, labels: list[str], series: list[Series], y_max: float = 100, unit: str = "%"
) -> SafeString:
    """Lines over days; a None value (no decisions that day) breaks the line."""
    series = _colored(series)
    marks = []
    for s in series:
        runs: list[list[str]] = [[]]
        for i, value in enumerate(s.values):
            if value is None:
                runs.append([])
                continue
            x, y = _x(i, len(labels)), _y(value, y_max)
            runs[-1].append(f"{x:.1f},{y:.1f}")
            marks.append(
                format_html(
                    '<circle cx="{}" cy="{}" r="3" fill="{}"><title>{} {}: {}{}</title></circle>',
                    _n(x),
                    _n(y),
                    s.color,
                    labels[i],
                    s.name,
                    _n(value),
                    unit,
                )
            )
        for run in runs:
            if len(run) > 1:
                marks.insert(
                    0,
                    format_html(
                        '<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>',
                        " ".join(run),
                        s.color,
                    ),
                )
    desc = "; ".join(s.name for s in series) + f", per day, 0 to {y_max:.0f}{unit}."
    return _frame(title, desc, SafeString("".join(marks)), labels, y_max, unit)


def stacked_bars(title: str, labels: list[str], series: list[Series]) -> SafeString:
    """One bar per day, stacked by series (counts)."""
    series = _colored(series)
    totals = [sum(s.values[i] or 0 for s in series) for i in range(len(labels))]
    y_max = _nice(max(totals, default=0))
    bar_w = max(2.0, (WIDTH - LEFT - RIGHT) / max(1, len(labels)) * 0.7)
    marks = []
    for i in range(len(labels)):
        base = 0.0
        for s in series:
            value = s.values[i] or 0
            if not value:
                continue
            top, bottom = _y(base + value, y_max), _y(base, y_max)
            marks.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                    "<title>{} {}: {}</title></rect>",
                    _n(_x(i, len(labels)) - bar_w / 2),
                    _n(top),
                    _n(bar_w),
                    _n(bottom - top),
                    s.color,
                    labels[i],
                    s.name,
                    f"{value:.0f}",
                )
            )
            base += value
    desc = "Decisions per day, stacked: " + ", ".join(s.name for s in series) + "."
    return _frame(title, desc, SafeString("".join(marks)), labels, y_max, "")


def _nice(value: float) -> float:
    """A round axis maximum at or above value."""
    if value <= 4:
        return 4
    magnitude = 10 ** (len(str(int(value))) - 1)
    for factor in (1, 2, 2.5, 5, 10):
        if value <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude
