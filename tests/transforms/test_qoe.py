"""Quality of experience per day: startup quantiles, rebuffering ratio, error exit rate (by hand)."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from tests.factories import day, make_viewer_event, session_events, viewer_frame
from transforms.sessions import build_sessions, daily_qoe, daily_qoe_of, merge_viewer_days, viewer_days

QOE_SCHEMA = {
    "day": pl.Date,
    "startup_p50_ms": pl.Float64,
    "startup_p95_ms": pl.Float64,
    "rebuffering_ratio": pl.Float64,
    "error_exit_rate": pl.Float64,
    "avg_bitrate_kbps": pl.Float64,
}


def test_daily_qoe_by_hand() -> None:
    # session | day   | startup_ms | heartbeats' buffering_ms | watch s | session_end reason
    # a       | 05-01 | 100        | 3000, 1500               | 600     | error
    # b       | 05-01 | 200        |                          | 300     | user_left
    # c       | 05-01 | 300        |                          | 600     | error
    # d       | 05-01 | 1000       | 0                        | 300     | (none: ends at its heartbeat)
    # e       | 05-01 | null       |                          | 60      | stream_ended
    # f       | 05-02 | 5000       |                          | 600     | user_left
    # g       | 05-04 | null       |                          | 0       | (none: a lone session_start)
    #
    # 05-01: startup over [100, 200, 300, 1000] (null skipped):
    #          p50: h = 3 * 0.50 = 1.5  -> 200 + 0.5 * (300 - 200) = 250
    #          p95: h = 3 * 0.95 = 2.85 -> 300 + 0.85 * (1000 - 300) = 895
    #        rebuffering = 4500 / (1000 * 1860) ; error exits = 2 / 4
    # 05-02: one startup 5000 -> p50 = p95 = 5000; rebuffering 0 / (1000 * 600) = 0; error exits 0 / 1
    # 05-03: nothing at all (a gap between event days): every figure null
    # 05-04: no startup value, no watch time, no session_end: every figure null (zero denominators)
    v = viewer_frame(
        *session_events("a", "2026-05-01 10:00", "2026-05-01 10:10", startup_ms=100, reason="error"),
        make_viewer_event(event_type="heartbeat", session_id="a", event_time="2026-05-01 10:01", buffering_ms=3000),
        make_viewer_event(event_type="heartbeat", session_id="a", event_time="2026-05-01 10:02", buffering_ms=1500),
        *session_events("b", "2026-05-01 11:00", "2026-05-01 11:05", startup_ms=200, reason="user_left"),
        *session_events("c", "2026-05-01 12:00", "2026-05-01 12:10", startup_ms=300, reason="error"),
        *session_events("d", "2026-05-01 13:00", None, startup_ms=1000),
        make_viewer_event(event_type="heartbeat", session_id="d", event_time="2026-05-01 13:05", buffering_ms=0),
        *session_events("e", "2026-05-01 14:00", "2026-05-01 14:01", startup_ms=None, reason="stream_ended"),
        *session_events("f", "2026-05-02 00:30", "2026-05-02 00:40", startup_ms=5000, reason="user_left"),
        *session_events("g", "2026-05-04 09:00", None, startup_ms=None),
    )
    got = daily_qoe(v, build_sessions(v), "UTC").collect()
    expected = pl.DataFrame(
        [
            (day("2026-05-01"), 250.0, 895.0, 4500 / (1000 * 1860), 0.5, 3000.0),  # 3 heartbeats at 3000
            (day("2026-05-02"), 5000.0, 5000.0, 0.0, 0.0, None),  # no heartbeat: no bitrate
            (day("2026-05-03"), None, None, None, None, None),
            (day("2026-05-04"), None, None, None, None, None),
        ],
        schema=QOE_SCHEMA,
        orient="row",
    )
    assert_frame_equal(got, expected)


def test_daily_qoe_uses_the_local_day_of_each_event() -> None:
    # New York (EDT, -4). The session starts 05-02 03:30Z = 05-01 23:30 local and ends 05-02 04:30Z =
    # 00:30 local with an error; its heartbeat at 04:10Z (00:10 local) rebuffered 900 ms.
    #
    # day   | startup | watch s | buffering | ends (errors)
    # 05-01 | 400     | 1800    | 0         | 0
    # 05-02 |         | 1800    | 900       | 1 (1)
    v = viewer_frame(
        *session_events("a", "2026-05-02 03:30", "2026-05-02 04:30", startup_ms=400, reason="error"),
        make_viewer_event(event_type="heartbeat", session_id="a", event_time="2026-05-02 04:10", buffering_ms=900),
    )
    got = daily_qoe(v, build_sessions(v), "America/New_York").collect()
    expected = pl.DataFrame(
        [
            (day("2026-05-01"), 400.0, 400.0, 0.0, None, None),
            (day("2026-05-02"), None, None, 900 / (1000 * 1800), 1.0, 3000.0),
        ],
        schema=QOE_SCHEMA,
        orient="row",
    )
    assert_frame_equal(got, expected)


def test_average_bitrate_is_per_heartbeat_that_reports_one() -> None:
    # Session a: three heartbeats at 1000 kbps; session b: one at 4000 and one without a bitrate (null).
    # Per heartbeat: (3 x 1000 + 4000) / 4 = 1750 (the null heartbeat is not counted). Not per session
    # ((1000 + 4000) / 2 = 2500) nor over all heartbeats with null as 0 (7000 / 5 = 1400).
    beats = [
        ("a", "10:01", 1000),
        ("a", "10:02", 1000),
        ("a", "10:03", 1000),
        ("b", "11:01", 4000),
        ("b", "11:02", None),
    ]
    v = viewer_frame(
        *session_events("a", "2026-05-01 10:00", "2026-05-01 10:10", startup_ms=100, reason="user_left"),
        *session_events("b", "2026-05-01 11:00", "2026-05-01 11:10", startup_ms=100, reason="user_left"),
        *(
            make_viewer_event(event_type="heartbeat", session_id=s, event_time=f"2026-05-01 {t}", bitrate_kbps=kbps)
            for s, t, kbps in beats
        ),
    )
    got = daily_qoe(v, build_sessions(v), "UTC").collect()
    assert got["avg_bitrate_kbps"].to_list() == [1750.0]
    # Slices of a large day merge exactly: each session alone, then merged, gives the same figure.
    parts = [v.filter(pl.col("session_id") == sid) for sid in ("a", "b")]
    condensed = merge_viewer_days([viewer_days(p, "UTC") for p in parts])
    merged_sessions = pl.concat([build_sessions(p) for p in parts])
    assert daily_qoe_of(condensed, merged_sessions, "UTC").collect()["avg_bitrate_kbps"].to_list() == [1750.0]
