"""``liveops query``'s work, without the command line around it: check the statement, run it on the lake
attached read-only, print the result as a table, CSV or JSON.

Kept free of Typer, Pydantic and the settings: the ``query`` command of the full command line
(``liveops.marts_cmd``) and the start-up fast path of ``liveops query`` (``liveops.launch``) both call
:func:`execute`, so the two print the same thing, and the fast path pays only for DuckDB and the lake.
"""

from __future__ import annotations

import base64
import csv
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TextIO

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
    from decimal import Decimal  # (imported when a table is printed: not on every query's start-up)

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
    from decimal import Decimal

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
    import json

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


class AsOfError(ValueError):
    """An ``--as-of`` value that is neither a snapshot id nor a time."""


def parse_as_of(value: str | None) -> tuple[int | None, datetime | None]:
    """``--as-of``: a snapshot id (``42``) or a moment (``2026-11-03T08:00:00Z``; a date alone is its 00:00 UTC).

    Raises:
        AsOfError: the value is neither.
    """
    if value is None:
        return None, None
    text = value.strip()
    if text.isdigit():
        return int(text), None
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise AsOfError(
            f"{value!r} is neither a snapshot id (e.g. 42) nor a time (e.g. 2026-11-03T08:00:00Z)"
        ) from None
    return None, moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'s' if n != 1 else ''}"


def _error(err: TextIO, message: str) -> None:
    """``message`` on ``err``, red in a terminal (as the rest of the command line prints its errors)."""
    from liveops.redact import REDACTOR

    text = REDACTOR.redact(message)
    err.write(f"\x1b[31m{text}\x1b[0m\n" if err.isatty() else f"{text}\n")
    err.flush()


def execute(
    lake: LakeConfig,
    sql: str,
    output: OutputFormat = OutputFormat.table,
    limit: int | None = None,
    raw_csv: bool = False,
    snapshot: int | None = None,
    at: datetime | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run ``sql`` (``-``: read it from standard input) on the lake as of ``snapshot`` or ``at`` (default: its
    latest snapshot; :func:`parse_as_of` reads ``--as-of``) and print its result on ``out``; return the exit code.

    0: printed. 1: an error (no warehouse, a syntax error, an unknown table, ...). 2: a refused statement
    (a write, several statements). Every message goes to ``err``, with secrets masked.
    """
    import duckdb

    from warehouse.lake import WarehouseError

    out = out or sys.stdout
    err = err or sys.stderr
    text = sys.stdin.read() if sql == "-" else sql
    try:
        columns, rows = run_query(lake, text, snapshot, at)
    except WarehouseError as exc:
        _error(err, str(exc))
        return 1
    except QueryRefused as exc:
        _error(err, f"refused: {exc}")
        return 2
    except duckdb.CatalogException as exc:
        _error(
            err,
            f'{exc}\nList what exists with `liveops query "SHOW TABLES"`; if the marts are missing, run '
            "`liveops build`.",
        )
        return 1
    except duckdb.Error as exc:  # a syntax error (ParserException) among them
        _error(err, f"error: {exc}")
        return 1
    if output is OutputFormat.csv:
        out.write(format_csv(columns, rows, raw=raw_csv) + "\n")
    elif output is OutputFormat.json:
        out.write(format_json(columns, rows) + "\n")
    else:
        terminal = out.isatty()
        cap = limit if limit is not None else (DEFAULT_TABLE_ROWS if terminal else 0)
        shown = rows[:cap] if cap else rows
        width = shutil.get_terminal_size().columns if terminal else None
        out.write(format_table(columns, shown, max_width=width) + "\n")
        if len(shown) < len(rows):
            more = _plural(len(rows) - len(shown), "more row")
            out.write(f"... {more} (--limit 0 shows all; --format csv for tools)\n")
    out.flush()  # the result before the row count on stderr, in a terminal that shows both
    if output is OutputFormat.table:
        err.write(f"({_plural(len(rows), 'row')})\n")
    return 0
