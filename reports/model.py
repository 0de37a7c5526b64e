"""The daily report as plain data, read from the warehouse's marts.

:func:`read_report` takes a DuckDB connection (the flow attaches the lake read-only) and a day, and
returns a :class:`Report`: the headline figures with their deltas against the previous day and the same
weekday last week, one section per ops responsibility (growth, viewing, content, QoE, community,
campaigns, data quality), the anomalies of docs/metrics.md's rule, and the state of the day (complete,
watermark, when it was built, whether the quality gate verified it). Renderers (HTML, Markdown, JSON) only
read this model; nothing here formats a number or picks a language.

Every list is sorted (figures by size, then by name), so that the same warehouse always gives the same model.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import duckdb

from reports.anomalies import WINDOW_DAYS, Anomaly, detect_anomalies
from reports.baseline import MIN_COUNT, SURVEYS, Gap, Sample, baseline_gap, supported, window_gap
from reports.plan import PlanSection, read_plan_section
from schemas.marts import METRIC_BY_KEY, NUMERIC_KEYS, SECTIONS, Better, Kind, Metric

log = logging.getLogger(__name__)

Number = int | float
DeltaUnit = Literal["pct", "pp", "pts", "diff"]

# What each headline key measures, its section and labels: declared once in schemas/marts.py.
MetricSpec = Metric
# The numeric headline figures (every headline key but pcu_at): checked for anomalies, compared day to day.
METRICS: dict[str, Metric] = {key: METRIC_BY_KEY[key] for key in NUMERIC_KEYS}
# The figures each section of the report shows (the headline table shows KEY_FIGURES).
SECTION_FIGURES: dict[str, tuple[str, ...]] = {str(section): keys for section, keys in SECTIONS.items()}

TOP_N = 10
COHORTS = 30


class ReportError(Exception):
    """The report cannot be made (the day was never built, the warehouse has no marts, ...)."""


# ---------------------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One headline figure of D with its comparisons.

    Attributes:
        key: headline key.
        kind: how it is measured (:data:`Kind`).
        better: the direction that is good news (None: neutral, e.g. spend).
        value: its value on D (None: a ratio with a zero denominator).
        previous: its value on D-1 (None: not built, or null).
        last_week: its value on D-7.
        vs_previous: the change against D-1 in ``delta_unit`` (None: not comparable).
        vs_last_week: the change against D-7.
        delta_unit: ``pct`` (percent change: counts, amounts, durations), ``pp`` (percentage points:
            shares), ``pts`` (points: NPS) or ``diff`` (plain difference: net follows, which can be negative).
        anomaly: the anomaly flag of D, if any.
        gap_previous / gap_last_week: why D-1 / D-7 is not a full baseline (reports.baseline); previous /
            last_week and their deltas are then None.
        sample: survey responses on D (CSAT, NPS; None for other figures).
        noise_previous / noise_last_week: a move its sample does not support (a survey's within its noise, a
            count under ``MIN_COUNT`` on either day).
    """

    key: str
    kind: Kind
    better: Better
    value: Number | None
    previous: Number | None
    last_week: Number | None
    vs_previous: float | None
    vs_last_week: float | None
    delta_unit: DeltaUnit
    anomaly: Anomaly | None = None
    gap_previous: Gap | None = None
    gap_last_week: Gap | None = None
    sample: int | None = None
    noise_previous: bool = False
    noise_last_week: bool = False

    @property
    def relative_change(self) -> float | None:
        """|value - previous| / |previous|: how much it moved against D-1, unitless (None: not comparable)."""
        if self.value is None or self.previous is None or self.previous == 0:
            return None
        return abs(self.value - self.previous) / abs(self.previous)

    @property
    def worsened(self) -> bool:
        """It moved against D-1 in the direction that is bad news (and, for a survey, beyond its noise)."""
        if self.better is None or self.value is None or self.previous is None or self.noise_previous:
            return False
        return self.value < self.previous if self.better == "up" else self.value > self.previous


@dataclass(frozen=True)
class Cohort:
    """One cohort of new users as the report day sees it (d-values null when empty or not yet due)."""

    cohort_date: date
    size: int
    d1: float | None
    d7: float | None
    d30: float | None


@dataclass(frozen=True)
class Retention:
    """D1 of cohort D-1, D7 of cohort D-7, D30 of cohort D-30, and the last 30 cohorts (oldest first)."""

    d1: float | None
    d7: float | None
    d30: float | None
    cohorts: tuple[Cohort, ...]


@dataclass(frozen=True)
class ConcurrencyCurve:
    """Platform concurrency at every minute mark of D.

    Attributes:
        day_start: D 00:00 local (aware, in the report time zone).
        points: ``(minutes since day_start, concurrent viewers)``, ascending.
        pcu: the peak. pcu_at: the first minute mark at which it is reached (local, aware).
    """

    day_start: datetime
    points: tuple[tuple[int, int], ...]
    pcu: int
    pcu_at: datetime

    @property
    def length_minutes(self) -> int:
        """Minutes in D (1,440; 1,380 or 1,500 on DST days)."""
        next_start = datetime.combine(self.day_start.date() + timedelta(days=1), time(), self.day_start.tzinfo)
        return round((next_start.astimezone(UTC) - self.day_start.astimezone(UTC)).total_seconds() / 60)


@dataclass(frozen=True)
class Split:
    """Sessions and viewers of one value of a dimension (source, device, country)."""

    value: str
    sessions: int
    unique_viewers: int


@dataclass(frozen=True)
class CategoryRow:
    category: str
    hours_broadcast: float
    hours_watched: float
    streams_live: int
    viewer_ratio: float | None


@dataclass(frozen=True)
class ChannelRow:
    channel_id: str
    hours_watched: float
    hours_broadcast: float
    avg_viewers: float | None
    peak_viewers: int
    follows: int
    unfollows: int
    net_follows: int


@dataclass(frozen=True)
class StreamRow:
    stream_id: str
    channel_id: str | None
    title: str | None
    hours_watched: float
    hours_broadcast: float
    avg_viewers: float | None
    peak_viewers: int


@dataclass(frozen=True)
class CampaignRow:
    campaign_id: str
    channel: str
    impressions: int
    clicks: int
    ctr: float | None
    spend: float
    attributed_signups: int
    cvr: float | None
    cpa: float | None
    attributed_revenue_cents: int
    roas: float | None


@dataclass(frozen=True)
class CampaignTotals:
    """All campaigns of D together (the funnel): CVR, CPA and ROAS recomputed from the totals."""

    impressions: int
    clicks: int
    ctr: float | None
    spend: float
    attributed_signups: int
    organic_signups: int
    cvr: float | None
    cpa: float | None
    attributed_revenue_cents: int
    roas: float | None


@dataclass(frozen=True)
class QualityFailure:
    suite: str
    expectation: str
    severity: str
    details: str


@dataclass(frozen=True)
class QualityGate:
    """What the quality gate said about D.

    Attributes:
        ran: a quality run exists for D (False: "quality checks not run").
        verified: D passed every critical expectation (None when not run).
        failed: expectations that failed. critical: of which critical.
        failures: the failed expectations, critical first.
        data_docs: link to the Great Expectations Data Docs, relative to the report's folder (None: none).
    """

    ran: bool = False
    verified: bool | None = None
    failed: int = 0
    critical: int = 0
    failures: tuple[QualityFailure, ...] = ()
    data_docs: str | None = None


@dataclass(frozen=True)
class DataQuality:
    """Ingest totals (every message ingested so far) and D's late events and expectations.

    Attributes:
        ingested: messages read from Kafka (valid + duplicates + quarantined), ``ingest_batches.messages``.
        duplicates_dropped: copies of an event already loaded (by ``event_id``).
        quarantined: messages that broke the contract. quarantined_by_reason: by reason code, sorted by name.
        events: valid events in D. late_events: those that arrived after D was complete (docs/metrics.md).
        future_events: events that arrived on D stamped more than the maximum clock skew ahead of their
            arrival (a device clock running ahead); they count in their own day, the watermark caps them.
        gate: the quality gate's verdict on D.
    """

    ingested: int
    duplicates_dropped: int
    quarantined: int
    quarantined_by_reason: tuple[tuple[str, int], ...]
    events: int
    late_events: int
    future_events: int
    gate: QualityGate

    @property
    def expectations_failed(self) -> int | None:
        """Failed expectations of D (None when the quality checks did not run)."""
        return self.gate.failed if self.gate.ran else None


@dataclass(frozen=True)
class Restatement:
    """D was rebuilt after a report of it was written, and figures changed.

    Attributes:
        reported_at: ``generated_at`` of the earlier report.
        rebuilt_at: when D was rebuilt.
        changed: headline keys whose value changed (headline order).
    """

    reported_at: str
    rebuilt_at: str
    changed: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    """Everything the daily report of D shows.

    Attributes:
        day: D. timezone: the report time zone (IANA).
        complete: D was complete when it was built. watermark: the watermark of that build (UTC).
        built_at: when D was last built (UTC).
        figures: every numeric headline figure, by key, in headline order.
        pcu_at: first minute of the peak (local).
        history: numeric headline figures of the built days D-28 .. D-1 (for anomalies and trends).
        anomalies: flagged figures (headline order). anomaly_days: previous days with data the rule had
            (needs 7; the first day with events does not count, reports.baseline).
        restatements: earlier reports of D that the current figures restate (set by the flow).
        currency: ISO 4217 code of every amount of money (the events carry amounts, not currencies).
    """

    day: date
    timezone: str
    complete: bool
    watermark: datetime
    built_at: datetime
    figures: dict[str, Figure]
    pcu_at: datetime
    retention: Retention
    curve: ConcurrencyCurve
    sources: tuple[Split, ...]
    devices: tuple[Split, ...]
    countries: tuple[Split, ...]
    categories: tuple[CategoryRow, ...]
    top_channels: tuple[ChannelRow, ...]
    top_streams: tuple[StreamRow, ...]
    campaigns: tuple[CampaignRow, ...]
    campaign_totals: CampaignTotals
    attributed_revenue_cents: int
    shares_by_target: tuple[tuple[str, int], ...]
    reports_by_reason: tuple[tuple[str, int], ...]
    data_quality: DataQuality
    history: dict[date, dict[str, Number | None]]
    anomalies: tuple[Anomaly, ...]
    anomaly_days: int
    restatements: tuple[Restatement, ...] = field(default=())
    plan: PlanSection | None = None
    currency: str = "CNY"

    def value(self, key: str) -> Number | None:
        """D's value of a numeric headline figure."""
        return self.figures[key].value

    def movers(self) -> list[Figure]:
        """Figures that moved against a full baseline D-1, biggest relative move first (ties: headline order).

        A survey figure whose move is within its sampling noise is left out: the narrative leads with these.
        """
        moved = [f for f in self.figures.values() if f.relative_change and not f.noise_previous]
        return sorted(moved, key=lambda f: -(f.relative_change or 0.0))

    @property
    def unverified(self) -> bool:
        """The quality gate ran and a critical expectation failed."""
        return self.data_quality.gate.ran and self.data_quality.gate.verified is False


# ---------------------------------------------------------------------------------------------------------
# Deltas
# ---------------------------------------------------------------------------------------------------------


def delta_unit(kind: Kind) -> DeltaUnit:
    """How a figure of this kind is compared: shares in percentage points, NPS in points, net follows as a
    difference, everything else (counts, amounts, durations, rates) in percent."""
    if kind == "share":
        return "pp"
    if kind == "score":
        return "pts"
    if kind == "signed":
        return "diff"
    return "pct"


def delta(value: Number | None, base: Number | None, unit: DeltaUnit) -> float | None:
    """The change from ``base`` to ``value`` in ``unit``; None when either is null, or a percent of 0."""
    if value is None or base is None:
        return None
    if unit == "pct":
        return None if base == 0 else 100.0 * (value - base) / abs(base)
    if unit == "pp":
        return 100.0 * (value - base)
    return float(value - base)


# ---------------------------------------------------------------------------------------------------------
# Reading the warehouse
# ---------------------------------------------------------------------------------------------------------


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
    relation = con.execute(sql, list(params) if params is not None else None)
    columns = [d[0] for d in relation.description or []]
    return [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {str(r[0]) for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position", [table]
    ).fetchall()
    return [str(r[0]) for r in rows]


def _utc(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise ReportError(f"expected a timestamp, got {value!r}")
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _number(value: Any) -> Number | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number


def _opt_float(value: Any) -> float | None:
    number = _number(value)
    return None if number is None else float(number)


def _ratio(numerator: Number, denominator: Number) -> float | None:
    return None if denominator == 0 else numerator / denominator


def _headline_history(con: duckdb.DuckDBPyConnection, day: date) -> dict[date, dict[str, Any]]:
    rows = _rows(
        con, "SELECT * FROM agg_daily_headline WHERE day BETWEEN ? AND ? ORDER BY day", [day - timedelta(days=28), day]
    )
    return {row["day"]: row for row in rows}


@dataclass(frozen=True)
class Baselines:
    """What the comparison rule (reports.baseline) needs to know of the warehouse's days."""

    built: frozenset[date]
    with_data: frozenset[date]
    first_day: date | None

    def gap(self, key: str, day: date, base: date) -> Gap | None:
        return baseline_gap(key, day, base, self.built, self.with_data, self.first_day)


def _baselines(con: duckdb.DuckDBPyConnection) -> Baselines:
    rows = con.execute("SELECT day, events FROM build_days ORDER BY day").fetchall()
    with_data = [d for d, events in rows if events]
    return Baselines(frozenset(d for d, _ in rows), frozenset(with_data), with_data[0] if with_data else None)


def _compare(
    key: str, value: Number | None, row: Mapping[str, Any], gap: Gap | None, unit: DeltaUnit
) -> tuple[Number | None, float | None]:
    """The base value and the delta against it; both None when the day is not a full baseline."""
    if gap is not None:
        return None, None
    base = _number(row.get(key))
    return base, delta(value, base, unit)


def _noise(
    key: str,
    change: float | None,
    unit: DeltaUnit,
    now: Sample | None,
    base: Sample | None,
    counts: tuple[Number | None, Number | None] | None = None,
) -> bool:
    """A move too small a sample cannot support: a survey figure's within its sampling noise, or a count's
    when either day counted fewer than ``MIN_COUNT`` (8 -> 13 is +62 %, and says little). False otherwise."""
    if change is None or change == 0:
        return False
    if counts is not None:
        return any(c is None or c < MIN_COUNT for c in counts)
    if key not in SURVEYS:
        return False
    size = change / 100.0 if unit == "pp" else change  # CSAT deltas are in pp, the test in share
    return not supported(SURVEYS[key], size, now, base)


def _figures(
    day: date,
    rows: Mapping[date, Mapping[str, Any]],
    anomalies: Sequence[Anomaly],
    baselines: Baselines,
    samples: Mapping[tuple[str, date], Sample],
) -> dict[str, Figure]:
    today = rows[day]
    yesterday, week_ago = day - timedelta(days=1), day - timedelta(days=7)
    previous, last_week = rows.get(yesterday, {}), rows.get(week_ago, {})
    flags = {a.metric: a for a in anomalies}
    figures = {}
    for key in NUMERIC_KEYS:
        spec = METRICS[key]
        unit = delta_unit(spec.kind)
        value = _number(today[key])
        gap_p, gap_w = baselines.gap(key, day, yesterday), baselines.gap(key, day, week_ago)
        before, vs_previous = _compare(key, value, previous, gap_p, unit)
        week, vs_last_week = _compare(key, value, last_week, gap_w, unit)
        survey = SURVEYS.get(key)
        now = samples.get((survey, day)) if survey else None
        figures[key] = Figure(
            key,
            spec.kind,
            spec.better,
            value,
            before,
            week,
            vs_previous,
            vs_last_week,
            unit,
            flags.get(key),
            gap_previous=gap_p,
            gap_last_week=gap_w,
            sample=(now.n if now else 0) if survey else None,
            noise_previous=_noise(
                key,
                vs_previous,
                unit,
                now,
                samples.get((survey, yesterday)) if survey else None,
                (value, before) if spec.kind == "count" else None,
            ),
            noise_last_week=_noise(
                key,
                vs_last_week,
                unit,
                now,
                samples.get((survey, week_ago)) if survey else None,
                (value, week) if spec.kind == "count" else None,
            ),
        )
    return figures


def _survey_samples(con: duckdb.DuckDBPyConnection, day: date, tz: ZoneInfo) -> dict[tuple[str, date], Sample]:
    """Feedback responses by survey and local day, D-7 .. D (the days the report compares D with).

    Counted from ``raw_engagement_events`` as the engagement mart counts them (one event is one response,
    its local day by ``event_time``); no table or no survey columns: no samples.
    """
    start = datetime.combine(day - timedelta(days=7), time(), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tz).astimezone(UTC)
    try:
        rows = con.execute(
            """
            SELECT survey, CAST(timezone(?, event_time) AS DATE) AS day, count(*) AS n,
                   count(*) FILTER (WHERE (survey = 'csat' AND score >= 4) OR (survey = 'nps' AND score >= 9)),
                   count(*) FILTER (WHERE (survey = 'csat' AND score < 4) OR (survey = 'nps' AND score <= 6))
            FROM raw_engagement_events
            WHERE event_type = 'feedback' AND event_time >= ? AND event_time < ? AND survey IS NOT NULL
            GROUP BY ALL
            """,
            [tz.key, start, end],
        ).fetchall()
    except duckdb.Error as exc:  # a raw schema without surveys: no sample sizes, the figures still show
        log.warning("could not count survey responses: %s", exc)
        return {}
    return {(str(s), d): Sample(int(n), int(good), int(bad)) for s, d, n, good, bad in rows}


def _anomaly_history(
    day: date, previous: Mapping[date, Mapping[str, Number | None]], baselines: Baselines
) -> dict[date, dict[str, Number | None]]:
    """The previous days the anomaly rule may use: days with data that are a full baseline, per figure."""
    return {
        d: {k: (v if baselines.gap(k, day, d) is None else None) for k, v in row.items()}
        for d, row in previous.items()
        if d in baselines.with_data and d != baselines.first_day
    }


def _retention(con: duckdb.DuckDBPyConnection, day: date, headline: Mapping[str, Any]) -> Retention:
    rows = _rows(
        con,
        "SELECT cohort_date, size, d1, d7, d30 FROM agg_retention_cohorts "
        "WHERE as_of_day = ? AND days_since_cohort < ? ORDER BY cohort_date",
        [day, COHORTS],
    )
    cohorts = tuple(
        Cohort(r["cohort_date"], int(r["size"]), _opt_float(r["d1"]), _opt_float(r["d7"]), _opt_float(r["d30"]))
        for r in rows
    )
    return Retention(
        _opt_float(headline["retention_d1"]),
        _opt_float(headline["retention_d7"]),
        _opt_float(headline["retention_d30"]),
        cohorts,
    )


def _curve(con: duckdb.DuckDBPyConnection, day: date, tz: ZoneInfo, pcu: int, pcu_at: datetime) -> ConcurrencyCurve:
    # D 00:00 local; where midnight does not exist (a DST gap) this is the first instant that does, where it
    # occurs twice the earlier one (fold=0), as transforms.days defines a day.
    day_start = datetime.combine(day, time(), tz).astimezone(UTC).astimezone(tz)
    rows = con.execute(
        "SELECT minute, concurrent FROM fct_minute_concurrency WHERE day = ? ORDER BY minute", [day]
    ).fetchall()
    points = tuple((round((_utc(m) - day_start).total_seconds() / 60), int(c)) for m, c in rows)
    return ConcurrencyCurve(day_start, points, pcu, pcu_at)


def _splits(con: duckdb.DuckDBPyConnection, table: str, column: str, day: date) -> tuple[Split, ...]:
    rows = con.execute(
        f"SELECT {column}, sessions, unique_viewers FROM {table} WHERE day = ? ORDER BY sessions DESC, {column}", [day]
    ).fetchall()
    return tuple(Split(str(v), int(s), int(u)) for v, s, u in rows)


def _categories(con: duckdb.DuckDBPyConnection, day: date) -> tuple[CategoryRow, ...]:
    rows = _rows(
        con,
        "SELECT category, hours_broadcast, hours_watched, streams_live, viewer_ratio FROM agg_daily_category "
        "WHERE day = ? ORDER BY hours_watched DESC, category",
        [day],
    )
    return tuple(
        CategoryRow(
            str(r["category"]),
            float(r["hours_broadcast"]),
            float(r["hours_watched"]),
            int(r["streams_live"]),
            _opt_float(r["viewer_ratio"]),
        )
        for r in rows
    )


def _top_channels(con: duckdb.DuckDBPyConnection, day: date) -> tuple[ChannelRow, ...]:
    rows = _rows(
        con,
        "SELECT channel_id, hours_watched, hours_broadcast, avg_viewers, peak_viewers, follows, unfollows, net_follows "
        "FROM agg_daily_channel WHERE day = ? ORDER BY hours_watched DESC, channel_id LIMIT ?",
        [day, TOP_N],
    )
    return tuple(
        ChannelRow(
            str(r["channel_id"]),
            float(r["hours_watched"]),
            float(r["hours_broadcast"]),
            _opt_float(r["avg_viewers"]),
            int(r["peak_viewers"]),
            int(r["follows"]),
            int(r["unfollows"]),
            int(r["net_follows"]),
        )
        for r in rows
    )


def _top_streams(con: duckdb.DuckDBPyConnection, day: date) -> tuple[StreamRow, ...]:
    # The title comes from the stream's first stream_start (the marts do not keep free text).
    rows = _rows(
        con,
        """
        WITH top AS (
            SELECT stream_id, channel_id, hours_watched, hours_broadcast, avg_viewers, peak_viewers
            FROM agg_daily_stream WHERE day = ? ORDER BY hours_watched DESC, stream_id LIMIT ?
        ), titles AS (
            SELECT stream_id, arg_min(title, (event_time, event_id)) AS title
            FROM raw_stream_events
            WHERE event_type = 'stream_start' AND stream_id IN (SELECT stream_id FROM top)
            GROUP BY stream_id
        )
        SELECT top.*, titles.title FROM top LEFT JOIN titles USING (stream_id)
        ORDER BY hours_watched DESC, stream_id
        """,
        [day, TOP_N],
    )
    return tuple(
        StreamRow(
            str(r["stream_id"]),
            r["channel_id"],
            r["title"],
            float(r["hours_watched"]),
            float(r["hours_broadcast"]),
            _opt_float(r["avg_viewers"]),
            int(r["peak_viewers"]),
        )
        for r in rows
    )


def _campaigns(con: duckdb.DuckDBPyConnection, day: date) -> tuple[CampaignRow, ...]:
    rows = _rows(
        con,
        "SELECT campaign_id, channel, impressions, clicks, ctr, spend, attributed_signups, cvr, cpa, "
        "attributed_revenue_cents, roas FROM agg_daily_campaign WHERE day = ? ORDER BY campaign_id, channel",
        [day],
    )
    return tuple(
        CampaignRow(
            str(r["campaign_id"]),
            str(r["channel"]),
            int(r["impressions"]),
            int(r["clicks"]),
            _opt_float(r["ctr"]),
            float(r["spend"]),
            int(r["attributed_signups"]),
            _opt_float(r["cvr"]),
            _opt_float(r["cpa"]),
            int(r["attributed_revenue_cents"]),
            _opt_float(r["roas"]),
        )
        for r in rows
    )


def _campaign_totals(headline: Mapping[str, Any]) -> CampaignTotals:
    impressions, clicks = int(headline["impressions"]), int(headline["clicks"])
    spend, signups = float(headline["spend"]), int(headline["attributed_signups"])
    revenue = int(headline["attributed_revenue_cents"])
    return CampaignTotals(
        impressions,
        clicks,
        _ratio(clicks, impressions),
        spend,
        signups,
        int(headline["organic_signups"]),
        _ratio(signups, clicks),
        _ratio(spend, signups),
        revenue,
        _ratio(revenue / 100, spend),
    )


def _pairs(
    con: duckdb.DuckDBPyConnection, table: str, column: str, value: str, day: date
) -> tuple[tuple[str, int], ...]:
    rows = con.execute(f"SELECT {column}, {value} FROM {table} WHERE day = ? ORDER BY {value} DESC, {column}", [day])
    return tuple((str(k), int(v)) for k, v in rows.fetchall())


def read_quality_gate(con: duckdb.DuckDBPyConnection, day: date) -> QualityGate:
    """The quality gate's verdict on ``day`` (migration 5: ``day_status``, ``quality_runs``, ``quality_results``).

    The verdict is that of the day's latest run: ``day_status`` names it (``status`` verified / unverified);
    without that table, the latest ``quality_runs`` row of the day (by ``finished_at``) and its ``verified``.
    Its failed ``quality_results`` say what failed. Without the tables (a warehouse older than the gate) or
    without a run for the day, the gate "did not run".
    """
    tables = _tables(con)
    if "quality_results" not in tables:
        return QualityGate()
    try:
        if "day_status" in tables:
            runs = _rows(con, "SELECT run_id, status = 'verified' AS verified FROM day_status WHERE day = ?", [day])
        elif "quality_runs" in tables:
            runs = _rows(
                con,
                "SELECT run_id, verified FROM quality_runs WHERE day = ? ORDER BY finished_at DESC, run_id LIMIT 1",
                [day],
            )
        else:
            return QualityGate()
        if not runs:
            return QualityGate()
        failed = _rows(
            con,
            "SELECT suite, expectation, severity, details FROM quality_results WHERE run_id = ? AND NOT success "
            "ORDER BY severity != 'critical', suite, expectation",
            [runs[0]["run_id"]],
        )
    except duckdb.Error as exc:  # a gate schema this code does not know: say so, do not fail the report
        log.warning("could not read the quality gate's tables: %s", exc)
        return QualityGate()
    failures = tuple(
        QualityFailure(str(r["suite"]), str(r["expectation"]), str(r["severity"]), str(r["details"] or ""))
        for r in failed
    )
    critical = sum(1 for f in failures if f.severity == "critical")
    return QualityGate(True, bool(runs[0]["verified"]), len(failures), critical, failures)


def _data_quality(con: duckdb.DuckDBPyConnection, build: Mapping[str, Any], gate: QualityGate) -> DataQuality:
    totals = con.execute(
        "SELECT coalesce(sum(messages), 0), coalesce(sum(duplicates), 0), coalesce(sum(quarantined), 0) "
        "FROM ingest_batches"
    ).fetchall()[0]
    by_reason = con.execute("SELECT reason, count(*) FROM quarantine GROUP BY reason ORDER BY reason").fetchall()
    return DataQuality(
        ingested=int(totals[0]),
        duplicates_dropped=int(totals[1]),
        quarantined=int(totals[2]),
        quarantined_by_reason=tuple((str(r), int(n)) for r, n in by_reason),
        events=int(build["events"]),
        late_events=int(build["late_events"]),
        future_events=int(build.get("future_events") or 0),
        gate=gate,
    )


def _raw_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The raw event tables the warehouse holds (one per event family)."""
    return sorted(t for t in _tables(con) if t.startswith("raw_") and t.endswith("_events"))


def _has_events(con: duckdb.DuckDBPyConnection, day: date, tz: ZoneInfo) -> bool:
    """Any valid event stamped on ``day`` (a local day of ``tz``), built or not.

    Tells "nothing happened that day" (no report to make) from "not built yet" (run the build).
    """
    start = datetime.combine(day, time(), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tz).astimezone(UTC)
    for table in _raw_tables(con):
        hit = con.execute(f"SELECT 1 FROM {table} WHERE event_time >= ? AND event_time < ? LIMIT 1", [start, end])
        if hit.fetchone() is not None:
            return True
    return False


def _event_span(con: duckdb.DuckDBPyConnection, tz: ZoneInfo) -> str:
    """`` (events from 2026-10-31 to 2026-11-09)``: the local days of the first and last event ('' if none)."""
    tables = _raw_tables(con)
    if not tables:
        return " (the warehouse holds no events yet)"
    union = " UNION ALL ".join(f"SELECT min(event_time) AS lo, max(event_time) AS hi FROM {t}" for t in tables)
    lo, hi = con.execute(f"SELECT min(lo), max(hi) FROM ({union})").fetchall()[0]
    if lo is None:
        return " (the warehouse holds no events yet)"
    return f" (events from {_utc(lo).astimezone(tz).date()} to {_utc(hi).astimezone(tz).date()})"


def complete_days(con: duckdb.DuckDBPyConnection) -> list[date]:
    """The built days that were complete when built (their late events are in), ascending."""
    if "build_days" not in _tables(con):
        return []
    return [r[0] for r in con.execute("SELECT day FROM build_days WHERE complete ORDER BY day").fetchall()]


def built_days(con: duckdb.DuckDBPyConnection) -> list[date]:
    """The days the marts hold (``build_days``), ascending."""
    if "build_days" not in _tables(con):
        return []
    return [r[0] for r in con.execute("SELECT day FROM build_days ORDER BY day").fetchall()]


def read_report(
    con: duckdb.DuckDBPyConnection,
    day: date,
    timezone: str,
    data_docs: str | None = None,
    currency: str = "CNY",
) -> Report:
    """Read the report of ``day`` from the marts.

    Args:
        con: the warehouse (attached read-only is enough).
        day: the report day D, a calendar day of ``timezone``.
        timezone: the report time zone (IANA); must be the one the marts were built with.
        data_docs: link to the quality gate's Data Docs relative to the report's folder, when they exist.
        currency: ISO 4217 code of the amounts (the ``currency`` setting).

    Returns:
        The report model.

    Raises:
        ReportError: the warehouse has no marts, D has no events at all, or D was never built.
    """
    tz = ZoneInfo(timezone)
    if "agg_daily_headline" not in _tables(con):
        raise ReportError("the warehouse has no marts yet: run `liveops build` first")
    build_rows = _rows(con, "SELECT * FROM build_days WHERE day = ?", [day])
    history_rows = _headline_history(con, day)
    if (not build_rows or not build_rows[0]["events"]) and not _has_events(con, day, tz):
        raise ReportError(f"there are no events for {day}{_event_span(con, tz)}: nothing to report for that day")
    if not build_rows or day not in history_rows:
        days = built_days(con)
        span = f" (built: {days[0]} .. {days[-1]})" if days else " (no day is built yet)"
        raise ReportError(f"{day} has not been built{span}: run `liveops build` (or `--from {day} --to {day}`)")
    build = build_rows[0]
    headline = history_rows[day]

    previous = {d: {k: _number(row[k]) for k in NUMERIC_KEYS} for d, row in history_rows.items() if d < day}
    baselines = _baselines(con)
    # A figure whose own trailing window is short on D is not checked (its median would be of shorter windows).
    today = {k: (None if window_gap(k, day, baselines.first_day) else _number(headline[k])) for k in NUMERIC_KEYS}
    usable = _anomaly_history(day, previous, baselines)
    anomalies = tuple(detect_anomalies(day, today, usable, NUMERIC_KEYS))
    gate = read_quality_gate(con, day)
    if data_docs is not None:
        gate = QualityGate(gate.ran, gate.verified, gate.failed, gate.critical, gate.failures, data_docs)
    pcu_at = _utc(headline["pcu_at"]).astimezone(tz)
    return Report(
        day=day,
        timezone=timezone,
        complete=bool(build["complete"]),
        watermark=_utc(build["watermark"]),
        built_at=_utc(build["built_at"]),
        figures=_figures(day, history_rows, anomalies, baselines, _survey_samples(con, day, tz)),
        pcu_at=pcu_at,
        retention=_retention(con, day, headline),
        curve=_curve(con, day, tz, int(headline["pcu"]), pcu_at),
        sources=_splits(con, "agg_daily_source", "source", day),
        devices=_splits(con, "agg_daily_device", "device", day),
        countries=_splits(con, "agg_daily_country", "country", day),
        categories=_categories(con, day),
        top_channels=_top_channels(con, day),
        top_streams=_top_streams(con, day),
        campaigns=_campaigns(con, day),
        campaign_totals=_campaign_totals(headline),
        attributed_revenue_cents=int(headline["attributed_revenue_cents"]),
        shares_by_target=_pairs(con, "agg_daily_shares_by_target", "target", "shares", day),
        reports_by_reason=_pairs(con, "agg_daily_reports_by_reason", "reason", "reports", day),
        data_quality=_data_quality(con, build, gate),
        history=previous,
        anomalies=anomalies,
        anomaly_days=sum(1 for d in usable if day - timedelta(days=WINDOW_DAYS) <= d < day),
        plan=read_plan_section(con, day),
        currency=currency,
    )
