"""The rebuild planner: which days an incremental build must rebuild, and the watermark they depend on.

It reads the raw tables and the build bookkeeping (``build_days``, ``build_runs``, ``build_state``) and
computes no figure: the marts are assembled by ``transforms/marts.py``, read and written by
``warehouse/marts.py``, and ``flows/marts.py`` runs the build.

The incremental bookmark is the Kafka position of every raw row: rows at or past ``build_state.next_offset``
of their (table, topic, partition) are new (:func:`offsets_snapshot` takes it when a build starts).

Readings where docs/metrics.md is silent (also in docs/marts.md):

- **Marked time.** For the watermark an event counts at ``min(event_time, kafka_timestamp + max clock
  skew)`` (:func:`marked_time_sql`): a device clock running ahead moves no watermark. Such events still
  count in their own day; ``build_days.future_events`` counts them on the day they arrived.
- **Days with data** are every local day from the day of the earliest ``event_time`` to the day of the
  watermark, gaps included (a day without events can still have MAU or broadcast hours); days past the
  watermark's day wait until it reaches them.

Local days here are calendar dates in the report time zone, as ``transforms.days.local_day`` defines them;
the planner converts with the same Polars expression, since the warehouse imports no transform. How far an
event's figures reach comes from the metric windows of ``schemas/windows.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from schemas.events import FAMILIES, Family
from schemas.windows import ATTRIBUTION_WINDOW, RETENTION_DAYS, REVENUE_WINDOW
from warehouse.migrations import raw_table

# Local days are whole 15-minute UTC buckets: every zone's offset (and so every local midnight) is a multiple
# of 15 minutes, so counting per bucket in DuckDB and converting buckets to days in Polars loses nothing.
BUCKET_US = 15 * 60 * 1_000_000
# How many days after an event's day its figures reach (incremental builds). Activity: WAU/MAU windows (29
# days) and the 31-cohort retention triangle (30). A click re-attributes sign-ups of the next 7 days and so
# purchases 30 days after those; a sign-up, purchases of the next 30 days. One day more for the local day of
# an instant 7 or 30 x 24 h later, which a DST change can push past midnight.
_ACTIVITY_REACH_DAYS = max(RETENTION_DAYS)
_SIGNUP_REACH_DAYS = REVENUE_WINDOW.days + 1
_CLICK_REACH_DAYS = (ATTRIBUTION_WINDOW + REVENUE_WINDOW).days + 1
# How far an event_time may run ahead of its Kafka timestamp before the watermark caps it
# (``LIVEOPS_MAX_CLOCK_SKEW``).
DEFAULT_MAX_CLOCK_SKEW = timedelta(minutes=5)


# ---------------------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------------------


def one_row(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> tuple[Any, ...] | None:
    """The first row of a query (None without rows); the result is consumed entirely (DuckDB 2)."""
    rows = con.sql(sql, params=params).fetchall()
    return rows[0] if rows else None


def _day_of(instant: datetime, tz: str) -> date:
    """Local date of an aware instant in ``tz``."""
    return instant.astimezone(ZoneInfo(tz)).date()


def all_events_sql(columns: str = "event_time, kafka_timestamp") -> str:
    """SQL of ``columns`` of every raw table (all four families), one ``UNION ALL``."""
    return " UNION ALL ".join(f"SELECT {columns} FROM {raw_table(family)}" for family in FAMILIES)


def bucket_start(bucket_col: str = "q") -> pl.Expr:
    """The UTC instant (``Datetime("us", "UTC")``) at which 15-minute bucket numbers begin."""
    seconds = pl.col(bucket_col) * (BUCKET_US // 1_000_000)
    return pl.from_epoch(seconds, time_unit="s").dt.replace_time_zone("UTC").dt.cast_time_unit("us")


def _buckets_to_days(frame: pl.DataFrame, tz: str, bucket_col: str = "q") -> pl.Series:
    """Local days of 15-minute bucket numbers (microseconds since the epoch // 15 min)."""
    return frame.select(bucket_start(bucket_col).dt.convert_time_zone(tz).dt.date().alias("day"))["day"]


def _expand(ranges: Iterable[tuple[date, date]]) -> set[date]:
    days: set[date] = set()
    for lo, hi in ranges:
        d = lo
        while d <= hi:
            days.add(d)
            d += timedelta(days=1)
    return days


def skew_sql(max_clock_skew: timedelta) -> str:
    """A DuckDB interval literal of ``max_clock_skew`` (whole microseconds; a number, nothing user-typed)."""
    return f"INTERVAL '{int(max_clock_skew / timedelta(microseconds=1))} microseconds'"


def marked_time_sql(max_clock_skew: timedelta) -> str:
    """SQL of the instant an event counts at for the watermark: ``event_time``, capped at arrival + skew.

    A device whose clock runs ahead stamps events in the future; such an event counts at its
    ``kafka_timestamp`` plus the maximum clock skew. Rows without a ``kafka_timestamp`` count at their
    ``event_time``.
    """
    return f"least(event_time, coalesce(kafka_timestamp + {skew_sql(max_clock_skew)}, event_time))"


# ---------------------------------------------------------------------------------------------------------
# Watermark and days with data
# ---------------------------------------------------------------------------------------------------------


def warehouse_watermark(
    con: duckdb.DuckDBPyConnection, max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW
) -> datetime | None:
    """The watermark: the latest ``min(event_time, kafka_timestamp + max_clock_skew)`` of any raw table.

    Returns:
        The watermark (UTC), None when the warehouse is empty.
    """
    row = one_row(con, f"SELECT max({marked_time_sql(max_clock_skew)}) FROM ({all_events_sql()})")
    value = row[0] if row else None
    return value.astimezone(UTC) if isinstance(value, datetime) else None


def events_per_day(con: duckdb.DuckDBPyConnection, tz: str) -> pl.DataFrame:
    """Raw events per local day (all four tables): ``day``, ``events``; only days with events, ascending."""
    buckets: pl.DataFrame = con.sql(
        f"SELECT epoch_us(event_time) // {BUCKET_US} AS q, count(*) AS n FROM ({all_events_sql('event_time')}) "
        "GROUP BY q"
    ).pl()
    if buckets.is_empty():
        return pl.DataFrame(schema={"day": pl.Date, "events": pl.Int64})
    return (
        buckets.with_columns(_buckets_to_days(buckets, tz))
        .group_by("day")
        .agg(pl.col("n").sum().cast(pl.Int64).alias("events"))
        .sort("day")
    )


def data_days(
    con: duckdb.DuckDBPyConnection, tz: str, max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW
) -> list[date]:
    """Every local day from the first day with an event to the day of the watermark (gaps included).

    Days past the watermark's day (events stamped ahead of their arrival) wait until the watermark reaches
    them: one event from a clock decades ahead does not make a build walk every day up to it.
    """
    return days_with_data(events_per_day(con, tz), warehouse_watermark(con, max_clock_skew), tz)


def days_with_data(counts: pl.DataFrame, watermark: datetime | None, tz: str) -> list[date]:
    """The days of :func:`data_days` from :func:`events_per_day`'s ``counts`` and the watermark."""
    if counts.is_empty() or watermark is None:
        return []
    first: date = counts["day"].min()  # type: ignore[assignment]
    last = _day_of(watermark, tz)
    return sorted(_expand([(first, last)]))


# ---------------------------------------------------------------------------------------------------------
# Incremental: which days to rebuild
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bookmark:
    watermark: datetime | None
    timezone: str
    allowed_lateness_seconds: float
    max_clock_skew_seconds: float | None
    started_at: datetime


def _last_bookmark(con: duckdb.DuckDBPyConnection) -> _Bookmark | None:
    row = one_row(
        con,
        "SELECT watermark, timezone, allowed_lateness_seconds, max_clock_skew_seconds, started_at FROM build_runs "
        "WHERE moves_bookmark ORDER BY finished_at DESC LIMIT 1",
    )
    if row is None:
        return None
    mark = row[0].astimezone(UTC) if isinstance(row[0], datetime) else None
    skew = float(row[3]) if row[3] is not None else None
    return _Bookmark(mark, str(row[1]), float(row[2]), skew, row[4].astimezone(UTC))


def _rows_sql(family: Family, columns: str, which: Literal["new", "old"]) -> str:
    """Rows of a raw table at or past (new) / before (old) the bookmark of their Kafka partition."""
    table = raw_table(family)
    test = ">=" if which == "new" else "<"
    return (
        f"SELECT {columns} FROM {table} r LEFT JOIN build_state s ON s.raw_table = '{table}' "
        "AND s.kafka_topic = coalesce(r.kafka_topic, '') AND s.kafka_partition = coalesce(r.kafka_partition, -1) "
        f"WHERE coalesce(r.kafka_offset, -1) {test} coalesce(s.next_offset, -1)"
    )


def offsets_snapshot(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int, int]]:
    """``(raw_table, topic, partition, next_offset)`` of every partition present in the raw tables."""
    rows: list[tuple[str, str, int, int]] = []
    for family in FAMILIES:
        table = raw_table(family)
        for topic, partition, last in con.execute(
            f"SELECT coalesce(kafka_topic, ''), coalesce(kafka_partition, -1), max(coalesce(kafka_offset, -1)) "
            f"FROM {table} GROUP BY ALL"
        ).fetchall():
            rows.append((table, str(topic), int(partition), int(last) + 1))
    return rows


def _bucket_days(con: duckdb.DuckDBPyConnection, sql: str, tz: str, params: object = None) -> list[date]:
    """Distinct local days of the 15-minute buckets ``q`` a query returns."""
    buckets = con.sql(sql, params=params).pl()
    if buckets.is_empty():
        return []
    return sorted(set(_buckets_to_days(buckets.drop_nulls("q"), tz).to_list()))


def days_to_rebuild(
    con: duckdb.DuckDBPyConnection,
    tz: str,
    allowed_lateness: timedelta,
    max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW,
) -> list[date]:
    """The days an incremental build must rebuild: every day whose figures can differ from the marts.

    New raw rows are those at or past the bookmark (``build_state``) of their Kafka partition, i.e. ingested
    since the last incremental or full build. The days chosen (then clipped to the days with data):

    - every day never built, every day built while incomplete (it may complete now), and everything when
      nothing was built yet or the time zone, the allowed lateness or the maximum clock skew changed;
    - the day of every new event;
    - viewer events: every day from the first to the last event of each session they belong to (a late event
      can move a session's start, end or attributes; a session lies within its events' span);
    - viewer and engagement events (user activity): the 30 days after each one (WAU, MAU, retention of its
      cohort as of later days), and, when a user's first active day moved earlier, the old first day and
      the 30 days after it (new users and cohort sizes);
    - clicks: the 38 days after (sign-ups within 7 days are re-attributed, purchases within 30 days of those
      sign-ups re-credited); sign-ups: the 31 days after (purchases credited through them);
    - stream events: from the stream's first event to its old and new end (``stream_end``, else the
      watermark), plus 2 days (sessions starting while it is live take its category);
    - the watermark moved: from the day of the previous watermark on (streams still live end there);
    - late-event counts: the days of old events that arrived after a new one (its ``event_time`` may raise
      the watermark at their arrival);
    - future events: the arrival day of each new event stamped beyond its arrival + the maximum clock skew;
    - arrivals moved earlier (``arrival_corrections`` since the last such build: a copy of an event
      arrived before the copy kept): the event's day, its old and new arrival days, and, as for a new
      event, the days of old events that arrived after its new arrival.

    Args:
        con: the warehouse.
        tz: IANA report time zone.
        allowed_lateness: lateness after which a day counts as complete.
        max_clock_skew: how far an event may run ahead of its arrival before the watermark caps it.

    Returns:
        The days, ascending.
    """
    all_days = data_days(con, tz, max_clock_skew)
    if not all_days:
        return []
    bookmark = _last_bookmark(con)
    if (
        bookmark is None
        or bookmark.timezone != tz
        or bookmark.allowed_lateness_seconds != allowed_lateness.total_seconds()
        or bookmark.max_clock_skew_seconds != max_clock_skew.total_seconds()
    ):
        return all_days
    first, last = all_days[0], all_days[-1]
    days: set[date] = set()

    built = {row[0]: row[1] for row in con.execute("SELECT day, complete FROM build_days").fetchall()}
    days.update(d for d in all_days if d not in built or not built[d])

    con.execute(
        "CREATE OR REPLACE TEMP TABLE _new_rows AS "
        + " UNION ALL ".join(
            _rows_sql(
                family,
                f"'{family}' AS family, r.event_type, r.event_time, r.user_id, "
                + ("r.session_id" if family == "viewer" else "NULL::VARCHAR")
                + " AS session_id, "
                + ("r.stream_id" if family == "stream" else "NULL::VARCHAR")
                + " AS stream_id, r.kafka_timestamp",
                "new",
            )
            for family in FAMILIES
        )
    )
    try:
        # New events: their day, and the days depending on it.
        per_kind = con.sql(
            f"SELECT DISTINCT family, event_type, epoch_us(event_time) // {BUCKET_US} AS q FROM _new_rows"
        ).pl()
        if not per_kind.is_empty():
            per_kind = per_kind.with_columns(_buckets_to_days(per_kind, tz))
            reach = (
                pl.when(pl.col("family").is_in(["viewer", "engagement"]))
                .then(_ACTIVITY_REACH_DAYS)
                .when(pl.col("event_type") == "click")
                .then(_CLICK_REACH_DAYS)
                .when(pl.col("event_type") == "signup")
                .then(_SIGNUP_REACH_DAYS)
                .otherwise(0)
            )
            spans = per_kind.group_by("day").agg(reach.max().alias("reach"))
            days.update(_expand((d, d + timedelta(days=int(n))) for d, n in spans.iter_rows()))

        # Sessions touched: the span of all their events.
        sessions = con.sql(
            f"SELECT epoch_us(min(event_time)) // {BUCKET_US} AS lo, epoch_us(max(event_time)) // {BUCKET_US} AS hi "
            "FROM raw_viewer_events WHERE session_id IN (SELECT session_id FROM _new_rows WHERE family = 'viewer') "
            "GROUP BY session_id"
        ).pl()
        if not sessions.is_empty():
            spans = sessions.unique().select(
                _buckets_to_days(sessions.unique(), tz, "lo").alias("lo"),
                _buckets_to_days(sessions.unique(), tz, "hi").alias("hi"),
            )
            days.update(_expand(spans.unique().iter_rows()))

        # Users whose first active day moved earlier: their old first day and its cohort's 30 days.
        activity_old = " UNION ALL ".join(
            _rows_sql(family, "r.user_id, r.event_time", "old") for family in ("viewer", "engagement")
        )
        moved = _bucket_days(
            con,
            f"""
            WITH new_first AS (
                SELECT user_id, min(event_time) AS t FROM _new_rows
                WHERE family IN ('viewer', 'engagement') GROUP BY user_id
            ), old_first AS (
                SELECT user_id, min(event_time) AS t FROM ({activity_old})
                WHERE user_id IN (SELECT user_id FROM new_first) GROUP BY user_id
            )
            SELECT DISTINCT epoch_us(o.t) // {BUCKET_US} AS q FROM old_first o JOIN new_first n USING (user_id)
            WHERE n.t < o.t
            """,
            tz,
        )
        days.update(_expand((d, d + timedelta(days=max(RETENTION_DAYS))) for d in moved))

        # Streams touched: from their first event to their old and new end, plus the sessions on them.
        watermark = warehouse_watermark(con, max_clock_skew)
        streams = con.sql(
            f"""
            WITH marked AS (
                SELECT r.stream_id, r.event_type, r.event_time, false AS is_new FROM ({_rows_sql("stream", "r.*", "old")}) r
                UNION ALL
                SELECT r.stream_id, r.event_type, r.event_time, true FROM ({_rows_sql("stream", "r.*", "new")}) r
            )
            SELECT min(event_time) AS first_at, max(event_time) AS last_at,
                   coalesce(min(event_time) FILTER (WHERE event_type = 'stream_end' AND NOT is_new), ?) AS old_end,
                   coalesce(min(event_time) FILTER (WHERE event_type = 'stream_end'), ?) AS new_end
            FROM marked WHERE stream_id IN (SELECT stream_id FROM _new_rows WHERE family = 'stream')
            GROUP BY stream_id
            """,
            params=[bookmark.watermark or watermark, watermark],
        ).fetchall()
        for first_at, last_at, old_end, new_end in streams:
            ends = [t for t in (last_at, old_end, new_end) if t is not None]
            days.update(_expand([(_day_of(first_at, tz), _day_of(max(ends), tz) + timedelta(days=2))]))

        # The watermark moved: streams still live (no stream_end) now end later.
        if bookmark.watermark is not None and watermark is not None and watermark > bookmark.watermark:
            days.update(_expand([(_day_of(bookmark.watermark, tz), _day_of(watermark, tz))]))

        # Future events: counted on the day they arrived.
        days.update(
            _bucket_days(
                con,
                f"SELECT DISTINCT epoch_us(kafka_timestamp) // {BUCKET_US} AS q FROM _new_rows "
                f"WHERE event_time > kafka_timestamp + {skew_sql(max_clock_skew)}",
                tz,
            )
        )

        # Arrivals moved earlier since the last build: the event's day and both arrival days.
        corrections = (
            "SELECT event_time, old_kafka_timestamp, new_kafka_timestamp FROM arrival_corrections "
            "WHERE corrected_at >= $since"
        )
        since = {"since": bookmark.started_at}
        for column in ("event_time", "old_kafka_timestamp", "new_kafka_timestamp"):
            days.update(
                _bucket_days(
                    con, f"SELECT DISTINCT epoch_us({column}) // {BUCKET_US} AS q FROM ({corrections})", tz, since
                )
            )

        # Old events that arrived after a new one (or a corrected arrival): the watermark at their arrival
        # may have risen.
        old_arrivals = " UNION ALL ".join(
            _rows_sql(family, "r.event_time, r.kafka_timestamp", "old") for family in FAMILIES
        )
        days.update(
            _bucket_days(
                con,
                f"SELECT DISTINCT epoch_us(event_time) // {BUCKET_US} AS q FROM ({old_arrivals}) "
                "WHERE kafka_timestamp > least((SELECT min(kafka_timestamp) FROM _new_rows), "
                f"(SELECT min(new_kafka_timestamp) FROM ({corrections})))",
                tz,
                since,
            )
        )
    finally:
        con.execute("DROP TABLE IF EXISTS _new_rows")
    return sorted(d for d in days if first <= d <= last)
