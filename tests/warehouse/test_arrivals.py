"""An event arrives with its first copy, and a clock running ahead moves no watermark (issue 11, items 3-5).

Rows go through the real loader (:class:`warehouse.loader.LakeWarehouse`) or straight into the raw tables
(``tests.warehouse.test_marts.load``), then through the real build and report model.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from flows.marts import build_marts
from reports.model import read_report
from reports.summary import build_summary
from tests.conftest import new_lake
from tests.factories import day, events_frame, make_engagement_event, ts
from tests.warehouse.test_marts import LATENESS, Row, Topics, e, load, s, v
from warehouse.loader import LakeWarehouse
from warehouse.rebuild import data_days, warehouse_watermark

STARTED = datetime(2026, 5, 3, tzinfo=UTC)


def like(event_id: str, event_time: str, partition: int, offset: int, arrived: str) -> dict[str, Any]:
    """A like with its Kafka coordinates on the engagement topic."""
    return make_engagement_event(
        event_id=event_id, event_time=event_time, kafka_topic="engagement-events", kafka_partition=partition,
        kafka_offset=offset, kafka_timestamp=ts(arrived),
    )  # fmt: skip


def ingest(warehouse: LakeWarehouse, rows: list[dict[str, Any]]) -> Any:
    frame = events_frame("engagement", rows).collect()
    offsets = {("engagement-events", r["kafka_partition"]): r["kafka_offset"] + 1 for r in rows}
    return warehouse.load_batch({"engagement": frame}, pl.DataFrame(), offsets, len(rows), 0, 0, STARTED)


def late_by_day(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return con.sql("SELECT day, events, late_events, complete FROM build_days ORDER BY day").fetchall()


def test_a_duplicate_that_arrived_first_on_another_partition_makes_the_event_on_time(tmp_path: Path) -> None:
    # X (05-01 23:00) has two copies: on partition 1 it arrived 05-02 01:00 (on time: 05-01 completes at
    # 05-02 02:00), on partition 0 at 05-02 05:00 (late). Y (05-02 03:00, arrived 05-02 03:00) moves the
    # watermark past 05-02 02:00. Ingest reads partition 0 first: the later copy of X is ingested first.
    with LakeWarehouse(new_lake(tmp_path / "w")) as warehouse:
        con = warehouse.con
        first = ingest(
            warehouse,
            [
                like("X", "2026-05-01 23:00", 0, 0, "2026-05-02 05:00"),
                like("Y", "2026-05-02 03:00", 0, 1, "2026-05-02 03:00"),
                like("Z", "2026-05-01 10:00", 1, 0, "2026-05-01 10:00"),
            ],
        )
        assert (first.loaded, first.duplicates) == (3, 0)
        build_marts(con, None, "UTC", LATENESS)
        assert late_by_day(con) == [(day("2026-05-01"), 2, 1, True), (day("2026-05-02"), 1, 0, False)]

        second = ingest(warehouse, [like("X", "2026-05-01 23:00", 1, 1, "2026-05-02 01:00")])
        assert (second.loaded, second.duplicates) == (0, 1)
        kept = con.sql(
            "SELECT kafka_partition, kafka_offset, kafka_timestamp FROM raw_engagement_events WHERE event_id = 'X'"
        )
        assert kept.fetchall() == [(0, 0, ts("2026-05-02 01:00"))]  # the first copy's arrival, the kept row's position
        assert con.sql(
            "SELECT event_id, old_kafka_timestamp, new_kafka_timestamp, kafka_partition, kafka_offset "
            "FROM arrival_corrections"
        ).fetchall() == [("X", ts("2026-05-02 05:00"), ts("2026-05-02 01:00"), 1, 1)]

        # 05-01 was complete, so only the correction makes the incremental build rebuild it.
        result = build_marts(con, None, "UTC", LATENESS)
        assert day("2026-05-01") in result.days
        assert late_by_day(con) == [(day("2026-05-01"), 2, 0, True), (day("2026-05-02"), 1, 0, False)]
        assert con.sql("SELECT arrived_at FROM stg_engagement_events WHERE event_id = 'X'").fetchall() == [
            (ts("2026-05-02 01:00"),)
        ]

        # A copy arriving later still changes nothing.
        third = ingest(warehouse, [like("X", "2026-05-01 23:00", 1, 2, "2026-05-04 00:00")])
        assert (third.loaded, third.duplicates) == (0, 1)
        assert con.sql("SELECT count(*) FROM arrival_corrections").fetchall() == [(1,)]
        assert con.sql("SELECT kafka_timestamp FROM raw_engagement_events WHERE event_id = 'X'").fetchall() == [
            (ts("2026-05-02 01:00"),)
        ]


def base_rows() -> list[Row]:
    """Three days of events, some late (hand-worked in the test below)."""
    return [
        e(event_time="2026-05-01 10:00", kafka_timestamp=ts("2026-05-01 10:00")),
        e(event_time="2026-05-01 23:00", kafka_timestamp=ts("2026-05-02 01:00")),  # on time
        e(event_time="2026-05-02 03:00", kafka_timestamp=ts("2026-05-02 03:00")),
        e(event_time="2026-05-01 13:00", kafka_timestamp=ts("2026-05-02 04:00")),  # late (watermark 05-02 03:00)
        v(event_time="2026-05-02 20:00", kafka_timestamp=ts("2026-05-02 20:00")),
        s(event_time="2026-05-03 04:00", kafka_timestamp=ts("2026-05-03 04:00")),
        e(event_time="2026-05-02 01:00", kafka_timestamp=ts("2026-05-03 05:00")),  # late (watermark 05-03 04:00)
    ]


def status(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return con.sql("SELECT day, watermark, complete, late_events FROM build_days ORDER BY day").fetchall()


def test_an_event_stamped_a_month_ahead_moves_no_watermark_and_is_reported(tmp_path: Path) -> None:
    with LakeWarehouse(new_lake(tmp_path / "clean")) as plain:
        load(plain.con, base_rows())
        build_marts(plain.con, None, "UTC", LATENESS, full=True)
        expected = status(plain.con)
    assert expected == [
        (day("2026-05-01"), ts("2026-05-03 04:00"), True, 1),
        (day("2026-05-02"), ts("2026-05-03 04:00"), True, 1),
        (day("2026-05-03"), ts("2026-05-03 04:00"), False, 0),
    ]

    with LakeWarehouse(new_lake(tmp_path / "w")) as warehouse:
        con = warehouse.con
        topics = Topics()  # offsets continue across loads, as Kafka's do
        load(con, base_rows(), topics)
        build_marts(con, None, "UTC", LATENESS)
        # A device whose clock is a month ahead: stamped 06-02, arrived 05-02 10:00. Without the cap it
        # would make every day complete and the 05-02 01:00 event (arrived 05-03 05:00) not the only late one.
        wrong_clock = e(event_time="2026-06-02 10:00", kafka_timestamp=ts("2026-05-02 10:00"))
        load(con, [wrong_clock], topics)
        assert warehouse_watermark(con) == ts("2026-05-03 04:00")
        # The build's days end on the watermark's day: 06-02 waits until the watermark reaches it.
        assert data_days(con, "UTC") == [day("2026-05-01"), day("2026-05-02"), day("2026-05-03")]
        build_marts(con, None, "UTC", LATENESS)  # incremental: must rebuild 05-02, the arrival day
        assert status(con) == expected
        assert con.sql("SELECT day, future_events FROM build_days ORDER BY day").fetchall() == [
            (day("2026-05-01"), 0), (day("2026-05-02"), 1), (day("2026-05-03"), 0),
        ]  # fmt: skip
        summary = build_summary(read_report(con, day("2026-05-02"), "UTC"), datetime.now(UTC))
        assert summary["data_quality"]["future_events"] == 1
        assert summary["data_quality"]["late_events"] == 1
        assert summary["complete"] is True
        assert build_summary(read_report(con, day("2026-05-03"), "UTC"), datetime.now(UTC))["complete"] is False

        # Within the skew (5 minutes by default) an event counts at its own time; a larger setting lets
        # the wrong clock through again (so the cap is what keeps the watermark).
        assert warehouse_watermark(con, timedelta(days=60)) == ts("2026-06-02 10:00")


def test_an_event_within_the_skew_moves_the_watermark_as_before(tmp_path: Path) -> None:
    with LakeWarehouse(new_lake(tmp_path / "w")) as warehouse:
        load(warehouse.con, [*base_rows(), e(event_time="2026-05-03 05:04", kafka_timestamp=ts("2026-05-03 05:00"))])
        assert warehouse_watermark(warehouse.con) == ts("2026-05-03 05:04")
        assert warehouse_watermark(warehouse.con, timedelta(minutes=3)) == ts("2026-05-03 05:03")
        build_marts(warehouse.con, None, "UTC", LATENESS)
        assert warehouse.con.sql("SELECT sum(future_events) FROM build_days").fetchall() == [(0,)]


def test_an_event_a_century_ahead_does_not_make_the_build_walk_every_day_up_to_it(tmp_path: Path) -> None:
    with LakeWarehouse(new_lake(tmp_path / "w")) as warehouse:
        load(warehouse.con, [*base_rows(), e(event_time="2126-05-02 10:00", kafka_timestamp=ts("2026-05-03 06:00"))])
        began = time.monotonic()
        result = build_marts(warehouse.con, None, "UTC", LATENESS)
        assert result.days == [day("2026-05-01"), day("2026-05-02"), day("2026-05-03")]
        assert time.monotonic() - began < 60  # a century of days takes hours
        assert result.watermark == ts("2026-05-03 06:05")  # capped at arrival + 5 min
        full = build_marts(warehouse.con, None, "UTC", LATENESS, full=True)
        assert full.days == result.days
        assert warehouse.con.sql("SELECT day, future_events FROM build_days WHERE future_events > 0").fetchall() == [
            (day("2026-05-03"), 1)
        ]
