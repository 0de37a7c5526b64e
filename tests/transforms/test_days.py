"""Local days: bounds, lengths (DST), minute marks and splitting intervals at local midnights."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.factories import day, ts
from transforms.days import (
    day_length_seconds,
    day_span,
    days_frame,
    local_day,
    minute_marks,
    split_by_day,
)

NY = "America/New_York"
UTC_TS = pl.Datetime("us", "UTC")
ONE_MINUTE = timedelta(minutes=1)


def test_local_day_in_new_york() -> None:
    # 04:59Z on 2026-03-08 is 23:59 EST on the 7th; 05:00Z is 00:00 EST on the 8th.
    frame = pl.LazyFrame({"t": [ts("2026-03-08 04:59"), ts("2026-03-08 05:00")]}, schema={"t": UTC_TS})
    got = frame.select(local_day("t", NY).alias("day")).collect()
    assert got["day"].to_list() == [day("2026-03-07"), day("2026-03-08")]


def test_day_bounds_and_lengths_on_dst_days() -> None:
    # day        | starts (local)   | starts (UTC) | ends (UTC)         | length
    # 2026-03-08 | 00:00 EST (-5)   | 05:00Z       | 03-09 04:00Z (EDT) | 23 h = 82,800 s
    # 2026-11-01 | 00:00 EDT (-4)   | 04:00Z       | 11-02 05:00Z (EST) | 25 h = 90,000 s
    # 2026-06-15 | 00:00 EDT (-4)   | 04:00Z       | 06-16 04:00Z       | 24 h = 86,400 s
    got = days_frame([day("2026-11-01"), day("2026-03-08"), day("2026-06-15")], NY).collect()
    expected = pl.DataFrame(
        {
            "day": [day("2026-03-08"), day("2026-06-15"), day("2026-11-01")],
            "day_start": [ts("2026-03-08 05:00"), ts("2026-06-15 04:00"), ts("2026-11-01 04:00")],
            "day_end": [ts("2026-03-09 04:00"), ts("2026-06-16 04:00"), ts("2026-11-02 05:00")],
            "day_seconds": [82_800.0, 86_400.0, 90_000.0],
        },
        schema={"day": pl.Date, "day_start": UTC_TS, "day_end": UTC_TS, "day_seconds": pl.Float64},
    )
    assert_frame_equal(got, expected)


def test_day_length_in_utc_is_always_86400() -> None:
    frame = pl.LazyFrame({"day": [day("2026-03-08"), day("2026-11-01")]})
    got = frame.select(day_length_seconds("day", "UTC").alias("s")).collect()
    assert got["s"].to_list() == [86_400.0, 86_400.0]


def test_midnight_in_a_dst_gap_starts_the_day_at_the_end_of_the_gap() -> None:
    # Chile springs forward at 00:00 -04 on 2026-09-06 straight to 01:00 -03 (= 04:00Z); the next midnight
    # is 00:00 -03 = 2026-09-07 03:00Z: a 23 h day.
    got = days_frame([day("2026-09-06")], "America/Santiago").collect()
    assert got.row(0) == (day("2026-09-06"), ts("2026-09-06 04:00"), ts("2026-09-07 03:00"), 82_800.0)


@pytest.mark.parametrize(
    ("local_date", "tz", "marks"),
    [("2026-03-08", NY, 1380), ("2026-11-01", NY, 1500), ("2026-11-02", NY, 1440), ("2026-03-08", "UTC", 1440)],
)
def test_minute_mark_counts(local_date: str, tz: str, marks: int) -> None:
    got = minute_marks(days_frame([day(local_date)], tz), tz).collect()
    assert got.height == marks
    # Marks are whole minutes one minute apart, from the day's start up to (excluding) its end.
    bounds = days_frame([day(local_date)], tz).collect()
    assert got["minute"].min() == bounds["day_start"][0]
    assert got["minute"].max() == bounds["day_end"][0] - ONE_MINUTE
    assert got["minute"].diff().drop_nulls().unique().to_list() == [ONE_MINUTE]


def _intervals(*rows: tuple[str, str | None, str | None]) -> pl.LazyFrame:
    return pl.LazyFrame(
        [(k, None if s is None else ts(s), None if e is None else ts(e)) for k, s, e in rows],
        schema={"k": pl.String, "s": UTC_TS, "e": UTC_TS},
        orient="row",
    )


def test_split_by_day_at_local_midnights() -> None:
    # In New York, 2026-11-01 is 25 h long: [04:00Z, 11-02 05:00Z).
    #
    # k | interval (UTC)                 | pieces
    # a | 10-31 23:00Z .. 11-01 06:00Z   | 10-31: 23:00..04:00Z = 5 h; 11-01: 04:00..06:00Z = 2 h
    # b | 11-01 04:00Z .. 11-03 05:00Z   | 11-01: 25 h; 11-02: 24 h (a whole day; none on 11-03)
    # c | 11-01 10:00Z .. 11-01 10:00Z   | 11-01: 0 s (empty interval, kept on its start day)
    # d | 11-01 12:00Z .. 11-01 11:00Z   | 11-01: 0 s (end < start read as empty)
    # e | null start                     | dropped
    got = (
        split_by_day(
            _intervals(
                ("a", "2026-10-31 23:00", "2026-11-01 06:00"),
                ("b", "2026-11-01 04:00", "2026-11-03 05:00"),
                ("c", "2026-11-01 10:00", "2026-11-01 10:00"),
                ("d", "2026-11-01 12:00", "2026-11-01 11:00"),
                ("e", None, "2026-11-01 11:00"),
            ),
            "s",
            "e",
            NY,
        )
        .select("k", "day", "piece_start", "piece_end", "seconds")
        .collect()
    )
    expected = pl.DataFrame(
        [
            ("a", day("2026-10-31"), ts("2026-10-31 23:00"), ts("2026-11-01 04:00"), 5 * 3600.0),
            ("a", day("2026-11-01"), ts("2026-11-01 04:00"), ts("2026-11-01 06:00"), 2 * 3600.0),
            ("b", day("2026-11-01"), ts("2026-11-01 04:00"), ts("2026-11-02 05:00"), 25 * 3600.0),
            ("b", day("2026-11-02"), ts("2026-11-02 05:00"), ts("2026-11-03 05:00"), 24 * 3600.0),
            ("c", day("2026-11-01"), ts("2026-11-01 10:00"), ts("2026-11-01 10:00"), 0.0),
            ("d", day("2026-11-01"), ts("2026-11-01 12:00"), ts("2026-11-01 12:00"), 0.0),
        ],
        schema={"k": pl.String, "day": pl.Date, "piece_start": UTC_TS, "piece_end": UTC_TS, "seconds": pl.Float64},
        orient="row",
    )
    assert_frame_equal(got, expected, check_row_order=False)


def test_split_by_day_keeps_the_input_columns() -> None:
    got = split_by_day(_intervals(("a", "2026-01-01 23:30", "2026-01-02 00:15")), "s", "e").collect()
    assert got.columns == ["k", "s", "e", "day", "piece_start", "piece_end", "seconds"]
    assert got["seconds"].to_list() == [1800.0, 900.0]


def test_day_span_fills_gaps_and_handles_empty_input() -> None:
    a = pl.LazyFrame({"day": [date(2026, 1, 3), date(2026, 1, 1)]})
    b = pl.LazyFrame({"day": [date(2026, 1, 5), None]}, schema={"day": pl.Date})
    assert day_span(a, b).collect()["day"].to_list() == [date(2026, 1, d) for d in range(1, 6)]
    empty = pl.LazyFrame({"day": []}, schema={"day": pl.Date})
    assert day_span(empty).collect().height == 0
