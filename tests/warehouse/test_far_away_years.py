"""An event stamped in a far-away year is quarantined at decode and cannot break or stall the build."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from liveops.settings import Topics
from streams.simulator import SimMessage
from tests.wire import encode, wire_event
from warehouse.loader import DuckDBWarehouse, connect
from warehouse.marts import build_marts
from warehouse.offline import load_offline

FAR_AWAY = ["0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2126-11-21T10:00:00Z"]


def test_far_away_years_end_to_end_through_offline_load_and_build(tmp_path: Path) -> None:
    emitted = datetime(2026, 11, 1, 10, tzinfo=UTC)
    good = [wire_event("like", event_time="2026-11-01T10:00:00Z") for _ in range(3)]
    bad = [wire_event("like", event_time=t) for t in FAR_AWAY]
    messages = [SimMessage("engagement-events", b"k", encode(e), emitted) for e in good + bad]
    path = tmp_path / "w.duckdb"
    with DuckDBWarehouse(path, tmp_path / "analyst.duckdb") as warehouse:
        load_offline(warehouse, messages, Topics().model_dump(), batch_size=100)
    con = connect(path)
    try:
        reasons = con.sql("SELECT reason, field, count(*) FROM quarantine GROUP BY ALL").fetchall()
        assert reasons == [("out_of_range", "event_time", len(FAR_AWAY))]
        assert con.sql("SELECT count(*) FROM raw_engagement_events").fetchall() == [(3,)]
        build_marts(con, None, "Asia/Shanghai", timedelta(hours=2), full=True)  # neither fails nor walks a century
    finally:
        con.close()
