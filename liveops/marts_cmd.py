"""``liveops build`` and ``liveops query``: build the marts, and let analysts query the warehouse.

Registered by the main app (``liveops.cli``) as the ``build`` and ``query`` commands.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from liveops.console import PREFECT_HELP, day_option, fail, load_settings, say, tracked_by_prefect
from liveops.query import DEFAULT_TABLE_ROWS, OutputFormat

if TYPE_CHECKING:
    pass

# ---------------------------------------------------------------------------------------------------------
# liveops build
# ---------------------------------------------------------------------------------------------------------


def build(
    from_day: Annotated[
        date | None,
        day_option(
            "first day to rebuild (a day of the report time zone); alone: up to the last day with data", "--from"
        ),
    ] = None,
    to_day: Annotated[
        date | None, day_option("last day to rebuild; alone: from the first day with data", "--to")
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="rebuild every day with data")] = False,
    prefect: Annotated[
        bool, typer.Option("--prefect/--no-prefect", help=PREFECT_HELP.format(flow="build-marts"))
    ] = True,
) -> None:
    """Build the marts (sessions, minute concurrency, daily figures, retention) from the raw tables.

    With no option the build is incremental: it rebuilds the days touched by what was ingested since the last
    build, plus the days whose figures depend on them (the 30 days after new activity, attribution windows,
    sessions and streams crossing midnight, days that were still incomplete). --from/--to rebuild a range;
    --full rebuilds every day. Each day is replaced in one transaction; rebuilding a day gives the same rows.
    Days are calendar days of LIVEOPS_REPORT_TIMEZONE. `liveops query` sees each day's new marts as soon as
    its transaction commits.
    """
    from flows.build import build_label, build_marts_flow, run_build

    if full and (from_day or to_day):
        raise fail("use either --full or --from/--to, not both", 2)
    start, end = from_day, to_day
    if start and end and start > end:
        raise fail(f"--from {start} is after --to {end}", 2)
    settings = load_settings()
    if tracked_by_prefect(prefect):
        summary = build_marts_flow(settings, start, end, full, run_label=build_label(start, end, full))
        say(f"build done: {summary['mode']} build of {len(summary['days'])} day(s) in {summary['seconds']:.1f} s")
    else:
        result = run_build(settings, start, end, full, progress=say)
        say(result.line())


# ---------------------------------------------------------------------------------------------------------
# liveops query
# ---------------------------------------------------------------------------------------------------------


def query(
    sql: Annotated[
        str,
        typer.Argument(
            metavar="SQL",
            help="one read-only statement: SELECT, WITH, FROM, SHOW TABLES, DESCRIBE <view>, EXPLAIN ...; "
            "'-' reads it from standard input",
        ),
    ],
    output: Annotated[
        OutputFormat,
        typer.Option("--format", "-f", help="table (aligned, for reading), csv or json (for other tools)"),
    ] = OutputFormat.table,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=0,
            help=f"table format: print at most this many rows (default: {DEFAULT_TABLE_ROWS} in a terminal, all "
            "when piped; 0: all), then a line saying how many more; csv and json are never capped",
            show_default=False,
        ),
    ] = None,
    raw_csv: Annotated[
        bool,
        typer.Option(
            "--raw-csv",
            help="csv format: write text cells exactly as stored; by default a cell starting with = + - @, "
            "tab or CR gets a leading ' so a spreadsheet does not run it as a formula",
        ),
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="SNAPSHOT|TIME",
            help="time travel: read the warehouse as it was at a snapshot id (every report's summary.json "
            "names its warehouse_snapshot) or at a time (2026-11-03T08:00:00Z)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run a read-only SQL query against the warehouse (the lake's latest snapshot) and print the result.

    The lake is attached read-only, so a query never blocks the pipeline and cannot change the warehouse;
    it sees every batch and build committed before it started. Start with the
    analyst views: v_daily_headline, v_daily_channels, v_daily_streams, v_daily_categories, v_campaigns,
    v_retention, v_daily_sources (docs/marts.md lists every table, view and column).

    Example: liveops query "SELECT day, dau, hours_watched FROM v_daily_headline ORDER BY day"
    """
    from liveops.query import AsOfError, execute, parse_as_of

    try:
        snapshot, at = parse_as_of(as_of)
    except AsOfError as exc:
        raise typer.BadParameter(str(exc), param_hint="--as-of") from None
    code = execute(load_settings().lake, sql, output, limit, raw_csv, snapshot, at)
    if code:
        raise typer.Exit(code)
