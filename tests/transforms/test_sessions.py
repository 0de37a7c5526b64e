"""Sessions, watch time per day, minute concurrency and daily viewing figures, worked out by hand."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tests.factories import day, make_viewer_event, session_events, ts, viewer_frame
from transforms.days import days_frame, minute_marks
from transforms.sessions import (
    build_sessions,
    daily_qoe,
    daily_qoe_of,
    daily_session_splits,
    daily_sources,
    daily_viewing,
    daily_viewing_of,
    merge_viewer_days,
    minute_concurrency,
    session_watch_by_day,
    viewer_days,
)

NY = "America/New_York"
UTC_TS = pl.Datetime("us", "UTC")

SESSION_SCHEMA = pl.Schema(
    {
        "session_id": pl.String(),
        "user_id": pl.String(),
        "stream_id": pl.String(),
        "channel_id": pl.String(),
        "source": pl.String(),
        "campaign_id": pl.String(),
        "device": pl.String(),
        "country": pl.String(),
        "started_at": UTC_TS,
        "ended_at": UTC_TS,
        "length_seconds": pl.Float64(),
        "has_start": pl.Boolean(),
        "has_end": pl.Boolean(),
        "end_reason": pl.String(),
        "capped": pl.Boolean(),
    }
)

# ---------------------------------------------------------------------------------------------------------
# build_sessions
# ---------------------------------------------------------------------------------------------------------


def test_build_sessions_start_end_attributes_and_cap() -> None:
    v = viewer_frame(
        # Crosses midnight; everything present.
        *session_events(
            "full", "2026-05-01 23:50", "2026-05-02 00:20", heartbeats=["2026-05-01 23:51"],
            user_id="u1", stream_id="st1", channel_id="c1", source="search", device="ios", country="DE",
            campaign_id="cmp1", reason="user_left",
        ),
        # No session_start: starts at its earliest event, attributes from it (start-only ones are null).
        *session_events(
            "no_start", None, "2026-05-01 10:05", heartbeats=["2026-05-01 10:01", "2026-05-01 10:00"],
            user_id="u2", stream_id="st2", channel_id="c2", reason="stream_ended",
        ),
        # No session_end: ends at its latest event.
        *session_events("no_end", "2026-05-01 11:00", None, heartbeats=["2026-05-01 11:01", "2026-05-01 11:02"]),
        # session_end before session_start (skewed clocks): length 0.
        *session_events("backwards", "2026-05-01 12:00", "2026-05-01 11:59"),
        # 30 h long: capped at start + 24 h.
        *session_events("long", "2026-05-01 00:00", "2026-05-02 06:00"),
        # A heartbeat before the session_start: start and attributes still come from the session_start.
        make_viewer_event(
            event_type="heartbeat", session_id="hb_first", event_time="2026-05-01 14:58", user_id="u9",
            stream_id="st9", channel_id="c9",
        ),
        *session_events("hb_first", "2026-05-01 15:00", "2026-05-01 15:10", user_id="u3", stream_id="st3"),
    )  # fmt: skip
    got = build_sessions(v).collect()

    # session   | started_at   | ended_at            | length | why
    # full      | 05-01 23:50  | 05-02 00:20         | 1800   | start/end events
    # long      | 05-01 00:00  | 05-02 00:00         | 86400  | 06:00 capped at start + 24 h
    # no_start  | 05-01 10:00  | 05-01 10:05         | 300    | earliest event (a heartbeat)
    # no_end    | 05-01 11:00  | 05-01 11:02         | 120    | latest event (a heartbeat)
    # backwards | 05-01 12:00  | 05-01 12:00         | 0      | end < start
    # hb_first  | 05-01 15:00  | 05-01 15:10         | 600    | session_start, not the earlier heartbeat
    def row(sid: str, start: str, end: str, length: float, **kw: Any) -> dict[str, Any]:
        base = {
            "session_id": sid, "user_id": "u1", "stream_id": "st1", "channel_id": "c1", "source": "home",
            "campaign_id": None, "device": "web", "country": "FR", "started_at": ts(start),
            "ended_at": ts(end), "length_seconds": length, "has_start": True, "has_end": True,
            "end_reason": "user_left", "capped": False,
        }  # fmt: skip
        return {**base, **kw}

    expected = pl.DataFrame(
        [
            row("long", "2026-05-01 00:00", "2026-05-02 00:00", 86_400.0, capped=True),
            row("no_start", "2026-05-01 10:00", "2026-05-01 10:05", 300.0, user_id="u2", stream_id="st2",
                channel_id="c2", source=None, device=None, country=None, has_start=False,
                end_reason="stream_ended"),
            row("no_end", "2026-05-01 11:00", "2026-05-01 11:02", 120.0, has_end=False, end_reason=None),
            row("backwards", "2026-05-01 12:00", "2026-05-01 12:00", 0.0),
            row("hb_first", "2026-05-01 15:00", "2026-05-01 15:10", 600.0, user_id="u3", stream_id="st3"),
            row("full", "2026-05-01 23:50", "2026-05-02 00:20", 1800.0, source="search", device="ios",
                country="DE", campaign_id="cmp1"),
        ],
        schema=SESSION_SCHEMA,
    )  # fmt: skip
    assert_frame_equal(got, expected)


def test_build_sessions_tie_breaking_between_duplicate_starts_and_ends() -> None:
    # Three session_starts: the earliest time wins, then the smallest event_id (x1 before x2).
    # Two session_ends: the latest wins (the session runs from its first start to its last end).
    v = viewer_frame(
        make_viewer_event(event_id="x2", session_id="s", event_time="2026-05-01 13:00", source="search"),
        make_viewer_event(event_id="x1", session_id="s", event_time="2026-05-01 13:00", source="follow"),
        make_viewer_event(event_id="x0", session_id="s", event_time="2026-05-01 13:10", source="home"),
        make_viewer_event(event_type="session_end", session_id="s", event_time="2026-05-01 13:20", reason="error"),
        make_viewer_event(event_type="session_end", session_id="s", event_time="2026-05-01 13:30", reason="other"),
    )
    got = build_sessions(v).select("source", "started_at", "ended_at", "end_reason").collect()
    assert got.rows() == [("follow", ts("2026-05-01 13:00"), ts("2026-05-01 13:30"), "other")]


def test_build_sessions_of_no_events_is_empty_with_the_schema() -> None:
    got = build_sessions(viewer_frame()).collect()
    assert got.schema == SESSION_SCHEMA
    assert got.height == 0


# ---------------------------------------------------------------------------------------------------------
# session_watch_by_day
# ---------------------------------------------------------------------------------------------------------


def test_watch_by_day_splits_at_local_midnight() -> None:
    # New York, EDT (-4) until 2026-11-01 06:00Z. Session a: 03:30Z..04:30Z = 10-31 23:30..11-01 00:30 EDT.
    # Session b has no start: its heartbeat at 03:50Z starts it; it ends 04:10Z.
    v = viewer_frame(
        *session_events("a", "2026-11-01 03:30", "2026-11-01 04:30", user_id="u1"),
        *session_events("b", None, "2026-11-01 04:10", heartbeats=["2026-11-01 03:50"], user_id="u2"),
    )
    got = session_watch_by_day(build_sessions(v), NY).select("session_id", "day", "watch_seconds").collect()
    expected = pl.DataFrame(
        [
            ("a", day("2026-10-31"), 1800.0),
            ("b", day("2026-10-31"), 600.0),
            ("a", day("2026-11-01"), 1800.0),
            ("b", day("2026-11-01"), 600.0),
        ],
        schema={"session_id": pl.String, "day": pl.Date, "watch_seconds": pl.Float64},
        orient="row",
    )
    assert_frame_equal(got, expected)


# ---------------------------------------------------------------------------------------------------------
# minute_concurrency
# ---------------------------------------------------------------------------------------------------------


def _sessions(*rows: tuple[str, str, str, str]) -> pl.LazyFrame:
    """A session frame from (session_id, channel_id, started_at, ended_at)."""
    return pl.LazyFrame(
        [(sid, ch, ts(s), ts(e)) for sid, ch, s, e in rows],
        schema={"session_id": pl.String, "channel_id": pl.String, "started_at": UTC_TS, "ended_at": UTC_TS},
        orient="row",
    )


# A session counts at mark t when start <= t < end:
#
# session | channel | [start, end)          | marks counted
# s1      | c1      | 10:00:30 .. 10:02:00  | 10:01
# s2      | c1      | 10:01:00 .. 10:03:00  | 10:01, 10:02
# s3      | c3      | 10:02:00 .. 10:02:00  | none (length 0)
# s4      | c2      | 10:00:00 .. 10:00:59  | 10:00
#
# total: 10:00 -> 1, 10:01 -> 2, 10:02 -> 1, every other mark of 2026-05-01 -> 0
MARKS_EXAMPLE = _sessions(
    ("s1", "c1", "2026-05-01 10:00:30", "2026-05-01 10:02:00"),
    ("s2", "c1", "2026-05-01 10:01:00", "2026-05-01 10:03:00"),
    ("s3", "c3", "2026-05-01 10:02:00", "2026-05-01 10:02:00"),
    ("s4", "c2", "2026-05-01 10:00:00", "2026-05-01 10:00:59"),
)


def test_minute_concurrency_counts_start_inclusive_end_exclusive() -> None:
    got = minute_concurrency(MARKS_EXAMPLE, "UTC").collect()
    assert got.columns == ["day", "minute", "concurrent"]
    assert got.height == 1440
    nonzero = got.filter(pl.col("concurrent") != 0)
    expected = pl.DataFrame(
        {
            "day": [day("2026-05-01")] * 3,
            "minute": [ts("2026-05-01 10:00"), ts("2026-05-01 10:01"), ts("2026-05-01 10:02")],
            "concurrent": [1, 2, 1],
        },
        schema={"day": pl.Date, "minute": UTC_TS, "concurrent": pl.Int64},
    )
    assert_frame_equal(nonzero, expected)


def test_minute_concurrency_by_group_includes_zero_minutes() -> None:
    got = minute_concurrency(MARKS_EXAMPLE, "UTC", by=["channel_id"]).collect()
    assert got.columns == ["day", "minute", "channel_id", "concurrent"]
    per_channel = (
        got.group_by("channel_id")
        .agg(
            pl.len().alias("marks"), pl.col("concurrent").sum().alias("total"), pl.col("concurrent").max().alias("peak")
        )
        .sort("channel_id")
    )
    # c1: s1 + s2 = marks 10:01 (2), 10:02 (1); c2: s4 at 10:00; c3 only has a session of length 0: its day
    # is still reported, every mark 0.
    assert per_channel.rows() == [("c1", 1440, 3, 2), ("c2", 1440, 1, 1), ("c3", 1440, 0, 0)]
    assert got.filter(pl.col("channel_id") == "c1", pl.col("concurrent") > 0).select("minute", "concurrent").rows() == [
        (ts("2026-05-01 10:01"), 2),
        (ts("2026-05-01 10:02"), 1),
    ]


def test_minute_concurrency_counts_sessions_started_before_the_requested_day() -> None:
    # One session 23:59:30 .. 00:01:30 across midnight (UTC). On 05-01 it covers no mark (23:59 < start);
    # on 05-02 it covers 00:00 and 00:01, even when only 05-02 is asked for.
    s = _sessions(("x", "c1", "2026-05-01 23:59:30", "2026-05-02 00:01:30"))
    both = minute_concurrency(s, "UTC").filter(pl.col("concurrent") > 0).collect()
    assert both.select("day", "minute").rows() == [
        (day("2026-05-02"), ts("2026-05-02 00:00")),
        (day("2026-05-02"), ts("2026-05-02 00:01")),
    ]
    only_second = minute_concurrency(s, "UTC", days=[day("2026-05-02")]).collect()
    assert only_second.height == 1440
    assert only_second["concurrent"].sum() == 2


def test_minute_concurrency_mark_counts_on_dst_days() -> None:
    # No sessions at all: every asked day is still reported, with 1380 / 1500 marks of 0.
    empty = _sessions()
    got = minute_concurrency(empty, NY, days=[day("2026-03-08"), day("2026-11-01")]).collect()
    counts = got.group_by("day").agg(pl.len(), pl.col("concurrent").sum()).sort("day")
    assert counts.rows() == [(day("2026-03-08"), 1380, 0), (day("2026-11-01"), 1500, 0)]


def _brute_force(sessions: pl.DataFrame, days: list[date], tz: str) -> pl.DataFrame:
    """Concurrency by definition: for every minute mark t, count sessions with start <= t < end."""
    marks = minute_marks(days_frame(days, tz), tz).select("day", "minute").collect()
    covered = (
        marks.join(sessions.select("started_at", "ended_at"), how="cross")
        .filter((pl.col("started_at") <= pl.col("minute")) & (pl.col("minute") < pl.col("ended_at")))
        .group_by("minute")
        .agg(pl.len().cast(pl.Int64).alias("concurrent"))
    )
    return marks.join(covered, on="minute", how="left").with_columns(pl.col("concurrent").fill_null(0))


# ---------------------------------------------------------------------------------------------------------
# daily_viewing
# ---------------------------------------------------------------------------------------------------------

VIEWING_SCHEMA = pl.Schema(
    {
        "day": pl.Date(),
        "unique_viewers": pl.Int64(),
        "hours_watched": pl.Float64(),
        "acu": pl.Float64(),
        "avg_watch_minutes": pl.Float64(),
        "sessions": pl.Int64(),
        "pcu": pl.Int64(),
        "pcu_at": UTC_TS,
    }
)


def test_daily_viewing_on_the_25_hour_day() -> None:
    # New York; 2026-11-01 is [11-01 04:00Z, 11-02 05:00Z) = 90,000 s.
    #
    # session | user | [start, end) UTC            | 11-01 s | 11-02 s
    # A       | u1   | 11-01 14:00 .. 15:00        | 3600    |
    # B       | u2   | 11-01 14:30 .. 16:00        | 5400    |
    # C       | u3   | 11-01 15:30 .. 15:45        | 900     |
    # D       | u4   | 11-02 04:30 .. 05:30        | 1800    | 1800    (23:30 EST .. 00:30 EST)
    #
    # 11-01: watch 11,700 s = 3.25 h; ACU = 11,700 / 90,000 = 0.13; viewers u1..u4 = 4;
    #        avg = 11,700 / 4 / 60 = 48.75 min; sessions 4; PCU 2, first at 14:30Z (A+B; again at 15:30 B+C).
    # 11-02: watch 1,800 s = 0.5 h; ACU = 1,800 / 86,400; viewers: u4 (its session_end) = 1; avg 30 min;
    #        sessions 0; PCU 1 at 05:00Z (00:00 EST, D still running).
    v = viewer_frame(
        *session_events("A", "2026-11-01 14:00", "2026-11-01 15:00", user_id="u1"),
        *session_events("B", "2026-11-01 14:30", "2026-11-01 16:00", user_id="u2"),
        *session_events("C", "2026-11-01 15:30", "2026-11-01 15:45", user_id="u3"),
        *session_events("D", "2026-11-02 04:30", "2026-11-02 05:30", user_id="u4"),
    )
    got = daily_viewing(v, build_sessions(v), NY).collect()
    expected = pl.DataFrame(
        [
            (day("2026-11-01"), 4, 3.25, 0.13, 48.75, 4, 2, ts("2026-11-01 14:30")),
            (day("2026-11-02"), 1, 0.5, 1800 / 86_400, 30.0, 0, 1, ts("2026-11-02 05:00")),
        ],
        schema=VIEWING_SCHEMA,
        orient="row",
    )
    assert_frame_equal(got, expected)


def test_daily_viewing_acu_uses_the_23_hour_day() -> None:
    # One session covering all of 2026-03-08 in New York ([05:00Z, 03-09 04:00Z) = 82,800 s): ACU is 1.0
    # (it would be 0.958 over 86,400 s). Its session_end, at 03-09 00:00 EDT, also reports 03-09 (no watch).
    v = viewer_frame(*session_events("a", "2026-03-08 05:00", "2026-03-09 04:00"))
    got = daily_viewing(v, build_sessions(v), NY).filter(pl.col("day") == day("2026-03-08")).collect()
    assert got.select("day", "hours_watched", "acu", "pcu", "pcu_at").rows() == [
        (day("2026-03-08"), 23.0, 1.0, 1, ts("2026-03-08 05:00")),
    ]


def test_daily_viewing_zero_viewers_gives_null_average_and_zero_days_are_filled() -> None:
    # A session without end, started 05-01 22:00Z, whose last heartbeat is 05-03 01:00Z: 27 h, capped at 24 h
    # (ends 05-02 22:00Z).
    #
    # day   | viewer events | watch s | avg          | pcu, pcu_at
    # 05-01 | start         | 7,200   | 120 min      | 1 at 22:00Z
    # 05-02 | none          | 79,200  | null (0 uv)  | 1 at 00:00Z
    # 05-03 | heartbeat     | 0       | 0 min        | 0 at 00:00Z (first mark reaching 0)
    v = viewer_frame(*session_events("a", "2026-05-01 22:00", None, heartbeats=["2026-05-03 01:00"]))
    got = daily_viewing(v, build_sessions(v), "UTC").collect()
    expected = pl.DataFrame(
        [
            (day("2026-05-01"), 1, 2.0, 7200 / 86_400, 120.0, 1, 1, ts("2026-05-01 22:00")),
            (day("2026-05-02"), 0, 22.0, 79_200 / 86_400, None, 0, 1, ts("2026-05-02 00:00")),
            (day("2026-05-03"), 1, 0.0, 0.0, 0.0, 0, 0, ts("2026-05-03 00:00")),
        ],
        schema=VIEWING_SCHEMA,
        orient="row",
    )
    assert_frame_equal(got, expected)


def test_daily_viewing_short_session_between_marks_has_acu_but_no_pcu() -> None:
    # PCU samples minute marks (docs/metrics.md); a 40 s session between two marks adds watch time but no peak.
    v = viewer_frame(*session_events("a", "2026-05-01 10:00:10", "2026-05-01 10:00:50"))
    got = daily_viewing(v, build_sessions(v), "UTC").select("acu", "pcu").collect()
    assert got.rows() == [(40 / 86_400, 0)]


# ---------------------------------------------------------------------------------------------------------
# sessions by source / device / country
# ---------------------------------------------------------------------------------------------------------


def test_daily_sources_counts_sessions_started_in_the_day() -> None:
    # 05-01: u1 two sessions from search, u2 one from home, u3 one without session_start (source null);
    # 05-02: u1 one from home. The search session crossing midnight counts on its start day only.
    v = viewer_frame(
        *session_events("a", "2026-05-01 09:00", "2026-05-01 09:30", user_id="u1", source="search"),
        *session_events("b", "2026-05-01 23:00", "2026-05-02 01:00", user_id="u1", source="search"),
        *session_events("c", "2026-05-01 10:00", "2026-05-01 10:30", user_id="u2", source="home", device="tv"),
        *session_events("d", None, "2026-05-01 11:00", heartbeats=["2026-05-01 10:59"], user_id="u3"),
        *session_events("e", "2026-05-02 08:00", "2026-05-02 08:10", user_id="u1", source="home"),
    )
    sessions = build_sessions(v)
    got = daily_sources(sessions, v, "UTC").collect()
    expected = pl.DataFrame(
        [
            (day("2026-05-01"), "search", 2, 1),
            (day("2026-05-01"), "home", 1, 1),
            (day("2026-05-01"), None, 1, 1),
            (day("2026-05-02"), "home", 1, 1),
        ],
        schema={"day": pl.Date, "source": pl.String, "sessions": pl.Int64, "unique_viewers": pl.Int64},
        orient="row",
    )
    assert_frame_equal(got, expected)

    splits = daily_session_splits(sessions, "UTC").filter(pl.col("dimension") == "device").collect()
    assert splits.select("day", "value", "sessions", "unique_viewers").rows() == [
        (day("2026-05-01"), "web", 2, 1),
        (day("2026-05-01"), "tv", 1, 1),
        (day("2026-05-01"), None, 1, 1),
        (day("2026-05-02"), "web", 1, 1),
    ]


# ---------------------------------------------------------------------------------------------------------
# properties on small random session sets
# ---------------------------------------------------------------------------------------------------------

ORIGIN = datetime.fromisoformat("2026-10-31T00:00:00+00:00")  # three days around New York's 25 h day

# (start minute, length in minutes) pairs: whole minutes, so that the time average (ACU) is an average of
# the values at the marks and cannot exceed their maximum (see the short-session test above).
minute_sessions = st.lists(
    st.tuples(st.integers(0, 3 * 1440), st.integers(0, 30 * 60), st.sampled_from(["u1", "u2", "u3"])),
    max_size=8,
)
# Starts and lengths to the second, for the identities that hold at any resolution.
second_sessions = st.lists(st.tuples(st.integers(0, 3 * 86_400), st.integers(-600, 30 * 3600)), max_size=8)
zones = st.sampled_from(["UTC", NY, "Asia/Kolkata"])


def _viewer_from(pairs: list[tuple[datetime, datetime, str]]) -> pl.LazyFrame:
    rows: list[dict[str, Any]] = []
    for i, (start, end, user) in enumerate(pairs):
        rows += session_events(f"s{i}", start, end, user_id=user)
    return viewer_frame(*rows)


# database=None: the example database would otherwise be written into the working directory.
PROPERTY_SETTINGS = settings(
    max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(minute_sessions, zones)
def test_pcu_is_at_least_acu(raw: list[tuple[int, int, str]], tz: str) -> None:
    pairs = [(ORIGIN + timedelta(minutes=s), ORIGIN + timedelta(minutes=s + n), u) for s, n, u in raw]
    v = _viewer_from(pairs)
    daily = daily_viewing(v, build_sessions(v), tz).collect()
    for pcu, acu in daily.select("pcu", "acu").rows():
        assert pcu >= acu - 1e-9


@PROPERTY_SETTINGS
@given(second_sessions, zones)
def test_watch_seconds_over_days_add_up_to_session_lengths(raw: list[tuple[int, int]], tz: str) -> None:
    pairs = [(ORIGIN + timedelta(seconds=s), ORIGIN + timedelta(seconds=s + n), "u1") for s, n in raw]
    sessions = build_sessions(_viewer_from(pairs))
    watch = session_watch_by_day(sessions, tz).collect()
    lengths = sessions.collect()
    assert abs(float(watch["watch_seconds"].sum()) - float(lengths["length_seconds"].sum())) < 1e-6
    # Each session's length is its (capped, non-negative) end minus start.
    for start, end, length in lengths.select("started_at", "ended_at", "length_seconds").rows():
        assert 0 <= length <= 86_400
        assert (end - start).total_seconds() == length


@PROPERTY_SETTINGS
@given(second_sessions, zones)
def test_minute_concurrency_matches_the_definition(raw: list[tuple[int, int]], tz: str) -> None:
    pairs = [(ORIGIN + timedelta(seconds=s), ORIGIN + timedelta(seconds=s + n), "u1") for s, n in raw]
    sessions = build_sessions(_viewer_from(pairs))
    days = [date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 2)]
    got = minute_concurrency(sessions, tz, days=days).collect()
    assert_frame_equal(got, _brute_force(sessions.collect(), days, tz))


def test_condensed_viewer_days_merge_exactly_over_any_split_of_the_sessions() -> None:
    # Two users, three sessions over two days (one crossing midnight), a lone heartbeat of a session without
    # start or end, an error exit: the figures from the condensed slices equal those from all events.
    def ve(at: str, event_type: str, session_id: str, **fields: Any) -> dict[str, Any]:
        return make_viewer_event(event_time=at, event_type=event_type, session_id=session_id, **fields)

    events = [
        ve("2026-03-01T22:00:00Z", "session_start", "s1", user_id="u1", startup_ms=800),
        ve("2026-03-01T23:30:00Z", "heartbeat", "s1", user_id="u1", buffering_ms=500),
        ve("2026-03-02T00:30:00Z", "heartbeat", "s1", user_id="u1", buffering_ms=250),
        ve("2026-03-02T01:00:00Z", "session_end", "s1", user_id="u1", reason="error"),
        ve("2026-03-02T08:00:00Z", "session_start", "s2", user_id="u2", startup_ms=1200),
        ve("2026-03-02T08:10:00Z", "heartbeat", "s2", user_id="u2", buffering_ms=100),
        ve("2026-03-02T09:00:00Z", "session_end", "s2", user_id="u2", reason="user"),
        ve("2026-03-02T10:00:00Z", "heartbeat", "s3", user_id="u1", buffering_ms=40),
    ]
    viewer = viewer_frame(*events)
    sessions = build_sessions(viewer)
    whole_viewing = daily_viewing(viewer, sessions, "UTC").collect()
    whole_qoe = daily_qoe(viewer, sessions, "UTC").collect()

    parts = [viewer.filter(pl.col("session_id") == sid) for sid in ("s1", "s2", "s3")]
    condensed = merge_viewer_days([viewer_days(p, "UTC") for p in parts]).collect()
    merged_sessions = pl.concat([build_sessions(p) for p in parts]).sort("started_at", "session_id")

    assert_frame_equal(daily_viewing_of(condensed, merged_sessions, "UTC").collect(), whole_viewing)
    assert_frame_equal(daily_qoe_of(condensed, merged_sessions, "UTC").collect(), whole_qoe)
    # Worked by hand: day 2 has both users, 350 ms of buffering, two exits of which one an error.
    day2 = whole_qoe.row(1, named=True)
    assert whole_viewing["unique_viewers"].to_list() == [1, 2]
    assert day2["error_exit_rate"] == 0.5 and day2["startup_p50_ms"] == 1200.0
