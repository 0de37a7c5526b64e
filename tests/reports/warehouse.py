"""A small simulated warehouse for the report tests: simulated traffic through the real ingest loop over an
in-memory source (no Kafka), plus a hostile stream whose channel id, title and category carry HTML and script, then built."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb

from flows.ingest import ingest_without_kafka
from flows.marts import build_marts
from streams.memory import arrivals
from streams.simulator import SimConfig, SimMessage, simulate
from warehouse.lake import LakeConfig, open_lake
from warehouse.loader import LakeWarehouse

LATENESS = timedelta(hours=2)
# Ten days from 2026-10-31: the report of 2026-11-08 has seven previous days with data besides the first
# day of data (which is no baseline: docs/metrics.md, "Comparisons"), enough for the anomaly rule.
SIMULATION = SimConfig(start_date=date(2026, 10, 31), days=10, users=150, channels=6, campaigns=2, seed=5)
REPORT_DAY = datetime(2026, 11, 8, tzinfo=UTC).date()

# What an attacker could put in the free-text fields of stream events.
HOSTILE_CHANNEL = "<script>document.title='PWNED'</script>"
HOSTILE_TITLE = "<script>document.title='PWNED'</script><img src=x onerror=\"document.title='PWNED'\">"
HOSTILE_CATEGORY = "<svg onload=\"document.title='PWNED'\">"


def hostile_events(day: datetime, viewers: int = 40) -> Iterator[tuple[str, dict[str, Any]]]:
    """A stream of the hostile channel live from 12:00 to 18:00 on ``day``, watched by ``viewers`` users."""
    start, end = day + timedelta(hours=12), day + timedelta(hours=18)
    on_stream = {"stream_id": "st-hostile", "channel_id": HOSTILE_CHANNEL}

    def at(t: datetime) -> str:
        return t.isoformat().replace("+00:00", "Z")

    yield (
        "stream-events",
        {
            "event_type": "stream_start",
            "event_time": at(start),
            "category": HOSTILE_CATEGORY,
            "title": HOSTILE_TITLE,
            "user_id": "u-host",
            **on_stream,
        },
    )
    yield "stream-events", {"event_type": "stream_end", "event_time": at(end), "user_id": "u-host", **on_stream}
    for n in range(viewers):
        begin = start + timedelta(minutes=5 + 3 * n)
        session = {"session_id": f"ses-hostile-{n}", "user_id": f"u-hostile-{n}", **on_stream}
        yield (
            "viewer-events",
            {
                "event_type": "session_start",
                "event_time": at(begin),
                "device": "web",
                "source": "home",
                "startup_ms": 800,
                **session,
            },
        )
        yield (
            "viewer-events",
            {"event_type": "heartbeat", "event_time": at(begin + timedelta(minutes=1)), "buffering_ms": 0, **session},
        )
        yield (
            "viewer-events",
            {
                "event_type": "session_end",
                "event_time": at(begin + timedelta(hours=2)),
                "reason": "user_left",
                **session,
            },
        )


def _messages(config: SimConfig, extra: Iterable[tuple[str, dict[str, Any]]]) -> Iterator[SimMessage]:
    for message in simulate(config):
        yield SimMessage(message.topic, None, message.value, message.event_time)
    yield from _encoded(extra, "hostile")


def _encoded(events: Iterable[tuple[str, dict[str, Any]]], prefix: str) -> Iterator[SimMessage]:
    for n, (topic, event) in enumerate(events):
        body = {"event_id": f"{prefix}-{n:04d}", "schema_version": 1, **event}
        yield SimMessage(topic, None, json.dumps(body).encode(), datetime.fromisoformat(event["event_time"]))


def load_simulation(lake: LakeConfig, config: SimConfig, extra: Iterable[tuple[str, dict[str, Any]]] = ()) -> None:
    """Ingest ``config``'s traffic plus ``extra`` events into the lake ``lake`` (the real loop, no Kafka).

    Partition 0 per topic, offsets counted per topic; arrival (``kafka_timestamp``) = the latest event time
    emitted so far, as a broker fed in emission order would see it.
    """
    _load(lake, config.topics, _messages(config, extra))


def build_hand_warehouse(lake: LakeConfig, events: Iterable[tuple[str, dict[str, Any]]], tz: str = "UTC") -> None:
    """A lake of exactly ``events`` (topic, event without event_id / schema_version), built: for tests whose
    expected figures are worked out by hand."""
    _load(lake, SimConfig().topics, _encoded(events, "hand"))
    with open_lake(lake) as con:
        build_marts(con, None, tz, LATENESS, full=True)


def _load(lake: LakeConfig, topics: Mapping[str, str], messages: Iterable[SimMessage]) -> None:
    """The real ingest loop over ``messages`` (Kafka left out: ``streams.memory``), all on partition 0 of
    their topic, each arriving at the latest event time emitted so far."""
    with LakeWarehouse(lake) as warehouse:
        ingest_without_kafka(warehouse, arrivals(messages, partition=0), topics, batch_size=50_000)


def build_simulated_warehouse(lake: LakeConfig, config: SimConfig = SIMULATION, tz: str = "UTC") -> None:
    """Load the simulation and the hostile stream (on the report day), then build every day."""
    hostile_day = datetime.combine(REPORT_DAY, datetime.min.time(), tzinfo=UTC)
    load_simulation(lake, config, hostile_events(hostile_day))
    with open_lake(lake) as con:
        build_marts(con, None, tz, LATENESS, full=True)


def add_quality_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    at: str,
    verified: bool,
    failures: list[tuple[str, str, str]],
    day: date = REPORT_DAY,
) -> None:
    """A run of the quality gate on ``day`` as quality/checks.py stores it (migration 5): one expectation
    that holds, ``failures`` (suite, expectation, severity) that do not, and the day's status."""
    critical = sum(1 for f in failures if f[2] == "critical")
    con.execute(
        "INSERT INTO quality_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [run_id, day, at, at, at, len(failures) + 1, critical, len(failures) - critical, verified],
    )
    results = [(run_id, day, "marts", "not_null", "critical", True, "[]", "")]
    results += [(run_id, day, suite, name, severity, False, "[]", "2 of 9 rows") for suite, name, severity in failures]
    con.executemany("INSERT INTO quality_results VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [list(r) for r in results])
    con.execute("DELETE FROM day_status WHERE day = ?", [day])
    con.execute(
        "INSERT INTO day_status VALUES (?, ?, ?, ?, ?, ?)",
        [day, "verified" if verified else "unverified", run_id, at, critical, len(failures) - critical],
    )
