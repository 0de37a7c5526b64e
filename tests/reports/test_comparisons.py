"""Honest comparisons on a small hand-worked warehouse (docs/metrics.md, "Comparisons").

The warehouse, 2026-11-01 .. 11-12 (UTC): one channel live 09:00-12:00 every day but 11-04, which has no
event at all. Each viewer of a day watches one hour (10:00-11:00). Viewers by day (DAU):

    11-01 10 (first day of data: every user new)   11-02 10   11-03 11   11-04 —    11-05 9    11-06 10
    11-07 12   11-08 11   11-09 11   11-10 10   11-11 12   11-12 40

Surveys (feedback events): 11-07 40 CSAT responses, 32 good (80 %), and 40 NPS responses, 20 promoters and
10 detractors (NPS 25); 11-08 5 CSAT responses, 2 good (40 %), and 4 NPS (3 promoters, 1 detractor: 50);
11-11 200 CSAT, 180 good (90 %); 11-12 200 CSAT, 120 good (60 %).

Worked out by hand:

- 11-08: DAU 11 vs 12 on 11-07: −8.3 %. Same day last week is 11-01, the first day of data: "—". MAU's
  30-day window has 8 days of data: "—" against both days. CSAT 40 % vs 80 % on n = 5: −40 pp, within noise
  (fewer than 30 responses), so not a mover and not "needs attention"; NPS +25 pts on n = 4, likewise.
  Previous days with data for the anomaly rule: 11-02, 03, 05, 06, 07 = 5 (11-01 is the first day, 11-04
  has no events): no anomaly, and the report says it had 5.
- 11-05: the previous day 11-04 has no events: "—"; the same day last week, 10-29, is before the data.
- 11-12: DAU 40 vs 9 on 11-05: +344.4 %. Nine previous days with data (11-02, 03, 05 .. 11), DAU median 11,
  MAD 1: robust z = 29 / 1.4826 = 19.6, flagged. CSAT 60 % vs 90 % on n = 200 each: SE of the difference
  √(0.24/200 + 0.09/200) = 0.041, and 30 pp > 1.96 SE: supported, so it needs attention.
"""

# ruff: noqa: RUF001, RUF002, RUF003

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from reports.model import Report, read_report
from reports.narrative import attention_items, narrative
from reports.render import render_html, render_markdown
from tests.conftest import new_lake
from tests.reports.warehouse import build_hand_warehouse
from warehouse.lake import open_lake

FIRST = date(2026, 11, 1)
DAU = {1: 10, 2: 10, 3: 11, 5: 9, 6: 10, 7: 12, 8: 11, 9: 11, 10: 10, 11: 12, 12: 40}
CSAT = {7: (40, 32), 8: (5, 2), 11: (200, 180), 12: (200, 120)}  # day: (responses, scores 4-5)
NPS = {7: [10] * 20 + [8] * 10 + [3] * 10, 8: [10, 10, 10, 0]}  # day: scores
GENERATED = datetime(2026, 11, 13, 6, 0, tzinfo=UTC)


def _at(day: int, hour: int, minute: int = 0) -> str:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC).isoformat().replace("+00:00", "Z")


def _day_events(day: int) -> Iterator[tuple[str, dict[str, Any]]]:
    stream = {"stream_id": f"st-{day}", "channel_id": "ch-1"}
    yield "stream-events", {"event_type": "stream_start", "event_time": _at(day, 9), "user_id": "host",
                            "category": "gaming", "title": "Morning show", **stream}  # fmt: skip
    for n in range(DAU[day]):
        session = {"session_id": f"s-{day}-{n}", "user_id": f"u{n}", **stream}
        yield "viewer-events", {"event_type": "session_start", "event_time": _at(day, 10), "device": "web",
                                "source": "home", "startup_ms": 900, **session}  # fmt: skip
        yield "viewer-events", {"event_type": "heartbeat", "event_time": _at(day, 10, 30), "buffering_ms": 0, **session}
        yield "viewer-events", {"event_type": "session_end", "event_time": _at(day, 11), "reason": "user_left",
                                **session}  # fmt: skip
    responses, good = CSAT.get(day, (0, 0))
    scores = [[5] * good + [2] * (responses - good), NPS.get(day, [])]
    for survey, values in zip(("csat", "nps"), scores, strict=True):
        for n, score in enumerate(values):
            minute = n % 60
            yield "engagement-events", {"event_type": "feedback", "event_time": _at(day, 10, minute),
                                        "user_id": f"u{n % DAU[day]}", "survey": survey, "score": score,
                                        **stream}  # fmt: skip
    yield "stream-events", {"event_type": "stream_end", "event_time": _at(day, 12), "user_id": "host", **stream}


def hand_events() -> list[tuple[str, dict[str, Any]]]:
    events = [e for day in sorted(DAU) for e in _day_events(day)]
    return sorted(events, key=lambda e: e[1]["event_time"])  # emitted in time order, as a live feed


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    lake = new_lake(tmp_path_factory.mktemp("hand"))
    build_hand_warehouse(lake, hand_events())
    con = open_lake(lake, read_only=True)
    yield con
    con.close()


def report_of(con: duckdb.DuckDBPyConnection, day: int) -> Report:
    return read_report(con, date(2026, 11, day), "UTC")


def test_the_warehouse_is_the_one_worked_out(hand: duckdb.DuckDBPyConnection) -> None:
    rows = dict(hand.execute("SELECT day, dau FROM agg_daily_headline ORDER BY day").fetchall())
    assert {d.day: n for d, n in rows.items() if n} == DAU
    assert rows.get(date(2026, 11, 4), 0) == 0


def test_no_comparison_with_the_first_day_of_data(hand: duckdb.DuckDBPyConnection) -> None:
    r = report_of(hand, 8)
    dau = r.figures["dau"]
    assert dau.vs_previous == pytest.approx(100 * (11 - 12) / 12)
    assert dau.last_week is None and dau.vs_last_week is None
    assert dau.gap_last_week is not None and (dau.gap_last_week.day, dau.gap_last_week.reason) == (FIRST, "first_day")
    assert r.figures["new_users"].vs_last_week is None  # 11-01's new users were everyone
    mau = r.figures["mau"]
    assert mau.vs_previous is None and mau.gap_previous is not None and mau.gap_previous.reason == "short_window"
    assert (mau.gap_previous.window, mau.gap_previous.have) == (30, 8)
    wau = r.figures["wau"]  # 11-02 .. 11-08 and 11-01 .. 11-07: two full weeks
    assert wau.gap_previous is None and wau.vs_previous is not None

    text = " ".join(narrative(r, "en"))
    assert "No comparison with the same day last week: 2026-11-01 is the first day of data" in text
    html = render_html(r, "en", GENERATED)
    assert "vs same day last week: 2026-11-01 is the first day of data" in html  # the reason under the table
    assert "MAU needs 30 days of data and 2026-11-08 has 8" in html
    md = render_markdown(r, "zh", GENERATED)
    assert "较上周同日：2026-11-01 是数据的第一天" in md
    zh = " ".join(narrative(r, "zh"))
    assert "不与上周同日比较：2026-11-01 是数据的第一天" in zh


def test_a_day_without_events_is_no_baseline(hand: duckdb.DuckDBPyConnection) -> None:
    r = report_of(hand, 5)
    dau = r.figures["dau"]
    assert dau.previous is None and dau.vs_previous is None and r.movers() == []
    assert dau.gap_previous is not None and (dau.gap_previous.day, dau.gap_previous.reason) == (
        date(2026, 11, 4),
        "no_data",
    )
    assert dau.gap_last_week is not None and dau.gap_last_week.reason == "before_data"
    text = " ".join(narrative(r, "en"))
    assert "No comparison with the previous day: 2026-11-04 has no events." in text
    assert "2026-10-29 is before the first day of data" in render_html(r, "en", GENERATED)


def test_anomalies_need_seven_previous_days_with_data(hand: duckdb.DuckDBPyConnection) -> None:
    early = report_of(hand, 8)
    assert early.anomaly_days == 5 and early.anomalies == ()
    assert "it had 5." in " ".join(narrative(early, "en"))

    late = report_of(hand, 12)
    assert late.anomaly_days == 9
    flagged = {a.metric: a for a in late.anomalies}
    assert flagged["dau"].median == 11 and flagged["dau"].days == 9
    assert flagged["dau"].z == pytest.approx((40 - 11) / 1.4826)
    assert late.figures["dau"].vs_last_week == pytest.approx(100 * (40 - 9) / 9)
    text = " ".join(narrative(late, "en"))
    assert "DAU at 40, above the median of 11 over 9 days" in text


def test_survey_figures_show_their_sample_and_small_samples_do_not_lead(hand: duckdb.DuckDBPyConnection) -> None:
    r = report_of(hand, 8)
    csat, nps = r.figures["csat"], r.figures["nps"]
    assert (csat.value, csat.previous, csat.sample) == (pytest.approx(0.4), pytest.approx(0.8), 5)
    assert (nps.value, nps.previous, nps.sample) == (pytest.approx(50.0), pytest.approx(25.0), 4)
    assert csat.vs_previous == pytest.approx(-40.0) and csat.noise_previous and nps.noise_previous
    # The biggest relative move is CSAT's (−50 %), but five responses cannot carry it.
    assert [f.key for f in r.movers()][:1] != ["csat"]
    assert not {"csat", "nps"} & {f.key for f in r.movers()}
    lead = narrative(r, "en")[1]
    assert lead.startswith("The biggest move") and "CSAT" not in lead and "NPS" not in lead
    assert not any("CSAT" in item for item in attention_items(r, "en"))
    html = render_html(r, "en", GENERATED)
    assert html.count('<div class="card-sample">n = 5') == 1 and '<div class="card-sample">n = 4' in html
    assert "move within sampling noise" in html


def test_a_move_the_sample_supports_is_reported(hand: duckdb.DuckDBPyConnection) -> None:
    r = report_of(hand, 12)
    csat = r.figures["csat"]
    assert csat.sample == 200 and csat.vs_previous == pytest.approx(-30.0) and not csat.noise_previous
    assert any(item.startswith("CSAT down 30.00 pp") for item in attention_items(r, "en"))
    assert '<div class="card-sample">n = 200</div>' in render_html(r, "en", GENERATED)


def test_days_are_those_of_the_report_time_zone(tmp_path: Path) -> None:
    # The same events seen from Shanghai: 09:00-12:00 UTC is 17:00-20:00 there, the same calendar days.
    lake = new_lake(tmp_path / "sh")
    build_hand_warehouse(lake, hand_events(), tz="Asia/Shanghai")
    with open_lake(lake, read_only=True) as con:
        r = read_report(con, date(2026, 11, 8), "Asia/Shanghai")
    assert r.figures["csat"].sample == 5 and r.figures["dau"].gap_last_week is not None
    assert r.figures["dau"].gap_last_week.day == FIRST


def test_a_small_count_does_not_lead_the_narrative() -> None:
    """8 -> 13 attributed sign-ups is +62.5 %, the biggest relative move of a day, and says little: a count
    under 30 on either day is shown with a note and never leads (nor goes under "needs attention")."""
    from reports.model import _noise

    assert _noise("signups_attributed", 62.5, "pct", None, None, (13, 8)) is True
    assert _noise("dau", 6.1, "pct", None, None, (1940, 1828)) is False
    assert _noise("dau", None, "pct", None, None, (10, None)) is False  # no move, nothing to support
