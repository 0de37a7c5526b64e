"""summary.json key for key against docs/metrics.md, and its values against the marts of a built warehouse."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from reports.model import ReportError, read_quality_gate, read_report
from reports.summary import build_summary, dumps_summary
from tests.conftest import copy_lake
from tests.reports.warehouse import REPORT_DAY, add_quality_run
from warehouse.lake import LakeConfig, open_lake

# Written from docs/metrics.md, "summary.json, the machine-readable daily summary", in its order.
TOP_LEVEL = [
    "date", "timezone", "complete", "verified", "watermark", "generated_at", "headline", "retention", "categories",
    "top_channels", "campaigns", "sources", "data_quality", "anomalies", "plan_version", "plan",
]  # fmt: skip


def _documented_headline() -> list[str]:
    """The headline keys as docs/metrics.md lists them, in its order (the `headline` item of summary.json)."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text(encoding="utf-8")
    item = re.search(r"^- `headline`:(.*?)(?=^- `)", text, re.S | re.M)
    assert item, "docs/metrics.md lists no `headline` keys"
    return re.findall(r"`(\w+)`", item.group(1))


# Checked against the docs, not a copy here: the registry, the summary and the docs must agree.
HEADLINE = _documented_headline()
RETENTION = ["d1", "d7", "d30", "cohorts"]
COHORT = ["cohort_date", "size", "d1", "d7", "d30"]
CATEGORY = ["category", "hours_broadcast", "hours_watched", "streams_live", "viewer_ratio"]
CHANNEL = ["channel_id", "hours_watched", "avg_viewers", "peak_viewers", "net_follows"]
CAMPAIGN = [
    "campaign_id", "channel", "impressions", "clicks", "ctr", "spend", "attributed_signups", "cvr", "cpa",
    "attributed_revenue_cents", "roas",
]  # fmt: skip
SOURCE = ["source", "sessions", "unique_viewers"]
DATA_QUALITY = ["ingested", "duplicates_dropped", "quarantined", "quarantined_by_reason", "late_events", "future_events",
                "expectations_failed"]  # fmt: skip
ANOMALY = ["metric", "value", "median", "direction"]
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
GENERATED = datetime(2026, 11, 9, 6, 30, tzinfo=UTC)


def rows(con: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> list[dict[str, Any]]:
    relation = con.execute(sql, list(params))
    names = [d[0] for d in relation.description or []]
    return [dict(zip(names, r, strict=True)) for r in relation.fetchall()]


@pytest.fixture
def summary(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    return build_summary(read_report(con, REPORT_DAY, "UTC"), GENERATED)


def test_keys_are_exactly_those_of_metrics_md(summary: dict[str, Any]) -> None:
    assert list(summary) == TOP_LEVEL
    assert list(summary["headline"]) == HEADLINE
    assert list(summary["retention"]) == RETENTION
    assert summary["retention"]["cohorts"] and all(list(c) == COHORT for c in summary["retention"]["cohorts"])
    assert summary["categories"] and all(list(c) == CATEGORY for c in summary["categories"])
    assert summary["top_channels"] and all(list(c) == CHANNEL for c in summary["top_channels"])
    assert summary["campaigns"] and all(list(c) == CAMPAIGN for c in summary["campaigns"])
    assert summary["sources"] and all(list(s) == SOURCE for s in summary["sources"])
    assert list(summary["data_quality"]) == DATA_QUALITY
    assert summary["anomalies"] and all(list(a) == ANOMALY for a in summary["anomalies"])


def test_top_level_values(summary: dict[str, Any], con: duckdb.DuckDBPyConnection) -> None:
    (build,) = rows(con, "SELECT * FROM build_days WHERE day = ?", REPORT_DAY)
    assert summary["date"] == "2026-11-08" and summary["timezone"] == "UTC"
    assert summary["complete"] is build["complete"] is True
    assert summary["verified"] is None  # no quality run of the day: neither passed nor failed
    assert RFC3339.match(summary["watermark"]) and RFC3339.match(summary["generated_at"])
    assert datetime.fromisoformat(summary["watermark"]) == build["watermark"]
    assert summary["generated_at"] == "2026-11-09T06:30:00Z"


def test_headline_equals_the_mart(summary: dict[str, Any], con: duckdb.DuckDBPyConnection) -> None:
    (mart,) = rows(con, "SELECT * FROM agg_daily_headline WHERE day = ?", REPORT_DAY)
    for key in HEADLINE:
        if key == "pcu_at":
            assert RFC3339.match(summary["headline"][key])
            assert datetime.fromisoformat(summary["headline"][key]) == mart[key]
        else:
            # Exactly the mart's value and type: nothing is rounded, counts stay integers.
            assert summary["headline"][key] == mart[key] and type(summary["headline"][key]) is type(mart[key]), key


def test_retention_equals_the_marts(summary: dict[str, Any], con: duckdb.DuckDBPyConnection) -> None:
    (mart,) = rows(con, "SELECT * FROM agg_daily_headline WHERE day = ?", REPORT_DAY)
    retention = summary["retention"]
    assert [retention["d1"], retention["d7"], retention["d30"]] == [
        mart["retention_d1"], mart["retention_d7"], mart["retention_d30"]
    ]  # fmt: skip
    assert retention["d1"] is not None and retention["d30"] is None  # cohort R-30 precedes the data: empty
    cohorts = rows(
        con,
        "SELECT cohort_date, size, d1, d7, d30 FROM agg_retention_cohorts WHERE as_of_day = ? "
        "AND cohort_date > ? - INTERVAL 30 DAY ORDER BY cohort_date",
        REPORT_DAY,
        REPORT_DAY,
    )
    assert len(cohorts) == 30
    assert retention["cohorts"] == [{**c, "cohort_date": c["cohort_date"].isoformat()} for c in cohorts]


def test_breakdowns_equal_the_marts(summary: dict[str, Any], con: duckdb.DuckDBPyConnection) -> None:
    categories = rows(con, f"SELECT {', '.join(CATEGORY)} FROM agg_daily_category WHERE day = ?", REPORT_DAY)
    assert summary["categories"] == sorted(categories, key=lambda c: (-c["hours_watched"], c["category"]))
    channels = rows(con, f"SELECT {', '.join(CHANNEL)} FROM agg_daily_channel WHERE day = ?", REPORT_DAY)
    assert summary["top_channels"] == sorted(channels, key=lambda c: (-c["hours_watched"], c["channel_id"]))[:10]
    campaigns = rows(con, f"SELECT {', '.join(CAMPAIGN)} FROM agg_daily_campaign WHERE day = ?", REPORT_DAY)
    assert summary["campaigns"] == sorted(campaigns, key=lambda c: (c["campaign_id"], c["channel"]))
    sources = rows(con, "SELECT source, sessions, unique_viewers FROM agg_daily_source WHERE day = ?", REPORT_DAY)
    assert summary["sources"] == sorted(sources, key=lambda s: (-s["sessions"], s["source"]))


def test_a_zero_denominator_is_null(summary: dict[str, Any]) -> None:
    without_signups = [c for c in summary["campaigns"] if c["attributed_signups"] == 0]
    assert without_signups and all(c["cpa"] is None for c in without_signups)
    empty_cohorts = [c for c in summary["retention"]["cohorts"] if c["size"] == 0]
    assert empty_cohorts and all(c["d1"] is c["d7"] is c["d30"] is None for c in empty_cohorts)


def test_data_quality_totals(summary: dict[str, Any], con: duckdb.DuckDBPyConnection) -> None:
    (ledger,) = rows(
        con, "SELECT sum(messages)::BIGINT AS m, sum(duplicates)::BIGINT AS d, count(*) AS batches FROM ingest_batches"
    )
    quarantine = dict(con.execute("SELECT reason, count(*) FROM quarantine GROUP BY reason").fetchall())
    (build,) = rows(con, "SELECT late_events FROM build_days WHERE day = ?", REPORT_DAY)
    dq = summary["data_quality"]
    assert dq["ingested"] == ledger["m"] > 0 and dq["duplicates_dropped"] == ledger["d"] > 0
    assert dq["quarantined"] == sum(quarantine.values()) > 0
    assert dq["quarantined_by_reason"] == quarantine and list(dq["quarantined_by_reason"]) == sorted(quarantine)
    assert dq["late_events"] == build["late_events"] > 0
    assert dq["expectations_failed"] is None  # no quality gate in this warehouse


def test_anomalies_name_figure_value_median_direction(summary: dict[str, Any]) -> None:
    # The hostile stream's 40 extra viewers on the report day push DAU far above the previous week's median.
    by_metric = {a["metric"]: a for a in summary["anomalies"]}
    assert by_metric["dau"]["value"] == summary["headline"]["dau"] and by_metric["dau"]["direction"] == "up"
    assert by_metric["dau"]["median"] < by_metric["dau"]["value"]
    assert [a["metric"] for a in summary["anomalies"]] == [k for k in HEADLINE if k in by_metric]


def test_the_text_is_plain_json_with_unrounded_numbers(summary: dict[str, Any]) -> None:
    text = dumps_summary(summary)
    assert json.loads(text) == summary and text.endswith("}\n")
    assert "NaN" not in text and "Infinity" not in text
    assert str(summary["headline"]["hours_watched"]) in text  # full precision


def test_a_day_never_built_is_refused(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ReportError, match=r"^there are no events for 2026-12-25 \(events from 2026-10-31 to 2026-11-09\): "
                       r"nothing to report for that day$"):  # fmt: skip
        read_report(con, date(2026, 12, 25), "UTC")


def test_a_day_with_events_not_yet_built_says_run_build(report_warehouse: LakeConfig, tmp_path: Path) -> None:
    copy = copy_lake(report_warehouse, tmp_path / "unbuilt")
    with open_lake(copy) as unbuilt:
        unbuilt.execute("DELETE FROM build_days WHERE day = '2026-11-09'")
        with pytest.raises(
            ReportError, match=r"2026-11-09 has not been built \(built: 2026-10-31 \.\. 2026-11-08\): run"
        ):
            read_report(unbuilt, date(2026, 11, 9), "UTC")


def test_the_quality_gate_verdict_comes_from_its_tables(report_warehouse: LakeConfig, tmp_path: Path) -> None:
    copy = copy_lake(report_warehouse, tmp_path)
    with open_lake(copy) as gated:
        assert read_quality_gate(gated, REPORT_DAY).ran is False  # the tables exist, no run yet
        add_quality_run(gated, "old", "2026-11-09 01:00:00+00", verified=True, failures=[])
        passed = build_summary(read_report(gated, REPORT_DAY, "UTC"), GENERATED)
        assert passed["verified"] is True and passed["data_quality"]["expectations_failed"] == 0
        add_quality_run(
            gated, "new", "2026-11-09 02:00:00+00", verified=False,
            failures=[("volume", "spike", "warning"), ("marts", "key <b>unique</b>", "critical")],
        )  # fmt: skip
        gate = read_quality_gate(gated, REPORT_DAY)
        assert (gate.ran, gate.verified, gate.failed, gate.critical) == (True, False, 2, 1)
        assert [f.expectation for f in gate.failures] == ["key <b>unique</b>", "spike"]  # critical first
        report = read_report(gated, REPORT_DAY, "UTC")
        assert report.unverified
        failed = build_summary(report, GENERATED)
        assert failed["verified"] is False and failed["data_quality"]["expectations_failed"] == 2
        assert read_quality_gate(gated, date(2026, 11, 7)).ran is False  # no run that day
