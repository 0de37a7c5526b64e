"""Load messages into the warehouse as ingest would, without Kafka (simulated days for tests and benchmarks).

Each message is given what the broker would give it: a partition (from its key, as the producer's default
partitioner spreads keys), the next offset of that partition, and an arrival time, the latest event time
emitted so far (so a late event arrives after its day). Batches then go through the ingest's own decode
(:func:`transforms.decode.decode_messages`) and transactional load (:class:`WarehouseWriter`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import polars as pl

from schemas.events import MESSAGE_SCHEMA, Family
from transforms.decode import decode_messages
from warehouse.loader import WarehouseWriter


class Message(Protocol):
    """What a message needs to be loaded (``streams.simulator.SimMessage`` has it)."""

    @property
    def topic(self) -> str: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes: ...
    @property
    def event_time(self) -> datetime: ...


@dataclass(frozen=True)
class OfflineLoad:
    """What :func:`load_offline` did: messages read, events loaded."""

    messages: int
    loaded: int


def load_offline(
    warehouse: WarehouseWriter,
    messages: Iterable[Message],
    topics: Mapping[str, str],
    *,
    partitions: int = 3,
    batch_size: int = 200_000,
    progress: Callable[[int], None] | None = None,
) -> OfflineLoad:
    """Decode and load ``messages`` into ``warehouse`` in batches of ``batch_size``, offsets included.

    Args:
        warehouse: where to write (one transaction per batch).
        messages: the messages, in emission order.
        topics: topic name per family (``{"viewer": "viewer-events", ...}``).
        partitions: partitions per topic.
        batch_size: messages per batch.
        progress: called with the messages loaded so far after each batch.
    """
    families: dict[str, Family] = {topic: family for family, topic in topics.items()}  # type: ignore[misc]
    offsets: dict[tuple[str, int], int] = {}
    arrival_ms = 0
    rows: list[tuple[Any, ...]] = []
    count = loaded = 0

    def flush() -> None:
        nonlocal loaded
        frame = pl.DataFrame(rows, schema=MESSAGE_SCHEMA, orient="row")
        decoded = decode_messages(frame, families)
        ends = {
            (topic, partition): offset + 1
            for topic, partition, offset in frame.group_by("topic", "partition").agg(pl.col("offset").max()).rows()
        }
        result = warehouse.load_batch(
            decoded.valid, decoded.quarantine, ends, frame.height, decoded.duplicates_in_batch,
            decoded.unknown_fields, datetime.now(UTC),
        )  # fmt: skip
        loaded += result.loaded
        rows.clear()
        if progress is not None:
            progress(count)

    for message in messages:
        key = message.key
        partition = (key[-1] if key else 0) % partitions
        offset = offsets.get((message.topic, partition), 0)
        offsets[(message.topic, partition)] = offset + 1
        arrival_ms = max(arrival_ms, int(message.event_time.timestamp() * 1000))
        rows.append((message.topic, partition, offset, arrival_ms, key, message.value))
        count += 1
        if len(rows) >= batch_size:
            flush()
    if rows:
        flush()
    return OfflineLoad(messages=count, loaded=loaded)
