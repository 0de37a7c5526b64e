"""Charts as inline SVG, drawn in Python: no JavaScript, no external resource, printable, scalable.

Each function returns :class:`markupsafe.Markup` ready to be placed in the HTML template. Every piece of
text that can come from events (category names, sources, cohort labels) is escaped with
:func:`markupsafe.escape` here, inside ``<text>`` and ``<title>`` as everywhere else: the SVG is built as
a string, so Jinja's autoescape does not see inside it. Coordinates are rounded to 0.1 so that the same
figures always draw the same bytes. Charts scale to the width of their container (``viewBox``, CSS
``width: 100%``).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from reports.i18n import Lang, clock, integer, label, percent, text
from reports.model import CampaignTotals, ConcurrencyCurve, Retention

ACCENT = "#2563eb"
ACCENT_SOFT = "#93c5fd"
MUTED = "#6b7280"
GRID = "#e5e7eb"
PEAK = "#dc2626"
WIDTH = 860
# The width of the phone variants (a 390 px screen less the page margins): drawn at about 1:1 there, so
# their 12-13 px text stays that size instead of being scaled down with a wide chart.
NARROW = 366


def _n(value: float) -> str:
    """A coordinate: at most one decimal, no trailing zeros (``12``, ``12.5``)."""
    rounded = round(value, 1)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.1f}"


def _e(value: object) -> str:
    return str(escape(str(value)))


def _svg(width: float, height: float, title: str, body: list[str], css_class: str) -> Markup:
    head = (
        f'<svg class="chart {css_class}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'role="img" aria-label="{_e(title)}" preserveAspectRatio="xMidYMid meet">'
    )
    return Markup("\n".join([head, f"<title>{_e(title)}</title>", *body, "</svg>"]))


def _nice_max(value: float) -> float:
    """The smallest round number at or above ``value`` whose quarters are round too (4 for 0 or less)."""
    if value <= 4:
        return 4.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 1.2, 1.6, 2.0, 2.4, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if step * power >= value:
            return step * power
    return 10.0 * power


def text_width(value: str, size: float) -> float:
    """An upper estimate of the drawn width of ``value`` at font ``size``: wide (CJK) characters take about
    one em, others at most about 0.7 em. SVG text does not wrap, so layouts reserve this much room for it."""
    return sum(size if unicodedata.east_asian_width(ch) in "WF" else size * 0.7 for ch in value)


def _shorten(value: str, limit: int) -> str:
    flat = " ".join(value.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# ---------------------------------------------------------------------------------------------------------
# Concurrency curve
# ---------------------------------------------------------------------------------------------------------


def concurrency_chart(curve: ConcurrencyCurve, lang: Lang, width: float = WIDTH) -> Markup:
    """Concurrent viewers at every minute of the day, the peak marked with a dot and its value and time.

    ``width`` below 600 draws the phone variant: an hour label every 6 hours instead of every 3.
    """
    title = text("concurrency", lang)
    y_max = _nice_max(max((c for _, c in curve.points), default=0))
    height, right, top, bottom = (260.0 if width >= 600 else 220.0), 18.0, 24.0, 30.0
    left = max(36.0, text_width(integer(y_max), 12) + 12)
    plot_w, plot_h = width - left - right, height - top - bottom
    minutes = max(curve.length_minutes, 1)

    def x(minute: float) -> float:
        return left + plot_w * minute / minutes

    def y(value: float) -> float:
        return top + plot_h * (1 - value / y_max)

    body = []
    for i in range(5):
        value = y_max * i / 4
        body.append(
            f'<line x1="{_n(left)}" x2="{_n(left + plot_w)}" y1="{_n(y(value))}" y2="{_n(y(value))}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        body.append(
            f'<text x="{_n(left - 6)}" y="{_n(y(value) + 4)}" text-anchor="end" class="axis">'
            f"{_e(integer(value))}</text>"
        )
    for hour in range(0, 25, 3 if width >= 600 else 6):
        minute = min(hour * 60, minutes)
        body.append(
            f'<text x="{_n(x(minute))}" y="{_n(height - 10)}" text-anchor="middle" class="axis">{hour:02d}:00</text>'
        )
    if curve.points:
        path = " ".join(f"{'M' if i == 0 else 'L'}{_n(x(m))},{_n(y(c))}" for i, (m, c) in enumerate(curve.points))
        first, last = curve.points[0][0], curve.points[-1][0]
        area = f"{path} L{_n(x(last))},{_n(y(0))} L{_n(x(first))},{_n(y(0))} Z"
        body.append(f'<path class="area" d="{area}" fill="{ACCENT_SOFT}" fill-opacity="0.35" stroke="none"/>')
        body.append(
            f'<path class="line" d="{path}" fill="none" stroke="{ACCENT}" stroke-width="1.5" stroke-linejoin="round"/>'
        )
        peak_minute = round((curve.pcu_at - curve.day_start).total_seconds() / 60)
        px, py = x(peak_minute), y(curve.pcu)
        caption = f"{text('peak', lang)} {integer(curve.pcu)} @ {clock(curve.pcu_at)}"
        # Anchor the caption so that all of it stays inside the chart, wherever the peak is.
        half = text_width(caption, 13) / 2
        anchor = "end" if px + half > width - 2 else ("start" if px - half < 2 else "middle")
        body.append(
            f'<line x1="{_n(px)}" x2="{_n(px)}" y1="{_n(py)}" y2="{_n(y(0))}" stroke="{PEAK}" '
            'stroke-dasharray="3 3" stroke-width="1"/>'
        )
        body.append(f'<circle class="peak" cx="{_n(px)}" cy="{_n(py)}" r="4.5" fill="{PEAK}"/>')
        body.append(
            f'<text x="{_n(px)}" y="{_n(max(py - 9, 12))}" text-anchor="{anchor}" class="peak-label" '
            f'fill="{PEAK}">{_e(caption)}</text>'
        )
    else:
        body.append(
            f'<text x="{_n(width / 2)}" y="{_n(height / 2)}" text-anchor="middle" class="axis">'
            f"{_e(text('no_rows', lang))}</text>"
        )
    body.append(f'<line x1="{_n(left)}" x2="{_n(left + plot_w)}" y1="{_n(y(0))}" y2="{_n(y(0))}" stroke="{MUTED}"/>')
    return _svg(width, height, title, body, _variant("concurrency-chart", width))


def _variant(css_class: str, width: float) -> str:
    """The chart's class: ``NAME`` for the wide drawing, ``NAME narrow`` for the phone variant."""
    return css_class if width >= 600 else f"{css_class} narrow"


# ---------------------------------------------------------------------------------------------------------
# Horizontal bars (categories, sources)
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    """One bar: its label (escaped when drawn), value, the text shown beside it, an optional second value."""

    label: str
    value: float
    shown: str
    second: float | None = None


def bar_chart(
    bars: Sequence[Bar], title: str, css_class: str, legend: tuple[str, str] | None = None, width: float = WIDTH
) -> Markup:
    """Horizontal bars, one row per item, longest scaled to the plot width; ``second`` draws a thin bar
    under the main one (e.g. hours broadcast under hours watched), on the same scale.

    The value column is as wide as the longest value text (CJK counted wide), so the text beside the
    longest bar is never cut at the chart's edge.
    """
    narrow = width < 600
    limit = 10 if narrow else 18
    row, top = 26.0, 8.0 if legend is None else 28.0
    longest_label = max((text_width(_shorten(b.label, limit), 13) for b in bars), default=0.0)
    label_w = min(max(longest_label + 12, 60.0), 110.0 if narrow else 170.0)
    value_w = max((text_width(b.shown, 13) for b in bars), default=0.0) + 14
    height = top + row * max(len(bars), 1) + 8
    plot_w = max(width - label_w - value_w, 40.0)
    scale = max([b.value for b in bars] + [b.second or 0.0 for b in bars] + [0.0])
    body = []
    if legend is not None:
        gap = text_width(legend[0], 12) + 36 if narrow else max(180.0, text_width(legend[0], 12) + 36)
        # Under the bars when the legend fits there, else from the chart's left edge.
        lx = label_w if label_w + gap + 16 + text_width(legend[1], 12) <= width else 0.0
        body.append(f'<rect x="{_n(lx)}" y="6" width="12" height="10" fill="{ACCENT}"/>')
        body.append(f'<text x="{_n(lx + 16)}" y="15" class="axis">{_e(legend[0])}</text>')
        second_x = lx + gap
        body.append(f'<rect x="{_n(second_x)}" y="9" width="12" height="4" fill="{MUTED}"/>')
        body.append(f'<text x="{_n(second_x + 16)}" y="15" class="axis">{_e(legend[1])}</text>')
    if not bars:
        body.append(f'<text x="{_n(label_w)}" y="{_n(top + 16)}" class="axis">—</text>')
    for i, b in enumerate(bars):
        y0 = top + i * row
        length = plot_w * b.value / scale if scale > 0 else 0.0
        body.append(f'<g class="bar"><title>{_e(b.label)}: {_e(b.shown)}</title>')
        body.append(
            f'<text x="{_n(label_w - 8)}" y="{_n(y0 + 15)}" text-anchor="end" class="bar-label">'
            f"{_e(_shorten(b.label, limit))}</text>"
        )
        body.append(
            f'<rect x="{_n(label_w)}" y="{_n(y0 + 4)}" width="{_n(max(length, 1.0))}" height="14" '
            f'fill="{ACCENT}" rx="2"/>'
        )
        if b.second is not None:
            second = plot_w * b.second / scale if scale > 0 else 0.0
            body.append(
                f'<rect x="{_n(label_w)}" y="{_n(y0 + 20)}" width="{_n(max(second, 1.0))}" height="3" fill="{MUTED}"/>'
            )
        body.append(f'<text x="{_n(label_w + length + 6)}" y="{_n(y0 + 15)}" class="bar-value">{_e(b.shown)}</text>')
        body.append("</g>")
    return _svg(width, height, title, body, _variant(css_class, width))


# ---------------------------------------------------------------------------------------------------------
# Retention heat map
# ---------------------------------------------------------------------------------------------------------


def _heat(value: float, top: float) -> str:
    """A blue of the strength of ``value`` relative to ``top``, in two bands: light blues (up to half of
    ``top``) that take dark text, dark blues (above half) that take white text. The mid-blues between,
    on which neither dark nor white text reaches a 4.5:1 contrast, are left out on purpose."""
    share = 0.0 if top <= 0 else max(0.0, min(1.0, value / top))
    if share <= 0.5:
        (lo, hi), t = ((239, 246, 255), (147, 180, 245)), share / 0.5
    else:
        (lo, hi), t = ((59, 99, 217), (30, 58, 138)), (share - 0.5) / 0.5
    r, g, b = (round(a + (z - a) * t) for a, z in zip(lo, hi, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def _luminance(colour: str) -> float:
    """Relative luminance (WCAG 2) of ``#rrggbb``."""

    def channel(part: str) -> float:
        c = int(part, 16) / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _wants_light_ink(fill: str) -> bool:
    """White text reads better than the page's dark ink (#111827) on ``fill`` (the higher WCAG contrast)."""
    background = _luminance(fill)
    on_white = 1.05 / (background + 0.05)
    on_ink = (background + 0.05) / (_luminance("#111827") + 0.05)
    return on_white > on_ink


def retention_heatmap(retention: Retention, lang: Lang) -> Markup:
    """The cohort triangle: one row per cohort (oldest first; leading empty cohorts, before any data, left
    out), its size, and D1 / D7 / D30 coloured by value ("—": empty cohort or not yet due)."""
    cohorts = list(retention.cohorts)
    while cohorts and cohorts[0].size == 0:
        cohorts.pop(0)
    title = text("retention_heatmap", lang)
    # Drawn at its own size (CSS max-width = this width): 13 px text, on phones too.
    row, top, date_w, size_w, cell_w = 24.0, 26.0, 88.0, 72.0, 70.0
    width = date_w + size_w + 3 * cell_w + 10
    height = top + row * max(len(cohorts), 1) + 6
    values = [v for c in cohorts for v in (c.d1, c.d7, c.d30) if v is not None]
    top_value = max(values, default=0.0)
    body = [
        f'<text x="0" y="16" class="axis head">{_e(text("cohort", lang))}</text>',
        f'<text x="{_n(date_w + size_w - 10)}" y="16" text-anchor="end" class="axis head">{_e(text("size", lang))}</text>',
    ]
    for j, key in enumerate(("d1", "d7", "d30")):
        cx = date_w + size_w + j * cell_w + cell_w / 2
        body.append(f'<text x="{_n(cx)}" y="16" text-anchor="middle" class="axis head">{_e(text(key, lang))}</text>')
    if not cohorts:
        body.append(f'<text x="0" y="{_n(top + 14)}" class="axis">{_e(text("no_rows", lang))}</text>')
    for i, c in enumerate(cohorts):
        y0 = top + i * row
        body.append(f'<text x="0" y="{_n(y0 + 16.5)}" class="axis">{_e(c.cohort_date.isoformat())}</text>')
        body.append(
            f'<text x="{_n(date_w + size_w - 10)}" y="{_n(y0 + 16.5)}" text-anchor="end" class="axis">'
            f"{_e(integer(c.size))}</text>"
        )
        for j, value in enumerate((c.d1, c.d7, c.d30)):
            x0 = date_w + size_w + j * cell_w
            fill = GRID if value is None else _heat(value, top_value)
            shown = percent(value)
            ink = " light" if _wants_light_ink(fill) else ""
            body.append(
                f'<rect class="cell" x="{_n(x0 + 1)}" y="{_n(y0 + 1)}" width="{_n(cell_w - 2)}" '
                f'height="{_n(row - 2)}" fill="{fill}"><title>{_e(c.cohort_date.isoformat())} '
                f"{_e(text(('d1', 'd7', 'd30')[j], lang))}: {_e(shown)}</title></rect>"
            )
            body.append(
                f'<text x="{_n(x0 + cell_w / 2)}" y="{_n(y0 + 16.5)}" text-anchor="middle" '
                f'class="cell-label{ink}">{_e(shown)}</text>'
            )
    return _svg(width, height, title, body, "retention-heatmap")


# ---------------------------------------------------------------------------------------------------------
# Campaign funnel
# ---------------------------------------------------------------------------------------------------------


def funnel_chart(totals: CampaignTotals, lang: Lang, width: float = WIDTH) -> Markup:
    """Impressions → clicks → attributed sign-ups, bar lengths on a log scale (clicks are a few percent
    of impressions), each step's rate between the bars (CTR, CVR).

    Wide: labels left of the bars, counts right of them. Phone variant (``width`` below 600): each step's
    label and count on a line above its bar, so that nothing lies beyond a narrow screen.
    """
    title = text("funnel", lang)
    steps = [
        (label("impressions", lang), totals.impressions),
        (label("clicks", lang), totals.clicks),
        (label("attributed_signups", lang), totals.attributed_signups),
    ]
    rates = [(label("ctr", lang), totals.ctr), (label("cvr", lang), totals.cvr)]
    narrow = width < 600
    top = 8.0
    if narrow:
        row, label_w, value_w, bar_y = 64.0, 0.0, 0.0, 20.0
    else:
        row, bar_y = 46.0, 4.0
        label_w = max(text_width(name, 13) for name, _ in steps) + 16
        value_w = max(text_width(integer(v), 13) for _, v in steps) + 16
    plot_w = width - label_w - value_w
    height = top + row * len(steps) + 18
    scale = math.log10(max(totals.impressions, totals.clicks, totals.attributed_signups, 1) + 1)
    body = []
    for i, (name, value) in enumerate(steps):
        y0 = top + i * row
        length = plot_w * math.log10(value + 1) / scale if scale > 0 else 0.0
        x0 = label_w + (plot_w - length) / 2
        if narrow:
            body.append(f'<text x="0" y="{_n(y0 + 13)}" class="bar-label">{_e(name)}</text>')
            body.append(
                f'<text x="{_n(width)}" y="{_n(y0 + 13)}" text-anchor="end" class="bar-value">{_e(integer(value))}</text>'
            )
        else:
            body.append(
                f'<text x="{_n(label_w - 8)}" y="{_n(y0 + 19)}" text-anchor="end" class="bar-label">{_e(name)}</text>'
            )
            body.append(
                f'<text x="{_n(label_w + plot_w + 8)}" y="{_n(y0 + 19)}" class="bar-value">{_e(integer(value))}</text>'
            )
        body.append(
            f'<rect class="funnel-step" x="{_n(x0)}" y="{_n(y0 + bar_y)}" width="{_n(max(length, 2.0))}" '
            f'height="22" fill="{ACCENT}" rx="3"/>'
        )
        if i < len(rates):
            rate_name, rate = rates[i]
            body.append(
                f'<text x="{_n(label_w + plot_w / 2)}" y="{_n(y0 + bar_y + 37)}" text-anchor="middle" class="axis">'
                f"↓ {_e(rate_name)} {_e(percent(rate, 2))}</text>"
            )
    body.append(
        f'<text x="{_n(width - 4)}" y="{_n(height - 4)}" text-anchor="end" class="axis note">'
        f"{_e(text('log_scale', lang))}</text>"
    )
    return _svg(width, height, title, body, _variant("funnel-chart", width))
