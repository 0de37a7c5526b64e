"""Wire-format helpers for tests: valid JSON events built from the contract, and raw message frames."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from typing import Any

import polars as pl

from schemas.events import EVENT_TYPES, MESSAGE_SCHEMA, EventType, Field

TOPICS = {
    "viewer": "viewer-events",
    "engagement": "engagement-events",
    "campaign": "campaign-events",
    "stream": "stream-events",
}
FAMILY_OF_TOPIC = {topic: family for family, topic in TOPICS.items()}
_ids = itertools.count(1)


def event_type(name: str) -> EventType:
    return next(t for t in EVENT_TYPES if t.name == name)


def _sample(f: Field) -> Any:
    if f.choices:
        return f.choices[0]
    if f.kind == "int":
        return f.min if f.min is not None else 0
    if f.kind == "bool":
        return False
    if f.pattern:
        return "CN"
    return f"{f.name}-1"


def wire_event(name: str, **overrides: Any) -> dict[str, Any]:
    """A valid wire event of type ``name`` (every declared field set); overrides win, ``...`` removes a key."""
    event: dict[str, Any] = {
        "event_id": f"w{next(_ids):06d}",
        "event_type": name,
        "event_time": "2026-11-01T10:00:00Z",
        "schema_version": 1,
        "user_id": "u-1",
    }
    for f in event_type(name).fields:
        event[f.name] = _sample(f)
    if name == "feedback":
        event["score"] = 4
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not ...}


def topic_of(name: str) -> str:
    return TOPICS[event_type(name).family]


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode()


def messages_frame(messages: Iterable[tuple[str, bytes | None]], timestamp_ms: int = 1_795_000_000_000) -> pl.DataFrame:
    """Raw messages (topic, value) as the consumer yields them, offsets counted per topic from 0."""
    rows = list(messages)
    counters: dict[str, int] = {}
    offsets = []
    for topic, _ in rows:
        offsets.append(counters.get(topic, 0))
        counters[topic] = offsets[-1] + 1
    return pl.DataFrame(
        {
            "topic": [t for t, _ in rows],
            "partition": [0] * len(rows),
            "offset": offsets,
            "timestamp_ms": [timestamp_ms] * len(rows),
            "key": [None] * len(rows),
            "value": [v for _, v in rows],
        },
        schema=MESSAGE_SCHEMA,
    )
