"""The Kafka door for ingest: a bounded batch consumer with explicit offsets.

:class:`BatchSource` is the small interface the ingest flow reads through; :class:`KafkaBatchSource`
implements it with kafka-python (the default), :class:`ConfluentBatchSource` with confluent-kafka
(librdkafka: it fetches and parses records in native threads, without the GIL the decoder needs), and
:func:`open_source` picks one by the ``kafka_client`` setting. Both follow the same protocol. Partitions are assigned manually and positioned at the offsets the
warehouse committed (``assign`` + ``seek`` starts at once, where a group subscription waits for a
rebalance); offsets are committed to the consumer group only after the warehouse commit, so standard Kafka
tools show the lag. Several consumers per topic can later split the partitions between them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Literal, Protocol

import confluent_kafka
import polars as pl
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from schemas.events import MESSAGE_SCHEMA

log = logging.getLogger(__name__)

Offsets = dict[tuple[str, int], int]


class SourceError(RuntimeError):
    """Kafka could not be read; the message says what to do."""


class SourceUnavailable(SourceError):
    """A call on a source that was working failed (the broker stopped answering); retrying may help."""


class BatchSource(Protocol):
    """A bounded reader of several topics' partitions."""

    def partitions(self) -> list[tuple[str, int]]:
        """Every (topic, partition) this source reads."""
        ...

    def end_offsets(self) -> Offsets:
        """The current end offset (next offset to be written) of every partition."""
        ...

    def seek(self, offsets: Offsets) -> None:
        """Position each partition at an offset (partitions absent from ``offsets`` start at the beginning)."""
        ...

    def read_batch(self, max_messages: int, until: Offsets, timeout_s: float) -> pl.DataFrame:
        """Up to ``max_messages`` messages, none at or past ``until`` of its partition (MESSAGE_SCHEMA)."""
        ...

    def commit(self, next_offsets: Offsets) -> None:
        """Record consumption in the consumer group (the next offset to read per partition)."""
        ...

    def close(self) -> None: ...


class KafkaBatchSource:
    """:class:`BatchSource` over kafka-python's KafkaConsumer (manual assignment)."""

    def __init__(
        self, client_config: dict[str, Any], topics: Sequence[str], group_id: str, request_timeout_s: float = 30.0
    ) -> None:
        self._timeout_ms = max(1000, int(request_timeout_s * 1000))
        try:
            self._consumer = KafkaConsumer(
                **client_config,
                group_id=group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_partition_fetch_bytes=8 * 1024 * 1024,
                fetch_max_bytes=64 * 1024 * 1024,
                max_poll_records=50_000,
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

    def end_offsets(self) -> Offsets:
        try:
            ends = self._consumer.end_offsets(self._tps, timeout_ms=self._timeout_ms)
        except KafkaError as exc:
            raise SourceUnavailable(f"reading the end offsets failed: {exc}") from exc
        return {(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()}

    def seek(self, offsets: Offsets) -> None:
        for tp in self._tps:
            offset = offsets.get((tp.topic, tp.partition))
            if offset is None:
                self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, offset)

    def read_batch(self, max_messages: int, until: Offsets, timeout_s: float) -> pl.DataFrame:
        try:
            return self._read_batch(max_messages, until, timeout_s)
        except KafkaError as exc:
            raise SourceUnavailable(f"reading messages failed: {exc}") from exc

    def _read_batch(self, max_messages: int, until: Offsets, timeout_s: float) -> pl.DataFrame:
        topics: list[str] = []
        partitions: list[int] = []
        offsets: list[int] = []
        timestamps: list[int] = []
        keys: list[bytes | None] = []
        values: list[bytes | None] = []
        active = {tp for tp in self._tps if self._consumer.position(tp) < until.get((tp.topic, tp.partition), 0)}
        # Partitions already at their bound are paused, so a poll brings nothing past it.
        self._consumer.pause(*[tp for tp in self._tps if tp not in active])
        self._consumer.resume(*active)
        deadline = time.monotonic() + timeout_s
        while active and len(offsets) < max_messages and time.monotonic() < deadline:
            polled = self._consumer.poll(timeout_ms=200, max_records=max_messages - len(offsets))
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
        return pl.DataFrame(
            {
                "topic": topics, "partition": partitions, "offset": offsets, "timestamp_ms": timestamps,
                "key": keys, "value": values,
            },
            schema=MESSAGE_SCHEMA,
        )  # fmt: skip

    def commit(self, next_offsets: Offsets) -> None:
        # Kafka's committed offset is the next one to read: the last ingested offset + 1.
        self._consumer.commit(
            {TopicPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in next_offsets.items()},
            timeout_ms=self._timeout_ms,
        )

    def close(self) -> None:
        self._consumer.close()


# kafka-python keyword -> librdkafka property, for the settings liveops maps (liveops.settings.kafka_client_config).
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
    """:class:`BatchSource` over confluent-kafka's Consumer (manual assignment, batch ``consume``).

    The same protocol as :class:`KafkaBatchSource`: partitions assigned at the offsets the warehouse
    committed, nothing read at or past a batch's bound (a partition at its bound is paused, a record past it
    is dropped and the partition rewound to the bound), the consumer group's offsets committed only after
    the warehouse commit.
    """

    def __init__(
        self, client_config: dict[str, Any], topics: Sequence[str], group_id: str, request_timeout_s: float = 30.0
    ) -> None:
        self._timeout_s = max(1.0, request_timeout_s)
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
        # The next offset to read per partition, as this source positioned and read it.
        self._next: Offsets = {}
        self._rewind: set[tuple[str, int]] = set()
        self.seek({})

    def partitions(self) -> list[tuple[str, int]]:
        return list(self._parts)

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
        for t, p in self._parts:
            offset = offsets.get((t, p))
            self._next[(t, p)] = self._watermarks(t, p)[0] if offset is None else offset
        self._rewind.clear()
        self._consumer.assign([confluent_kafka.TopicPartition(t, p, self._next[(t, p)]) for t, p in self._parts])

    def read_batch(self, max_messages: int, until: Offsets, timeout_s: float) -> pl.DataFrame:
        try:
            return self._read_batch(max_messages, until, timeout_s)
        except confluent_kafka.KafkaException as exc:
            raise SourceUnavailable(f"reading messages failed: {exc}") from exc

    def _read_batch(self, max_messages: int, until: Offsets, timeout_s: float) -> pl.DataFrame:
        columns: dict[str, list[Any]] = {name: [] for name in MESSAGE_SCHEMA}
        active = {tp for tp in self._parts if self._next[tp] < until.get(tp, 0)}
        tps = {tp: confluent_kafka.TopicPartition(*tp) for tp in self._parts}
        self._consumer.pause([tps[tp] for tp in self._parts if tp not in active])
        self._consumer.resume([tps[tp] for tp in active])
        for tp in active & self._rewind:
            # Records past an earlier bound were fetched and dropped: read again from the next offset.
            self._consumer.seek(confluent_kafka.TopicPartition(*tp, self._next[tp]))
        self._rewind -= active
        deadline = time.monotonic() + timeout_s
        while active and len(columns["offset"]) < max_messages and time.monotonic() < deadline:
            for message in self._consumer.consume(
                num_messages=min(max_messages - len(columns["offset"]), 100_000), timeout=0.2
            ):
                error = message.error()
                if error is not None:
                    raise confluent_kafka.KafkaException(error)
                topic, partition, offset = message.topic(), message.partition(), message.offset()
                if topic is None or partition is None or offset is None:
                    continue  # not a record (librdkafka gives every record all three)
                tp = (topic, partition)
                if offset < self._next[tp]:
                    continue  # already read (fetched before a rewind)
                if tp not in active or offset >= until.get(tp, 0):
                    self._rewind.add(tp)  # fetched past the bound: dropped, read again from the bound later
                    continue
                columns["topic"].append(tp[0])
                columns["partition"].append(tp[1])
                columns["offset"].append(offset)
                columns["timestamp_ms"].append(message.timestamp()[1])
                columns["key"].append(message.key())
                columns["value"].append(message.value())
                self._next[tp] = offset + 1
                if offset + 1 >= until.get(tp, 0):
                    active.discard(tp)
                    self._consumer.pause([tps[tp]])
        return pl.DataFrame(columns, schema=MESSAGE_SCHEMA)

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
) -> BatchSource:
    """The :class:`BatchSource` of the chosen Kafka client (the ``kafka_client`` setting)."""
    kind = ConfluentBatchSource if client == "confluent" else KafkaBatchSource
    return kind(client_config, topics, group_id, request_timeout_s=request_timeout_s)
