"""The marts build: raw tables -> Polars transforms -> fact and daily mart tables, one day at a time.

Layers (tables created by migration 3, data dictionary in ``docs/marts.md``):

- ``raw_*``: typed, validated, deduplicated events as received (the loader's). ``stg_*`` views add unit
  conversions and the arrival time for analysts; the build reads ``raw_*`` directly (already typed, UTC).
- ``fct_sessions`` (session_id), ``fct_session_days`` (day, session_id), ``fct_minute_concurrency``
  (day, minute).
- ``agg_daily_*`` (day + a dimension), ``agg_retention_cohorts`` (as_of_day, cohort_date), and
  ``build_days`` (day): when each day was built, with which watermark, whether it was complete, its late
  events.

:func:`build_marts` computes the given days with the pure transforms of :mod:`transforms` and replaces each
day's rows in every mart inside one transaction (``DELETE ... WHERE day IN (...)`` then ``INSERT``), so a
reader sees a day entirely before or entirely after a build. Building a day twice gives the same rows.

:func:`days_to_rebuild` chooses, for an incremental build, the days whose figures can have changed since
the last incremental or full build (see its docstring for the rules). The incremental bookmark is the Kafka
position of every raw row: rows at or past ``build_state.next_offset`` of their (table, topic, partition)
are new.

Readings where docs/metrics.md is silent (also in docs/marts.md):

- **Marked time.** For the watermark an event counts at ``min(event_time, kafka_timestamp + max clock
  skew)`` (:func:`marked_time_sql`): a device clock running ahead moves no watermark. Such events still
  count in their own day; ``build_days.future_events`` counts them on the day they arrived.
- **Late events.** An event's arrival is its ``kafka_timestamp``, the earliest of its copies (the loader
  keeps it). The watermark at its arrival is the largest marked time of all events (all raw tables) with a
  strictly earlier ``kafka_timestamp``; an event in D is late when that watermark is at least D+1 00:00
  local + the allowed lateness. So the count does not depend on how ingest cut its batches. Equivalently:
  let K(D) be the earliest ``kafka_timestamp`` of any event with marked time >= D+1 00:00 + lateness; the
  late events of D are the events in D that arrived strictly after K(D). Events without a
  ``kafka_timestamp`` are never late.
- **Days with data** are every local day from the day of the earliest ``event_time`` to the day of the
  watermark, gaps included (a day without events can still have MAU or broadcast hours); days past the
  watermark's day wait until it reaches them.
- **Dimension values missing** (``source``, ``device``, ``country`` of a session without them) are stored
  as ``'unknown'`` in ``agg_daily_source`` / ``_device`` / ``_country``, as the category of a session whose
  stream is unknown is ``'unknown'``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from schemas.events import FAMILIES, SOURCE_COLUMNS, Family, polars_schema
from transforms.audience import RETENTION_DAYS, daily_audience, retention_cohorts
from transforms.campaigns import (
    ATTRIBUTION_WINDOW,
    REVENUE_WINDOW,
    attribute_signups,
    daily_campaign_totals,
    daily_campaigns,
)
from transforms.content import (
    build_broadcasts,
    daily_categories,
    daily_channels,
    daily_content_totals,
    daily_streams,
    session_category,
)
from transforms.days import days_frame, exact_div, local_day
from transforms.engagement import (
    daily_engagement,
    daily_follows_by_channel,
    daily_reports_by_reason,
    daily_shares_by_target,
    paying_users,
)
from transforms.sessions import (
    ViewerDays,
    build_sessions,
    daily_qoe_of,
    daily_sessions_by,
    daily_viewing_of,
    merge_viewer_days,
    minute_concurrency,
    session_watch_by_day,
    viewer_days,
)
from warehouse.lake import retry_busy, transaction
from warehouse.migrations import raw_table

log = logging.getLogger(__name__)

BuildMode = Literal["incremental", "full", "range"]
Progress = Callable[[str], None]

# Mart tables and the column whose day a build replaces.
MART_TABLES: dict[str, str] = {
    "fct_sessions": "start_day",
    "fct_session_days": "day",
    "fct_minute_concurrency": "day",
    "agg_daily_headline": "day",
    "agg_daily_category": "day",
    "agg_daily_channel": "day",
    "agg_daily_stream": "day",
    "agg_daily_campaign": "day",
    "agg_daily_source": "day",
    "agg_daily_device": "day",
    "agg_daily_country": "day",
    "agg_daily_shares_by_target": "day",
    "agg_daily_reports_by_reason": "day",
    "agg_retention_cohorts": "as_of_day",
    "build_days": "day",
}

# The key of every mart table (not enforced by DuckDB: see migration 3; tests check it).
MART_KEYS: dict[str, tuple[str, ...]] = {
    "fct_sessions": ("session_id",),
    "fct_session_days": ("day", "session_id"),
    "fct_minute_concurrency": ("day", "minute"),
    "agg_daily_headline": ("day",),
    "agg_daily_category": ("day", "category"),
    "agg_daily_channel": ("day", "channel_id"),
    "agg_daily_stream": ("day", "stream_id"),
    "agg_daily_campaign": ("day", "campaign_id", "channel"),
    "agg_daily_source": ("day", "source"),
    "agg_daily_device": ("day", "device"),
    "agg_daily_country": ("day", "country"),
    "agg_daily_shares_by_target": ("day", "target"),
    "agg_daily_reports_by_reason": ("day", "reason"),
    "agg_retention_cohorts": ("as_of_day", "cohort_date"),
    "build_days": ("day",),
}

UNKNOWN = "unknown"
# Local days are whole 15-minute UTC buckets: every zone's offset (and so every local midnight) is a multiple
# of 15 minutes, so counting per bucket in DuckDB and converting buckets to days in Polars loses nothing.
_BUCKET_US = 15 * 60 * 1_000_000
# Look-backs of one chunk of days (see build_marts): sessions reaching into the first day started at most
# 24 h before it; attribution of a purchase needs its sign-up (30 d before) and that sign-up's click (7 d).
_SESSION_LOOKBACK = timedelta(hours=24)
_CAMPAIGN_LOOKBACK = REVENUE_WINDOW + ATTRIBUTION_WINDOW + timedelta(days=1)
# How many days after an event's day its figures reach (incremental builds). Activity: WAU/MAU windows (29
# days) and the 31-cohort retention triangle (30). A click re-attributes sign-ups of the next 7 days and so
# purchases 30 days after those; a sign-up, purchases of the next 30 days. One day more for the local day of
# an instant 7 or 30 x 24 h later, which a DST change can push past midnight.
_ACTIVITY_REACH_DAYS = max(RETENTION_DAYS)
_SIGNUP_REACH_DAYS = REVENUE_WINDOW.days + 1
_CLICK_REACH_DAYS = (ATTRIBUTION_WINDOW + REVENUE_WINDOW).days + 1
# Columns the metrics never read (free text, or fields no figure uses): not loaded, to save memory.
_UNUSED_COLUMNS = frozenset(
    {"schema_version", "is_anonymous", "bitrate_kbps", "message", "comment", "title", "gift_id", "quantity",
     "tier", "creative_id", *SOURCE_COLUMNS}
)  # fmt: skip
_UTC_TS = pl.Datetime("us", "UTC")

# Default size of a chunk of days computed together (bounded memory): at most this many raw events ...
# How far an event_time may run ahead of its Kafka timestamp before the watermark caps it
# (``LIVEOPS_MAX_CLOCK_SKEW``).
DEFAULT_MAX_CLOCK_SKEW = timedelta(minutes=5)
DEFAULT_CHUNK_EVENTS = 10_000_000
# ... and at most this many days.
DEFAULT_CHUNK_DAYS = 14
# A chunk's viewer events are read in slices of about this many events (by session_id): peak memory is
# bounded by one slice, not by the day (a 10 M-event day reads 5 slices).
DEFAULT_SLICE_EVENTS = 2_000_000


@dataclass(frozen=True)
class BuildResult:
    """What one build did.

    Attributes:
        build_id: id of the run (``build_runs.build_id``, ``build_days.build_id``).
        mode: ``incremental`` (days chosen by :func:`days_to_rebuild`), ``full`` (every day with data) or
            ``range`` (the days asked for).
        days: the days rebuilt, ascending.
        watermark: the latest ``event_time`` in the warehouse when the build started (None: no data).
        complete_days: how many of ``days`` were complete under the watermark rule.
        events: raw events whose ``event_time`` falls in ``days``.
        rows: rows written per mart table.
        seconds: wall time of the build.
    """

    build_id: str
    mode: BuildMode
    days: list[date]
    watermark: datetime | None
    complete_days: int
    events: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def line(self) -> str:
        """One-line human summary."""
        if not self.days:
            return f"{self.mode} build: nothing to rebuild ({self.seconds:.1f} s)"
        span = f"{self.days[0]}..{self.days[-1]}" if len(self.days) > 1 else str(self.days[0])
        rate = self.events / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{self.mode} build of {len(self.days)} day(s) {span}: {self.complete_days} complete, "
            f"{self.events:,} events ({rate:,.0f}/s), {sum(self.rows.values()):,} mart rows in {self.seconds:.1f} s"
        )


# ---------------------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------------------


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> tuple[Any, ...] | None:
    """The first row of a query (None without rows); the result is consumed entirely (DuckDB 2)."""
    rows = con.sql(sql, params=params).fetchall()
    return rows[0] if rows else None


def _day_of(instant: datetime, tz: str) -> date:
    """Local date of an aware instant in ``tz``."""
    return instant.astimezone(ZoneInfo(tz)).date()


def _bounds(days: Sequence[date], tz: str) -> pl.DataFrame:
    """``day``, ``day_start``, ``day_end`` (UTC, end exclusive), ``day_seconds`` of each day."""
    return days_frame(days, tz).collect()


def _all_events_sql(columns: str = "event_time, kafka_timestamp") -> str:
    return " UNION ALL ".join(f"SELECT {columns} FROM {raw_table(family)}" for family in FAMILIES)


def _buckets_to_days(frame: pl.DataFrame, tz: str, bucket_col: str = "q") -> pl.Series:
    """Local days of 15-minute bucket numbers (microseconds since the epoch // 15 min)."""
    seconds = pl.col(bucket_col) * (_BUCKET_US // 1_000_000)
    instants = pl.from_epoch(seconds, time_unit="s").dt.replace_time_zone("UTC").dt.cast_time_unit("us")
    return frame.select(local_day(instants, tz).alias("day"))["day"]


def _expand(ranges: Iterable[tuple[date, date]]) -> set[date]:
    days: set[date] = set()
    for lo, hi in ranges:
        d = lo
        while d <= hi:
            days.add(d)
            d += timedelta(days=1)
    return days


def _skew_sql(max_clock_skew: timedelta) -> str:
    """A DuckDB interval literal of ``max_clock_skew`` (whole microseconds; a number, nothing user-typed)."""
    return f"INTERVAL '{int(max_clock_skew / timedelta(microseconds=1))} microseconds'"


def marked_time_sql(max_clock_skew: timedelta) -> str:
    """SQL of the instant an event counts at for the watermark: ``event_time``, capped at arrival + skew.

    A device whose clock runs ahead stamps events in the future; such an event counts at its
    ``kafka_timestamp`` plus the maximum clock skew. Rows without a ``kafka_timestamp`` count at their
    ``event_time``.
    """
    return f"least(event_time, coalesce(kafka_timestamp + {_skew_sql(max_clock_skew)}, event_time))"


def warehouse_watermark(
    con: duckdb.DuckDBPyConnection, max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW
) -> datetime | None:
    """The watermark: the latest ``min(event_time, kafka_timestamp + max_clock_skew)`` of any raw table.

    Returns:
        The watermark (UTC), None when the warehouse is empty.
    """
    row = _one(con, f"SELECT max({marked_time_sql(max_clock_skew)}) FROM ({_all_events_sql()})")
    value = row[0] if row else None
    return value.astimezone(UTC) if isinstance(value, datetime) else None


def events_per_day(con: duckdb.DuckDBPyConnection, tz: str) -> pl.DataFrame:
    """Raw events per local day (all four tables): ``day``, ``events``; only days with events, ascending."""
    buckets: pl.DataFrame = con.sql(
        f"SELECT epoch_us(event_time) // {_BUCKET_US} AS q, count(*) AS n FROM ({_all_events_sql('event_time')}) "
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
    return _span(events_per_day(con, tz), warehouse_watermark(con, max_clock_skew), tz)


def _span(counts: pl.DataFrame, watermark: datetime | None, tz: str) -> list[date]:
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
    row = _one(
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


def _offsets_snapshot(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int, int]]:
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
            f"SELECT DISTINCT family, event_type, epoch_us(event_time) // {_BUCKET_US} AS q FROM _new_rows"
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
            f"SELECT epoch_us(min(event_time)) // {_BUCKET_US} AS lo, epoch_us(max(event_time)) // {_BUCKET_US} AS hi "
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
            SELECT DISTINCT epoch_us(o.t) // {_BUCKET_US} AS q FROM old_first o JOIN new_first n USING (user_id)
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
                f"SELECT DISTINCT epoch_us(kafka_timestamp) // {_BUCKET_US} AS q FROM _new_rows "
                f"WHERE event_time > kafka_timestamp + {_skew_sql(max_clock_skew)}",
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
                    con, f"SELECT DISTINCT epoch_us({column}) // {_BUCKET_US} AS q FROM ({corrections})", tz, since
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
                f"SELECT DISTINCT epoch_us(event_time) // {_BUCKET_US} AS q FROM ({old_arrivals}) "
                "WHERE kafka_timestamp > least((SELECT min(kafka_timestamp) FROM _new_rows), "
                f"(SELECT min(new_kafka_timestamp) FROM ({corrections})))",
                tz,
                since,
            )
        )
    finally:
        con.execute("DROP TABLE IF EXISTS _new_rows")
    return sorted(d for d in days if first <= d <= last)


# ---------------------------------------------------------------------------------------------------------
# Reading raw rows for a chunk of days
# ---------------------------------------------------------------------------------------------------------


def _columns(family: Family) -> str:
    return ", ".join(f'"{name}"' for name in polars_schema(family) if name not in _UNUSED_COLUMNS)


def _typed(frame: pl.DataFrame, family: Family) -> pl.LazyFrame:
    schema = {k: v for k, v in polars_schema(family).items() if k in frame.columns}
    return frame.cast(schema).lazy()  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Inputs:
    """What one chunk of days reads: raw frames with the look-backs its figures need.

    The viewer events (most of the volume: heartbeats) are not kept: only the sessions they make that
    overlap the chunk and their condensed daily figures (:class:`transforms.sessions.ViewerDays`).
    """

    sessions: pl.LazyFrame
    viewer_days: ViewerDays
    engagement: pl.LazyFrame
    campaign: pl.LazyFrame
    activity: pl.LazyFrame


def _read_viewer(
    con: duckdb.DuckDBPyConnection, lo_s: datetime, hi_e: datetime, tz: str, slices: int
) -> tuple[pl.LazyFrame, ViewerDays]:
    """The sessions overlapping ``[lo_s, hi_e)`` and the condensed viewer figures of their events.

    Sessions overlapping the chunk start at most 24 h before it (a session is capped at 24 h) and have an
    event at or after its start (their end or latest event), so they have an event in the chunk, or one in
    the 24 h before it and one after it. All events of those sessions are read, in ``slices`` disjoint slices
    by a hash of ``session_id``: a session's events are all in one slice, so sessions built per slice are
    the sessions of all events, and :func:`merge_viewer_days` merges the condensed figures exactly. Only
    one slice's events are in memory at a time.
    """
    sessions: list[pl.DataFrame] = []
    condensed: list[ViewerDays] = []
    for index in range(slices):
        part = "" if slices == 1 else f"AND hash(session_id) % {slices} = {index}"
        viewer = con.sql(
            f"""
            WITH candidates AS (
                SELECT session_id FROM raw_viewer_events WHERE event_time >= $lo AND event_time < $hi {part}
                UNION
                (SELECT session_id FROM raw_viewer_events WHERE event_time >= $back AND event_time < $lo {part}
                 INTERSECT
                 SELECT session_id FROM raw_viewer_events WHERE event_time >= $hi {part})
            )
            SELECT {_columns("viewer")} FROM raw_viewer_events
            WHERE session_id IN (SELECT session_id FROM candidates) {part}
            """,
            params={"lo": lo_s, "hi": hi_e, "back": lo_s - _SESSION_LOOKBACK},
        ).pl()
        typed = _typed(viewer, "viewer")
        # Only sessions overlapping the chunk matter (a session of length 0 counts on its start day).
        overlapping = build_sessions(typed).filter((pl.col("started_at") < hi_e) & (pl.col("ended_at") >= lo_s))
        built, users, startups, totals = pl.collect_all([overlapping, *_frames(viewer_days(typed, tz))])
        sessions.append(built)
        condensed.append(ViewerDays(users.lazy(), startups.lazy(), totals.lazy()))
        del viewer, typed
    merged = merge_viewer_days(condensed).collect()
    return pl.concat(sessions).sort("started_at", "session_id").lazy(), merged


def _frames(condensed: ViewerDays) -> list[pl.LazyFrame]:
    return [condensed.users, condensed.startups, condensed.totals]


def _read_chunk(
    con: duckdb.DuckDBPyConnection,
    bounds: pl.DataFrame,
    tz: str,
    first_active: pl.DataFrame,
    slices: int = 1,
) -> _Inputs:
    lo_s: datetime = bounds["day_start"].min()  # type: ignore[assignment]
    hi_e: datetime = bounds["day_end"].max()  # type: ignore[assignment]
    lo_day: date = bounds["day"].min()  # type: ignore[assignment]

    sessions, condensed = _read_viewer(con, lo_s, hi_e, tz, slices)
    engagement = con.sql(
        f"SELECT {_columns('engagement')} FROM raw_engagement_events WHERE event_time >= $lo AND event_time < $hi",
        params={"lo": lo_s, "hi": hi_e},
    ).pl()
    campaign = con.sql(
        f"""
        SELECT {_columns("campaign")} FROM raw_campaign_events
        WHERE (event_time >= $lo AND event_time < $hi)
           OR (event_type IN ('click', 'signup') AND event_time >= $back AND event_time < $lo)
        """,
        params={"lo": lo_s, "hi": hi_e, "back": lo_s - _CAMPAIGN_LOOKBACK},
    ).pl()

    # Activity (user, day) over the 30 days before the chunk and the chunk (WAU, MAU, retention), plus each
    # such user's first active day when it is older: new users and cohorts need the first day over ALL data,
    # and a row that old falls outside every window the chunk reports.
    window_start_day = lo_day - timedelta(days=max(RETENTION_DAYS))
    window_start: datetime = _bounds([window_start_day], tz)["day_start"][0]
    buckets = con.sql(
        f"""
        SELECT DISTINCT user_id, epoch_us(event_time) // {_BUCKET_US} AS q FROM (
            SELECT user_id, event_time FROM raw_viewer_events WHERE event_time >= $lo AND event_time < $hi
            UNION ALL
            SELECT user_id, event_time FROM raw_engagement_events WHERE event_time >= $lo AND event_time < $hi
        )
        """,
        params={"lo": window_start, "hi": hi_e},
    ).pl()
    window = buckets.select("user_id", _buckets_to_days(buckets, tz)).unique()
    older = first_active.filter(pl.col("first_day") < window_start_day).join(window, on="user_id", how="semi")
    activity = pl.concat([window, older.select("user_id", pl.col("first_day").alias("day"))]).unique()
    return _Inputs(
        sessions=sessions,
        viewer_days=condensed,
        engagement=_typed(engagement, "engagement"),
        campaign=_typed(campaign, "campaign"),
        activity=activity.lazy(),
    )


def _first_active_days(con: duckdb.DuckDBPyConnection, tz: str) -> pl.DataFrame:
    """Each user's first active day (any viewer or engagement event) over all data."""
    first: pl.DataFrame = con.sql(
        "SELECT user_id, min(event_time) AS first_at FROM ("
        "SELECT user_id, event_time FROM raw_viewer_events UNION ALL "
        "SELECT user_id, event_time FROM raw_engagement_events) GROUP BY user_id"
    ).pl()
    return first.select("user_id", local_day(pl.col("first_at").cast(_UTC_TS), tz).alias("first_day"))


# ---------------------------------------------------------------------------------------------------------
# Computing the marts of a chunk
# ---------------------------------------------------------------------------------------------------------


def _headline(
    days: pl.LazyFrame,
    audience: pl.LazyFrame,
    viewing: pl.LazyFrame,
    qoe: pl.LazyFrame,
    engagement: pl.LazyFrame,
    paying: pl.LazyFrame,
    content: pl.LazyFrame,
    campaign_totals: pl.LazyFrame,
    campaign_revenue: pl.LazyFrame,
    retention: pl.LazyFrame,
) -> pl.LazyFrame:
    """One row per day of ``days`` with every headline figure; 0 for absent counts, null for absent ratios."""
    frame = days.select("day", "day_start")
    for part in (audience, viewing, qoe, engagement, paying, content, campaign_totals, campaign_revenue, retention):
        frame = frame.join(part, on="day", how="left")
    zero_int = [
        "dau", "wau", "mau", "new_users", "unique_viewers", "sessions", "pcu", "chat_messages", "chatters",
        "likes", "shares", "follows", "unfollows", "net_follows", "gift_value_cents", "subscription_revenue_cents",
        "purchase_revenue_cents", "paying_users", "reports", "streams_live", "active_channels", "impressions",
        "clicks", "attributed_signups", "organic_signups", "attributed_revenue_cents",
    ]  # fmt: skip
    zero_float = ["hours_watched", "acu", "hours_broadcast", "spend"]
    return frame.with_columns(
        pl.col(zero_int).fill_null(0).cast(pl.Int64),
        pl.col(zero_float).fill_null(0.0).cast(pl.Float64),
        pl.col("pcu_at").fill_null(pl.col("day_start")),
    ).drop("day_start")


def _split(sessions: pl.LazyFrame, dimension: Literal["source", "device", "country"], tz: str) -> pl.LazyFrame:
    return daily_sessions_by(sessions, dimension, tz).select(
        "day", pl.col(dimension).fill_null(UNKNOWN), "sessions", "unique_viewers"
    )


def _compute_chunk(
    inputs: _Inputs,
    segments: pl.LazyFrame,
    bounds: pl.DataFrame,
    tz: str,
) -> dict[str, pl.DataFrame]:
    """Every mart's rows for the days of ``bounds`` (``build_days`` excepted)."""
    day_list: list[date] = bounds["day"].to_list()
    lo_s: datetime = bounds["day_start"].min()  # type: ignore[assignment]
    hi_e: datetime = bounds["day_end"].max()  # type: ignore[assignment]
    in_chunk = pl.col("day").is_in(day_list)

    sessions = inputs.sessions
    segments = segments.filter((pl.col("seg_end") >= lo_s - 2 * _SESSION_LOOKBACK) & (pl.col("seg_start") < hi_e))
    with_category = session_category(sessions, segments).collect().lazy()
    watch = session_watch_by_day(sessions, tz).collect().lazy()

    viewing = daily_viewing_of(inputs.viewer_days, sessions, tz).collect().lazy()
    attributed = attribute_signups(inputs.campaign).collect().lazy()
    campaigns = daily_campaigns(inputs.campaign, attributed, tz)
    retention = pl.concat(
        [
            retention_cohorts(inputs.activity, as_of, cohorts=max(RETENTION_DAYS) + 1).with_columns(
                pl.lit(as_of).alias("as_of_day")
            )
            for as_of in day_list
        ]
    ).with_columns(
        (pl.col("as_of_day") - pl.col("cohort_date")).dt.total_days().cast(pl.Int32).alias("days_since_cohort")
    )
    headline_retention = retention.group_by(pl.col("as_of_day").alias("day")).agg(
        *[
            pl.col(f"d{n}").filter(pl.col("days_since_cohort") == n).first().alias(f"retention_d{n}")
            for n in RETENTION_DAYS
        ]
    )
    channel_follows = daily_follows_by_channel(inputs.engagement, tz).select(
        "day", "channel_id", "follows", "unfollows"
    )

    days_lf = bounds.lazy()
    headline = _headline(
        days_lf,
        daily_audience(inputs.activity, day_list),
        viewing,
        daily_qoe_of(inputs.viewer_days, sessions, tz),
        daily_engagement(inputs.engagement, viewing.select("day", "unique_viewers"), tz),
        paying_users(inputs.engagement, inputs.campaign, tz),
        daily_content_totals(segments, tz),
        daily_campaign_totals(inputs.campaign, attributed, tz),
        campaigns.group_by("day").agg(pl.col("attributed_revenue_cents").sum().cast(pl.Int64)),
        headline_retention,
    )

    plans: dict[str, pl.LazyFrame] = {
        "fct_sessions": with_category.with_columns(local_day("started_at", tz).alias("start_day")).filter(
            pl.col("start_day").is_in(day_list)
        ),
        "fct_session_days": watch.filter(in_chunk)
        .join(with_category.select("session_id", "category"), on="session_id", how="left")
        .with_columns(pl.col("category").fill_null(UNKNOWN)),
        "fct_minute_concurrency": minute_concurrency(sessions, tz, day_list),
        "agg_daily_headline": headline,
        "agg_daily_category": daily_categories(segments, watch, with_category, tz).filter(in_chunk),
        "agg_daily_channel": daily_channels(segments, watch, sessions, inputs.engagement, tz)
        .filter(in_chunk)
        .join(channel_follows, on=["day", "channel_id"], how="left")
        .with_columns(
            pl.col("follows", "unfollows").fill_null(0),
            exact_div("broadcast_seconds", 3600).alias("hours_broadcast"),
        ),
        "agg_daily_stream": daily_streams(segments, watch, sessions, tz)
        .filter(in_chunk)
        .with_columns(exact_div("broadcast_seconds", 3600).alias("hours_broadcast")),
        "agg_daily_campaign": campaigns.filter(in_chunk),
        "agg_daily_source": _split(sessions, "source", tz).filter(in_chunk),
        "agg_daily_device": _split(sessions, "device", tz).filter(in_chunk),
        "agg_daily_country": _split(sessions, "country", tz).filter(in_chunk),
        "agg_daily_shares_by_target": daily_shares_by_target(inputs.engagement, tz).filter(in_chunk),
        "agg_daily_reports_by_reason": daily_reports_by_reason(inputs.engagement, tz).filter(in_chunk),
        "agg_retention_cohorts": retention,
    }
    frames = pl.collect_all(list(plans.values()))
    return dict(zip(plans, frames, strict=True))


def _late_and_counts(
    con: duckdb.DuckDBPyConnection, bounds: pl.DataFrame, allowed_lateness: timedelta, max_clock_skew: timedelta
) -> pl.DataFrame:
    """``day``, ``events`` (raw events in D), ``late_events`` (by the arrival rule) and ``future_events``.

    ``future_events`` of D: events that arrived in D (``kafka_timestamp``) stamped more than
    ``max_clock_skew`` after their arrival.
    """
    rows = []
    mark = marked_time_sql(max_clock_skew)
    for day, start, end in bounds.select("day", "day_start", "day_end").iter_rows():
        # K(D): the earliest arrival of an event counting at or past D+1 00:00 + lateness for the watermark;
        # events of D arriving strictly after it arrived when the watermark had passed that instant.
        # (`event_time >= threshold` follows from the mark's, which is at most event_time: it lets the scan
        # skip the partitions of earlier days.)
        threshold = end + allowed_lateness
        events, late = _one(
            con,
            f"""
            WITH k AS (SELECT min(kafka_timestamp) AS k FROM ({_all_events_sql()})
                       WHERE event_time >= $threshold AND {mark} >= $threshold)
            SELECT count(*), count(*) FILTER (WHERE e.kafka_timestamp > (SELECT k FROM k))
            FROM ({_all_events_sql()}) e WHERE e.event_time >= $start AND e.event_time < $end
            """,
            {"threshold": threshold, "start": start, "end": end},
        ) or (0, 0)
        future = _one(
            con,
            f"SELECT count(*) FROM ({_all_events_sql()}) WHERE kafka_timestamp >= $start AND kafka_timestamp < $end "
            f"AND event_time > kafka_timestamp + {_skew_sql(max_clock_skew)}",
            {"start": start, "end": end},
        ) or (0,)
        rows.append((day, int(events), int(late), int(future[0])))
    schema = {"day": pl.Date, "events": pl.Int64, "late_events": pl.Int64, "future_events": pl.Int64}
    return pl.DataFrame(rows, schema=schema, orient="row")


# ---------------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------------


def _write_chunk(
    con: duckdb.DuckDBPyConnection,
    day_list: list[date],
    frames: dict[str, pl.DataFrame],
    keep_only: list[date] | None = None,
) -> dict[str, int]:
    """:func:`_write_chunk_once`, run again when another writer's commit got in the way."""
    return retry_busy(lambda: _write_chunk_once(con, day_list, frames, keep_only), "marts build")


def _write_chunk_once(
    con: duckdb.DuckDBPyConnection,
    day_list: list[date],
    frames: dict[str, pl.DataFrame],
    keep_only: list[date] | None = None,
) -> dict[str, int]:
    """Replace the rows of ``day_list`` in every mart with ``frames``, in one transaction.

    With ``keep_only`` (a full build), rows of days outside it are deleted in the same transaction.
    """
    written: dict[str, int] = {}
    days_table = pl.DataFrame({"day": day_list}, schema={"day": pl.Date}).to_arrow()
    with transaction(con):
        con.register("_build_chunk_days", days_table)
        if keep_only is not None:
            con.register("_build_keep_days", pl.DataFrame({"day": keep_only}, schema={"day": pl.Date}).to_arrow())
            for table, day_col in MART_TABLES.items():
                con.execute(f"DELETE FROM {table} WHERE {day_col} NOT IN (SELECT day FROM _build_keep_days)")
            con.unregister("_build_keep_days")
        for table, day_col in MART_TABLES.items():
            # Exactly the table's columns, in its order: a missing one fails here rather than writing nulls.
            frame = frames[table].select(table_columns(con, table))
            con.register("_build_rows", frame.to_arrow())
            where = f"{day_col} IN (SELECT day FROM _build_chunk_days)"
            if table == "fct_sessions":
                # A session whose start moved to one of these days from another day is stored once.
                where += " OR session_id IN (SELECT session_id FROM _build_rows)"
            con.execute(f"DELETE FROM {table} WHERE {where}")
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _build_rows")
            con.unregister("_build_rows")
            written[table] = frame.height
        con.unregister("_build_chunk_days")
    return written


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """Column names of a table or view, in order."""
    rows = con.sql(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        params=[table],
    ).fetchall()
    return [str(row[0]) for row in rows]


def _chunks(days: list[date], events: dict[date, int], max_events: int, max_days: int) -> list[list[date]]:
    """Consecutive days grouped into chunks of at most ``max_days`` days and (beyond one day) ``max_events``."""
    chunks: list[list[date]] = []
    current: list[date] = []
    total = 0
    for day in days:
        n = events.get(day, 0)
        contiguous = bool(current) and day - current[-1] == timedelta(days=1)
        if current and (not contiguous or len(current) >= max_days or total + n > max_events):
            chunks.append(current)
            current, total = [], 0
        current.append(day)
        total += n
    if current:
        chunks.append(current)
    return chunks


# ---------------------------------------------------------------------------------------------------------
# The build
# ---------------------------------------------------------------------------------------------------------


def build_marts(
    con: duckdb.DuckDBPyConnection,
    days: list[date] | None,
    tz: str,
    allowed_lateness: timedelta,
    full: bool = False,
    *,
    max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW,
    progress: Progress | None = None,
    chunk_events: int = DEFAULT_CHUNK_EVENTS,
    chunk_days: int = DEFAULT_CHUNK_DAYS,
    slice_events: int = DEFAULT_SLICE_EVENTS,
) -> BuildResult:
    """Build (or rebuild) the marts of some days.

    Which days: with ``full``, every day with data; else with ``days``, those (clipped to the days with
    data); else the days :func:`days_to_rebuild` chooses (incremental). Incremental and full builds then move
    the incremental bookmark to the raw rows read; a range build does not (the next incremental build still
    covers everything ingested since the last one).

    Days are computed in chunks of consecutive days (bounded memory: ``chunk_events`` raw events,
    ``chunk_days`` days; the viewer events in slices of ``slice_events`` by session), each read with its look-backs: the sessions reaching into it, 30 days of user
    activity plus every user's first active day, 38 days of clicks and sign-ups, all stream events. Each
    chunk's days are replaced in every mart in one transaction.

    Args:
        con: the warehouse (read-write, migrated).
        days: days to rebuild (None: incremental, unless ``full``).
        tz: IANA report time zone.
        allowed_lateness: lateness after which a day is complete.
        full: rebuild every day with data.
        max_clock_skew: how far an event may run ahead of its arrival before the watermark caps it (the
            days with data end on the watermark's day).
        progress: called with a line of text after each day is written (else logged).
        chunk_events: soft bound on raw events per chunk.
        chunk_days: bound on days per chunk.
        slice_events: a chunk's viewer events are read in slices of about this many events.

    Returns:
        What was built.
    """
    started = time.monotonic()
    started_at = datetime.now(UTC)
    say = progress or log.info
    build_id = uuid.uuid4().hex
    mode: BuildMode = "full" if full else ("range" if days is not None else "incremental")

    # The bookmark is taken before anything is read: rows ingested meanwhile count as new next time.
    snapshot = _offsets_snapshot(con)
    watermark = warehouse_watermark(con, max_clock_skew)
    counts = events_per_day(con, tz)
    available = _span(counts, watermark, tz)
    if full:
        chosen = available
    elif days is not None:
        wanted = set(days)
        chosen = [d for d in available if d in wanted]
        if len(chosen) < len(wanted):
            say(f"skipping {len(wanted) - len(chosen)} day(s) without data")
    else:
        chosen = days_to_rebuild(con, tz, allowed_lateness, max_clock_skew)

    rows: dict[str, int] = dict.fromkeys(MART_TABLES, 0)
    complete_days = 0
    events_total = 0
    if chosen and watermark is not None:
        stream_frame = con.sql(f"SELECT {_columns('stream')} FROM raw_stream_events").pl()
        segments = build_broadcasts(_typed(stream_frame, "stream"), watermark).collect().lazy()
        first_active = _first_active_days(con, tz)
        per_day = dict(counts.iter_rows())
        for index, chunk in enumerate(_chunks(chosen, per_day, chunk_events, chunk_days)):
            bounds = _bounds(chunk, tz)
            slices = max(1, -(-sum(per_day.get(d, 0) for d in chunk) // slice_events))
            inputs = _read_chunk(con, bounds, tz, first_active, slices)
            frames = _compute_chunk(inputs, segments, bounds, tz)
            quality = _late_and_counts(con, bounds, allowed_lateness, max_clock_skew)
            built_at = datetime.now(UTC)
            frames["build_days"] = quality.join(bounds.select("day", "day_end"), on="day").select(
                "day",
                pl.lit(build_id).alias("build_id"),
                pl.lit(built_at, dtype=_UTC_TS).alias("built_at"),
                pl.lit(watermark, dtype=_UTC_TS).alias("watermark"),
                (pl.lit(watermark, dtype=_UTC_TS) >= pl.col("day_end") + allowed_lateness).alias("complete"),
                "events",
                "late_events",
                "future_events",
            )
            written = _write_chunk(con, chunk, frames, keep_only=chosen if full and index == 0 else None)
            for table, n in written.items():
                rows[table] += n
            headline = frames["agg_daily_headline"].sort("day")
            status = frames["build_days"].sort("day")
            for h, s in zip(headline.iter_rows(named=True), status.iter_rows(named=True), strict=True):
                complete_days += int(s["complete"])
                events_total += int(s["events"])
                say(
                    f"built {h['day']}: {s['events']:,} events ({s['late_events']:,} late), dau {h['dau']:,}, "
                    f"{h['sessions']:,} sessions, {h['hours_watched']:,.1f} h watched, "
                    f"{'complete' if s['complete'] else 'INCOMPLETE'}"
                )

    finished_at = datetime.now(UTC)

    def bookkeeping() -> None:
        with transaction(con):
            if mode != "range":
                con.execute("DELETE FROM build_state")
                if snapshot:
                    con.executemany("INSERT INTO build_state VALUES (?, ?, ?, ?)", [list(row) for row in snapshot])
            con.execute(
                "INSERT INTO build_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    build_id, mode, started_at, finished_at, chosen[0] if chosen else None,
                    chosen[-1] if chosen else None, len(chosen), watermark, tz, allowed_lateness.total_seconds(),
                    mode != "range", max_clock_skew.total_seconds(),
                ],
            )  # fmt: skip

    retry_busy(bookkeeping, "marts build")
    return BuildResult(
        build_id=build_id,
        mode=mode,
        days=chosen,
        watermark=watermark,
        complete_days=complete_days,
        events=events_total,
        rows=rows,
        seconds=time.monotonic() - started,
    )
