"""The quality gate on a real simulated day: clean, it passes every expectation; each injected defect makes
the right expectation fail with the right severity (and nothing else)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from flows.marts import build_marts
from flows.quality import quality_windows
from quality.checks import QualityReport, check_day, watermark
from schemas.expectations import EVENT_SUITES, SUITES, Suite
from tests.quality.conftest import DAY, LAST_DAY, LATENESS

IN_DAY = "event_time >= TIMESTAMPTZ '2026-11-08 00:00:00+00' AND event_time < TIMESTAMPTZ '2026-11-09 00:00:00+00'"


def check(
    con: duckdb.DuckDBPyConnection,
    day: date = DAY,
    report_time: datetime | None = None,
    docs_dir: Path | None = None,
    suites: Sequence[Suite] = SUITES,
) -> QualityReport:
    """Check ``day``; the report time defaults to an hour after the watermark (a fresh feed)."""
    mark = watermark(con)
    assert mark is not None
    at = report_time or mark + timedelta(hours=1)
    return check_day(con, quality_windows(day, "UTC"), LATENESS, at, docs_dir, suites)


def failed(report: QualityReport) -> dict[str, str]:
    """``suite.expectation -> severity`` of every failure."""
    return {f"{r.suite}.{r.expectation}": r.severity for r in report.failures}


def rebuild(con: duckdb.DuckDBPyConnection, day: date = DAY) -> None:
    build_marts(con, [day], "UTC", LATENESS)


def result(report: QualityReport, name: str) -> tuple[str, str]:
    suite, expectation = name.split(".")
    found = [r for r in report.results if (r.suite, r.expectation) == (suite, expectation)]
    assert len(found) == 1
    return found[0].observed_value, found[0].details


# ---------------------------------------------------------------------------------------------------------
# A clean day
# ---------------------------------------------------------------------------------------------------------


def test_a_clean_simulated_day_passes_every_expectation_and_is_verified(con: duckdb.DuckDBPyConnection) -> None:
    report = check(con)

    assert [f"{r.suite}.{r.expectation}: {r.observed_value} {r.details}" for r in report.failures] == []
    assert len(report.results) == sum(len(s.expectations) for s in SUITES)
    assert [s.suite for s in report.suites()] == [s.name for s in SUITES]
    assert report.verified and report.status == "verified"
    assert (
        report.events
        == con.sql(
            f"SELECT sum(n) FROM (SELECT count(*) AS n FROM raw_viewer_events WHERE {IN_DAY} "
            f"UNION ALL SELECT count(*) FROM raw_engagement_events WHERE {IN_DAY} "
            f"UNION ALL SELECT count(*) FROM raw_campaign_events WHERE {IN_DAY} "
            f"UNION ALL SELECT count(*) FROM raw_stream_events WHERE {IN_DAY})"
        ).fetchall()[0][0]
    )
    # The volume suite compared the day with seven earlier days (observed: the day / the median).
    observed, _ = result(report, "volume.viewer_volume_not_below_half")
    assert 0.5 <= float(observed) <= 2.0
    assert con.sql("SELECT day, status, critical_failures, warnings FROM day_status").fetchall() == [
        (DAY, "verified", 0, 0)
    ]


def test_results_are_stored_and_a_rerun_keeps_the_history(con: duckdb.DuckDBPyConnection) -> None:
    first = check(con)
    con.execute("UPDATE agg_daily_headline SET organic_signups = organic_signups + 1 WHERE day = ?", [DAY])
    second = check(con)

    runs = con.sql(
        "SELECT run_id, day, expectations, critical_failures, warnings, verified FROM quality_runs ORDER BY started_at"
    ).fetchall()
    assert runs == [
        (first.run_id, DAY, len(first.results), 0, 0, True),
        (second.run_id, DAY, len(second.results), 1, 0, False),
    ]
    stored = con.sql(
        "SELECT suite, expectation, severity, success, observed_value, details FROM quality_results WHERE run_id = ?",
        params=[second.run_id],
    ).fetchall()
    assert sorted(stored) == sorted(
        (r.suite, r.expectation, r.severity, r.success, r.observed_value, r.details) for r in second.results
    )
    # The day's status is the latest run's.
    assert con.sql("SELECT status, run_id FROM day_status WHERE day = ?", params=[DAY]).fetchall() == [
        ("unverified", second.run_id)
    ]
    assert con.sql("SELECT suite, expectation, severity FROM v_quality_failures").fetchall() == [
        ("reconciliation", "signups_attributed_plus_organic", "critical")
    ]


# ---------------------------------------------------------------------------------------------------------
# Injected defects
# ---------------------------------------------------------------------------------------------------------


def test_a_volume_drop_fails_the_topic_volume_as_critical(con: duckdb.DuckDBPyConnection) -> None:
    # Lose 70 % of the day's viewer events (an ingest outage), then build the day as usual.
    con.execute(f"DELETE FROM raw_viewer_events WHERE {IN_DAY} AND hash(event_id) % 10 < 7")
    rebuild(con)

    report = check(con)

    assert failed(report) == {"volume.viewer_volume_not_below_half": "critical"}
    observed, details = result(report, "volume.viewer_volume_not_below_half")
    assert 0.2 < float(observed) < 0.4
    assert details == f"the minimum is {observed}; expected at least 0.5"
    assert report.status == "unverified"


def test_a_volume_spike_is_a_warning(con: duckdb.DuckDBPyConnection) -> None:
    # Triple the day's engagement events (copies with new ids), then build the day.
    for copy in ("a", "b"):
        con.execute(
            f"INSERT INTO raw_engagement_events SELECT * REPLACE ('{copy}' || event_id AS event_id) "
            f"FROM raw_engagement_events WHERE {IN_DAY} AND length(event_id) < 60"
        )
    rebuild(con)

    report = check(con)

    assert failed(report) == {"volume.engagement_volume_not_above_double": "warning"}
    assert report.verified


@pytest.mark.parametrize(
    ("mart", "expected"),
    [
        ("agg_daily_channel", {"agg_daily_channel.key_unique": "critical"}),
        ("agg_daily_stream", {"agg_daily_stream.key_unique": "critical"}),
        ("agg_daily_headline", {"agg_daily_headline.key_unique": "critical", "agg_daily_headline.one_row": "critical"}),
    ],
)
def test_a_duplicate_key_in_a_mart_fails_its_key(
    con: duckdb.DuckDBPyConnection, mart: str, expected: dict[str, str]
) -> None:
    con.execute(f"INSERT INTO {mart} SELECT * FROM {mart} WHERE day = ? LIMIT 1", [DAY])

    report = check(con)

    assert failed(report) == expected
    _, details = result(report, f"{mart}.key_unique")
    assert details.startswith("2 of ") and "2026-11-08" in details


def test_a_session_on_a_stream_that_does_not_exist_fails_referential_integrity(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # A copy of one of the day's sessions, on a stream that never started.
    con.execute(
        f"""
        INSERT INTO raw_viewer_events SELECT * REPLACE (
            'ghost-' || event_id AS event_id, 'ghost-' || session_id AS session_id, 'ghost-stream' AS stream_id)
        FROM raw_viewer_events
        WHERE session_id = (SELECT min(session_id) FROM raw_viewer_events WHERE {IN_DAY} AND event_type = 'session_start')
        """
    )
    rebuild(con)

    report = check(con)

    assert failed(report) == {"referential.viewer_streams_exist": "critical"}
    _, details = result(report, "referential.viewer_streams_exist")
    assert "stream_id=ghost-stream" in details


def test_engagement_on_a_stream_that_does_not_exist_is_a_warning(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"INSERT INTO raw_engagement_events SELECT * REPLACE ('ghost-' || event_id AS event_id, 'ghost-stream' AS stream_id) "
        f"FROM raw_engagement_events WHERE {IN_DAY} AND event_type = 'like' LIMIT 1"
    )
    rebuild(con)

    report = check(con)

    assert failed(report) == {"referential.engagement_streams_exist": "warning"}
    assert report.verified


@pytest.mark.parametrize(
    ("damage", "expectation"),
    [
        (
            "UPDATE agg_daily_category SET hours_watched = hours_watched + 1.5 "
            "WHERE day = $day AND category = (SELECT min(category) FROM agg_daily_category WHERE day = $day)",
            "reconciliation.category_hours_sum_to_headline",
        ),
        (
            "UPDATE agg_daily_headline SET organic_signups = organic_signups + 1 WHERE day = $day",
            "reconciliation.signups_attributed_plus_organic",
        ),
        (
            "UPDATE agg_daily_source SET sessions = sessions + 1 "
            "WHERE day = $day AND source = (SELECT min(source) FROM agg_daily_source WHERE day = $day)",
            "reconciliation.source_sessions_sum_to_headline",
        ),
    ],
)
def test_a_broken_reconciliation_fails_as_critical(
    con: duckdb.DuckDBPyConnection, damage: str, expectation: str
) -> None:
    con.execute(damage, {"day": DAY})

    report = check(con)

    assert failed(report) == {expectation: "critical"}
    assert report.status == "unverified"


def test_hours_within_the_float_tolerance_still_reconcile(con: duckdb.DuckDBPyConnection) -> None:
    # Summation order changes the last bits of a float sum: that is not a broken reconciliation.
    con.execute("UPDATE agg_daily_category SET hours_watched = hours_watched * (1 + 1e-13) WHERE day = ?", [DAY])

    assert failed(check(con)) == {}


def test_events_that_arrived_after_the_build_fail_the_marts_coverage(con: duckdb.DuckDBPyConnection) -> None:
    # A late heartbeat of the day ingested after the day was built: the marts no longer cover the day.
    con.execute(
        f"INSERT INTO raw_viewer_events SELECT * REPLACE ('late-' || event_id AS event_id) "
        f"FROM raw_viewer_events WHERE {IN_DAY} AND event_type = 'heartbeat' LIMIT 1"
    )

    report = check(con)

    assert failed(report) == {"reconciliation.marts_cover_raw_events": "critical"}
    # Rebuilding the day repairs it.
    rebuild(con)
    assert check(con).verified


def test_stale_data_at_report_time_is_a_warning(con: duckdb.DuckDBPyConnection) -> None:
    # Nothing arrived for three hours (the allowed lateness is two): ingest is stalled. The day itself is
    # complete, so its figures stand.
    mark = watermark(con)
    assert mark is not None

    report = check(con, report_time=mark + timedelta(hours=3))

    assert failed(report) == {"freshness.watermark_fresh": "warning"}
    assert report.verified
    observed, _ = result(report, "freshness.watermark_fresh")
    assert re.search(r"2026-11-\d\dT", observed)


def test_a_day_that_is_not_complete_yet_is_verified_with_a_warning(con: duckdb.DuckDBPyConnection) -> None:
    # The last day: the watermark has not passed its end plus the allowed lateness, and its marts were built
    # while it was incomplete. Its figures may still change (the report says "incomplete"), but nothing
    # found is wrong: a warning, not a critical failure (a report at 02:00 with 2 h of lateness would
    # otherwise always be unverified).
    report = check(con, day=LAST_DAY)

    assert failed(report) == {"freshness.day_complete": "warning"}
    assert report.verified


def test_a_complete_day_built_before_it_was_complete_is_unverified(con: duckdb.DuckDBPyConnection) -> None:
    # Day 8 is complete now, but its marts are as built while it was not: late events may be missing.
    con.execute("UPDATE build_days SET complete = false WHERE day = ?", [DAY])

    report = check(con)

    assert failed(report) == {"freshness.marts_built_when_complete": "critical"}
    assert not report.verified


def test_a_day_whose_marts_were_never_built_is_unverified(con: duckdb.DuckDBPyConnection) -> None:
    for table in ("build_days", "agg_daily_headline", "agg_daily_category", "agg_daily_source", "agg_daily_campaign"):
        con.execute(f"DELETE FROM {table} WHERE day = ?", [DAY])

    report = check(con)

    assert {
        "freshness.marts_built": "critical",
        "freshness.marts_built_when_complete": "critical",
        "agg_daily_headline.one_row": "critical",
        "reconciliation.marts_cover_raw_events": "critical",
    }.items() <= failed(report).items()


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (
            f"UPDATE raw_viewer_events SET device = 'toaster' WHERE event_id = "
            f"(SELECT min(event_id) FROM raw_viewer_events WHERE {IN_DAY} AND event_type = 'session_start')",
            {"viewer_events.enumerations_in_contract": "warning"},
        ),
        (
            f"UPDATE raw_viewer_events SET buffering_ms = -5 WHERE event_id = "
            f"(SELECT min(event_id) FROM raw_viewer_events WHERE {IN_DAY} AND event_type = 'heartbeat')",
            {"viewer_events.buffering_ms_in_range": "critical"},
        ),
        (
            f"UPDATE raw_viewer_events SET device = NULL WHERE event_id = "
            f"(SELECT min(event_id) FROM raw_viewer_events WHERE {IN_DAY} AND event_type = 'session_start')",
            {"viewer_events.required_fields_present": "critical"},
        ),
        (
            f"UPDATE raw_engagement_events SET score = 9 WHERE event_id = "
            f"(SELECT min(event_id) FROM raw_engagement_events WHERE {IN_DAY} AND survey = 'csat')",
            {"engagement_events.score_in_range_csat": "critical"},
        ),
        (
            f"UPDATE raw_stream_events SET event_type = 'stream_pause' WHERE event_id = "
            f"(SELECT min(event_id) FROM raw_stream_events WHERE {IN_DAY} AND event_type = 'category_change')",
            {"stream_events.type_and_version_in_contract": "critical"},
        ),
        (
            f"UPDATE raw_campaign_events SET schema_version = 2 WHERE event_id = "
            f"(SELECT min(event_id) FROM raw_campaign_events WHERE {IN_DAY})",
            {"campaign_events.type_and_version_in_contract": "critical"},
        ),
        (
            f"UPDATE raw_viewer_events SET country = 'fra' WHERE event_id = "
            f"(SELECT min(event_id) FROM raw_viewer_events WHERE {IN_DAY} AND country IS NOT NULL)",
            {"viewer_events.country_matches": "warning"},
        ),
        (
            f"UPDATE raw_campaign_events SET cost_micros = -1 WHERE event_id = "
            f"(SELECT min(event_id) FROM raw_campaign_events WHERE {IN_DAY} AND event_type = 'click')",
            {"campaign_events.cost_micros_in_range": "critical"},
        ),
    ],
)
def test_an_event_breaking_the_contract_fails_its_expectation(
    con: duckdb.DuckDBPyConnection, damage: str, expected: dict[str, str]
) -> None:
    # Rows that bypassed the decoder (a manual backfill, say). Only the events suites run here.
    changed = con.execute(damage).fetchall()
    assert changed == [(1,)]

    report = check(con, suites=EVENT_SUITES)

    assert failed(report) == expected


def test_the_event_profile_reports_what_it_observed(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"UPDATE raw_viewer_events SET session_id = NULL WHERE event_id IN "
        f"(SELECT event_id FROM raw_viewer_events WHERE {IN_DAY} AND event_type = 'heartbeat' LIMIT 3)"
    )
    con.execute(
        f"UPDATE raw_viewer_events SET startup_ms = 130000 WHERE event_id = "
        f"(SELECT min(event_id) FROM raw_viewer_events WHERE {IN_DAY} AND event_type = 'session_start')"
    )
    con.execute(
        f"UPDATE raw_viewer_events SET device = 'toaster' WHERE event_id = "
        f"(SELECT min(event_id) FROM raw_viewer_events WHERE {IN_DAY} AND event_type = 'session_start')"
    )

    report = check(con, suites=EVENT_SUITES)

    assert failed(report) == {
        "viewer_events.required_fields_present": "critical",
        "viewer_events.startup_ms_in_range": "critical",
        "viewer_events.enumerations_in_contract": "warning",
    }
    # The null count of the field, and where it is missing.
    observed, details = result(report, "viewer_events.required_fields_present")
    assert json.loads(observed) == [3]
    assert details.startswith("1 of ") and details.endswith(" values unexpected at session_id on heartbeat")
    assert result(report, "viewer_events.startup_ms_in_range")[0] == "[130000.0]"  # the offending maximum
    assert result(report, "viewer_events.enumerations_in_contract")[0] == '["device=toaster"]'


# ---------------------------------------------------------------------------------------------------------
# Data Docs
# ---------------------------------------------------------------------------------------------------------


def test_the_data_docs_index_lists_every_suite(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    docs = tmp_path / "reports" / DAY.isoformat() / "data-docs"
    (docs / "stale").mkdir(parents=True)  # a previous run's leftovers are removed

    report = check(con, docs_dir=docs)

    assert report.data_docs == docs / "index.html"
    page = report.data_docs.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page  # opens offline, no CDN needed
    assert "VERIFIED</span> 0 critical failure(s)" in page
    for s in SUITES:
        assert f'<h2 id="{s.name}">{s.name}' in page, s.name
        for e in s.expectations:
            assert f"<code>{e.name}</code>" in page, (s.name, e.name)
    assert not (docs / "stale").exists()
    # GX's own pages: one per suite's validation result, linked from the front page, and one per suite.
    validations = sorted((docs / "validations").rglob("*.html"))
    assert len(validations) == len(SUITES)
    for path in validations:
        assert f'href="{path.relative_to(docs).as_posix()}"' in page
        assert "Expectation Validation Result" in path.read_text(encoding="utf-8")
    assert len(list((docs / "expectations").rglob("*.html"))) == len(SUITES)
    gx_index = (docs / "gx-index.html").read_text(encoding="utf-8")
    assert all(s.name in gx_index for s in SUITES)


def test_a_repeated_event_id_in_the_day_fails_it(con: duckdb.DuckDBPyConnection) -> None:
    # The lake has no keys: the loader keeps (event_id, day) unique, and the gate counts repeats in the day,
    # so a row copied by hand (or a loader bug) fails the day.
    con.execute(
        f"INSERT INTO raw_stream_events SELECT * FROM raw_stream_events WHERE {IN_DAY} AND event_type = 'stream_start' LIMIT 1"
    )

    report = check(con, suites=EVENT_SUITES)

    assert failed(report) == {"stream_events.event_id_unique": "critical"}
    assert result(report, "stream_events.event_id_unique")[0] == "1"
