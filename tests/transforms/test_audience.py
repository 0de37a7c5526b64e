"""Active users, DAU/WAU/MAU windows, new users and retention cohorts (by hand, plus properties)."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tests.factories import (
    day,
    engagement_frame,
    make_engagement_event,
    make_viewer_event,
    viewer_frame,
)
from transforms.audience import daily_audience, retention_cohorts, retention_for_day, user_activity

ACTIVITY_SCHEMA = {"user_id": pl.String, "day": pl.Date}


def _activity(**days_by_user: list[str]) -> pl.LazyFrame:
    rows = [(user, day(d)) for user, days in days_by_user.items() for d in days]
    return pl.LazyFrame(rows, schema=ACTIVITY_SCHEMA, orient="row")


def test_user_activity_merges_viewer_and_engagement_per_local_day() -> None:
    # u1: viewer event 05-02 03:00Z (= 05-01 23:00 in New York) and a like 05-01 12:00Z (05-01 either way);
    # u2: a like 05-02 05:00Z (05-02 01:00 in New York).
    viewer = viewer_frame(make_viewer_event(user_id="u1", event_time="2026-05-02 03:00"))
    engagement = engagement_frame(
        make_engagement_event(user_id="u1", event_time="2026-05-01 12:00"),
        make_engagement_event(user_id="u2", event_time="2026-05-02 05:00"),
        make_engagement_event(user_id="u2", event_time="2026-05-02 06:00"),
    )
    ny = user_activity(viewer, engagement, "America/New_York").collect()
    assert ny.rows() == [("u1", day("2026-05-01")), ("u2", day("2026-05-02"))]
    utc = user_activity(viewer, engagement, "UTC").collect()
    assert utc.rows() == [("u1", day("2026-05-01")), ("u1", day("2026-05-02")), ("u2", day("2026-05-02"))]


AUDIENCE_SCHEMA = {
    "day": pl.Date,
    "dau": pl.Int64,
    "wau": pl.Int64,
    "mau": pl.Int64,
    "new_users": pl.Int64,
    "stickiness": pl.Float64,
}


def test_daily_audience_windows_and_new_users() -> None:
    # user | active days        | first day
    # a    | 01-01, 01-10       | 01-01
    # b    | 01-04              | 01-04
    # c    | 01-10              | 01-10
    # d    | 01-31              | 01-31
    #
    # D     | DAU | WAU [D-6, D]                 | MAU [D-29, D]                      | new | DAU/MAU
    # 01-10 | a c | a b c (b on 01-04 = D-6)     | a b c                              | c   | 2/3
    # 01-11 | -   | a c   (b on 01-04 = D-7: out) | a b c                             | -   | 0
    # 01-30 | -   | -                            | a b c (a on 01-01 = D-29)          | -   | 0
    # 01-31 | d   | d                            | a b c d                            | d   | 1/4
    # 02-02 | -   | d                            | a b c d (b on 01-04 = D-29)        | -   | 0
    # 02-03 | -   | d                            | a c d (b on 01-04 = D-30: out)     | -   | 0
    # 03-15 | -   | -                            | -                                  | -   | null (MAU 0)
    activity = _activity(a=["2026-01-01", "2026-01-10"], b=["2026-01-04"], c=["2026-01-10"], d=["2026-01-31"])
    days = ["2026-01-10", "2026-01-11", "2026-01-30", "2026-01-31", "2026-02-02", "2026-02-03", "2026-03-15"]
    got = daily_audience(activity, [day(d) for d in days]).collect()
    expected = pl.DataFrame(
        [
            (day("2026-01-10"), 2, 3, 3, 1, 2 / 3),
            (day("2026-01-11"), 0, 2, 3, 0, 0.0),
            (day("2026-01-30"), 0, 0, 3, 0, 0.0),
            (day("2026-01-31"), 1, 1, 4, 1, 0.25),
            (day("2026-02-02"), 0, 1, 4, 0, 0.0),
            (day("2026-02-03"), 0, 1, 3, 0, 0.0),
            (day("2026-03-15"), 0, 0, 0, 0, None),
        ],
        schema=AUDIENCE_SCHEMA,
        orient="row",
    )
    assert_frame_equal(got, expected)


def test_daily_audience_without_days_covers_the_whole_activity_range() -> None:
    activity = _activity(a=["2026-01-01", "2026-01-10"], b=["2026-01-04"], c=["2026-01-10"], d=["2026-01-31"])
    got = daily_audience(activity).collect()
    assert got["day"].to_list() == [date(2026, 1, 1) + timedelta(days=i) for i in range(31)]
    assert got["new_users"].sum() == 4
    assert got.filter(pl.col("day") == day("2026-01-01")).row(0) == (day("2026-01-01"), 1, 1, 1, 1, 1.0)


def test_new_users_need_the_whole_history() -> None:
    # e was first active long before the reported day: not new on 01-10, even though 01-10 is its only
    # activity in the last 30 days.
    activity = _activity(e=["2025-06-01", "2026-01-10"])
    got = daily_audience(activity, [day("2026-01-10")]).collect()
    assert got.select("dau", "mau", "new_users").row(0) == (1, 1, 0)


RETENTION_SCHEMA = {"cohort_date": pl.Date, "size": pl.Int64, "d1": pl.Float64, "d7": pl.Float64, "d30": pl.Float64}

# user | active days                  | cohort (first day)
# a    | 01-01, 01-02, 01-31          | 01-01
# b    | 01-01, 01-08                 | 01-01
# c    | 01-02, 01-03                 | 01-02
# e    | 2025-12-20, 01-02            | 2025-12-20 (not a new user of 01-02)
# f    | 01-08, 01-09                 | 01-08
RETENTION_ACTIVITY = _activity(
    a=["2026-01-01", "2026-01-02", "2026-01-31"],
    b=["2026-01-01", "2026-01-08"],
    c=["2026-01-02", "2026-01-03"],
    e=["2025-12-20", "2026-01-02"],
    f=["2026-01-08", "2026-01-09"],
)


def test_retention_cohorts_with_not_yet_due_and_empty_cohorts() -> None:
    # As of 01-08, 8 cohorts (01-01 .. 01-08):
    # cohort | size | d1 (C+1)        | d7 (C+7)              | d30
    # 01-01  | 2    | a on 01-02: 1/2 | b on 01-08: 1/2       | 01-31 > as_of: null
    # 01-02  | 1    | c on 01-03: 1   | 01-09 > as_of: null   | null
    # 01-03 .. 01-07: empty -> null
    # 01-08  | 1    | 01-09 > as_of: null (f's 01-09 activity is after as_of and ignored)
    got = retention_cohorts(RETENTION_ACTIVITY, as_of=day("2026-01-08"), cohorts=8).collect()
    empty = [(day(f"2026-01-0{i}"), 0, None, None, None) for i in range(3, 8)]
    expected = pl.DataFrame(
        [
            (day("2026-01-01"), 2, 0.5, 0.5, None),
            (day("2026-01-02"), 1, 1.0, None, None),
            *empty,
            (day("2026-01-08"), 1, None, None, None),
        ],
        schema=RETENTION_SCHEMA,
        orient="row",
    )
    assert_frame_equal(got, expected)


def test_retention_d30_and_default_cohort_count() -> None:
    got = retention_cohorts(RETENTION_ACTIVITY, as_of=day("2026-01-31")).collect()
    assert got.height == 30
    assert got["cohort_date"].to_list() == [date(2026, 1, 2) + timedelta(days=i) for i in range(30)]
    # Cohort 01-01 is the 31st-last: one more cohort brings it in, with d30 = a on 01-31 = 1/2.
    first = retention_cohorts(RETENTION_ACTIVITY, as_of=day("2026-01-31"), cohorts=31).collect().row(0)
    assert first == (day("2026-01-01"), 2, 0.5, 0.5, 0.5)


def test_retention_for_report_day() -> None:
    # R = 01-09: D1 of cohort 01-08 (f back on 01-09: 1), D7 of cohort 01-02 (c not active 01-09: 0),
    # D30 of cohort 2025-12-10 (empty: null).
    got = retention_for_day(RETENTION_ACTIVITY, day("2026-01-09")).collect()
    expected = pl.DataFrame(
        [(day("2026-01-09"), 1.0, 0.0, None)],
        schema={"day": pl.Date, "d1": pl.Float64, "d7": pl.Float64, "d30": pl.Float64},
        orient="row",
    )
    assert_frame_equal(got, expected)
    # R = 01-31: D30 of cohort 01-01 = 1/2; cohorts 01-30 and 01-24 are empty.
    assert retention_for_day(RETENTION_ACTIVITY, day("2026-01-31")).collect().row(0) == (
        day("2026-01-31"),
        None,
        None,
        0.5,
    )


# ---------------------------------------------------------------------------------------------------------
# properties on small random activity
# ---------------------------------------------------------------------------------------------------------

ORIGIN = date(2026, 1, 1)
random_activity = st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d", "e"]), st.integers(0, 70)), max_size=40)
# database=None: the example database would otherwise be written into the working directory.
PROPERTY_SETTINGS = settings(max_examples=30, deadline=None, database=None)


def _frame(raw: list[tuple[str, int]]) -> pl.LazyFrame:
    rows = sorted({(u, ORIGIN + timedelta(days=n)) for u, n in raw})
    return pl.LazyFrame(rows, schema=ACTIVITY_SCHEMA, orient="row")


@PROPERTY_SETTINGS
@given(random_activity, st.integers(0, 80))
def test_retention_is_a_share(raw: list[tuple[str, int]], as_of_offset: int) -> None:
    as_of = ORIGIN + timedelta(days=as_of_offset)
    got = retention_cohorts(_frame(raw), as_of, cohorts=40).collect()
    for column in ("d1", "d7", "d30"):
        values = got[column].drop_nulls()
        assert ((values >= 0) & (values <= 1)).all()
    # Not yet due, or an empty cohort, is null.
    for cohort, size, *shares in got.rows():
        for n, share in zip((1, 7, 30), shares, strict=True):
            if size == 0 or cohort + timedelta(days=n) > as_of:
                assert share is None
            else:
                assert share is not None


@PROPERTY_SETTINGS
@given(random_activity)
def test_audience_windows_match_the_definition(raw: list[tuple[str, int]]) -> None:
    days = [ORIGIN + timedelta(days=n) for n in range(0, 100, 3)]
    got = daily_audience(_frame(raw), days).collect()
    active = {(u, ORIGIN + timedelta(days=n)) for u, n in raw}
    first: dict[str, date] = {}
    for u, d in sorted(active, key=lambda x: x[1]):
        first.setdefault(u, d)

    def distinct(d: date, window: int) -> int:
        return len({u for u, a in active if d - timedelta(days=window - 1) <= a <= d})

    expected = [
        (d, distinct(d, 1), distinct(d, 7), distinct(d, 30), sum(1 for f in first.values() if f == d)) for d in days
    ]
    assert got.select("day", "dau", "wau", "mau", "new_users").rows() == expected
