"""The Kafka door for ingest: a bounded batch consumer with explicit offsets.

:class:`BatchSource` is the small interface the ingest flow reads through; :class:`KafkaBatchSource`
implements it with kafka-python. Partitions are assigned manually and positioned at the offsets the
warehouse committed (``assign`` + ``seek`` starts at once, where a group subscription waits for a
rebalance); offsets are committed to the consumer group only after the warehouse commit, so standard Kafka
tools show the lag. Several consumers per topic can later split the partitions between them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

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
