"""The anomaly rule of docs/metrics.md, on figures worked out by hand.

robust z = (x - median) / (1.4826 x MAD), flagged when |z| > 3, over the previous 28 days;
fewer than 7 previous values, or MAD = 0: nothing flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import pytest

from reports.anomalies import check_figure, detect_anomalies, history_days, robust_z

D = date(2026, 11, 30)

# Seven previous days:
#   values          10  12  11  13   9  10  12      sorted: 9 10 10 11 12 12 13 -> median 11
#   |x - 11|         1   1   0   2   2   1   1      sorted: 0 1 1 1 1 2 2       -> MAD 1
# 1.4826 x MAD = 1.4826, so the flag threshold is 11 +- 3 x 1.4826 = 11 +- 4.4478: above 15.4478, below 6.5522.
WEEK = [10, 12, 11, 13, 9, 10, 12]


def history(values: Sequence[float | None], metric: str = "dau", end: date = D) -> dict[date, dict[str, float | None]]:
    """``values`` on the days just before ``end``, the last one on end - 1."""
    return {end - timedelta(days=len(values) - i): {metric: v} for i, v in enumerate(values)}


def test_robust_z_by_hand() -> None:
    assert robust_z(16, WEEK) == pytest.approx(5 / 1.4826)  # 3.3725
    assert robust_z(6, WEEK) == pytest.approx(-5 / 1.4826)
    assert robust_z(11, WEEK) == 0.0
    assert robust_z(3, [5, 5, 5, 5, 5, 5, 5]) is None  # MAD 0
    assert robust_z(3, []) is None


@pytest.mark.parametrize(
    ("value", "direction"),
    [(16, "up"), (15.5, "up"), (15, None), (11, None), (7, None), (6.5, "down"), (6, "down"), (0, "down")],
)
def test_flagged_beyond_three_robust_z_scores(value: float, direction: str | None) -> None:
    flags = detect_anomalies(D, {"dau": value}, history(list(WEEK)))
    if direction is None:
        assert flags == []
    else:
        (flag,) = flags
        assert (flag.metric, flag.value, flag.median, flag.direction, flag.days) == ("dau", value, 11, direction, 7)
        assert flag.z == pytest.approx((value - 11) / 1.4826)


def test_an_even_number_of_days_takes_the_middle_pair() -> None:
    # 1..8: median 4.5; |x - 4.5| = 3.5 2.5 1.5 .5 .5 1.5 2.5 3.5 -> sorted .5 .5 1.5 1.5 | 2.5 2.5 3.5 3.5 -> MAD 2
    # threshold 4.5 + 3 x 1.4826 x 2 = 4.5 + 8.8956 = 13.3956
    days = history([1, 2, 3, 4, 5, 6, 7, 8])
    assert [a.median for a in detect_anomalies(D, {"dau": 14}, days)] == [4.5]
    assert detect_anomalies(D, {"dau": 13}, days) == []


def test_fewer_than_seven_previous_days_flags_nothing() -> None:
    assert detect_anomalies(D, {"dau": 1_000_000}, history(WEEK[:6])) == []
    # A null previous value (a ratio with a zero denominator) does not count towards the seven.
    assert detect_anomalies(D, {"dau": 1_000_000}, history([*WEEK[:6], None])) == []
    assert len(detect_anomalies(D, {"dau": 1_000_000}, history([*WEEK, None]))) == 1


def test_no_spread_flags_nothing() -> None:
    # MAD = 0 when more than half the days share one value, even if the others differ.
    assert detect_anomalies(D, {"dau": 1_000}, history([5, 5, 5, 5, 5, 5, 5])) == []
    assert detect_anomalies(D, {"dau": 1_000}, history([5, 5, 5, 5, 6, 7, 9])) == []


def test_a_null_value_is_never_flagged() -> None:
    assert check_figure("ctr", None, [0.1, 0.2, 0.1, 0.2, 0.1, 0.3, 0.1]) is None


def test_only_the_previous_28_days_count() -> None:
    # Day D-29 and D itself are outside the window; D-28 .. D-22 are seven days inside it.
    days = history(WEEK, end=D - timedelta(days=21))  # D-28 .. D-22
    days[D - timedelta(days=29)] = {"dau": 1_000}
    days[D] = {"dau": 1_000}
    days[D + timedelta(days=1)] = {"dau": 1_000}
    assert history_days(D, days) == 7
    (flag,) = detect_anomalies(D, {"dau": 16}, days)
    assert flag.median == 11
    # Without D-28 only six days remain.
    del days[D - timedelta(days=28)]
    assert detect_anomalies(D, {"dau": 16}, days) == []


def test_every_metric_is_checked_in_the_order_given() -> None:
    days = {d: {**row, "sessions": row["dau"], "ctr": None} for d, row in history(WEEK).items()}
    flags = detect_anomalies(D, {"dau": 0, "sessions": 20, "ctr": 0.5}, days, ["sessions", "ctr", "dau"])
    assert [(a.metric, a.direction) for a in flags] == [("sessions", "up"), ("dau", "down")]
