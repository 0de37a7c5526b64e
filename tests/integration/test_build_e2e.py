"""End to end against the real broker: simulated traffic -> Kafka -> ingest -> marts build -> analyst queries.

The marts are checked against figures computed independently, in plain DuckDB SQL over the raw tables,
straight from the definitions of docs/metrics.md (UTC days, the settings' default).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from config.settings import Settings
from flows.build import build_marts_flow, run_build
from flows.ingest import ingest_once
from liveops.marts_cmd import build, query
from streams.broker import create_topics
from streams.producer import produce
from streams.simulator import SimConfig, simulate
from tests.conftest import lake_env
from warehouse.lake import LakeConfig, current_snapshot, open_lake

pytestmark = pytest.mark.kafka

# About 4,500 valid events over three days, with duplicates, late and malformed messages.
SIMULATION = SimConfig(days=3, users=60, channels=5, campaigns=2, seed=23, target_events=4500)

# One query per figure, written from docs/metrics.md without the transforms. Each returns (day, value).
ALL_EVENTS = " UNION ALL ".join(
    f"SELECT event_time FROM raw_{family}_events" for family in ("viewer", "engagement", "campaign", "stream")
)
SESSIONS = """
    WITH s AS (
        SELECT session_id,
               coalesce(min(event_time) FILTER (WHERE event_type = 'session_start'), min(event_time)) AS st,
               coalesce(max(event_time) FILTER (WHERE event_type = 'session_end'), max(event_time)) AS en
        FROM raw_viewer_events GROUP BY session_id
    )
    SELECT session_id, st, greatest(st, least(en, st + INTERVAL 24 HOUR)) AS en FROM s
"""
BROADCASTS = f"""
    WITH b AS (
        SELECT stream_id,
               min(event_time) FILTER (WHERE event_type = 'stream_start') AS st,
               min(event_time) FILTER (WHERE event_type = 'stream_end') AS en
        FROM raw_stream_events GROUP BY stream_id
    )
    SELECT st, greatest(st, coalesce(en, (SELECT max(event_time) FROM ({ALL_EVENTS})))) AS en
    FROM b WHERE st IS NOT NULL
"""
DAYS = "SELECT unnest(?::DATE[]) AS day"


def overlap_hours(intervals: str) -> str:
    return f"""
        SELECT d.day, sum(epoch(least(i.en, d.day::TIMESTAMPTZ + INTERVAL 1 DAY))
                          - epoch(greatest(i.st, d.day::TIMESTAMPTZ))) / 3600
        FROM ({DAYS}) d JOIN ({intervals}) i
          ON i.st < d.day::TIMESTAMPTZ + INTERVAL 1 DAY AND i.en > d.day::TIMESTAMPTZ
        GROUP BY d.day
    """


def per_day(table: str, value: str, where: str = "true") -> str:
    return f"SELECT event_time::DATE AS day, {value} FROM {table} WHERE {where} GROUP BY day"


EXPECTED = {
    "dau": per_day(
        "(SELECT user_id, event_time FROM raw_viewer_events UNION ALL "
        "SELECT user_id, event_time FROM raw_engagement_events)",
        "count(DISTINCT user_id)",
    ),
    "unique_viewers": per_day("raw_viewer_events", "count(DISTINCT user_id)"),
    "sessions": f"SELECT st::DATE AS day, count(*) FROM ({SESSIONS}) GROUP BY day",
    "hours_watched": overlap_hours(SESSIONS),
    "chat_messages": per_day("raw_engagement_events", "count(*)", "event_type = 'chat_message'"),
    "likes": per_day("raw_engagement_events", "count(*)", "event_type = 'like'"),
    "gift_value_cents": per_day("raw_engagement_events", "sum(amount_cents)", "event_type = 'gift'"),
    "impressions": per_day("raw_campaign_events", "count(*)", "event_type = 'impression'"),
    "clicks": per_day("raw_campaign_events", "count(*)", "event_type = 'click'"),
    "spend": per_day("raw_campaign_events", "sum(cost_micros) / 1000000.0", "event_type IN ('impression', 'click')"),
    "hours_broadcast": overlap_hours(BROADCASTS),
}


def expected_figures(lake: LakeConfig, days: list[date]) -> dict[str, dict[date, Any]]:
    with open_lake(lake, read_only=True) as con:  # in UTC, as every lake connection
        figures: dict[str, dict[date, Any]] = {}
        for name, sql in EXPECTED.items():
            params = [days] if "?" in sql else None
            figures[name] = {d: v for d, v in con.sql(sql, params=params).fetchall()}
        return figures


def produce_simulation(settings: Settings) -> int:
    config = settings.kafka_client_config()
    create_topics(config, list(settings.topics.by_family().values()), 3)
    return produce(simulate(replace(SIMULATION, topics=settings.topics.by_family())), config)


def cli() -> typer.Typer:
    """The two commands as the main app registers them."""
    app = typer.Typer()
    app.command()(build)
    app.command()(query)
    return app


def env(settings: Settings) -> dict[str, str]:
    return {**lake_env(settings.lake), "LIVEOPS_REPORT_TIMEZONE": settings.report_timezone}


def test_marts_match_figures_computed_in_plain_sql(settings: Settings) -> None:
    assert produce_simulation(settings) > 4000
    assert ingest_once(settings).loaded > 4000
    result = run_build(settings)
    assert result.mode == "incremental"
    assert result.days == [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]
    assert result.complete_days == 2  # the last day is within the lateness of the watermark

    expected = expected_figures(settings.lake, result.days)
    with open_lake(settings.lake, read_only=True) as con:
        marts = {row["day"]: row for row in con.sql("SELECT * FROM v_daily_headline").pl().to_dicts()}
    assert sorted(marts) == result.days
    for name, by_day in expected.items():
        for d in result.days:
            want = by_day.get(d) or 0
            got = marts[d][name]
            if isinstance(got, float):
                assert got == pytest.approx(float(want), rel=1e-9), (name, d)
            else:
                assert got == want, (name, d)
    assert all(marts[d]["dau"] > 0 and marts[d]["hours_watched"] > 0 for d in result.days)

    # Nothing new: the next incremental build rebuilds only the incomplete day.
    assert run_build(settings).days == [date(2026, 11, 3)]


def test_query_command_reads_the_lake_read_only_and_refuses_writes(settings: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    nowhere = LakeConfig(f"sqlite:{tmp_path / 'none' / 'catalog.sqlite'}", f"{tmp_path / 'none' / 'files'}/")
    missing = runner.invoke(cli(), ["query", "SELECT 1"], env=env(settings) | lake_env(nowhere))
    assert missing.exit_code == 1 and "run `liveops ingest`" in missing.output
    assert not (tmp_path / "none").exists()  # a read-only query creates no lake

    produce_simulation(settings)
    ingest_once(settings)
    with open_lake(settings.lake, read_only=True) as con:
        before_build = current_snapshot(con)
    built = runner.invoke(
        cli(), ["build", "--no-prefect", "--from", "2026-11-02", "--to", "2026-11-02"], env=env(settings)
    )
    assert built.exit_code == 0, built.output
    assert "range build of 1 day(s) 2026-11-02" in built.output

    sql = "SELECT day, dau, hours_watched FROM v_daily_headline ORDER BY day"
    as_json = runner.invoke(cli(), ["query", sql, "--format", "json"], env=env(settings))
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.stdout)
    assert [r["day"] for r in rows] == ["2026-11-02"] and rows[0]["dau"] > 0

    as_csv = runner.invoke(cli(), ["query", sql, "-f", "csv"], env=env(settings))
    assert as_csv.stdout.splitlines()[0] == "day,dau,hours_watched"
    as_table = runner.invoke(cli(), ["query", sql], env=env(settings))
    header, rule, first = as_table.stdout.splitlines()[:3]
    assert header.split() == ["day", "dau", "hours_watched"] and set(rule) <= {"-", " "}
    assert first.startswith("2026-11-02")

    refused = runner.invoke(cli(), ["query", "DELETE FROM agg_daily_headline"], env=env(settings))
    assert refused.exit_code == 2 and "DELETE statements are refused" in refused.output
    two = runner.invoke(cli(), ["query", "SELECT 1; SELECT 2"], env=env(settings))
    assert two.exit_code == 2 and "exactly one statement" in two.output
    # A write hidden behind EXPLAIN ANALYZE passes the first check; DuckDB's read-only connection refuses it.
    hidden = runner.invoke(
        cli(), ["query", "EXPLAIN ANALYZE INSERT INTO build_days SELECT * FROM build_days"], env=env(settings)
    )
    assert hidden.exit_code == 2 and "read-only" in hidden.output
    unknown = runner.invoke(cli(), ["query", "SELECT * FROM no_such_view"], env=env(settings))
    assert unknown.exit_code == 1 and "SHOW TABLES" in unknown.output
    with open_lake(settings.lake, read_only=True) as con:
        assert con.sql("SELECT count(*) FROM build_days").fetchall() == [(1,)]

    # Time travel: the lake as it was before the build has no marts; the latest snapshot has the day's.
    count = "SELECT count(*) AS n FROM agg_daily_headline"
    then = runner.invoke(cli(), ["query", count, "-f", "json", "--as-of", str(before_build)], env=env(settings))
    assert then.exit_code == 0, then.output
    assert json.loads(then.stdout) == [{"n": 0}]
    assert json.loads(runner.invoke(cli(), ["query", count, "-f", "json"], env=env(settings)).stdout) == [{"n": 1}]
    bad = runner.invoke(cli(), ["query", count, "--as-of", "yesterday"], env=env(settings))
    assert bad.exit_code == 2 and "neither a snapshot id" in bad.output


@pytest.mark.prefect
def test_build_marts_flow_runs_under_prefect(settings: Settings) -> None:
    from prefect.testing.utilities import prefect_test_harness

    produce_simulation(settings)
    ingest_once(settings)
    with prefect_test_harness(server_startup_timeout=180):  # a busy CI machine starts it slowly
        summary = build_marts_flow(settings, full=True, run_label="full")
    assert summary["mode"] == "full"
    assert summary["days"] == ["2026-11-01", "2026-11-02", "2026-11-03"]
