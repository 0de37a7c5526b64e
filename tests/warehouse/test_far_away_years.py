"""An event stamped in a far-away year is quarantined at decode and cannot break or stall the build, the
quality gate or the report."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from config.settings import Settings, Topics
from flows.ingest import ingest_without_kafka
from flows.marts import build_marts
from flows.quality import run_quality
from flows.report import run_report
from streams.memory import arrivals
from streams.simulator import SimMessage
from tests.conftest import lake_settings, new_lake
from tests.wire import encode, wire_event
from warehouse.lake import open_lake
from warehouse.loader import LakeWarehouse

FAR_AWAY = ["0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2126-11-21T10:00:00Z"]


def test_far_away_years_end_to_end_through_ingest_build_quality_and_report(tmp_path: Path) -> None:
    emitted = datetime(2026, 11, 1, 10, tzinfo=UTC)
    good = [wire_event("like", event_time="2026-11-01T10:00:00Z") for _ in range(3)]
    bad = [wire_event("like", event_time=t) for t in FAR_AWAY]
    messages = [SimMessage("engagement-events", b"k", encode(e), emitted) for e in good + bad]
    lake = new_lake(tmp_path / "w")
    with LakeWarehouse(lake) as warehouse:
        ingest_without_kafka(warehouse, arrivals(messages), Topics().model_dump(), batch_size=100)
    con = open_lake(lake)
    try:
        reasons = con.sql("SELECT reason, field, count(*) FROM quarantine GROUP BY ALL").fetchall()
        assert reasons == [("out_of_range", "event_time", len(FAR_AWAY))]
        assert con.sql("SELECT count(*) FROM raw_engagement_events").fetchall() == [(3,)]
        build_marts(con, None, "Asia/Shanghai", timedelta(hours=2), full=True)  # neither fails nor walks a century
        assert con.sql("SELECT min(day), max(day) FROM build_days").fetchall() == [(date(2026, 11, 1),) * 2]
    finally:
        con.close()
    settings = Settings(
        **lake_settings(lake), reports_dir=tmp_path / "reports",  # type: ignore[arg-type]
        report_timezone="Asia/Shanghai",
    )  # fmt: skip
    quality = run_quality(settings, date(2026, 11, 1), data_docs=False)
    assert quality.verified, [r.name for r in quality.critical_failures]
    run_report(settings, date(2026, 11, 1), ["en"])
    summary = json.loads((tmp_path / "reports" / "2026-11-01" / "summary.json").read_text(encoding="utf-8"))
    assert summary["data_quality"]["quarantined_by_reason"] == {"out_of_range": len(FAR_AWAY)}
