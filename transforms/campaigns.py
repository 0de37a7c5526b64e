"""Campaign metrics per day: delivery, spend, last-click attribution of sign-ups, attributed revenue.

Inputs are the typed, validated, deduplicated campaign events of ``polars_schema("campaign")``. An event is
in day D when its ``event_time``, seen in the report time zone ``tz``, falls on the calendar date D.

Readings where ``docs/metrics.md`` is silent (documented here, the code follows them):

- **Ties.** Two clicks of one user at the same instant: the one with the greatest ``event_id`` (string
  order) is the "latest". Two sign-ups of one user at the same instant: likewise for revenue attribution.
- **Attributed channel.** A sign-up is attributed to the ``campaign_id`` *and* the ``channel`` of the
  winning click; campaign rows are keyed by both.
- **Several sign-ups of one user.** A purchase is credited through the user's *latest* sign-up at or before
  the purchase (same instant included). It is attributed revenue of that sign-up's campaign when that
  sign-up was attributed (not organic) and lies at most 2,592,000 s (30 days, inclusive) before the
  purchase. An older attributed sign-up does not take over when the latest one is organic or too old.
- **Rows without delivery.** A (day, campaign, channel) with attributed sign-ups or attributed revenue but
  no impression or click that day still gets a row: impressions = clicks = 0, spend = 0.0, so ``ctr`` and
  ``cvr`` are null, ``cpa`` is 0.0 when it has sign-ups (spend 0 / n), ``roas`` is null.
- Sign-ups and purchases count in the day of their own ``event_time``, whatever the day of the click.
"""

from __future__ import annotations

import polars as pl

from schemas.windows import ATTRIBUTION_WINDOW as ATTRIBUTION_WINDOW
from schemas.windows import REVENUE_WINDOW as REVENUE_WINDOW
from transforms.days import exact_div
from transforms.engagement import day_of, ratio

ATTRIBUTED_SCHEMA = pl.Schema(
    {
        "event_id": pl.String(),
        "user_id": pl.String(),
        "signup_time": pl.Datetime("us", "UTC"),
        "attributed_campaign_id": pl.String(),
        "attributed_channel": pl.String(),
    }
)


def _is(event_type: str) -> pl.Expr:
    return pl.col("event_type") == pl.lit(event_type)


def _latest_per_instant(events: pl.LazyFrame, time_col: str) -> pl.LazyFrame:
    """Keep, per user and instant, the row with the greatest ``event_id``; sorted by ``time_col``.

    ``join_asof`` picks one right row among equal keys in an unspecified way; removing ties first makes the
    pick deterministic.
    """
    return (
        events.sort("user_id", time_col, "event_id")
        .unique(subset=["user_id", time_col], keep="last", maintain_order=True)
        .sort(time_col)
    )


def attribute_signups(campaign: pl.LazyFrame) -> pl.LazyFrame:
    """Last-click, 7-day attribution of every sign-up.

    A ``signup`` of user u at time t is attributed to the campaign (``campaign_id`` and ``channel``) of u's
    latest ``click`` in [t - 604,800 s, t], both ends included; with no such click it is organic. The
    ``campaign_id`` carried by the sign-up itself is ignored. Clicks of u at the same instant: the greatest
    ``event_id`` wins.

    Args:
        campaign: campaign events (``polars_schema("campaign")``).

    Returns:
        One row per sign-up, sorted by ``signup_time`` then ``event_id``: ``event_id`` (the sign-up's),
        ``user_id``, ``signup_time``, ``attributed_campaign_id`` and ``attributed_channel`` (both null when
        organic).
    """
    signups = (
        campaign.filter(_is("signup"))
        .select("event_id", "user_id", pl.col("event_time").alias("signup_time"))
        .sort("signup_time")
    )
    clicks = _latest_per_instant(
        campaign.filter(_is("click")).select(
            "user_id", "event_id", pl.col("event_time").alias("click_time"), "campaign_id", "channel"
        ),
        "click_time",
    ).drop("event_id")
    in_window = pl.col("signup_time") - pl.col("click_time") <= ATTRIBUTION_WINDOW
    return (
        signups.join_asof(
            clicks,
            left_on="signup_time",
            right_on="click_time",
            by="user_id",
            strategy="backward",  # latest click at or before the sign-up (exact matches allowed)
            check_sortedness=False,  # both sides are sorted above; the check cannot run with `by`
        )
        .select(
            "event_id",
            "user_id",
            "signup_time",
            pl.when(in_window).then(pl.col("campaign_id")).alias("attributed_campaign_id"),
            pl.when(in_window).then(pl.col("channel")).alias("attributed_channel"),
        )
        .sort("signup_time", "event_id")
    )


def attributed_purchases(campaign: pl.LazyFrame, attributed: pl.LazyFrame) -> pl.LazyFrame:
    """Purchases credited to a campaign through the buyer's latest sign-up, at most 30 days before.

    Args:
        campaign: campaign events (``polars_schema("campaign")``).
        attributed: output of :func:`attribute_signups`.

    Returns:
        One row per attributed purchase: ``event_id`` (the purchase's), ``user_id``, ``purchase_time``,
        ``amount_cents``, ``signup_event_id``, ``signup_time``, ``campaign_id``, ``channel``.
    """
    purchases = (
        campaign.filter(_is("purchase"))
        .select("event_id", "user_id", pl.col("event_time").alias("purchase_time"), "amount_cents")
        .sort("purchase_time")
    )
    renames = {"event_id": "signup_event_id", "attributed_campaign_id": "campaign_id"}
    signups = _latest_per_instant(attributed, "signup_time").rename({**renames, "attributed_channel": "channel"})
    within_30_days = pl.col("purchase_time") - pl.col("signup_time") <= REVENUE_WINDOW
    return (
        purchases.join_asof(
            signups,
            left_on="purchase_time",
            right_on="signup_time",
            by="user_id",
            strategy="backward",  # the latest sign-up at or before the purchase
            check_sortedness=False,  # both sides are sorted; the check cannot run with `by`
        )
        .filter(pl.col("campaign_id").is_not_null() & within_30_days)
        .select(
            "event_id",
            "user_id",
            "purchase_time",
            "amount_cents",
            "signup_event_id",
            "signup_time",
            "campaign_id",
            "channel",
        )
    )


def daily_campaigns(campaign: pl.LazyFrame, attributed: pl.LazyFrame, tz: str) -> pl.LazyFrame:
    """Daily figures per ``campaign_id`` and ``channel``.

    Args:
        campaign: campaign events (``polars_schema("campaign")``).
        attributed: output of :func:`attribute_signups`.
        tz: IANA name of the report time zone.

    Returns:
        One row per (day, campaign_id, channel) with an impression, click, attributed sign-up or attributed
        purchase that day, sorted by those keys: ``day``, ``campaign_id``, ``channel``, ``impressions``,
        ``clicks``, ``ctr`` (clicks / impressions), ``spend`` (sum of ``cost_micros`` of impressions and
        clicks / 1e6, currency units), ``attributed_signups``, ``cvr`` (attributed sign-ups / clicks),
        ``cpa`` (spend / attributed sign-ups), ``attributed_revenue_cents``, ``roas`` (attributed revenue in
        currency units / spend). Ratios are null when their denominator is 0.
    """
    keys = ["day", "campaign_id", "channel"]
    delivery = (
        campaign.filter(_is("impression") | _is("click"))
        .group_by(day_of(tz), "campaign_id", "channel")
        .agg(
            impressions=_is("impression").sum().cast(pl.Int64),
            clicks=_is("click").sum().cast(pl.Int64),
            _spend_micros=pl.col("cost_micros").sum().cast(pl.Int64),
        )
    )
    signups = (
        attributed.filter(pl.col("attributed_campaign_id").is_not_null())
        .group_by(
            day_of(tz, "signup_time"),
            pl.col("attributed_campaign_id").alias("campaign_id"),
            pl.col("attributed_channel").alias("channel"),
        )
        .agg(attributed_signups=pl.len().cast(pl.Int64))
    )
    revenue = (
        attributed_purchases(campaign, attributed)
        .group_by(day_of(tz, "purchase_time"), "campaign_id", "channel")
        .agg(attributed_revenue_cents=pl.col("amount_cents").sum().cast(pl.Int64))
    )
    counts = ["impressions", "clicks", "_spend_micros", "attributed_signups", "attributed_revenue_cents"]
    # Spend is summed in integer micros and converted once: no float rounding per event. exact_div: the same
    # float on every run (a plain `/ 1_000_000` depends on the size of the frame).
    spend = exact_div("_spend_micros", 1_000_000)
    return (
        delivery.join(signups, on=keys, how="full", coalesce=True)
        .join(revenue, on=keys, how="full", coalesce=True)
        .with_columns(pl.col(counts).fill_null(0))
        .select(
            *keys,
            "impressions",
            "clicks",
            ratio(pl.col("clicks"), pl.col("impressions")).alias("ctr"),
            spend.alias("spend"),
            "attributed_signups",
            ratio(pl.col("attributed_signups"), pl.col("clicks")).alias("cvr"),
            ratio(spend, pl.col("attributed_signups")).alias("cpa"),
            "attributed_revenue_cents",
            # Cents to currency units (/100) and micros to currency units (/1e6) before dividing.
            ratio(exact_div("attributed_revenue_cents", 100), spend).alias("roas"),
        )
        .sort(keys)
    )


def daily_campaign_totals(campaign: pl.LazyFrame, attributed: pl.LazyFrame, tz: str) -> pl.LazyFrame:
    """Daily campaign figures over all campaigns and channels.

    Args:
        campaign: campaign events (``polars_schema("campaign")``).
        attributed: output of :func:`attribute_signups`.
        tz: IANA name of the report time zone.

    Returns:
        One row per day with at least one campaign event, sorted: ``day``, ``impressions``, ``clicks``,
        ``ctr``, ``spend``, ``attributed_signups``, ``organic_signups``, ``purchase_revenue_cents`` (sum of
        ``amount_cents`` of all purchases in D, attributed or not).
    """
    events = campaign.group_by(day_of(tz)).agg(
        impressions=_is("impression").sum().cast(pl.Int64),
        clicks=_is("click").sum().cast(pl.Int64),
        _spend_micros=pl.col("cost_micros").filter(_is("impression") | _is("click")).sum().cast(pl.Int64),
        purchase_revenue_cents=pl.col("amount_cents").filter(_is("purchase")).sum().cast(pl.Int64),
    )
    signups = attributed.group_by(day_of(tz, "signup_time")).agg(
        attributed_signups=pl.col("attributed_campaign_id").is_not_null().sum().cast(pl.Int64),
        organic_signups=pl.col("attributed_campaign_id").is_null().sum().cast(pl.Int64),
    )
    spend = exact_div("_spend_micros", 1_000_000)
    return (
        events.join(signups, on="day", how="full", coalesce=True)
        .with_columns(pl.col("_spend_micros", "attributed_signups", "organic_signups").fill_null(0))
        .select(
            "day",
            pl.col("impressions").fill_null(0),
            pl.col("clicks").fill_null(0),
            ratio(pl.col("clicks"), pl.col("impressions")).alias("ctr"),
            spend.alias("spend"),
            "attributed_signups",
            "organic_signups",
            pl.col("purchase_revenue_cents").fill_null(0),
        )
        .sort("day")
    )
