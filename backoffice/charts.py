"""Server-side SVG charts for the dashboard: no JavaScript, no CDN, readable without styles, printable.

Each chart is an inline `<svg>` sized by its `viewBox` (it scales with its card), coloured through CSS classes
(`bo-s-<series>`, see static/backoffice/admin.css) so the admin's light and dark themes both work. Every bar
carries its value in `data-value` and a `<title>` tooltip; the numbers are also in a table under the chart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 600, 250  # about the card's size on a laptop screen, so 12 px text stays about 12 px
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 28


@dataclass(frozen=True)
class Series:
    name: str
    css: str  # the colour class suffix: bo-s-<css>
    values: Sequence[int]


def nice_ceiling(value: int, ticks: int = 4) -> tuple[int, int]:
    """A round axis maximum a little above `value`, and its step: 3 to 6 steps of 1, 2, 2.5 or 5 × 10^k
    (integers only), the tightest such maximum winning."""
    if value <= 0:
        return ticks, 1
    target = value * 1.05  # keep the tallest bar off the top line
    magnitude = 10 ** math.floor(math.log10(target / ticks))
    best: tuple[int, int] | None = None
    for scale in (magnitude / 10, magnitude, magnitude * 10):
        for factor in (1, 2, 2.5, 5):
            step = factor * scale
            if step < 1 or step != int(step):
                continue
            count = math.ceil(target / step)
            if 3 <= count <= 6 and (best is None or count * step < best[0]):
                best = (int(count * step), int(step))
    if best is None:
        step = max(math.ceil(target / ticks), 1)
        best = (step * ticks, step)
    return best


def compact(value: int) -> str:
    """Axis labels: 950, 1.2k, 15k, 1.2M."""
    for limit, suffix in ((1_000_000, "M"), (1_000, "k")):
        if abs(value) >= limit:
            scaled = value / limit
            text = f"{scaled:.1f}".rstrip("0").rstrip(".") if abs(scaled) < 10 else f"{scaled:.0f}"
            return text + suffix
    return str(value)


def _svg(chart_id: str, title: str, body: list[str], *, height: int = HEIGHT, total: int = 0) -> SafeString:
    head = format_html(
        '<svg class="bo-chart" id="{}" viewBox="0 0 {} {}" role="img" aria-labelledby="{}-title" '
        'preserveAspectRatio="xMidYMid meet" data-total="{}" xmlns="http://www.w3.org/2000/svg">'
        '<title id="{}-title">{}</title>',
        chart_id,
        WIDTH,
        height,
        chart_id,
        total,
        chart_id,
        title,
    )
    return mark_safe(head + "".join(body) + "</svg>")


def _y_axis(maximum: int, step: int, plot_height: int) -> list[str]:
    parts = []
    for value in range(0, maximum + 1, step):
        y = TOP + plot_height - plot_height * value / maximum
        parts.append(
            format_html(
                '<line class="bo-gridline" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                '<text class="bo-axis" x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>',
                LEFT,
                WIDTH - RIGHT,
                f"{y:.1f}",
                f"{y:.1f}",
                LEFT - 8,
                f"{y:.1f}",
                compact(value),
            )
        )
    return parts


def column_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    tooltips: Sequence[str] | None = None,
    label_every: int = 1,
    partial_last: bool = False,
) -> SafeString:
    """Vertical columns, one group per label, one column per series (grouped side by side). With
    `partial_last`, the last group (today, this month) is drawn lighter: it is not over yet."""
    plot_height = HEIGHT - TOP - BOTTOM
    plot_width = WIDTH - LEFT - RIGHT
    peak = max((v for s in series for v in s.values), default=0)
    maximum, step = nice_ceiling(peak)
    parts = _y_axis(maximum, step, plot_height)
    slot = plot_width / max(len(labels), 1)
    gap = slot * (0.28 if len(series) > 1 else 0.22)
    column = (slot - gap) / max(len(series), 1)
    baseline = TOP + plot_height
    for i, label in enumerate(labels):
        x0 = LEFT + i * slot + gap / 2
        for j, s in enumerate(series):
            value = s.values[i]
            h = plot_height * value / maximum
            partial = partial_last and i == len(labels) - 1
            tip = f"{tooltips[i] if tooltips else label}{' (so far)' if partial else ''} · {s.name}: {value:,}"
            parts.append(
                format_html(
                    '<rect class="bo-bar bo-s-{}{}" x="{}" y="{}" width="{}" height="{}" rx="2" data-value="{}">'
                    "<title>{}</title></rect>",
                    s.css,
                    " bo-partial" if partial else "",
                    f"{x0 + j * column:.1f}",
                    f"{baseline - h:.1f}",
                    f"{max(column - 1, 1):.1f}",
                    f"{h:.1f}",
                    value,
                    tip,
                )
            )
        if (len(labels) - 1 - i) % label_every == 0:  # counted from the end: the latest is always labelled
            parts.append(
                format_html(
                    '<text class="bo-axis" x="{}" y="{}" text-anchor="middle">{}</text>',
                    f"{LEFT + i * slot + slot / 2:.1f}",
                    baseline + 18,
                    label,
                )
            )
    parts.append(
        format_html(
            '<line class="bo-baseline" x1="{}" x2="{}" y1="{}" y2="{}"/>', LEFT, WIDTH - RIGHT, baseline, baseline
        )
    )
    total = sum(v for s in series for v in s.values)
    return _svg(chart_id, title, parts, total=total)


def bar_list(
    chart_id: str, title: str, rows: Sequence[tuple[str, int, str]], *, css: str = "top", unit: str = "uses"
) -> SafeString:
    """Horizontal bars, one row per `(label, value, link)`, largest first; the label sits above its bar."""
    row_height = 34
    height = max(len(rows), 1) * row_height + 8
    maximum = max((value for _, value, _ in rows), default=0) or 1
    label_x, bar_x, value_pad = 4, 4, 64
    bar_space = WIDTH - bar_x - value_pad
    parts = []
    for i, (label, value, link) in enumerate(rows):
        y = 4 + i * row_height
        width = bar_space * value / maximum
        text = format_html('<text class="bo-bar-label" x="{}" y="{}">{}</text>', label_x, y + 11, label)
        if link:
            text = format_html('<a href="{}">{}</a>', link, text)
        parts.append(text)
        parts.append(
            format_html(
                '<rect class="bo-bar bo-s-{}" x="{}" y="{}" width="{}" height="12" rx="3" data-value="{}">'
                "<title>{}: {} {}</title></rect>"
                '<text class="bo-axis bo-value" x="{}" y="{}" dominant-baseline="middle">{}</text>',
                css,
                bar_x,
                y + 16,
                f"{max(width, 2):.1f}",
                value,
                label,
                f"{value:,}",
                unit,
                f"{bar_x + width + 6:.1f}",
                y + 22,
                f"{value:,}",
            )
        )
    total = sum(value for _, value, _ in rows)
    return _svg(chart_id, title, parts, height=height, total=total)


def legend(series: Sequence[Series]) -> SafeString:
    items = "".join(format_html('<li><span class="bo-swatch bo-s-{}"></span>{}</li>', s.css, s.name) for s in series)
    return mark_safe(f'<ul class="bo-legend">{items}</ul>')
