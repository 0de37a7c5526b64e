"""The marts of a chunk of days, assembled from its raw inputs: pure Polars, no I/O.

``warehouse/marts.py`` reads a chunk's raw rows (typed by the contract) and writes the frames this module
returns; ``flows/marts.py`` runs the build (chunks, slices, progress). Here:

- :func:`chunk_window`: the instants a chunk must read, with the look-backs its figures need;
- :func:`viewer_inputs`: the sessions and condensed viewer figures of slices of viewer events (a slice is
  condensed before the next is read, so one slice is in memory at a time);
- :func:`first_active_days` and :func:`chunk_activity`: the activity (user, day) rows of the chunk, from
  the one definition of an active user (:func:`transforms.audience.user_activity`);
- :func:`compute_chunk`: every mart's rows for the chunk's days (``build_days`` excepted, the warehouse's
  bookkeeping), with :func:`headline` and :func:`split`.

Missing dimension values (``source``, ``device``, ``country`` of a session without them) are ``'unknown'``
in the split tables, as the category of a session whose stream is unknown is ``'unknown'``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

import polars as pl

from schemas.marts import HEADLINE, zero_fill
from transforms.audience import RETENTION_DAYS, daily_audience, retention_cohorts, user_activity
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

UNKNOWN = "unknown"
# Look-backs of one chunk of days: sessions reaching into the first day started at most 24 h before it (a
# session is capped at 24 h); attribution of a purchase needs its sign-up (30 d before) and that sign-up's
# click (7 d); WAU, MAU and the retention triangle need the activity of the 30 days before the chunk.
SESSION_LOOKBACK = timedelta(hours=24)
CAMPAIGN_LOOKBACK = REVENUE_WINDOW + ATTRIBUTION_WINDOW + timedelta(days=1)
ACTIVITY_LOOKBACK_DAYS = max(RETENTION_DAYS)
# Headline figures that are 0 (not null) on a day without them, as the registry declares (counts, and sums
# of hours and spend).
HEADLINE_ZERO_INT = [name for name, value in zero_fill(HEADLINE).items() if isinstance(value, int)]
HEADLINE_ZERO_FLOAT = [name for name, value in zero_fill(HEADLINE).items() if isinstance(value, float)]


@dataclass(frozen=True)
class ChunkWindow:
    """The instants a chunk of days reads (UTC; every end exclusive).

    Attributes:
        start, end: the chunk, ``[first day 00:00, last day + 1 00:00)`` local.
        session_back: viewer sessions with an event in ``[session_back, start)`` and one at or after ``end``
            overlap the chunk too.
        campaign_back: clicks and sign-ups from here on (attribution of the chunk's sign-ups and purchases).
        activity_day, activity_start: the first day (and its start) of the activity the chunk's WAU, MAU
            and retention need.
    """

    start: datetime
    end: datetime
    session_back: datetime
    campaign_back: datetime
    activity_day: date
    activity_start: datetime


def chunk_window(bounds: pl.DataFrame, tz: str) -> ChunkWindow:
    """The :class:`ChunkWindow` of the days of ``bounds`` (a collected :func:`transforms.days.days_frame`)."""
    start: datetime = bounds["day_start"].min()  # type: ignore[assignment]
    end: datetime = bounds["day_end"].max()  # type: ignore[assignment]
    first_day: date = bounds["day"].min()  # type: ignore[assignment]
    activity_day = first_day - timedelta(days=ACTIVITY_LOOKBACK_DAYS)
    activity_start: datetime = days_frame([activity_day], tz).collect()["day_start"][0]
    return ChunkWindow(
        start=start,
        end=end,
        session_back=start - SESSION_LOOKBACK,
        campaign_back=start - CAMPAIGN_LOOKBACK,
        activity_day=activity_day,
        activity_start=activity_start,
    )


@dataclass(frozen=True)
class ChunkInputs:
    """What one chunk of days is computed from: raw frames with the look-backs its figures need.

    The viewer events (most of the volume: heartbeats) are not kept: only the sessions they make that
    overlap the chunk and their condensed daily figures (:class:`transforms.sessions.ViewerDays`).
    ``activity`` is :func:`chunk_activity`'s.
    """

    sessions: pl.LazyFrame
    viewer_days: ViewerDays
    engagement: pl.LazyFrame
    campaign: pl.LazyFrame
    activity: pl.LazyFrame


def viewer_inputs(
    slices: Iterable[pl.DataFrame], start: datetime, end: datetime, tz: str
) -> tuple[pl.LazyFrame, ViewerDays]:
    """The sessions overlapping ``[start, end)`` and the condensed figures of slices of viewer events.

    Each slice holds all events of its sessions (slices are disjoint by session), so sessions built per
    slice are the sessions of all events, and :func:`merge_viewer_days` merges the condensed figures
    exactly. A slice is dropped before the next one is taken from ``slices``: with a generator that reads
    them, one slice's events are in memory at a time.

    Args:
        slices: typed viewer events (``polars_schema("viewer")``), at least one slice.
        start, end: the chunk (UTC, end exclusive).
        tz: IANA report time zone.
    """
    sessions: list[pl.DataFrame] = []
    condensed: list[ViewerDays] = []
    for viewer in slices:
        events = viewer.lazy()
        # Only sessions overlapping the chunk matter (a session of length 0 counts on its start day).
        overlapping = build_sessions(events).filter((pl.col("started_at") < end) & (pl.col("ended_at") >= start))
        days = viewer_days(events, tz)
        built, users, startups, totals = pl.collect_all([overlapping, days.users, days.startups, days.totals])
        sessions.append(built)
        condensed.append(ViewerDays(users.lazy(), startups.lazy(), totals.lazy()))
        del viewer, events, overlapping, days  # their plans hold the slice: drop it before the next is read
    merged = merge_viewer_days(condensed).collect()
    return pl.concat(sessions).sort("started_at", "session_id").lazy(), merged


def first_active_days(viewer_first: pl.DataFrame, engagement_first: pl.DataFrame, tz: str) -> pl.DataFrame:
    """``user_id``, ``first_day``: each user's first active day over all data.

    Args:
        viewer_first, engagement_first: ``user_id``, ``event_time`` rows of viewer / engagement events,
            at least each user's earliest one (the warehouse reads only that).
        tz: IANA report time zone.
    """
    activity = user_activity(viewer_first.lazy(), engagement_first.lazy(), tz)
    return activity.group_by("user_id").agg(pl.col("day").min().alias("first_day")).collect()


def chunk_activity(
    viewer: pl.DataFrame, engagement: pl.DataFrame, first_active: pl.DataFrame, window_day: date, tz: str
) -> pl.LazyFrame:
    """The activity (``user_id``, ``day``) a chunk's audience figures read.

    Activity from ``window_day`` on (WAU, MAU, retention), plus the first active day of each of its users
    when it is older: new users and cohorts need the first day over ALL data, and a row that old falls
    outside every window the chunk reports.

    Args:
        viewer, engagement: ``user_id``, ``event_time`` rows of viewer / engagement events from the start
            of ``window_day`` on (an instant may be moved within its 15-minute UTC bucket: every local
            midnight is on such a boundary, so the day stays the same).
        first_active: :func:`first_active_days`.
        window_day: the first day of the window.
        tz: IANA report time zone.
    """
    window = user_activity(viewer.lazy(), engagement.lazy(), tz)
    older = (
        first_active.lazy()
        .filter(pl.col("first_day") < window_day)
        .join(window, on="user_id", how="semi")
        .select("user_id", pl.col("first_day").alias("day"))
    )
    return pl.concat([window, older]).unique()


def broadcast_segments(streams: pl.DataFrame, watermark: datetime) -> pl.LazyFrame:
    """The broadcast segments of all stream events (:func:`transforms.content.build_broadcasts`), computed."""
    return build_broadcasts(streams.lazy(), watermark).collect().lazy()


def headline(
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
    """One row per day of ``days`` with every headline figure; 0 for absent counts, null for absent ratios.

    The parts are joined on ``day``; :data:`HEADLINE_ZERO_INT` and :data:`HEADLINE_ZERO_FLOAT` become 0
    where no part has them, and ``pcu_at`` is the day's start when absent (``pcu`` 0).
    """
    frame = days.select("day", "day_start")
    for part in (audience, viewing, qoe, engagement, paying, content, campaign_totals, campaign_revenue, retention):
        frame = frame.join(part, on="day", how="left")
    return frame.with_columns(
        pl.col(HEADLINE_ZERO_INT).fill_null(0).cast(pl.Int64),
        pl.col(HEADLINE_ZERO_FLOAT).fill_null(0.0).cast(pl.Float64),
        pl.col("pcu_at").fill_null(pl.col("day_start")),
    ).drop("day_start")


def split(sessions: pl.LazyFrame, dimension: Literal["source", "device", "country"], tz: str) -> pl.LazyFrame:
    """Sessions and unique viewers per day and value of ``dimension``; a missing value is ``'unknown'``."""
    return daily_sessions_by(sessions, dimension, tz).select(
        "day", pl.col(dimension).fill_null(UNKNOWN), "sessions", "unique_viewers"
    )


def compute_chunk(
    inputs: ChunkInputs,
    segments: pl.LazyFrame,
    bounds: pl.DataFrame,
    tz: str,
) -> dict[str, pl.DataFrame]:
    """Every mart's rows for the days of ``bounds`` (``build_days`` excepted), by table name.

    Args:
        inputs: the chunk's inputs.
        segments: :func:`broadcast_segments` of all stream events.
        bounds: the chunk's days (a collected :func:`transforms.days.days_frame`).
        tz: IANA report time zone.
    """
    day_list: list[date] = bounds["day"].to_list()
    lo_s: datetime = bounds["day_start"].min()  # type: ignore[assignment]
    hi_e: datetime = bounds["day_end"].max()  # type: ignore[assignment]
    in_chunk = pl.col("day").is_in(day_list)

    sessions = inputs.sessions
    segments = segments.filter((pl.col("seg_end") >= lo_s - 2 * SESSION_LOOKBACK) & (pl.col("seg_start") < hi_e))
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
    headline_rows = headline(
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
        "agg_daily_headline": headline_rows,
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
        "agg_daily_source": split(sessions, "source", tz).filter(in_chunk),
        "agg_daily_device": split(sessions, "device", tz).filter(in_chunk),
        "agg_daily_country": split(sessions, "country", tz).filter(in_chunk),
        "agg_daily_shares_by_target": daily_shares_by_target(inputs.engagement, tz).filter(in_chunk),
        "agg_daily_reports_by_reason": daily_reports_by_reason(inputs.engagement, tz).filter(in_chunk),
        "agg_retention_cohorts": retention,
    }
    frames = pl.collect_all(list(plans.values()))
    return dict(zip(plans, frames, strict=True))
