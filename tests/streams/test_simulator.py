"""The event simulator: deterministic, faithful to the contract, and as messy as at-least-once delivery is.

Pure tests (no broker). The contract is checked by a small reference checker written here from
``schemas.events`` (a test oracle only; the pipeline's validation lives in ``transforms``).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas.events import ENVELOPE, EVENT_TYPES, REASONS, SURVEY_SCORE_RANGES, Field
from streams.producer import read_jsonl, write_jsonl
from streams.simulator import DEFAULT_TOPICS, SimConfig, SimMessage, simulate

FAMILY_OF_TOPIC = {topic: family for family, topic in DEFAULT_TOPICS.items()}
KEY_FIELD = {"viewer": "session_id", "engagement": "stream_id", "campaign": "user_id", "stream": "stream_id"}
TYPES = {(t.family, t.name): t for t in EVENT_TYPES}
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")

# Two days, small enough to generate in well under a second, with rates high enough to count on.
CONFIG = SimConfig(
    start_date=date(2026, 11, 6),  # a Friday: the second day is a weekend day
    days=2, users=400, channels=6, campaigns=3, seed=11,
    duplicate_rate=0.02, late_rate=0.01, malformed_rate=0.01,
)  # fmt: skip


# ---- the oracle ---------------------------------------------------------------------------------------


def _field_problem(f: Field, doc: dict[str, Any]) -> str | None:
    value = doc.get(f.name)
    if value is None:
        return None if f.nullable else "missing_field"
    kind_ok = {
        "string": isinstance(value, str),
        "timestamp": isinstance(value, str),
        "int": type(value) is int,
        "bool": type(value) is bool,
    }[f.kind]
    if not kind_ok:
        return "wrong_type"
    if isinstance(value, str):
        if (f.min_len is not None and len(value) < f.min_len) or (f.max_len is not None and len(value) > f.max_len):
            return "out_of_range"
        if (f.choices and value not in f.choices) or (f.pattern and not re.fullmatch(f.pattern, value)):
            return "out_of_range"
    if type(value) is int and ((f.min is not None and value < f.min) or (f.max is not None and value > f.max)):
        return "out_of_range"
    return None


def check(topic: str, value: bytes) -> tuple[str, str | None] | None:
    """The reason code and field docs/contract.md assigns to a message, or None when it is valid."""
    try:
        doc = json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "invalid_json", None
    if not isinstance(doc, dict):
        return "not_an_object", None
    for f in ENVELOPE:
        problem = _field_problem(f, doc)
        if problem:
            return problem, f.name
    if doc["schema_version"] != 1:
        return "unsupported_schema_version", "schema_version"
    event_type = TYPES.get((FAMILY_OF_TOPIC[topic], doc["event_type"]))
    if event_type is None:
        return "unknown_event_type", "event_type"
    for f in event_type.fields:
        problem = _field_problem(f, doc)
        if problem:
            return problem, f.name
    if event_type.name == "feedback":
        low, high = SURVEY_SCORE_RANGES[doc["survey"]]
        if not low <= doc["score"] <= high:
            return "out_of_range", "score"
    if not RFC3339.fullmatch(doc["event_time"]):
        return "bad_timestamp", "event_time"
    try:
        datetime.fromisoformat(doc["event_time"])
    except ValueError:
        return "bad_timestamp", "event_time"
    return None


# ---- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def messages() -> list[SimMessage]:
    return list(simulate(CONFIG))


@pytest.fixture(scope="module")
def valid(messages: list[SimMessage]) -> list[tuple[SimMessage, dict[str, Any]]]:
    """Valid messages, first copies only, with their decoded values."""
    return [(m, json.loads(m.value)) for m in messages if m.malformed_reason is None and not m.duplicate]


def _of_type(valid: list[tuple[SimMessage, dict[str, Any]]], event_type: str) -> Iterator[dict[str, Any]]:
    return (doc for _, doc in valid if doc["event_type"] == event_type)


def _utc(doc: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(doc["event_time"]).astimezone(UTC)


# ---- determinism --------------------------------------------------------------------------------------


def test_same_config_gives_identical_bytes(messages: list[SimMessage]) -> None:
    assert list(simulate(CONFIG)) == messages
    other = itertools.islice(simulate(dataclasses.replace(CONFIG, seed=CONFIG.seed + 1)), 200)
    assert [m.value for m in other] != [m.value for m in messages[:200]]


def test_simulate_streams_lazily() -> None:
    # Ten million events: only the first minutes are generated to yield the first message.
    first = next(simulate(SimConfig(target_events=10_000_000)))
    assert first.event_time < datetime(2026, 11, 1, 0, 30, tzinfo=UTC)


# ---- the contract -------------------------------------------------------------------------------------


def test_every_valid_message_conforms_to_the_contract(messages: list[SimMessage]) -> None:
    for m in messages:
        if m.malformed_reason is None:
            assert check(m.topic, m.value) is None, m.value
            doc = json.loads(m.value)
            assert m.key == doc[KEY_FIELD[FAMILY_OF_TOPIC[m.topic]]].encode()
            assert m.event_time == _utc(doc)
            assert m.event_time.tzinfo is UTC


def test_every_event_type_of_every_family_occurs(valid: list[tuple[SimMessage, dict[str, Any]]]) -> None:
    seen = {(FAMILY_OF_TOPIC[m.topic], doc["event_type"]) for m, doc in valid}
    assert seen == set(TYPES)


def test_malformed_messages_carry_the_reason_the_contract_gives_them(messages: list[SimMessage]) -> None:
    malformed = [m for m in messages if m.malformed_reason is not None]
    for m in malformed:
        assert check(m.topic, m.value) == (m.malformed_reason, m.malformed_field), m.value
    n_valid = sum(1 for m in messages if m.malformed_reason is None and not m.duplicate)
    assert len(malformed) == pytest.approx(CONFIG.malformed_rate * n_valid, rel=0.25)
    by_reason = Counter(m.malformed_reason for m in malformed)
    assert set(by_reason) == set(REASONS)
    assert max(by_reason.values()) - min(by_reason.values()) <= 1  # the reasons take turns


def test_malformed_messages_vary_within_a_reason(messages: list[SimMessage]) -> None:
    fields: defaultdict[str | None, set[str | None]] = defaultdict(set)
    for m in messages:
        fields[m.malformed_reason].add(m.malformed_field)
    assert len(fields["missing_field"]) >= 5
    assert len(fields["out_of_range"]) >= 3
    assert len(fields["wrong_type"]) >= 3
    assert any(m.malformed_reason == "invalid_json" and m.key is None for m in messages)


def test_event_ids_are_unique(messages: list[SimMessage]) -> None:
    ids = [json.loads(m.value)["event_id"] for m in messages if m.malformed_reason is None and not m.duplicate]
    assert len(ids) == len(set(ids))
    assert all(1 <= len(i) <= 64 for i in ids)


def test_event_time_comes_in_several_spellings(valid: list[tuple[SimMessage, dict[str, Any]]]) -> None:
    spellings = Counter(
        (doc["event_time"][19:20] == ".", doc["event_time"][-1] == "Z" or doc["event_time"][-6:]) for _, doc in valid
    )
    assert {(True, True), (False, True), (True, "+08:00"), (False, "+08:00"), (True, "-05:00")} <= set(spellings)
    plain = SimConfig(users=50, channels=2, campaigns=1, timestamp_variety=False)
    assert all(re.search(rb'"event_time":"[^"]+\.\d{3}Z"', m.value) for m in simulate(plain) if not m.malformed_reason)


# ---- delivery: duplicates, late events, order ---------------------------------------------------------


def test_duplicates_resend_identical_bytes_later(messages: list[SimMessage]) -> None:
    first_seen: dict[bytes, int] = {}
    duplicates = 0
    for position, m in enumerate(messages):
        if m.duplicate:
            duplicates += 1
            assert m.value in first_seen, "a duplicate comes after its original"
            original = messages[first_seen[m.value]]
            assert (original.topic, original.key, original.event_time) == (m.topic, m.key, m.event_time)
        elif m.malformed_reason is None:
            assert m.value not in first_seen
            first_seen[m.value] = position
    assert duplicates == pytest.approx(CONFIG.duplicate_rate * len(first_seen), rel=0.25)


def test_late_events_arrive_hours_after_their_time_some_after_the_next_day(messages: list[SimMessage]) -> None:
    latest = datetime.min.replace(tzinfo=UTC)
    delays = []
    for m in messages:
        if m.late:
            delays.append(latest - m.event_time)
        elif not m.duplicate:
            latest = max(latest, m.event_time)
    n_valid = sum(1 for m in messages if m.malformed_reason is None and not m.duplicate)
    assert len(delays) == pytest.approx(CONFIG.late_rate * n_valid, rel=0.3)
    # Emitted after events at least ~an hour younger (the stream may be sparse at night: allow slack).
    assert statistics.median(delays) > timedelta(hours=1)
    next_day = [m for m in messages if m.late and m.event_time.date() == CONFIG.start_date]
    assert next_day  # some of day 1's late events come after day 2 started, or after the run's last day
    assert messages[-1].late or messages[-1].duplicate  # the tail after the last minute is late copies


def test_on_time_messages_come_in_event_time_order_within_a_minute(messages: list[SimMessage]) -> None:
    on_time = [m.event_time for m in messages if not (m.late or m.duplicate)]
    assert all(b >= a for a, b in itertools.pairwise(on_time))


# ---- realism ------------------------------------------------------------------------------------------


def test_streams_go_live_cross_midnight_and_change_category(valid: list[tuple[SimMessage, dict[str, Any]]]) -> None:
    starts = {d["stream_id"]: _utc(d) for d in _of_type(valid, "stream_start")}
    ends = {d["stream_id"]: _utc(d) for d in _of_type(valid, "stream_end")}
    assert any(starts[s].date() != ends[s].date() for s in ends if s in starts)
    assert list(_of_type(valid, "category_change"))
    assert {d["category"] for d in _of_type(valid, "stream_start")} <= {
        "gaming", "music", "just_chatting", "outdoor", "education", "shopping",
    }  # fmt: skip
    titles = [d["title"] for d in _of_type(valid, "stream_start")]
    assert any("<" in t for t in titles) and any(re.search(r"[\u4e00-\u9fff]", t) for t in titles)
    assert any(s not in ends for s in starts)  # streams live at the end of the run have no stream_end


def test_sessions_watch_live_streams_with_heartbeats_every_minute(
    valid: list[tuple[SimMessage, dict[str, Any]]],
) -> None:
    starts = {d["stream_id"]: _utc(d) for d in _of_type(valid, "stream_start")}
    ends = {d["stream_id"]: _utc(d) for d in _of_type(valid, "stream_end")}
    horizon = datetime(2026, 11, 8, tzinfo=UTC)
    for d in _of_type(valid, "session_start"):
        assert starts[d["stream_id"]] <= _utc(d) < ends.get(d["stream_id"], horizon)
    for m, d in valid:
        if FAMILY_OF_TOPIC[m.topic] == "engagement":
            assert starts[d["stream_id"]] <= m.event_time <= ends.get(d["stream_id"], horizon)
    beats: defaultdict[str, list[datetime]] = defaultdict(list)
    for d in _of_type(valid, "heartbeat"):
        beats[d["session_id"]].append(_utc(d))
    gaps = [(b - a).total_seconds() for times in beats.values() for a, b in itertools.pairwise(sorted(times))]
    assert statistics.median(gaps) == pytest.approx(60, abs=1)
    assert sum(59 <= g <= 61 for g in gaps) / len(gaps) > 0.99
    assert any(g > 100 for g in gaps)  # now and then a heartbeat is lost
    buffering = [d["buffering_ms"] for d in _of_type(valid, "heartbeat")]
    assert 0.01 < sum(b > 0 for b in buffering) / len(buffering) < 0.2


def test_sessions_sometimes_lack_start_or_end_and_end_for_a_reason(
    valid: list[tuple[SimMessage, dict[str, Any]]],
) -> None:
    started = {d["session_id"] for d in _of_type(valid, "session_start")}
    ended = Counter({d["session_id"]: d["reason"] for d in _of_type(valid, "session_end")}.values())
    ended_ids = {d["session_id"] for d in _of_type(valid, "session_end")}
    beating = {d["session_id"] for d in _of_type(valid, "heartbeat")}
    assert beating - started and started - ended_ids
    assert ended.most_common(1)[0][0] == "user_left"
    assert ended["stream_ended"] > 0 and ended["error"] > 0


def test_session_start_fields_look_like_real_traffic(valid: list[tuple[SimMessage, dict[str, Any]]]) -> None:
    starts = list(_of_type(valid, "session_start"))
    countries = Counter(d["country"] for d in starts)
    assert countries.most_common(1)[0][0] == "CN" and countries[None] > 0 and {"US", "BR"} <= set(countries)
    assert all((d["source"] == "campaign") == (d["campaign_id"] is not None) for d in starts)
    assert any(d["source"] == "campaign" for d in starts)
    startup = [d["startup_ms"] for d in starts if d["startup_ms"] is not None]
    assert 200 <= statistics.median(startup) <= 3000 and len(startup) < len(starts)
    anonymous = [d for d in starts if d.get("is_anonymous")]
    assert anonymous and all(d["user_id"].startswith("dev-") for d in anonymous)
    # Evening peak in China time (UTC+8): 20-23h there is 12-15h UTC; 04-07h there is 20-23h UTC.
    hours = Counter(_utc(d).hour for d in starts)
    assert sum(hours[h] for h in range(12, 15)) > 3 * sum(hours[h] for h in range(20, 23))


def test_users_return_and_new_users_appear(valid: list[tuple[SimMessage, dict[str, Any]]]) -> None:
    active: defaultdict[date, set[str]] = defaultdict(set)
    for m, doc in valid:
        if FAMILY_OF_TOPIC[m.topic] in ("viewer", "engagement"):
            active[m.event_time.date()].add(doc["user_id"])
    day1, day2 = active[date(2026, 11, 6)], active[date(2026, 11, 7)]
    assert 0.3 < len(day1 & day2) / len(day1) < 0.95
    assert len(day2 - day1) > 20
    signed_up = {d["user_id"] for d in _of_type(valid, "signup")}
    assert signed_up and signed_up & (day1 | day2)  # new users start watching


def test_campaign_traffic(valid: list[tuple[SimMessage, dict[str, Any]]]) -> None:
    impressions = list(_of_type(valid, "impression"))
    clicks = list(_of_type(valid, "click"))
    assert 0.01 < len(clicks) / len(impressions) < 0.1
    assert len({d["campaign_id"] for d in impressions}) == CONFIG.campaigns
    assert sum(d["cost_micros"] for d in impressions + clicks) > 0
    assert sum(d["amount_cents"] for d in _of_type(valid, "purchase")) > 0
    clicked = {d["user_id"] for d in clicks}
    assert any(d["user_id"] in clicked for d in _of_type(valid, "signup"))  # attributable sign-ups


def test_engagement_content(valid: list[tuple[SimMessage, dict[str, Any]]]) -> None:
    chats = [d["message"] for d in _of_type(valid, "chat_message")]
    assert "<script>alert(1)</script>" in chats and any(len(c) == 500 for c in chats)
    feedback = list(_of_type(valid, "feedback"))
    assert {d["survey"] for d in feedback} == {"csat", "nps"}
    assert sum(d["amount_cents"] for d in _of_type(valid, "gift")) > 0


def test_target_events_scales_the_traffic() -> None:
    n = sum(1 for m in simulate(SimConfig(target_events=30_000, channels=4, campaigns=2, seed=3)) if not m.duplicate)
    assert n == pytest.approx(30_000, rel=0.15)


# ---- configuration ------------------------------------------------------------------------------------


def test_topics_are_configurable() -> None:
    topics = {"viewer": "v", "engagement": "e", "campaign": "c", "stream": "s"}
    config = SimConfig(users=50, channels=2, campaigns=1, topics=topics)
    assert {m.topic for m in simulate(config)} == set(topics.values())


@pytest.mark.parametrize(
    "overrides",
    [
        {"days": 0},
        {"users": 0},
        {"duplicate_rate": -0.1},
        {"malformed_rate": 0.9},
        {"target_events": 0},
        {"topics": {"viewer": "v"}},
        {"topics": {"viewer": "x", "engagement": "x", "campaign": "c", "stream": "s"}},
    ],
)
def test_invalid_configs_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SimConfig(**overrides)


# ---- JSON-lines files ---------------------------------------------------------------------------------


def test_jsonl_files_replay_the_same_messages_in_the_same_order(messages: list[SimMessage], tmp_path: Path) -> None:
    sample = messages[:3000] + [m for m in messages if m.malformed_reason == "invalid_json"]
    counts = write_jsonl(sample, tmp_path)
    assert counts == Counter(m.topic for m in sample)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{t}.jsonl" for t in counts)
    assert list(read_jsonl(tmp_path)) == sample
    not_utf8 = [m for m in sample if m.value.startswith(b"\xff")]
    assert not_utf8
    assert b'"value_base64"' in (tmp_path / f"{not_utf8[0].topic}.jsonl").read_bytes()


def _free_text(config: SimConfig) -> list[str]:
    """Every title, chat message and comment of a simulation (valid JSON messages only)."""
    found: list[str] = []
    for message in simulate(config):
        try:
            event = json.loads(message.value)
        except ValueError:
            continue
        if isinstance(event, dict):
            found += [v for k in ("title", "message", "comment") if isinstance(v := event.get(k), str)]
    return found


def test_plain_text_has_no_test_strings_but_the_default_has() -> None:
    small = SimConfig(days=1, users=300, channels=17, malformed_rate=0.0)
    plain = _free_text(dataclasses.replace(small, hostile_text=False))
    hostile = _free_text(small)
    assert len(plain) > 100 and len(hostile) > 100

    def odd(text: str) -> bool:
        return "<" in text or "DROP TABLE" in text or "'" in text or len(text) > 80 or not text.strip()

    assert not [t for t in plain if odd(t)]
    assert any("<script>" in t for t in hostile) and any(len(t) >= 200 for t in hostile)
    assert any("🎧" in t or "老王" in t for t in plain)  # ordinary text keeps Chinese and emoji
    # A plain run is another run: its ids do not collide with the default run's.
    assert dataclasses.replace(small, hostile_text=False).run_tag != small.run_tag
