"""Campaign metrics: last-click 7-day attribution, attributed revenue, daily figures; worked out by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tests.factories import campaign_frame, day, make_campaign_event, ts
from transforms.campaigns import (
    ATTRIBUTED_SCHEMA,
    attribute_signups,
    attributed_purchases,
    daily_campaign_totals,
    daily_campaigns,
)

UTC_DT = pl.Datetime("us", "UTC")
T = "2026-05-10 12:00"  # the sign-up instant of the attribution test


def click(
    user_id: str, event_time: str | datetime, campaign_id: str = "cA", channel: str = "paid_social", **kw: Any
) -> dict[str, Any]:
    return make_campaign_event(
        event_type="click", user_id=user_id, event_time=event_time, campaign_id=campaign_id, channel=channel, **kw
    )


def signup(event_id: str, user_id: str, event_time: str | datetime, campaign_id: str = "cZ") -> dict[str, Any]:
    # The sign-up's own campaign_id ("cZ") must never be used.
    return make_campaign_event(
        event_type="signup", event_id=event_id, user_id=user_id, event_time=event_time, campaign_id=campaign_id
    )


def purchase(user_id: str, event_time: str, amount_cents: int, event_id: str | None = None) -> dict[str, Any]:
    extra = {"event_id": event_id} if event_id else {}
    return make_campaign_event(
        event_type="purchase", user_id=user_id, event_time=event_time, amount_cents=amount_cents, **extra
    )


def attributed_frame(*rows: tuple[str, str, str, str | None, str | None]) -> pl.DataFrame:
    return pl.DataFrame([(e, u, ts(t), c, ch) for e, u, t, c, ch in rows], schema=ATTRIBUTED_SCHEMA, orient="row")


def test_attribute_signups_last_click_within_seven_days() -> None:
    # user  clicks (relative to its sign-up at T = 05-10 12:00)                   attributed to
    # u1    cA at T - 7 d exactly (05-03 12:00:00)                                cA / paid_social
    # u2    cB at T - 7 d - 1 us (05-03 11:59:59.999999)                          organic
    # u3    cA at T - 3 d, cB/search at T - 1 d, cC at T + 1 s (after: ignored)   cB / search (latest wins)
    # u4    two clicks at T - 1 h: k1 cA/search, k2 cB/email                      cB / email (greater event_id)
    # u5    cA/push at T exactly                                                  cA / push (both ends included)
    # u6    none (its sign-up carries campaign cZ, which is not used)             organic
    # u7    none; u8 clicked cA at T - 1 h (another user)                         organic
    campaign = campaign_frame(
        click("u1", "2026-05-03 12:00"),
        click("u2", "2026-05-03 11:59:59.999999", "cB"),
        click("u3", "2026-05-07 12:00", "cA"),
        click("u3", "2026-05-09 12:00", "cB", "search"),
        click("u3", "2026-05-10 12:00:01", "cC"),
        click("u4", "2026-05-10 11:00", "cA", "search", event_id="k1"),
        click("u4", "2026-05-10 11:00", "cB", "email", event_id="k2"),
        click("u5", T, "cA", "push"),
        click("u8", "2026-05-10 11:00"),
        *[signup(f"s{i}", f"u{i}", T) for i in range(1, 8)],
    )
    got = attribute_signups(campaign).collect()
    expected = attributed_frame(
        ("s1", "u1", T, "cA", "paid_social"),
        ("s2", "u2", T, None, None),
        ("s3", "u3", T, "cB", "search"),
        ("s4", "u4", T, "cB", "email"),
        ("s5", "u5", T, "cA", "push"),
        ("s6", "u6", T, None, None),
        ("s7", "u7", T, None, None),
    )
    assert_frame_equal(got, expected)


def test_tie_between_clicks_does_not_depend_on_input_order() -> None:
    rows = [click("u1", "2026-05-10 11:00", "cA", event_id="k1"), click("u1", "2026-05-10 11:00", "cB", event_id="k2")]
    for ordered in (rows, rows[::-1]):
        got = attribute_signups(campaign_frame(*ordered, signup("s1", "u1", T))).collect()
        assert got["attributed_campaign_id"].to_list() == ["cB"]


def test_attributed_purchases_latest_signup_and_thirty_day_window() -> None:
    # u1: sign-up p1 05-10 10:00 attributed to cA (click 08:00).
    #     purchase 06-09 10:00 = sign-up + 30 d exactly            -> credited to cA
    #     purchase 06-09 10:00:00.000001 = 30 d + 1 us             -> not credited
    #     purchase 05-10 09:00, before any sign-up                 -> not credited
    # u5: sign-up q1 05-01 attributed to cD/push (click 04-30); sign-up q2 05-20 organic (click 20 d old).
    #     purchase 05-15: latest sign-up is q1                      -> credited to cD
    #     purchase 05-25: latest sign-up is q2 (organic)            -> not credited, although q1 is < 30 d old
    campaign = campaign_frame(
        click("u1", "2026-05-10 08:00"),
        signup("p1", "u1", "2026-05-10 10:00"),
        purchase("u1", "2026-06-09 10:00", 500, "b1"),
        purchase("u1", "2026-06-09 10:00:00.000001", 700, "b2"),
        purchase("u1", "2026-05-10 09:00", 300, "b3"),
        click("u5", "2026-04-30 12:00", "cD", "push"),
        signup("q1", "u5", "2026-05-01 12:00"),
        signup("q2", "u5", "2026-05-20 12:00"),
        purchase("u5", "2026-05-15 12:00", 900, "b4"),
        purchase("u5", "2026-05-25 12:00", 1100, "b5"),
    )
    got = attributed_purchases(campaign, attribute_signups(campaign)).sort("purchase_time").collect()
    expected = pl.DataFrame(
        [
            ("b4", "u5", ts("2026-05-15 12:00"), 900, "q1", ts("2026-05-01 12:00"), "cD", "push"),
            ("b1", "u1", ts("2026-06-09 10:00"), 500, "p1", ts("2026-05-10 10:00"), "cA", "paid_social"),
        ],
        schema={
            "event_id": pl.String,
            "user_id": pl.String,
            "purchase_time": UTC_DT,
            "amount_cents": pl.Int64,
            "signup_event_id": pl.String,
            "signup_time": UTC_DT,
            "campaign_id": pl.String,
            "channel": pl.String,
        },
        orient="row",
    )
    assert_frame_equal(got, expected)


# Day 05-10 (UTC) unless said otherwise:
#   cA/paid_social: 4 impressions x 1,000 micros, clicks by u1 08:00 and u2 09:00 x 500,000 micros
#                   -> spend (4,000 + 1,000,000) / 1e6 = 1.004; sign-ups u1 10:00, u2 11:00 attributed
#                   -> cvr 2 / 2 = 1, cpa 1.004 / 2 = 0.502; u1 buys 1,000 cents at 13:00 -> roas 10 / 1.004
#   cB/search:      3 impressions at 0 micros, nothing else -> ctr 0, spend 0, cvr/cpa/roas null
#   cC/email:       u4 clicked 05-09 23:00 (200,000 micros), signed up 05-10 01:00
#                   -> 05-09 row: 0 impressions (ctr null), 1 click, spend 0.2, cvr 0, cpa null, roas 0
#                   -> 05-10 row: no delivery, 1 attributed sign-up, cpa 0 / 1 = 0, cvr null
#   u3 signs up at 12:00 without a click (organic) and buys 200 cents at 14:00 (purchase revenue only)
#   06-09: u1 buys 500 cents at 10:00 (sign-up + 30 d exactly -> cA, a row with no delivery: roas null)
#          and u2 buys 700 cents at 11:00:00.000001 (30 d + 1 us -> not attributed)
def scenario() -> pl.LazyFrame:
    return campaign_frame(
        *[make_campaign_event(user_id=f"v{i}", event_time="2026-05-10 07:00", cost_micros=1_000) for i in range(4)],
        *[
            make_campaign_event(user_id=f"w{i}", event_time="2026-05-10 07:00", campaign_id="cB", channel="search")
            for i in range(3)
        ],
        click("u1", "2026-05-10 08:00", cost_micros=500_000),
        click("u2", "2026-05-10 09:00", cost_micros=500_000),
        click("u4", "2026-05-09 23:00", "cC", "email", cost_micros=200_000),
        signup("s1", "u1", "2026-05-10 10:00"),
        signup("s2", "u2", "2026-05-10 11:00"),
        signup("s3", "u3", "2026-05-10 12:00"),
        signup("s4", "u4", "2026-05-10 01:00"),
        purchase("u1", "2026-05-10 13:00", 1_000),
        purchase("u3", "2026-05-10 14:00", 200),
        purchase("u1", "2026-06-09 10:00", 500),
        purchase("u2", "2026-06-09 11:00:00.000001", 700),
    )


def test_daily_campaigns() -> None:
    campaign = scenario()
    got = daily_campaigns(campaign, attribute_signups(campaign), "UTC").collect()
    d9, d10, j9 = day("2026-05-09"), day("2026-05-10"), day("2026-06-09")
    expected = pl.DataFrame(
        [
            # day, campaign, channel, impressions, clicks, ctr, spend, signups, cvr, cpa, revenue, roas
            (d9, "cC", "email", 0, 1, None, 0.2, 0, 0.0, None, 0, 0.0),
            (d10, "cA", "paid_social", 4, 2, 0.5, 1.004, 2, 1.0, 0.502, 1_000, 10 / 1.004),
            (d10, "cB", "search", 3, 0, 0.0, 0.0, 0, None, None, 0, None),
            (d10, "cC", "email", 0, 0, None, 0.0, 1, None, 0.0, 0, None),
            (j9, "cA", "paid_social", 0, 0, None, 0.0, 0, None, None, 500, None),
        ],
        schema={
            "day": pl.Date,
            "campaign_id": pl.String,
            "channel": pl.String,
            "impressions": pl.Int64,
            "clicks": pl.Int64,
            "ctr": pl.Float64,
            "spend": pl.Float64,
            "attributed_signups": pl.Int64,
            "cvr": pl.Float64,
            "cpa": pl.Float64,
            "attributed_revenue_cents": pl.Int64,
            "roas": pl.Float64,
        },
        orient="row",
    )
    assert_frame_equal(got, expected)


def test_daily_campaign_totals() -> None:
    campaign = scenario()
    got = daily_campaign_totals(campaign, attribute_signups(campaign), "UTC").collect()
    # 05-09: u4's click only.  05-10: 7 impressions, 2 clicks, spend 1.004, sign-ups u1 u2 u4 attributed and
    # u3 organic, purchases 1,000 + 200.  06-09: purchases 500 + 700, nothing delivered (ctr null).
    expected = pl.DataFrame(
        [
            (day("2026-05-09"), 0, 1, None, 0.2, 0, 0, 0),
            (day("2026-05-10"), 7, 2, 2 / 7, 1.004, 3, 1, 1_200),
            (day("2026-06-09"), 0, 0, None, 0.0, 0, 0, 1_200),
        ],
        schema={
            "day": pl.Date,
            "impressions": pl.Int64,
            "clicks": pl.Int64,
            "ctr": pl.Float64,
            "spend": pl.Float64,
            "attributed_signups": pl.Int64,
            "organic_signups": pl.Int64,
            "purchase_revenue_cents": pl.Int64,
        },
        orient="row",
    )
    assert_frame_equal(got, expected)


def test_days_follow_the_report_time_zone() -> None:
    # In Asia/Shanghai (UTC+8) the 05-09 23:00 UTC click and the 05-10 01:00 UTC sign-up are both on 05-10.
    campaign = scenario()
    got = daily_campaigns(campaign, attribute_signups(campaign), "Asia/Shanghai").collect()
    row = got.filter(pl.col("campaign_id") == "cC")
    assert row.select("day", "clicks", "attributed_signups", "cvr").rows() == [(day("2026-05-10"), 1, 1, 1.0)]


# --- properties -------------------------------------------------------------------------------------------

ORIGIN = ts("2026-05-01 00:00")
WEEK = timedelta(seconds=604_800)

# Times on a coarse grid (hours, plus the odd microsecond) so that ties and exact window ends happen often.
instants = st.tuples(st.integers(min_value=0, max_value=24 * 20), st.sampled_from([0, 0, 0, 1, -1])).map(
    lambda hu: ORIGIN + timedelta(hours=hu[0], microseconds=hu[1])
)
clicks_strategy = st.lists(
    st.tuples(st.sampled_from(["u1", "u2", "u3"]), instants, st.sampled_from(["cA", "cB", "cC"])), max_size=12
)
signups_strategy = st.lists(st.tuples(st.sampled_from(["u1", "u2", "u3", "u4"]), instants), max_size=8)


@settings(max_examples=60, deadline=None)
@given(clicks=clicks_strategy, signups=signups_strategy)
def test_attribution_matches_brute_force(
    clicks: list[tuple[str, datetime, str]], signups: list[tuple[str, datetime]]
) -> None:
    click_rows = [click(u, t, c, event_id=f"k{i:03d}") for i, (u, t, c) in enumerate(clicks)]
    signup_rows = [signup(f"s{i:03d}", u, t) for i, (u, t) in enumerate(signups)]
    campaign = campaign_frame(*click_rows, *signup_rows)
    attributed = attribute_signups(campaign)
    got = attributed.collect()

    # Every sign-up appears once; over the daily totals, attributed + organic = all sign-ups, and the
    # per-campaign rows hold every attributed sign-up.
    assert sorted(got["event_id"].to_list()) == sorted(r["event_id"] for r in signup_rows)
    totals = daily_campaign_totals(campaign, attributed, "America/New_York").collect()
    assert int(totals["attributed_signups"].sum()) + int(totals["organic_signups"].sum()) == len(signups)
    per_campaign = daily_campaigns(campaign, attributed, "America/New_York").collect()
    assert int(per_campaign["attributed_signups"].sum()) == int(totals["attributed_signups"].sum())

    # The definition, verbatim: latest click of the user in [t - 7 d, t], ties by greatest event_id.
    by_id = {r["event_id"]: r for r in got.iter_rows(named=True)}
    for row in signup_rows:
        t = row["event_time"]
        window = [
            (k["event_time"], k["event_id"], k["campaign_id"])
            for k in click_rows
            if k["user_id"] == row["user_id"] and t - WEEK <= k["event_time"] <= t
        ]
        expected = max(window)[2] if window else None
        assert by_id[row["event_id"]]["attributed_campaign_id"] == expected
