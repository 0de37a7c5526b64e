"""The marts build on hand-made raw rows in a fresh DuckDB file.

Raw rows come from the factories of tests/factories.py, with Kafka coordinates added here: each family has
its own topic, and a row's ``kafka_timestamp`` is its arrival (on time unless a test says otherwise).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows.ingest import ingest_without_kafka
from flows.marts import build_marts
from liveops.query import check_read_only
from schemas.events import FAMILIES, Family
from schemas.marts import MART_KEYS, MART_TABLES
from streams.memory import arrivals
from streams.simulator import SimConfig, simulate
from tests.conftest import lake_connection, new_lake
from tests.factories import (
    day,
    events_frame,
    make_campaign_event,
    make_engagement_event,
    make_stream_event,
    make_viewer_event,
    session_events,
    ts,
)
from warehouse.lake import LakeConfig, open_lake
from warehouse.loader import LakeWarehouse
from warehouse.marts import table_columns
from warehouse.migrations import raw_table
from warehouse.rebuild import days_to_rebuild

DOCS = Path(__file__).resolve().parents[2] / "docs" / "marts.md"
LATENESS = timedelta(hours=2)
# Columns that record when and under which watermark a day was built: they differ between two builds.
BUILD_METADATA = {"build_days": ["build_id", "built_at", "watermark"]}

Row = tuple[Family, dict[str, Any]]

# ---------------------------------------------------------------------------------------------------------
# Helpers: load raw rows with Kafka coordinates, read the marts back
# ---------------------------------------------------------------------------------------------------------


class Topics:
    """Assigns Kafka coordinates in arrival order: topic = family, two partitions, offsets per partition."""

    def __init__(self) -> None:
        self.next_offset: dict[tuple[str, int], int] = {}

    def coordinates(self, family: Family, row: Mapping[str, Any]) -> dict[str, Any]:
        partition = int(str(row["event_id"]).encode()[-1]) % 2
        offset = self.next_offset.get((family, partition), 0)
        self.next_offset[(family, partition)] = offset + 1
        arrival = row.get("kafka_timestamp") or row["event_time"]
        return {"kafka_topic": family, "kafka_partition": partition, "kafka_offset": offset, "kafka_timestamp": arrival}


def load(con: duckdb.DuckDBPyConnection, rows: Iterable[Row], topics: Topics | None = None) -> None:
    """Insert rows into the raw tables in arrival order (``kafka_timestamp``, else ``event_time``)."""
    topics = topics or Topics()
    ordered = sorted(rows, key=lambda r: r[1].get("kafka_timestamp") or r[1]["event_time"])
    by_family: dict[Family, list[dict[str, Any]]] = {family: [] for family in FAMILIES}
    for family, row in ordered:
        by_family[family].append({**row, **topics.coordinates(family, row)})
    for family, family_rows in by_family.items():
        if not family_rows:
            continue
        con.register("_test_rows", events_frame(family, family_rows).collect().to_arrow())
        table = raw_table(family)
        con.execute(
            f"INSERT INTO {table} BY NAME SELECT * FROM _test_rows r "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.event_id = r.event_id)"
        )
        con.unregister("_test_rows")


def marts(con: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    """Every mart table, sorted by its key, without build metadata."""
    return {
        table: con.sql(f"SELECT * FROM {table}").pl().drop(BUILD_METADATA.get(table, [])).sort(key, nulls_last=True)
        for table, key in MART_KEYS.items()
    }


def assert_marts_equal(left: dict[str, pl.DataFrame], right: dict[str, pl.DataFrame]) -> None:
    assert left.keys() == right.keys()
    for table in left:
        try:
            # Exact: durations are summed as integer microseconds, so a rebuild gives the very same floats.
            assert_frame_equal(left[table], right[table], check_exact=True)
        except AssertionError as exc:
            raise AssertionError(f"{table} differs: {exc}") from exc


def headline(con: duckdb.DuckDBPyConnection, d: date) -> dict[str, Any]:
    rows: list[dict[str, Any]] = con.sql("SELECT * FROM v_daily_headline WHERE day = ?", params=[d]).pl().to_dicts()
    assert len(rows) == 1
    return rows[0]


def assert_figures(actual: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    """Each expected figure equals the actual one (floats to 1e-12 relative)."""
    for key, want in expected.items():
        got = actual[key]
        if isinstance(want, float):
            assert got == pytest.approx(want, rel=1e-12), key
        else:
            assert got == want and type(got) is type(want), (key, got, want)


def build(con: duckdb.DuckDBPyConnection, tz: str = "UTC", **kwargs: Any) -> Any:
    days = kwargs.pop("days", None)
    return build_marts(con, days, tz, LATENESS, **kwargs)


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = lake_connection(tmp_path / "lake")
    try:
        yield connection
    finally:
        connection.close()


def v(**overrides: Any) -> Row:
    return ("viewer", make_viewer_event(**overrides))


def e(**overrides: Any) -> Row:
    return ("engagement", make_engagement_event(**overrides))


def c(**overrides: Any) -> Row:
    return ("campaign", make_campaign_event(**overrides))


def s(**overrides: Any) -> Row:
    return ("stream", make_stream_event(**overrides))


def session(session_id: str, start: str | None, end: str | None, **attrs: Any) -> list[Row]:
    return [("viewer", row) for row in session_events(session_id, start, end, **attrs)]


# ---------------------------------------------------------------------------------------------------------
# A small case worked out by hand (UTC, allowed lateness 2 h)
# ---------------------------------------------------------------------------------------------------------
#
#   streams   st1 (c1) gaming  05-01 10:00 - 14:00                    4 h on 05-01
#             st2 (c2) music   05-01 22:00 - (no end: watermark 05-02 02:00)   2 h on 05-01, 2 h on 05-02
#
#   session  user stream  [start, end)                  startup  end reason  watch 05-01  watch 05-02  category
#   s1       u1   st1     05-01 10:00 - 11:00           1000     user_left   1.0 h                     gaming
#                         (heartbeat 10:30, buffering 3000 ms)
#   s2       u2   st1     05-01 10:30 - 12:00           2000     error       1.5 h                     gaming
#   s3       u1   st2     05-01 23:00 - 05-02 01:00     4000     user_left   1.0 h        1.0 h        music
#
#   concurrency 05-01: 10:00 -> 1, 10:30 -> 2 (peak), 11:00 -> 1 ...; 05-02: 00:00 -> 1 (peak)
#
#   engagement 05-01: chat u1 x2, chat u3, like u2, share u2 (wechat), follow u3 c1, unfollow u1 c1,
#                     gift u2 500 c, subscribe u1 499 c, csat 5 (u1) and 3 (u2), nps 10, 9, 3, report u2 spam
#   engagement 05-02: like u1 at 02:00 (the watermark)
#   campaign 05-01:   2 impressions of cA (1000 micros each), click u4 cA 09:00 (500,000 micros),
#                     signup u4 12:00 (attributed to cA), signup u5 12:00 (organic), purchase u4 13:00 1000 c
#
#   users: active 05-01 u1 u2 u3 (all new); active 05-02 u1 -> D1 retention of cohort 05-01 = 1/3


def worked_case() -> list[Row]:
    rows: list[Row] = [
        s(event_type="stream_start", stream_id="st1", channel_id="c1", category="gaming", event_time="2026-05-01 10:00"),
        s(event_type="stream_end", stream_id="st1", channel_id="c1", event_time="2026-05-01 14:00"),
        s(event_type="stream_start", stream_id="st2", channel_id="c2", category="music", event_time="2026-05-01 22:00"),
        *session("s1", "2026-05-01 10:00", "2026-05-01 11:00", user_id="u1", stream_id="st1", channel_id="c1",
                 startup_ms=1000, source="home", device="web", country="FR"),
        v(event_type="heartbeat", session_id="s1", user_id="u1", stream_id="st1", channel_id="c1",
          event_time="2026-05-01 10:30", buffering_ms=3000),
        *session("s2", "2026-05-01 10:30", "2026-05-01 12:00", user_id="u2", stream_id="st1", channel_id="c1",
                 startup_ms=2000, source="search", device="ios", country="DE", reason="error"),
        *session("s3", "2026-05-01 23:00", "2026-05-02 01:00", user_id="u1", stream_id="st2", channel_id="c2",
                 startup_ms=4000, source="home", device="web", country="FR"),
        e(event_type="chat_message", user_id="u1", message="hi", event_time="2026-05-01 10:05"),
        e(event_type="chat_message", user_id="u1", message="hi", event_time="2026-05-01 10:06"),
        e(event_type="chat_message", user_id="u3", message="hi", event_time="2026-05-01 10:07"),
        e(event_type="like", user_id="u2", event_time="2026-05-01 10:40"),
        e(event_type="share", user_id="u2", target="wechat", event_time="2026-05-01 10:41"),
        e(event_type="follow", user_id="u3", channel_id="c1", event_time="2026-05-01 10:42"),
        e(event_type="unfollow", user_id="u1", channel_id="c1", event_time="2026-05-01 10:43"),
        e(event_type="gift", user_id="u2", gift_id="rose", quantity=1, amount_cents=500, event_time="2026-05-01 10:44"),
        e(event_type="subscribe", user_id="u1", tier=1, amount_cents=499, event_time="2026-05-01 10:45"),
        e(event_type="feedback", user_id="u1", survey="csat", score=5, event_time="2026-05-01 11:00"),
        e(event_type="feedback", user_id="u2", survey="csat", score=3, event_time="2026-05-01 11:01"),
        e(event_type="feedback", user_id="u1", survey="nps", score=10, event_time="2026-05-01 11:02"),
        e(event_type="feedback", user_id="u2", survey="nps", score=9, event_time="2026-05-01 11:03"),
        e(event_type="feedback", user_id="u3", survey="nps", score=3, event_time="2026-05-01 11:04"),
        e(event_type="report", user_id="u2", reason="spam", event_time="2026-05-01 11:05"),
        e(event_type="like", user_id="u1", channel_id="c2", stream_id="st2", event_time="2026-05-02 02:00"),
        c(event_type="impression", user_id="u7", cost_micros=1000, event_time="2026-05-01 08:00"),
        c(event_type="impression", user_id="u8", cost_micros=1000, event_time="2026-05-01 08:01"),
        c(event_type="click", user_id="u4", cost_micros=500_000, event_time="2026-05-01 09:00"),
        c(event_type="signup", user_id="u4", campaign_id="cZ", event_time="2026-05-01 12:00"),
        c(event_type="signup", user_id="u5", event_time="2026-05-01 12:00"),
        c(event_type="purchase", user_id="u4", amount_cents=1000, event_time="2026-05-01 13:00"),
    ]  # fmt: skip
    return rows


def test_headline_of_a_small_case_worked_by_hand(con: duckdb.DuckDBPyConnection) -> None:
    load(con, worked_case())
    result = build(con, full=True)
    assert result.days == [day("2026-05-01"), day("2026-05-02")]
    assert result.watermark == ts("2026-05-02 02:00")

    first = headline(con, day("2026-05-01"))
    assert_figures(
        first,
        {
            "day": day("2026-05-01"), "dau": 3, "wau": 3, "mau": 3, "stickiness": 1.0, "new_users": 3,
            "unique_viewers": 2, "sessions": 3, "hours_watched": 3.5, "pcu": 2, "pcu_at": ts("2026-05-01 10:30"),
            "acu": 3.5 * 3600 / 86400, "avg_watch_minutes": 105.0, "startup_p50_ms": 2000.0,
            "startup_p95_ms": 3800.0, "rebuffering_ratio": 3000 / (1000 * 3.5 * 3600), "error_exit_rate": 0.5,
            "chat_messages": 3, "chatters": 2, "engagement_rate": 1.0, "likes": 1, "shares": 1, "follows": 1,
            "unfollows": 1, "net_follows": 0, "gift_value_cents": 500, "subscription_revenue_cents": 499,
            "purchase_revenue_cents": 1000, "paying_users": 3, "csat": 0.5, "nps": 100 * (2 - 1) / 3,
            "reports": 1, "report_rate": 500.0, "hours_broadcast": 6.0, "streams_live": 2, "active_channels": 2,
            "impressions": 2, "clicks": 1, "ctr": 0.5, "spend": 0.502, "attributed_signups": 1,
            "organic_signups": 1, "attributed_revenue_cents": 1000, "retention_d1": None, "retention_d7": None,
            "retention_d30": None, "complete": True, "watermark": ts("2026-05-02 02:00"), "late_events": 0,
        },
    )  # fmt: skip
    second = headline(con, day("2026-05-02"))
    assert {k: second[k] for k in ("dau", "wau", "mau", "new_users", "unique_viewers", "sessions")} == {
        "dau": 1, "wau": 3, "mau": 3, "new_users": 0, "unique_viewers": 1, "sessions": 0,
    }  # fmt: skip
    assert second["stickiness"] == pytest.approx(1 / 3)
    assert (second["hours_watched"], second["pcu"], second["pcu_at"]) == (1.0, 1, ts("2026-05-02 00:00"))
    assert (second["startup_p50_ms"], second["rebuffering_ratio"], second["error_exit_rate"]) == (None, 0.0, 0.0)
    assert (second["chatters"], second["engagement_rate"], second["csat"], second["nps"]) == (0, 0.0, None, None)
    assert (second["hours_broadcast"], second["streams_live"], second["impressions"], second["ctr"]) == (
        2.0,
        1,
        0,
        None,
    )
    assert second["retention_d1"] == pytest.approx(1 / 3)
    assert second["complete"] is False

    categories = con.sql("SELECT * FROM v_daily_categories WHERE day = '2026-05-01' ORDER BY category").pl()
    assert categories.select("category", "hours_broadcast", "hours_watched", "streams_live", "viewer_ratio").rows() == [
        ("gaming", 4.0, 2.5, 1, 0.625),
        ("music", 2.0, 1.0, 1, 0.5),
    ]
    channels = con.sql("SELECT * FROM v_daily_channels WHERE day = '2026-05-01' ORDER BY rank").pl()
    assert channels.select(
        "channel_id", "hours_watched", "hours_broadcast", "avg_viewers", "peak_viewers", "follows", "unfollows", "rank"
    ).rows() == [("c1", 2.5, 4.0, 0.625, 2, 1, 1, 1), ("c2", 1.0, 2.0, 0.5, 1, 0, 0, 2)]
    campaigns = con.sql("SELECT * FROM v_campaigns").pl()
    assert campaigns.select(
        "day", "campaign_id", "channel", "impressions", "clicks", "attributed_signups", "attributed_revenue_cents"
    ).rows() == [(day("2026-05-01"), "cA", "paid_social", 2, 1, 1, 1000)]
    assert campaigns["roas"].to_list() == pytest.approx([10.0 / 0.502])
    sources = con.sql(
        "SELECT source, sessions, unique_viewers FROM v_daily_sources WHERE day = '2026-05-01' ORDER BY source"
    )
    assert sources.fetchall() == [("home", 2, 1), ("search", 1, 1)]
    retention = con.sql(
        "SELECT cohort_date, size, d1, d7 FROM v_retention WHERE as_of_day = '2026-05-02' AND size > 0"
    ).fetchall()
    assert retention == [(day("2026-05-01"), 3, pytest.approx(1 / 3), None)]
    sessions = con.sql("SELECT session_id, start_day, category, length_seconds FROM fct_sessions ORDER BY 1").fetchall()
    assert sessions == [
        ("s1", day("2026-05-01"), "gaming", 3600.0),
        ("s2", day("2026-05-01"), "gaming", 5400.0),
        ("s3", day("2026-05-01"), "music", 7200.0),
    ]
    minutes = con.sql(
        "SELECT count(*), max(concurrent) FROM fct_minute_concurrency GROUP BY day ORDER BY day"
    ).fetchall()
    assert minutes == [(1440, 2), (1440, 1)]


# ---------------------------------------------------------------------------------------------------------
# Watermark, completeness and late events
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "last_event", "complete"),
    [
        ("UTC", "2026-05-02 02:00", True),  # exactly D+1 00:00 + 2 h
        ("UTC", "2026-05-02 01:59:59.999999", False),
        ("Asia/Shanghai", "2026-05-01 18:00", True),  # 05-02 00:00 +08:00 is 05-01 16:00 UTC
        ("Asia/Shanghai", "2026-05-01 17:59", False),
    ],
)
def test_a_day_is_complete_once_the_watermark_passes_its_end_plus_lateness(
    con: duckdb.DuckDBPyConnection, tz: str, last_event: str, complete: bool
) -> None:
    watermark = datetime.fromisoformat(last_event).replace(tzinfo=UTC)
    load(con, [e(event_time="2026-05-01 09:00"), e(event_time=watermark)])
    assert build(con, tz, full=True).watermark == watermark
    status = dict(con.sql("SELECT day, complete FROM build_days").fetchall())
    assert status[day("2026-05-01")] is complete
    assert con.sql("SELECT DISTINCT watermark FROM build_days").fetchall() == [(watermark,)]


def test_late_events_follow_the_arrival_rule_across_tables(con: duckdb.DuckDBPyConnection) -> None:
    # event (day)        arrives (kafka_timestamp)   watermark before its arrival   late?
    # e1 05-01 10:00     05-01 10:00                 -                              no
    # e5 05-01 23:00     05-02 01:00                 05-01 10:00                    no
    # e2 05-02 03:00     05-02 03:00                 05-01 23:00                    no
    # e3 05-01 12:00     05-02 03:00 (same as e2)    05-01 23:00 (e2 is not before) no
    # e4 05-01 13:00     05-02 03:00:00.001          05-02 03:00 >= 05-02 02:00     yes (05-01)
    # e7 05-03 04:00     05-03 04:00 (stream table)  05-02 03:00                    no
    # e6 05-02 01:00     05-03 05:00                 05-03 04:00 >= 05-03 02:00     yes (05-02)
    rows = [
        e(event_time="2026-05-01 10:00", kafka_timestamp=ts("2026-05-01 10:00")),
        c(event_time="2026-05-01 23:00", kafka_timestamp=ts("2026-05-02 01:00")),
        e(event_time="2026-05-02 03:00", kafka_timestamp=ts("2026-05-02 03:00")),
        v(event_time="2026-05-01 12:00", kafka_timestamp=ts("2026-05-02 03:00")),
        e(event_time="2026-05-01 13:00", kafka_timestamp=ts("2026-05-02 03:00") + timedelta(milliseconds=1)),
        s(event_time="2026-05-03 04:00", kafka_timestamp=ts("2026-05-03 04:00")),
        e(event_time="2026-05-02 01:00", kafka_timestamp=ts("2026-05-03 05:00")),
    ]
    load(con, rows)
    build(con, full=True)
    assert con.sql("SELECT day, events, late_events FROM build_days ORDER BY day").fetchall() == [
        (day("2026-05-01"), 4, 1),
        (day("2026-05-02"), 2, 1),
        (day("2026-05-03"), 1, 0),
    ]


# ---------------------------------------------------------------------------------------------------------
# Idempotence, incremental = full, chunking, invariants
# ---------------------------------------------------------------------------------------------------------

CHANNELS = ("c1", "c2", "c3")
CATEGORIES = ("gaming", "music", "just_chatting")


def random_dataset(seed: int, start: datetime, days: int = 5, late_share: float = 0.25) -> list[Row]:
    """Events of a few users, streams, sessions and campaigns over ``days`` days, some arriving hours late.

    Edge cases on purpose: sessions without start or end, crossing midnight, longer than 24 h, ending before
    they start; streams without end (live until the watermark) or without start; clicks days before
    sign-ups; users whose first activity arrives late.
    """
    rng = random.Random(seed)
    span = days * 86_400

    def at(lo: float = 0.0, hi: float = 1.0) -> datetime:
        return start + timedelta(seconds=rng.uniform(lo * span, hi * span))

    def arrive(t: datetime) -> datetime:
        r = rng.random()
        if r >= late_share:
            return t + timedelta(seconds=rng.uniform(0, 90))
        if r < late_share * 0.7:
            return t + timedelta(hours=rng.uniform(1, 30))
        return t + timedelta(hours=rng.uniform(30, 200))

    rows: list[Row] = []

    def add(family: Family, row: dict[str, Any]) -> None:
        row["kafka_timestamp"] = arrive(row["event_time"])
        rows.append((family, row))

    scale = days / 5
    users = [f"u{i}" for i in range(int(14 * scale))]
    streams = []
    for i in range(int(6 * scale)):
        stream_id, channel = f"st{i}", rng.choice(CHANNELS)
        begin = at(0, 0.9)
        streams.append((stream_id, channel))
        if rng.random() > 0.1:
            add("stream", make_stream_event(event_type="stream_start", stream_id=stream_id, channel_id=channel,
                                            category=rng.choice(CATEGORIES), event_time=begin))  # fmt: skip
        for _ in range(rng.randrange(3)):
            add("stream", make_stream_event(event_type="category_change", stream_id=stream_id, channel_id=channel,
                                            category=rng.choice(CATEGORIES),
                                            event_time=begin + timedelta(hours=rng.uniform(-1, 20))))  # fmt: skip
        if rng.random() > 0.3:
            add("stream", make_stream_event(event_type="stream_end", stream_id=stream_id, channel_id=channel,
                                            event_time=begin + timedelta(hours=rng.uniform(0.5, 30))))  # fmt: skip

    for i in range(int(45 * scale)):
        user = rng.choice(users)
        stream_id, channel = rng.choice([*streams, ("st-none", "c9")])
        begin = at()
        length = timedelta(hours=rng.choice([rng.uniform(0, 2), rng.uniform(0, 8), rng.uniform(20, 30)]))
        common = {"session_id": f"s{seed}-{i}", "user_id": user, "stream_id": stream_id, "channel_id": channel}
        if rng.random() > 0.15:
            add("viewer", make_viewer_event(
                event_type="session_start", event_time=begin, source=rng.choice(["home", "search", "campaign"]),
                device=rng.choice(["web", "ios"]), country=rng.choice(["FR", "CN", None]),
                startup_ms=rng.choice([None, rng.randrange(100, 5000)]), **common,
            ))  # fmt: skip
        t = begin
        while t < begin + length and rng.random() > 0.02:
            t += timedelta(minutes=rng.uniform(5, 90))
            add("viewer", make_viewer_event(event_type="heartbeat", event_time=t,
                                            buffering_ms=rng.choice([0, 0, 1500]), **common))  # fmt: skip
        if rng.random() > 0.2:
            end = begin - timedelta(minutes=5) if rng.random() < 0.05 else begin + length
            add("viewer", make_viewer_event(event_type="session_end", event_time=end,
                                            reason=rng.choice(["user_left", "error"]), **common))  # fmt: skip

    kinds = ["chat_message", "like", "share", "follow", "unfollow", "gift", "subscribe", "report", "feedback"]
    for _ in range(int(70 * scale)):
        kind = rng.choice(kinds)
        stream_id, channel = rng.choice(streams)
        extra: dict[str, Any] = {}
        if kind == "share":
            extra = {"target": rng.choice(["wechat", "link"])}
        elif kind == "gift":
            extra = {"gift_id": "rose", "quantity": 1, "amount_cents": rng.choice([0, 100, 5000])}
        elif kind == "subscribe":
            extra = {"tier": 1, "amount_cents": 499}
        elif kind == "report":
            extra = {"reason": rng.choice(["spam", "abuse"])}
        elif kind == "feedback":
            survey = rng.choice(["csat", "nps"])
            extra = {"survey": survey, "score": rng.randrange(1, 6) if survey == "csat" else rng.randrange(11)}
        elif kind == "chat_message":
            extra = {"message": "hi"}
        add("engagement", make_engagement_event(event_type=kind, user_id=rng.choice(users), stream_id=stream_id,
                                                channel_id=channel, event_time=at(), **extra))  # fmt: skip

    campaigns = [("cA", "paid_social"), ("cB", "search")]
    for _ in range(int(40 * scale)):
        campaign, channel = rng.choice(campaigns)
        add("campaign", make_campaign_event(event_type="impression", campaign_id=campaign, channel=channel,
                                            user_id=rng.choice(users), cost_micros=rng.randrange(2000),
                                            event_time=at()))  # fmt: skip
    prospects = [f"p{i}" for i in range(int(8 * scale))]
    for prospect in prospects:
        campaign, channel = rng.choice(campaigns)
        click = at(0, 0.6)
        if rng.random() > 0.25:
            add("campaign", make_campaign_event(event_type="click", campaign_id=campaign, channel=channel,
                                                user_id=prospect, cost_micros=rng.randrange(500_000),
                                                event_time=click))  # fmt: skip
        signup = click + timedelta(days=rng.uniform(0, 2.5))
        add("campaign", make_campaign_event(event_type="signup", campaign_id=campaign, channel=channel,
                                            user_id=prospect, event_time=signup))  # fmt: skip
        for _ in range(rng.randrange(3)):
            add("campaign", make_campaign_event(event_type="purchase", campaign_id=campaign, channel=channel,
                                                user_id=prospect, amount_cents=rng.choice([600, 3000]),
                                                event_time=signup + timedelta(days=rng.uniform(0, 3))))  # fmt: skip
        if rng.random() < 0.5:  # the prospect starts watching
            add("engagement", make_engagement_event(event_type="like", user_id=prospect,
                                                    event_time=signup + timedelta(hours=1)))  # fmt: skip
    return rows


def arrival(row: Row) -> datetime:
    t: datetime = row[1]["kafka_timestamp"]
    return t


def split_by_arrival(rows: list[Row], cuts: Iterable[float]) -> list[list[Row]]:
    """The rows in arrival order, cut at fractions of the arrival time range."""
    ordered = sorted(rows, key=arrival)
    lo, hi = arrival(ordered[0]), arrival(ordered[-1])
    instants = [lo + (hi - lo) * f for f in cuts]
    parts: list[list[Row]] = []
    for a, b in itertools.pairwise([lo - timedelta(seconds=1), *instants, hi + timedelta(seconds=1)]):
        parts.append([r for r in ordered if a < arrival(r) <= b])
    return parts


# (seed, time zone, start, days, share of late events, where to cut the arrivals)
DATASETS = [
    (1, "UTC", datetime(2026, 5, 1, tzinfo=UTC), 5, 0.25, [0.35, 0.6, 0.8]),
    (2, "America/New_York", datetime(2026, 3, 4, 5, tzinfo=UTC), 6, 0.25, [0.35, 0.6, 0.8]),  # DST on 03-08
    (3, "Asia/Kolkata", datetime(2026, 5, 1, tzinfo=UTC), 5, 0.25, [0.35, 0.6, 0.8]),  # +05:30
    # Longer, fewer late events, small increments: most builds rebuild a few days only.
    (4, "UTC", datetime(2026, 5, 1, tzinfo=UTC), 14, 0.04, [0.5, 0.6, 0.7, 0.8, 0.9, 0.95]),
    (5, "Europe/Paris", datetime(2026, 3, 20, tzinfo=UTC), 12, 0.04, [0.55, 0.7, 0.85, 0.92]),  # DST on 03-29
]


@pytest.mark.parametrize(("seed", "tz", "start", "days", "late_share", "cuts"), DATASETS)
def test_incremental_builds_after_late_events_equal_a_full_rebuild(
    tmp_path: Path, seed: int, tz: str, start: datetime, days: int, late_share: float, cuts: list[float]
) -> None:
    rows = random_dataset(seed, start, days, late_share)
    parts = split_by_arrival(rows, cuts)
    assert sum(len(p) for p in parts) == len(rows)

    incremental = lake_connection(tmp_path / "incremental")
    topics = Topics()
    rebuilt: list[list[date]] = []
    for part in parts:
        load(incremental, part, topics)
        rebuilt.append(build(incremental, tz).days)
    assert rebuilt[0] and all(rebuilt)

    full = lake_connection(tmp_path / "full")
    load(full, rows)
    build(full, tz, full=True)
    assert_marts_equal(marts(incremental), marts(full))

    # Nothing new: an incremental build rebuilds nothing once every day is complete ... or only the
    # incomplete days (there are some: the last days are within the lateness of the watermark).
    incomplete = [row[0] for row in full.sql("SELECT day FROM build_days WHERE NOT complete ORDER BY day").fetchall()]
    assert build(incremental, tz).days == incomplete
    assert_marts_equal(marts(incremental), marts(full))

    # Chunking does not change a figure: a few days (or one) at a time, the viewer events read in slices.
    chunked = lake_connection(tmp_path / "chunked")
    load(chunked, rows)
    build(chunked, tz, full=True, chunk_days=1 if days <= 6 else 4, slice_events=40)
    assert_marts_equal(marts(chunked), marts(full))
    for connection in (incremental, full, chunked):
        connection.close()


def test_building_twice_gives_identical_marts(con: duckdb.DuckDBPyConnection) -> None:
    load(con, random_dataset(5, datetime(2026, 5, 1, tzinfo=UTC)))
    build(con, full=True)
    first = marts(con)
    build(con, full=True)
    assert_marts_equal(first, marts(con))
    some = [day("2026-05-02"), day("2026-05-03")]
    assert build(con, days=some).days == some
    assert_marts_equal(first, marts(con))


def test_incremental_days_follow_the_dependency_rules(con: duckdb.DuckDBPyConnection) -> None:
    topics = Topics()
    # Ten days of one user's likes; everything arrives on time.
    load(con, [e(user_id="u1", event_time=datetime(2026, 5, d, 12, tzinfo=UTC)) for d in range(1, 11)], topics)
    assert build(con).mode == "incremental"
    assert days_to_rebuild(con, "UTC", LATENESS) == [day("2026-05-10")]  # the last day is incomplete

    # A late like of a new user on 05-03: that day and the 30 after (clipped to the data): WAU, MAU, retention.
    load(con, [e(user_id="u2", event_time="2026-05-03 08:00", kafka_timestamp=ts("2026-05-10 13:00"))], topics)
    assert days_to_rebuild(con, "UTC", LATENESS) == [day(f"2026-05-{d:02d}") for d in range(3, 11)]
    build(con)

    # A late click on 05-01 re-attributes sign-ups of the 7 days after it and purchases 30 days after those.
    load(con, [c(event_type="click", user_id="u9", event_time="2026-05-01 08:00",
                 kafka_timestamp=ts("2026-05-10 13:00"))], topics)  # fmt: skip
    assert days_to_rebuild(con, "UTC", LATENESS) == [day(f"2026-05-{d:02d}") for d in range(1, 11)]
    build(con)

    # A range build does not move the bookmark: the next incremental build still sees the new rows.
    load(
        con, [c(event_type="impression", event_time="2026-05-04 08:00", kafka_timestamp=ts("2026-05-10 14:00"))], topics
    )
    build(con, days=[day("2026-05-04")])
    assert days_to_rebuild(con, "UTC", LATENESS) == [day("2026-05-04"), day("2026-05-10")]

    # Another time zone or lateness: everything.
    assert len(days_to_rebuild(con, "Asia/Shanghai", LATENESS)) == 10
    assert len(days_to_rebuild(con, "UTC", timedelta(hours=1))) == 10


def daily_likes(first: int, last: int, user: str = "bg") -> list[Row]:
    """A like by ``user`` at noon on each day of May 2026 from ``first`` to ``last``: days with data."""
    return [e(user_id=user, event_time=datetime(2026, 5, 1, 12, tzinfo=UTC) + timedelta(days=d - 1))
            for d in range(first, last + 1)]  # fmt: skip


LATE = ts("2026-06-20 00:00")  # when the late rows of the scenarios below arrive

# Each scenario: (rows on time, late rows, a day only that dependency rule makes the incremental build redo).
SCENARIOS: dict[str, tuple[list[Row], list[Row], date]] = {
    # The late like moves u1's first active day from 06-03 (33 days later) to 05-01: 06-03 loses a new user.
    "first active day moves": (
        [*daily_likes(1, 36), e(user_id="u1", event_time="2026-06-03 08:00")],
        [e(user_id="u1", event_time="2026-05-01 08:00", kafka_timestamp=LATE)],
        day("2026-06-03"),
    ),
    # A stream live since 05-01 (no end: live until the watermark) ends on 05-02 after all.
    "stream end arrives late": (
        [*daily_likes(1, 10), s(event_type="stream_start", stream_id="st1", event_time="2026-05-01 10:00")],
        [s(event_type="stream_end", stream_id="st1", event_time="2026-05-02 12:00", kafka_timestamp=LATE)],
        day("2026-05-06"),
    ),
    # A category change before midnight changes the category of a session watched on the next day.
    "category of a session over midnight": (
        [
            *daily_likes(1, 5),
            s(event_type="stream_start", stream_id="st1", category="gaming", event_time="2026-05-01 10:00"),
            s(event_type="stream_end", stream_id="st1", event_time="2026-05-01 23:00"),
            *session("s1", "2026-05-01 22:30", "2026-05-02 01:00", user_id="u1", stream_id="st1"),
        ],
        [
            s(
                event_type="category_change",
                stream_id="st1",
                category="music",
                event_time="2026-05-01 22:00",
                kafka_timestamp=LATE,
            )
        ],
        day("2026-05-02"),
    ),
    # A late click attributes a sign-up four days later, and the purchase 7 days after that.
    "click re-attributes": (
        [
            *daily_likes(1, 13),
            c(event_type="signup", user_id="p1", event_time="2026-05-05 12:00"),
            c(event_type="purchase", user_id="p1", amount_cents=1000, event_time="2026-05-12 12:00"),
        ],
        [c(event_type="click", user_id="p1", event_time="2026-05-01 23:00", kafka_timestamp=LATE)],
        day("2026-05-12"),
    ),
    # A late sign-up (after a click) credits a purchase 8 days later.
    "sign-up credits purchases": (
        [
            *daily_likes(1, 11),
            c(event_type="click", user_id="p1", event_time="2026-05-01 12:00"),
            c(event_type="purchase", user_id="p1", amount_cents=1000, event_time="2026-05-10 12:00"),
        ],
        [c(event_type="signup", user_id="p1", event_time="2026-05-02 12:00", kafka_timestamp=LATE)],
        day("2026-05-10"),
    ),
    # A new user's late like on 05-02 counts in WAU (and MAU) of the days after.
    "activity windows": (
        [*daily_likes(1, 10)],
        [e(user_id="u9", event_time="2026-05-02 08:00", kafka_timestamp=LATE)],
        day("2026-05-08"),
    ),
    # An impression on 05-02 04:00 that reaches the warehouse late arrived (kafka_timestamp) before a 05-01
    # event already loaded: that event arrived after the watermark passed 05-02 02:00, so 05-01 gains a late event.
    "watermark at earlier arrivals": (
        [*daily_likes(1, 5), e(user_id="u1", event_time="2026-05-01 12:30", kafka_timestamp=ts("2026-05-02 05:00"))],
        [c(event_type="impression", event_time="2026-05-02 04:00", kafka_timestamp=ts("2026-05-02 04:00"))],
        day("2026-05-01"),
    ),
}


@pytest.mark.parametrize("lake", ["postgres"], indirect=True)
def test_incremental_builds_on_a_postgres_catalog_equal_a_full_rebuild(lake: LakeConfig, tmp_path: Path) -> None:
    """The same property on the scale setting: a PostgreSQL catalog, built incrementally as late events
    arrive, equals a full build of everything on the default (SQLite) catalog."""
    seed, tz, start, days, late_share, cuts = DATASETS[1]
    rows = random_dataset(seed, start, days, late_share)
    topics = Topics()
    with open_lake(lake) as incremental, lake_connection(tmp_path / "full") as full:
        for part in split_by_arrival(rows, cuts):
            load(incremental, part, topics)
            assert build(incremental, tz).days
        load(full, rows)
        build(full, tz, full=True)
        assert_marts_equal(marts(incremental), marts(full))


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_dependency_rule_rebuilds_the_days_it_must(tmp_path: Path, name: str) -> None:
    on_time, late, only_by_rule = SCENARIOS[name]
    full = lake_connection(tmp_path / "full")
    load(full, [*on_time, *late])
    build(full, full=True)
    # The day is complete: the next incremental build would not redo it for being incomplete.
    assert full.sql("SELECT complete FROM build_days WHERE day = ?", params=[only_by_rule]).fetchall() == [(True,)]

    incremental = lake_connection(tmp_path / "incremental")
    topics = Topics()
    load(incremental, on_time, topics)
    build(incremental)
    load(incremental, late, topics)
    assert only_by_rule in days_to_rebuild(incremental, "UTC", LATENESS)
    build(incremental)
    assert_marts_equal(marts(incremental), marts(full))

    # The scenario matters: rebuilding only the days of the late rows leaves that day wrong.
    naive = lake_connection(tmp_path / "naive")
    topics = Topics()
    load(naive, on_time, topics)
    build(naive)
    load(naive, late, topics)
    build(naive, days=sorted({row["event_time"].date() for _, row in late}))
    with pytest.raises(AssertionError, match="differs"):
        assert_marts_equal(marts(naive), marts(full))
    for connection in (full, incremental, naive):
        connection.close()


def test_a_late_session_end_rebuilds_every_day_of_its_session(con: duckdb.DuckDBPyConnection) -> None:
    topics = Topics()
    rows = [
        *session("s1", "2026-05-01 22:00", None, user_id="u1", heartbeats=["2026-05-02 01:00"]),
        e(user_id="u2", event_time="2026-05-20 12:00"),
    ]
    load(con, rows, topics)
    build(con)
    # The session ends at its latest event (05-02 01:00) until its session_end at 05-01 23:00 arrives.
    load(con, [v(event_type="session_end", session_id="s1", user_id="u1", event_time="2026-05-01 23:00",
                 kafka_timestamp=ts("2026-05-20 12:00"))], topics)  # fmt: skip
    days = days_to_rebuild(con, "UTC", LATENESS)
    assert day("2026-05-02") in days and day("2026-05-01") in days
    build(con)
    watched = con.sql("SELECT day, hours_watched FROM agg_daily_headline WHERE day <= '2026-05-02' ORDER BY day")
    assert watched.fetchall() == [(day("2026-05-01"), 1.0), (day("2026-05-02"), 0.0)]


def test_invariants_on_a_random_dataset(con: duckdb.DuckDBPyConnection) -> None:
    load(con, random_dataset(6, datetime(2026, 3, 5, tzinfo=UTC)))
    build(con, "America/New_York", full=True)
    tables = marts(con)
    for table, key in MART_KEYS.items():
        frame = tables[table]
        assert frame.select(key).is_duplicated().sum() == 0, f"{table}: key {key} not unique"
        assert frame.select(key).null_count().sum_horizontal().item() == 0, f"{table}: null in key {key}"

    by_category = con.sql(
        "SELECT day, sum(hours_watched), sum(hours_broadcast) FROM agg_daily_category GROUP BY day ORDER BY day"
    ).fetchall()
    totals = con.sql("SELECT day, hours_watched, hours_broadcast FROM agg_daily_headline ORDER BY day").fetchall()
    days_with_categories = {row[0] for row in by_category}
    for d, watched, broadcast in totals:
        if d in days_with_categories:
            row = next(r for r in by_category if r[0] == d)
            assert row[1] == pytest.approx(watched) and row[2] == pytest.approx(broadcast)
        else:
            assert watched == 0 and broadcast == 0
    # Every session-day of the fact table adds up to the headline.
    per_day = dict(con.sql("SELECT day, sum(watch_seconds) / 3600 FROM fct_session_days GROUP BY day").fetchall())
    for d, watched, _ in totals:
        assert per_day.get(d, 0.0) == pytest.approx(watched)

    ratios = con.sql(
        "SELECT min(least(d1, d7, d30)), max(greatest(d1, d7, d30)) FROM agg_retention_cohorts"
    ).fetchall()[0]
    assert ratios[0] is None or ratios[0] >= 0
    assert ratios[1] is None or ratios[1] <= 1
    bounds = con.sql(
        "SELECT count(*) FROM agg_daily_headline WHERE stickiness NOT BETWEEN 0 AND 1 OR dau > wau OR wau > mau "
        "OR retention_d1 NOT BETWEEN 0 AND 1 OR ctr NOT BETWEEN 0 AND 1 OR csat NOT BETWEEN 0 AND 1 "
        "OR nps NOT BETWEEN -100 AND 100"
    ).fetchall()
    assert bounds == [(0,)]
    # A DST day is 23 h long: ACU divides by 82,800 s on 2026-03-08 in New York.
    acu, hours = con.sql("SELECT acu, hours_watched FROM agg_daily_headline WHERE day = '2026-03-08'").fetchall()[0]
    assert acu == pytest.approx(hours * 3600 / 82_800)
    assert con.sql("SELECT count(*) FROM fct_minute_concurrency WHERE day = '2026-03-08'").fetchall() == [(1380,)]


def test_every_mart_table_has_the_columns_the_build_writes(con: duckdb.DuckDBPyConnection) -> None:
    assert set(MART_TABLES) == set(MART_KEYS)
    for table, key in MART_KEYS.items():
        assert set(key) <= set(table_columns(con, table))


def test_a_build_without_data_does_nothing(con: duckdb.DuckDBPyConnection) -> None:
    result = build(con)
    assert (result.days, result.watermark) == ([], None)
    assert "nothing to rebuild" in result.line()


# ---------------------------------------------------------------------------------------------------------
# The example queries of docs/marts.md run against a simulated warehouse
# ---------------------------------------------------------------------------------------------------------


def simulated_warehouse(lake: LakeConfig, config: SimConfig) -> None:
    """Simulated traffic through the real ingest loop, Kafka left out (``streams.memory``)."""
    with LakeWarehouse(lake) as warehouse:
        ingest_without_kafka(warehouse, arrivals(simulate(config)), config.topics, batch_size=20_000)


def docs_queries() -> list[tuple[str, str]]:
    """(title, SQL) of every ```sql block of docs/marts.md, titled by the heading above it."""
    found: list[tuple[str, str]] = []
    title = ""
    block_lines: list[str] | None = None
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        if block_lines is None and line.startswith("#"):
            title = line.lstrip("#").strip()
        elif block_lines is None and line.strip() == "```sql":
            block_lines = []
        elif block_lines is not None and line.strip() == "```":
            found.append((title, "\n".join(block_lines)))
            block_lines = None
        elif block_lines is not None:
            block_lines.append(line)
    return found


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    lake = new_lake(tmp_path_factory.mktemp("sim"))
    simulated_warehouse(lake, SimConfig(days=3, users=300, channels=8, campaigns=3, seed=11))
    connection = open_lake(lake)
    build(connection, full=True)
    try:
        yield connection
    finally:
        connection.close()


def test_docs_have_ten_example_queries() -> None:
    assert len(docs_queries()) >= 10


@pytest.mark.parametrize(("title", "sql"), docs_queries(), ids=[t for t, _ in docs_queries()])
def test_docs_example_query_runs(simulated: duckdb.DuckDBPyConnection, title: str, sql: str) -> None:
    assert check_read_only(sql) == sql  # `liveops query` accepts it
    result = simulated.sql(sql).pl()
    assert result.height > 0, f"{title}: no rows"


def test_simulated_warehouse_builds_consistent_marts(simulated: duckdb.DuckDBPyConnection) -> None:
    heads = simulated.sql(
        "SELECT day, dau, sessions, hours_watched, complete FROM v_daily_headline ORDER BY day"
    ).fetchall()
    assert [h[0] for h in heads] == [day("2026-11-01"), day("2026-11-02"), day("2026-11-03")]
    assert all(h[1] > 0 and h[2] > 0 and h[3] > 0 for h in heads)
    assert [h[4] for h in heads] == [True, True, False]
    viewer_rows = simulated.sql("SELECT count(*) FROM stg_viewer_events").fetchall()[0][0]
    assert viewer_rows > 0


def test_reading_the_viewer_events_in_slices_gives_identical_marts(
    simulated: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # The simulated days' viewer events read in slices of ~500 events (dozens of slices a day, sessions
    # crossing midnight included): every mart is the same as when each chunk is read whole.
    whole = marts(simulated)
    lake = new_lake(tmp_path / "sliced")
    simulated_warehouse(lake, SimConfig(days=3, users=300, channels=8, campaigns=3, seed=11))
    sliced = open_lake(lake)
    try:
        build(sliced, full=True, slice_events=500)
        assert sliced.sql("SELECT count(*) FROM fct_sessions").fetchall()[0][0] > 100
        assert_marts_equal(marts(sliced), whole)
    finally:
        sliced.close()
