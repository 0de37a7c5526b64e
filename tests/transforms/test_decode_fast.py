"""The decoder's native fast path against its rules path: the same output on every kind of message.

``decode_messages`` types what the native code accepts beyond doubt and leaves every other message to the
vectorised rules; ``fast=False`` runs the rules on every message. Both must give identical frames and counts,
whether the messages come as one batch or one by one.
"""

from __future__ import annotations

import itertools
import json

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from schemas.events import EVENT_TYPES
from streams.simulator import SimConfig, simulate
from tests.transforms.json_corpus import EVENT, INVALID, NOT_EVENTS, NOT_OBJECTS, VALID_EVENTS
from tests.transforms.test_decode import MALFORMED
from tests.transforms.test_decode_strict import BAD_TIMES, FAR_AWAY, VALID_TIMES
from tests.wire import FAMILY_OF_TOPIC, encode, messages_frame, topic_of, wire_event
from transforms.decode import Decoded, _deduplicated, _fast_decode, decode_messages

TOPIC = "campaign-events"

# Objects that repeat a key (a parser that keeps the last value would accept them): `invalid_json`.
REPEATED_KEYS = [
    EVENT.replace("}", ', "user_id": "u-2"}'),
    EVENT.replace("}", ', "user_id": "u-1"}'),  # the same value twice
    EVENT.replace("}", ', "event_\\u0069d": "c-2"}'),  # the same name, escaped
    EVENT.replace("}", ', "is_anonymous": null, "is_anonymous": true}'),
    EVENT.replace("}", ', "is_anonymous": null, "is_anonymous": null}'),
    EVENT.replace(", ", ",").replace(": ", ":").replace("}", ',"cost_micros":1}'),
    EVENT.replace('"user_id": "u-1"', '"user_id" : "u-1", "user_id":"u:1"'),
    EVENT.replace('"user_id": "u-1"', '"user_id": "a\\":", "user_id": "u-1"'),
    # No backslash: the quotes tell a repeated key, whatever the values overwritten or kept.
    EVENT.replace('"user_id": "u-1"', '"user_id": "nullnull", "user_id": "u-1"'),
    EVENT.replace('"user_id": "u-1"', '"user_id": null, "user_id": "u-1"'),
    EVENT.replace("}", ', "is_anonymous": true, "is_anonymous": null}'),
    EVENT.replace("}", ', "is_anonymous": "x", "is_anonymous": false}'),
    EVENT.replace('"schema_version": 1', '"schema_version": 1,\n "schema_version" : 1'),
    EVENT.replace('"channel": "search"', '"channel": "a:b", "channel": "search"'),
    # A backslash elsewhere in the message: counted exactly.
    EVENT.replace('"user_id": "u-1"', '"user_id": "u\\u002d1", "cost_micros": 1'),
    EVENT.replace('"user_id": "u-1"', '"user_id": "u\\\\", "user_id": "u-1"'),
]
# Valid events the fast path types itself: optional fields absent, null or set, in the simulator's form.
PLAIN = [
    json.dumps(wire_event("click"), separators=(",", ":")),
    json.dumps(wire_event("click", is_anonymous=None)),
    json.dumps(wire_event("click", is_anonymous=True, event_time="2026-11-01T10:00:00.123456+08:00")),
    json.dumps(wire_event("session_start", country=None, campaign_id=..., startup_ms=None)),
    json.dumps(wire_event("session_start", country="FR", campaign_id="k-9", startup_ms=120_000)),
    json.dumps(wire_event("feedback", survey="nps", score=10, comment=None)),
    json.dumps(wire_event("chat_message", message="", is_anonymous=False), ensure_ascii=False),
    # Escapes (counted exactly) and newlines between tokens (whitespace, read as such).
    json.dumps(wire_event("chat_message", message='he said "hi" \\ \n', is_anonymous=None), indent=1),
    json.dumps(wire_event("report", comment="a\tb\r\nc\u2028"), indent="\r\n"),
]


def _corpus() -> list[tuple[str, bytes | None]]:
    """(topic, value) of every message the decoder tests know, plus simulated traffic."""
    time_values = [t for t, _ in VALID_TIMES] + BAD_TIMES + FAR_AWAY
    texts = [*INVALID, *(t.encode() for t in NOT_OBJECTS + VALID_EVENTS + REPEATED_KEYS + PLAIN)]
    texts += [t.encode() for t, _, _ in NOT_EVENTS]
    texts += [encode(wire_event("click", event_time=t)) for t in time_values]
    messages: list[tuple[str, bytes | None]] = [(TOPIC, v) for v in texts]
    messages += [(topic_of(json.loads(t)["event_type"]), t.encode()) for t in PLAIN]
    messages += [(topic, value) for topic, value, _, _ in MALFORMED]
    messages += [(topic_of(t.name), encode(wire_event(t.name))) for t in EVENT_TYPES]
    simulated = itertools.islice(simulate(SimConfig(target_events=3000)), 3000)
    messages += [(m.topic, m.value) for m in simulated]
    return messages


def assert_same(left: Decoded, right: Decoded) -> None:
    assert_frame_equal(left.quarantine, right.quarantine)
    assert left.valid.keys() == right.valid.keys()
    for family, frame in left.valid.items():
        assert_frame_equal(frame, right.valid[family])
    assert (left.duplicates_in_batch, left.unknown_fields) == (right.duplicates_in_batch, right.unknown_fields)


def test_the_fast_path_and_the_rules_agree_on_the_whole_corpus_in_one_batch() -> None:
    frame = messages_frame(_corpus())
    fast = decode_messages(frame, FAMILY_OF_TOPIC)
    assert_same(fast, decode_messages(frame, FAMILY_OF_TOPIC, fast=False))
    assert fast.quarantine.height > 300 and sum(f.height for f in fast.valid.values()) > 2000


@pytest.mark.slow  # a fuzz run of many examples: outside the fast loop
def test_message_by_message_gives_what_one_batch_gives() -> None:
    messages = _corpus()[::5]  # one message in five: two decoder calls each
    first: dict[tuple[str, str], dict[str, object]] = {}
    reasons: list[tuple[object, ...]] = []
    for topic, value in messages:
        one = decode_messages(messages_frame([(topic, value)]), FAMILY_OF_TOPIC)
        assert_same(one, decode_messages(messages_frame([(topic, value)]), FAMILY_OF_TOPIC, fast=False))
        reasons += one.quarantine.select("reason", "field", "raw_value").rows()
        for family, frame in one.valid.items():
            for row in frame.drop("kafka_offset").iter_rows(named=True):
                first.setdefault((family, row["event_id"]), row)  # the batch keeps the lowest offset
    batch = decode_messages(messages_frame(messages), FAMILY_OF_TOPIC)
    assert sorted(reasons, key=repr) == sorted(batch.quarantine.select("reason", "field", "raw_value").rows(), key=repr)
    rows = {
        (f, r["event_id"]): r
        for f, frame in batch.valid.items()
        for r in frame.drop("kafka_offset").iter_rows(named=True)
    }
    assert rows == first
    assert batch.duplicates_in_batch == len(messages) - len(reasons) - len(rows)


def test_the_fast_path_types_plain_events_and_leaves_repeated_keys_to_the_rules() -> None:
    frame = messages_frame([(TOPIC, v.encode()) for v in [EVENT, *REPEATED_KEYS]]).with_columns(
        pl.from_epoch("timestamp_ms", time_unit="ms").dt.replace_time_zone("UTC").dt.cast_time_unit("us")
    )
    typed, rest = _fast_decode(frame, "campaign")
    assert typed["event_id"].to_list() == ["c-1"]
    assert rest["value"].to_list() == [v.encode() for v in REPEATED_KEYS]
    decoded = decode_messages(messages_frame([(TOPIC, v.encode()) for v in REPEATED_KEYS]), FAMILY_OF_TOPIC)
    assert decoded.quarantine.select("reason").to_series().to_list() == ["invalid_json"] * len(REPEATED_KEYS)


def test_the_fast_path_types_every_plain_event_itself() -> None:
    for value in PLAIN:
        family = FAMILY_OF_TOPIC[topic_of(json.loads(value)["event_type"])]
        frame = messages_frame([(topic_of(json.loads(value)["event_type"]), value.encode())]).with_columns(
            pl.from_epoch("timestamp_ms", time_unit="ms").dt.replace_time_zone("UTC").dt.cast_time_unit("us")
        )
        typed, rest = _fast_decode(frame, family)
        assert rest.is_empty(), value
        assert typed["event_id"].to_list() == [json.loads(value)["event_id"]]
        assert typed["event_type"].to_list() == [json.loads(value)["event_type"]]


def test_simulated_traffic_takes_the_fast_path() -> None:
    simulated = [(m.topic, m.value) for m in itertools.islice(simulate(SimConfig(target_events=2000)), 2000)]
    frame = messages_frame(simulated).with_columns(
        pl.col("topic").replace_strict(FAMILY_OF_TOPIC).alias("family"),
        pl.from_epoch("timestamp_ms", time_unit="ms").dt.replace_time_zone("UTC").dt.cast_time_unit("us"),
    )
    fast = sum(_fast_decode(frame.filter(pl.col("family") == f), f)[0].height for f in set(FAMILY_OF_TOPIC.values()))
    assert fast >= 0.95 * len(simulated)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.builds(
            lambda name, key, value, indent: json.dumps(dict(wire_event(name), **{key: value}), indent=indent).encode(),
            st.sampled_from([t.name for t in EVENT_TYPES]),
            st.sampled_from(["event_time", "schema_version", "is_anonymous", "score", "country", "comment", "x"]),
            st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)),
            st.sampled_from([None, 1]),
        ),
        min_size=1,
        max_size=12,
    )
)
@pytest.mark.slow  # a fuzz run of many examples: outside the fast loop
def test_fuzzed_events_decode_the_same_on_both_paths(values: list[bytes]) -> None:
    topics = list(FAMILY_OF_TOPIC)
    frame = messages_frame([(topics[i % 4], v) for i, v in enumerate(values)])
    assert_same(decode_messages(frame, FAMILY_OF_TOPIC), decode_messages(frame, FAMILY_OF_TOPIC, fast=False))


# Bytes a mutation inserts: JSON's structural characters, escapes, quotes, digits, multi-byte UTF-8,
# bytes that are not UTF-8, control characters.
_MUTATION_BYTES = [b'"', b"\\", b",", b":", b"{", b"}", b"[", b" ", b"\n", b"0", b"-", b".", b"e", b"\x00", b"\x1f",
                   b"\x7f", b"\xe4\xbd\xa0", b"\xff", b"\xc3", b"\\u0000", b"\\ud800", b"T", b"Z", b"+"]  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from([t.name for t in EVENT_TYPES]),
            st.lists(
                st.tuples(
                    st.floats(0, 1), st.sampled_from(["delete", "insert", "replace"]), st.sampled_from(_MUTATION_BYTES)
                ),
                min_size=1,
                max_size=3,
            ),
        ),
        min_size=1,
        max_size=16,
    )
)
@pytest.mark.slow  # a fuzz run of many examples: outside the fast loop
def test_byte_mutations_of_valid_events_decode_the_same_on_both_paths(
    events: list[tuple[str, list[tuple[float, str, bytes]]]],
) -> None:
    """The native parser on broken bytes anywhere in a message: it accepts only what the rules accept."""
    messages: list[tuple[str, bytes | None]] = []
    for name, mutations in events:
        value = encode(wire_event(name))
        for where, how, what in mutations:
            i = int(where * (len(value) - 1))
            value = {
                "delete": value[:i] + value[i + 1 :],
                "insert": value[:i] + what + value[i:],
                "replace": value[:i] + what + value[i + 1 :],
            }[how]
        messages.append((topic_of(name), value))
    frame = messages_frame(messages)
    assert_same(decode_messages(frame, FAMILY_OF_TOPIC), decode_messages(frame, FAMILY_OF_TOPIC, fast=False))


def test_copies_on_both_paths_are_one_event_the_lowest_offset_kept() -> None:
    """A copy the fast path types (it carries a key hash) and one the rules path types (it does not)."""
    event = wire_event("click")
    plain = encode(event)
    extra = encode({**event, "undeclared": 1})  # valid, but the fast path leaves it to the rules
    for values in ([extra, plain], [plain, extra, plain]):
        decoded = decode_messages(messages_frame([(topic_of("click"), v) for v in values]), FAMILY_OF_TOPIC)
        rows = decoded.valid["campaign"]
        assert rows["event_id"].to_list() == [event["event_id"]] and rows["kafka_offset"].to_list() == [0]
        assert decoded.duplicates_in_batch == len(values) - 1


def test_events_whose_key_hashes_collide_are_both_kept() -> None:
    """The native flags only pick the rows to group: rows are one event only when event_id and day are equal."""
    values = [encode(wire_event("click", event_id=i)) for i in ("a", "b", "a")]
    frame = messages_frame([(topic_of("click"), v) for v in values]).with_columns(
        pl.from_epoch("timestamp_ms", time_unit="ms").dt.replace_time_zone("UTC").dt.cast_time_unit("us")
    )
    typed, rest = _fast_decode(frame, "campaign")
    assert rest.is_empty() and typed["_repeated"].to_list() == [True, False, True]
    collided = typed.with_columns(pl.lit(True).alias("_repeated"))  # as if every hash were the same
    unique, dropped = _deduplicated(collided, "campaign")
    assert unique["event_id"].to_list() == ["a", "b"] and unique["kafka_offset"].to_list() == [0, 1]
    assert dropped == 1 and "_repeated" not in unique.columns
