"""``liveops quality --date D``: check a day's data before anyone reads it.

Registered by the main app (``liveops.cli``) as the ``quality`` command.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from liveops.console import PREFECT_HELP, day_option, fail, load_settings, tracked_by_prefect

if TYPE_CHECKING:
    from quality.checks import QualityReport


def format_report(report: QualityReport, timezone: str) -> str:
    """The human summary: the verdict, passed / failed per suite, then every failure with what was observed."""
    verdict = "VERIFIED" if report.verified else "UNVERIFIED"
    lines = [
        f"Data quality of {report.day} ({timezone}): {verdict}: {len(report.critical_failures)} critical "
        f"failure(s), {len(report.warnings)} warning(s), {len(report.results)} expectations in "
        f"{len(report.suites())} suites.",
        "",
        f"{'suite':<30}{'passed':>8}{'failed':>8}",
    ]
    for s in report.suites():
        mark = "  <- critical" if s.critical_failures else ("  <- warning" if s.failed else "")
        lines.append(f"{s.suite:<30}{s.passed:>8}{s.failed:>8}{mark}")
    if report.failures:
        lines += ["", "Failures:"]
        # Critical first, then warnings, each in suite order.
        for r in sorted(report.failures, key=lambda r: r.severity != "critical"):
            lines.append(f"  [{r.severity}] {r.suite}.{r.expectation}: {r.description}")
            lines.append(f"      observed: {r.observed_value}" + (f"; {r.details}" if r.details else ""))
    lines += [
        "",
        f"Checked {report.events:,} events in {report.seconds:.1f} s "
        f"(DuckDB {report.frames_seconds:.1f} s, Great Expectations {report.validation_seconds:.1f} s).",
    ]
    if report.data_docs is not None:
        lines.append(f"Data Docs: {report.data_docs}")
    return "\n".join(lines)


def quality(
    day: Annotated[date, day_option("the day to check (a calendar day of LIVEOPS_REPORT_TIMEZONE)")],
    prefect: Annotated[
        bool, typer.Option("--prefect/--no-prefect", help=PREFECT_HELP.format(flow="check-quality"))
    ] = True,
) -> None:
    """Check a day's data with Great Expectations before anyone reads it; exit 1 on a critical failure.

    Runs every suite (docs/quality.md): each topic's events of the day against the event contract, each daily
    mart (keys, ranges, labels), the day's volume against the 7 days before, freshness, streams referenced
    by sessions and engagement, and reconciliations between marts. Results go to the warehouse
    (quality_runs, quality_results, day_status: a critical failure marks the day unverified) and the GX Data
    Docs to <LIVEOPS_REPORTS_DIR>/<date>/data-docs/index.html. Build the day's marts first (`liveops build`).
    """

    from flows.quality import NoDataForDay, check_quality, run_quality

    settings = load_settings()
    try:
        report = check_quality(settings, day) if tracked_by_prefect(prefect) else run_quality(settings, day)
    except NoDataForDay as exc:
        raise fail(f"Nothing to check: {exc}") from exc
    typer.echo(format_report(report, settings.report_timezone))
    if not report.verified:
        raise typer.Exit(1)
