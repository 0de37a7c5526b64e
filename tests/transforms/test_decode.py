"""Decoding and validation of raw messages against the contract (pure: no broker, no file)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import EVENT_TYPES, REASONS, polars_schema
from tests.wire import FAMILY_OF_TOPIC, encode, messages_frame, topic_of, wire_event
from transforms.decode import QUARANTINE_SCHEMA, decode_messages


def decode(*messages: tuple[str, bytes | None]):  # type: ignore[no-untyped-def]
    return decode_messages(messages_frame(messages), FAMILY_OF_TOPIC)


@pytest.mark.parametrize("name", [t.name for t in EVENT_TYPES])
def test_every_event_type_decodes_to_typed_rows(name: str) -> None:
    event = wire_event(name, event_time="2026-11-25T14:03:07.123+08:00")
    decoded = decode((topic_of(name), encode(event)))
    family = next(t.family for t in EVENT_TYPES if t.name == name)
    assert decoded.quarantine.is_empty()
    rows = decoded.valid[family]
    assert rows.schema == polars_schema(family)
    assert rows.height == 1
    row = rows.row(0, named=True)
    assert row["event_id"] == event["event_id"]
    # normalised to UTC
    assert row["event_time"] == datetime(2026, 11, 25, 6, 3, 7, 123000, tzinfo=UTC)
    assert row["is_anonymous"] is False
    for key, value in event.items():
        if key not in ("event_time",):
            assert row[key] == value, key


def test_examples_of_the_spec_are_all_valid() -> None:
    examples = Path(__file__).resolve().parents[1] / "examples.jsonl"  # the tests' own examples
    lines = [json.loads(line) for line in examples.read_text(encoding="utf-8").splitlines() if line.strip()]
    decoded = decode(*[(m["topic"], json.dumps(m["value"], ensure_ascii=False).encode()) for m in lines])
    assert decoded.quarantine.is_empty(), decoded.quarantine.to_dicts()
    assert sum(frame.height for frame in decoded.valid.values()) == len(lines)
    rows = {r["event_id"]: r for frame in decoded.valid.values() for r in frame.iter_rows(named=True)}
    for message in lines:
        row = rows[message["value"]["event_id"]]
        for key, value in message["value"].items():
            if key != "event_time":
                assert row[key] == value, (key, value)


MALFORMED = [
    # (topic, raw value, reason, field)
    ("viewer-events", b'{"event_id": "x", ', "invalid_json", None),
    ("viewer-events", b"\xff\xfe not utf-8", "invalid_json", None),
    ("viewer-events", None, "invalid_json", None),
    ("viewer-events", b"", "invalid_json", None),
    ("viewer-events", b"[1, 2, 3]", "not_an_object", None),
    ("viewer-events", b'"just a string"', "not_an_object", None),
    ("viewer-events", encode(wire_event("heartbeat", session_id=...)), "missing_field", "session_id"),
    ("viewer-events", encode(wire_event("heartbeat", buffering_ms=None)), "missing_field", "buffering_ms"),
    ("viewer-events", encode(wire_event("heartbeat", event_id=...)), "missing_field", "event_id"),
    ("viewer-events", encode(wire_event("heartbeat", buffering_ms="10")), "wrong_type", "buffering_ms"),
    ("viewer-events", encode(wire_event("heartbeat", buffering_ms=1.5)), "wrong_type", "buffering_ms"),
    ("viewer-events", encode(wire_event("heartbeat", buffering_ms=True)), "wrong_type", "buffering_ms"),
    ("viewer-events", encode(wire_event("heartbeat", user_id=7)), "wrong_type", "user_id"),
    ("viewer-events", encode(wire_event("heartbeat", is_anonymous="yes")), "wrong_type", "is_anonymous"),
    ("viewer-events", encode(wire_event("heartbeat", event_time=1_700_000_000)), "wrong_type", "event_time"),
    ("viewer-events", encode(wire_event("heartbeat", buffering_ms=-1)), "out_of_range", "buffering_ms"),
    ("viewer-events", encode(wire_event("session_start", startup_ms=120_001)), "out_of_range", "startup_ms"),
    ("viewer-events", encode(wire_event("session_start", device="fridge")), "out_of_range", "device"),
    ("viewer-events", encode(wire_event("session_start", country="china")), "out_of_range", "country"),
    ("viewer-events", encode(wire_event("heartbeat", event_id="x" * 65)), "out_of_range", "event_id"),
    ("viewer-events", encode(wire_event("heartbeat", user_id="")), "out_of_range", "user_id"),
    ("engagement-events", encode(wire_event("chat_message", message="m" * 501)), "out_of_range", "message"),
    ("engagement-events", encode(wire_event("feedback", survey="csat", score=7)), "out_of_range", "score"),
    ("engagement-events", encode(wire_event("feedback", survey="nps", score=11)), "out_of_range", "score"),
    ("engagement-events", encode(wire_event("gift", quantity=0)), "out_of_range", "quantity"),
    ("engagement-events", encode(wire_event("subscribe", tier=4)), "out_of_range", "tier"),
    ("stream-events", encode(wire_event("heartbeat")), "unknown_event_type", "event_type"),
    ("campaign-events", encode(wire_event("click", event_type="view")), "unknown_event_type", "event_type"),
    ("campaign-events", encode(wire_event("click", schema_version=2)), "unsupported_schema_version", "schema_version"),
    ("campaign-events", encode(wire_event("click", schema_version="1")), "wrong_type", "schema_version"),
    ("campaign-events", encode(wire_event("click", schema_version=...)), "missing_field", "schema_version"),
    ("stream-events", encode(wire_event("stream_end", event_time="2026-11-01 10:00:00")), "bad_timestamp", "event_time"),
    ("stream-events", encode(wire_event("stream_end", event_time="2026-11-01T10:00:00")), "bad_timestamp", "event_time"),
    ("stream-events", encode(wire_event("stream_end", event_time="2026-13-01T10:00:00Z")), "bad_timestamp", "event_time"),
    ("stream-events", encode(wire_event("stream_end", event_time="yesterday")), "bad_timestamp", "event_time"),
]  # fmt: skip


def test_every_reason_code_is_exercised() -> None:
    assert {reason for _, _, reason, _ in MALFORMED} == set(REASONS)


@pytest.mark.parametrize(("topic", "value", "reason", "field"), MALFORMED)
def test_malformed_message_is_quarantined_with_reason_and_field(
    topic: str, value: bytes | None, reason: str, field: str | None
) -> None:
    before = wire_event("like")
    after = wire_event("click")
    decoded = decode(
        ("engagement-events", encode(before)), (topic, value), ("campaign-events", encode(after))
    )  # fmt: skip
    assert decoded.quarantine.schema == QUARANTINE_SCHEMA
    assert decoded.quarantine.select("kafka_topic", "reason", "field").rows() == [(topic, reason, field)]
    assert decoded.quarantine["raw_value"].to_list() == [value]
    # the valid messages around it are kept
    assert decoded.valid["engagement"]["event_id"].to_list() == [before["event_id"]]
    assert decoded.valid["campaign"]["event_id"].to_list() == [after["event_id"]]


def test_nullable_fields_may_be_absent_or_null_and_unknown_fields_are_counted() -> None:
    start = wire_event("session_start", country=None, campaign_id=..., startup_ms=None, extra_a=1, extra_b={"x": 1})
    decoded = decode(("viewer-events", encode(start)))
    assert decoded.quarantine.is_empty()
    row = decoded.valid["viewer"].row(0, named=True)
    assert (row["country"], row["campaign_id"], row["startup_ms"]) == (None, None, None)
    assert decoded.unknown_fields == 2


def test_strings_are_data_escapes_and_markup_survive() -> None:
    title = 'Say "hi" \\ <script>alert(1)</script> 直播 \u2028 \'; DROP TABLE x; --'
    event = wire_event("stream_start", title=title, category="just_chatting")
    decoded = decode(("stream-events", encode(event)), ("stream-events", json.dumps(event).encode()))
    assert decoded.valid["stream"]["title"].to_list() == [title]  # ASCII-escaped copy is the same event
    assert decoded.duplicates_in_batch == 1


def test_unescaped_non_ascii_strings_keep_every_character() -> None:
    event = wire_event("stream_start", title="Just chatting ~ 聊天", channel_id="chan_1_直播", category="户外")
    decoded = decode(("stream-events", json.dumps(event, ensure_ascii=False).encode()))
    row = decoded.valid["stream"].row(0, named=True)
    assert (row["title"], row["channel_id"], row["category"]) == ("Just chatting ~ 聊天", "chan_1_直播", "户外")


def test_duplicates_within_a_batch_keep_the_lowest_offset() -> None:
    event = wire_event("like")
    copy = dict(event, user_id="someone-else")
    decoded = decode(("engagement-events", encode(event)), ("engagement-events", encode(copy)))
    assert decoded.valid["engagement"].select("user_id", "kafka_offset").rows() == [("u-1", 0)]
    assert decoded.duplicates_in_batch == 1


def test_a_duplicate_within_a_batch_keeps_the_earliest_arrival_of_its_copies() -> None:
    # The kept copy (partition 0, offset 0) arrived at 12:00:10; its copy on partition 1 at 12:00:00.
    event = wire_event("like")
    frame = messages_frame([("engagement-events", encode(event)), ("engagement-events", encode(event))])
    frame = frame.with_columns(
        pl.Series("partition", [0, 1], dtype=frame["partition"].dtype),
        pl.Series("offset", [0, 0], dtype=frame["offset"].dtype),
        pl.Series("timestamp_ms", [1_795_000_010_000, 1_795_000_000_000], dtype=frame["timestamp_ms"].dtype),
    )
    decoded = decode_messages(frame, FAMILY_OF_TOPIC)
    kept = decoded.valid["engagement"].select("kafka_partition", "kafka_timestamp").rows()
    assert kept == [(0, datetime.fromtimestamp(1_795_000_000, UTC))]
    assert decoded.duplicates_in_batch == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=80),
            st.builds(
                lambda name, key, value: encode(dict(wire_event(name), **{key: value})),
                st.sampled_from([t.name for t in EVENT_TYPES]),
                st.sampled_from(["event_time", "schema_version", "user_id", "score", "category", "session_id", "x"]),
                st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)),
            ),
        ),
        min_size=1,
        max_size=12,
    )
)
@pytest.mark.slow  # a fuzz run of many examples: outside the fast loop
def test_fuzzed_messages_never_crash_and_nothing_is_lost(values: list[bytes]) -> None:
    topics = list(FAMILY_OF_TOPIC)
    messages = [(topics[i % 4], v) for i, v in enumerate(values)]
    decoded = decode(*messages)
    kept = sum(frame.height for frame in decoded.valid.values())
    assert kept + decoded.duplicates_in_batch + decoded.quarantine.height == len(values)
    assert decoded.quarantine["reason"].is_in(list(REASONS)).all()
    for frame in decoded.valid.values():
        assert frame["event_time"].null_count() == 0
        assert frame["event_id"].null_count() == 0
        assert pl.Series(frame["event_id"]).is_unique().all()


def test_the_batch_key_is_the_event_id_on_its_utc_day() -> None:
    """The decoder keeps (event_id, UTC day of event_time) unique, the loader's key: a copy on the same day
    is a duplicate, the same id on another day is another event, whatever the batch holds."""
    import json

    import polars as pl

    from schemas.events import MESSAGE_SCHEMA
    from transforms.decode import decode_messages

    def like(event_time: str) -> bytes:
        return json.dumps({"event_id": "same", "schema_version": 1, "event_type": "like", "event_time": event_time,
                           "user_id": "u1", "session_id": "s1", "stream_id": "st1", "channel_id": "c1"}).encode()  # fmt: skip

    values = [like("2026-11-03T10:00:00Z"), like("2026-11-03T23:00:00Z"), like("2026-11-04T00:30:00Z")]
    rows = [("engagement-events", 0, n, 1_790_000_000_000 + n, None, v) for n, v in enumerate(values)]
    decoded = decode_messages(
        pl.DataFrame(rows, schema=MESSAGE_SCHEMA, orient="row"), {"engagement-events": "engagement"}
    )
    kept = decoded.valid["engagement"].sort("kafka_offset")
    assert kept["kafka_offset"].to_list() == [0, 2] and decoded.duplicates_in_batch == 1
