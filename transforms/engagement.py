"""Engagement and community metrics per day, from engagement-events (and purchases for paying users).

Inputs are the typed, validated, deduplicated event frames of ``schemas.events.polars_schema``. An event is
in day D when its ``event_time``, seen in the report time zone ``tz``, falls on the calendar date D.

Readings where ``docs/metrics.md`` is silent:

- A day gets a row in :func:`daily_engagement` when it has at least one engagement event or a
  unique-viewers figure; counts of a day without such events are 0, not null.
- CSAT and NPS count ``feedback`` events by their ``survey`` (``csat`` / ``nps``); a response is one event
  (a user answering twice counts twice), as in the usual survey-tool exports.
- ``report_rate`` and ``engagement_rate`` are null when the day has no unique viewers (no row in
  ``unique_viewers_by_day`` or 0), like every ratio with a zero denominator.
"""

from __future__ import annotations

import polars as pl

from transforms.days import local_day


def day_of(tz: str, column: str = "event_time") -> pl.Expr:
    """The local date in ``tz`` of a UTC timestamp column, named ``day``."""
    return local_day(column, tz).alias("day")


def ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """``numerator / denominator`` as Float64, null when the denominator is 0 or null (docs/metrics.md)."""
    return (
        pl.when(denominator != 0)
        .then(numerator.cast(pl.Float64) / denominator.cast(pl.Float64))
        .otherwise(None)
        .cast(pl.Float64)
    )


def _count(condition: pl.Expr) -> pl.Expr:
    """Number of rows of a group where ``condition`` holds, as Int64."""
    return condition.sum().cast(pl.Int64)


def _amount(condition: pl.Expr) -> pl.Expr:
    """Sum of ``amount_cents`` over the rows of a group where ``condition`` holds, as Int64 (0 when none)."""
    return pl.col("amount_cents").filter(condition).sum().cast(pl.Int64)


def _is(*event_types: str) -> pl.Expr:
    """True where ``event_type`` is one of ``event_types``."""
    return pl.col("event_type").is_in(list(event_types))


def daily_engagement(engagement: pl.LazyFrame, unique_viewers_by_day: pl.LazyFrame, tz: str) -> pl.LazyFrame:
    """Daily engagement and community figures.

    Args:
        engagement: engagement events (``polars_schema("engagement")``).
        unique_viewers_by_day: columns ``day`` (Date) and ``unique_viewers`` (integer), one row per day.
        tz: IANA name of the report time zone.

    Returns:
        One row per day (sorted) with ``day``, ``chat_messages``, ``chatters``, ``likes``, ``shares``,
        ``follows``, ``unfollows``, ``net_follows``, ``gift_value_cents``, ``subscription_revenue_cents``,
        ``csat``, ``nps``, ``reports``, ``report_rate``, ``engagement_rate``.

        - ``csat`` = responses with score >= 4 / all ``csat`` responses in D (a share in [0, 1]);
        - ``nps`` = 100 x (scores 9-10 - scores 0-6) / all ``nps`` responses in D, in [-100, 100];
        - ``report_rate`` = reports x 1000 / unique viewers; ``engagement_rate`` = chatters / unique viewers.

        Ratios are null when their denominator is 0.
    """
    survey = pl.col("survey")
    score = pl.col("score")
    is_csat = (_is("feedback")) & (survey == "csat")
    is_nps = (_is("feedback")) & (survey == "nps")
    counts = (
        engagement.with_columns(day_of(tz))
        .group_by("day")
        .agg(
            chat_messages=_count(_is("chat_message")),
            chatters=pl.col("user_id").filter(_is("chat_message")).n_unique().cast(pl.Int64),
            likes=_count(_is("like")),
            shares=_count(_is("share")),
            follows=_count(_is("follow")),
            unfollows=_count(_is("unfollow")),
            gift_value_cents=_amount(_is("gift")),
            subscription_revenue_cents=_amount(_is("subscribe")),
            _csat_all=_count(is_csat),
            _csat_good=_count(is_csat & (score >= 4)),
            _nps_all=_count(is_nps),
            _nps_net=_count(is_nps & (score >= 9)) - _count(is_nps & (score <= 6)),
            reports=_count(_is("report")),
        )
    )
    viewers = unique_viewers_by_day.select("day", pl.col("unique_viewers").cast(pl.Int64))
    count_columns = [
        "chat_messages", "chatters", "likes", "shares", "follows", "unfollows", "gift_value_cents",
        "subscription_revenue_cents", "_csat_all", "_csat_good", "_nps_all", "_nps_net", "reports",
    ]  # fmt: skip
    uv = pl.col("unique_viewers")
    return (
        counts.join(viewers, on="day", how="full", coalesce=True)
        # A day with unique viewers but no engagement event: every count is 0.
        .with_columns(pl.col(count_columns).fill_null(0))
        .select(
            "day",
            "chat_messages",
            "chatters",
            "likes",
            "shares",
            "follows",
            "unfollows",
            (pl.col("follows") - pl.col("unfollows")).alias("net_follows"),
            "gift_value_cents",
            "subscription_revenue_cents",
            ratio(pl.col("_csat_good"), pl.col("_csat_all")).alias("csat"),
            ratio(100 * pl.col("_nps_net"), pl.col("_nps_all")).alias("nps"),
            "reports",
            ratio(1000 * pl.col("reports"), uv).alias("report_rate"),
            ratio(pl.col("chatters"), uv).alias("engagement_rate"),
        )
        .sort("day")
    )


def _daily_counts(engagement: pl.LazyFrame, event_type: str, by: str, name: str, tz: str) -> pl.LazyFrame:
    return (
        engagement.filter(_is(event_type))
        .group_by(day_of(tz), by)
        .agg(pl.len().cast(pl.Int64).alias(name))
        .sort("day", by)
    )


def daily_shares_by_target(engagement: pl.LazyFrame, tz: str) -> pl.LazyFrame:
    """Shares per day and ``target``.

    Returns:
        ``day``, ``target``, ``shares``: one row per day and target with at least one share (sorted).
    """
    return _daily_counts(engagement, "share", "target", "shares", tz)


def daily_reports_by_reason(engagement: pl.LazyFrame, tz: str) -> pl.LazyFrame:
    """Reports (complaints) per day and ``reason``.

    Returns:
        ``day``, ``reason``, ``reports``: one row per day and reason with at least one report (sorted).
    """
    return _daily_counts(engagement, "report", "reason", "reports", tz)


def daily_follows_by_channel(engagement: pl.LazyFrame, tz: str) -> pl.LazyFrame:
    """Follows, unfollows and net follows per day and channel (the event's ``channel_id``).

    Returns:
        ``day``, ``channel_id``, ``follows``, ``unfollows``, ``net_follows`` (follows - unfollows): one row
        per day and channel with at least one follow or unfollow (sorted).
    """
    return (
        engagement.filter(_is("follow", "unfollow"))
        .group_by(day_of(tz), "channel_id")
        .agg(follows=_count(_is("follow")), unfollows=_count(_is("unfollow")))
        .with_columns(net_follows=pl.col("follows") - pl.col("unfollows"))
        .sort("day", "channel_id")
    )


def paying_users(engagement: pl.LazyFrame, campaign: pl.LazyFrame, tz: str) -> pl.LazyFrame:
    """Distinct users per day with a gift, subscribe (engagement) or purchase (campaign) with amount > 0.

    Args:
        engagement: engagement events (``polars_schema("engagement")``).
        campaign: campaign events (``polars_schema("campaign")``).
        tz: IANA name of the report time zone.

    Returns:
        ``day``, ``paying_users`` (Int64): one row per day with at least one paying user (sorted).
    """
    paid = pl.col("amount_cents") > 0
    payments = pl.concat(
        [
            engagement.filter(_is("gift", "subscribe") & paid).select("user_id", "event_time"),
            campaign.filter((_is("purchase")) & paid).select("user_id", "event_time"),
        ]
    )
    return payments.group_by(day_of(tz)).agg(paying_users=pl.col("user_id").n_unique().cast(pl.Int64)).sort("day")
