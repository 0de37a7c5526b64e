"""``summary.json``: the machine-readable daily summary, key for key as docs/metrics.md's last section says.

Top-level keys, in this order: ``date``, ``timezone``, ``complete``, ``verified``, ``watermark``, ``generated_at``,
``headline``, ``retention``, ``categories``, ``top_channels``, ``campaigns``, ``sources``, ``data_quality``,
``anomalies``. Numbers are not rounded (hours and currency included); a ratio with a zero denominator is
null; instants are RFC 3339 in UTC (``2026-11-08T20:15:00Z``). Lists have a fixed order (below), so the
same warehouse gives the same file apart from ``generated_at``.

Orders: ``retention.cohorts`` oldest first; ``categories`` and ``top_channels`` by hours watched
(descending), then name; ``campaigns`` by ``campaign_id``, ``channel``; ``sources`` by sessions
(descending), then name; ``quarantined_by_reason`` by reason; ``anomalies`` in headline order.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from reports.model import Report
from schemas.marts import HEADLINE_KEYS

SUMMARY_KEYS = (
    "date",
    "timezone",
    "complete",
    "verified",
    "watermark",
    "generated_at",
    "headline",
    "retention",
    "categories",
    "top_channels",
    "campaigns",
    "sources",
    "data_quality",
    "anomalies",
)


def rfc3339(instant: datetime) -> str:
    """An aware instant as RFC 3339 in UTC: ``2026-11-08T20:15:00Z`` (fractional seconds only when non-zero)."""
    utc = instant.astimezone(UTC)
    spec = "seconds" if utc.microsecond == 0 else "microseconds"
    return utc.isoformat(timespec=spec).replace("+00:00", "Z")


def verified(report: Report) -> bool | None:
    """Whether D passed the quality gate: true or false after a quality run of D, null when none exists.

    A reader of the JSON alone must be able to tell "checked and failed" from "never checked"; the count of
    failed expectations cannot say that (0 failures of an unrun gate would read as a pass).
    """
    gate = report.data_quality.gate
    return bool(gate.verified) if gate.ran else None


def build_summary(report: Report, generated_at: datetime) -> dict[str, Any]:
    """The summary of ``report`` as a JSON-ready dict, keys in docs/metrics.md's order.

    Args:
        report: the report model.
        generated_at: when the report is generated (aware).
    """
    headline: dict[str, Any] = {}
    for key in HEADLINE_KEYS:
        headline[key] = rfc3339(report.pcu_at) if key == "pcu_at" else report.value(key)
    retention = report.retention
    dq = report.data_quality
    return {
        "date": report.day.isoformat(),
        "timezone": report.timezone,
        "complete": report.complete,
        "verified": verified(report),
        "watermark": rfc3339(report.watermark),
        "generated_at": rfc3339(generated_at),
        "headline": headline,
        "retention": {
            "d1": retention.d1,
            "d7": retention.d7,
            "d30": retention.d30,
            "cohorts": [
                {"cohort_date": c.cohort_date.isoformat(), "size": c.size, "d1": c.d1, "d7": c.d7, "d30": c.d30}
                for c in retention.cohorts
            ],
        },
        "categories": [
            {
                "category": c.category,
                "hours_broadcast": c.hours_broadcast,
                "hours_watched": c.hours_watched,
                "streams_live": c.streams_live,
                "viewer_ratio": c.viewer_ratio,
            }
            for c in report.categories
        ],
        "top_channels": [
            {
                "channel_id": c.channel_id,
                "hours_watched": c.hours_watched,
                "avg_viewers": c.avg_viewers,
                "peak_viewers": c.peak_viewers,
                "net_follows": c.net_follows,
            }
            for c in report.top_channels
        ],
        "campaigns": [
            {
                "campaign_id": c.campaign_id,
                "channel": c.channel,
                "impressions": c.impressions,
                "clicks": c.clicks,
                "ctr": c.ctr,
                "spend": c.spend,
                "attributed_signups": c.attributed_signups,
                "cvr": c.cvr,
                "cpa": c.cpa,
                "attributed_revenue_cents": c.attributed_revenue_cents,
                "roas": c.roas,
            }
            for c in report.campaigns
        ],
        "sources": [
            {"source": s.value, "sessions": s.sessions, "unique_viewers": s.unique_viewers} for s in report.sources
        ],
        "data_quality": {
            "ingested": dq.ingested,
            "duplicates_dropped": dq.duplicates_dropped,
            "quarantined": dq.quarantined,
            "quarantined_by_reason": dict(dq.quarantined_by_reason),
            "late_events": dq.late_events,
            "future_events": dq.future_events,
            "expectations_failed": dq.expectations_failed,
        },
        "anomalies": [
            {"metric": a.metric, "value": a.value, "median": a.median, "direction": a.direction}
            for a in report.anomalies
        ],
        "plan_version": report.plan.version if report.plan else None,
        "plan": [
            {
                "metric": e.metric,
                "scope": e.scope,
                "period": e.period,
                "kind": e.kind,
                "direction": e.direction,
                "target": e.target,
                "to_date": e.to_date,
                "expected_to_date": e.expected_to_date,
                "attainment": e.attainment,
                "projected": e.projected,
                "projected_linear": e.projected_linear,
                "projected_weekday": e.projected_weekday,
                "projected_variance": e.projected_variance,
                "status": e.status,
                "line": e.line,
            }
            for e in (report.plan.entries if report.plan else ())
        ],
    }


def dumps_summary(summary: dict[str, Any]) -> str:
    """The summary as text: UTF-8 JSON, two-space indent, keys in insertion order, a final newline."""
    return json.dumps(summary, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
