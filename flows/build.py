"""Build the marts: raw tables -> fact and daily mart tables (``flows.marts``).

:func:`run_build` is the plain code (used by the CLI, the flow and the benchmark); :func:`build_marts_flow`
is the Prefect flow ``build-marts`` around it. Without a range nor ``full`` the build is incremental: only
the days touched by what was ingested since the last build (and the days depending on them) are rebuilt.
Each day's marts are replaced in one lake transaction: analysts see a day's old marts or its new ones.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from prefect import flow, get_run_logger

from config.settings import Settings
from flows.marts import BuildResult, build_marts
from transforms.plan import plan_figures
from warehouse.lake import open_lake, retry_busy
from warehouse.lease import TTL, lease
from warehouse.plan import refresh_plan_mart
from warehouse.rebuild import data_days

log = logging.getLogger(__name__)


def build_label(from_day: date | None, to_day: date | None, full: bool) -> str:
    """The date range of a build as text, for run names: ``2026-11-01..2026-11-03``, ``full``, ``incremental-...``."""
    if full:
        return "full"
    if from_day is None and to_day is None:
        return "incremental-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{from_day or 'start'}..{to_day or 'end'}"


def _days_between(available: list[date], from_day: date | None, to_day: date | None) -> list[date]:
    """The days with data within ``[from_day, to_day]`` (an open end reaches the first / last day with data)."""
    return [d for d in available if (from_day is None or d >= from_day) and (to_day is None or d <= to_day)]


def run_build(
    settings: Settings,
    from_day: date | None = None,
    to_day: date | None = None,
    full: bool = False,
    progress: Callable[[str], None] | None = None,
) -> BuildResult:
    """Build the marts of the warehouse that ``settings`` describe.

    Args:
        settings: where the warehouse is, the report time zone and the allowed lateness.
        from_day: first day to rebuild (with ``to_day``: a range; alone: up to the last day with data).
        to_day: last day to rebuild (alone: from the first day with data).
        full: rebuild every day with data (the range is ignored).
        progress: called with a line of text per day built.

    Returns:
        What was built.

    Raises:
        ValueError: ``from_day`` is after ``to_day``.
    """
    if from_day is not None and to_day is not None and from_day > to_day:
        raise ValueError(f"--from {from_day} is after --to {to_day}")
    with open_lake(settings.lake) as con, lease(con) as held:  # one build at a time (warehouse/lease.py)
        renewed = time.monotonic()

        def step(line: str) -> None:
            nonlocal renewed
            if time.monotonic() - renewed > TTL.total_seconds() / 3:
                held.renew()
                renewed = time.monotonic()
            (progress or log.info)(line)

        days = None
        if not full and (from_day is not None or to_day is not None):
            days = _days_between(data_days(con, settings.report_timezone, settings.max_clock_skew), from_day, to_day)
        result = build_marts(
            con, days, settings.report_timezone, settings.allowed_lateness, full=full,
            max_clock_skew=settings.max_clock_skew, progress=step, slice_events=settings.build_slice_events,
        )  # fmt: skip
        # the plan's attainment for the current plan version (docs/plan.md)
        retry_busy(lambda: refresh_plan_mart(con, plan_figures), "plan mart")
    log.info("%s", result.line())
    return result


@flow(name="build-marts", flow_run_name="build-marts-{run_label}", log_prints=False)
def build_marts_flow(
    settings: Settings,
    from_day: date | None = None,
    to_day: date | None = None,
    full: bool = False,
    run_label: str = "",
) -> dict[str, Any]:
    """Prefect flow: rebuild the marts (incremental by default, a range, or everything)."""
    logger = get_run_logger()
    result = run_build(settings, from_day, to_day, full, progress=logger.info)
    logger.info(result.line())
    return {
        "build_id": result.build_id, "mode": result.mode, "days": [d.isoformat() for d in result.days],
        "complete_days": result.complete_days, "events": result.events, "rows": result.rows,
        "watermark": result.watermark.isoformat() if result.watermark else None, "seconds": result.seconds,
    }  # fmt: skip
