"""The Kafka door for ingest: a bounded batch consumer with explicit offsets.

:class:`BatchSource` is the small interface the ingest flow reads through; :class:`KafkaBatchSource`
implements it with kafka-python (the default), :class:`ConfluentBatchSource` with confluent-kafka
(librdkafka: it fetches and parses records in native threads, without the GIL the decoder needs), and
:func:`open_source` picks one by the ``kafka_client`` setting. Both follow the same protocol; so does
:class:`streams.memory.MemorySource`, the broker played in memory (tests, benchmarks: no Kafka).

A new source holds every partition of its topics (manual assignment: tools and tests). Ingest calls
:meth:`BatchSource.join` and becomes a member of the consumer group: Kafka spreads the partitions over the
members, and the source calls back a :class:`Membership` on each change. On assignment it positions each
partition at the offset the warehouse committed (whatever the group's own offsets say); on revocation it
first lets the batch in flight finish. Every change bumps :attr:`BatchSource.generation`: a batch read under
an older generation is dropped by ingest, and a read that saw a rebalance returns nothing (it re-reads from
the warehouse's offsets). Offsets are committed to the consumer group only after the warehouse commit, for
standard Kafka tools (lag); the warehouse's offsets are the truth.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import confluent_kafka
import polars as pl
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from schemas.events import MESSAGE_SCHEMA

log = logging.getLogger(__name__)

Offsets = dict[tuple[str, int], int]


class SourceError(RuntimeError):
    """Kafka could not be read; the message says what to do."""


class SourceUnavailable(SourceError):
    """A call on a source that was working failed (the broker stopped answering); retrying may help."""


Partition = tuple[str, int]


def member_name() -> str:
    """How this process shows among the group's members (`liveops status`): host and process id."""
    return f"liveops-ingest-{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class Batch:
    """Messages read in one call, where each partition's read started, and the assignment it was read under."""

    messages: pl.DataFrame  # MESSAGE_SCHEMA
    start: Offsets  # per partition with messages: the offset its read started from (the warehouse's fence)
    generation: int  # the source's generation when it was read
    # Offsets still to read before the bounds, over the partitions this source holds (its assignment).
    remaining: int = 0
    rebalanced: bool = False  # the assignment changed during the read: nothing kept, read again
    # Where each held partition stands after the read (the next offset to read).
    positions: Offsets = field(default_factory=dict)

    @property
    def next_offsets(self) -> Offsets:
        """The offset after the last message of each partition in the batch (Kafka's "next to read")."""
        rows = self.messages.group_by("topic", "partition").agg(pl.col("offset").max()).iter_rows()
        return {(topic, partition): last + 1 for topic, partition, last in rows}


class Membership(Protocol):
    """What a group member's source calls back when Kafka changes its partitions (on the Kafka thread)."""

    def assigned(self, partitions: list[Partition]) -> Offsets:
        """The warehouse's offsets of newly assigned partitions (absent: never read, start at the beginning)."""
        ...

    def revoked(self, partitions: list[Partition]) -> None:
        """Return only once no batch of ``partitions`` is being decoded or loaded (committed or abandoned)."""
        ...


@dataclass
class _Group:
    """A source's group state: the callbacks, the generation, the offsets positioned at on assignment."""

    membership: Membership | None = None
    generation: int = 0
    positioned: dict[Partition, int | None] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bump(self) -> None:
        with self.lock:
            self.generation += 1


class BatchSource(Protocol):
    """A bounded reader of several topics' partitions."""

    def partitions(self) -> list[tuple[str, int]]:
        """Every (topic, partition) of the topics (whoever holds them)."""
        ...

    def assignment(self) -> list[Partition]:
        """The partitions this source holds now (all of them until :meth:`join`)."""
        ...

    @property
    def generation(self) -> int:
        """Bumped on every change of the assignment."""
        ...

    def join(self, membership: Membership) -> None:
        """Become a member of the consumer group (the assignment arrives during the next reads)."""
        ...

    def reposition(self) -> None:
        """Position every held partition again at the warehouse's offset (after a refused batch)."""
        ...

    def end_offsets(self) -> Offsets:
        """The current end offset (next offset to be written) of every partition."""
        ...

    def seek(self, offsets: Offsets) -> None:
        """Position each partition at an offset (partitions absent from ``offsets`` start at the beginning)."""
        ...

    def read_batch(self, max_messages: int, until: Offsets, timeout_s: float) -> Batch:
        """Up to ``max_messages`` messages of the held partitions, none at or past ``until`` of its partition."""
        ...

    def commit(self, next_offsets: Offsets) -> None:
        """Record consumption in the consumer group (the next offset to read per partition)."""
        ...

    def close(self) -> None: ...


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python is untyped
    """kafka-python's rebalance callbacks, handed to the source (they run on the client's IO thread)."""

    def __init__(self, source: KafkaBatchSource) -> None:
        self._source = source

    def on_partitions_revoked(self, revoked: Any) -> None:
        self._source._revoked([(tp.topic, tp.partition) for tp in revoked])

    def on_partitions_assigned(self, assigned: Any) -> None:
        self._source._assigned([(tp.topic, tp.partition) for tp in assigned])


class KafkaBatchSource:
    """:class:`BatchSource` over kafka-python's KafkaConsumer (manual assignment until :meth:`join`)."""

    def __init__(
        self,
        client_config: dict[str, Any],
        topics: Sequence[str],
        group_id: str,
        request_timeout_s: float = 30.0,
        session_timeout_s: float = 10.0,
    ) -> None:
        self._timeout_ms = max(1000, int(request_timeout_s * 1000))
        self._topics = list(topics)
        self._group = _Group()
        try:
            self._consumer = KafkaConsumer(
                **client_config,
                group_id=group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_partition_fetch_bytes=8 * 1024 * 1024,
                fetch_max_bytes=64 * 1024 * 1024,
                max_poll_records=50_000,
                client_id=member_name(),
                session_timeout_ms=int(session_timeout_s * 1000),
                heartbeat_interval_ms=max(1000, int(session_timeout_s * 1000) // 4),
            )
        except KafkaError as exc:
            raise SourceError(
                f"cannot reach Kafka at {client_config.get('bootstrap_servers')}: {exc}. "
                "Is the broker up (`liveops kafka up`)?"
            ) from exc
        missing = [t for t in topics if not self._consumer.partitions_for_topic(t)]
        if missing:
            self._consumer.close()
            raise SourceError(f"topics {missing} do not exist: create them with `liveops kafka create-topics`")
        self._tps = [
            TopicPartition(topic, p) for topic in topics for p in sorted(self._consumer.partitions_for_topic(topic))
        ]
        self._consumer.assign(self._tps)

    def partitions(self) -> list[tuple[str, int]]:
        return [(tp.topic, tp.partition) for tp in self._tps]

    def assignment(self) -> list[Partition]:
        return sorted((tp.topic, tp.partition) for tp in self._consumer.assignment())

    @property
    def generation(self) -> int:
        return self._group.generation

    def join(self, membership: Membership) -> None:
        self._group.membership = membership
        self._consumer.unsubscribe()  # drop the manual assignment
        self._consumer.subscribe(topics=self._topics, listener=_Listener(self))

    def _revoked(self, partitions: list[Partition]) -> None:
        self._group.bump()  # a batch read before this is dropped, whoever holds its partitions next
        if self._group.membership is not None:
            self._group.membership.revoked(partitions)

    def _assigned(self, partitions: list[Partition]) -> None:
        self._group.bump()
        stored = self._group.membership.assigned(partitions) if self._group.membership else {}
        self._group.positioned = {tp: stored.get(tp) for tp in partitions}
        self._position(self._group.positioned)

    def _position(self, offsets: dict[Partition, int | None]) -> None:
        for (topic, partition), offset in offsets.items():
            tp = TopicPartition(topic, partition)
            if offset is None:
                self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, offset)

    def reposition(self) -> None:
        held = self.assignment()
        stored = self._group.membership.assigned(held) if self._group.membership else {}
        self._group.positioned = {tp: stored.get(tp) for tp in held}
        self._position(self._group.positioned)

    def end_offsets(self) -> Offsets:
        try:
            ends = self._consumer.end_offsets(self._tps, timeout_ms=self._timeout_ms)
        except KafkaError as exc:
            raise SourceUnavailable(f"reading the end offsets failed: {exc}") from exc
        return {(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()}

    def seek(self, offsets: Offsets) -> None:
        self._position({tp: offsets.get(tp) for tp in self.assignment()})

    def read_batch(self, max_messages: int, until: Offsets, timeout_s: float) -> Batch:
        try:
            return self._read_batch(max_messages, until, timeout_s)
        except KafkaError as exc:
            raise SourceUnavailable(f"reading messages failed: {exc}") from exc

    def _read_batch(self, max_messages: int, until: Offsets, timeout_s: float) -> Batch:
        generation = self._group.generation
        topics: list[str] = []
        partitions: list[int] = []
        offsets: list[int] = []
        timestamps: list[int] = []
        keys: list[bytes | None] = []
        values: list[bytes | None] = []
        held = set(self._consumer.assignment())
        active = {tp for tp in held if self._consumer.position(tp) < until.get((tp.topic, tp.partition), 0)}
        start = {(tp.topic, tp.partition): self._consumer.position(tp) for tp in active}
        start_tps = list(active)
        touched: set[Partition] = set()
        # Partitions already at their bound are paused, so a poll brings nothing past it.
        self._consumer.pause(*[tp for tp in held if tp not in active])
        self._consumer.resume(*active)
        deadline = time.monotonic() + timeout_s
        polled_once = False
        # With nothing to read, one short poll still runs (a group member must poll to take part in rebalances).
        while (active or not polled_once) and len(offsets) < max_messages and time.monotonic() < deadline:
            polled = self._consumer.poll(timeout_ms=200 if active else 100, max_records=max_messages - len(offsets))
            polled_once = True
            if self._group.generation != generation:
                # A rebalance ran inside this poll: what was read belongs to the old assignment. The listener
                # positioned the partitions held now at the warehouse's offsets; records polled since are
                # dropped, so position them there again.
                now_held = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
                self._position({tp: o for tp, o in self._group.positioned.items() if tp in now_held})
                return Batch(pl.DataFrame(schema=MESSAGE_SCHEMA), {}, self._group.generation, rebalanced=True)
            for tp, records in polled.items():
                bound = until.get((tp.topic, tp.partition), 0)
                kept = [r for r in records if r.offset < bound]
                if len(kept) < len(records) or (kept and kept[-1].offset + 1 >= bound):
                    active.discard(tp)
                    self._consumer.pause(tp)
                if len(kept) < len(records):
                    # Records past the bound were fetched: rewind so the next batch starts at the bound.
                    self._consumer.seek(tp, bound)
                n = len(kept)
                if n:
                    touched.add((tp.topic, tp.partition))
                topics.extend([tp.topic] * n)
                partitions.extend([tp.partition] * n)
                offsets.extend(r.offset for r in kept)
                timestamps.extend(r.timestamp for r in kept)
                keys.extend(r.key for r in kept)
                values.extend(r.value for r in kept)
            for tp in list(active):
                if self._consumer.position(tp) >= until.get((tp.topic, tp.partition), 0):
                    active.discard(tp)
                    self._consumer.pause(tp)
        frame = pl.DataFrame(
            {
                "topic": topics, "partition": partitions, "offset": offsets, "timestamp_ms": timestamps,
                "key": keys, "value": values,
            },
            schema=MESSAGE_SCHEMA,
        )  # fmt: skip
        read = {(tp.topic, tp.partition) for tp in start_tps if (tp.topic, tp.partition) in touched}
        positions = {(tp.topic, tp.partition): int(self._consumer.position(tp)) for tp in self._consumer.assignment()}
        return Batch(
            frame,
            {tp: o for tp, o in start.items() if tp in read},
            generation,
            remaining=sum(max(0, until.get(tp, 0) - o) for tp, o in positions.items()),
            positions=positions,
        )

    def commit(self, next_offsets: Offsets) -> None:
        # Kafka's committed offset is the next one to read: the last ingested offset + 1.
        self._consumer.commit(
            {TopicPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in next_offsets.items()},
            timeout_ms=self._timeout_ms,
        )

    def close(self) -> None:
        self._consumer.close()


# kafka-python keyword -> librdkafka property, for the settings liveops maps (config.settings.kafka_client_config).
_LIBRDKAFKA_NAMES = {
    "security_protocol": "security.protocol",
    "sasl_mechanism": "sasl.mechanism",
    "sasl_plain_username": "sasl.username",
    "sasl_plain_password": "sasl.password",
    "ssl_cafile": "ssl.ca.location",
}


def librdkafka_config(client_config: dict[str, Any]) -> dict[str, Any]:
    """The kafka-python client settings as librdkafka properties (bootstrap servers, SASL, SSL)."""
    unknown = set(client_config) - {"bootstrap_servers", *_LIBRDKAFKA_NAMES}
    if unknown:
        raise ValueError(f"no librdkafka property for the client settings {sorted(unknown)}")
    config: dict[str, Any] = {"bootstrap.servers": ",".join(client_config["bootstrap_servers"])}
    config.update({_LIBRDKAFKA_NAMES[k]: v for k, v in client_config.items() if k in _LIBRDKAFKA_NAMES})
    return config


class ConfluentBatchSource:
    """:class:`BatchSource` over confluent-kafka's Consumer (batch ``consume``; manual assignment until
    :meth:`join`).

    The same protocol as :class:`KafkaBatchSource`: partitions positioned at the offsets the warehouse
    committed, nothing read at or past a batch's bound (a partition at its bound is paused, a record past it
    is dropped and the partition rewound to the bound), the consumer group's offsets committed only after
    the warehouse commit. librdkafka calls the rebalance callbacks from inside ``consume``, on the thread
    that reads.
    """

    def __init__(
        self,
        client_config: dict[str, Any],
        topics: Sequence[str],
        group_id: str,
        request_timeout_s: float = 30.0,
        session_timeout_s: float = 10.0,
    ) -> None:
        self._timeout_s = max(1.0, request_timeout_s)
        self._topics = list(topics)
        self._group = _Group()
        self._consumer = confluent_kafka.Consumer(
            {
                **librdkafka_config(client_config),
                "group.id": group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "max.partition.fetch.bytes": 8 * 1024 * 1024,
                "fetch.max.bytes": 64 * 1024 * 1024,
                "socket.timeout.ms": int(self._timeout_s * 1000),
                "client.id": member_name(),
                "session.timeout.ms": int(session_timeout_s * 1000),
                "heartbeat.interval.ms": max(1000, int(session_timeout_s * 1000) // 4),
            }
        )
        try:
            metadata = self._consumer.list_topics(timeout=self._timeout_s)
        except confluent_kafka.KafkaException as exc:
            self._consumer.close()
            raise SourceError(
                f"cannot reach Kafka at {','.join(client_config['bootstrap_servers'])}: {exc}. "
                "Is the broker up (`liveops kafka up`)?"
            ) from exc
        missing = [t for t in topics if t not in metadata.topics or metadata.topics[t].error is not None]
        if missing:
            self._consumer.close()
            raise SourceError(f"topics {missing} do not exist: create them with `liveops kafka create-topics`")
        self._parts = [(t, p) for t in topics for p in sorted(metadata.topics[t].partitions)]
        self._held: list[Partition] = list(self._parts)
        # The next offset to read per held partition, as this source positioned and read it.
        self._next: Offsets = {}
        self._rewind: set[tuple[str, int]] = set()
        self.seek({})

    def partitions(self) -> list[tuple[str, int]]:
        return list(self._parts)

    def assignment(self) -> list[Partition]:
        return sorted(self._held)

    @property
    def generation(self) -> int:
        return self._group.generation

    def join(self, membership: Membership) -> None:
        self._group.membership = membership
        self._consumer.unassign()
        self._held = []
        self._next = {}
        self._consumer.subscribe(
            self._topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke
        )

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        self._group.bump()
        if self._group.membership is not None:
            self._group.membership.revoked([(tp.topic, tp.partition) for tp in partitions])
        self._held = []
        self._next = {}
        consumer.unassign()

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        self._group.bump()
        held = [(tp.topic, tp.partition) for tp in partitions]
        stored = self._group.membership.assigned(held) if self._group.membership else {}
        self._group.positioned = {tp: stored.get(tp) for tp in held}
        self._held = held
        self._assign(self._group.positioned)

    def _assign(self, offsets: dict[Partition, int | None]) -> None:
        for tp, offset in offsets.items():
            self._next[tp] = self._watermarks(*tp)[0] if offset is None else offset
        self._rewind.clear()
        self._consumer.assign([confluent_kafka.TopicPartition(t, p, self._next[(t, p)]) for t, p in offsets])

    def reposition(self) -> None:
        stored = self._group.membership.assigned(self._held) if self._group.membership else {}
        self._group.positioned = {tp: stored.get(tp) for tp in self._held}
        self._assign(self._group.positioned)

    def _watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        try:
            low, high = self._consumer.get_watermark_offsets(
                confluent_kafka.TopicPartition(topic, partition), timeout=self._timeout_s
            )
        except confluent_kafka.KafkaException as exc:
            raise SourceUnavailable(f"reading the offsets of {topic}[{partition}] failed: {exc}") from exc
        return int(low), int(high)

    def end_offsets(self) -> Offsets:
        return {(t, p): self._watermarks(t, p)[1] for t, p in self._parts}

    def seek(self, offsets: Offsets) -> None:
        self._assign({tp: offsets.get(tp) for tp in self._held})

    def read_batch(self, max_messages: int, until: Offsets, timeout_s: float) -> Batch:
        try:
            return self._read_batch(max_messages, until, timeout_s)
        except confluent_kafka.KafkaException as exc:
            raise SourceUnavailable(f"reading messages failed: {exc}") from exc

    def _read_batch(self, max_messages: int, until: Offsets, timeout_s: float) -> Batch:
        generation = self._group.generation
        columns: dict[str, list[Any]] = {name: [] for name in MESSAGE_SCHEMA}
        held = list(self._held)
        active = {tp for tp in held if self._next[tp] < until.get(tp, 0)}
        start = {tp: self._next[tp] for tp in active}
        touched: set[Partition] = set()
        tps = {tp: confluent_kafka.TopicPartition(*tp) for tp in held}
        if held:
            self._consumer.pause([tps[tp] for tp in held if tp not in active])
            self._consumer.resume([tps[tp] for tp in active])
        for tp in active & self._rewind:
            # Records past an earlier bound were fetched and dropped: read again from the next offset.
            self._consumer.seek(confluent_kafka.TopicPartition(*tp, self._next[tp]))
        self._rewind -= active
        deadline = time.monotonic() + timeout_s
        polled_once = False
        while (active or not polled_once) and len(columns["offset"]) < max_messages and time.monotonic() < deadline:
            messages = self._consumer.consume(
                num_messages=min(max_messages - len(columns["offset"]), 100_000), timeout=0.2 if active else 0.1
            )
            polled_once = True
            if self._group.generation != generation:
                # A rebalance ran inside consume: drop what was read (the callback positioned the partitions
                # held now at the warehouse's offsets; records consumed since are dropped: position again).
                if self._held:
                    self._assign(self._group.positioned)
                return Batch(pl.DataFrame(schema=MESSAGE_SCHEMA), {}, self._group.generation, rebalanced=True)
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() == confluent_kafka.KafkaError._PARTITION_EOF:
                        continue
                    raise confluent_kafka.KafkaException(error)
                topic, partition, offset = message.topic(), message.partition(), message.offset()
                if topic is None or partition is None or offset is None:
                    continue  # not a record (librdkafka gives every record all three)
                tp = (topic, partition)
                if tp not in self._next or offset < self._next[tp]:
                    continue  # not held, or already read (fetched before a rewind)
                if tp not in active or offset >= until.get(tp, 0):
                    self._rewind.add(tp)  # fetched past the bound: dropped, read again from the bound later
                    continue
                columns["topic"].append(tp[0])
                columns["partition"].append(tp[1])
                columns["offset"].append(offset)
                columns["timestamp_ms"].append(message.timestamp()[1])
                columns["key"].append(message.key())
                columns["value"].append(message.value())
                touched.add(tp)
                self._next[tp] = offset + 1
                if offset + 1 >= until.get(tp, 0):
                    active.discard(tp)
                    self._consumer.pause([tps[tp]])
        remaining = sum(max(0, until.get(tp, 0) - self._next[tp]) for tp in held if tp in self._next)
        return Batch(
            pl.DataFrame(columns, schema=MESSAGE_SCHEMA),
            {tp: o for tp, o in start.items() if tp in touched},
            generation,
            remaining=remaining,
            positions={tp: self._next[tp] for tp in held if tp in self._next},
        )

    def commit(self, next_offsets: Offsets) -> None:
        # Kafka's committed offset is the next one to read: the last ingested offset + 1.
        try:
            self._consumer.commit(
                offsets=[confluent_kafka.TopicPartition(t, p, o) for (t, p), o in next_offsets.items()],
                asynchronous=False,
            )
        except confluent_kafka.KafkaException as exc:
            raise SourceUnavailable(f"committing offsets failed: {exc}") from exc

    def close(self) -> None:
        self._consumer.close()


def open_source(
    client: Literal["kafka-python", "confluent"],
    client_config: dict[str, Any],
    topics: Sequence[str],
    group_id: str,
    request_timeout_s: float = 30.0,
    session_timeout_s: float = 10.0,
) -> BatchSource:
    """The :class:`BatchSource` of the chosen Kafka client (the ``kafka_client`` setting)."""
    kind = ConfluentBatchSource if client == "confluent" else KafkaBatchSource
    return kind(
        client_config, topics, group_id, request_timeout_s=request_timeout_s, session_timeout_s=session_timeout_s
    )
