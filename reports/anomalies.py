"""The anomaly rule of docs/metrics.md, as a pure function.

A headline figure of day D is flagged when it lies more than 3 robust z-scores from the median of the
previous 28 days, robust z = (x - median) / (1.4826 x MAD), MAD being the median of the absolute deviations
from the median. With fewer than 7 previous days, or MAD = 0, nothing is flagged.

Readings where docs/metrics.md is silent (docs/report.md repeats them):

- "The previous 28 days" are the calendar days D-28 .. D-1; a day without a value for the figure (not
  built, or null: a ratio with a zero denominator) is left out and does not count towards the 7.
- A null value on D is never flagged.
- The report model passes only the previous days that are a full baseline for each figure (days with
  events, not the first day of data, full trailing windows: reports/baseline.py); a figure's value on a
  day that is not is null here, so it does not count either.
- Exactly 3 robust z-scores is not "more than 3": not flagged.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

WINDOW_DAYS = 28
MIN_PREVIOUS_DAYS = 7
THRESHOLD = 3.0
# Scales the MAD into an estimate of the standard deviation of normally distributed values.
MAD_SCALE = 1.4826

Direction = Literal["up", "down"]
Number = int | float


@dataclass(frozen=True)
class Anomaly:
    """One flagged figure.

    Attributes:
        metric: the headline key (``dau``, ``rebuffering_ratio``, ...).
        value: its value on D.
        median: the median of its previous days.
        direction: ``up`` when the value is above the median, ``down`` when below.
        z: the robust z-score (signed).
        days: how many previous days the median was taken over.
    """

    metric: str
    value: Number
    median: float
    direction: Direction
    z: float
    days: int


def robust_z(value: float, previous: Iterable[float]) -> float | None:
    """Robust z-score of ``value`` against ``previous``: (value - median) / (1.4826 x MAD).

    Returns None when ``previous`` is empty or its MAD is 0 (the score is undefined).
    """
    values = list(previous)
    if not values:
        return None
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    if mad == 0:
        return None
    return (value - median) / (MAD_SCALE * mad)


def check_figure(metric: str, value: Number | None, previous: Iterable[Number | None]) -> Anomaly | None:
    """Apply the rule to one figure: its value on D and its values on the previous days (nulls ignored)."""
    if value is None:
        return None
    values = [float(v) for v in previous if v is not None]
    if len(values) < MIN_PREVIOUS_DAYS:
        return None
    z = robust_z(float(value), values)
    if z is None or abs(z) <= THRESHOLD:
        return None
    return Anomaly(metric, value, statistics.median(values), "up" if z > 0 else "down", z, len(values))


def detect_anomalies(
    day: date,
    values: Mapping[str, Number | None],
    history: Mapping[date, Mapping[str, Number | None]],
    metrics: Iterable[str] | None = None,
) -> list[Anomaly]:
    """Every flagged figure of ``day``, in the order of ``metrics``.

    Args:
        day: the day D.
        values: D's figures by name.
        history: figures by day; only the days D-28 .. D-1 are read (others are ignored).
        metrics: which figures to check (default: every key of ``values``, in its order).

    Returns:
        The anomalies, in the order of ``metrics``.
    """
    window = [history[d] for d in (day - timedelta(days=n) for n in range(WINDOW_DAYS, 0, -1)) if d in history]
    flagged = []
    for metric in metrics if metrics is not None else values:
        anomaly = check_figure(metric, values.get(metric), (row.get(metric) for row in window))
        if anomaly is not None:
            flagged.append(anomaly)
    return flagged


def history_days(day: date, history: Mapping[date, object]) -> int:
    """How many of the days D-28 .. D-1 are in ``history`` (the rule needs at least 7)."""
    return sum(1 for n in range(1, WINDOW_DAYS + 1) if day - timedelta(days=n) in history)
