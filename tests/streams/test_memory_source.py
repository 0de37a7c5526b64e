"""The in-memory and JSON-lines sources follow the BatchSource protocol: partitions and offsets as the broker
would give them, reads bounded by the batch size and ``until``, join positioned at the warehouse's offsets,
clear errors for a JSON-lines file that is not one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from kafka.partitioner.default import murmur2

from streams.consumer import Offsets, Partition, SourceError
from streams.memory import (
    JsonLinesError,
    MemorySource,
    SourceMessage,
    arrivals,
    default_partition,
    jsonl_source,
)
from streams.simulator import SimMessage
from tests.factories import ts

TOPICS = ["a-events", "b-events"]


def messages(n: int, topic: str = "a-events", partition: int | None = 0) -> list[SourceMessage]:
    return [SourceMessage(topic, None, f"v{i}".encode(), 1_000 + i, partition) for i in range(n)]


class Warehouse:
    """A membership that answers with fixed offsets, as the warehouse's would be, and records the calls."""

    def __init__(self, stored: Offsets) -> None:
        self.stored = stored
        self.asked: list[list[Partition]] = []

    def assigned(self, partitions: list[Partition]) -> Offsets:
        self.asked.append(partitions)
        return {tp: o for tp, o in self.stored.items() if tp in partitions}

    def revoked(self, partitions: list[Partition]) -> None:
        pass


def test_partitions_and_offsets_are_the_brokers_key_partitioned_and_counted_per_partition() -> None:
    keys = [b"se-1", b"se-2", b"se-1", b"ch-9", None]
    source = MemorySource([SourceMessage("a-events", k, b"{}", 5) for k in keys], TOPICS, partitions=3)
    assert source.partitions() == [("a-events", 0), ("a-events", 1), ("a-events", 2), ("b-events", 0),
                                   ("b-events", 1), ("b-events", 2)]  # fmt: skip
    batch = source.read_batch(100, source.end_offsets(), 1.0)
    rows = batch.messages.select("partition", "offset", "key").rows()
    expected_partitions = [(murmur2(k) & 0x7FFFFFFF) % 3 if k else 0 for k in keys]
    assert [p for p, _, _ in rows] == expected_partitions
    counted: dict[int, int] = {}
    for p, offset, _ in rows:
        assert offset == counted.get(p, 0)
        counted[p] = offset + 1
    ends = source.end_offsets()
    assert sum(ends.values()) == len(keys) and ends[("b-events", 0)] == 0
    assert default_partition(b"se-1", 3) == rows[0][0]


def test_reads_are_bounded_by_the_batch_size_and_until_and_report_what_remains() -> None:
    source = MemorySource(messages(10) + messages(4, "b-events"), TOPICS, partitions=1)
    until = {("a-events", 0): 7, ("b-events", 0): 4}
    first = source.read_batch(5, until, 1.0)
    assert first.messages.height == 5 and first.start == {("a-events", 0): 0}
    assert first.remaining == 6 and first.next_offsets == {("a-events", 0): 5}
    second = source.read_batch(5, until, 1.0)
    assert second.messages.select("topic", "offset").rows() == [
        ("a-events", 5), ("a-events", 6), ("b-events", 0), ("b-events", 1), ("b-events", 2)
    ]  # fmt: skip
    assert second.start == {("a-events", 0): 5, ("b-events", 0): 0}
    third = source.read_batch(5, until, 1.0)
    assert third.messages.select("offset").to_series().to_list() == [3] and third.remaining == 0
    assert source.read_batch(5, until, 1.0).messages.is_empty()  # nothing at or past until: a[7..9] stay
    assert third.positions == {("a-events", 0): 7, ("b-events", 0): 4}


def test_join_assigns_every_partition_and_seeks_to_the_warehouses_offsets() -> None:
    source = MemorySource(messages(6) + messages(3, "b-events"), TOPICS, partitions=1)
    source.commit({("a-events", 0): 1})  # the group's offsets are never read back: the warehouse's win
    warehouse = Warehouse({("a-events", 0): 4})
    before = source.generation
    source.join(warehouse)
    assert warehouse.asked == [[("a-events", 0), ("b-events", 0)]] and source.generation == before + 1
    batch = source.read_batch(100, source.end_offsets(), 1.0)
    assert batch.messages.select("topic", "offset").rows() == [
        ("a-events", 4), ("a-events", 5), ("b-events", 0), ("b-events", 1), ("b-events", 2)
    ]  # fmt: skip
    assert batch.generation == source.generation
    warehouse.stored = {("a-events", 0): 5, ("b-events", 0): 2}
    source.reposition()  # after a refused batch: the warehouse's offsets again
    again = source.read_batch(100, source.end_offsets(), 1.0)
    assert again.messages.select("topic", "offset").rows() == [("a-events", 5), ("b-events", 2)]
    source.commit(again.next_offsets)
    assert source.committed == {("a-events", 0): 6, ("b-events", 0): 3}


def test_arrivals_are_the_latest_event_time_emitted_so_far() -> None:
    times = [ts("2026-11-01T10:00:00Z"), ts("2026-11-01T08:00:00Z"), ts("2026-11-01T11:00:00Z")]
    stamped = list(arrivals(SimMessage("a-events", b"k", b"{}", t) for t in times))
    ten, eleven = (int(t.timestamp() * 1000) for t in (times[0], times[2]))
    assert [m.timestamp_ms for m in stamped] == [ten, ten, eleven]  # the late event arrives at 10:00


def test_a_message_of_another_topic_or_partition_is_refused() -> None:
    with pytest.raises(SourceError, match="'c-events' is not one of"):
        MemorySource(messages(1, "c-events"), TOPICS)
    with pytest.raises(SourceError, match=re.escape("partition 3 of 'a-events' is not in 0..2")):
        MemorySource(messages(1, partition=3), TOPICS)


def test_a_closed_source_says_so() -> None:
    source = MemorySource(messages(1), TOPICS)
    source.close()
    with pytest.raises(SourceError, match="closed"):
        source.read_batch(1, {("a-events", 0): 1}, 1.0)


def test_jsonl_lines_become_messages_text_base64_timestamps_and_partitions(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    lines = [
        {"topic": "a-events", "key": "k1", "value": '{"event_id": "e1"}', "timestamp": "2026-11-01T10:00:00Z"},
        {"topic": "b-events", "key": None, "value_base64": "//4=", "timestamp": 1_700_000_000_000, "partition": 2},
        {"topic": "a-events", "value": None, "timestamp": "2026-11-01T18:00:00+08:00", "partition": 1},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines[:2]) + "\n\n" + json.dumps(lines[2]) + "\n")
    source = jsonl_source(path, TOPICS)
    rows = source.read_batch(10, source.end_offsets(), 1.0).messages.rows(named=True)
    ten = int(ts("2026-11-01T10:00:00Z").timestamp() * 1000)
    assert [(r["topic"], r["key"], r["value"], r["timestamp_ms"]) for r in rows] == [
        ("a-events", b"k1", b'{"event_id": "e1"}', ten),
        ("b-events", None, b"\xff\xfe", 1_700_000_000_000),
        ("a-events", None, None, ten),
    ]
    assert [r["partition"] for r in rows] == [default_partition(b"k1", 3), 2, 1]


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("{not json", "m.jsonl, line 2: not JSON"),
        ("[1, 2]", "line 2: a message must be a JSON object, not list"),
        ('{"value": "x", "timestamp": 1}', "line 2: 'topic' is missing or not a string"),
        ('{"topic": "a-events", "value": "x"}', "line 2: 'timestamp' is missing"),
        ('{"topic": "a-events", "value": "x", "timestamp": "2026-11-01T10:00:00"}', "with an offset"),
        ('{"topic": "a-events", "value": "x", "timestamp": "yesterday"}', "'timestamp' must be an RFC 3339"),
        ('{"topic": "a-events", "value": 7, "timestamp": 1}', "'value' must be a string or null, not int"),
        ('{"topic": "a-events", "value": "x", "value_base64": "eA==", "timestamp": 1}', "not both"),
        ('{"topic": "a-events", "value_base64": "***", "timestamp": 1}', "'value_base64' is not valid base64"),
        ('{"topic": "a-events", "value": "x", "timestamp": 1, "partition": "1"}', "'partition' must be an integer"),
        ('{"topic": "c-events", "value": "x", "timestamp": 1}', "m.jsonl: message 2: topic 'c-events' is not one"),
        ('{"topic": "a-events", "value": "x", "timestamp": 1, "partition": 5}', "partition 5 of 'a-events'"),
    ],
)
def test_a_jsonl_line_that_is_not_a_message_says_which_line_and_why(tmp_path: Path, line: str, error: str) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text('{"topic": "a-events", "key": "k", "value": "{}", "timestamp": 1}\n' + line + "\n")
    with pytest.raises(JsonLinesError, match=re.escape(error)):
        jsonl_source(path, TOPICS)
