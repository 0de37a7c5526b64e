"""Local calendar days in a report time zone, as Polars expressions.

A day is a calendar date in an IANA time zone: day D = [D 00:00, D+1 00:00) local time, so a DST day is
23 h or 25 h long (``docs/metrics.md``, "Days, time zone"). Timestamps stay UTC-aware everywhere;
the time zone is used only to find where days begin and end.

Where a local midnight does not exist (a zone that springs forward at 00:00, e.g. ``America/Santiago``),
the day starts at the first local instant that exists (the end of the gap). Where a local midnight occurs
twice (a zone that falls back to 00:00), the day starts at the earlier one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import polars as pl

UTC = "UTC"
TIMESTAMP = pl.Datetime("us", UTC)
SECONDS_PER_MINUTE = 60
MICROS_PER_SECOND = 1_000_000

# Offsets tried when a local midnight falls in a DST gap. Every real transition is a multiple of 15 min
# and no gap is longer than 2 h, so the first instant that exists is among these.
_GAP_PROBES_MIN = tuple(range(0, 121, 15))


def _col(column: str | pl.Expr) -> pl.Expr:
    return pl.col(column) if isinstance(column, str) else column


def local_day(column: str | pl.Expr, tz: str = UTC) -> pl.Expr:
    """The local calendar date (in ``tz``) of a UTC timestamp.

    Args:
        column: name of, or expression for, a ``Datetime("us", "UTC")`` column.
        tz: IANA time zone of the report.

    Returns:
        A ``pl.Date`` expression (null where the timestamp is null).
    """
    return _col(column).dt.convert_time_zone(tz).dt.date()


def day_start(day: str | pl.Expr, tz: str = UTC) -> pl.Expr:
    """The UTC instant at which local date ``day`` begins in ``tz`` (its local midnight).

    Args:
        day: name of, or expression for, a ``pl.Date`` column.
        tz: IANA time zone of the report.

    Returns:
        A ``Datetime("us", "UTC")`` expression.
    """
    naive_midnight = _col(day).cast(pl.Datetime("us"))
    # A midnight in a DST gap gives null with non_existent="null": try later instants until one exists.
    candidates = [
        (naive_midnight + pl.duration(minutes=minutes)).dt.replace_time_zone(
            tz, ambiguous="earliest", non_existent="null"
        )
        for minutes in _GAP_PROBES_MIN
    ]
    return pl.coalesce(candidates).dt.convert_time_zone(UTC)


def day_end(day: str | pl.Expr, tz: str = UTC) -> pl.Expr:
    """The UTC instant at which local date ``day`` ends in ``tz`` (exclusive): the start of the next day.

    Args:
        day: name of, or expression for, a ``pl.Date`` column.
        tz: IANA time zone of the report.

    Returns:
        A ``Datetime("us", "UTC")`` expression.
    """
    return day_start(_col(day).dt.offset_by("1d"), tz)


def day_bounds(day: str | pl.Expr, tz: str = UTC) -> tuple[pl.Expr, pl.Expr]:
    """``(day_start(day, tz), day_end(day, tz))``: the UTC instants bounding local date ``day``."""
    return day_start(day, tz), day_end(day, tz)


def day_length_seconds(day: str | pl.Expr, tz: str = UTC) -> pl.Expr:
    """Length in seconds (Float64) of local date ``day`` in ``tz``: 86,400, or 82,800 / 90,000 on DST days."""
    start, end = day_bounds(day, tz)
    return seconds_between(start, end)


def seconds_between(start: str | pl.Expr, end: str | pl.Expr) -> pl.Expr:
    """``end - start`` in seconds, as Float64 (microsecond precision)."""
    return micros_to_seconds(micros_between(start, end))


def micros_between(start: str | pl.Expr, end: str | pl.Expr) -> pl.Expr:
    """``end - start`` in microseconds, as Int64: exact for ``Datetime("us")`` values.

    Sum durations in this form and convert once, after the sum (:func:`micros_to_seconds`): an integer sum
    is exact whatever the summation order, so the result is the same on every run; a sum of float seconds
    may differ in the last bits with the (parallel, unordered) order of a group-by.
    """
    return (_col(end) - _col(start)).dt.total_microseconds().cast(pl.Int64)


def micros_to_seconds(micros: str | pl.Expr) -> pl.Expr:
    """Integer microseconds as Float64 seconds (``micros / 1e6``, see :func:`exact_div`); a null stays null."""
    return exact_div(micros, MICROS_PER_SECOND)


def exact_div(numerator: str | pl.Expr, denominator: float) -> pl.Expr:
    """``numerator / denominator`` (a constant) as Float64, correctly rounded on every run.

    Polars divides a column by a scalar as a product with the scalar's reciprocal, except on frames of one or
    two rows where it divides: ``x / 3600`` can differ in the last bit with the size of the frame (a day
    built alone or with others). Dividing by a column of the same length is an element-wise IEEE division
    in every case, so the divisor is made a column (``x * 0.0 + denominator``: exact, and null where ``x``
    is null).
    """
    num = _col(numerator).cast(pl.Float64)
    return num / (num * 0.0 + float(denominator))


def days_frame(days: Iterable[date], tz: str = UTC) -> pl.LazyFrame:
    """A frame of the given local dates with their bounds, one row per distinct date, in date order.

    Args:
        days: local calendar dates.
        tz: IANA time zone of the report.

    Returns:
        Columns ``day`` (Date), ``day_start`` and ``day_end`` (UTC instants, end exclusive),
        ``day_seconds`` (Float64).
    """
    frame = pl.LazyFrame({"day": sorted(set(days))}, schema={"day": pl.Date})
    return with_day_bounds(frame, tz)


def with_day_bounds(frame: pl.LazyFrame, tz: str = UTC, day_col: str = "day") -> pl.LazyFrame:
    """Add ``day_start``, ``day_end`` (UTC, exclusive) and ``day_seconds`` for the dates in ``day_col``."""
    return frame.with_columns(
        day_start(day_col, tz).alias("day_start"), day_end(day_col, tz).alias("day_end")
    ).with_columns(seconds_between("day_start", "day_end").alias("day_seconds"))


def minute_marks(days: pl.LazyFrame, tz: str = UTC, day_col: str = "day") -> pl.LazyFrame:
    """Explode each local date into its minute marks: D 00:00, 00:01, …, the last minute of D.

    A 24 h day has 1,440 marks, a 23 h DST day 1,380 and a 25 h one 1,500. Marks are UTC instants; they are
    whole UTC minutes because every modern zone's offset is a whole number of minutes.

    Args:
        days: a frame with a ``pl.Date`` column ``day_col`` (other columns are repeated on every mark).
        tz: IANA time zone of the report.
        day_col: name of the date column.

    Returns:
        ``days`` with an added ``minute`` column (``Datetime("us", "UTC")``), one row per mark.
    """
    return days.with_columns(
        pl.datetime_ranges(
            day_start(day_col, tz), day_end(day_col, tz), "1m", closed="left", time_unit="us", time_zone=UTC
        ).alias("minute")
    ).explode("minute")


def split_by_day(
    lf: pl.LazyFrame, start_col: str, end_col: str, tz: str = UTC, *, micros_col: str | None = None
) -> pl.LazyFrame:
    """Split intervals ``[start, end)`` at local midnights of ``tz`` into one piece per local day.

    Each input row becomes one row per local day its interval overlaps, with every input column kept:

    - ``day`` (Date): the local date of the piece;
    - ``piece_start`` / ``piece_end`` (UTC): the interval clipped to the day, ``[piece_start, piece_end)``;
    - ``seconds`` (Float64): ``piece_end - piece_start`` in seconds;
    - with ``micros_col``, also a column of that name (Int64): ``piece_end - piece_start`` in microseconds.
      Sum that one (exact, order-independent) and convert to seconds after the sum.

    The pieces of an interval tile it exactly: their ``seconds`` sum to ``end - start``. An interval that
    ends exactly at a local midnight yields no (empty) piece on the following day. An interval of length 0
    (``end == start``) yields one piece of 0 seconds on the day of ``start``, so that it is not lost; an
    interval with ``end < start`` is treated as length 0 (``end`` taken as ``start``). Rows whose start or
    end is null are dropped.

    Args:
        lf: frame with UTC timestamp columns ``start_col`` and ``end_col``.
        start_col: name of the interval start column (inclusive).
        end_col: name of the interval end column (exclusive).
        tz: IANA time zone of the days.
        micros_col: name of an extra Int64 column with the piece's length in microseconds; none if None.

    Returns:
        ``lf``'s columns plus ``day``, ``piece_start``, ``piece_end``, ``seconds`` (and ``micros_col``).
    """
    start = pl.col(start_col)
    end = pl.max_horizontal(pl.col(start_col), pl.col(end_col))
    # The last instant inside [start, end) is end - 1 µs; for an empty interval use start itself.
    last_instant = pl.when(end > start).then(end - pl.duration(microseconds=1)).otherwise(start)
    piece_us = micros_between("piece_start", "piece_end")
    pieces = (
        lf.filter(pl.col(start_col).is_not_null() & pl.col(end_col).is_not_null())
        .with_columns(pl.date_ranges(local_day(start, tz), local_day(last_instant, tz), "1d").alias("day"))
        .explode("day")
        .with_columns(
            pl.max_horizontal(start, day_start("day", tz)).alias("piece_start"),
            pl.min_horizontal(end, day_end("day", tz)).alias("piece_end"),
        )
        .with_columns(micros_to_seconds(piece_us).alias("seconds"))
    )
    return pieces if micros_col is None else pieces.with_columns(piece_us.alias(micros_col))


def day_span(*frames: pl.LazyFrame, day_col: str = "day") -> pl.LazyFrame:
    """Every date from the earliest to the latest ``day_col`` found in ``frames`` (a gap-free range).

    Args:
        *frames: frames each holding a ``pl.Date`` column ``day_col``.
        day_col: name of the date column.

    Returns:
        One column ``day`` (Date), ascending; empty when no frame holds a non-null date.
    """
    days = pl.concat([f.select(pl.col(day_col).alias("day")) for f in frames], how="vertical")
    return (
        days.select(pl.col("day").min().alias("lo"), pl.col("day").max().alias("hi"))
        .filter(pl.col("lo").is_not_null())
        .select(pl.date_ranges("lo", "hi", "1d").alias("day"))
        .explode("day")
    )
