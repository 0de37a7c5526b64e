"""Engagement and community metrics per day, worked out by hand."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tests.factories import (
    campaign_frame,
    day,
    engagement_frame,
    make_campaign_event,
    make_engagement_event,
)
from transforms.engagement import (
    daily_engagement,
    daily_follows_by_channel,
    daily_reports_by_reason,
    daily_shares_by_target,
    paying_users,
)

D1 = "2026-05-01 12:00"


def ev(event_type: str, user_id: str = "u1", event_time: str = D1, **fields: Any) -> dict[str, Any]:
    return make_engagement_event(event_type=event_type, user_id=user_id, event_time=event_time, **fields)


def feedback(survey: str, score: int, event_time: str = D1) -> dict[str, Any]:
    return ev("feedback", survey=survey, score=score, event_time=event_time)


# Day 05-01 (UTC):
#   chat: u1 x2, u2 x1           -> chat_messages 3, chatters 2
#   like x2, share x3, follow x2, unfollow x1
#   gifts 250 + 150, subscribes 499 + 0          -> gift_value_cents 400, subscription_revenue_cents 499
#   csat scores 5 4 3 1          -> 2 of 4 score >= 4            -> csat 0.5
#   nps scores 10 9 8 7 6 3 0    -> 2 promoters, 3 detractors, 7 -> nps 100 * (2 - 3) / 7
#   reports x2; unique viewers 40 -> report_rate 2 * 1000 / 40 = 50, engagement_rate 2 / 40 = 0.05
# Day 05-02: one like, 0 unique viewers       -> every ratio null
# Day 05-03: no engagement, 10 unique viewers -> counts 0, csat/nps null, rates 0.0
# Day 05-04: one chat, no unique-viewers row  -> rates null
ENGAGEMENT = [
    ev("chat_message", "u1", message="hi"),
    ev("chat_message", "u1", message="again"),
    ev("chat_message", "u2", message="<b>hello</b>"),
    ev("like"),
    ev("like", "u2"),
    ev("share", target="wechat"),
    ev("share", target="wechat"),
    ev("share", target="link"),
    ev("follow", channel_id="c1"),
    ev("follow", channel_id="c2"),
    ev("unfollow", channel_id="c1"),
    ev("gift", "u3", gift_id="g1", quantity=1, amount_cents=250),
    ev("gift", "u4", gift_id="g2", quantity=3, amount_cents=150),
    ev("subscribe", "u5", tier=1, amount_cents=499),
    ev("subscribe", "u6", tier=1, amount_cents=0),
    *[feedback("csat", s) for s in (5, 4, 3, 1)],
    *[feedback("nps", s) for s in (10, 9, 8, 7, 6, 3, 0)],
    ev("report", reason="spam", comment=None),
    ev("report", reason="abuse", comment="rude"),
    ev("like", event_time="2026-05-02 08:00"),
    ev("chat_message", event_time="2026-05-04 08:00", message="late"),
]

UNIQUE_VIEWERS = pl.LazyFrame(
    {"day": [day("2026-05-01"), day("2026-05-02"), day("2026-05-03")], "unique_viewers": [40, 0, 10]}
)

ENGAGEMENT_SCHEMA = {
    "day": pl.Date,
    "chat_messages": pl.Int64,
    "chatters": pl.Int64,
    "likes": pl.Int64,
    "shares": pl.Int64,
    "follows": pl.Int64,
    "unfollows": pl.Int64,
    "net_follows": pl.Int64,
    "gift_value_cents": pl.Int64,
    "subscription_revenue_cents": pl.Int64,
    "csat": pl.Float64,
    "nps": pl.Float64,
    "reports": pl.Int64,
    "report_rate": pl.Float64,
    "engagement_rate": pl.Float64,
}


def test_daily_engagement() -> None:
    got = daily_engagement(engagement_frame(*ENGAGEMENT), UNIQUE_VIEWERS, "UTC").collect()
    expected = pl.DataFrame(
        [
            (day("2026-05-01"), 3, 2, 2, 3, 2, 1, 1, 400, 499, 0.5, -100 / 7, 2, 50.0, 0.05),
            (day("2026-05-02"), 0, 0, 1, 0, 0, 0, 0, 0, 0, None, None, 0, None, None),
            (day("2026-05-03"), 0, 0, 0, 0, 0, 0, 0, 0, 0, None, None, 0, 0.0, 0.0),
            (day("2026-05-04"), 1, 1, 0, 0, 0, 0, 0, 0, 0, None, None, 0, None, None),
        ],
        schema=ENGAGEMENT_SCHEMA,
        orient="row",
    )
    assert_frame_equal(got, expected)


def test_nps_and_csat_extremes() -> None:
    # All promoters: NPS 100; all detractors: -100; CSAT counts 4 and 5 as satisfied, 3 not.
    events = engagement_frame(
        feedback("nps", 9),
        feedback("nps", 10),
        feedback("csat", 4),
        feedback("nps", 0, "2026-05-02 12:00"),
        feedback("nps", 6, "2026-05-02 12:00"),
        feedback("csat", 3, "2026-05-02 12:00"),
        feedback("csat", 5, "2026-05-02 12:00"),
    )
    got = daily_engagement(events, pl.LazyFrame(schema={"day": pl.Date, "unique_viewers": pl.Int64}), "UTC")
    assert_frame_equal(
        got.select("day", "csat", "nps").collect(),
        pl.DataFrame({"day": [day("2026-05-01"), day("2026-05-02")], "csat": [1.0, 0.5], "nps": [100.0, -100.0]}),
    )


def test_breakdowns_use_the_report_time_zone() -> None:
    # 05-02 03:00 UTC is 05-01 23:00 in New York (EDT, UTC-4): it belongs to 05-01 there.
    events = engagement_frame(
        ev("share", target="wechat", event_time="2026-05-01 15:00"),
        ev("share", target="wechat", event_time="2026-05-02 03:00"),
        ev("share", target="link", event_time="2026-05-02 05:00"),
        ev("report", reason="spam", event_time="2026-05-02 03:00"),
        ev("follow", channel_id="c1", event_time="2026-05-02 03:00"),
        ev("unfollow", channel_id="c1", event_time="2026-05-02 05:00"),
        ev("unfollow", channel_id="c2", event_time="2026-05-02 05:00"),
    )
    tz = "America/New_York"
    assert_frame_equal(
        daily_shares_by_target(events, tz).collect(),
        pl.DataFrame({"day": [day("2026-05-01"), day("2026-05-02")], "target": ["wechat", "link"], "shares": [2, 1]}),
    )
    assert_frame_equal(
        daily_reports_by_reason(events, tz).collect(),
        pl.DataFrame({"day": [day("2026-05-01")], "reason": ["spam"], "reports": [1]}),
    )
    assert_frame_equal(
        daily_follows_by_channel(events, tz).collect(),
        pl.DataFrame(
            {
                "day": [day("2026-05-01"), day("2026-05-02"), day("2026-05-02")],
                "channel_id": ["c1", "c1", "c2"],
                "follows": [1, 0, 0],
                "unfollows": [0, 1, 1],
                "net_follows": [1, -1, -1],
            }
        ),
    )
    # In UTC the same events all fall on 05-01 (15:00) and 05-02 (the rest).
    assert daily_shares_by_target(events, "UTC").collect()["shares"].to_list() == [1, 1, 1]


def test_paying_users() -> None:
    # 05-01: gifts by u3 and u4, subscribe by u5 (u6's is free), purchase by u3 (already paying), free
    #        purchase by u7 -> 3 distinct paying users.  05-02: purchase by u8 -> 1.
    engagement = engagement_frame(*ENGAGEMENT)
    campaign = campaign_frame(
        make_campaign_event(event_type="purchase", user_id="u3", event_time=D1, amount_cents=100),
        make_campaign_event(event_type="purchase", user_id="u7", event_time=D1, amount_cents=0),
        make_campaign_event(event_type="purchase", user_id="u8", event_time="2026-05-02 01:00", amount_cents=100),
    )
    got = paying_users(engagement, campaign, "UTC").collect()
    assert_frame_equal(got, pl.DataFrame({"day": [day("2026-05-01"), day("2026-05-02")], "paying_users": [3, 1]}))


@settings(max_examples=40, deadline=None)
@given(
    csat=st.lists(st.integers(min_value=1, max_value=5), max_size=12),
    nps=st.lists(st.integers(min_value=0, max_value=10), max_size=12),
)
def test_csat_and_nps_match_their_definitions(csat: list[int], nps: list[int]) -> None:
    events = engagement_frame(*[feedback("csat", s) for s in csat], *[feedback("nps", s) for s in nps])
    got = daily_engagement(events, pl.LazyFrame({"day": [date(2026, 5, 1)], "unique_viewers": [1]}), "UTC").collect()
    assert got["day"].to_list() == [date(2026, 5, 1)]
    expected_csat = sum(s >= 4 for s in csat) / len(csat) if csat else None
    expected_nps = 100 * (sum(s >= 9 for s in nps) - sum(s <= 6 for s in nps)) / len(nps) if nps else None
    assert got["csat"].to_list() == [expected_csat]
    assert got["nps"].to_list() == [expected_nps]
