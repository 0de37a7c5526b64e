"""The outputs, declared once: every mart (its columns, key, day column, checks) and every reported metric.

This module is to the outputs what :mod:`schemas.events` is to the inputs. From it derive:

- the mart tables' DDL (:meth:`Mart.ddl`), the table and key lists and each table's day column
  (:data:`MART_TABLES`, :data:`MART_KEYS`), and the zero-fill of the daily headline (:func:`zero_fill`);
- the per-column range and share expectations of the quality gate (``schemas/expectations.py``; the
  cross-column rules stay there by hand);
- ``summary.json``'s headline keys and their order (:data:`HEADLINE_KEYS`), the report's sections, the
  figures each shows and their labels in English and Chinese (:data:`METRICS`, :data:`SECTIONS`);
- :data:`MARTS_VERSION`, a hash of everything here that decides what a build writes: when it changes the
  next build recreates every mart and rebuilds every day (``warehouse/mart_tables.py``).

Declaring is checked at import: a metric without both labels, a section without its figures, a headline
metric that is no column of ``agg_daily_headline``, a key column a mart lacks: each raises here, not later
as a silent fallback. How to add a metric or a mart: docs/development.md.
"""

# Chinese labels use full-width punctuation on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Literal

# DuckDB types a mart column may have.
SqlType = Literal["VARCHAR", "DATE", "TIMESTAMPTZ", "BOOLEAN", "INTEGER", "BIGINT", "DOUBLE"]
Severity = Literal["critical", "warning"]
# How a figure is measured: decides its delta (percent change, percentage points, points, difference)
# and how it is formatted. ``instant`` is a moment of the day (pcu_at): neither compared nor formatted as one.
Kind = Literal[
    "count", "signed", "hours", "minutes", "ms", "share", "score", "rate", "money", "cents", "decimal", "instant",
]  # fmt: skip
Better = Literal["up", "down"] | None
Section = Literal["growth", "viewing", "content", "qoe", "community", "campaigns"]


@dataclass(frozen=True)
class Check:
    """A range the quality gate checks a column against, for every row of the day.

    ``name`` defaults to ``<column>_non_negative`` (only ``minimum=0``), ``<column>_is_share`` (0..1) or
    ``<column>_in_range``.
    """

    minimum: float | None = None
    maximum: float | None = None
    severity: Severity = "critical"
    name: str | None = None
    description: str | None = None


NON_NEGATIVE = Check(minimum=0)
SHARE = Check(minimum=0, maximum=1)
SHARE_WARNING = Check(minimum=0, maximum=1, severity="warning")


@dataclass(frozen=True)
class Column:
    """One column of a mart.

    Attributes:
        name: column name.
        type: DuckDB type.
        description: what it holds (one line; docs/marts.md has the full definition).
        unit: ``users``, ``hours``, ``share``, ``cents``, ... ("" for keys and labels).
        nullable: NULL allowed (a ratio whose denominator is 0).
        fill: the value of a day that has no input for it (counts 0, sums 0.0); None: left as computed.
        check: the range the quality gate checks (None: none).
    """

    name: str
    type: SqlType
    description: str
    unit: str = ""
    nullable: bool = False
    fill: int | float | None = None
    check: Check | None = None


@dataclass(frozen=True)
class Mart:
    """One mart table: what a build computes and replaces day by day.

    Attributes:
        name: table name.
        key: the columns that identify a row (documented, not enforced: DuckLake has no keys).
        day_column: the day a build replaces (``DELETE ... WHERE day_column IN (...)``).
        description: what one row is.
        columns: the columns, in table order.
        checked: the quality gate has a suite for it (key unique, column checks).
        revision: bump when a column's computation changes while its declaration does not (forces a rebuild).
    """

    name: str
    key: tuple[str, ...]
    day_column: str
    description: str
    columns: tuple[Column, ...]
    checked: bool = True
    revision: int = 1

    def column(self, name: str) -> Column:
        """The column called ``name`` (KeyError if the mart has none)."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def ddl(self) -> str:
        """``CREATE TABLE`` for this mart (no keys: DuckLake has none; the writer keeps them)."""
        body = ",\n    ".join(f"{c.name} {c.type}{'' if c.nullable else ' NOT NULL'}" for c in self.columns)
        return f"CREATE TABLE {self.name} (\n    {body}\n)"


@dataclass(frozen=True)
class Metric:
    """One figure of the headline (a column of ``agg_daily_headline``) as the report and summary.json show it.

    Attributes:
        key: the headline column and summary.json key.
        kind: how it is measured (formatting and comparison).
        section: the report section that shows it (None: shown elsewhere, e.g. pcu_at beside pcu).
        en / zh: its label in English / Simplified Chinese.
        definition: what it is, in one sentence (docs/metrics.md has the full definition).
        better: the direction that is good news (None: neither, e.g. spend).
        key_figure: shown in the report's headline table.
    """

    key: str
    kind: Kind
    section: Section | None
    en: str
    zh: str
    definition: str
    better: Better = "up"
    key_figure: bool = False


def _c(name: str, type: SqlType, description: str, unit: str = "", **options: object) -> Column:
    return Column(name, type, description, unit, **options)  # type: ignore[arg-type]


def _count(name: str, description: str, unit: str = "events", check: Check | None = None) -> Column:
    """A count of the day: 0 when nothing happened."""
    return Column(name, "BIGINT", description, unit, fill=0, check=check)


def _ratio(name: str, description: str, unit: str = "share", check: Check | None = SHARE) -> Column:
    """A ratio of the day: NULL when its denominator is 0."""
    return Column(name, "DOUBLE", description, unit, nullable=True, check=check)


_DAY = Column("day", "DATE", "local day D of the report time zone")
_DIMENSION_COUNTS = (
    Column("sessions", "BIGINT", "sessions started in D with that value", "sessions"),
    Column("unique_viewers", "BIGINT", "distinct users of those sessions", "users"),
)


def _split(dimension: str, what: str) -> Mart:
    return Mart(
        f"agg_daily_{dimension}",
        ("day", dimension),
        "day",
        f"Sessions and viewers per {what}.",
        (_DAY, Column(dimension, "VARCHAR", f"the session's {what}; 'unknown' when it has none"), *_DIMENSION_COUNTS),
    )


MARTS: tuple[Mart, ...] = (
    Mart(
        "fct_sessions",
        ("session_id",),
        "start_day",
        "One row per session, stored on the local day of its start.",
        (
            _c("session_id", "VARCHAR", "the session"),
            _c("start_day", "DATE", "local day of started_at"),
            _c("user_id", "VARCHAR", "the viewer", nullable=True),
            _c("stream_id", "VARCHAR", "the stream watched", nullable=True),
            _c("channel_id", "VARCHAR", "the stream's channel", nullable=True),
            _c("category", "VARCHAR", "the stream's category at started_at; 'unknown' if none covers it"),
            _c("source", "VARCHAR", "traffic source of the session_start", nullable=True),
            _c("campaign_id", "VARCHAR", "campaign of the session_start", nullable=True),
            _c("device", "VARCHAR", "device of the session_start", nullable=True),
            _c("country", "VARCHAR", "country of the session_start", nullable=True),
            _c("started_at", "TIMESTAMPTZ", "first session_start, else earliest event"),
            _c("ended_at", "TIMESTAMPTZ", "last session_end, else latest event; capped at 24 h"),
            _c("length_seconds", "DOUBLE", "ended_at - started_at", "seconds"),
            _c("has_start", "BOOLEAN", "the session has a session_start"),
            _c("has_end", "BOOLEAN", "the session has a session_end"),
            _c("end_reason", "VARCHAR", "reason of the last session_end", nullable=True),
            _c("capped", "BOOLEAN", "the 24 h cap shortened it"),
        ),
        checked=False,
    ),
    Mart(
        "fct_session_days",
        ("day", "session_id"),
        "day",
        "Watch time of each session on each local day it overlaps.",
        (
            _DAY,
            _c("session_id", "VARCHAR", "the session"),
            _c("user_id", "VARCHAR", "the viewer", nullable=True),
            _c("stream_id", "VARCHAR", "the stream watched", nullable=True),
            _c("channel_id", "VARCHAR", "the stream's channel", nullable=True),
            _c("category", "VARCHAR", "as in fct_sessions"),
            _c("watch_seconds", "DOUBLE", "overlap of the session with the day", "seconds"),
        ),
        checked=False,
    ),
    Mart(
        "fct_minute_concurrency",
        ("day", "minute"),
        "day",
        "Platform-wide concurrent sessions at every minute mark of the day.",
        (
            _DAY,
            _c("minute", "TIMESTAMPTZ", "the minute mark"),
            _c("concurrent", "BIGINT", "sessions with started_at <= minute < ended_at", "sessions"),
        ),
        checked=False,
    ),
    Mart(
        "agg_daily_headline",
        ("day",),
        "day",
        "The day's headline figures (one row).",
        (
            _DAY,
            _count("dau", "users with a viewer or engagement event in D", "users"),
            _count("wau", "distinct active users over D-6 .. D", "users"),
            _count("mau", "distinct active users over D-29 .. D", "users"),
            _ratio("stickiness", "dau / mau"),
            _count("new_users", "users whose first active day over all data is D", "users"),
            _count("unique_viewers", "distinct users with a viewer event in D", "users"),
            _count("sessions", "sessions whose start is in D", "sessions"),
            _c("hours_watched", "DOUBLE", "watch time in D", "hours", fill=0.0, check=NON_NEGATIVE),
            _count("pcu", "peak concurrent sessions over the minute marks of D", "sessions"),
            _c("pcu_at", "TIMESTAMPTZ", "first minute mark at which pcu is reached (D 00:00 when 0)"),
            _c("acu", "DOUBLE", "watch seconds in D / seconds in D", "sessions", fill=0.0, check=NON_NEGATIVE),
            _ratio("avg_watch_minutes", "watch minutes in D per unique viewer", "minutes", check=None),
            _ratio(
                "startup_p50_ms",
                "median startup_ms of session_start events in D",
                "ms",
                check=Check(
                    0, 120_000, "warning", "startup_p50_in_range", "median start-up time lies in 0..120,000 ms"
                ),
            ),
            _ratio("startup_p95_ms", "95th percentile startup_ms of session_start events in D", "ms", check=None),
            _ratio("rebuffering_ratio", "buffering time of heartbeats / watch time in D", check=NON_NEGATIVE),
            _ratio("error_exit_rate", "session_end with reason error / all session_end in D"),
            _ratio(
                "avg_bitrate_kbps",
                "mean bitrate_kbps of the heartbeats in D that report one",
                "kbps",
                check=NON_NEGATIVE,
            ),
            _count("chat_messages", "chat_message events in D", "messages"),
            _count("chatters", "distinct users with a chat_message in D", "users"),
            _ratio("engagement_rate", "chatters / unique_viewers", check=None),
            _count("likes", "like events in D"),
            _count("shares", "share events in D"),
            _count("follows", "follow events in D"),
            _count("unfollows", "unfollow events in D"),
            _count("net_follows", "follows - unfollows", ""),
            _count("gift_value_cents", "amount of gifts in D", "cents"),
            _count("subscription_revenue_cents", "amount of subscribes in D", "cents"),
            _count("purchase_revenue_cents", "amount of purchases in D", "cents"),
            _count("paying_users", "distinct users with a paid gift, subscribe or purchase in D", "users"),
            _ratio("csat", "csat responses scoring 4-5 / all csat responses in D"),
            _ratio(
                "nps",
                "100 x (promoters - detractors) / nps responses in D",
                "-100..100",
                check=Check(-100, 100, name="nps_in_range", description="NPS lies in -100..100"),
            ),
            _count("reports", "report events in D"),
            _ratio("report_rate", "1000 x reports / unique_viewers", "per 1,000 viewers", check=None),
            _c("hours_broadcast", "DOUBLE", "broadcast time in D", "hours", fill=0.0, check=NON_NEGATIVE),
            _count("streams_live", "distinct streams broadcasting in D", "streams"),
            _count("active_channels", "distinct channels broadcasting in D", "channels"),
            _count("impressions", "impression events in D"),
            _count("clicks", "click events in D"),
            _ratio("ctr", "clicks / impressions", check=SHARE_WARNING),
            _c(
                "spend", "DOUBLE", "cost of impressions and clicks in D", "currency units", fill=0.0, check=NON_NEGATIVE
            ),
            _count("attributed_signups", "sign-ups in D attributed to a campaign (last click, 7 days)", "sign-ups"),
            _count("organic_signups", "sign-ups in D not attributed", "sign-ups"),
            _count("attributed_revenue_cents", "attributed revenue of all campaigns in D", "cents"),
            _ratio("retention_d1", "D1 retention of cohort D-1"),
            _ratio("retention_d7", "D7 retention of cohort D-7"),
            _ratio("retention_d30", "D30 retention of cohort D-30"),
        ),
    ),
    Mart(
        "agg_daily_category",
        ("day", "category"),
        "day",
        "Hours broadcast and watched per category.",
        (
            _DAY,
            _c("category", "VARCHAR", "the category ('unknown' for sessions without one)"),
            _c("hours_broadcast", "DOUBLE", "broadcast time in the category in D", "hours", check=NON_NEGATIVE),
            _c("hours_watched", "DOUBLE", "watch time of the category's sessions in D", "hours", check=NON_NEGATIVE),
            _c("streams_live", "BIGINT", "distinct streams broadcasting in the category in D", "streams"),
            _ratio("viewer_ratio", "hours_watched / hours_broadcast", "viewers", check=NON_NEGATIVE),
        ),
    ),
    Mart(
        "agg_daily_channel",
        ("day", "channel_id"),
        "day",
        "Per channel: hours watched and broadcast, average and peak viewers, follows.",
        (
            _DAY,
            _c("channel_id", "VARCHAR", "the channel"),
            _c("hours_watched", "DOUBLE", "watch time of the channel's sessions in D", "hours", check=NON_NEGATIVE),
            _c("broadcast_seconds", "DOUBLE", "broadcast time of the channel's streams in D", "seconds"),
            _c("hours_broadcast", "DOUBLE", "broadcast_seconds / 3600", "hours", check=NON_NEGATIVE),
            _ratio("avg_viewers", "watch seconds / broadcast seconds in D", "viewers", check=NON_NEGATIVE),
            _c("peak_viewers", "BIGINT", "max concurrent sessions of the channel in D", "sessions"),
            _c("follows", "BIGINT", "follow events of the channel in D", "events"),
            _c("unfollows", "BIGINT", "unfollow events of the channel in D", "events"),
            _c("net_follows", "BIGINT", "follows - unfollows"),
        ),
    ),
    Mart(
        "agg_daily_stream",
        ("day", "stream_id"),
        "day",
        "Per stream: hours watched and broadcast, average and peak viewers.",
        (
            _DAY,
            _c("stream_id", "VARCHAR", "the stream"),
            _c("channel_id", "VARCHAR", "the stream's channel", nullable=True),
            _c("hours_watched", "DOUBLE", "watch time of the stream's sessions in D", "hours", check=NON_NEGATIVE),
            _c("broadcast_seconds", "DOUBLE", "broadcast time of the stream in D", "seconds"),
            _c("hours_broadcast", "DOUBLE", "broadcast_seconds / 3600", "hours", check=NON_NEGATIVE),
            _ratio("avg_viewers", "watch seconds / broadcast seconds in D", "viewers", check=NON_NEGATIVE),
            _c("peak_viewers", "BIGINT", "max concurrent sessions of the stream in D", "sessions"),
        ),
    ),
    Mart(
        "agg_daily_campaign",
        ("day", "campaign_id", "channel"),
        "day",
        "Per campaign and marketing channel: impressions, clicks, spend, attributed sign-ups and revenue.",
        (
            _DAY,
            _c("campaign_id", "VARCHAR", "the campaign"),
            _c("channel", "VARCHAR", "the marketing channel"),
            _c("impressions", "BIGINT", "impressions in D", "events"),
            _c("clicks", "BIGINT", "clicks in D", "events"),
            _ratio("ctr", "clicks / impressions", check=SHARE_WARNING),
            _c("spend", "DOUBLE", "cost in D", "currency units", check=NON_NEGATIVE),
            _c("attributed_signups", "BIGINT", "sign-ups in D whose last click within 7 days was here", "sign-ups"),
            _ratio("cvr", "attributed_signups / clicks", check=NON_NEGATIVE),
            _ratio("cpa", "spend / attributed_signups", "currency units", check=NON_NEGATIVE),
            _c("attributed_revenue_cents", "BIGINT", "purchases in D of users signed up here (30 days)", "cents"),
            _ratio("roas", "attributed revenue / spend", "ratio", check=NON_NEGATIVE),
        ),
    ),
    _split("source", "traffic source"),
    _split("device", "device"),
    _split("country", "country"),
    Mart(
        "agg_daily_shares_by_target",
        ("day", "target"),
        "day",
        "Shares per target.",
        (_DAY, _c("target", "VARCHAR", "the share target"), _c("shares", "BIGINT", "share events in D", "events")),
    ),
    Mart(
        "agg_daily_reports_by_reason",
        ("day", "reason"),
        "day",
        "Reports (complaints) per reason.",
        (_DAY, _c("reason", "VARCHAR", "the report reason"), _c("reports", "BIGINT", "report events in D", "events")),
    ),
    Mart(
        "agg_retention_cohorts",
        ("as_of_day", "cohort_date"),
        "as_of_day",
        "The 31 cohorts as_of_day-30 .. as_of_day as the report of as_of_day sees them.",
        (
            _c("as_of_day", "DATE", "the report day R"),
            _c("cohort_date", "DATE", "cohort day C: users whose first active day is C"),
            _c("days_since_cohort", "INTEGER", "R - C", "days"),
            _c("size", "BIGINT", "users in the cohort", "users"),
            _ratio("d1", "share of the cohort active on C+1", check=None),
            _ratio("d7", "share of the cohort active on C+7", check=None),
            _ratio("d30", "share of the cohort active on C+30", check=None),
        ),
        checked=False,
    ),
    Mart(
        "build_days",
        ("day",),
        "day",
        "When each day was last built, with which watermark, whether it was complete, its late events.",
        (
            _DAY,
            _c("build_id", "VARCHAR", "the build that wrote the day"),
            _c("built_at", "TIMESTAMPTZ", "when"),
            _c("watermark", "TIMESTAMPTZ", "the watermark at that build"),
            _c("complete", "BOOLEAN", "the watermark had passed the day's end plus the allowed lateness"),
            _c("events", "BIGINT", "raw events in D", "events"),
            _c("late_events", "BIGINT", "events of D that arrived late", "events"),
            _c("future_events", "BIGINT", "events arriving on D stamped beyond the clock skew", "events"),
        ),
        checked=False,
    ),
)

_SECTIONS: tuple[Section, ...] = ("growth", "viewing", "content", "qoe", "community", "campaigns")

# In summary.json's order.
METRICS: tuple[Metric, ...] = (
    Metric("dau", "count", "growth", "DAU", "日活跃用户", "users with a viewer or engagement event in D", key_figure=True),
    Metric("wau", "count", "growth", "WAU", "周活跃用户", "distinct active users over D-6 .. D"),
    Metric("mau", "count", "growth", "MAU", "月活跃用户", "distinct active users over D-29 .. D"),
    Metric("stickiness", "share", "growth", "Stickiness (DAU/MAU)", "用户黏性（DAU/MAU）", "dau / mau"),
    Metric("new_users", "count", "growth", "New users", "新增用户", "first active day is D", key_figure=True),
    Metric("unique_viewers", "count", "viewing", "Unique viewers", "独立观众", "users with a viewer event in D"),
    Metric("sessions", "count", "viewing", "Sessions", "观看会话", "sessions started in D"),
    Metric("hours_watched", "hours", "viewing", "Hours watched", "观看时长（小时）", "watch time in D", key_figure=True),
    Metric("pcu", "count", "viewing", "Peak concurrent viewers", "峰值同时在线", "peak concurrent sessions", key_figure=True),
    Metric("pcu_at", "instant", None, "Peak time", "峰值时刻", "first minute at which pcu is reached", better=None),
    Metric("acu", "decimal", "viewing", "Average concurrent viewers", "平均同时在线", "watch seconds / seconds in D"),
    Metric(
        "avg_watch_minutes", "minutes", "viewing", "Watch time per viewer (min)", "人均观看时长（分钟）",
        "watch minutes per unique viewer", key_figure=True,
    ),
    Metric("startup_p50_ms", "ms", "qoe", "Startup time p50 (ms)", "起播时间 p50（毫秒）", "median startup_ms", better="down"),
    Metric("startup_p95_ms", "ms", "qoe", "Startup time p95 (ms)", "起播时间 p95（毫秒）", "p95 of startup_ms", better="down"),
    Metric(
        "rebuffering_ratio", "share", "qoe", "Rebuffering ratio", "卡顿率", "buffering time / watch time",
        better="down", key_figure=True,
    ),
    Metric("error_exit_rate", "share", "qoe", "Error exit rate", "错误退出率", "error ends / all ends", better="down"),
    Metric(
        "avg_bitrate_kbps", "decimal", "qoe", "Average bitrate (kbps)", "平均码率（kbps）",
        "mean bitrate_kbps over the heartbeats in D that report one (each heartbeat counts once)",
    ),
    Metric("chat_messages", "count", "community", "Chat messages", "弹幕/聊天消息", "chat_message events in D"),
    Metric("chatters", "count", "community", "Chatters", "发言用户", "users with a chat_message in D"),
    Metric("engagement_rate", "share", "community", "Engagement rate", "互动率", "chatters / unique_viewers", key_figure=True),
    Metric("likes", "count", "community", "Likes", "点赞", "like events in D"),
    Metric("shares", "count", "community", "Shares", "分享", "share events in D"),
    Metric("follows", "count", "community", "Follows", "关注", "follow events in D"),
    Metric("unfollows", "count", "community", "Unfollows", "取消关注", "unfollow events in D", better="down"),
    Metric("net_follows", "signed", "community", "Net follows", "净关注", "follows - unfollows"),
    Metric("gift_value_cents", "cents", "community", "Gift value", "礼物金额", "amount of gifts in D"),
    Metric("subscription_revenue_cents", "cents", "community", "Subscription revenue", "订阅收入", "amount of subscribes"),
    Metric("purchase_revenue_cents", "cents", "community", "Purchase revenue", "购买收入", "amount of purchases in D"),
    Metric("paying_users", "count", "community", "Paying users", "付费用户", "users who paid in D"),
    Metric("csat", "share", "community", "CSAT", "满意度（CSAT）", "csat responses scoring 4-5 / all"),
    Metric("nps", "score", "community", "NPS", "净推荐值（NPS）", "promoters - detractors, in points"),
    Metric(
        "reports", "count", "community", "Complaints (reports)", "举报/投诉", "report events in D",
        better="down", key_figure=True,
    ),
    Metric(
        "report_rate", "rate", "community", "Complaints per 1,000 viewers", "每千名观众投诉数",
        "1000 x reports / unique_viewers", better="down",
    ),
    Metric("hours_broadcast", "hours", "content", "Hours broadcast", "开播时长（小时）", "broadcast time in D"),
    Metric("streams_live", "count", "content", "Streams live", "开播直播间", "streams broadcasting in D"),
    Metric("active_channels", "count", "content", "Active channels", "活跃频道", "channels broadcasting in D"),
    Metric("impressions", "count", "campaigns", "Impressions", "广告曝光", "impression events in D", better=None),
    Metric("clicks", "count", "campaigns", "Clicks", "广告点击", "click events in D"),
    Metric("ctr", "share", "campaigns", "CTR", "点击率", "clicks / impressions"),
    Metric("spend", "money", "campaigns", "Spend", "投放花费", "cost of impressions and clicks", better=None, key_figure=True),
    Metric(
        "attributed_signups", "count", "campaigns", "Attributed sign-ups", "归因注册",
        "sign-ups attributed to a campaign", key_figure=True,
    ),
    Metric("organic_signups", "count", "campaigns", "Organic sign-ups", "自然注册", "sign-ups not attributed"),
)  # fmt: skip

# Raw columns no mart reads: free text and the contract's bookkeeping (not loaded by the build, to save memory).
UNREAD_RAW_COLUMNS: frozenset[str] = frozenset({"schema_version", "message", "comment", "title"})

# ---------------------------------------------------------------------------------------------------------
# Derived
# ---------------------------------------------------------------------------------------------------------

MART_BY_NAME: dict[str, Mart] = {m.name: m for m in MARTS}
# Mart tables and the column whose day a build replaces.
MART_TABLES: dict[str, str] = {m.name: m.day_column for m in MARTS}
# The key of every mart table.
MART_KEYS: dict[str, tuple[str, ...]] = {m.name: m.key for m in MARTS}
HEADLINE = MART_BY_NAME["agg_daily_headline"]

METRIC_BY_KEY: dict[str, Metric] = {m.key: m for m in METRICS}
# summary.json's headline keys, in order (pcu_at, an instant, included).
HEADLINE_KEYS: tuple[str, ...] = tuple(m.key for m in METRICS)
# The numeric headline figures: compared day to day and checked for anomalies.
NUMERIC_KEYS: tuple[str, ...] = tuple(m.key for m in METRICS if m.kind != "instant")
# The headline table of the report.
KEY_FIGURES: tuple[str, ...] = tuple(m.key for m in METRICS if m.key_figure)
# The report's sections, in order, with the figures each shows (in summary.json's order).
SECTIONS: dict[Section, tuple[str, ...]] = {s: tuple(m.key for m in METRICS if m.section == s) for s in _SECTIONS}


def zero_fill(mart: Mart) -> dict[str, int | float]:
    """The columns of ``mart`` a day without input fills, and with what (``{column: 0 or 0.0}``)."""
    return {c.name: c.fill for c in mart.columns if c.fill is not None}


def _fingerprint() -> str:
    """A hash of what decides the marts' contents: every mart (columns, types, fill, key, revision) and every
    metric's kind and definition. Labels, sections and key-figure flags are the report's and change nothing
    stored, so they are left out."""
    content = {
        "marts": [asdict(m) for m in MARTS],
        "metrics": [(m.key, m.kind, m.definition) for m in METRICS],
        "unread": sorted(UNREAD_RAW_COLUMNS),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:16]


MARTS_VERSION: str = _fingerprint()


def _validate() -> None:
    """Every declaration complete and consistent: fails at import otherwise."""
    problems: list[str] = []
    for mart in MARTS:
        names = mart.column_names
        if len(set(names)) != len(names):
            problems.append(f"{mart.name}: a column is declared twice")
        problems += [f"{mart.name}: key column {k!r} is not a column" for k in mart.key if k not in names]
        if mart.day_column not in names:
            problems.append(f"{mart.name}: day column {mart.day_column!r} is not a column")
        for c in mart.columns:
            if not c.description:
                problems.append(f"{mart.name}.{c.name}: no description")
            if c.fill is not None and c.nullable:
                problems.append(f"{mart.name}.{c.name}: a filled column cannot be nullable")
    if len(METRIC_BY_KEY) != len(METRICS):
        problems.append("a metric is declared twice")
    for metric in METRICS:
        if not metric.en.strip() or not metric.zh.strip():
            problems.append(f"metric {metric.key}: a label is missing (en and zh are required)")
        if not metric.definition.strip():
            problems.append(f"metric {metric.key}: no definition")
        if metric.key not in HEADLINE.column_names:
            problems.append(f"metric {metric.key}: not a column of {HEADLINE.name}")
        if metric.section is None and metric.kind != "instant":
            problems.append(f"metric {metric.key}: no report section")
        if metric.section is not None and metric.section not in _SECTIONS:
            problems.append(f"metric {metric.key}: unknown section {metric.section!r}")
    problems += [f"section {s}: shows no figure" for s, keys in SECTIONS.items() if not keys]
    if problems:
        raise ValueError("schemas/marts.py: " + "; ".join(problems))


_validate()

__all__ = [
    "HEADLINE_KEYS",
    "KEY_FIGURES",
    "MARTS",
    "MARTS_VERSION",
    "MART_BY_NAME",
    "MART_KEYS",
    "MART_TABLES",
    "METRICS",
    "METRIC_BY_KEY",
    "NUMERIC_KEYS",
    "SECTIONS",
    "UNREAD_RAW_COLUMNS",
    "Check",
    "Column",
    "Kind",
    "Mart",
    "Metric",
    "zero_fill",
]
