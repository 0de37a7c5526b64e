"""Active users, DAU / WAU / MAU, new users and retention cohorts (docs/metrics.md "Users and growth").

Everything starts from the activity frame of :func:`user_activity`: one row per (user, local day) on which
the user had any viewer or engagement event. Pure LazyFrame transforms, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import polars as pl

from schemas.windows import RETENTION_DAYS as RETENTION_DAYS
from transforms.days import UTC, local_day

WAU_WINDOW = 7
MAU_WINDOW = 30


def user_activity(viewer: pl.LazyFrame, engagement: pl.LazyFrame, tz: str = UTC) -> pl.LazyFrame:
    """Distinct (user, local day) pairs on which the user has any viewer or engagement event.

    The one definition of an active user: the marts build (``transforms/marts.py``) makes its activity and
    first active days with it too, from the (user, time) rows the warehouse reads.

    Args:
        viewer: typed viewer events (needs ``user_id``, ``event_time``).
        engagement: typed engagement events (needs ``user_id``, ``event_time``).
        tz: IANA time zone of the report.

    Returns:
        Columns ``user_id`` (String), ``day`` (Date); unique pairs sorted by ``day``, ``user_id``.
    """
    parts = [frame.select("user_id", local_day("event_time", tz).alias("day")) for frame in (viewer, engagement)]
    return pl.concat(parts).drop_nulls().unique().sort("day", "user_id")


def _first_days(activity: pl.LazyFrame) -> pl.LazyFrame:
    """``user_id``, ``first_day``: each user's first active day over all of ``activity``."""
    return activity.group_by("user_id").agg(pl.col("day").min().alias("first_day"))


def _active_in_window(activity: pl.LazyFrame, window: int) -> pl.LazyFrame:
    """Per day, distinct users active in ``[day - window + 1, day]``, at every day where the count changes.

    An active day ``a`` of a user keeps them counted on days ``a .. a + window - 1``. A user's active days
    closer than ``window`` apart are merged into one run ("island"), so each user's runs are disjoint and
    the count on day D is the number of runs covering D: a +1 at each run's start and a -1 the day after its
    end, summed cumulatively. This stays linear in the activity, whatever the number of days asked for.

    Returns:
        Columns ``day`` and ``active`` (Int64): the count from ``day`` until the next row's day.
    """
    per_user = activity.select("user_id", "day").unique().sort("user_id", "day")
    gap = (pl.col("day") - pl.col("day").shift(1).over("user_id")).dt.total_days()
    islands = (
        per_user.with_columns(gap.fill_null(window).ge(window).cum_sum().over("user_id").alias("island"))
        .group_by("user_id", "island")
        .agg(pl.col("day").min().alias("first"), pl.col("day").max().alias("last"))
    )
    changes = pl.concat(
        [
            islands.select(pl.col("first").alias("day"), pl.lit(1).alias("delta")),
            islands.select(pl.col("last").dt.offset_by(f"{window}d").alias("day"), pl.lit(-1).alias("delta")),
        ]
    )
    return (
        changes.group_by("day")
        .agg(pl.col("delta").sum())
        .sort("day")
        .select("day", pl.col("delta").cum_sum().cast(pl.Int64).alias("active"))
    )


def _count_on(days: pl.LazyFrame, counts: pl.LazyFrame, name: str) -> pl.LazyFrame:
    """Look up, for each of ``days``, the step count in force (the latest change on or before the day)."""
    return days.join_asof(
        counts.rename({"day": "_changed", "active": name}),
        left_on="day",
        right_on="_changed",
        strategy="backward",
    ).select("day", pl.col(name).fill_null(0))


def daily_audience(activity: pl.LazyFrame, days: Sequence[date] | None = None) -> pl.LazyFrame:
    """DAU, WAU, MAU, stickiness and new users for each day.

    - ``dau``: users active on D; ``wau``: distinct users active in [D-6, D]; ``mau``: in [D-29, D];
    - ``stickiness`` = dau / mau (null when mau is 0);
    - ``new_users``: users whose first active day over ALL of ``activity`` is D (pass the whole history).

    Args:
        activity: output of :func:`user_activity` (``user_id``, ``day``), over all data.
        days: the days to report; ``None`` for every day from the first to the last active day.

    Returns:
        Columns ``day`` (Date), ``dau``, ``wau``, ``mau``, ``new_users`` (Int64), ``stickiness`` (Float64);
        one row per requested day, sorted by ``day``.
    """
    activity = activity.select("user_id", "day")
    if days is not None:
        wanted = pl.LazyFrame({"day": sorted(set(days))}, schema={"day": pl.Date})
    else:
        wanted = (
            activity.select(pl.col("day").min().alias("lo"), pl.col("day").max().alias("hi"))
            .filter(pl.col("lo").is_not_null())
            .select(pl.date_ranges("lo", "hi", "1d").alias("day"))
            .explode("day")
        )
    wanted = wanted.sort("day")
    dau = activity.group_by("day").agg(pl.col("user_id").n_unique().cast(pl.Int64).alias("dau"))
    new = (
        _first_days(activity)
        .group_by("first_day")
        .agg(pl.len().cast(pl.Int64).alias("new_users"))
        .rename({"first_day": "day"})
    )
    return (
        wanted.join(dau, on="day", how="left")
        .join(_count_on(wanted, _active_in_window(activity, WAU_WINDOW), "wau"), on="day", how="left")
        .join(_count_on(wanted, _active_in_window(activity, MAU_WINDOW), "mau"), on="day", how="left")
        .join(new, on="day", how="left")
        .with_columns(pl.col("dau").fill_null(0), pl.col("new_users").fill_null(0))
        .with_columns(
            pl.when(pl.col("mau") > 0)
            .then(pl.col("dau") / pl.col("mau"))
            .otherwise(None)
            .cast(pl.Float64)
            .alias("stickiness")
        )
        .select("day", "dau", "wau", "mau", "new_users", "stickiness")
        .sort("day")
    )


def retention_cohorts(activity: pl.LazyFrame, as_of: date, cohorts: int = 30) -> pl.LazyFrame:
    """The retention triangle: for each of the last ``cohorts`` cohort days up to ``as_of`` (inclusive).

    The cohort of day C is the new users of C (first active day over all of ``activity`` is C). For N in
    {1, 7, 30}, ``dN`` = share of the cohort active on day C+N exactly; null when the cohort is empty or
    when C+N is after ``as_of`` (not yet due). Activity after ``as_of`` is ignored, so a rerun for an old
    ``as_of`` gives the figures that day's report showed.

    Args:
        activity: output of :func:`user_activity`, over all data.
        as_of: the report day R; cohorts are R-cohorts+1 .. R.
        cohorts: how many cohorts.

    Returns:
        Columns ``cohort_date`` (Date), ``size`` (Int64), ``d1``, ``d7``, ``d30`` (Float64); one row per
        cohort day (size 0 for a day with no new users), sorted by ``cohort_date``.
    """
    activity = activity.select("user_id", "day").filter(pl.col("day") <= as_of)
    first_cohort = as_of - timedelta(days=cohorts - 1)
    cohort_days = pl.LazyFrame(
        {"cohort_date": [first_cohort + timedelta(days=i) for i in range(cohorts)]},
        schema={"cohort_date": pl.Date},
    )
    members = (
        _first_days(activity)
        .rename({"first_day": "cohort_date"})
        .filter(pl.col("cohort_date").is_between(first_cohort, as_of))
    )
    size = members.group_by("cohort_date").agg(pl.len().cast(pl.Int64).alias("size"))
    # Each (member, active day) at an offset we report: one row per user, cohort and N they came back on.
    returns = (
        members.join(activity, on="user_id")
        .with_columns((pl.col("day") - pl.col("cohort_date")).dt.total_days().alias("n"))
        .filter(pl.col("n").is_in(RETENTION_DAYS))
        .group_by("cohort_date")
        .agg(*[(pl.col("n") == n).sum().cast(pl.Int64).alias(f"_back{n}") for n in RETENTION_DAYS])
    )
    size_col = pl.col("size")
    return (
        cohort_days.join(size, on="cohort_date", how="left")
        .join(returns, on="cohort_date", how="left")
        .with_columns(size_col.fill_null(0))
        .select(
            "cohort_date",
            "size",
            *[
                pl.when((size_col > 0) & (pl.col("cohort_date").dt.offset_by(f"{n}d") <= pl.lit(as_of)))
                .then(pl.col(f"_back{n}").fill_null(0) / size_col)
                .otherwise(None)
                .cast(pl.Float64)
                .alias(f"d{n}")
                for n in RETENTION_DAYS
            ],
        )
        .sort("cohort_date")
    )


def retention_for_day(activity: pl.LazyFrame, report_day: date) -> pl.LazyFrame:
    """The headline retention of report day R: D1 of cohort R-1, D7 of cohort R-7, D30 of cohort R-30.

    Args:
        activity: output of :func:`user_activity`, over all data.
        report_day: R.

    Returns:
        One row: ``day`` (Date, = R), ``d1``, ``d7``, ``d30`` (Float64; null where the cohort is empty).
    """
    triangle = retention_cohorts(activity, report_day, cohorts=max(RETENTION_DAYS) + 1)
    return triangle.select(
        pl.lit(report_day).alias("day"),
        *[
            pl.col(f"d{n}").filter(pl.col("cohort_date") == pl.lit(report_day - timedelta(days=n))).first()
            for n in RETENTION_DAYS
        ],
    )
