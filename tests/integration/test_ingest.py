"""Ingest against the real broker: validation, quarantine, dedup, offsets, analyst copy."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from flows.ingest import ingest_once
from liveops.settings import Settings
from streams.broker import create_topics
from tests.wire import encode, wire_event

pytestmark = pytest.mark.kafka


def produce(settings: Settings, messages: list[tuple[str, bytes | None]]) -> None:
    config = settings.kafka_client_config()
    create_topics(config, list(settings.topics.by_family().values()), 3)
    producer = KafkaProducer(**config, linger_ms=5)
    for family, value in messages:
        topic = settings.topics.by_family()[family]
        producer.send(topic, key=None if value is None else value[:8], value=value)
    producer.flush()
    producer.close()


def counts(path: Path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [
            "raw_viewer_events",
            "raw_engagement_events",
            "raw_campaign_events",
            "raw_stream_events",
            "quarantine",
        ]
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}  # type: ignore[index]


@pytest.mark.parametrize("client", ["kafka-python", "confluent"])
def test_ingest_loads_valid_quarantines_bad_and_ignores_duplicates(settings: Settings, client: str) -> None:
    settings = settings.model_copy(update={"kafka_client": client})
    good = [
        ("viewer", wire_event("session_start")),
        ("viewer", wire_event("heartbeat")),
        ("engagement", wire_event("gift")),
        ("campaign", wire_event("click")),
        ("stream", wire_event("stream_start")),
    ]
    messages = [(family, encode(event)) for family, event in good]
    messages += [("viewer", b"{oops"), ("stream", encode(wire_event("heartbeat"))), ("viewer", messages[0][1])]
    produce(settings, messages)

    totals = ingest_once(settings)
    assert (totals.messages, totals.loaded, totals.duplicates, totals.quarantined) == (8, 5, 1, 2)
    assert counts(settings.duckdb_path) == {
        "raw_viewer_events": 2, "raw_engagement_events": 1, "raw_campaign_events": 1, "raw_stream_events": 1,
        "quarantine": 2,
    }  # fmt: skip

    # Offsets are committed to the consumer group too (lag visible to Kafka tools) ...
    consumer = KafkaConsumer(**settings.kafka_client_config(), group_id=settings.consumer_group)
    viewer = [TopicPartition(settings.topics.viewer, p) for p in range(3)]
    committed = sum(consumer.committed(tp) or 0 for tp in viewer)
    consumer.close()
    assert committed == 4  # every viewer-events message

    # ... and a second run reads nothing new; the same messages produced again are all duplicates.
    assert ingest_once(settings).messages == 0
    produce(settings, messages)
    again = ingest_once(settings)
    assert (again.messages, again.loaded, again.duplicates) == (8, 0, 6)
    assert counts(settings.duckdb_path)["raw_viewer_events"] == 2
    # the quarantine keeps one row per message (topic, partition, offset): the re-sent bad ones are new messages
    assert counts(settings.duckdb_path)["quarantine"] == 4


def test_analyst_copy_is_readable_while_ingest_holds_the_warehouse(settings: Settings) -> None:
    produce(settings, [("engagement", encode(wire_event("like"))) for _ in range(20)])
    ingest_once(settings)
    assert counts(settings.analyst_copy)["raw_engagement_events"] == 20

    stop = threading.Event()
    errors: list[BaseException] = []
    loaded = threading.Event()

    def follow() -> None:
        try:
            ingest_once(settings, follow=True, stop=stop, progress=lambda p: p.loaded >= 5 and loaded.set())
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    runner = threading.Thread(target=follow)
    runner.start()
    try:
        produce(settings, [("engagement", encode(wire_event("like"))) for _ in range(5)])
        # The pipeline holds its read-write file; the analyst's read-only connection to the copy still works.
        for _ in range(5):
            with duckdb.connect(str(settings.analyst_copy), read_only=True) as con:
                assert con.execute("SELECT count(*) FROM raw_engagement_events").fetchone()[0] >= 20  # type: ignore[index]
        # Another process cannot even open the pipeline's own file read-only: the lock the copy avoids.
        probe = subprocess.run(
            [sys.executable, "-c", f"import duckdb; duckdb.connect({str(settings.duckdb_path)!r}, read_only=True)"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert probe.returncode != 0 and "lock" in probe.stderr.lower()
        with duckdb.connect(str(settings.analyst_copy), read_only=True) as con:
            assert con.execute("SELECT count(*) FROM raw_engagement_events").fetchone()[0] >= 20  # type: ignore[index]
        assert loaded.wait(timeout=120), "the follow run did not load the 5 new messages"
    finally:
        stop.set()
        runner.join(timeout=60)
    assert not errors
    assert counts(settings.analyst_copy)["raw_engagement_events"] == 25
