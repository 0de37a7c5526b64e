"""Content metrics from stream-events: broadcasts by category, daily category, channel and stream figures.

Inputs are the typed, validated, deduplicated stream events of ``polars_schema("stream")``, the sessions of
:func:`transforms.sessions.build_sessions` (``started_at`` / ``ended_at``) and their watch time per day
(:func:`transforms.sessions.session_watch_by_day`). Days are local calendar dates in the report time zone
``tz`` (DST days are 23 h or 25 h long); intervals are split at local midnights by
:func:`transforms.days.split_by_day`.

Readings where ``docs/metrics.md`` is silent (the code follows them):

- **Order of events.** Events of a stream are ordered by ``(event_time, event_id)``.
- **Start.** A stream's broadcast starts at its first ``stream_start``; its ``channel_id`` and first
  category come from that event (``channel_id`` of later events is ignored).
- **Stream without a ``stream_start``.** Skipped: its start and its category are unknown, so it has no
  broadcast interval and adds nothing to hours broadcast, streams live or active channels. Such streams are
  listed, not lost, by :func:`streams_without_start` (the daily report can count them).
- **End.** The earliest ``stream_end``; without one, the watermark. An end before the start (clock skew)
  gives a broadcast of length 0, as for sessions: one segment with ``seg_start == seg_end``, which is live
  at no instant.
- **Category changes.** A ``category_change`` at or after the start and strictly before the end replaces
  the category from its instant on; one at exactly the start instant replaces the ``stream_start``'s
  category at once. Changes before the start or at/after the end are ignored. Of several changes at one
  instant, the last in ``(event_time, event_id)`` order wins. Consecutive segments may carry the same
  category (a change to the category already in effect is kept as a boundary; hours are additive).
- **Session category.** The category of the segment of the session's stream covering the session's start
  (``seg_start <= started_at < seg_end``); ``"unknown"`` when no segment covers it (stream without
  ``stream_start``, session starting before the stream started or after it ended, null ``stream_id``).
- **Channel broadcast seconds** = Σ over the channel's streams of their broadcast seconds in D (two
  overlapping streams of one channel count twice, as stream-hours).
- **Which rows.** A (day, key) appears when it has broadcast time, watch time or (channels) a follow or
  unfollow that day; missing figures are 0, ratios with a zero denominator null.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from transforms.days import MICROS_PER_SECOND, exact_div, micros_to_seconds, split_by_day
from transforms.engagement import daily_follows_by_channel, ratio
from transforms.sessions import minute_concurrency

UNKNOWN_CATEGORY = "unknown"
_UTC_DT = pl.Datetime("us", "UTC")
_ORDER = ["event_time", "event_id"]
_MICROS_PER_HOUR = 3_600 * MICROS_PER_SECOND

SEGMENT_SCHEMA = pl.Schema(
    {
        "stream_id": pl.String(),
        "channel_id": pl.String(),
        "category": pl.String(),
        "seg_start": _UTC_DT,
        "seg_end": _UTC_DT,
    }
)


def _is(event_type: str) -> pl.Expr:
    return pl.col("event_type") == pl.lit(event_type)


def build_broadcasts(stream: pl.LazyFrame, watermark: datetime) -> pl.LazyFrame:
    """One row per category segment of each stream's broadcast interval.

    A stream broadcasts from its ``stream_start`` to its earliest ``stream_end``, else to ``watermark``; its
    category is the ``stream_start``'s, replaced by each later ``category_change`` inside the interval.
    Streams without a ``stream_start`` are skipped (see :func:`streams_without_start`); a stream whose end
    precedes its start has one segment of length 0. See the module docstring for tie rules.

    Args:
        stream: stream events (``polars_schema("stream")``).
        watermark: the latest ``event_time`` ingested on any topic; must be timezone-aware.

    Returns:
        Columns ``stream_id``, ``channel_id``, ``category``, ``seg_start``, ``seg_end`` (UTC, segment is
        ``[seg_start, seg_end)``); segments of one stream tile its broadcast interval; sorted by
        ``stream_id``, ``seg_start``.

    Raises:
        ValueError: ``watermark`` is naive.
    """
    if watermark.tzinfo is None or watermark.utcoffset() is None:
        raise ValueError("watermark must be timezone-aware")
    mark = pl.lit(watermark.astimezone(UTC), dtype=_UTC_DT)

    broadcasts = (
        stream.filter(_is("stream_start"))
        .group_by("stream_id")
        .agg(
            pl.col("event_time").min().alias("_start"),
            pl.col("channel_id").sort_by(_ORDER).first(),
            pl.col("category").sort_by(_ORDER).first(),
        )
        .join(
            stream.filter(_is("stream_end")).group_by("stream_id").agg(pl.col("event_time").min().alias("_ended")),
            on="stream_id",
            how="left",
        )
        # No stream_end: live until the watermark. An end before the start: length 0.
        .with_columns(pl.max_horizontal("_start", pl.coalesce("_ended", mark)).alias("_end"))
        .drop("_ended")
    )
    bounds = broadcasts.select("stream_id", "_start", "_end")

    # Category "points": the start (rank 0) and each change inside [start, end) (rank 1, then event_id).
    start_points = broadcasts.select(
        "stream_id",
        pl.col("_start").alias("seg_start"),
        "category",
        pl.lit(0).alias("_rank"),
        pl.lit(None, dtype=pl.String).alias("_event_id"),
    )
    change_points = (
        stream.filter(_is("category_change"))
        .join(bounds, on="stream_id", how="inner")
        .filter((pl.col("event_time") >= pl.col("_start")) & (pl.col("event_time") < pl.col("_end")))
        .select(
            "stream_id",
            pl.col("event_time").alias("seg_start"),
            "category",
            pl.lit(1).alias("_rank"),
            pl.col("event_id").alias("_event_id"),
        )
    )
    return (
        pl.concat([start_points, change_points])
        .sort("stream_id", "seg_start", "_rank", "_event_id", nulls_last=False)
        .with_columns(pl.col("seg_start").shift(-1).over("stream_id").alias("_next"))
        .join(broadcasts.select("stream_id", "channel_id", "_start", "_end"), on="stream_id", how="left")
        .with_columns(pl.coalesce("_next", "_end").alias("seg_end"))
        # Drop the empty segments left by changes at the same instant as the start or as each other; keep the
        # single empty segment of a length-0 broadcast.
        .filter((pl.col("seg_end") > pl.col("seg_start")) | (pl.col("_start") == pl.col("_end")))
        .select(*SEGMENT_SCHEMA.names())
        .cast(SEGMENT_SCHEMA)
        .sort("stream_id", "seg_start")
    )


def streams_without_start(stream: pl.LazyFrame) -> pl.LazyFrame:
    """Streams that have events but no ``stream_start``: skipped by :func:`build_broadcasts`.

    Args:
        stream: stream events (``polars_schema("stream")``).

    Returns:
        Columns ``stream_id``, ``channel_id`` (of its earliest event), ``first_event_time``, ``events``
        (Int64); sorted by ``stream_id``.
    """
    return (
        stream.group_by("stream_id")
        .agg(
            pl.col("channel_id").sort_by(_ORDER).first(),
            pl.col("event_time").min().alias("first_event_time"),
            pl.len().cast(pl.Int64).alias("events"),
            _is("stream_start").any().alias("_has_start"),
        )
        .filter(~pl.col("_has_start"))
        .drop("_has_start")
        .sort("stream_id")
    )


def session_category(sessions: pl.LazyFrame, segments: pl.LazyFrame) -> pl.LazyFrame:
    """Each session with the category of its stream in effect at the session's start.

    Args:
        sessions: output of :func:`transforms.sessions.build_sessions` (needs ``stream_id``, ``started_at``).
        segments: output of :func:`build_broadcasts`.

    Returns:
        ``sessions``' columns plus ``category`` (``"unknown"`` when no segment of the session's stream
        covers its start); sorted by ``started_at``, ``session_id``.
    """
    covering = (
        segments.filter(pl.col("seg_end") > pl.col("seg_start"))
        .select("stream_id", "seg_start", "seg_end", pl.col("category").alias("_category"))
        .sort("seg_start")
    )
    # Segments of one stream do not overlap: the latest one starting at or before the session's start is the
    # only candidate, and it covers the start when the start is also before its end.
    return (
        sessions.sort("started_at")
        .join_asof(
            covering,
            left_on="started_at",
            right_on="seg_start",
            by="stream_id",
            strategy="backward",
            check_sortedness=False,  # both sides are sorted above; the check cannot run with `by`
        )
        .with_columns(
            pl.when(pl.col("started_at") < pl.col("seg_end"))
            .then(pl.col("_category"))
            .otherwise(pl.lit(UNKNOWN_CATEGORY))
            .alias("category")
        )
        .drop("seg_start", "seg_end", "_category")
        .sort("started_at", "session_id")
    )


def _broadcast_pieces(segments: pl.LazyFrame, tz: str) -> pl.LazyFrame:
    """Non-empty segments split at local midnights: one row per (segment, day) with ``broadcast_us`` > 0.

    ``broadcast_us`` (Int64) is the piece's length in microseconds: sums of it are exact whatever their order,
    and are converted to seconds only after the sum.
    """
    nonempty = segments.filter(pl.col("seg_end") > pl.col("seg_start"))
    return split_by_day(nonempty, "seg_start", "seg_end", tz, micros_col="broadcast_us").filter(
        pl.col("broadcast_us") > 0
    )


def daily_categories(
    segments: pl.LazyFrame, watch_by_day: pl.LazyFrame, sessions_with_category: pl.LazyFrame, tz: str
) -> pl.LazyFrame:
    """Per day and category: hours broadcast, hours watched, streams live and viewer-to-broadcast ratio.

    Args:
        segments: output of :func:`build_broadcasts`.
        watch_by_day: output of :func:`transforms.sessions.session_watch_by_day` (``session_id``, ``day``,
            ``watch_us``).
        sessions_with_category: output of :func:`session_category` (``session_id``, ``category``).
        tz: IANA name of the report time zone.

    Returns:
        Columns ``day``, ``category``, ``hours_broadcast`` (Float64), ``hours_watched`` (Float64, watch time
        of the sessions whose category is that one; sessions missing from ``sessions_with_category`` count
        as ``"unknown"``), ``streams_live`` (Int64: distinct streams broadcasting in that category at some
        instant of D), ``viewer_ratio`` (hours watched / hours broadcast, null when 0 hours broadcast);
        sorted by ``day``, ``category``.
    """
    broadcast = (
        _broadcast_pieces(segments, tz)
        .group_by("day", "category")
        .agg(
            pl.col("broadcast_us").sum().cast(pl.Int64).alias("_broadcast_us"),
            pl.col("stream_id").n_unique().cast(pl.Int64).alias("streams_live"),
        )
    )
    categories = sessions_with_category.select("session_id", "category").unique("session_id", keep="any")
    watched = (
        watch_by_day.join(categories, on="session_id", how="left")
        .with_columns(pl.col("category").fill_null(UNKNOWN_CATEGORY))
        .group_by("day", "category")
        .agg(pl.col("watch_us").sum().cast(pl.Int64).alias("_watch_us"))
    )
    # Integer sums (exact, order-independent), converted to hours once, at the end.
    return (
        broadcast.join(watched, on=["day", "category"], how="full", coalesce=True)
        .with_columns(pl.col("_broadcast_us", "_watch_us").fill_null(0), pl.col("streams_live").fill_null(0))
        .select(
            "day",
            "category",
            exact_div("_broadcast_us", _MICROS_PER_HOUR).alias("hours_broadcast"),
            exact_div("_watch_us", _MICROS_PER_HOUR).alias("hours_watched"),
            "streams_live",
            ratio(pl.col("_watch_us"), pl.col("_broadcast_us")).alias("viewer_ratio"),
        )
        .sort("day", "category")
    )


def daily_content_totals(segments: pl.LazyFrame, tz: str) -> pl.LazyFrame:
    """Per day: hours broadcast, streams live and active channels, over all categories.

    Args:
        segments: output of :func:`build_broadcasts`.
        tz: IANA name of the report time zone.

    Returns:
        Columns ``day``, ``hours_broadcast`` (Float64), ``streams_live`` (Int64: distinct streams
        broadcasting at some instant of D), ``active_channels`` (Int64: distinct ``channel_id`` likewise);
        one row per day with broadcast time, sorted by ``day``.
    """
    return (
        _broadcast_pieces(segments, tz)
        .group_by("day")
        .agg(
            pl.col("broadcast_us").sum().cast(pl.Int64).alias("_broadcast_us"),
            pl.col("stream_id").n_unique().cast(pl.Int64).alias("streams_live"),
            pl.col("channel_id").n_unique().cast(pl.Int64).alias("active_channels"),
        )
        .select(
            "day",
            exact_div("_broadcast_us", _MICROS_PER_HOUR).alias("hours_broadcast"),
            "streams_live",
            "active_channels",
        )
        .sort("day")
    )


def _daily_by(
    key: str, segments: pl.LazyFrame, watch_by_day: pl.LazyFrame, sessions: pl.LazyFrame, tz: str
) -> pl.LazyFrame:
    """Watch and broadcast microseconds (``_watch_us``, ``_broadcast_us``: exact Int64 sums) and peak concurrent
    viewers per day and ``key`` (full outer)."""
    broadcast = (
        _broadcast_pieces(segments, tz)
        .group_by("day", key)
        .agg(pl.col("broadcast_us").sum().cast(pl.Int64).alias("_broadcast_us"))
    )
    watched = watch_by_day.group_by("day", key).agg(pl.col("watch_us").sum().cast(pl.Int64).alias("_watch_us"))
    peaks = (
        minute_concurrency(sessions, tz, by=[key])
        .group_by("day", key)
        .agg(pl.col("concurrent").max().cast(pl.Int64).alias("peak_viewers"))
    )
    return (
        broadcast.join(watched, on=["day", key], how="full", coalesce=True)
        .join(peaks, on=["day", key], how="left")
        .with_columns(pl.col("_broadcast_us", "_watch_us").fill_null(0))
    )


def _finish(frame: pl.LazyFrame, keys: list[str], trailing: list[str]) -> pl.LazyFrame:
    """Final columns of :func:`daily_channels` / :func:`daily_streams` from :func:`_daily_by`'s output."""
    return frame.select(
        *keys,
        exact_div("_watch_us", _MICROS_PER_HOUR).alias("hours_watched"),
        micros_to_seconds("_broadcast_us").alias("broadcast_seconds"),
        ratio(pl.col("_watch_us"), pl.col("_broadcast_us")).alias("avg_viewers"),
        pl.col("peak_viewers").fill_null(0),
        *trailing,
    ).sort(keys[:2])


def daily_channels(
    segments: pl.LazyFrame,
    watch_by_day: pl.LazyFrame,
    sessions: pl.LazyFrame,
    engagement: pl.LazyFrame,
    tz: str,
) -> pl.LazyFrame:
    """Per day and channel: hours watched, broadcast seconds, average and peak viewers, net follows.

    Args:
        segments: output of :func:`build_broadcasts`.
        watch_by_day: output of :func:`transforms.sessions.session_watch_by_day`.
        sessions: output of :func:`transforms.sessions.build_sessions` (for concurrency).
        engagement: engagement events (``polars_schema("engagement")``), for follows and unfollows.
        tz: IANA name of the report time zone.

    Returns:
        Columns ``day``, ``channel_id``, ``hours_watched`` (Float64), ``broadcast_seconds`` (Float64: Σ over
        the channel's streams), ``avg_viewers`` (the channel's watch seconds in D / its broadcast seconds in
        D, null when 0), ``peak_viewers`` (Int64: maximum concurrent sessions of the channel over the minute
        marks of D, 0 without any), ``net_follows`` (Int64: follows - unfollows of the channel in D); one row
        per (day, channel) with broadcast time, watch time, or a follow/unfollow; sorted by ``day``,
        ``channel_id``.
    """
    follows = daily_follows_by_channel(engagement, tz).select("day", "channel_id", "net_follows")
    frame = (
        _daily_by("channel_id", segments, watch_by_day, sessions, tz)
        .join(follows, on=["day", "channel_id"], how="full", coalesce=True)
        .with_columns(pl.col("_broadcast_us", "_watch_us").fill_null(0), pl.col("net_follows").fill_null(0))
    )
    return _finish(frame, ["day", "channel_id"], ["net_follows"])


def daily_streams(segments: pl.LazyFrame, watch_by_day: pl.LazyFrame, sessions: pl.LazyFrame, tz: str) -> pl.LazyFrame:
    """Per day and stream: hours watched, broadcast seconds, average and peak viewers.

    Args:
        segments: output of :func:`build_broadcasts`.
        watch_by_day: output of :func:`transforms.sessions.session_watch_by_day`.
        sessions: output of :func:`transforms.sessions.build_sessions` (for concurrency).
        tz: IANA name of the report time zone.

    Returns:
        Columns ``day``, ``stream_id``, ``channel_id`` (from the stream's ``stream_start``, else from its
        sessions), ``hours_watched`` (Float64), ``broadcast_seconds`` (Float64), ``avg_viewers`` (watch
        seconds of its sessions in D / its broadcast seconds in D, null when 0), ``peak_viewers`` (Int64:
        maximum concurrent sessions of the stream over the minute marks of D, 0 without any); one row per
        (day, stream) with broadcast or watch time; sorted by ``day``, ``stream_id``.
    """
    channel_of_stream = pl.concat(
        [
            segments.select("stream_id", "channel_id", pl.lit(0).alias("_pref")),
            sessions.select("stream_id", "channel_id", pl.lit(1).alias("_pref")),
        ]
    )
    channels = (
        channel_of_stream.filter(pl.col("channel_id").is_not_null())
        .group_by("stream_id")
        .agg(pl.col("channel_id").sort_by("_pref", "channel_id").first())
    )
    frame = _daily_by("stream_id", segments, watch_by_day, sessions, tz).join(channels, on="stream_id", how="left")
    return _finish(frame, ["day", "stream_id", "channel_id"], [])
