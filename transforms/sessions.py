"""Viewing sessions, watch time, concurrency and the daily viewing / QoE figures (``docs/metrics.md``).

Inputs are the typed, validated, deduplicated viewer events (columns of
``schemas.events.polars_schema("viewer")``). Every function is LazyFrame in, LazyFrame out, with no I/O.
A session frame (the output of :func:`build_sessions`) carries ``started_at`` / ``ended_at`` (UTC, the
session is ``[started_at, ended_at)``) and the session's attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

import polars as pl

from transforms.days import (
    MICROS_PER_SECOND,
    SECONDS_PER_MINUTE,
    UTC,
    day_span,
    days_frame,
    exact_div,
    local_day,
    micros_to_seconds,
    minute_marks,
    seconds_between,
    split_by_day,
    with_day_bounds,
)

MAX_SESSION = pl.duration(hours=24)

# Attributes a session takes from its session_start (else from its earliest event).
SESSION_ATTRIBUTES = ("user_id", "stream_id", "channel_id", "source", "campaign_id", "device", "country")

SplitDimension = Literal["source", "device", "country"]
SPLIT_DIMENSIONS: tuple[SplitDimension, ...] = ("source", "device", "country")


def build_sessions(viewer: pl.LazyFrame) -> pl.LazyFrame:
    """One row per ``session_id``, following docs/metrics.md "Viewing sessions".

    - ``started_at`` = ``event_time`` of the session's ``session_start``, else of its earliest event.
    - ``ended_at`` = ``event_time`` of its ``session_end``, else of its latest event; capped at
      ``started_at + 24 h``; when it would be before ``started_at`` the session has length 0 and
      ``ended_at`` is set to ``started_at``.
    - ``user_id``, ``stream_id``, ``channel_id``, ``source``, ``campaign_id``, ``device``, ``country`` come
      from the ``session_start``, else from the earliest event. The choice is per row, not per field: with a
      ``session_start``, all seven come from it (a null ``country`` there stays null); without one, all come
      from the earliest event, so the fields only a ``session_start`` carries (``source``, ``campaign_id``,
      ``device``, ``country``) are null.

    Deterministic tie-breaking (events are ordered by ``(event_time, event_id)``):

    - several ``session_start`` events: the first in that order is the session's start;
    - several ``session_end`` events: the last in that order is the session's end (so the session spans
      from its first start to its last end), and ``end_reason`` is that event's ``reason``;
    - "earliest event" is the first event in that order.

    Args:
        viewer: typed viewer events (``polars_schema("viewer")`` columns).

    Returns:
        Columns ``session_id``, ``user_id``, ``stream_id``, ``channel_id``, ``source``, ``campaign_id``,
        ``device``, ``country``, ``started_at``, ``ended_at`` (UTC), ``length_seconds`` (Float64),
        ``has_start``, ``has_end`` (Boolean), ``end_reason`` (String, null without a ``session_end``),
        ``capped`` (Boolean: the 24 h cap shortened the session); sorted by ``started_at``, ``session_id``.
    """
    attrs = list(SESSION_ATTRIBUTES)
    is_start = pl.col("event_type") == "session_start"
    is_end = pl.col("event_type") == "session_end"
    # Order-independent picks (no reliance on row order inside groups):
    # - sorted by (not a start, event_time, event_id), the first row is the first session_start if there is
    #   one, else the earliest event: exactly the event a session takes its start and attributes from;
    # - sorted by (is an end, event_time, event_id), the last row is the last session_end if there is one,
    #   else the latest event: the event that gives the (uncapped) end.
    start_order = [(~is_start), pl.col("event_time"), pl.col("event_id")]
    end_order = [is_end, pl.col("event_time"), pl.col("event_id")]
    per_session = viewer.group_by("session_id").agg(
        pl.col("event_time").sort_by(start_order).first().alias("started_at"),
        pl.col("event_time").sort_by(end_order).last().alias("_raw_end"),
        pl.col("reason").sort_by(end_order).last().alias("_last_reason"),
        is_start.any().alias("has_start"),
        is_end.any().alias("has_end"),
        *[pl.col(a).sort_by(start_order).first() for a in attrs],
    )
    cap = pl.col("started_at") + MAX_SESSION
    return (
        per_session.with_columns(
            pl.when("has_end").then(pl.col("_last_reason")).alias("end_reason"),
            (pl.col("_raw_end") > cap).alias("capped"),
            pl.max_horizontal("started_at", pl.min_horizontal("_raw_end", cap)).alias("ended_at"),
        )
        .with_columns(seconds_between("started_at", "ended_at").alias("length_seconds"))
        .select(
            "session_id",
            *attrs,
            "started_at",
            "ended_at",
            "length_seconds",
            "has_start",
            "has_end",
            "end_reason",
            "capped",
        )
        .sort("started_at", "session_id")
    )


def session_watch_by_day(sessions: pl.LazyFrame, tz: str = UTC) -> pl.LazyFrame:
    """Watch time of each session on each local day it overlaps.

    ``watch_seconds(session, D)`` = length of the overlap of ``[started_at, ended_at)`` with D. A session of
    length 0 gets one row of 0 seconds on the day of its start (it still exists; it adds nothing).

    ``watch_us`` is the same watch time in integer microseconds (exact): sum that column, not
    ``watch_seconds``, and convert the sum to seconds (``/ 1e6``) afterwards, so that a total is the same
    whatever the (unordered) order of the sum.

    Args:
        sessions: output of :func:`build_sessions`.
        tz: IANA time zone of the report.

    Returns:
        Columns ``session_id``, ``day`` (Date), ``watch_seconds`` (Float64), ``watch_us`` (Int64), ``user_id``,
        ``stream_id``, ``channel_id``, ``started_at``; sorted by ``day``, ``session_id``.
    """
    return (
        split_by_day(sessions, "started_at", "ended_at", tz, micros_col="watch_us")
        .select(
            "session_id",
            "day",
            pl.col("seconds").alias("watch_seconds"),
            "watch_us",
            "user_id",
            "stream_id",
            "channel_id",
            "started_at",
        )
        .sort("day", "session_id")
    )


def _ceil_minute(column: str | pl.Expr) -> pl.Expr:
    """The first whole UTC minute at or after a timestamp."""
    ts = pl.col(column) if isinstance(column, str) else column
    floor = ts.dt.truncate("1m")
    return pl.when(floor == ts).then(floor).otherwise(floor + pl.duration(minutes=1))


def _minute_concurrency(
    sessions: pl.LazyFrame,
    tz: str,
    days: pl.LazyFrame | None,
    by: Sequence[str],
    start_col: str,
    end_col: str,
) -> pl.LazyFrame:
    by = list(by)
    # Clip each session to each local day it touches; within a day a piece covers the minute marks from
    # ceil(piece_start) up to, not including, ceil(piece_end). A mark m is whole, so
    # ceil(s) <= m < ceil(e)  <=>  s <= m < e, i.e. exactly the sessions with start <= m < end.
    pieces = split_by_day(sessions.select(*by, start_col, end_col), start_col, end_col, tz)
    if days is not None:
        pieces = pieces.join(days.select("day"), on="day", how="semi")
    deltas = (
        pl.concat(
            [
                pieces.select(*by, "day", _ceil_minute("piece_start").alias("minute"), pl.lit(1).alias("d")),
                pieces.select(*by, "day", _ceil_minute("piece_end").alias("minute"), pl.lit(-1).alias("d")),
            ]
        )
        .group_by(*by, "day", "minute")
        .agg(pl.col("d").sum().alias("delta"))
    )

    # The grid of (group, day) to report: without groups, every requested day (or every day from the first
    # to the last touched by a session); with groups, each (group, day) having a session piece that day.
    if not by:
        grid = days.select("day") if days is not None else day_span(pieces)
    else:
        grid = pieces.select(*by, "day").unique()

    marks = minute_marks(grid, tz)
    # A delta at ceil(piece_end) == the day's end matches no mark of that day and is dropped: it is last.
    return (
        marks.join(deltas, on=[*by, "day", "minute"], how="left", nulls_equal=True)
        .with_columns(
            pl.col("delta")
            .fill_null(0)
            .cum_sum()
            .over([*by, "day"], order_by="minute")
            .cast(pl.Int64)
            .alias("concurrent")
        )
        .select("day", "minute", *by, "concurrent")
        .sort("day", *by, "minute", nulls_last=True)
    )


def minute_concurrency(
    sessions: pl.LazyFrame,
    tz: str = UTC,
    days: list[date] | None = None,
    by: Sequence[str] = (),
    *,
    start_col: str = "started_at",
    end_col: str = "ended_at",
) -> pl.LazyFrame:
    """Concurrent sessions at every minute mark of each local day, optionally per group.

    Concurrent viewers at instant t = number of sessions with ``start <= t < end``; the minute marks of day
    D are D 00:00, 00:01, …, the last minute of D (1,440, or 1,380 / 1,500 on DST days). Computed without a
    sessions-by-minutes product: each session (clipped to each day) adds +1 at the first mark ``>= start``
    (``start`` ceiled to the minute) and -1 at the first mark ``>= end``, and a cumulative sum over the day's
    marks gives the count. Minutes with 0 sessions are included.

    Which (group, day) pairs appear:

    - without ``by``: every date of ``days``; with ``days=None``, every date from the first to the last
      local day touched by a session;
    - with ``by``: each (group, day) where the group has at least one session overlapping the day (a
      session of length 0 counts as touching its start day), restricted to ``days`` when given. Groups
      whose value is null form their own group.

    Args:
        sessions: frame with UTC ``start_col`` / ``end_col`` and the ``by`` columns, e.g. the output of
            :func:`build_sessions`.
        tz: IANA time zone of the days.
        days: local dates to report; ``None`` for all days the sessions touch.
        by: grouping columns, e.g. ``["channel_id"]`` or ``["stream_id"]``.
        start_col: column with the session start (inclusive).
        end_col: column with the session end (exclusive).

    Returns:
        Columns ``day`` (Date), ``minute`` (UTC instant of the mark), the ``by`` columns, ``concurrent``
        (Int64); sorted by ``day``, ``by``, ``minute``.
    """
    days_lf = days_frame(days, tz) if days is not None else None
    return _minute_concurrency(sessions, tz, days_lf, by, start_col, end_col)


def _events_by_day(viewer: pl.LazyFrame, tz: str) -> pl.LazyFrame:
    return viewer.with_columns(local_day("event_time", tz).alias("day"))


@dataclass(frozen=True)
class ViewerDays:
    """What the daily viewing and QoE figures need of the viewer events, condensed to a few rows per day.

    A day's figures depend on its viewer events only through these three frames, and each can be merged
    exactly over any partition of the events (:func:`merge_viewer_days`): the marts build reads a large
    day's viewer events in slices by ``session_id`` and keeps only these and the slices' sessions.

    Attributes:
        users: ``day``, ``user_id``: each user with a viewer event in the day, once.
        startups: ``day``, ``startup_ms``: one row per ``session_start`` with a non-null ``startup_ms``.
        totals: ``day``, ``buffering_ms`` (Σ over heartbeats), ``ends`` (``session_end`` events), ``errors``
            (of which ``reason = 'error'``): one row per day with at least one viewer event.
    """

    users: pl.LazyFrame
    startups: pl.LazyFrame
    totals: pl.LazyFrame

    def collect(self) -> ViewerDays:
        """The same, computed now (the frames become in-memory LazyFrames)."""
        users, startups, totals = pl.collect_all([self.users, self.startups, self.totals])
        return ViewerDays(users.lazy(), startups.lazy(), totals.lazy())


def viewer_days(viewer: pl.LazyFrame, tz: str = UTC) -> ViewerDays:
    """The viewer events condensed to what :func:`daily_viewing_of` and :func:`daily_qoe_of` read.

    Args:
        viewer: typed viewer events.
        tz: IANA time zone of the report.
    """
    events = _events_by_day(viewer, tz)
    event_type = pl.col("event_type")
    return ViewerDays(
        users=events.select("day", "user_id").unique(),
        startups=events.filter((event_type == "session_start") & pl.col("startup_ms").is_not_null()).select(
            "day", pl.col("startup_ms").cast(pl.Int64)
        ),
        totals=events.group_by("day").agg(
            pl.col("buffering_ms").filter(event_type == "heartbeat").sum().cast(pl.Int64).alias("buffering_ms"),
            (event_type == "session_end").sum().cast(pl.Int64).alias("ends"),
            ((event_type == "session_end") & (pl.col("reason") == "error")).sum().cast(pl.Int64).alias("errors"),
            pl.col("bitrate_kbps").filter(event_type == "heartbeat").sum().cast(pl.Int64).alias("bitrate_kbps_sum"),
            pl.col("bitrate_kbps").filter(event_type == "heartbeat").count().cast(pl.Int64).alias("bitrate_heartbeats"),
        ),
    )


def merge_viewer_days(parts: Sequence[ViewerDays]) -> ViewerDays:
    """The :class:`ViewerDays` of the union of disjoint sets of viewer events, from each set's own.

    Exact: users are made distinct again, startups concatenated (quantiles see the same values), and every
    column of ``totals`` but ``day`` summed per day in integers: a per-day total added to :func:`viewer_days`
    must be a sum (a count, a Σ) to be merged, and is then merged without naming it here.
    """
    if not parts:
        raise ValueError("merge_viewer_days needs at least one part")
    return ViewerDays(
        users=pl.concat([p.users for p in parts]).unique(),
        startups=pl.concat([p.startups for p in parts]),
        totals=pl.concat([p.totals for p in parts]).group_by("day").agg(pl.all().sum().cast(pl.Int64)),
    )


def daily_viewing(viewer: pl.LazyFrame, sessions: pl.LazyFrame, tz: str = UTC) -> pl.LazyFrame:
    """Daily viewing figures (docs/metrics.md "Viewing sessions").

    Days reported: every date from the first to the last local day with a viewer event or session watch
    time (gap-free; a day with nothing has zeros, and a null where a ratio's denominator is 0).

    - ``unique_viewers``: distinct ``user_id`` with a viewer event in D;
    - ``hours_watched``: Σ watch_seconds(·, D) / 3600;
    - ``acu``: Σ watch_seconds(·, D) / length of D in seconds (82,800 / 90,000 on DST days);
    - ``avg_watch_minutes``: Σ watch_seconds(·, D) / unique_viewers / 60, null when there are no viewers;
    - ``sessions``: sessions whose ``started_at`` is in D;
    - ``pcu``: maximum of concurrent sessions over the minute marks of D, and ``pcu_at`` the first mark at
      which it is reached (D 00:00 when ``pcu`` is 0).

    Args:
        viewer: typed viewer events.
        sessions: output of :func:`build_sessions` for the same events.
        tz: IANA time zone of the report.

    Returns:
        Columns ``day``, ``unique_viewers`` (Int64), ``hours_watched`` (Float64), ``acu`` (Float64),
        ``avg_watch_minutes`` (Float64), ``sessions`` (Int64), ``pcu`` (Int64), ``pcu_at`` (UTC); by ``day``.
    """
    return daily_viewing_of(viewer_days(viewer, tz), sessions, tz)


def daily_viewing_of(condensed: ViewerDays, sessions: pl.LazyFrame, tz: str = UTC) -> pl.LazyFrame:
    """:func:`daily_viewing` from the condensed viewer events (:func:`viewer_days`); the same result."""
    watch = session_watch_by_day(sessions, tz)
    starts = sessions.select(local_day("started_at", tz).alias("day"))
    days = with_day_bounds(day_span(condensed.totals, watch), tz)

    viewers = condensed.users.group_by("day").agg(pl.len().cast(pl.Int64).alias("unique_viewers"))
    # Σ of exact integer microseconds, converted once: the same on every run whatever the summation order.
    watched = watch.group_by("day").agg(pl.col("watch_us").sum().cast(pl.Int64).alias("_watch_us"))
    started = starts.group_by("day").agg(pl.len().cast(pl.Int64).alias("sessions"))
    peaks = (
        _minute_concurrency(sessions, tz, days, (), "started_at", "ended_at")
        .group_by("day")
        .agg(
            pl.col("concurrent").max().alias("pcu"),
            pl.col("minute").filter(pl.col("concurrent") == pl.col("concurrent").max()).min().alias("pcu_at"),
        )
    )
    watch_us = pl.col("_watch_us")
    return (
        days.join(viewers, on="day", how="left")
        .join(watched, on="day", how="left")
        .join(started, on="day", how="left")
        .join(peaks, on="day", how="left")
        .with_columns(
            pl.col("unique_viewers").fill_null(0),
            watch_us.fill_null(0),
            pl.col("sessions").fill_null(0),
            pl.col("pcu").fill_null(0),
            pl.col("pcu_at").fill_null(pl.col("day_start")),
        )
        .select(
            "day",
            "unique_viewers",
            # Each figure is one division of the exact Σ (by a column, or by a constant with exact_div).
            exact_div(watch_us, 3_600 * MICROS_PER_SECOND).alias("hours_watched"),
            (micros_to_seconds(watch_us) / pl.col("day_seconds")).alias("acu"),
            pl.when(pl.col("unique_viewers") > 0)
            .then(
                watch_us.cast(pl.Float64)
                / (pl.col("unique_viewers") * (SECONDS_PER_MINUTE * MICROS_PER_SECOND)).cast(pl.Float64)
            )
            .otherwise(None)
            .alias("avg_watch_minutes"),
            "sessions",
            "pcu",
            "pcu_at",
        )
        .sort("day")
    )


def daily_sessions_by(sessions: pl.LazyFrame, dimension: SplitDimension, tz: str = UTC) -> pl.LazyFrame:
    """Sessions started in D, and their distinct users, split by one session attribute.

    Reading (docs/metrics.md is silent on viewers per split): ``unique_viewers`` of (D, value) = distinct
    ``user_id`` of the sessions started in D with that value, so every session is counted once, on its start
    day. Sessions with a null value (e.g. ``source`` of a session lacking its ``session_start``) form a
    group with a null value. Only (day, value) pairs with at least one session appear.

    Args:
        sessions: output of :func:`build_sessions`.
        dimension: ``"source"``, ``"device"`` or ``"country"``.
        tz: IANA time zone of the report.

    Returns:
        Columns ``day``, ``<dimension>``, ``sessions`` (Int64), ``unique_viewers`` (Int64); sorted by
        ``day``, then ``sessions`` descending, then the value.
    """
    return (
        sessions.with_columns(local_day("started_at", tz).alias("day"))
        .group_by("day", dimension)
        .agg(
            pl.len().cast(pl.Int64).alias("sessions"),
            pl.col("user_id").n_unique().cast(pl.Int64).alias("unique_viewers"),
        )
        .sort(["day", "sessions", dimension], descending=[False, True, False], nulls_last=True)
    )


def daily_sources(sessions: pl.LazyFrame, viewer: pl.LazyFrame, tz: str = UTC) -> pl.LazyFrame:
    """Sessions by ``source`` per day: :func:`daily_sessions_by` with ``dimension="source"``.

    ``sessions`` (D, source) = sessions whose start is in D with that source; ``unique_viewers`` = distinct
    users of those sessions (see :func:`daily_sessions_by` for the reading).

    Args:
        sessions: output of :func:`build_sessions`.
        viewer: typed viewer events; not needed under this reading, accepted so that callers pass the same
            inputs as to the other daily figures.
        tz: IANA time zone of the report.

    Returns:
        Columns ``day``, ``source``, ``sessions`` (Int64), ``unique_viewers`` (Int64).
    """
    del viewer  # unused under the reading above
    return daily_sessions_by(sessions, "source", tz)


def daily_session_splits(sessions: pl.LazyFrame, tz: str = UTC) -> pl.LazyFrame:
    """Sessions started in D split by ``source``, ``device`` and ``country``, in one long frame.

    Args:
        sessions: output of :func:`build_sessions`.
        tz: IANA time zone of the report.

    Returns:
        Columns ``day``, ``dimension`` (``source`` / ``device`` / ``country``), ``value`` (String, null for
        sessions without it), ``sessions`` (Int64), ``unique_viewers`` (Int64); sorted by ``day``,
        ``dimension``, ``sessions`` descending, ``value``.
    """
    parts = [
        daily_sessions_by(sessions, dim, tz).select(
            "day",
            pl.lit(dim).alias("dimension"),
            pl.col(dim).cast(pl.String).alias("value"),
            "sessions",
            "unique_viewers",
        )
        for dim in SPLIT_DIMENSIONS
    ]
    return pl.concat(parts).sort(
        ["day", "dimension", "sessions", "value"], descending=[False, False, True, False], nulls_last=True
    )


def daily_qoe(viewer: pl.LazyFrame, sessions: pl.LazyFrame, tz: str = UTC) -> pl.LazyFrame:
    """Quality of experience per day (docs/metrics.md, Mux Data's conventions).

    - ``startup_p50_ms`` / ``startup_p95_ms``: continuous quantiles (linear interpolation, as DuckDB
      ``quantile_cont``) of non-null ``startup_ms`` over ``session_start`` events in D; null without any;
    - ``rebuffering_ratio``: Σ ``buffering_ms`` of heartbeats in D / (1000 * Σ watch_seconds(·, D)); null
      when no watch time;
    - ``error_exit_rate``: ``session_end`` events in D with ``reason = 'error'`` / all ``session_end`` events
      in D; null without any;
    - ``avg_bitrate_kbps``: Σ ``bitrate_kbps`` / number of heartbeats in D with a non-null ``bitrate_kbps``
      (per heartbeat: each minute of delivery weighs the same); null without any.

    Days reported: every date from the first to the last local day with a viewer event or session watch time.

    Args:
        viewer: typed viewer events.
        sessions: output of :func:`build_sessions` for the same events.
        tz: IANA time zone of the report.

    Returns:
        Columns ``day``, ``startup_p50_ms``, ``startup_p95_ms``, ``rebuffering_ratio``, ``error_exit_rate``,
        ``avg_bitrate_kbps`` (all Float64); sorted by ``day``.
    """
    return daily_qoe_of(viewer_days(viewer, tz), sessions, tz)


def daily_qoe_of(condensed: ViewerDays, sessions: pl.LazyFrame, tz: str = UTC) -> pl.LazyFrame:
    """:func:`daily_qoe` from the condensed viewer events (:func:`viewer_days`); the same result."""
    watch = session_watch_by_day(sessions, tz)
    days = day_span(condensed.totals, watch)

    startup = condensed.startups.group_by("day").agg(
        pl.col("startup_ms").quantile(0.5, interpolation="linear").alias("startup_p50_ms"),
        pl.col("startup_ms").quantile(0.95, interpolation="linear").alias("startup_p95_ms"),
    )
    buffering = condensed.totals.select("day", pl.col("buffering_ms").alias("_buffering_ms"))
    # Σ of exact integer microseconds, converted once: the same on every run whatever the summation order.
    watched = watch.group_by("day").agg(pl.col("watch_us").sum().cast(pl.Int64).alias("_watch_us"))
    exits = condensed.totals.filter(pl.col("ends") > 0).select(
        "day", pl.col("ends").alias("_ends"), pl.col("errors").alias("_errors")
    )
    bitrate = condensed.totals.select(
        "day", pl.col("bitrate_kbps_sum").alias("_bitrate_sum"), pl.col("bitrate_heartbeats").alias("_bitrates")
    )
    watch_us = pl.col("_watch_us").fill_null(0)
    ends = pl.col("_ends").fill_null(0)
    bitrates = pl.col("_bitrates").fill_null(0)
    return (
        days.join(startup, on="day", how="left")
        .join(buffering, on="day", how="left")
        .join(watched, on="day", how="left")
        .join(exits, on="day", how="left")
        .join(bitrate, on="day", how="left")
        .select(
            "day",
            pl.col("startup_p50_ms").cast(pl.Float64),
            pl.col("startup_p95_ms").cast(pl.Float64),
            # Σ buffering_ms / (1000 Σ watch_seconds) = 1000 Σ buffering_ms / Σ watch_us: one exact division.
            pl.when(watch_us > 0)
            .then((pl.col("_buffering_ms").fill_null(0) * 1000).cast(pl.Float64) / watch_us.cast(pl.Float64))
            .otherwise(None)
            .cast(pl.Float64)
            .alias("rebuffering_ratio"),
            pl.when(ends > 0)
            .then(pl.col("_errors").fill_null(0) / ends)
            .otherwise(None)
            .cast(pl.Float64)
            .alias("error_exit_rate"),
            pl.when(bitrates > 0)
            .then(pl.col("_bitrate_sum") / bitrates)
            .otherwise(None)
            .cast(pl.Float64)
            .alias("avg_bitrate_kbps"),
        )
        .sort("day")
    )


__all__ = [
    "SESSION_ATTRIBUTES",
    "SPLIT_DIMENSIONS",
    "ViewerDays",
    "build_sessions",
    "daily_qoe",
    "daily_qoe_of",
    "daily_session_splits",
    "daily_sessions_by",
    "daily_sources",
    "daily_viewing",
    "daily_viewing_of",
    "merge_viewer_days",
    "minute_concurrency",
    "session_watch_by_day",
    "viewer_days",
]
