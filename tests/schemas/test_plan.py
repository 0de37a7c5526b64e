"""The plan format (schemas.plan) and its figures (transforms.plan), with hand-worked values."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from schemas.plan import PlanError, parse_period, parse_plan
from transforms.plan import plan_figures

HEADER = "metric,scope,period,target,direction\n"


def one(line: str):  # type: ignore[no-untyped-def]
    return parse_plan(HEADER + line + "\n").targets[0]


def frame(days: dict[date, dict[str, float]]) -> pl.DataFrame:
    return pl.DataFrame([{"day": d, **v} for d, v in sorted(days.items())])


def test_periods() -> None:
    nov = parse_period("2026-11")
    assert (nov.start, nov.end, nov.days) == (date(2026, 11, 1), date(2026, 11, 30), 30)
    week = parse_period("2026-W47")
    assert (week.start, week.end) == (date(2026, 11, 16), date(2026, 11, 22))
    assert parse_period("2026-12").end == date(2026, 12, 31)
    assert parse_period("2026-11-01..2026-11-15").days == 15
    for bad in ("2026-13", "2026-W54", "2026-11-31..2026-12-01", "2026-11-05..2026-11-01", "November"):
        with pytest.raises(ValueError):
            parse_period(bad)


def test_a_malformed_plan_gives_every_problem_with_its_line() -> None:
    text = (
        HEADER
        + "# comment line\n"
        + "dau,all,2026-11,1000,at_least\n"  # 3: fine
        + "daus,all,2026-11,1000,at_least\n"  # 4: unknown metric
        + "spend,region:eu,2026-11,5000,at_most\n"  # 5: unknown scope
        + "hours_watched,all,2026-11,12k,at_least\n"  # 6: bad number
        + "hours_watched,all,2026-11-31..2026-12-02,10,at_least\n"  # 7: bad date
        + "likes,all,2026-11,10,more\n"  # 8: bad direction
        + "dau,all,2026-W47,900,at_least\n"  # 9: overlaps line 3
        + "csat,all,2026-11,0.8,at_least\n"  # 10: no parts
        + "cpa,campaign:cmp-1,2026-11,nan,at_most\n"  # 11: not finite
    )
    with pytest.raises(PlanError) as err:
        parse_plan(text)
    lines = [p.line for p in err.value.problems]
    assert lines == [4, 5, 6, 7, 8, 9, 10, 11]
    text_of = {p.line: p.message for p in err.value.problems}
    assert "unknown metric 'daus'" in text_of[4] and "unknown scope" in text_of[5]
    assert "bad target '12k'" in text_of[6] and "bad date" in text_of[7] and "bad direction" in text_of[8]
    assert "overlaps 2026-11 of line 3" in text_of[9]


def test_a_missing_header_column() -> None:
    with pytest.raises(PlanError, match="line 1: the header lacks the column"):
        parse_plan("metric,period,target\ndau,2026-11,10\n")


def test_a_summed_metric_linear_and_weekday() -> None:
    # hours_watched, November target 3,000. Data: 28 days Oct 6 .. Nov 2, value 100 on weekdays (Mon-Fri),
    # 200 on Sat/Sun. D = Nov 2 (a Monday): Nov 1 (Sun) 200 + Nov 2 (Mon) 100 = 300 to date.
    t = one("hours_watched,all,2026-11,3000,at_least")
    days = {date(2026, 10, 6) + timedelta(days=i): None for i in range(28)}
    data = frame({d: {"hours_watched": 200.0 if d.isoweekday() >= 6 else 100.0} for d in days})
    f = plan_figures(t, data, date(2026, 11, 2))
    assert f is not None
    assert (f.days_elapsed, f.days_with_data, f.period_days) == (2, 2, 30)
    assert f.to_date == 300.0 and f.attainment == pytest.approx(0.1)
    assert f.expected_to_date == pytest.approx(200.0)  # 3000 x 2/30
    assert f.projected_linear == pytest.approx(4500.0)  # 150/day x 30
    # Nov 3 .. Nov 30: 28 days = 4 weeks: 20 weekdays x 100 + 8 weekend days x 200 = 3,600; + 300.
    assert f.projected_weekday == pytest.approx(3900.0)
    assert f.projected == f.projected_weekday and f.status == "on_track"


def test_an_averaged_metric_and_a_partial_first_week() -> None:
    # DAU, ISO week 2026-W45 (Nov 2 .. Nov 8), target 1,000; data only from Nov 4 (a partial first week).
    t = one("dau,all,2026-W45,1000,at_least")
    data = frame({date(2026, 11, 4): {"dau": 900.0}, date(2026, 11, 5): {"dau": 960.0}})
    f = plan_figures(t, data, date(2026, 11, 5))
    assert f is not None
    assert (f.days_elapsed, f.days_with_data, f.period_days) == (4, 2, 7)
    assert f.to_date == pytest.approx(930.0)  # averaged, not summed
    assert f.projected_linear == pytest.approx(930.0) and f.projected_weekday is None  # < 28 days of history
    assert f.attainment == pytest.approx(0.93) and f.status == "at_risk"  # 930 >= 900
    assert plan_figures(t, data, date(2026, 11, 1)) is None  # before the period


def test_a_ratio_is_recomputed_from_its_parts() -> None:
    # CTR: day 1 10/100 (10 %), day 2 10/1000 (1 %): 20/1100 = 1.818 %, not the mean 5.5 %.
    t = one("ctr,all,2026-11-01..2026-11-10,0.05,at_least")
    data = frame(
        {
            date(2026, 11, 1): {"clicks": 10.0, "impressions": 100.0},
            date(2026, 11, 2): {"clicks": 10.0, "impressions": 1000.0},
        }
    )
    f = plan_figures(t, data, date(2026, 11, 2))
    assert f is not None and f.to_date == pytest.approx(20 / 1100)
    assert f.projected == pytest.approx(20 / 1100) and f.status == "off_track"


def test_a_month_crossing_a_dst_change() -> None:
    # America/New_York leaves DST on 2026-11-01 (a 25-hour day): November still has 30 report days, and the
    # days elapsed on Nov 15 are 15. Hours watched 48 on each of Nov 1 .. 15 (Nov 1 is longer, still 1 day).
    t = one("hours_watched,all,2026-11,1500,at_least")
    data = frame({date(2026, 11, 1) + timedelta(days=i): {"hours_watched": 48.0} for i in range(15)})
    f = plan_figures(t, data, date(2026, 11, 15))
    assert f is not None and (f.days_elapsed, f.period_days) == (15, 30)
    assert f.to_date == 720.0 and f.projected_linear == pytest.approx(1440.0)  # 48 x 30
    assert f.status == "at_risk"  # 1440 >= 1350


def test_a_budget() -> None:
    # Campaign budget 3,000 for November (at most); 130/day over Nov 1 .. 10.
    t = one("spend,campaign:cmp-1,2026-11,3000,at_most")
    assert t.kind == "budget"
    data = frame({date(2026, 11, 1) + timedelta(days=i): {"spend": 130.0} for i in range(10)})
    f = plan_figures(t, data, date(2026, 11, 10))
    assert f is not None
    assert f.to_date == 1300.0 and f.expected_to_date == pytest.approx(1000.0)  # prorated budget to D
    assert f.projected == pytest.approx(3900.0) and f.projected_variance == pytest.approx(900.0)  # overspend
    assert f.status == "off_track"  # 3900 > 3300
    under = plan_figures(one("spend,all,2026-11,5000,at_most"), data, date(2026, 11, 10))
    assert under is not None and under.projected_variance == pytest.approx(-1100.0) and under.status == "on_track"
