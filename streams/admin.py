"""The Kafka door for operators: how far behind the ingest's consumer group is, per topic and partition.

Ingest commits its offsets to the consumer group only after the warehouse commit (the committed offset is
the next one to read), so end offset minus committed offset is what ingest has yet to load.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError


class AdminError(RuntimeError):
    """Kafka could not be asked; the message says what to do."""


@dataclass(frozen=True)
class PartitionLag:
    """One partition: its end offset and the group's committed offset (None: the group never committed)."""

    topic: str
    partition: int
    end_offset: int
    committed: int | None

    @property
    def lag(self) -> int:
        """Messages the group has yet to consume (all of them when it never committed)."""
        return max(0, self.end_offset - (self.committed or 0))


@dataclass(frozen=True)
class TopicLag:
    """One topic of the group. ``exists`` is false when the broker does not know the topic."""

    topic: str
    exists: bool
    partitions: tuple[PartitionLag, ...] = ()

    @property
    def end_offset(self) -> int:
        return sum(p.end_offset for p in self.partitions)

    @property
    def committed(self) -> int:
        return sum(p.committed or 0 for p in self.partitions)

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)


@dataclass(frozen=True)
class GroupMember:
    """One member of the consumer group: who (client id, host) and the partitions it holds."""

    client_id: str
    host: str
    partitions: tuple[tuple[str, int], ...]


def _assigned(assignment: Any) -> list[tuple[str, int]]:
    """The partitions of a member's assignment, as kafka-python describes it (an object or its dict form)."""
    if assignment is None:
        return []
    if hasattr(assignment, "partitions"):
        return [(tp.topic, tp.partition) for tp in assignment.partitions()]
    entries = assignment.get("assigned_partitions") if isinstance(assignment, dict) else None
    held = []
    for entry in entries or []:
        topic, numbers = (entry.get("topic"), entry.get("partitions")) if isinstance(entry, dict) else entry[:2]
        held += [(str(topic), int(n)) for n in numbers or []]
    return held


def _members(admin: Any, group_id: str) -> tuple[GroupMember, ...]:
    described = admin.describe_groups([group_id]).get(group_id) or {}
    members = []
    for member in described.get("members") or []:
        held = sorted(_assigned(member.get("member_assignment")))
        members.append(
            GroupMember(str(member.get("client_id", "")), str(member.get("client_host", "")).lstrip("/"), tuple(held))
        )
    return tuple(sorted(members, key=lambda m: (m.partitions[:1], m.client_id)))


def _timeouts(client_config: dict[str, Any], timeout_ms: int) -> dict[str, Any]:
    return client_config | {"bootstrap_timeout_ms": timeout_ms, "request_timeout_ms": max(timeout_ms, 5000)}


def _admin(client_config: dict[str, Any], timeout_ms: int) -> KafkaAdminClient:
    """An admin client of the broker, or :class:`AdminError` saying it cannot be reached."""
    try:
        return KafkaAdminClient(**_timeouts(client_config, timeout_ms))
    except KafkaError as exc:
        raise AdminError(
            f"cannot reach Kafka at {client_config.get('bootstrap_servers')}: {exc}. Is the broker up?"
        ) from exc


def describe_partitions(partitions: Iterable[tuple[str, int]]) -> str:
    """Partitions for a person: ``topic[0,1,2], other[3]`` ("none" when empty)."""
    by_topic: dict[str, list[int]] = {}
    for topic, number in sorted(partitions):
        by_topic.setdefault(topic, []).append(number)
    return ", ".join(f"{topic}[{','.join(map(str, numbers))}]" for topic, numbers in by_topic.items()) or "none"


def read_consumer_lag(
    client_config: dict[str, Any], group_id: str, topics: Sequence[str], timeout_ms: int = 5000
) -> list[TopicLag]:
    """Committed offsets of ``group_id`` against the end offsets of ``topics``.

    Args:
        client_config: kafka-python connection settings (``Settings.kafka_client_config()``).
        group_id: the consumer group (the ingest's ``consumer_group``).
        topics: the topics to report, in this order.
        timeout_ms: how long to wait for the broker at start.

    Raises:
        AdminError: the broker cannot be reached.
    """
    config = _timeouts(client_config, timeout_ms)
    admin = _admin(client_config, timeout_ms)
    try:
        consumer = KafkaConsumer(**config, enable_auto_commit=False)
    except KafkaError as exc:
        admin.close()
        raise AdminError(f"cannot reach Kafka at {client_config.get('bootstrap_servers')}: {exc}") from exc
    try:
        # kafka-python 3.0: {group: {TopicPartition: OffsetAndMetadata}}; -1 means "no committed offset".
        fetched = admin.list_group_offsets({group_id: None}).get(group_id, {})
        committed = {
            (tp.topic, tp.partition): meta.offset
            for tp, meta in fetched.items()
            if meta is not None and meta.offset is not None and meta.offset >= 0
        }
        known = consumer.topics()
        result = []
        for topic in topics:
            if topic not in known:
                result.append(TopicLag(topic, exists=False))
                continue
            tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
            ends = consumer.end_offsets(tps) if tps else {}
            partitions = tuple(
                PartitionLag(topic, tp.partition, int(ends.get(tp, 0)), committed.get((topic, tp.partition)))
                for tp in tps
            )
            result.append(TopicLag(topic, exists=True, partitions=partitions))
        return result
    except KafkaError as exc:
        raise AdminError(f"Kafka did not answer: {exc}") from exc
    finally:
        consumer.close()
        admin.close()


def read_group_members(client_config: dict[str, Any], group_id: str, timeout_ms: int = 5000) -> tuple[GroupMember, ...]:
    """The members of ``group_id`` now, each with the partitions Kafka assigned it (empty: no member).

    Raises:
        AdminError: the broker cannot be reached.
    """
    admin = _admin(client_config, timeout_ms)
    try:
        return _members(admin, group_id)
    except KafkaError as exc:
        raise AdminError(f"Kafka did not answer: {exc}") from exc
    finally:
        admin.close()
