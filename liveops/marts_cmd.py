"""``liveops build`` and ``liveops query``: build the marts, and let analysts query the warehouse.

Registered by the main app (``liveops.cli``) as the ``build`` and ``query`` commands.
"""

from __future__ import annotations

import base64
import csv
import json
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from liveops.console import PREFECT_HELP, day_option, fail, load_settings, say, tracked_by_prefect

if TYPE_CHECKING:
    from warehouse.lake import LakeConfig

# Statement types a read-only analyst query may have (SHOW, DESCRIBE, SUMMARIZE, VALUES, FROM-first and
# PIVOT-free queries all parse as SELECT).
_READ_ONLY_TYPES = frozenset({"SELECT", "EXPLAIN"})

# Rows ``liveops query`` prints in table format in a terminal unless ``--limit`` says otherwise.
DEFAULT_TABLE_ROWS = 40


class OutputFormat(StrEnum):
    """How ``liveops query`` prints its result."""

    table = "table"
    csv = "csv"
    json = "json"


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


class QueryRefused(ValueError):
    """A well-formed statement that ``liveops query`` does not run (a write, or more than one statement)."""


# Cells of ``--format csv`` that start with one of these are neutralised (OWASP "CSV injection"): a
# spreadsheet would read them as a formula.
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def check_read_only(sql: str) -> str:
    """The single statement of ``sql`` if it only reads.

    Raises:
        QueryRefused: it is not exactly one read-only statement.
        duckdb.ParserException: it is not valid SQL (a syntax error).
    """
    import duckdb

    statements = duckdb.extract_statements(sql)
    if len(statements) != 1:
        raise QueryRefused(f"give exactly one statement (got {len(statements)})")
    kind = statements[0].type.name
    if kind not in _READ_ONLY_TYPES:
        raise QueryRefused(
            f"{kind} statements are refused: analysts attach the warehouse read-only, and `liveops query` runs queries "
            "only (SELECT, WITH, FROM, SHOW, DESCRIBE, SUMMARIZE, EXPLAIN). The marts are written by `liveops build`."
        )
    return sql


def _cell(value: Any) -> str:
    """Text of one value in the aligned table."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        if value != 0 and abs(value) < 1e-4:
            return f"{value:.3e}"
        text = f"{value:.6f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes: East Asian wide and full-width characters take two, combining marks none."""
    import unicodedata

    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def _clip(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` terminal columns, ending in ``…`` when cut."""
    if display_width(text) <= width:
        return text
    out, used = [], 0
    for char in text:
        w = display_width(char)
        if used + w > width - 1:
            break
        out.append(char)
        used += w
    return "".join(out) + "…"


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * max(0, width - display_width(text))
    return gap + text if right else text + gap


# Narrowest a column is squeezed to when the table is wider than the terminal.
_MIN_COLUMN = 6


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], max_width: int | None = None) -> str:
    """An aligned text table: numbers right-aligned, text left-aligned, a rule under the header.

    Widths are terminal columns (a CJK character takes two). With ``max_width``, the widest columns are
    narrowed (to no less than a few columns each) until the table fits, their cells cut with ``…``; newlines
    and tabs inside a value are shown as spaces so a row stays one line.
    """
    cells = [[" ".join(_cell(v).split()) if isinstance(v, str) else _cell(v) for v in row] for row in rows]
    widths = [max([display_width(name), *(display_width(row[i]) for row in cells)]) for i, name in enumerate(columns)]
    right = [any(_numeric(row[i]) for row in rows) for i in range(len(columns))]
    if max_width is not None:
        budget = max_width - 2 * (len(columns) - 1)
        while sum(widths) > budget:
            widest = max(range(len(widths)), key=lambda i: widths[i])
            if widths[widest] <= _MIN_COLUMN:
                break
            widths[widest] -= 1

    def line(values: Sequence[str]) -> str:
        parts = [_pad(_clip(v, w), w, r) for v, w, r in zip(values, widths, right, strict=True)]
        return "  ".join(parts).rstrip()

    out = [line(list(columns)), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in cells]
    return "\n".join(out)


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime | date | bytes):
        return _cell(value)
    return value


def neutralise_csv_cell(value: Any) -> Any:
    """``value`` made inert for a spreadsheet: text starting with ``= + - @``, tab or CR gets a leading ``'``.

    OWASP's advice against CSV (formula) injection. Only text is touched: numbers (``-3``) stay numbers.
    """
    if isinstance(value, str) and value.startswith(CSV_FORMULA_STARTS):
        return "'" + value
    return value


def format_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]], raw: bool = False) -> str:
    """RFC 4180 CSV with a header; NULL is an empty field, timestamps ISO 8601.

    Text cells (and column names) that a spreadsheet would run as a formula are prefixed with ``'``
    (:func:`neutralise_csv_cell`) unless ``raw``.
    """
    import io

    def keep(value: Any) -> Any:
        return value if raw else neutralise_csv_cell(value)

    # Rows end in "\n"; the writer is told "\r\n" so that a field holding a lone "\r" is quoted too.
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    lines = []
    for values in [[keep(name) for name in columns], *([keep(_csv_value(v)) for v in row] for row in rows)]:
        writer.writerow(values)
        lines.append(buffer.getvalue().removesuffix("\r\n"))
        buffer.seek(0)
        buffer.truncate()
    return "\n".join(lines)


def format_json(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A JSON array of objects, one per row (numbers unrounded, timestamps ISO 8601, NULL as null)."""
    objects = [{name: _json_value(v) for name, v in zip(columns, row, strict=True)} for row in rows]
    return json.dumps(objects, ensure_ascii=False, indent=2)


def run_query(
    lake: LakeConfig, sql: str, snapshot: int | None = None, at: datetime | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read-only query on the lake attached read-only (at its latest snapshot, or as of ``snapshot``
    or ``at``); timestamps come back in UTC.

    Raises:
        QueryRefused: the statement is not a query (refused before it reaches DuckDB), or DuckDB refused a write.
        WarehouseError: there is no warehouse, or no snapshot at that point.
        duckdb.Error: any other DuckDB error (syntax error, unknown table, type error, ...).
    """
    import duckdb

    from warehouse.lake import open_lake

    check_read_only(sql)
    with open_lake(lake, read_only=True, snapshot=snapshot, at=at) as con:
        try:
            relation = con.sql(sql)
        except duckdb.InvalidInputException as exc:
            if "read-only" in str(exc):
                raise QueryRefused(f"the warehouse is attached read-only; writes are refused ({exc})") from exc
            raise
        if relation is None:
            return [], []
        return list(relation.columns), relation.fetchall()


def parse_as_of(value: str | None) -> tuple[int | None, datetime | None]:
    """``--as-of``: a snapshot id (``42``) or a moment (``2026-11-03T08:00:00Z``; a date alone is its 00:00 UTC)."""
    if value is None:
        return None, None
    text = value.strip()
    if text.isdigit():
        return int(text), None
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is neither a snapshot id (e.g. 42) nor a time (e.g. 2026-11-03T08:00:00Z)",
            param_hint="--as-of",
        ) from None
    return None, moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
    import duckdb

    from warehouse.lake import WarehouseError

    text = sys.stdin.read() if sql == "-" else sql
    snapshot, at = parse_as_of(as_of)
    settings = load_settings()
    try:
        columns, rows = run_query(settings.lake, text, snapshot, at)
    except WarehouseError as exc:
        raise fail(str(exc)) from None
    except QueryRefused as exc:
        raise fail(f"refused: {exc}", 2) from None
    except duckdb.ParserException as exc:
        raise fail(f"error: {exc}") from None
    except duckdb.CatalogException as exc:
        raise fail(
            f'{exc}\nList what exists with `liveops query "SHOW TABLES"`; if the marts are missing, run '
            "`liveops build`."
        ) from None
    except duckdb.Error as exc:
        raise fail(f"error: {exc}") from None
    if output is OutputFormat.csv:
        typer.echo(format_csv(columns, rows, raw=raw_csv))
        return
    if output is OutputFormat.json:
        typer.echo(format_json(columns, rows))
        return
    terminal = sys.stdout.isatty()
    cap = limit if limit is not None else (DEFAULT_TABLE_ROWS if terminal else 0)
    shown = rows[:cap] if cap else rows
    width = shutil.get_terminal_size().columns if terminal else None
    typer.echo(format_table(columns, shown, max_width=width))
    if len(shown) < len(rows):
        more = len(rows) - len(shown)
        typer.echo(f"... {more:,} more row{'s' if more != 1 else ''} (--limit 0 shows all; --format csv for tools)")
    say(f"({len(rows):,} row{'s' if len(rows) != 1 else ''})")
