"""The pure assembly of a chunk's marts (transforms/marts.py) on tiny hand-made frames, without DuckDB."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from tests.factories import (
    day,
    engagement_frame,
    events_frame,
    make_engagement_event,
    session_events,
    stream_frame,
    ts,
    viewer_frame,
)
from transforms.days import days_frame
from transforms.marts import (
    HEADLINE_ZERO_FLOAT,
    HEADLINE_ZERO_INT,
    ChunkInputs,
    broadcast_segments,
    chunk_activity,
    chunk_window,
    compute_chunk,
    first_active_days,
    headline,
    split,
    viewer_inputs,
)
from transforms.sessions import build_sessions

USER_TIMES = {"user_id": pl.String, "event_time": pl.Datetime("us", "UTC")}


def _user_times(*rows: tuple[str, str]) -> pl.DataFrame:
    return pl.DataFrame([(user, ts(t)) for user, t in rows], schema=USER_TIMES, orient="row")


def _no_rows() -> pl.LazyFrame:
    return pl.LazyFrame(schema={"day": pl.Date})


def test_headline_fills_absent_counts_with_zero_ratios_with_null_and_pcu_at_with_the_day_start() -> None:
    # Two New York days; only 05-01 has figures. 05-02 starts at 04:00 UTC (EDT, UTC-4).
    days = days_frame([day("2026-05-01"), day("2026-05-02")], "America/New_York")
    figures = pl.LazyFrame(
        {
            "day": [day("2026-05-01")],
            **{name: [7] for name in HEADLINE_ZERO_INT},
            **{name: [2.5] for name in HEADLINE_ZERO_FLOAT},
            "stickiness": [0.25],
            "pcu_at": [ts("2026-05-01 22:15")],
        }
    )
    rows = headline(days, figures, *[_no_rows() for _ in range(8)]).sort("day").collect()

    assert rows["day"].to_list() == [day("2026-05-01"), day("2026-05-02")]
    first, second = rows.to_dicts()
    assert all(first[name] == 7 for name in HEADLINE_ZERO_INT) and first["hours_watched"] == 2.5
    assert all(second[name] == 0 for name in HEADLINE_ZERO_INT)
    assert all(second[name] == 0.0 for name in HEADLINE_ZERO_FLOAT)
    assert second["stickiness"] is None  # a ratio without data stays null
    assert first["pcu_at"] == ts("2026-05-01 22:15") and second["pcu_at"] == ts("2026-05-02 04:00")
    assert {rows.schema[name] for name in HEADLINE_ZERO_INT} == {pl.Int64}
    assert {rows.schema[name] for name in HEADLINE_ZERO_FLOAT} == {pl.Float64}
    assert "day_start" not in rows.columns


def test_split_counts_sessions_without_the_value_as_unknown() -> None:
    # s1 (u1) has a session_start from "home"; s2 and s3 (u2) have only heartbeats, so no source.
    viewer = viewer_frame(
        *session_events("s1", "2026-05-01 10:00", "2026-05-01 10:30", user_id="u1", source="home"),
        *session_events("s2", None, None, heartbeats=["2026-05-01 11:00"], user_id="u2"),
        *session_events("s3", None, None, heartbeats=["2026-05-01 12:00"], user_id="u2"),
    )
    rows = split(build_sessions(viewer), "source", "UTC").collect()
    assert rows.rows() == [(day("2026-05-01"), "unknown", 2, 1), (day("2026-05-01"), "home", 1, 1)]


def test_first_active_days_take_the_earliest_of_viewer_and_engagement_in_the_report_zone() -> None:
    # u1's first viewer event is 05-01 03:00Z (04-30 23:00 in New York), its first like 05-01 12:00Z.
    viewer = _user_times(("u1", "2026-05-01 03:00"))
    engagement = _user_times(("u1", "2026-05-01 12:00"), ("u2", "2026-05-03 08:00"))
    ny = first_active_days(viewer, engagement, "America/New_York").sort("user_id")
    assert ny.rows() == [("u1", day("2026-04-30")), ("u2", day("2026-05-03"))]
    utc = first_active_days(viewer, engagement, "UTC").sort("user_id")
    assert utc.rows() == [("u1", day("2026-05-01")), ("u2", day("2026-05-03"))]


def test_chunk_activity_adds_the_older_first_day_of_users_active_in_the_window_only() -> None:
    first_active = pl.DataFrame(
        {"user_id": ["u1", "u2", "u3"], "first_day": [day("2026-04-01"), day("2026-05-05"), day("2026-03-01")]}
    )
    viewer = _user_times(("u1", "2026-05-10 10:00"), ("u1", "2026-05-10 10:15"))
    engagement = _user_times(("u2", "2026-05-05 09:00"))
    activity = chunk_activity(viewer, engagement, first_active, day("2026-05-01"), "UTC").collect()
    # u1: its day in the window and its first day (older than the window); u2: its day, which is its first;
    # u3: not active in the window, so not there at all.
    assert sorted(activity.rows()) == [
        ("u1", day("2026-04-01")),
        ("u1", day("2026-05-10")),
        ("u2", day("2026-05-05")),
    ]


def _three_sessions() -> list[pl.DataFrame]:
    """Events of s1, s2 (in 05-01) and s0 (ended 04-30 20:00, before the chunk), as two slices by session."""
    s0 = session_events("s0", "2026-04-30 19:00", "2026-04-30 20:00", user_id="u0")
    s1 = session_events("s1", "2026-05-01 10:00", "2026-05-01 10:30", heartbeats=["2026-05-01 10:01"], user_id="u1")
    s2 = session_events("s2", "2026-05-01 23:30", "2026-05-02 00:30", user_id="u2")
    return [viewer_frame(*s0, *s1).collect(), viewer_frame(*s2).collect()]


def test_viewer_inputs_from_slices_equal_those_of_all_events_at_once() -> None:
    start, end = ts("2026-05-01 00:00"), ts("2026-05-02 00:00")
    slices = _three_sessions()
    sliced_sessions, sliced_days = viewer_inputs(iter(slices), start, end, "UTC")
    whole_sessions, whole_days = viewer_inputs([pl.concat(slices)], start, end, "UTC")

    sessions = sliced_sessions.collect()
    assert sessions["session_id"].to_list() == ["s1", "s2"]  # s0 ended before the chunk
    assert_frame_equal(sessions, whole_sessions.collect())
    for part in ("users", "startups", "totals"):
        a, b = getattr(sliced_days, part).collect(), getattr(whole_days, part).collect()
        assert_frame_equal(a.sort(a.columns), b.sort(b.columns))
    totals = sliced_days.totals.collect().sort("day")
    assert totals.select("day", "ends").rows() == [
        (day("2026-04-30"), 1),
        (day("2026-05-01"), 1),
        (day("2026-05-02"), 1),
    ]


def test_chunk_window_reads_a_day_of_sessions_38_days_of_campaigns_and_30_days_of_activity() -> None:
    bounds = days_frame([day("2026-05-01"), day("2026-05-02")], "America/New_York").collect()
    window = chunk_window(bounds, "America/New_York")
    assert (window.start, window.end) == (ts("2026-05-01 04:00"), ts("2026-05-03 04:00"))
    assert window.session_back == ts("2026-04-30 04:00")
    assert window.campaign_back == ts("2026-03-24 04:00")  # 30 + 7 + 1 days before
    assert (window.activity_day, window.activity_start) == (day("2026-04-01"), ts("2026-04-01 04:00"))


def test_compute_chunk_of_one_session_and_one_like() -> None:
    # u1 watches 30 minutes (10:00-10:30 UTC, no source, no stream known); u2 likes at 15:00.
    d = day("2026-05-01")
    bounds = days_frame([d], "UTC").collect()
    viewer = viewer_frame(
        *session_events("s1", "2026-05-01 10:00", "2026-05-01 10:30", user_id="u1", source=None, stream_id="stX")
    ).collect()
    engagement = engagement_frame(make_engagement_event(user_id="u2", event_time="2026-05-01 15:00"))
    sessions, condensed = viewer_inputs([viewer], bounds["day_start"][0], bounds["day_end"][0], "UTC")
    user_times = [frame.select("user_id", "event_time").collect() for frame in (viewer.lazy(), engagement)]
    activity = chunk_activity(*user_times, first_active_days(*user_times, "UTC"), d, "UTC")
    inputs = ChunkInputs(sessions, condensed, engagement, events_frame("campaign", []), activity)
    segments = broadcast_segments(stream_frame().collect(), ts("2026-05-02 06:00"))

    frames = compute_chunk(inputs, segments, bounds, "UTC")

    (row,) = frames["agg_daily_headline"].to_dicts()
    assert (row["day"], row["dau"], row["new_users"], row["unique_viewers"], row["sessions"]) == (d, 2, 2, 1, 1)
    assert (row["hours_watched"], row["pcu"], row["pcu_at"], row["likes"]) == (0.5, 1, ts("2026-05-01 10:00"), 1)
    assert row["acu"] == 1800 / 86400
    assert (row["chat_messages"], row["impressions"], row["spend"], row["hours_broadcast"]) == (0, 0, 0.0, 0.0)
    assert row["ctr"] is None and row["engagement_rate"] == 0.0
    assert frames["agg_daily_source"].rows() == [(d, "unknown", 1, 1)]
    assert frames["agg_daily_device"].rows() == [(d, "web", 1, 1)]
    assert frames["fct_session_days"].select("day", "session_id", "category", "watch_seconds").rows() == [
        (d, "s1", "unknown", 1800.0)
    ]
    cohorts = frames["agg_retention_cohorts"]
    assert cohorts.height == 31 and cohorts.filter(pl.col("cohort_date") == d)["size"].to_list() == [2]
    assert frames["fct_minute_concurrency"].height == 1440
    assert frames["agg_daily_campaign"].is_empty()
    # the channel has watch time (no broadcast known): a row, with no follow
    channel = frames["agg_daily_channel"].select("day", "channel_id", "hours_watched", "hours_broadcast", "follows")
    assert channel.rows() == [(d, "c1", 0.5, 0.0, 0)]
    assert "build_days" not in frames
