"""Check one day of the warehouse before anyone reads it, and keep the results.

:func:`check_day` builds the day's frames from DuckDB (a connection passed in), validates them against the
suites of :mod:`schemas.expectations` through :mod:`quality.gx_adapter`, stores the results
(``quality_runs``, ``quality_results``, ``day_status``; warehouse migration 5) and optionally renders the GX Data
Docs. A critical failure marks the day ``unverified``; otherwise it is ``verified``.

What GX sees, so that its cost does not grow with the day's volume:

- **Events**: per topic family, a *profile* of the day computed by DuckDB in two scans: per event type,
  the null count of each required field and the minimum and maximum of each bounded integer; the distinct
  values of each enumerated or patterned field; and the number of repeated ``event_id`` in the day (the lake has no keys).
  The profile has one
  column per expectation, holding exactly the values that expectation checks (padded with nulls, which GX
  ignores): "no required field missing" is "every null count is 0", "every value in range" is "every
  minimum and maximum in range", "every value in the set" is "every distinct value in the set". Each
  expectation keeps its name, severity and verdict; the profile is tens of rows whatever the volume.
- **Marts**: the day's rows of each daily mart, as they are (hundreds of rows).
- **Volume, freshness, referential integrity, reconciliations**: small frames of facts computed in DuckDB
  (columns in :data:`schemas.expectations.FACT_FRAMES`).
"""

from __future__ import annotations

import itertools
import logging
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import polars as pl

from quality.gx_adapter import Batch, ExpectationResult, validate, write_front_page
from schemas.events import FAMILIES, Family
from schemas.expectations import (
    FACT_FRAMES,
    SUITES,
    VOLUME_TRAILING_DAYS,
    Condition,
    Expectation,
    Suite,
    required_fields,
)
from warehouse.lake import retry_busy, second_connection, transaction

log = logging.getLogger(__name__)

_UTC_TS = pl.Datetime("us", "UTC")
_T = TypeVar("_T")


@dataclass(frozen=True)
class SuiteSummary:
    """Passed and failed expectations of one suite."""

    suite: str
    passed: int
    failed: int
    critical_failures: int


@dataclass(frozen=True)
class QualityReport:
    """The outcome of checking one day.

    Attributes:
        day: the local day checked.
        run_id: id of the run (``quality_runs.run_id``).
        started_at / finished_at: wall-clock bounds of the run (UTC).
        report_time: the instant freshness was judged at.
        results: one per expectation of every suite run.
        events: the day's events, all topics.
        frames_seconds: time spent in DuckDB building the frames.
        validation_seconds: time spent in GX validating them (Data Docs excluded).
        seconds: wall time of the check, Data Docs excluded (DuckDB's profiles of the events overlap GX's
            validation of the other frames, so this is less than their sum).
        docs_seconds: time spent rendering the Data Docs.
        data_docs: the Data Docs' front page, ``index.html`` (None when not rendered; see
            ``quality.gx_adapter.write_front_page``).
    """

    day: date
    run_id: str
    started_at: datetime
    finished_at: datetime
    report_time: datetime
    results: tuple[ExpectationResult, ...]
    events: int
    frames_seconds: float
    validation_seconds: float
    seconds: float
    docs_seconds: float
    data_docs: Path | None

    @property
    def failures(self) -> list[ExpectationResult]:
        """Expectations that do not hold."""
        return [r for r in self.results if not r.success]

    @property
    def critical_failures(self) -> list[ExpectationResult]:
        """Failed expectations of severity ``critical``."""
        return [r for r in self.failures if r.severity == "critical"]

    @property
    def warnings(self) -> list[ExpectationResult]:
        """Failed expectations of severity ``warning``."""
        return [r for r in self.failures if r.severity == "warning"]

    @property
    def verified(self) -> bool:
        """No critical expectation failed."""
        return not self.critical_failures

    @property
    def status(self) -> str:
        """``verified`` or ``unverified`` (as ``day_status.status``)."""
        return "verified" if self.verified else "unverified"

    def suites(self) -> list[SuiteSummary]:
        """Per suite, in run order: passed, failed and critical failures."""
        order: dict[str, list[ExpectationResult]] = {}
        for r in self.results:
            order.setdefault(r.suite, []).append(r)
        return [
            SuiteSummary(
                name,
                sum(r.success for r in rs),
                sum(not r.success for r in rs),
                sum(not r.success and r.severity == "critical" for r in rs),
            )
            for name, rs in order.items()
        ]


@dataclass(frozen=True)
class DayWindow:
    """A local day and the UTC instants bounding it (end exclusive)."""

    day: date
    start: datetime
    end: datetime


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> list[tuple[Any, ...]]:
    # Fetch everything: DuckDB 2 wants a result consumed before the next statement on the connection.
    return con.sql(sql, params=params).fetchall()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _raw(family: Family) -> str:
    return f"raw_{family}_events"


def _in_window(window: DayWindow) -> tuple[str, dict[str, datetime]]:
    return "event_time >= $start AND event_time < $end", {"start": window.start, "end": window.end}


# ---------------------------------------------------------------------------------------------------------
# Events: the day's profile of a topic, and the suite restated on it
# ---------------------------------------------------------------------------------------------------------


def family_of(suite: Suite) -> Family:
    """The topic family of an events suite (whose table is ``stg_<family>_events``)."""
    for family in FAMILIES:
        if suite.table == f"stg_{family}_events":
            return family
    raise ValueError(f"{suite.name} reads {suite.table}, not the events of a topic family")


def _where(name: str) -> str:
    """The profile column naming the rows of expectation ``name``'s evidence (for the details of a failure)."""
    return f"{name}:where"


def profile_suite(suite: Suite) -> Suite:
    """An events suite restated on the day's profile (see the module docstring): one column per expectation."""
    restated = []
    for e in suite.expectations:
        column = (e.name,)
        match e.check:
            case "not_null":
                # Null counts per (field, event type requiring it): all must be 0.
                restated.append(
                    Expectation(
                        e.name, "between", e.severity, e.description, column, max_value=0, identify_by=(_where(e.name),)
                    )
                )
            case "unique":
                # The number of repeated values: it must be 0.
                restated.append(Expectation(e.name, "sum_between", e.severity, e.description, column, max_value=0))
            case "in_set":
                # The distinct ``column=value`` pairs of the columns it covers.
                restated.append(Expectation(e.name, "in_set", e.severity, e.description, column, e.values))
            case "matches":
                restated.append(Expectation(e.name, "matches", e.severity, e.description, column, regex=e.regex))
            case "between":
                # The minimum and maximum of each group of rows the expectation applies to.
                restated.append(
                    Expectation(
                        e.name, "between", e.severity, e.description, column,
                        min_value=e.min_value, max_value=e.max_value,
                    )
                )  # fmt: skip
            case _:
                raise ValueError(f"{suite.name}.{e.name}: {e.check} is not supported on events")
    return Suite(suite.name, suite.kind, suite.table, suite.description, tuple(restated))


def _holds(conditions: Sequence[Condition]) -> pl.Expr:
    expr = pl.lit(True)
    for c in conditions:
        expr &= pl.col(c.column).is_in(list(c.values))
    return expr


def _repeated(
    con: duckdb.DuckDBPyConnection, family: Family, table: str, column: str, where: str, params: object
) -> int:
    """Rows of the day whose ``column`` value already occurs on another row (0: the column is unique)."""
    # Distinct 64-bit hashes first (equal values have equal hashes: no repeated hash, no repeated value),
    # then exactly when a hash repeats (it may be a collision). The lake has no keys to lean on.
    col = _quote(column)
    row = _rows(con, f"SELECT count({col}) - count(DISTINCT hash({col})) FROM {table} WHERE {where}", params)
    if not row or not row[0][0]:
        return 0
    row = _rows(con, f"SELECT count({col}) - count(DISTINCT {col}) FROM {table} WHERE {where}", params)
    return int(row[0][0]) if row else 0


def event_profile(con: duckdb.DuckDBPyConnection, suite: Suite, window: DayWindow) -> tuple[pl.DataFrame, int]:
    """The day's profile of one topic for ``suite``, and the day's events of the topic.

    One pass groups the day's events by event type (and by the columns the ranges are conditioned on) for
    null counts, minima and maxima; one pass collects the distinct values of enumerated and patterned
    columns, and the repeated ids of the day (hashes first, exact only when a hash repeats). Each expectation gets one
    column of evidence (see :func:`profile_suite`); the columns have different lengths and are padded with
    nulls.
    """
    family = family_of(suite)
    required = dict(required_fields(family))
    table = suite.table
    where, params = _in_window(window)
    group_cols = ["event_type", *sorted({c.column for e in suite.expectations for c in e.when} - {"event_type"})]
    aggregates = ["count(*) AS __rows"]
    for e in suite.expectations:
        if e.check == "not_null":
            # count(*) - count(col) reads only the validity mask: several times faster than a FILTER.
            aggregates += [f"count(*) - count({_quote(c)}) AS {_quote('nulls:' + c)}" for c in e.columns]
        elif e.check == "between":
            col = _quote(e.column)
            aggregates += [f"min({col}) AS {_quote(e.name + ':min')}", f"max({col}) AS {_quote(e.name + ':max')}"]
    groups = ", ".join(_quote(c) for c in group_cols)
    by_group: pl.DataFrame = con.sql(
        f"SELECT {groups}, {', '.join(dict.fromkeys(aggregates))} FROM {table} WHERE {where} GROUP BY ALL",
        params=params,
    ).pl()
    events = int(by_group["__rows"].sum()) if by_group.height else 0

    # Distinct values of enumerated / patterned columns (and event types), one grouping set each, one scan.
    value_columns = sorted({c for e in suite.expectations if e.check in ("in_set", "matches") for c in e.columns})
    distinct: pl.DataFrame | None = None
    if value_columns:
        grouping = ", ".join(f"({_quote(c)})" for c in value_columns)
        distinct = con.sql(
            f"SELECT {', '.join(_quote(c) for c in value_columns)} FROM {table} WHERE {where} "
            f"GROUP BY GROUPING SETS ({grouping})",
            params=params,
        ).pl()

    def values_of(column: str) -> pl.Series:
        assert distinct is not None
        return distinct[column].drop_nulls().unique().sort().cast(pl.String)

    evidence: dict[str, pl.Series] = {}
    for e in suite.expectations:
        match e.check:
            case "not_null":
                counts = pl.concat(
                    [
                        by_group.filter(pl.col("event_type").is_in(list(required.get(c, ()))))
                        .group_by("event_type")
                        .agg(pl.col("nulls:" + c).sum().cast(pl.Int64).alias("nulls"))
                        .select(pl.format("{} on {}", pl.lit(c), "event_type").alias("where"), "nulls")
                        for c in e.columns
                    ]
                ).sort("where")
                evidence[e.name] = counts["nulls"]
                evidence[_where(e.name)] = counts["where"]
            case "between":
                part = by_group.filter(_holds(e.when))
                evidence[e.name] = pl.concat([part[e.name + ":min"], part[e.name + ":max"]]).cast(pl.Float64)
            case "in_set":
                evidence[e.name] = pl.concat([c + "=" + values_of(c) for c in e.columns])
            case "matches":
                evidence[e.name] = values_of(e.column)
            case "unique":
                evidence[e.name] = pl.Series([_repeated(con, family, table, e.column, where, params)], dtype=pl.Int64)
    height = max((len(s) for s in evidence.values()), default=0)
    frame = pl.DataFrame([s.rename(name).extend_constant(None, height - len(s)) for name, s in evidence.items()])
    return frame, events


# ---------------------------------------------------------------------------------------------------------
# Day-level facts
# ---------------------------------------------------------------------------------------------------------


def _window_counts(con: duckdb.DuckDBPyConnection, windows: Sequence[DayWindow]) -> dict[Family, list[int]]:
    """Events per family in each of ``windows`` (consecutive days), one scan per family."""
    bounds = [w.start for w in windows] + [windows[-1].end]
    params = {f"b{i}": b for i, b in enumerate(bounds)}
    case = " ".join(f"WHEN event_time < $b{i + 1} THEN {i}" for i in range(len(windows)))
    sql = " UNION ALL ".join(
        f"SELECT '{family}' AS family, CASE {case} END AS w, count(*) AS n FROM {_raw(family)} "
        f"WHERE event_time >= $b0 AND event_time < $b{len(windows)} GROUP BY ALL"
        for family in FAMILIES
    )
    counts: dict[Family, list[int]] = {family: [0] * len(windows) for family in FAMILIES}
    for family, w, n in _rows(con, sql, params):
        counts[family][int(w)] = int(n)
    return counts


def volume_frame(con: duckdb.DuckDBPyConnection, windows: Sequence[DayWindow]) -> tuple[pl.DataFrame, int]:
    """The volume facts (one row; :data:`FACT_FRAMES`) for the last of ``windows``, and its events, all topics.

    ``windows`` are the day and the days before it, consecutive, ascending. The median covers the earlier
    days on or after the family's first day with data (a day with no event in between counts as 0).
    """
    counts = _window_counts(con, windows)
    row: dict[str, Any] = {}
    for family in FAMILIES:
        per_day = counts[family]
        earlier = _rows(
            con,
            f"SELECT count(*) FROM (SELECT 1 FROM {_raw(family)} WHERE event_time < $t LIMIT 1)",
            {"t": windows[0].start},
        )
        trailing = per_day[:-1]
        if not (earlier and earlier[0][0]):
            # No data before the first window: the history starts at the family's first day with data.
            first = next((i for i, n in enumerate(trailing) if n > 0), len(trailing))
            trailing = trailing[first:]
        median = float(statistics.median(trailing)) if trailing else None
        events = per_day[-1]
        if median is None or (median == 0 and events == 0):
            ratio = None
        else:
            ratio = events / median if median > 0 else float("inf")
        row |= {
            f"{family}_events": events,
            f"{family}_trailing_days": len(trailing),
            f"{family}_trailing_median": median,
            f"{family}_ratio": ratio,
        }
    schema = {
        name: (pl.Float64 if name.endswith(("_median", "_ratio")) else pl.Int64) for name in FACT_FRAMES["volume"]
    }
    frame = pl.DataFrame([row], schema=schema, orient="row")
    return frame, sum(counts[f][-1] for f in FAMILIES)


# How far an event_time may run ahead of its Kafka timestamp before the watermark caps it (as the build's).
DEFAULT_MAX_CLOCK_SKEW = timedelta(minutes=5)


def watermark(con: duckdb.DuckDBPyConnection, max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW) -> datetime | None:
    """The watermark as the build reads it: the latest ``min(event_time, kafka_timestamp + max_clock_skew)``.

    Returns:
        The watermark (UTC); None when the warehouse holds no event.
    """
    skew = f"INTERVAL '{int(max_clock_skew / timedelta(microseconds=1))} microseconds'"
    mark = f"least(event_time, coalesce(kafka_timestamp + {skew}, event_time))"
    sql = " UNION ALL ".join(f"SELECT max({mark}) AS m FROM {_raw(f)}" for f in FAMILIES)
    value = _rows(con, f"SELECT max(m) FROM ({sql})")[0][0]
    return value.astimezone(UTC) if isinstance(value, datetime) else None


def event_span(con: duckdb.DuckDBPyConnection) -> tuple[datetime, datetime] | None:
    """The earliest and latest ``event_time`` in the warehouse (None when it holds no event)."""
    sql = " UNION ALL ".join(f"SELECT min(event_time) AS lo, max(event_time) AS hi FROM {_raw(f)}" for f in FAMILIES)
    lo, hi = _rows(con, f"SELECT min(lo), max(hi) FROM ({sql})")[0]
    if not isinstance(lo, datetime) or not isinstance(hi, datetime):
        return None
    return lo.astimezone(UTC), hi.astimezone(UTC)


def freshness_frame(
    con: duckdb.DuckDBPyConnection,
    window: DayWindow,
    allowed_lateness: timedelta,
    report_time: datetime,
    max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW,
) -> pl.DataFrame:
    """The freshness facts of the day (one row; :data:`FACT_FRAMES`)."""
    built = _rows(con, "SELECT complete FROM build_days WHERE day = $day", {"day": window.day})
    mark = watermark(con, max_clock_skew)
    complete_at = window.end + allowed_lateness
    complete_now = mark is not None and mark >= complete_at
    row = {
        "watermark": mark,
        "complete_at": complete_at,
        "fresh_after": report_time - allowed_lateness,
        "marts_built": bool(built),
        # A day that is not complete yet was necessarily built incomplete: only a complete day built before
        # it was complete misses events (its incompleteness is `day_complete`'s warning).
        "built_when_complete": bool(built and (built[0][0] or not complete_now)),
    }
    schema = {"watermark": _UTC_TS, "complete_at": _UTC_TS, "fresh_after": _UTC_TS}
    return pl.DataFrame([row], schema=schema | {"marts_built": pl.Boolean, "built_when_complete": pl.Boolean})


def referential_frame(con: duckdb.DuckDBPyConnection, window: DayWindow) -> pl.DataFrame:
    """Every stream referenced by the day's viewer and engagement events, and whether it has a stream_start."""
    where, params = _in_window(window)
    refs = " UNION ALL ".join(
        f"SELECT '{family}' AS family, stream_id, count(*) AS events FROM {_raw(family)} WHERE {where} GROUP BY ALL"
        for family in ("viewer", "engagement")
    )
    frame: pl.DataFrame = con.sql(
        f"""
        WITH starts AS (SELECT DISTINCT stream_id FROM raw_stream_events WHERE event_type = 'stream_start')
        SELECT r.family, r.stream_id, r.events, s.stream_id IS NOT NULL AS has_start
        FROM ({refs}) r LEFT JOIN starts s ON s.stream_id = r.stream_id
        ORDER BY r.family, r.stream_id
        """,
        params=params,
    ).pl()
    has = pl.col("has_start").cast(pl.Boolean)
    return frame.select(
        pl.col("family").cast(pl.String),
        pl.col("stream_id").cast(pl.String),
        pl.col("events").cast(pl.Int64),
        pl.when(pl.col("family") == "viewer").then(has).alias("viewer_has_stream_start"),
        pl.when(pl.col("family") == "engagement").then(has).alias("engagement_has_stream_start"),
    )


def reconciliation_frame(con: duckdb.DuckDBPyConnection, window: DayWindow, raw_events: int) -> pl.DataFrame:
    """The reconciliation facts of the day (one row; :data:`FACT_FRAMES`)."""
    where, params = _in_window(window)
    row = _rows(
        con,
        f"""
        SELECT
            (SELECT hours_watched FROM agg_daily_headline WHERE day = $day LIMIT 1),
            (SELECT coalesce(sum(hours_watched), 0) FROM agg_daily_category WHERE day = $day),
            (SELECT attributed_signups + organic_signups FROM agg_daily_headline WHERE day = $day LIMIT 1),
            (SELECT count(*) FROM raw_campaign_events WHERE event_type = 'signup' AND {where}),
            (SELECT attributed_signups FROM agg_daily_headline WHERE day = $day LIMIT 1),
            (SELECT coalesce(sum(attributed_signups), 0) FROM agg_daily_campaign WHERE day = $day),
            (SELECT sessions FROM agg_daily_headline WHERE day = $day LIMIT 1),
            (SELECT coalesce(sum(sessions), 0) FROM agg_daily_source WHERE day = $day),
            (SELECT events FROM build_days WHERE day = $day)
        """,
        params | {"day": window.day},
    )[0]
    head_hours, cat_hours = row[0], row[1]
    difference = (
        None if head_hours is None else abs(float(cat_hours) - float(head_hours)) / max(abs(float(head_hours)), 1.0)
    )
    values = {
        "headline_hours_watched": head_hours,
        "category_hours_watched": cat_hours,
        "hours_watched_relative_difference": difference,
        "headline_signups": row[2],
        "signup_events": row[3],
        "headline_attributed_signups": row[4],
        "campaign_attributed_signups": row[5],
        "headline_sessions": row[6],
        "source_sessions": row[7],
        "built_events": row[8],
        "raw_events": raw_events,
    }
    schema = {name: (pl.Float64 if "hours" in name else pl.Int64) for name in FACT_FRAMES["reconciliation"]}
    return pl.DataFrame([values], schema=schema)


def mart_frame(con: duckdb.DuckDBPyConnection, suite: Suite, day: date) -> pl.DataFrame:
    """The day's rows of a mart."""
    frame: pl.DataFrame = con.sql(f"SELECT * FROM {suite.table} WHERE day = $day", params={"day": day}).pl()
    return frame


# ---------------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------------


def windows_from(bounds: pl.DataFrame) -> list[DayWindow]:
    """``DayWindow`` values from a frame with ``day``, ``day_start``, ``day_end`` (as ``transforms.days.days_frame``)."""
    return [DayWindow(d, s, e) for d, s, e in bounds.sort("day").select("day", "day_start", "day_end").iter_rows()]


def check_day(
    con: duckdb.DuckDBPyConnection,
    windows: Sequence[DayWindow],
    allowed_lateness: timedelta,
    report_time: datetime,
    docs_dir: Path | None = None,
    suites: Sequence[Suite] = SUITES,
    store: bool = True,
    max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW,
) -> QualityReport:
    """Check the last day of ``windows`` and store the results.

    Args:
        con: the warehouse (read-write, migrated, so the results can be stored).
        windows: the day checked, preceded by the :data:`VOLUME_TRAILING_DAYS` days before it (consecutive,
            ascending): the volume suite compares the day with them.
        allowed_lateness: lateness after which a day is complete.
        report_time: the instant freshness is judged at (usually now).
        docs_dir: render the GX Data Docs here (emptied first); None: no docs.
        suites: the suites to run (default: all of :data:`schemas.expectations.SUITES`).
        store: write the run, its results and the day's status to the warehouse.
        max_clock_skew: how far an event may run ahead of its arrival before the watermark caps it.

    Returns:
        The results, timings and the day's status.
    """
    if len(windows) != VOLUME_TRAILING_DAYS + 1:
        raise ValueError(f"give the day and the {VOLUME_TRAILING_DAYS} days before it, got {len(windows)} days")
    if any(b.day - a.day != timedelta(days=1) for a, b in itertools.pairwise(windows)):
        raise ValueError("the windows must be consecutive days, ascending")
    window = windows[-1]
    started_at = datetime.now(UTC)
    wall_started = time.perf_counter()
    duckdb_seconds: list[float] = []  # appended from two threads (list.append is atomic)

    def timed(build: Callable[[], _T]) -> _T:
        began = time.perf_counter()
        try:
            return build()
        finally:
            duckdb_seconds.append(time.perf_counter() - began)

    run_id = uuid.uuid4().hex
    # The frames that scan the day's events (the day-level facts, the events' profiles) are computed by
    # DuckDB on a second connection in a worker thread (DuckDB releases the GIL), while GX validates the
    # marts here; GX stays on this thread (its context is not thread-safe).
    cursor = second_connection(con)
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="quality-frames") as pool:

            def day_facts() -> tuple[dict[str, pl.DataFrame], int]:
                volume, events = volume_frame(cursor, windows)
                return {
                    "volume": volume,
                    "freshness": freshness_frame(cursor, window, allowed_lateness, report_time, max_clock_skew),
                    "referential": referential_frame(cursor, window),
                    "reconciliation": reconciliation_frame(cursor, window, events),
                }, events

            def profile(suite: Suite) -> pl.DataFrame:
                return event_profile(cursor, suite, window)[0]

            facts = pool.submit(timed, day_facts)
            profiles = {s.name: pool.submit(timed, partial(profile, s)) for s in suites if s.kind == "events"}

            def batches() -> Iterator[Batch]:
                for s in suites:
                    if s.kind == "mart":
                        yield Batch(s, timed(partial(mart_frame, con, s, window.day)))
                for s in suites:
                    if s.kind not in ("mart", "events"):
                        yield Batch(s, facts.result()[0][s.kind])
                for s in suites:
                    if s.kind == "events":
                        yield Batch(profile_suite(s), profiles[s.name].result())

            validation = validate(batches(), docs_dir, run_name=f"{window.day.isoformat()}-{run_id[:8]}")
            events = facts.result()[1]
    finally:
        cursor.close()
    order = {s.name: i for i, s in enumerate(suites)}
    results = tuple(sorted(validation.results, key=lambda r: order[r.suite]))  # stable: keeps each suite's order
    wall_seconds = time.perf_counter() - wall_started
    finished_at = datetime.now(UTC)
    index = None
    docs_seconds = validation.docs_seconds
    if docs_dir is not None:
        docs_started = time.perf_counter()
        index = write_front_page(docs_dir, window.day, results, validation.docs_pages, finished_at, run_id)
        docs_seconds += time.perf_counter() - docs_started
    report = QualityReport(
        day=window.day,
        run_id=run_id,
        started_at=started_at,
        finished_at=finished_at,
        report_time=report_time,
        results=results,
        events=events,
        frames_seconds=sum(duckdb_seconds),
        validation_seconds=validation.seconds,
        seconds=wall_seconds - validation.docs_seconds,
        docs_seconds=docs_seconds,
        data_docs=index,
    )
    if store:
        store_report(con, report)
    log.info(
        "quality of %s: %s, %d critical failure(s), %d warning(s), %d expectations in %.1f s",
        report.day,
        report.status,
        len(report.critical_failures),
        len(report.warnings),
        len(report.results),
        report.seconds,
    )
    return report


def store_report(con: duckdb.DuckDBPyConnection, report: QualityReport) -> None:
    """Write the run, its results and the day's status in one transaction (again if another writer's commit
    got in the way)."""
    retry_busy(lambda: _store_report_once(con, report), "quality results")


def _store_report_once(con: duckdb.DuckDBPyConnection, report: QualityReport) -> None:
    with transaction(con):
        con.execute(
            "INSERT INTO quality_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                report.run_id,
                report.day,
                report.started_at,
                report.finished_at,
                report.report_time,
                len(report.results),
                len(report.critical_failures),
                len(report.warnings),
                report.verified,
            ],
        )
        if report.results:
            rows = pl.DataFrame(
                [(r.suite, r.expectation, r.severity, r.success, r.observed_value, r.details) for r in report.results],
                schema=["suite", "expectation", "severity", "success", "observed_value", "details"],
                orient="row",
            )
            con.register("_quality_rows", rows.to_arrow())
            con.execute(
                "INSERT INTO quality_results SELECT $run_id, $day, suite, expectation, severity, success, "
                "observed_value, details FROM _quality_rows",
                {"run_id": report.run_id, "day": report.day},
            )
            con.unregister("_quality_rows")
        con.execute("DELETE FROM day_status WHERE day = ?", [report.day])
        con.execute(
            "INSERT INTO day_status VALUES (?, ?, ?, ?, ?, ?)",
            [
                report.day,
                report.status,
                report.run_id,
                report.finished_at,
                len(report.critical_failures),
                len(report.warnings),
            ],
        )
