"""Check a day's data quality before anyone reads it (``quality.checks``).

:func:`run_quality` is the plain code (used by the CLI, the flow, the benchmark and the tests);
:func:`check_quality` is the Prefect flow ``check-quality`` around it. The day's GX Data Docs are written to
``<reports_dir>/<day>/data-docs/``; the results go to ``quality_runs``, ``quality_results`` and
``day_status`` (a critical failure marks the day ``unverified``).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger

from config.settings import Settings
from quality.checks import DayWindow, QualityReport, check_day, event_span, windows_from
from schemas.expectations import VOLUME_TRAILING_DAYS
from transforms.days import days_frame
from warehouse.lake import lake_exists, open_lake

log = logging.getLogger(__name__)


class NoDataForDay(LookupError):
    """The warehouse holds no data for the day asked (the message says what it holds and what to do)."""


def quality_windows(day: date, tz: str) -> list[DayWindow]:
    """The day and the days before it that the volume suite compares it with, bounded in ``tz``."""
    days = [day - timedelta(days=k) for k in range(VOLUME_TRAILING_DAYS, -1, -1)]
    return windows_from(days_frame(days, tz).collect())


def data_docs_dir(settings: Settings, day: date) -> Path:
    """Where the day's Data Docs go: next to the day's report, ``<reports_dir>/<day>/data-docs``."""
    # Absolute: GX's Data Docs site builder refuses a relative base directory.
    return (settings.reports_dir / day.isoformat() / "data-docs").resolve()


def run_quality(
    settings: Settings, day: date, report_time: datetime | None = None, data_docs: bool = True
) -> QualityReport:
    """Check ``day`` in the warehouse that ``settings`` describe, store the results.

    Args:
        settings: the warehouse, the report time zone, the allowed lateness and the reports folder.
        day: a local day of the report time zone.
        report_time: the instant freshness is judged at (default: now).
        data_docs: render the GX Data Docs to ``<reports_dir>/<day>/data-docs/``.

    Returns:
        The day's results and status.

    Raises:
        NoDataForDay: there is no warehouse yet, it holds no event, or ``day`` lies outside the days it holds.
    """
    if not lake_exists(settings.lake):
        raise NoDataForDay(
            f"there is no warehouse at {settings.lake.describe()} yet: run `liveops ingest`, then `liveops build`."
        )
    tz = settings.report_timezone
    with open_lake(settings.lake) as con:
        span = event_span(con)
        if span is None:
            raise NoDataForDay("the warehouse holds no event yet: run `liveops ingest`, then `liveops build`.")
        first, last = (instant.astimezone(ZoneInfo(tz)).date() for instant in span)
        if not first <= day <= last:
            raise NoDataForDay(
                f"the warehouse has no data for {day}: its events span {first} to {last} ({tz} days). "
                "Pick a day in that range, or ingest that day's events first."
            )
        report = check_day(
            con,
            quality_windows(day, tz),
            settings.allowed_lateness,
            report_time or datetime.now(UTC),
            data_docs_dir(settings, day) if data_docs else None,
            max_clock_skew=settings.max_clock_skew,
        )
    return report


@flow(name="check-quality", flow_run_name="check-quality-{day}", log_prints=False)
def check_quality(settings: Settings, day: date) -> QualityReport:
    """Prefect flow: check one day's data quality and store the results (``liveops quality --date D``)."""
    logger = get_run_logger()
    report = run_quality(settings, day)
    for failure in report.failures:
        logger.warning(
            "%s %s.%s failed: observed %s %s",
            failure.severity,
            failure.suite,
            failure.expectation,
            failure.observed_value,
            failure.details,
        )
    logger.info(
        "%s is %s: %d critical failure(s), %d warning(s) out of %d expectations; Data Docs %s",
        day,
        report.status,
        len(report.critical_failures),
        len(report.warnings),
        len(report.results),
        report.data_docs,
    )
    return report
