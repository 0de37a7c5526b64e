"""Content metrics: broadcasts by category, session category, daily categories, channels and streams.

Every expected figure below is worked out by hand from the frames in the test.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tests.factories import (
    day,
    engagement_frame,
    make_engagement_event,
    make_stream_event,
    sessions_frame,
    stream_frame,
    ts,
)
from transforms.content import (
    SEGMENT_SCHEMA,
    build_broadcasts,
    daily_categories,
    daily_channels,
    daily_content_totals,
    daily_streams,
    session_category,
    streams_without_start,
)
from transforms.sessions import session_watch_by_day

UTC_DT = pl.Datetime("us", "UTC")


def segments_frame(*rows: tuple[str, str, str, str, str]) -> pl.DataFrame:
    """Expected segments: ``(stream_id, channel_id, category, seg_start, seg_end)``."""
    return pl.DataFrame([(s, c, cat, ts(a), ts(b)) for s, c, cat, a, b in rows], schema=SEGMENT_SCHEMA, orient="row")


# The shared scenario, all times UTC (tz = "UTC" unless a test says otherwise):
#
#   st1 (c1)  start 05-01 22:00 gaming --- change 23:30 music --- end 05-02 01:00
#             (changes at 05-01 21:00, before the start, and 05-02 02:00, after the end, are ignored)
#   st2 (c2)  start 05-02 20:00 music  --- no stream_end: live until the watermark 05-02 23:00
#
#   sessions  stream  [started_at, ended_at)     category at start   watch 05-01   watch 05-02
#   v1        st1     05-01 22:30 - 23:00        gaming              0.5 h
#   v2        st1     05-01 23:00 - 05-02 00:30  gaming (!)          1.0 h         0.5 h
#   v3        st1     05-01 23:45 - 05-02 00:15  music               0.25 h        0.25 h
#   v4        st2     05-02 21:00 - 22:00        music                             1.0 h
#   v5        st9     05-02 10:00 - 10:30        unknown (no such stream)          0.5 h
WATERMARK = ts("2026-05-02 23:00")


def scenario_stream() -> pl.LazyFrame:
    return stream_frame(
        make_stream_event(stream_id="st1", channel_id="c1", event_time="2026-05-01 22:00", category="gaming"),
        make_stream_event(
            event_type="category_change", stream_id="st1", event_time="2026-05-01 21:00", category="outdoor"
        ),
        make_stream_event(
            event_type="category_change", stream_id="st1", event_time="2026-05-01 23:30", category="music"
        ),
        make_stream_event(event_type="stream_end", stream_id="st1", event_time="2026-05-02 01:00"),
        make_stream_event(
            event_type="category_change", stream_id="st1", event_time="2026-05-02 02:00", category="education"
        ),
        make_stream_event(stream_id="st2", channel_id="c2", event_time="2026-05-02 20:00", category="music"),
    )


def scenario_sessions() -> pl.LazyFrame:
    return sessions_frame(
        ("v1", "u1", "st1", "c1", "2026-05-01 22:30", "2026-05-01 23:00"),
        ("v2", "u2", "st1", "c1", "2026-05-01 23:00", "2026-05-02 00:30"),
        ("v3", "u3", "st1", "c1", "2026-05-01 23:45", "2026-05-02 00:15"),
        ("v4", "u4", "st2", "c2", "2026-05-02 21:00", "2026-05-02 22:00"),
        ("v5", "u5", "st9", "c9", "2026-05-02 10:00", "2026-05-02 10:30"),
    )


def test_build_broadcasts_splits_by_category_and_runs_to_the_watermark() -> None:
    got = build_broadcasts(scenario_stream(), WATERMARK).collect()
    expected = segments_frame(
        ("st1", "c1", "gaming", "2026-05-01 22:00", "2026-05-01 23:30"),
        ("st1", "c1", "music", "2026-05-01 23:30", "2026-05-02 01:00"),
        ("st2", "c2", "music", "2026-05-02 20:00", "2026-05-02 23:00"),
    )
    assert_frame_equal(got, expected)


def test_build_broadcasts_edge_cases() -> None:
    stream = stream_frame(
        # st1: a change at the start instant replaces the start's category at once; two changes at 11:00,
        # the greater event_id ("x2") wins.
        make_stream_event(event_id="a0", stream_id="st1", event_time="2026-05-01 10:00", category="gaming"),
        make_stream_event(
            event_id="a1",
            event_type="category_change",
            stream_id="st1",
            event_time="2026-05-01 10:00",
            category="music",
        ),
        make_stream_event(
            event_id="x2",
            event_type="category_change",
            stream_id="st1",
            event_time="2026-05-01 11:00",
            category="outdoor",
        ),
        make_stream_event(
            event_id="x1",
            event_type="category_change",
            stream_id="st1",
            event_time="2026-05-01 11:00",
            category="shopping",
        ),
        make_stream_event(event_id="a3", event_type="stream_end", stream_id="st1", event_time="2026-05-01 12:00"),
        # st2: stream_end before stream_start (clock skew): one segment of length 0.
        make_stream_event(event_id="b0", stream_id="st2", channel_id="c2", event_time="2026-05-01 10:00"),
        make_stream_event(event_id="b1", event_type="stream_end", stream_id="st2", event_time="2026-05-01 09:00"),
        # st3: no stream_start: skipped, listed by streams_without_start.
        make_stream_event(
            event_id="c0", event_type="category_change", stream_id="st3", channel_id="c3", event_time="2026-05-01 08:00"
        ),
        make_stream_event(event_id="c1", event_type="stream_end", stream_id="st3", event_time="2026-05-01 09:00"),
    )
    got = build_broadcasts(stream, ts("2026-05-01 13:00")).collect()
    expected = segments_frame(
        ("st1", "c1", "music", "2026-05-01 10:00", "2026-05-01 11:00"),
        ("st1", "c1", "outdoor", "2026-05-01 11:00", "2026-05-01 12:00"),
        ("st2", "c2", "gaming", "2026-05-01 10:00", "2026-05-01 10:00"),
    )
    assert_frame_equal(got, expected)

    orphans = streams_without_start(stream).collect()
    assert_frame_equal(
        orphans,
        pl.DataFrame(
            {"stream_id": ["st3"], "channel_id": ["c3"], "first_event_time": [ts("2026-05-01 08:00")], "events": [2]},
            schema={"stream_id": pl.String, "channel_id": pl.String, "first_event_time": UTC_DT, "events": pl.Int64},
        ),
    )
    # The length-0 broadcast is live at no instant.
    assert daily_content_totals(pl.LazyFrame(got), "UTC").collect()["streams_live"].to_list() == [1]


def test_build_broadcasts_rejects_a_naive_watermark() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_broadcasts(scenario_stream(), datetime(2026, 5, 2, 23, 0))  # noqa: DTZ001 - the point of the test


def test_session_category_is_the_category_at_the_session_start() -> None:
    segments = build_broadcasts(scenario_stream(), WATERMARK)
    got = session_category(scenario_sessions(), segments).select("session_id", "category").collect()
    expected = pl.DataFrame(
        # Sorted by started_at: v1 22:30, v2 23:00, v3 23:45 (05-01), v5 10:00, v4 21:00 (05-02).
        {"session_id": ["v1", "v2", "v3", "v5", "v4"], "category": ["gaming", "gaming", "music", "unknown", "music"]}
    )
    assert_frame_equal(got, expected)


def test_session_category_outside_the_broadcast_is_unknown() -> None:
    segments = build_broadcasts(scenario_stream(), WATERMARK)
    sessions = sessions_frame(
        ("before", "u1", "st1", "c1", "2026-05-01 21:59:59", "2026-05-01 22:30"),
        ("at_start", "u1", "st1", "c1", "2026-05-01 22:00", "2026-05-01 22:30"),
        ("at_end", "u1", "st1", "c1", "2026-05-02 01:00", "2026-05-02 01:30"),  # [start, end) excludes the end
    )
    got = session_category(sessions, segments).select("session_id", "category").collect()
    expected = pl.DataFrame(
        {"session_id": ["before", "at_start", "at_end"], "category": ["unknown", "gaming", "unknown"]}
    )
    assert_frame_equal(got, expected)


def category_frame(rows: list[tuple[date, str, float, float, int, float | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "day": pl.Date,
            "category": pl.String,
            "hours_broadcast": pl.Float64,
            "hours_watched": pl.Float64,
            "streams_live": pl.Int64,
            "viewer_ratio": pl.Float64,
        },
        orient="row",
    )


def test_daily_categories_split_hours_by_category_across_midnight() -> None:
    segments = build_broadcasts(scenario_stream(), WATERMARK)
    sessions = scenario_sessions()
    got = daily_categories(
        segments, session_watch_by_day(sessions, "UTC"), session_category(sessions, segments), "UTC"
    ).collect()
    # day    category  broadcast                          watched                       streams  ratio
    # 05-01  gaming    22:00-23:30          = 1.5 h        v1 0.5 + v2 1.0     = 1.5 h    1        1.0
    # 05-01  music     23:30-24:00          = 0.5 h        v3 0.25             = 0.25 h   1        0.5
    # 05-02  gaming    -                    = 0            v2 0.5 (category at start)     0        null
    # 05-02  music     st1 00:00-01:00 + st2 20:00-23:00   v3 0.25 + v4 1.0    = 1.25 h   2        0.3125
    #                                       = 4 h
    # 05-02  unknown   -                    = 0            v5 0.5 h                       0        null
    expected = category_frame(
        [
            (day("2026-05-01"), "gaming", 1.5, 1.5, 1, 1.0),
            (day("2026-05-01"), "music", 0.5, 0.25, 1, 0.5),
            (day("2026-05-02"), "gaming", 0.0, 0.5, 0, None),
            (day("2026-05-02"), "music", 4.0, 1.25, 2, 0.3125),
            (day("2026-05-02"), "unknown", 0.0, 0.5, 0, None),
        ]
    )
    assert_frame_equal(got, expected)


def test_daily_content_totals() -> None:
    segments = build_broadcasts(scenario_stream(), WATERMARK)
    got = daily_content_totals(segments, "UTC").collect()
    # 05-01: st1 22:00-24:00 = 2 h.  05-02: st1 00:00-01:00 + st2 20:00-23:00 = 4 h, on channels c1 and c2.
    expected = pl.DataFrame(
        {
            "day": [day("2026-05-01"), day("2026-05-02")],
            "hours_broadcast": [2.0, 4.0],
            "streams_live": [1, 2],
            "active_channels": [1, 2],
        }
    )
    assert_frame_equal(got, expected)


def test_hours_broadcast_on_dst_days_in_new_york() -> None:
    # 2026-03-08 springs forward (23 h day: 05:00 UTC to 04:00 UTC next day); 2026-11-01 falls back (25 h).
    #   st1: 03-07 23:00 EST (03-08 04:00Z) to 03-09 01:00 EDT (03-09 05:00Z): 1 h + 23 h + 1 h = 25 h
    #   st2: 10-31 22:00 EDT (11-01 02:00Z) to 11-02 02:00 EST (11-02 07:00Z): 2 h + 25 h + 2 h = 29 h
    stream = stream_frame(
        make_stream_event(stream_id="st1", event_time="2026-03-08 04:00"),
        make_stream_event(event_type="stream_end", stream_id="st1", event_time="2026-03-09 05:00"),
        make_stream_event(stream_id="st2", event_time="2026-11-01 02:00", category="music"),
        make_stream_event(event_type="stream_end", stream_id="st2", event_time="2026-11-02 07:00"),
    )
    segments = build_broadcasts(stream, ts("2026-12-01 00:00"))
    no_sessions = sessions_frame()
    got = daily_categories(
        segments, session_watch_by_day(no_sessions, "America/New_York"), session_category(no_sessions, segments),
        "America/New_York",
    ).collect()  # fmt: skip
    expected = category_frame(
        [
            (day("2026-03-07"), "gaming", 1.0, 0.0, 1, 0.0),
            (day("2026-03-08"), "gaming", 23.0, 0.0, 1, 0.0),
            (day("2026-03-09"), "gaming", 1.0, 0.0, 1, 0.0),
            (day("2026-10-31"), "music", 2.0, 0.0, 1, 0.0),
            (day("2026-11-01"), "music", 25.0, 0.0, 1, 0.0),
            (day("2026-11-02"), "music", 2.0, 0.0, 1, 0.0),
        ]
    )
    assert_frame_equal(got, expected)


def scenario_engagement() -> pl.LazyFrame:
    return engagement_frame(
        make_engagement_event(event_type="follow", channel_id="c1", event_time="2026-05-01 12:00"),
        make_engagement_event(event_type="follow", channel_id="c1", event_time="2026-05-01 13:00", user_id="u2"),
        make_engagement_event(event_type="unfollow", channel_id="c1", event_time="2026-05-01 14:00", user_id="u3"),
        make_engagement_event(event_type="follow", channel_id="c3", event_time="2026-05-02 09:00"),
    )


def test_daily_channels() -> None:
    segments = build_broadcasts(scenario_stream(), WATERMARK)
    sessions = scenario_sessions()
    got = daily_channels(
        segments, session_watch_by_day(sessions, "UTC"), sessions, scenario_engagement(), "UTC"
    ).collect()
    # day    channel  watched                  broadcast   avg = watch s / broadcast s   peak (minute marks)     net
    # 05-01  c1       0.5+1+0.25 = 1.75 h      7200 s      6300 / 7200 = 0.875           2 (v2+v3 at 23:45)      2-1
    # 05-02  c1       0.5+0.25   = 0.75 h      3600 s      2700 / 3600 = 0.75            2 (v2+v3 at 00:00)      0
    # 05-02  c2       1 h                      10800 s     3600 / 10800                  1                       0
    # 05-02  c3       -                        0           null                          0                       1
    # 05-02  c9       0.5 h (stream unknown)   0           null                          1                       0
    expected = pl.DataFrame(
        [
            (day("2026-05-01"), "c1", 1.75, 7200.0, 0.875, 2, 1),
            (day("2026-05-02"), "c1", 0.75, 3600.0, 0.75, 2, 0),
            (day("2026-05-02"), "c2", 1.0, 10800.0, 1 / 3, 1, 0),
            (day("2026-05-02"), "c3", 0.0, 0.0, None, 0, 1),
            (day("2026-05-02"), "c9", 0.5, 0.0, None, 1, 0),
        ],
        schema={
            "day": pl.Date,
            "channel_id": pl.String,
            "hours_watched": pl.Float64,
            "broadcast_seconds": pl.Float64,
            "avg_viewers": pl.Float64,
            "peak_viewers": pl.Int64,
            "net_follows": pl.Int64,
        },
        orient="row",
    )
    assert_frame_equal(got, expected)


def test_daily_streams() -> None:
    segments = build_broadcasts(scenario_stream(), WATERMARK)
    sessions = scenario_sessions()
    got = daily_streams(segments, session_watch_by_day(sessions, "UTC"), sessions, "UTC").collect()
    expected = pl.DataFrame(
        [
            (day("2026-05-01"), "st1", "c1", 1.75, 7200.0, 0.875, 2),
            (day("2026-05-02"), "st1", "c1", 0.75, 3600.0, 0.75, 2),
            (day("2026-05-02"), "st2", "c2", 1.0, 10800.0, 1 / 3, 1),
            (day("2026-05-02"), "st9", "c9", 0.5, 0.0, None, 1),  # channel from its sessions
        ],
        schema={
            "day": pl.Date,
            "stream_id": pl.String,
            "channel_id": pl.String,
            "hours_watched": pl.Float64,
            "broadcast_seconds": pl.Float64,
            "avg_viewers": pl.Float64,
            "peak_viewers": pl.Int64,
        },
        orient="row",
    )
    assert_frame_equal(got, expected)


# --- properties -------------------------------------------------------------------------------------------

ORIGIN = ts("2026-03-07 00:00")  # the New York DST day 03-08 lies inside the generated range

minutes = st.integers(min_value=0, max_value=3 * 24 * 60)
streams_strategy = st.lists(
    st.tuples(
        minutes,  # start
        st.one_of(st.none(), st.integers(min_value=-30, max_value=2 * 24 * 60)),  # length (None: no end)
        st.lists(st.tuples(st.integers(min_value=-60, max_value=3000), st.sampled_from(["a", "b", "c"])), max_size=3),
    ),
    max_size=4,
)
sessions_strategy = st.lists(
    st.tuples(st.integers(min_value=0, max_value=4), minutes, st.integers(min_value=0, max_value=600)), max_size=6
)


@settings(max_examples=40, deadline=None)
@given(streams=streams_strategy, session_specs=sessions_strategy, tz=st.sampled_from(["UTC", "America/New_York"]))
def test_category_totals_add_up(
    streams: list[tuple[int, int | None, list[tuple[int, str]]]], session_specs: list[tuple[int, int, int]], tz: str
) -> None:
    rows = []
    for i, (start, length, changes) in enumerate(streams):
        sid = f"st{i}"
        rows.append(
            make_stream_event(stream_id=sid, channel_id=f"c{i % 2}", event_time=ORIGIN + timedelta(minutes=start))
        )
        if length is not None:
            rows.append(
                make_stream_event(
                    event_type="stream_end", stream_id=sid, event_time=ORIGIN + timedelta(minutes=start + length)
                )
            )
        rows += [
            make_stream_event(
                event_type="category_change",
                stream_id=sid,
                category=cat,
                event_time=ORIGIN + timedelta(minutes=start + at),
            )
            for at, cat in changes
        ]
    watermark = ORIGIN + timedelta(days=4)
    segments = build_broadcasts(stream_frame(*rows), watermark)
    # Stream index 4 never exists: those sessions are "unknown".
    sessions = sessions_frame(
        *[
            (f"v{k}", f"u{k}", f"st{s}", f"c{s % 2}", ORIGIN + timedelta(minutes=m), ORIGIN + timedelta(minutes=m + d))
            for k, (s, m, d) in enumerate(session_specs)
        ]
    )
    watch = session_watch_by_day(sessions, tz)
    categories = daily_categories(segments, watch, session_category(sessions, segments), tz).collect()
    totals = daily_content_totals(segments, tz).collect()
    seg = segments.collect()

    # Every session maps to a category or "unknown": hours watched add up to all watch time.
    total_watch = float(watch.collect()["watch_seconds"].sum())
    assert categories["hours_watched"].sum() == pytest.approx(total_watch / 3600)
    # Hours broadcast per day, over categories, equal the day's total; over days, the segments' lengths.
    per_day = categories.group_by("day").agg(pl.col("hours_broadcast").sum()).filter(pl.col("hours_broadcast") > 0)
    joined = totals.join(per_day, on="day", how="full", coalesce=True, suffix="_cat")
    assert joined["hours_broadcast"].to_list() == pytest.approx(joined["hours_broadcast_cat"].to_list())
    seg_hours = float((seg["seg_end"] - seg["seg_start"]).dt.total_microseconds().sum()) / 3.6e9
    assert totals["hours_broadcast"].sum() == pytest.approx(seg_hours)
    # Segments of a stream tile its broadcast interval: no overlap, no gap.
    for _, group in seg.group_by("stream_id"):
        starts, ends = group["seg_start"].to_list(), group["seg_end"].to_list()
        assert starts[1:] == ends[:-1]
        assert all(a <= b for a, b in zip(starts, ends, strict=True))
