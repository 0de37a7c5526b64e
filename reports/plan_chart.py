"""The attainment chart of a plan target, as inline SVG (see :mod:`reports.charts`).

x: the days of the period. Solid line: the figure to date on each day (cumulative for a sum, the running
average or ratio otherwise). Grey line: the target path (the target prorated over the period for a sum,
the target level otherwise). Dashed line: from D's figure to the projection at the period's end.
"""

from __future__ import annotations

from markupsafe import Markup

from reports.charts import ACCENT, GRID, MUTED, PEAK, _e, _n, _svg
from reports.i18n import Lang, label, text
from reports.plan import PlanEntry

W, H, LEFT, RIGHT, TOP, BOTTOM = 400.0, 150.0, 8.0, 8.0, 22.0, 18.0


def plan_chart(entry: PlanEntry, lang: Lang) -> Markup:
    """One small chart: actual to date against the target path, with the projection to the period's end."""
    days = max((entry.period_end - entry.period_start).days + 1, 1)
    summed = entry.aggregation == "sum"
    values = [v for _, v in entry.series if v is not None]
    top = max([entry.target, entry.projected or 0.0, *values, 1e-9]) * 1.1
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(day_index: float) -> float:
        return LEFT + plot_w * day_index / days

    def y(value: float) -> float:
        return TOP + plot_h * (1 - max(value, 0.0) / top)

    title = f"{label(entry.metric, lang)} · {entry.scope} · {entry.period}"
    body = [
        f'<rect x="{_n(LEFT)}" y="{_n(TOP)}" width="{_n(plot_w)}" height="{_n(plot_h)}" fill="none" stroke="{GRID}"/>',
        f'<text class="axis head" x="{_n(LEFT)}" y="14">{_e(title)}</text>',
    ]
    start_target = 0.0 if summed else entry.target
    body.append(
        f'<line class="target-line" x1="{_n(x(0))}" y1="{_n(y(start_target))}" x2="{_n(x(days))}" '
        f'y2="{_n(y(entry.target))}" stroke="{MUTED}" stroke-width="1.5"/>'
    )
    points = [f"{_n(x((d - entry.period_start).days + 1))},{_n(y(v))}" for d, v in entry.series if v is not None]
    if points:
        body.append(
            f'<polyline class="actual" fill="none" stroke="{ACCENT}" stroke-width="2.5" points="{" ".join(points)}"/>'
        )
    last_day, last_value = entry.series[-1] if entry.series else (entry.period_start, None)
    if last_value is not None and entry.projected is not None:
        colour = PEAK if entry.status == "off_track" else "#d97706" if entry.status == "at_risk" else ACCENT
        body.append(
            f'<line class="projection" x1="{_n(x((last_day - entry.period_start).days + 1))}" y1="{_n(y(last_value))}" '
            f'x2="{_n(x(days))}" y2="{_n(y(entry.projected))}" stroke="{colour}" stroke-width="2" stroke-dasharray="5 4"/>'
        )
    body.append(
        f'<text class="axis" x="{_n(LEFT)}" y="{_n(H - 4)}">{_e(entry.period_start.isoformat())}</text>'
        f'<text class="axis" x="{_n(W - RIGHT)}" y="{_n(H - 4)}" text-anchor="end">{_e(entry.period_end.isoformat())}</text>'
    )
    return _svg(W, H, f"{text('plan_chart', lang)}: {title}", body, "plan-chart")
