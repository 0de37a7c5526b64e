"""Attainment and pacing of a plan target on a report day D (docs/plan.md), from the target's daily figures.

Definitions (D is a report-timezone calendar day inside the target's period):

- **to date**: over the days of [period start, D] that have figures, Σ daily values (``sum``), their mean
  (``mean``), or Σ numerator / Σ denominator (``ratio``; never a mean of daily ratios).
- **attainment** = to date / target.
- **expected to date**: target * elapsed days / period days for a sum (the budget prorated to D), the target
  itself for a mean or a ratio.
- **linear projection**: a sum's daily run rate over the days with figures * the period's days; a mean or a
  ratio stays at its value to date.
- **weekday projection** (only when each of the 28 days D-27 .. D has figures): every remaining day of the
  period is predicted by the mean of the 4 days of the same weekday in D-27 .. D (numerator and denominator
  separately for a ratio), added to the figures to date. ``projected`` is this one where it exists, else
  the linear one.
- **status**: at_least: on_track when projected >= target, at_risk when projected >= target - 10 % * |target|,
  else off_track; at_most mirrored (<= target on track, <= target + 10 % at risk).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from schemas.plan import MetricRule, Target

AT_RISK_MARGIN = 0.10
WEEKDAY_WEEKS = 4


@dataclass(frozen=True)
class PlanFigures:
    day: date
    days_elapsed: int
    days_with_data: int
    period_days: int
    to_date: float | None
    expected_to_date: float
    attainment: float | None
    projected_linear: float | None
    projected_weekday: float | None
    projected: float | None
    projected_variance: float | None
    status: str


def _parts(frame: pl.DataFrame, rule: MetricRule) -> pl.DataFrame:
    """``day``, ``num`` and ``den`` per day (``den`` = 1 for a sum or a mean); days with a null value dropped."""
    num = pl.col(rule.column).cast(pl.Float64)
    if rule.aggregation == "ratio":
        if rule.weight is not None:
            num = num.fill_null(0.0) * pl.col(rule.weight).cast(pl.Float64)
        den = pl.col(rule.den or "").cast(pl.Float64)
        return frame.select("day", (num * rule.scale).alias("num"), den.alias("den")).drop_nulls()
    return frame.select("day", num.alias("num"), pl.lit(1.0).alias("den")).drop_nulls()


def _value(rule: MetricRule, num: float, den: float, days: int) -> float | None:
    if rule.aggregation == "sum":
        return num
    if rule.aggregation == "mean":
        return num / days if days else None
    return num / den if den else None


def status(target: Target, projected: float | None) -> str:
    """on_track / at_risk / off_track by the thresholds above (``no_data`` without a projection)."""
    if projected is None:
        return "no_data"
    margin = AT_RISK_MARGIN * abs(target.target)
    if target.direction == "at_least":
        return (
            "on_track"
            if projected >= target.target
            else "at_risk"
            if projected >= target.target - margin
            else "off_track"
        )
    return (
        "on_track" if projected <= target.target else "at_risk" if projected <= target.target + margin else "off_track"
    )


def plan_figures(target: Target, daily: pl.DataFrame, day: date) -> PlanFigures | None:
    """The figures of ``target`` on ``day``.

    Args:
        target: the plan line.
        daily: the scope's daily figures (column ``day`` plus the rule's columns), any days; days without a
            row have no figures.
        day: D.

    Returns:
        The figures, or None when D is outside the period.
    """
    period, rule = target.period, target.rule
    if not period.start <= day <= period.end:
        return None
    parts = _parts(daily.filter(pl.col("day") <= day), rule)
    in_period = parts.filter(pl.col("day") >= period.start)
    n = in_period.height
    num, den = float(in_period["num"].sum()), float(in_period["den"].sum())
    to_date = _value(rule, num, den, n) if n else None
    elapsed = (day - period.start).days + 1
    expected = target.target * elapsed / period.days if rule.aggregation == "sum" else target.target

    linear: float | None = None
    if to_date is not None:
        linear = to_date / n * period.days if rule.aggregation == "sum" else to_date

    weekday: float | None = None
    window = parts.filter(pl.col("day") > day - timedelta(days=7 * WEEKDAY_WEEKS))
    if window.height == 7 * WEEKDAY_WEEKS and n:
        means = {
            wd: (float(g["num"].mean()), float(g["den"].mean()))  # type: ignore[arg-type]
            for (wd,), g in window.with_columns(pl.col("day").dt.weekday().alias("wd")).group_by("wd")
        }
        rest = [day + timedelta(days=i) for i in range(1, (period.end - day).days + 1)]
        p_num = num + sum(means[d.isoweekday()][0] for d in rest)
        p_den = den + sum(means[d.isoweekday()][1] for d in rest)
        weekday = _value(rule, p_num, p_den, n + len(rest))

    projected = weekday if weekday is not None else linear
    return PlanFigures(
        day=day,
        days_elapsed=elapsed,
        days_with_data=n,
        period_days=period.days,
        to_date=to_date,
        expected_to_date=expected,
        attainment=None if to_date is None or target.target == 0 else to_date / target.target,
        projected_linear=linear,
        projected_weekday=weekday,
        projected=projected,
        projected_variance=None if projected is None else projected - target.target,
        status=status(target, projected),
    )
