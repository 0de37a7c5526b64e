"""Which days a figure may be compared with, and which moves of a survey figure its sample supports.

docs/metrics.md, "Comparisons", states the rule; this module is its pure form, used by the report model
for the deltas ("vs previous day", "vs same day last week"), the narrative's movers and the anomaly rule's
history, so that all three agree on what counts as a baseline.

A figure of D is compared with day B only when B is a *full baseline* for it:

- B was built and has events (a day the pipeline saw nothing of says nothing about the platform);
- B is not the first day with events: every user is new on it, and it usually starts part-way through;
- for a figure over a trailing window (WAU: 7 days, MAU and stickiness: 30 days), both B's and D's windows
  lie wholly on days since the first day with events, so that a week is compared with a week.

A survey figure (CSAT, NPS) rests on the day's responses. Its move against B is *supported* when it is more
than 1.96 standard errors of the difference (95 %) and both days have at least ``MIN_RESPONSES`` responses;
otherwise the report shows it with its sample size but does not lead with it. A count figure (sign-ups,
new users, …) below ``MIN_COUNT`` on either day is treated alike: 8 -> 13 is +62 % and says little.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Literal

# Trailing windows (days, D included) of the headline figures that have one.
WINDOWS: dict[str, int] = {"wau": 7, "mau": 30, "stickiness": 30}
# Survey figures: the headline key and the ``survey`` of its feedback events.
SURVEYS: dict[str, str] = {"csat": "csat", "nps": "nps"}
MIN_RESPONSES = 30
# A count figure below this on either day: its relative move is not led with (a few events swing it).
MIN_COUNT = 30
Z_95 = 1.96

GapReason = Literal["before_data", "not_built", "no_data", "first_day", "short_window"]


@dataclass(frozen=True)
class Gap:
    """Why a figure of D is not compared with a day.

    Attributes:
        day: the day that is not a full baseline (the comparison day, or D itself for a short window).
        reason: ``before_data`` (before the first day with events), ``not_built``, ``no_data`` (built, no
            events), ``first_day`` (the first day with events) or
            ``short_window`` (the figure's trailing window reaches before the first day with events).
        window: the window in days (``short_window`` only). have: days of it with data since the first day.
    """

    day: date
    reason: GapReason
    window: int | None = None
    have: int | None = None


@dataclass(frozen=True)
class Sample:
    """The survey responses of one day: ``n`` responses, ``positive`` of them good (CSAT 4-5, NPS 9-10)
    and ``negative`` bad (NPS 0-6; for CSAT the rest, n - positive)."""

    n: int
    positive: int
    negative: int

    def variance(self, survey: str) -> float:
        """The variance of one response's contribution to the figure (CSAT as a share, NPS in points)."""
        if self.n == 0:
            return 0.0
        good, bad = self.positive / self.n, self.negative / self.n
        if survey == "nps":
            return 100.0**2 * (good + bad - (good - bad) ** 2)
        return good * (1 - good)


def window_gap(key: str, day: date, first_day: date | None) -> Gap | None:
    """A short trailing window of ``key`` on ``day`` (None when the figure has no window or it is full)."""
    window = WINDOWS.get(key)
    if window is None or first_day is None:
        return None
    have = (day - first_day).days + 1
    return None if have >= window else Gap(day, "short_window", window, max(have, 0))


def baseline_gap(
    key: str, day: date, base: date, built: Collection[date], with_data: Collection[date], first_day: date | None
) -> Gap | None:
    """Why ``key`` of ``day`` may not be compared with ``base`` (None: ``base`` is a full baseline).

    Args:
        key: the headline key.
        day: D. base: the comparison day (D-1, D-7, or a day of the anomaly rule's window).
        built: the days the marts hold. with_data: the built days with at least one event.
        first_day: the first day with events (None: none).
    """
    if first_day is not None and base < first_day:
        return Gap(base, "before_data")
    if base not in built:
        return Gap(base, "not_built")
    if base not in with_data:
        return Gap(base, "no_data")
    if base == first_day:
        return Gap(base, "first_day")
    return window_gap(key, day, first_day) or window_gap(key, base, first_day)


def supported(survey: str, change: float, now: Sample | None, base: Sample | None) -> bool:
    """Whether a move of ``change`` (CSAT: in share, 0.05 = 5 pp; NPS: in points) between two days'
    responses is more than sampling noise: both days have ``MIN_RESPONSES``, and |change| > 1.96 SE."""
    if now is None or base is None or now.n < MIN_RESPONSES or base.n < MIN_RESPONSES:
        return False
    error = math.sqrt(now.variance(survey) / now.n + base.variance(survey) / base.n)
    return abs(change) > Z_95 * error
