"""The marts' tables in the warehouse: reading a chunk's raw rows into Polars, writing its marts back.

Layers (tables created by migration 3, data dictionary in ``docs/marts.md``):

- ``raw_*``: typed, validated, deduplicated events as received (the loader's). ``stg_*`` views add unit
  conversions and the arrival time for analysts; the build reads ``raw_*`` directly (already typed, UTC).
- ``fct_sessions`` (session_id), ``fct_session_days`` (day, session_id), ``fct_minute_concurrency``
  (day, minute).
- ``agg_daily_*`` (day + a dimension), ``agg_retention_cohorts`` (as_of_day, cohort_date), and
  ``build_days`` (day): when each day was built, with which watermark, whether it was complete, its late
  events.

This module does the I/O of a build and decides no figure: the readers return the raw rows of the instants
asked for (typed by the contract, without the columns no metric reads); the marts are assembled from them
by ``transforms/marts.py``; ``flows/marts.py`` runs the build. :func:`write_chunk` replaces each day's rows
in every mart inside one transaction (``DELETE ... WHERE day IN (...)`` then ``INSERT``), so a reader sees
a day entirely before or entirely after a build; :func:`build_days_rows` and :func:`record_build` are the
build's bookkeeping. Which days to build: ``warehouse/rebuild.py``.

Late events (a reading where docs/metrics.md is silent, also in docs/marts.md): an event's arrival is its
``kafka_timestamp``, the earliest of its copies (the loader keeps it). The watermark at its arrival is the
largest marked time (``warehouse.rebuild.marked_time_sql``) of all events (all raw tables) with a strictly
earlier ``kafka_timestamp``; an event in D is late when that watermark is at least D+1 00:00 local + the
allowed lateness. So the count does not depend on how ingest cut its batches. Equivalently: let K(D) be the
earliest ``kafka_timestamp`` of any event with marked time >= D+1 00:00 + lateness; the late events of D are
the events in D that arrived strictly after K(D). Events without a ``kafka_timestamp`` are never late.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Literal

import duckdb
import polars as pl

from schemas.events import SOURCE_COLUMNS, Family, polars_schema
from schemas.marts import MART_TABLES, UNREAD_RAW_COLUMNS
from warehouse.lake import committed, retry_busy, transaction
from warehouse.mart_tables import record_version
from warehouse.migrations import raw_table
from warehouse.rebuild import BUCKET_US, all_events_sql, bucket_start, marked_time_sql, one_row, skew_sql

BuildMode = Literal["incremental", "full", "range"]

# Raw columns the build does not read (free text the registry lists, and the Kafka coordinates): not
# loaded, to save memory. Every other contract field is read, so a new figure needs no change here.
UNUSED_COLUMNS = frozenset({*UNREAD_RAW_COLUMNS, *SOURCE_COLUMNS})
_UTC_TS = pl.Datetime("us", "UTC")


# ---------------------------------------------------------------------------------------------------------
# Reading raw rows
# ---------------------------------------------------------------------------------------------------------


def _columns(family: Family) -> str:
    return ", ".join(f'"{name}"' for name in polars_schema(family) if name not in UNUSED_COLUMNS)


def _typed(frame: pl.DataFrame, family: Family) -> pl.DataFrame:
    """``frame`` cast to the contract's types of ``family`` (the columns it has)."""
    schema = {k: v for k, v in polars_schema(family).items() if k in frame.columns}
    return frame.cast(schema)  # type: ignore[arg-type]


def read_streams(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every stream event (broadcasts are built from all of them)."""
    return _typed(con.sql(f"SELECT {_columns('stream')} FROM raw_stream_events").pl(), "stream")


def read_viewer_slices(
    con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, back: datetime, slices: int
) -> Iterator[pl.DataFrame]:
    """All events of the sessions that can overlap ``[start, end)``, in ``slices`` slices by session.

    Sessions overlapping the chunk start at most 24 h before it (``back``: a session is capped at 24 h) and
    have an event at or after its start (their end or latest event), so they have an event in the chunk,
    or one in ``[back, start)`` and one at or after ``end``. The slices are disjoint by a hash of
    ``session_id``: a session's events are all in one slice. Each slice is read when the next one is asked
    for, and the generator keeps no reference to it: one slice is in memory at a time when the caller drops
    it before asking for the next.
    """
    for index in range(slices):
        part = "" if slices == 1 else f"AND hash(session_id) % {slices} = {index}"
        yield _typed(
            con.sql(
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
                params={"lo": start, "hi": end, "back": back},
            ).pl(),
            "viewer",
        )


def read_engagement(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> pl.DataFrame:
    """The engagement events in ``[start, end)``."""
    return _typed(
        con.sql(
            f"SELECT {_columns('engagement')} FROM raw_engagement_events WHERE event_time >= $lo AND event_time < $hi",
            params={"lo": start, "hi": end},
        ).pl(),
        "engagement",
    )


def read_campaign(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, back: datetime) -> pl.DataFrame:
    """The campaign events in ``[start, end)``, and the clicks and sign-ups in ``[back, start)``."""
    return _typed(
        con.sql(
            f"""
            SELECT {_columns("campaign")} FROM raw_campaign_events
            WHERE (event_time >= $lo AND event_time < $hi)
               OR (event_type IN ('click', 'signup') AND event_time >= $back AND event_time < $lo)
            """,
            params={"lo": start, "hi": end, "back": back},
        ).pl(),
        "campaign",
    )


def read_user_times(con: duckdb.DuckDBPyConnection, family: Family, start: datetime, end: datetime) -> pl.DataFrame:
    """``user_id``, ``event_time`` of the events of ``family`` in ``[start, end)``, one per user and bucket.

    Each ``event_time`` is moved to the start of its 15-minute UTC bucket and the pairs made distinct, in
    DuckDB (a few rows per user and day instead of every heartbeat). Every local midnight is on a bucket
    boundary, so an instant's local day does not change.
    """
    buckets = con.sql(
        f"SELECT DISTINCT user_id, epoch_us(event_time) // {BUCKET_US} AS q FROM {raw_table(family)} "
        "WHERE event_time >= $lo AND event_time < $hi",
        params={"lo": start, "hi": end},
    ).pl()
    return buckets.select(pl.col("user_id").cast(pl.String), bucket_start("q").alias("event_time"))


def read_first_times(con: duckdb.DuckDBPyConnection, family: Family) -> pl.DataFrame:
    """``user_id``, ``event_time``: the earliest event of each user in ``family``, over all data."""
    first = con.sql(f"SELECT user_id, min(event_time) AS event_time FROM {raw_table(family)} GROUP BY user_id").pl()
    return first.select(pl.col("user_id").cast(pl.String), pl.col("event_time").cast(_UTC_TS))


# ---------------------------------------------------------------------------------------------------------
# Bookkeeping: build_days, build_runs, build_state
# ---------------------------------------------------------------------------------------------------------


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
        events, late = one_row(
            con,
            f"""
            WITH k AS (SELECT min(kafka_timestamp) AS k FROM ({all_events_sql()})
                       WHERE event_time >= $threshold AND {mark} >= $threshold)
            SELECT count(*), count(*) FILTER (WHERE e.kafka_timestamp > (SELECT k FROM k))
            FROM ({all_events_sql()}) e WHERE e.event_time >= $start AND e.event_time < $end
            """,
            {"threshold": threshold, "start": start, "end": end},
        ) or (0, 0)
        future = one_row(
            con,
            f"SELECT count(*) FROM ({all_events_sql()}) WHERE kafka_timestamp >= $start AND kafka_timestamp < $end "
            f"AND event_time > kafka_timestamp + {skew_sql(max_clock_skew)}",
            {"start": start, "end": end},
        ) or (0,)
        rows.append((day, int(events), int(late), int(future[0])))
    schema = {"day": pl.Date, "events": pl.Int64, "late_events": pl.Int64, "future_events": pl.Int64}
    return pl.DataFrame(rows, schema=schema, orient="row")


def build_days_rows(
    con: duckdb.DuckDBPyConnection,
    bounds: pl.DataFrame,
    build_id: str,
    built_at: datetime,
    watermark: datetime,
    allowed_lateness: timedelta,
    max_clock_skew: timedelta,
) -> pl.DataFrame:
    """The ``build_days`` rows of the days of ``bounds``: counts, late and future events, completeness.

    A day is complete when ``watermark`` >= its end (next local midnight) + ``allowed_lateness``.
    """
    quality = _late_and_counts(con, bounds, allowed_lateness, max_clock_skew)
    return quality.join(bounds.select("day", "day_end"), on="day").select(
        "day",
        pl.lit(build_id).alias("build_id"),
        pl.lit(built_at, dtype=_UTC_TS).alias("built_at"),
        pl.lit(watermark, dtype=_UTC_TS).alias("watermark"),
        (pl.lit(watermark, dtype=_UTC_TS) >= pl.col("day_end") + allowed_lateness).alias("complete"),
        "events",
        "late_events",
        "future_events",
    )


def record_build(
    con: duckdb.DuckDBPyConnection,
    *,
    build_id: str,
    mode: BuildMode,
    started_at: datetime,
    finished_at: datetime,
    days: list[date],
    watermark: datetime | None,
    tz: str,
    allowed_lateness: timedelta,
    max_clock_skew: timedelta,
    snapshot: list[tuple[str, str, int, int]],
    recreated: bool = False,
) -> None:
    """Record a finished build in ``build_runs`` and the registry version it wrote (``mart_versions``;
    ``recreated``: it recreated the marts first); unless a range build, move the bookmark to ``snapshot``.

    ``snapshot`` is ``warehouse.rebuild.offsets_snapshot`` taken when the build started (rows ingested
    meanwhile count as new next time). Retried when another writer's commit got in the way.
    """

    def bookkeeping(con: duckdb.DuckDBPyConnection) -> None:
        if mode != "range":
            con.execute("DELETE FROM build_state")
            if snapshot:
                con.executemany("INSERT INTO build_state VALUES (?, ?, ?, ?)", [list(row) for row in snapshot])
        record_version(con, build_id, recreated)
        con.execute(
            "INSERT INTO build_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                build_id, mode, started_at, finished_at, days[0] if days else None,
                days[-1] if days else None, len(days), watermark, tz, allowed_lateness.total_seconds(),
                mode != "range", max_clock_skew.total_seconds(),
            ],
        )  # fmt: skip

    committed(con, bookkeeping, "marts build")


# ---------------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------------


def write_chunk(
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
