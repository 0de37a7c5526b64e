"""The contract to the letter: strict JSON (RFC 8259), RFC 3339 timestamps, the plausible range of event_time."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.transforms.json_corpus import EVENT, INVALID, NOT_EVENTS, NOT_OBJECTS, VALID_EVENTS
from tests.wire import FAMILY_OF_TOPIC, encode, messages_frame, wire_event
from transforms.decode import Decoded, decode_messages

TOPIC = "campaign-events"


def decode(*values: bytes | None, topic: str = TOPIC) -> Decoded:
    return decode_messages(messages_frame([(topic, v) for v in values]), FAMILY_OF_TOPIC)


def test_the_corpus_is_large_enough() -> None:
    assert len(INVALID) >= 150
    assert len(set(INVALID)) == len(INVALID)
    assert len(NOT_OBJECTS) + len(NOT_EVENTS) + len(VALID_EVENTS) >= 50


def test_every_invalid_text_is_quarantined_as_invalid_json_in_one_batch() -> None:
    decoded = decode(*INVALID)
    assert decoded.quarantine.height == len(INVALID)
    assert sum(frame.height for frame in decoded.valid.values()) == 0
    wrong = decoded.quarantine.filter(decoded.quarantine["reason"] != "invalid_json")
    assert wrong.is_empty(), wrong.select("raw_value", "reason", "field").rows()
    assert decoded.quarantine["field"].null_count() == len(INVALID)
    assert decoded.quarantine["raw_value"].to_list() == INVALID  # kept byte for byte


@pytest.mark.parametrize("value", INVALID, ids=range(len(INVALID)))
def test_invalid_text_alone_is_invalid_json(value: bytes) -> None:
    decoded = decode(value)
    assert decoded.quarantine.select("reason", "field").rows() == [("invalid_json", None)]


@pytest.mark.parametrize("text", NOT_OBJECTS)
def test_valid_json_that_is_not_an_object_is_not_an_object(text: str) -> None:
    decoded = decode(text.encode())
    assert decoded.quarantine.select("reason", "field").rows() == [("not_an_object", None)]


@pytest.mark.parametrize(("text", "reason", "field"), NOT_EVENTS)
def test_valid_objects_that_are_not_events_get_the_later_reason(text: str, reason: str, field: str) -> None:
    decoded = decode(text.encode())
    assert decoded.quarantine.select("reason", "field").rows() == [(reason, field)]


@pytest.mark.parametrize("text", VALID_EVENTS, ids=range(len(VALID_EVENTS)))
def test_valid_events_in_every_corner_of_the_grammar_load(text: str) -> None:
    decoded = decode(text.encode())
    assert decoded.quarantine.is_empty(), decoded.quarantine.select("reason", "field").rows()
    row = decoded.valid["campaign"].row(0, named=True)
    assert row["user_id"] == json.loads(text)["user_id"]


def test_the_simulator_style_trailing_comma_is_invalid_json() -> None:
    decoded = decode(EVENT.encode(), EVENT[:-1].encode() + b",}")
    assert decoded.valid["campaign"].height == 1
    assert decoded.quarantine.select("reason").rows() == [("invalid_json",)]


def test_an_integer_beyond_64_bits_is_out_of_range_for_its_field() -> None:
    big = EVENT.replace("3535", str(2**70)).encode()
    negative = EVENT.replace("3535", str(-(2**64))).encode()
    decoded = decode(big, negative)
    assert decoded.quarantine.select("reason", "field").rows() == [("out_of_range", "cost_micros")] * 2


def _time(value: str) -> bytes:
    return encode(wire_event("click", event_time=value))


VALID_TIMES = [
    ("2026-11-21T10:00:00Z", datetime(2026, 11, 21, 10, tzinfo=UTC)),
    ("2026-11-21t10:00:00z", datetime(2026, 11, 21, 10, tzinfo=UTC)),
    ("2026-11-21t10:00:00Z", datetime(2026, 11, 21, 10, tzinfo=UTC)),
    ("2026-11-21T10:00:00+08:00", datetime(2026, 11, 21, 2, tzinfo=UTC)),
    ("2026-11-21T10:00:00-08:00", datetime(2026, 11, 21, 18, tzinfo=UTC)),
    ("2026-11-21T10:00:00+00:00", datetime(2026, 11, 21, 10, tzinfo=UTC)),
    ("2026-11-21T10:00:00-00:00", datetime(2026, 11, 21, 10, tzinfo=UTC)),  # unknown local offset: UTC
    ("2026-11-21T10:00:00+05:45", datetime(2026, 11, 21, 4, 15, tzinfo=UTC)),
    ("2026-11-21T23:59:59+23:59", datetime(2026, 11, 21, 0, 0, 59, tzinfo=UTC)),
    ("2026-11-21T00:00:00-23:59", datetime(2026, 11, 21, 23, 59, tzinfo=UTC)),
    ("2026-11-21T10:00:00.1Z", datetime(2026, 11, 21, 10, 0, 0, 100000, tzinfo=UTC)),
    ("2026-11-21T10:00:00.123+08:00", datetime(2026, 11, 21, 2, 0, 0, 123000, tzinfo=UTC)),
    ("2026-11-21T10:00:00.123456Z", datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC)),
    ("2026-11-21T10:00:00.1234569Z", datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC)),  # cut, not rounded
    ("2026-11-21T10:00:00.123456789123Z", datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC)),
    ("2026-11-21T10:00:00.000000000Z", datetime(2026, 11, 21, 10, tzinfo=UTC)),
    ("2024-02-29T12:00:00Z", datetime(2024, 2, 29, 12, tzinfo=UTC)),
    ("2000-02-29T12:00:00Z", datetime(2000, 2, 29, 12, tzinfo=UTC)),
    ("2026-12-31T23:59:59Z", datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ("2026-01-01T00:00:00+14:00", datetime(2025, 12, 31, 10, tzinfo=UTC)),
    ("2000-01-01T00:00:00Z", datetime(2000, 1, 1, tzinfo=UTC)),  # first instant of the plausible range
    ("2099-12-31T23:59:59.999999Z", datetime(2099, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
]

BAD_TIMES = [
    "2026-11-21T10:00:00+0800", "2026-11-21T10:00:00.123+08", "2026-11-21T10:00:00+08", "2026-11-21T10:00:00",
    "2026-11-21 10:00:00Z", "2026-11-21T10:00Z", "2026-11-21T1:00:00Z", "2026-1-21T10:00:00Z",
    "2026-11-1T10:00:00Z", "26-11-21T10:00:00Z", "2026-11-21T10:00:00 Z", " 2026-11-21T10:00:00Z",
    "2026-11-21T10:00:00Z ", "2026-11-21T10:00:00\u221208:00", "\uff12026-11-21T10:00:00Z", "2026-11-21T10:00:00+24:00",
    "2026-11-21T10:00:00+08:60", "2026-11-21T24:00:00Z", "2026-11-21T10:60:00Z", "2026-11-21T10:00:60Z",
    "2026-12-31T23:59:60Z", "2026-13-01T10:00:00Z", "2026-00-01T10:00:00Z", "2026-11-00T10:00:00Z",
    "2026-11-31T10:00:00Z", "2026-02-29T10:00:00Z", "2100-02-29T10:00:00Z", "2026-04-31T10:00:00Z",
    "2026-11-21T10:00:00.Z", "2026-11-21T10:00:00,5Z", "2026-11-21T10:00:00UTC", "2026-11-21T10:00:00GMT+8",
    "2026-11-21X10:00:00Z", "2026-11-21T10:00:00+08:00:00", "2026/11/21T10:00:00Z", "20261121T100000Z",
    "", "yesterday", "2026-11-21", "10:00:00Z", "2026-11-21T10:00:00Zz", "+2026-11-21T10:00:00Z",
    "2026-11-21T10:00:00\uff3a", "2026-11-21T10:00:00.\u0661Z", "2026-11-21T10:00:00\n",
]  # fmt: skip


def test_there_are_at_least_40_timestamp_variants() -> None:
    assert len(VALID_TIMES) + len(BAD_TIMES) >= 40


@pytest.mark.parametrize(("text", "instant"), VALID_TIMES)
def test_valid_rfc3339_timestamps_load_as_the_exact_utc_instant(text: str, instant: datetime) -> None:
    decoded = decode(_time(text))
    assert decoded.quarantine.is_empty(), decoded.quarantine.select("reason", "field").rows()
    assert decoded.valid["campaign"]["event_time"].to_list() == [instant]


@pytest.mark.parametrize("text", BAD_TIMES)
def test_timestamps_that_are_not_rfc3339_are_bad_timestamp(text: str) -> None:
    decoded = decode(_time(text))
    assert decoded.quarantine.select("reason", "field").rows() == [("bad_timestamp", "event_time")]


FAR_AWAY = [
    "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "1999-12-31T23:59:59.999999Z",
    "2000-01-01T00:30:00+01:00", "2100-01-01T00:00:00Z", "2099-12-31T23:00:00-05:00", "2126-11-21T10:00:00Z",
    "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-23:59",
]  # fmt: skip


@pytest.mark.parametrize("text", FAR_AWAY)
def test_an_event_time_outside_the_plausible_range_is_out_of_range(text: str) -> None:
    decoded = decode(_time(text), _time("2026-11-21T10:00:00Z"))
    assert decoded.quarantine.select("reason", "field").rows() == [("out_of_range", "event_time")]
    assert decoded.valid["campaign"].height == 1


def test_a_batch_of_every_variant_adds_up() -> None:
    values = [_time(t) for t, _ in VALID_TIMES] + [_time(t) for t in BAD_TIMES + FAR_AWAY] + INVALID
    decoded = decode(*values)
    kept = sum(frame.height for frame in decoded.valid.values())
    assert kept == len(VALID_TIMES)
    assert kept + decoded.duplicates_in_batch + decoded.quarantine.height == len(values)
    counts = dict(decoded.quarantine.group_by("reason").len().rows())
    assert counts == {"bad_timestamp": len(BAD_TIMES), "out_of_range": len(FAR_AWAY), "invalid_json": len(INVALID)}
