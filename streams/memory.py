"""Sources without Kafka: the :class:`~streams.consumer.BatchSource` protocol over messages held in memory,
or read from a JSON-lines file, so that tests, benchmarks and offline loads run the real ingest loop.

:class:`MemorySource` plays the broker: each message gets what Kafka would give it, a partition (its own,
or from its key as the producer's default partitioner picks one: murmur2 of the key; partition 0 without
a key), the next offset of that partition, and its timestamp. Reads follow the protocol of the Kafka
sources: bounded by the batch size and by ``until``, in arrival order over the held partitions, positioned
on :meth:`MemorySource.join` at the offsets the warehouse committed (the membership's ``assigned``), the
"consumer group's" offsets recorded on :meth:`MemorySource.commit` only (never read back: the warehouse's
offsets are the truth). One member holds every partition: there is no rebalance after the join.

:func:`arrivals` gives simulated messages the arrival time a broker fed in emission order would stamp them
with: the latest event time emitted so far (so a late event arrives after its day).

:func:`jsonl_source` reads the JSON-lines format (one message a line; :func:`parse_jsonl_line`):

    {"topic": "viewer-events", "key": "se-1a2b", "value": "{\\"event_id\\": ...}",
     "timestamp": "2026-11-01T00:03:36.000Z", "partition": 1}

- ``topic``: one of the source's topics.
- ``key``: the key as text, or null (no key); ``key_base64`` (standard base64) instead for bytes that are
  not UTF-8. Absent means null.
- ``value``: the message's value as text (the event's JSON text as a *string*, so that a malformed value
  survives byte for byte), or null; ``value_base64`` instead for bytes that are not UTF-8.
- ``timestamp``: the Kafka timestamp, an RFC 3339 date-time with an offset or an integer of milliseconds
  since the epoch.
- ``partition`` (optional): an integer below the topic's partition count; absent, the key picks it.

Blank lines are skipped; any other line that is not such an object stops the read with
:class:`JsonLinesError`, naming the file, the line and what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import polars as pl
from kafka.partitioner.default import murmur2

from schemas.events import MESSAGE_SCHEMA
from streams.consumer import Batch, Membership, Offsets, Partition, SourceError


@dataclass(frozen=True)
class SourceMessage:
    """One message as a producer hands it to the broker: topic, key, value, timestamp, maybe a partition."""

    topic: str
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    partition: int | None = None  # None: the key picks it, as the producer's default partitioner does


class Emitted(Protocol):
    """A message with the time it was emitted at (``streams.simulator.SimMessage`` has it)."""

    @property
    def topic(self) -> str: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes: ...
    @property
    def event_time(self) -> datetime: ...


def arrivals(messages: Iterable[Emitted], partition: int | None = None) -> Iterator[SourceMessage]:
    """``messages`` (in emission order) stamped as a broker fed in that order would: the latest event time
    emitted so far, in milliseconds (so a late event arrives after its day). ``partition`` puts every
    message in that partition (None: the key picks it)."""
    latest = 0
    for message in messages:
        latest = max(latest, int(message.event_time.timestamp() * 1000))
        yield SourceMessage(message.topic, message.key, message.value, latest, partition)


def default_partition(key: bytes | None, partitions: int) -> int:
    """The partition the producer's default partitioner gives ``key`` (murmur2, as the Java client and
    kafka-python do; partition 0 for a message without a key)."""
    return 0 if key is None else (murmur2(key) & 0x7FFFFFFF) % partitions


class MemorySource:
    """:class:`~streams.consumer.BatchSource` over messages held in memory (module docstring).

    Args:
        messages: the messages in arrival order (read once, here).
        topics: the topics, as Kafka would have them (a topic without messages still has its partitions).
        partitions: partitions per topic.

    Raises:
        SourceError: a message of another topic, or with a partition outside ``0 .. partitions - 1``.
    """

    def __init__(self, messages: Iterable[SourceMessage], topics: Sequence[str], partitions: int = 3) -> None:
        self._topics = list(topics)
        self._parts: list[Partition] = [(t, p) for t in self._topics for p in range(partitions)]
        self._log = self._append(messages, set(self._topics), partitions)
        self._ends: Offsets = {tp: 0 for tp in self._parts}
        for topic, partition, count in self._log.group_by("topic", "partition").len().iter_rows():
            self._ends[(topic, partition)] = count
        self._next: Offsets = {tp: 0 for tp in self._parts}  # where each held partition is positioned
        self._membership: Membership | None = None
        self._generation = 0
        self._closed = False
        self.committed: Offsets = {}  # the "consumer group's" offsets: what commit recorded (for tests)

    @staticmethod
    def _append(messages: Iterable[SourceMessage], topics: set[str], partitions: int) -> pl.DataFrame:
        """The log: every message with its partition and offset, in arrival order (MESSAGE_SCHEMA)."""
        columns: dict[str, list[Any]] = {name: [] for name in MESSAGE_SCHEMA}
        offsets: Offsets = {}
        cache: dict[bytes, int] = {}  # keys repeat (a session's heartbeats): hash each once
        for n, m in enumerate(messages):
            if m.topic not in topics:
                raise SourceError(f"message {n + 1}: topic {m.topic!r} is not one of the source's {sorted(topics)}")
            partition = m.partition
            if partition is None:
                if m.key is None:
                    partition = 0
                else:
                    partition = cache.get(m.key)
                    if partition is None:
                        partition = cache[m.key] = default_partition(m.key, partitions)
            elif not 0 <= partition < partitions:
                raise SourceError(
                    f"message {n + 1}: partition {partition} of {m.topic!r} is not in 0..{partitions - 1}"
                )
            offset = offsets.get((m.topic, partition), 0)
            offsets[(m.topic, partition)] = offset + 1
            for name, item in zip(
                MESSAGE_SCHEMA, (m.topic, partition, offset, m.timestamp_ms, m.key, m.value), strict=True
            ):
                columns[name].append(item)
        return pl.DataFrame(columns, schema=MESSAGE_SCHEMA)

    def partitions(self) -> list[Partition]:
        return list(self._parts)

    def assignment(self) -> list[Partition]:
        return sorted(self._parts)

    @property
    def generation(self) -> int:
        return self._generation

    def join(self, membership: Membership) -> None:
        """Become the group's only member: every partition is assigned at once, positioned at the offsets
        ``membership.assigned`` returns (the warehouse's), the others at the beginning."""
        self._check_open()
        self._membership = membership
        self._generation += 1
        self.reposition()

    def reposition(self) -> None:
        stored = self._membership.assigned(self.assignment()) if self._membership else {}
        self.seek(stored)

    def end_offsets(self) -> Offsets:
        self._check_open()
        return dict(self._ends)

    def seek(self, offsets: Offsets) -> None:
        self._next = {tp: offsets.get(tp, 0) for tp in self._parts}

    def read_batch(self, max_messages: int, until: Offsets, timeout_s: float) -> Batch:
        """The first ``max_messages`` messages, in arrival order, of the held partitions from their position
        up to (not including) ``until`` of each; never waits (``timeout_s`` is not needed)."""
        self._check_open()
        wanted = [
            (pl.col("topic") == t) & (pl.col("partition") == p) & pl.col("offset").is_between(start, end, "left")
            for (t, p), start in self._next.items()
            if start < (end := until.get((t, p), 0))
        ]
        frame = self._log.filter(pl.any_horizontal(wanted)).head(max_messages) if wanted else self._log.clear()
        start = {}
        for topic, partition, last in frame.group_by("topic", "partition").agg(pl.col("offset").max()).iter_rows():
            start[(topic, partition)] = self._next[(topic, partition)]
            self._next[(topic, partition)] = last + 1
        return Batch(
            frame,
            start,
            self._generation,
            remaining=sum(max(0, until.get(tp, 0) - o) for tp, o in self._next.items()),
            positions=dict(self._next),
        )

    def commit(self, next_offsets: Offsets) -> None:
        self._check_open()
        self.committed.update(next_offsets)

    def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise SourceError("the source is closed")


class JsonLinesError(SourceError):
    """A line of a JSON-lines file is not a message of the format (module docstring); says where and why."""


def _bytes(record: dict[str, Any], name: str, where: str) -> bytes | None:
    """The ``name`` field as bytes: from its text (UTF-8) or from ``<name>_base64``; None when null/absent."""
    text, encoded = record.get(name), record.get(f"{name}_base64")
    if text is not None and encoded is not None:
        raise JsonLinesError(f"{where}: give either {name!r} or {name + '_base64'!r}, not both")
    if encoded is not None:
        if not isinstance(encoded, str):
            raise JsonLinesError(f"{where}: {name + '_base64'!r} must be a string of base64")
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise JsonLinesError(f"{where}: {name + '_base64'!r} is not valid base64 ({exc})") from exc
    if text is None:
        return None
    if not isinstance(text, str):
        raise JsonLinesError(f"{where}: {name!r} must be a string or null, not {type(text).__name__}")
    return text.encode()


def _timestamp_ms(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return int(moment.timestamp() * 1000)
    raise JsonLinesError(
        f"{where}: 'timestamp' must be an RFC 3339 date-time with an offset or integer milliseconds, not {value!r}"
    )


def parse_jsonl_line(line: str, where: str) -> SourceMessage | None:
    """One line of the JSON-lines format as a message (None for a blank line).

    Raises:
        JsonLinesError: the line is not a message of the format; the error starts with ``where``.
    """
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise JsonLinesError(f"{where}: not JSON ({exc})") from exc
    if not isinstance(record, dict):
        raise JsonLinesError(f"{where}: a message must be a JSON object, not {type(record).__name__}")
    topic = record.get("topic")
    if not isinstance(topic, str):
        raise JsonLinesError(f"{where}: 'topic' is missing or not a string")
    if "timestamp" not in record:
        raise JsonLinesError(f"{where}: 'timestamp' is missing")
    partition = record.get("partition")
    if partition is not None and (not isinstance(partition, int) or isinstance(partition, bool)):
        raise JsonLinesError(f"{where}: 'partition' must be an integer, not {partition!r}")
    return SourceMessage(
        topic, _bytes(record, "key", where), _bytes(record, "value", where),
        _timestamp_ms(record["timestamp"], where), partition,
    )  # fmt: skip


def read_jsonl_messages(path: Path) -> Iterator[SourceMessage]:
    """The messages of a JSON-lines file, in its order.

    Raises:
        JsonLinesError: a line is not a message of the format (names the file and the line).
    """
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            message = parse_jsonl_line(line, f"{path.name}, line {number}")
            if message is not None:
                yield message


def jsonl_source(path: Path, topics: Sequence[str], partitions: int = 3) -> MemorySource:
    """A :class:`MemorySource` of the messages of the JSON-lines file ``path`` (format: module docstring).

    Raises:
        JsonLinesError: a line is not a message of the format, or names a partition the topics do not have.
        SourceError: a message names a topic the source does not have.
    """
    messages = list(read_jsonl_messages(path))
    try:
        return MemorySource(messages, topics, partitions)
    except SourceError as exc:
        if isinstance(exc, JsonLinesError):
            raise
        raise JsonLinesError(f"{path.name}: {exc}") from exc
