"""``liveops backfill``: rebuild the marts of a range of days, then run each day's quality, report and
(on request) delivery through :func:`flows.pipeline.run_day`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from config.settings import Settings
from flows.build import run_build
from flows.pipeline import DayResult, Step, StepOutcome, run_day
from warehouse.lake import open_lake
from warehouse.records import completeness_of_built_days

log = logging.getLogger(__name__)


@dataclass
class BackfillDay:
    """What a backfill did for one day."""

    day: date
    built: bool = False
    complete: bool | None = None
    quality: str = "skipped"
    report: str = "skipped"
    delivery: str = "off"

    @property
    def ok(self) -> bool:
        return not any(s.startswith("FAILED") for s in (self.quality, self.report, self.delivery))

    def line(self) -> str:
        built = "no data" if not self.built else ("built, complete" if self.complete else "built, incomplete")
        return f"{self.day}: {built}; quality {self.quality}; report {self.report}; delivery {self.delivery}"

    def take(self, result: DayResult) -> None:
        """Fill in the quality, report and delivery words from a :func:`run_day` result."""
        if (quality := result.steps.get("quality")) is not None:
            self.quality = _failed_words(quality) if quality.failed else quality.detail
        if (report := result.steps.get("report")) is not None:
            self.report = _failed_words(report) if report.failed else report.detail
        if (delivery := result.steps.get("deliver")) is not None and delivery.status != "skipped":
            self.delivery = "FAILED: " + str(delivery.error) if delivery.failed else delivery.detail


def _failed_words(outcome: StepOutcome) -> str:
    return f"FAILED ({outcome.detail})"


def _days(from_day: date, to_day: date) -> list[date]:
    return [from_day + timedelta(days=n) for n in range((to_day - from_day).days + 1)]


def run_backfill(
    settings: Settings,
    from_day: date,
    to_day: date,
    langs: Sequence[str] | None = None,
    deliver: bool = False,
    progress: Callable[[str], None] = log.info,
) -> list[BackfillDay]:
    """Rebuild the marts of ``[from_day, to_day]``, then per day: quality checks and the report, and
    delivery when asked. Idempotent: a rerun leaves the same marts and report files.

    The build covers the whole range at once (its chunks share their look-back reads); a day's failing
    quality check or report is reported and the next day goes on.

    Raises:
        ValueError: ``from_day`` is after ``to_day``.
    """
    if from_day > to_day:
        raise ValueError(f"--from {from_day} is after --to {to_day}")
    days = _days(from_day, to_day)
    progress(f"Backfill of {len(days)} day(s) {from_day}..{to_day}: building the marts ...")
    result = run_build(settings, from_day, to_day, progress=lambda line: progress("  " + line))
    progress("  " + result.line())
    built = set(result.days)
    complete = _complete_days(settings, result.days)
    steps: list[Step] = ["quality", "report", "deliver"] if deliver else ["quality", "report"]
    outcome: list[BackfillDay] = []
    for number, day in enumerate(days, 1):
        entry = BackfillDay(day, built=day in built, complete=complete.get(day))
        if entry.built:
            entry.take(run_day(settings, day, steps, langs=langs))
        outcome.append(entry)
        progress(f"[{number}/{len(days)}] {entry.line()}")
    return outcome


def _complete_days(settings: Settings, days: list[date]) -> dict[date, bool]:
    if not days:
        return {}
    with open_lake(settings.lake, read_only=True) as con:
        return completeness_of_built_days(con, min(days), max(days))
