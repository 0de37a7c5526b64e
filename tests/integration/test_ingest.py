"""Ingest against the real broker: validation, quarantine, dedup, offsets, analysts reading while it writes."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from config.settings import Settings
from flows.build import run_build
from flows.ingest import IngestProgress, ingest_once
from streams.broker import create_topics
from streams.producer import produce as produce_simulated
from streams.simulator import SimConfig, simulate
from tests.conftest import lake_env
from tests.wire import encode, wire_event
from warehouse.lake import LakeConfig, open_lake

pytestmark = pytest.mark.kafka


def produce(settings: Settings, messages: Sequence[tuple[str, bytes | None]]) -> None:
    config = settings.kafka_client_config()
    create_topics(config, list(settings.topics.by_family().values()), 3)
    producer = KafkaProducer(**config, linger_ms=5)
    for family, value in messages:
        topic = settings.topics.by_family()[family]
        producer.send(topic, key=None if value is None else value[:8], value=value)
    producer.flush()
    producer.close()


RAW_TABLES = ("raw_viewer_events", "raw_engagement_events", "raw_campaign_events", "raw_stream_events")


def counts(lake: LakeConfig) -> dict[str, int]:
    with open_lake(lake, read_only=True) as con:
        tables = [*RAW_TABLES, "quarantine"]
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
    assert counts(settings.lake) == {
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
    assert counts(settings.lake)["raw_viewer_events"] == 2
    # the quarantine keeps one row per message (topic, partition, offset): the re-sent bad ones are new messages
    assert counts(settings.lake)["quarantine"] == 4


def analyst_count(lake: LakeConfig, table: str) -> int:
    """The row count of ``table`` as an analyst gets it: `liveops query` in a process of its own."""
    done = subprocess.run(
        [sys.executable, "-m", "liveops", "query", f"SELECT count(*) AS n FROM {table}", "--format", "json"],
        env=os.environ | lake_env(lake), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return int(json.loads(done.stdout)[0]["n"])


def test_an_analyst_sees_each_batch_of_a_follow_run_within_5_s(settings: Settings) -> None:
    produce(settings, [("engagement", encode(wire_event("like"))) for _ in range(20)])
    ingest_once(settings)
    assert analyst_count(settings.lake, "raw_engagement_events") == 20

    stop = threading.Event()
    errors: list[BaseException] = []
    commits: list[tuple[float, int]] = []  # (monotonic time, events loaded so far) after each committed batch
    committed = threading.Condition()

    def on_batch(progress: IngestProgress) -> None:
        with committed:
            commits.append((time.monotonic(), progress.loaded))
            committed.notify_all()

    def follow() -> None:
        try:
            ingest_once(settings, follow=True, stop=stop, progress=on_batch)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    runner = threading.Thread(target=follow)
    runner.start()
    try:
        for round_ in (1, 2, 3):
            produce(settings, [("engagement", encode(wire_event("like"))) for _ in range(5)])
            with committed:
                want = 5 * round_

                def loaded_all(want: int = want) -> bool:
                    return bool(commits) and commits[-1][1] >= want

                assert committed.wait_for(loaded_all, timeout=120), (
                    f"the follow run did not load the 5 new messages of round {round_}: {commits} {errors}"
                )
                committed_at = commits[-1][0]
            # The follow run still holds the lake as a writer; a new query in another process sees the batch.
            assert runner.is_alive()
            assert analyst_count(settings.lake, "raw_engagement_events") == 20 + 5 * round_
            waited = time.monotonic() - committed_at
            assert waited < 5.0, f"round {round_}: the committed batch was seen {waited:.1f} s after its commit"
    finally:
        stop.set()
        runner.join(timeout=60)
    assert not errors
    assert counts(settings.lake)["raw_engagement_events"] == 35


# Run by another process while the test ingests and builds: every ~100 ms, one read-only transaction (one
# snapshot) reads the ledger's loaded count, the raw rows and the built days; one JSON line per query. It
# keeps its connection (as an analyst's SQL client does), attaching afresh every tenth query.
READER = """
import json, sys, time
from pathlib import Path
from config.settings import Settings
from warehouse.lake import current_snapshot, open_lake
stop, RAW, lake = Path(sys.argv[1]), json.loads(sys.argv[2]), Settings().lake
con, queries = None, 0
while not stop.exists():
    began = time.monotonic()
    out = {"t": time.time(), "fresh": queries % 10 == 0}
    try:
        if out["fresh"]:
            if con is not None:
                con.close()
            con = open_lake(lake, read_only=True)
        con.execute("BEGIN TRANSACTION")
        out["snapshot"] = current_snapshot(con)
        out["loaded"] = con.execute("SELECT coalesce(sum(loaded), 0) FROM ingest_batches").fetchone()[0]
        out["rows"] = sum(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in RAW)
        out["days"] = [str(d) for (d,) in con.execute("SELECT day FROM agg_daily_headline ORDER BY day").fetchall()]
        con.execute("COMMIT")
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        con = None
    queries += 1
    print(json.dumps(out), flush=True)
    time.sleep(max(0.0, 0.1 - (time.monotonic() - began)))
"""


@pytest.mark.parametrize("lake", ["sqlite", "postgres"], indirect=True)
def test_queries_every_100_ms_during_ingest_and_build_see_consistent_snapshots(
    settings: Settings, tmp_path: Path
) -> None:
    config = settings.kafka_client_config()
    create_topics(config, list(settings.topics.by_family().values()), 3)
    simulation = SimConfig(days=3, users=60, channels=5, campaigns=2, seed=23, target_events=4500)
    assert produce_simulated(simulate(replace(simulation, topics=settings.topics.by_family())), config) > 4000
    small_batches = settings.model_copy(update={"batch_size": 250})  # many commits for the reader to see

    open_lake(settings.lake).close()  # the first writer creates the lake; analysts query an existing one
    stop, reader_log = tmp_path / "stop-reader", tmp_path / "reader.err"
    with reader_log.open("w") as err:
        reader = subprocess.Popen(
            [sys.executable, "-c", READER, str(stop), json.dumps(RAW_TABLES)],
            env=os.environ | lake_env(settings.lake), stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
    lines: list[dict[str, Any]] = []
    collect = threading.Thread(target=lambda: lines.extend(json.loads(x) for x in reader.stdout or []), daemon=True)
    collect.start()
    try:
        deadline = time.monotonic() + 60
        while not lines and time.monotonic() < deadline:  # the reader has started
            assert reader.poll() is None, reader_log.read_text()
            time.sleep(0.05)
        ingest_began = time.time()
        totals = ingest_once(small_batches)
        ingest_ended = build_began = time.time()
        result = run_build(settings)
        build_ended = time.time()
        time.sleep(0.5)  # a few queries after the build
    finally:
        stop.touch()
        try:
            reader.wait(timeout=60)
        finally:
            if reader.poll() is None:
                reader.kill()
                reader.wait()
            collect.join(timeout=10)
            if reader.stdout is not None:
                reader.stdout.close()
    assert reader.returncode == 0, reader_log.read_text()
    assert totals.batches >= 10 and totals.loaded > 4000
    assert len(result.days) == 3

    failed = [line for line in lines if "error" in line]
    assert not failed, failed[:5]
    # Every query's snapshot is whole: the ledger's loaded count and the raw rows are committed together.
    torn = [line for line in lines if line["loaded"] != line["rows"]]
    assert not torn, torn[:5]
    # The queries ran while the pipeline wrote: they saw the ingest part-way and the build part-way.
    during_ingest = [line for line in lines if ingest_began <= line["t"] <= ingest_ended]
    during_build = [line for line in lines if build_began <= line["t"] <= build_ended]
    assert len(during_ingest) >= 5 and len(during_build) >= 3, (len(during_ingest), len(during_build))
    assert len({line["loaded"] for line in lines}) >= 4  # intermediate ledger states, not only before/after
    assert lines[-1]["loaded"] == totals.loaded and len(lines[-1]["days"]) == 3
    # Snapshots only move forward, and a day's marts never vanish once built (each day is replaced in one
    # transaction: a reader sees its old rows or its new ones).
    for before, after in itertools.pairwise(lines):
        assert after["snapshot"] >= before["snapshot"] and after["loaded"] >= before["loaded"]
        assert set(before["days"]) <= set(after["days"]), (before, after)
