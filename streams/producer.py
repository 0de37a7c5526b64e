"""Write simulated messages to Kafka, or to JSON-lines files that can be replayed to Kafka later.

JSON-lines format (:func:`write_jsonl` / :func:`read_jsonl`): one file per topic, ``<topic>.jsonl``, UTF-8,
one JSON object per line::

    {"seq": 0, "topic": "viewer-events", "key": "se-1a2b3c4d-0", "value": "{\\"event_id\\": ...}",
     "event_time": "2026-11-01T00:03:36.000Z", "malformed_reason": null, "malformed_field": null,
     "duplicate": false, "late": false}

- ``seq``: position of the message in the emission order, over all files (replay merges the files by it).
- ``key`` / ``value``: the message key and value as text (the value is the JSON text of the event, as a
  string, not as a nested object, so that malformed values survive byte for byte). A key or value whose
  bytes are not valid UTF-8 is written as ``key_base64`` / ``value_base64`` (standard base64) instead.
  ``key`` is ``null`` for a message without a key.
- ``event_time`` (UTC, RFC 3339), ``malformed_reason``, ``malformed_field``, ``duplicate``, ``late``:
  the simulator's annotations (see :class:`streams.simulator.SimMessage`); replaying ignores them.
"""

from __future__ import annotations

import base64
import heapq
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError
from kafka.partitioner.default import murmur2

from streams.simulator import SimMessage

log = logging.getLogger(__name__)

# Throughput settings: large batches that fill for up to 20 ms; no compression (lz4 is not a dependency,
# and on a local broker the CPU spent compressing costs more than the bytes saved).
PRODUCER_CONFIG: dict[str, Any] = {
    "linger_ms": 20,
    "batch_size": 512 * 1024,
    "max_request_size": 8 * 1024 * 1024,
    "acks": "all",
    "compression_type": None,
    "max_in_flight_requests_per_connection": 5,
    # How long to wait for a topic's metadata (a missing topic fails after this) and for the first broker.
    "max_block_ms": 10_000,
    "bootstrap_timeout_ms": 10_000,
}
# kafka-python 3 buffers without limit: every BACKPRESSURE_EVERY messages, keep one delivery future, and when
# more than BACKPRESSURE_DEPTH of them are pending, wait for the oldest (bounds the buffered messages).
BACKPRESSURE_EVERY = 5_000
BACKPRESSURE_DEPTH = 40
DELIVERY_TIMEOUT_S = 120.0


class ProduceError(RuntimeError):
    """Messages could not be delivered to Kafka; the message says why and what to do."""


def produce(
    messages: Iterable[SimMessage],
    client_config: dict[str, Any],
    progress: Callable[[int], None] | None = None,
    *,
    progress_every: int = 50_000,
) -> int:
    """Write messages to Kafka, in order, and wait until the broker has acknowledged every one.

    Args:
        messages: what to send (topic, key, value of each; the other fields are ignored).
        client_config: kafka-python client settings (bootstrap servers, security), e.g.
            ``Settings.kafka_client_config()``; throughput settings (:data:`PRODUCER_CONFIG`) are added
            unless given.
        progress: called with the number of messages sent so far, every ``progress_every`` messages and
            once at the end.
        progress_every: how often to call ``progress``.

    Returns:
        The number of messages written.

    Raises:
        ProduceError: no broker answers, a topic does not exist, or the broker refused a message.
    """
    servers = client_config.get("bootstrap_servers")
    try:
        producer = KafkaProducer(**(PRODUCER_CONFIG | client_config))
    except KafkaTimeoutError as exc:
        raise ProduceError(f"no Kafka broker answers at {servers}") from exc
    except KafkaError as exc:
        raise ProduceError(f"cannot connect to Kafka at {servers}: {exc}") from exc

    failures: list[BaseException] = []

    def on_error(exc: BaseException) -> None:  # runs on the producer's I/O thread
        failures.append(exc)

    pending: deque[Any] = deque()
    # Per topic: its partitions and a cache key -> partition. kafka-python hashes every key in pure Python
    # (murmur2, as the Java client does); keys repeat a lot (a session's heartbeats), so hash each once.
    partitions: dict[str, tuple[list[int], dict[bytes, int]]] = {}
    count = 0
    started = time.monotonic()
    try:
        for message in messages:
            topic, key = message.topic, message.key
            known = partitions.get(topic)
            if known is None:
                known = partitions[topic] = (_check_topic(producer, topic, servers), {})
            partition = None
            if key is not None:
                all_partitions, cache = known
                partition = cache.get(key)
                if partition is None:
                    if len(cache) > 500_000:
                        cache.clear()
                    partition = cache[key] = all_partitions[(murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]
            future = producer.send(topic, value=message.value, key=key, partition=partition).add_errback(on_error)
            count += 1
            if count % BACKPRESSURE_EVERY == 0:
                pending.append(future)
                if len(pending) > BACKPRESSURE_DEPTH:
                    pending.popleft().get(timeout=DELIVERY_TIMEOUT_S)
                if failures:
                    break
            if progress is not None and count % progress_every == 0:
                progress(count)
        producer.flush()
    except KafkaTimeoutError as exc:
        raise ProduceError(f"Kafka at {servers} did not take the messages in time: {exc}") from exc
    except KafkaError as exc:
        raise ProduceError(f"Kafka at {servers} refused a message: {exc!r}") from exc
    finally:
        producer.close(timeout=30)  # after a successful flush nothing is pending; after an error, give up soon
    if failures:
        raise ProduceError(f"the broker refused {len(failures)} message(s); first error: {failures[0]!r}")
    if progress is not None:
        progress(count)
    elapsed = time.monotonic() - started
    log.info("produced %d messages in %.1f s (%.0f/s)", count, elapsed, count / elapsed if elapsed else 0.0)
    return count


def _check_topic(producer: KafkaProducer, topic: str, servers: Any) -> list[int]:
    """The topic's partitions, sorted; fails fast, saying so, when the topic does not exist."""
    try:
        partitions = producer.partitions_for(topic)
    except KafkaTimeoutError as exc:
        raise ProduceError(f"topic {topic!r} does not exist on {servers} (or the broker does not answer)") from exc
    if not partitions:
        raise ProduceError(f"topic {topic!r} does not exist on {servers}")
    return sorted(partitions)


def _text_or_base64(name: str, data: bytes | None) -> str:
    """``"name":<JSON string>`` for UTF-8 bytes, else ``"name_base64":"..."``; ``"name":null`` for None."""
    if data is None:
        return f'"{name}":null'
    try:
        return f'"{name}":{_json_str(data.decode("utf-8"))}'
    except UnicodeDecodeError:
        return f'"{name}_base64":"{base64.b64encode(data).decode("ascii")}"'


# JSON string literal of a str, non-ASCII kept as is (the C function behind json.dumps(ensure_ascii=False)).
_json_str: Callable[[str], str] = json.encoder.encode_basestring


def write_jsonl(messages: Iterable[SimMessage], out_dir: Path) -> dict[str, int]:
    """Write messages to ``out_dir/<topic>.jsonl``, one JSON object per line (format: module docstring).

    Existing files of the same topics are overwritten.

    Args:
        messages: the messages, in emission order.
        out_dir: directory for the files (created if missing).

    Returns:
        Messages written per topic.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, BinaryIO] = {}
    topics: dict[str, str] = {}
    counts: dict[str, int] = {}
    try:
        for seq, m in enumerate(messages):
            out = files.get(m.topic)
            if out is None:
                out = files[m.topic] = (out_dir / f"{m.topic}.jsonl").open("wb")
                topics[m.topic] = _json_str(m.topic)
                counts[m.topic] = 0
            counts[m.topic] += 1
            event_time = m.event_time.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            line = (
                f'{{"seq":{seq},"topic":{topics[m.topic]},{_text_or_base64("key", m.key)},'
                f'{_text_or_base64("value", m.value)},"event_time":"{event_time}",'
                f'"malformed_reason":{_json_str(m.malformed_reason) if m.malformed_reason else "null"},'
                f'"malformed_field":{_json_str(m.malformed_field) if m.malformed_field else "null"},'
                f'"duplicate":{"true" if m.duplicate else "false"},"late":{"true" if m.late else "false"}}}\n'
            )
            out.write(line.encode("utf-8"))
    finally:
        for out in files.values():
            out.close()
    return counts


def _read_bytes(record: dict[str, Any], name: str) -> bytes | None:
    if f"{name}_base64" in record:
        return base64.b64decode(record[f"{name}_base64"])
    text = record.get(name)
    return None if text is None else str(text).encode("utf-8")


def _read_file(path: Path) -> Iterator[tuple[int, SimMessage]]:
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                value = _read_bytes(record, "value")
                if value is None:
                    raise ValueError("no value")
                message = SimMessage(
                    topic=str(record.get("topic") or path.stem),
                    key=_read_bytes(record, "key"),
                    value=value,
                    event_time=datetime.fromisoformat(record["event_time"]),
                    malformed_reason=record.get("malformed_reason"),
                    malformed_field=record.get("malformed_field"),
                    duplicate=bool(record.get("duplicate", False)),
                    late=bool(record.get("late", False)),
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a simulator JSON-lines record: {exc}") from exc
            yield int(record.get("seq", number)), message


def read_jsonl(in_dir: Path) -> Iterator[SimMessage]:
    """Read back every ``*.jsonl`` file of :func:`write_jsonl`, merged into the original emission order.

    Streams the files (memory stays small), so the result can go straight to :func:`produce`.

    Args:
        in_dir: the directory :func:`write_jsonl` wrote.

    Returns:
        The messages, ordered by their ``seq``.

    Raises:
        FileNotFoundError: ``in_dir`` holds no ``.jsonl`` file.
        ValueError: a line is not a record of this format (raised while iterating).
    """
    paths = sorted(in_dir.glob("*.jsonl"))
    if not paths:
        raise FileNotFoundError(f"no .jsonl files in {in_dir}")
    merged = heapq.merge(*(_read_file(p) for p in paths), key=lambda pair: pair[0])
    return (message for _, message in merged)
