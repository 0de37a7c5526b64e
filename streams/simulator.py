"""A seeded, deterministic simulator of the platform's Kafka traffic, faithful to the event contract.

:func:`simulate` yields :class:`SimMessage` values (topic, key, value bytes) in *emission order*: what a
broker would receive, minute after minute. The traffic is shaped like a live-streaming platform's:

- channels go live a few times a day (one channel broadcasts around the clock), some streams cross
  midnight UTC, some change category; titles hold Chinese text and emoji, and (``hostile_text``, for tests)
  HTML, script, SQL metacharacters, control characters and very long strings;
- viewer sessions follow a diurnal curve with an evening peak (China time), only on live streams, with a
  heartbeat every 60 s, start-up times, rebuffering and bitrates; a few sessions lack their
  ``session_start`` or ``session_end``, as the contract allows; some viewers are anonymous (device ids);
- viewers chat, like, share, follow, subscribe, send gifts, file reports and answer CSAT/NPS surveys;
- campaigns buy impressions and clicks; prospects who click sign up (mostly soon, a few after the 7-day
  attribution window) and start watching; users buy virtual currency; users return on later days with
  heavy-tailed activity, and new users appear every day;
- delivery is at-least-once: a share of messages is re-sent later with identical bytes, a share arrives
  hours late (some after the next day), and a share of extra messages breaks the contract, cycling through
  every reason code of docs/contract.md, each message with exactly one defect.

The same :class:`SimConfig` always yields the same bytes. Memory stays bounded by the traffic of the next
few hours (events are generated minute by minute into a calendar of per-minute buckets), so tens of
millions of events can be streamed. No Kafka here: :mod:`streams.producer` writes the messages.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import math
import operator
import random
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from schemas.events import (
    CAMPAIGN_CHANNELS,
    ENVELOPE,
    EVENT_TYPES,
    FAMILIES,
    REASONS,
    SURVEY_SCORE_RANGES,
    EventType,
)

log = logging.getLogger(__name__)

DEFAULT_TOPICS: Mapping[str, str] = {
    "viewer": "viewer-events",
    "engagement": "engagement-events",
    "campaign": "campaign-events",
    "stream": "stream-events",
}
CATEGORIES = ("gaming", "music", "just_chatting", "outdoor", "education", "shopping")

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

# Calibrated on the default shape: valid events (all topics) per viewing session, campaign traffic included.
# Used only to turn ``target_events`` into sessions per day.
_EVENTS_PER_SESSION = 28.5
# Without ``target_events``: sessions per day per user of the initial user base.
_SESSIONS_PER_USER_DAY = 1.2
# When ``target_events`` asks for more, the user base grows so a user has at most this many sessions a day.
_MAX_SESSIONS_PER_USER_DAY = 2.0


@dataclass(frozen=True)
class SimConfig:
    """What to simulate. Every field has a default; the same config always yields the same bytes.

    Attributes:
        start_date: first simulated day (UTC).
        days: number of simulated days; events after the last day are not generated (streams and sessions
            still open then have no end event), but late and duplicate copies may be emitted after it.
        users: registered users at the start; new users sign up every day.
        channels: broadcasting channels (the first one broadcasts around the clock).
        campaigns: marketing campaigns (0: no campaign traffic, hence no sign-up or purchase events).
        seed: seed of the random generator.
        duplicate_rate: share of valid messages re-sent later (0.1 s to hours) with identical bytes.
        late_rate: share of valid messages emitted 1 to 48 hours after their ``event_time``.
        malformed_rate: extra messages that break the contract, as a share of valid messages, cycling
            through every reason code of docs/contract.md (:data:`schemas.events.REASONS`).
        topics: topic name per event family (``viewer``, ``engagement``, ``campaign``, ``stream``).
        target_events: aim for roughly this many valid events in total (within ~10 %) by scaling the
            sessions per day; the user base grows with it to at most two sessions per user and day.
            ``None``: about 1.2 sessions per day per user of ``users`` (~34 events per user and day).
        timestamp_variety: write ``event_time`` in several RFC 3339 spellings (``Z`` or ``+08:00`` /
            ``-05:00`` offsets, with or without milliseconds); false: always ``...T..:..:..mmmZ``.
        hostile_text: free text (stream titles, chat messages, comments) also holds what tests need to
            see escaped or stored intact: HTML and script, SQL metacharacters, quotes, control characters,
            empty and 200-500 character strings. False: ordinary text only (Chinese, emoji, other scripts),
            as the demo shows an ops reader a normal day.
    """

    start_date: date = date(2026, 11, 1)
    days: int = 1
    users: int = 2000
    channels: int = 20
    campaigns: int = 4
    seed: int = 7
    duplicate_rate: float = 0.01
    late_rate: float = 0.005
    malformed_rate: float = 0.001
    topics: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TOPICS))
    target_events: int | None = None
    timestamp_variety: bool = True
    hostile_text: bool = True

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValueError(f"days must be at least 1, got {self.days}")
        if self.users < 1 or self.channels < 1 or self.campaigns < 0:
            raise ValueError("users and channels must be at least 1, campaigns at least 0")
        for name in ("duplicate_rate", "late_rate", "malformed_rate"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 0.5:
                raise ValueError(f"{name} must be within [0, 0.5], got {rate}")
        if self.target_events is not None and self.target_events < 1:
            raise ValueError(f"target_events must be positive, got {self.target_events}")
        if sorted(self.topics) != sorted(FAMILIES):
            raise ValueError(f"topics must name exactly the families {FAMILIES}, got {sorted(self.topics)}")
        if len(set(self.topics.values())) != len(FAMILIES):
            raise ValueError("each family needs its own topic")

    def __hash__(self) -> int:  # the topics mapping is not hashable itself
        return hash((self.run_tag, tuple(sorted(self.topics.items()))))

    @property
    def sessions_per_day(self) -> float:
        """Mean viewing sessions per day (before the weekday and daily variation)."""
        if self.target_events is not None:
            return max(1.0, self.target_events / self.days / _EVENTS_PER_SESSION)
        return self.users * _SESSIONS_PER_USER_DAY

    @property
    def initial_users(self) -> int:
        """Registered users at the start: ``users``, raised when ``target_events`` needs more."""
        return max(self.users, math.ceil(self.sessions_per_day / _MAX_SESSIONS_PER_USER_DAY))

    @property
    def run_tag(self) -> str:
        """Eight hex digits derived from the config: the namespace of its event, session and stream ids."""
        parts = (
            self.start_date.isoformat(), self.days, self.users, self.channels, self.campaigns, self.seed,
            self.duplicate_rate, self.late_rate, self.malformed_rate, self.target_events, self.timestamp_variety,
            *(() if self.hostile_text else ("plain text",)),  # the tags of earlier hostile runs stay as they were
        )  # fmt: skip
        return hashlib.blake2b(repr(parts).encode(), digest_size=4).hexdigest()


@dataclass(frozen=True)
class SimMessage:
    """One Kafka message of the simulation.

    Attributes:
        topic: topic name.
        key: message key (UTF-8 bytes), ``None`` for some malformed messages.
        value: message value: UTF-8 JSON for valid messages, anything for malformed ones.
        event_time: the event's time (UTC); for a malformed message, the time it was emitted.
        malformed_reason: the reason code the pipeline must quarantine the message with; ``None`` when valid.
        malformed_field: the field concerned, where there is one (``None`` for ``invalid_json`` and
            ``not_an_object``; ``event_type``, ``schema_version``, ``event_time`` for the three reasons
            about them).
        duplicate: this message re-sends an earlier one byte for byte (same ``event_id``).
        late: this message is emitted hours after its ``event_time`` (out of order).
    """

    topic: str
    key: bytes | None
    value: bytes
    event_time: datetime
    malformed_reason: str | None = None
    malformed_field: str | None = None
    duplicate: bool = False
    late: bool = False


# Internal calendar entry: (emit_ms, topic, key, value, event_ms, reason, field, duplicate, late).
_Item = tuple[int, str, bytes | None, bytes, int, str | None, str | None, bool, bool]

_json_str = json.JSONEncoder(ensure_ascii=False).encode


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def _weighted_table(pairs: tuple[tuple[Any, int], ...]) -> tuple[Any, ...]:
    """A lookup table repeating each value by its integer weight: ``table[int(random() * len)]`` samples it."""
    return tuple(value for value, weight in pairs for _ in range(weight))


COUNTRY_TABLE = _weighted_table((
    ("CN", 52), ("US", 11), ("BR", 7), ("JP", 4), ("KR", 3), ("DE", 3), ("GB", 3), ("IN", 3),
    ("ID", 3), ("HK", 3), ("TW", 2), ("SG", 2), ("FR", 2), ("MX", 1), ("CA", 1),
))  # fmt: skip
DEVICE_TABLE = _weighted_table((("android", 40), ("ios", 30), ("web", 20), ("tv", 7), ("other", 3)))
SOURCE_TABLE = _weighted_table((
    ("home", 35), ("recommendation", 25), ("follow", 15), ("search", 10), ("external", 7), ("other", 3),
    ("campaign", 5),
))  # fmt: skip
END_REASON_TABLE = _weighted_table((("user_left", 92), ("error", 5), ("other", 3)))
BITRATE_BY_DEVICE = {"tv": 6000, "web": 4500, "ios": 2500, "android": 2500, "other": 1500}
SHARE_TARGET_TABLE = _weighted_table((("wechat", 45), ("weibo", 25), ("link", 25), ("other", 5)))
REPORT_REASON_TABLE = _weighted_table((
    ("spam", 40), ("abuse", 25), ("inappropriate_content", 20), ("copyright", 10), ("other", 5),
))  # fmt: skip
# (gift_id, price in cents)
GIFTS = (("rose", 0), ("heart", 100), ("rocket", 5000), ("🐉dragon", 8800), ("carnival", 30000))
GIFT_TABLE = _weighted_table(((0, 40), (1, 35), (2, 12), (3, 9), (4, 4)))
GIFT_QUANTITIES = _weighted_table(((1, 85), (10, 10), (99, 4), (520, 1)))
SUB_TIERS = _weighted_table(((1, 80), (2, 15), (3, 5)))
SUB_PRICES = {1: 499, 2: 999, 3: 2499}
PURCHASE_CENTS = _weighted_table(((600, 35), (3000, 30), (6800, 18), (12800, 10), (32800, 5), (64800, 2)))
# Engagement event types and their weights, for registered and for anonymous viewers.
ENGAGEMENT_TABLE = _weighted_table((
    ("chat_message", 560), ("like", 250), ("share", 40), ("follow", 40), ("unfollow", 10),
    ("subscribe", 15), ("gift", 45), ("report", 10), ("feedback", 30),
))  # fmt: skip
ANON_ENGAGEMENT_TABLE = _weighted_table((("like", 70), ("share", 15), ("feedback", 10), ("report", 5)))
CHAT_MESSAGES = (
    "hi", "666", "哈哈哈哈", "主播好\uff01", "GG", "lol", "first time here 👋", "太卡了", "这个操作可以",
    "<script>alert(1)</script>", "<b>bold</b> & <i>italic</i>", "'; DROP TABLE chat; --", "1' OR '1'='1",
    'he said "hello"', "back\\slash \\n not a newline", "line one\nline two", "tab\there", "emoji 🇨🇳🇺🇸🎉🔥",
    "👨‍👩‍👧 family", "مرحبا", "שלום", "Привет всем", "こんにちは", "", " ", "a" * 500, "你" * 500,
)  # fmt: skip
COMMENTS = (
    None, None, None, "great stream", "太卡了", "画质很好 👍", "<img src=x onerror=alert(1)>",
    "too many ads; DROP TABLE feedback", "Ünïcödé ✓", "",
)  # fmt: skip
TITLES = (
    "Ranked grind to Diamond", "Late night lo-fi 🎧", "Just chatting ~ 聊天", "周末户外直播 🏔️",
    "Learn SQL: SELECT * FROM fun; --", "<script>alert(1)</script> giveaway!", '<b>Big</b> sale & "flash" deals',
    "Speedrun any% — WR attempts", "'; DROP TABLE streams; --", "", "x" * 200, "Cooking 🍜 with 老王",
    "Math class: ∑ & ∫", "Tab\tand\nnewline", "مرحبا بالجميع", "新人主播求关注 🙏", "4K 60fps nature walk",
)  # fmt: skip


def ordinary(text: str | None) -> bool:
    """Text a normal day has: not empty, at most 80 characters, no markup, quote, SQL or control character."""
    return text is None or (0 < len(text.strip()) <= 80 and not any(c in text for c in "<>;'\"\\\t\n\r"))


CAMPAIGN_NAMES = ("winter_fest", "new_year", "game_week", "spring_sale", "summer_live", "back_to_school")
# (UTC offset in ms, suffix, keeps milliseconds, weight): the spellings of event_time producers use.
TIME_FORMATS = (
    (0, "Z", True, 45), (0, "Z", False, 20), (8 * HOUR_MS, "+08:00", True, 20),
    (8 * HOUR_MS, "+08:00", False, 10), (-5 * HOUR_MS, "-05:00", True, 5),
)  # fmt: skip

# More viewing on Friday and at the weekend; the mean over a week is 1.
_WEEKDAY_FACTORS = tuple(f / 1.05 for f in (1.0, 1.0, 1.0, 1.0, 1.05, 1.15, 1.15))
_EVENT_TYPES: dict[tuple[str, str], EventType] = {(t.family, t.name): t for t in EVENT_TYPES}
_REQUIRED_ENVELOPE = tuple(f.name for f in ENVELOPE if not f.nullable)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _TimeFormat:
    """Formats epoch milliseconds as RFC 3339 text in one spelling.

    Text = the cached text of the minute (``YYYY-MM-DDTHH:MM:``) + a table entry for the position within
    the minute (``SS.mmm`` or ``SS``) + the offset suffix: one dict look-up, no date arithmetic.
    """

    __slots__ = ("fractions", "minutes", "offset", "quantum", "suffix")

    def __init__(self, offset_ms: int, suffix: str, with_ms: bool) -> None:
        self.offset = offset_ms
        self.suffix = suffix
        # Spellings without milliseconds carry whole seconds: event times are truncated to this quantum.
        self.quantum = 1 if with_ms else 1000
        self.fractions = _SECONDS_MS if with_ms else _SECONDS
        self.minutes: dict[int, str] = {}

    def __call__(self, ms: int) -> str:
        local = ms + self.offset
        head = self.minutes.get(local // MINUTE_MS) or self.minute(local // MINUTE_MS)
        return f"{head}{self.fractions[local % MINUTE_MS]}{self.suffix}"

    def minute(self, minute: int) -> str:
        """Text of one (local) minute, ``YYYY-MM-DDTHH:MM:``, cached."""
        if len(self.minutes) > 100_000:  # over two months of minutes: forget them, times only move on
            self.minutes.clear()
        head = (_EPOCH + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:")
        self.minutes[minute] = head
        return head


# Position within a minute (ms) -> "SS.mmm" / "SS".
_SECONDS_MS = tuple(f"{ms // 1000:02d}.{ms % 1000:03d}" for ms in range(MINUTE_MS))
_SECONDS = tuple(f"{ms // 1000:02d}" for ms in range(MINUTE_MS))


class _Channel:
    __slots__ = ("activity", "category", "id", "index", "js", "owner_js", "preferred_minute", "weight")

    def __init__(self, index: int, rng: random.Random) -> None:
        self.index = index
        # One channel id with non-ASCII text: ids are strings, any Unicode (docs/contract.md).
        self.id = f"ch-{index + 1:04d}" + ("-直播" if index == 6 else "")
        self.js = _json_str(self.id)
        self.owner_js = _json_str(f"owner-{self.id}")
        self.weight = 1.0 / (index + 1) ** 0.8  # Zipf-like popularity
        self.category = CATEGORIES[(index * 5 + 1) % len(CATEGORIES)] if index else "music"
        # Preferred start (UTC minute of day): China evening mostly; US evening for every fourth channel, so
        # those streams run across midnight UTC.
        if index % 4 == 1:
            self.preferred_minute = rng.randrange(21 * 60, 23 * 60 + 30)
        else:
            self.preferred_minute = rng.choice((6, 10, 11, 12, 12, 13, 14)) * 60 + rng.randrange(0, 60)
        self.activity = rng.uniform(0.8, 2.6)  # mean streams per day


class _Stream:
    __slots__ = ("channel", "end", "id", "js", "key", "start")

    def __init__(self, stream_id: str, channel: _Channel, start: int, end: int) -> None:
        self.id = stream_id
        self.js = _json_str(stream_id)
        self.key = stream_id.encode()
        self.channel = channel
        self.start = start
        self.end = end


class _Campaign:
    __slots__ = ("channel", "creatives", "ctr", "first_day", "id", "id_js", "last_day", "pricing", "tail", "weight")

    def __init__(self, index: int, days: int, rng: random.Random) -> None:
        self.id = f"cmp-{CAMPAIGN_NAMES[index % len(CAMPAIGN_NAMES)]}-{index + 1:02d}"
        self.id_js = _json_str(self.id)
        self.channel = CAMPAIGN_CHANNELS[index % len(CAMPAIGN_CHANNELS)]
        self.tail = f',"campaign_id":{self.id_js},"channel":"{self.channel}"'
        self.creatives = tuple(f"cr-{index + 1}-{j}" for j in range(rng.randint(2, 4)))
        self.ctr = rng.uniform(0.02, 0.06)
        self.pricing = "cpc" if index % 2 else "cpm"
        self.weight = rng.uniform(0.5, 1.5)
        # Long simulations: every fourth campaign runs only in the second half.
        self.first_day = days // 2 if days >= 4 and index % 4 == 3 else 0
        self.last_day = days - 1


class _Simulation:
    """The state of one simulation run; :meth:`run` is the generator behind :func:`simulate`."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        rng = self.rng = random.Random(config.seed)
        self.chat_js = _CHAT_JS if config.hostile_text else _PLAIN_CHAT_JS
        self.comment_js = _COMMENT_JS if config.hostile_text else _PLAIN_COMMENT_JS
        self.random = rng.random
        tag = config.run_tag
        self.eid_prefix = f"ev-{tag}-"
        self.sid_prefix = f"se-{tag}-"
        self.stream_prefix = f"st-{tag}-"
        self.next_event = 0
        self.next_session = 0
        self.next_stream = 0
        self.topic = {family: config.topics[family] for family in FAMILIES}
        self.family_of = {topic: family for family, topic in self.topic.items()}
        self.buckets: defaultdict[int, list[_Item]] = defaultdict(list)
        start = datetime(config.start_date.year, config.start_date.month, config.start_date.day, tzinfo=UTC)
        self.start_ms = int(start.timestamp()) * 1000
        self.horizon = self.start_ms + config.days * DAY_MS

        # At-least-once delivery: thresholds on one uniform draw per valid event.
        self.late_threshold = config.late_rate
        self.dup_threshold = self.late_threshold + config.duplicate_rate
        self.special_threshold = self.dup_threshold + config.malformed_rate
        self.malformed_count = 0

        if config.timestamp_variety:
            formats = [(_TimeFormat(o, s, m), w) for o, s, m, w in TIME_FORMATS]
        else:
            formats = [(_TimeFormat(0, "Z", True), 1)]
        self.time_formats: tuple[_TimeFormat, ...] = _weighted_table(tuple(formats))

        self.channels = [_Channel(i, rng) for i in range(config.channels)]
        self.busy_until = [0] * config.channels
        self.streams: list[_Stream] = []
        self.campaigns = [_Campaign(i, config.days, rng) for i in range(config.campaigns)]
        self.active_campaigns: list[_Campaign] = []

        # Users: index -> id f"u{index:07d}". A pool with heavy-tailed activity weights; new users join it
        # the day after they sign up (pending until then).
        self.next_user = config.initial_users
        self.pool_users: list[int] = list(range(config.initial_users))
        self.pool_weights: list[float] = [self._user_weight() for _ in range(config.initial_users)]
        self.pool_cum: list[float] = []
        self.pending_users: list[tuple[int, int, float]] = []  # (signup_ms, index, weight)
        self.signup_campaign: dict[int, tuple[_Campaign, int]] = {}  # user -> (campaign, signup_ms)
        self.prospects: list[int] = []
        self.devices = max(10, config.initial_users // 3)
        self.pending_sessions: defaultdict[int, list[tuple[int, int, str, _Campaign | None]]] = defaultdict(list)

        # Traffic per day relative to the mean: weekday pattern and noise; with a target, the run's mean is 1.
        factors = [
            _WEEKDAY_FACTORS[(config.start_date + timedelta(days=d)).weekday()] * rng.uniform(0.93, 1.07)
            for d in range(config.days)
        ]
        if config.target_events is not None:
            mean = sum(factors) / len(factors)
            factors = [f / mean for f in factors]
        self.day_factors = factors

        # Minute-of-day demand curve (UTC minutes), evening peak in China time plus a US evening bump.
        self.diurnal = [self._diurnal(m) for m in range(1440)]
        self.session_rate = [0.0] * 1440
        self.impression_rate = 0.0
        self.organic_signup_rate = 0.0

    # ---- small helpers --------------------------------------------------------------------------------

    def _user_weight(self) -> float:
        return min(40.0, self.rng.paretovariate(1.3))

    @staticmethod
    def _diurnal(minute: int) -> float:
        hour_cst = ((minute + 8 * 60) % 1440) / 60.0

        def bump(center: float, width: float) -> float:
            d = min(abs(hour_cst - center), 24 - abs(hour_cst - center))
            return math.exp(-0.5 * (d / width) ** 2)

        return 0.12 + bump(21.0, 2.2) + 0.35 * bump(13.0, 2.0) + 0.2 * bump(9.5, 1.5)

    def _event_id(self) -> str:
        n = self.next_event
        self.next_event = n + 1
        return f"{self.eid_prefix}{n}"

    def _time_format(self) -> _TimeFormat:
        formats = self.time_formats
        return formats[int(self.random() * len(formats))]

    def _pick_user(self) -> int:
        cum = self.pool_cum
        return self.pool_users[bisect.bisect_right(cum, self.random() * cum[-1])]

    @staticmethod
    def _user_id(index: int) -> str:
        return f"u{index:07d}"

    def _device_id(self, index: int) -> str:
        return f"dev-{(index * 0x9E3779B97F4A7C15 + self.config.seed) & 0xFFFFFFFFFFFF:012x}"

    def _put(self, t: int, topic: str, key: bytes, value: bytes) -> None:
        """Schedule a valid event for emission at its event time (or late, or twice, or with a bad twin)."""
        r = self.random()
        if r < self.special_threshold:
            self._special(r, t, topic, key, value)
        else:
            self.buckets[t // MINUTE_MS].append((t, topic, key, value, t, None, None, False, False))

    def _special(self, r: float, t: int, topic: str, key: bytes, value: bytes) -> None:
        buckets = self.buckets
        if r < self.late_threshold:
            u = self.random()
            if u < 0.6:
                delay = self.rng.randrange(HOUR_MS, 6 * HOUR_MS)
            elif u < 0.9:
                delay = self.rng.randrange(6 * HOUR_MS, 24 * HOUR_MS)
            else:
                delay = self.rng.randrange(24 * HOUR_MS, 48 * HOUR_MS)
            emit = t + delay
            buckets[emit // MINUTE_MS].append((emit, topic, key, value, t, None, None, False, True))
            return
        buckets[t // MINUTE_MS].append((t, topic, key, value, t, None, None, False, False))
        if r < self.dup_threshold:
            u = self.random()
            if u < 0.7:  # a producer retry
                delay = self.rng.randrange(100, 30_000)
            elif u < 0.95:  # a replayed batch
                delay = self.rng.randrange(MINUTE_MS, HOUR_MS)
            else:
                delay = self.rng.randrange(HOUR_MS, 12 * HOUR_MS)
            emit = t + delay
            buckets[emit // MINUTE_MS].append((emit, topic, key, value, t, None, None, True, False))
        else:
            self._malformed(t, topic, key, value)

    # ---- malformed messages ---------------------------------------------------------------------------

    def _malformed(self, t: int, topic: str, key: bytes, value: bytes) -> None:
        """Emit, at ``t``, a broken twin of a valid event (new event_id) with exactly one defect."""
        n = self.malformed_count
        self.malformed_count = n + 1
        reason = REASONS[n % len(REASONS)]
        variant = n // len(REASONS)
        doc: dict[str, Any] = json.loads(value)
        doc["event_id"] = self._event_id()
        event_type = _EVENT_TYPES[(self.family_of[topic], doc["event_type"])]
        bad_key: bytes | None = key if variant % 3 else None
        field_name: str | None = None
        raw: bytes
        if reason == "invalid_json":
            good = _dumps(doc)
            raw = (good[: len(good) // 2], good[:-1] + b",}", b"\xff\xfe" + good[2:20], b"not json")[variant % 4]
        elif reason == "not_an_object":
            raw = (_dumps([doc]), b'"an event"', b"42", b"null", b"true")[variant % 5]
        elif reason == "missing_field":
            names = _REQUIRED_ENVELOPE + tuple(f.name for f in event_type.fields if not f.nullable)
            field_name = names[variant % len(names)]
            doc.pop(field_name, None)
            raw = _dumps(doc)
        elif reason == "wrong_type":
            field_name, doc[field_name] = self._wrong_type(doc, event_type, variant)
            raw = _dumps(doc)
        elif reason == "out_of_range":
            field_name, doc[field_name] = self._out_of_range(doc, event_type, variant)
            raw = _dumps(doc)
        elif reason == "unknown_event_type":
            field_name = "event_type"
            other = [x.name for x in EVENT_TYPES if x.family != event_type.family]
            doc["event_type"] = (other[variant % len(other)], "session_pause", "Heartbeat", "superchat")[variant % 4]
            raw = _dumps(doc)
        elif reason == "unsupported_schema_version":
            field_name = "schema_version"
            doc["schema_version"] = (2, 0, 99)[variant % 3]
            raw = _dumps(doc)
        else:  # bad_timestamp
            field_name = "event_time"
            good_time = str(doc["event_time"])
            doc["event_time"] = (
                good_time[:19],  # no offset
                good_time[:10] + " " + good_time[11:19],  # no offset, space separator
                "2026-13-01T10:00:00Z",
                "2026-11-31T10:00:00Z",
                "2026-11-01T25:61:00+08:00",
                "yesterday",
                str(t // 1000),  # epoch seconds as text
            )[variant % 7]
            raw = _dumps(doc)
        self.buckets[t // MINUTE_MS].append((t, topic, bad_key, raw, t, reason, field_name, False, False))

    @staticmethod
    def _wrong_type(doc: dict[str, Any], event_type: EventType, variant: int) -> tuple[str, Any]:
        fields = [f for f in event_type.fields if f.kind in ("string", "int")]
        candidates = [*fields, *(f for f in ENVELOPE if f.name in ("user_id", "is_anonymous"))]
        chosen = candidates[variant % len(candidates)]
        current = doc.get(chosen.name)
        if chosen.kind == "int":
            if variant % 2 or current is None:
                return chosen.name, f"{current if current is not None else 1}"
            return chosen.name, float(current) + 0.5
        if chosen.kind == "bool":
            return chosen.name, "true"
        return chosen.name, (12345, ["x"], {"text": current})[variant % 3]

    @staticmethod
    def _out_of_range(doc: dict[str, Any], event_type: EventType, variant: int) -> tuple[str, Any]:
        constrained = [
            f
            for f in (*event_type.fields, *ENVELOPE)
            if f.choices or f.min is not None or f.max is not None or f.pattern or (f.max_len and f.kind == "string")
        ]
        chosen = constrained[variant % len(constrained)]
        if chosen.choices:
            upper = str(doc.get(chosen.name) or "bogus").upper()
            return chosen.name, upper if upper not in chosen.choices else "bogus"
        if chosen.pattern:
            return chosen.name, ("usa", "CHN", "C1")[variant % 3]
        if chosen.max_len:
            return chosen.name, "z" * (chosen.max_len + 1)
        if chosen.name == "score":
            low, high = SURVEY_SCORE_RANGES[str(doc.get("survey"))]
            return "score", high + 1 if variant % 2 or low == 0 else low - 1
        if chosen.max is not None and (variant % 2 or chosen.min is None):
            return chosen.name, chosen.max + 1 + variant
        return chosen.name, (chosen.min or 0) - 1 - variant % 1000

    # ---- the day plan: streams -----------------------------------------------------------------------

    def _plan_day(self, day: int) -> None:
        rng = self.rng
        day_start = self.start_ms + day * DAY_MS
        day_end = day_start + DAY_MS
        self.streams = [s for s in self.streams if s.end > day_start]
        for channel in self.channels:
            busy = max(self.busy_until[channel.index], day_start)
            if channel.index == 0:
                # Around the clock: back-to-back streams with hand-overs near 06:00 and 18:00 UTC, so one
                # stream runs across every midnight.
                start = busy + rng.randrange(MINUTE_MS, 8 * MINUTE_MS)
                while start < day_end:
                    # The next hand-over at least 30 min after the start (half_days is -1 before 05:30).
                    half_days = (start + 30 * MINUTE_MS - day_start - 6 * HOUR_MS) // (12 * HOUR_MS)
                    handover = day_start + 6 * HOUR_MS + (half_days + 1) * 12 * HOUR_MS
                    end = handover + rng.randrange(-10 * MINUTE_MS, 10 * MINUTE_MS)
                    self._start_stream(channel, start, end)
                    start = end + rng.randrange(MINUTE_MS, 8 * MINUTE_MS)
                continue
            count = int(channel.activity * rng.uniform(0.6, 1.4) + rng.random())
            start = day_start + channel.preferred_minute * MINUTE_MS + int(rng.gauss(0, 50) * MINUTE_MS)
            for _ in range(count):
                start = max(start, busy + 15 * MINUTE_MS, day_start)
                if start >= day_end:
                    break
                minutes = min(600.0, max(20.0, rng.lognormvariate(math.log(150), 0.5)))
                end = start + int(minutes * MINUTE_MS)
                self._start_stream(channel, start, end)
                busy = end
                start = end + rng.randrange(30 * MINUTE_MS, 240 * MINUTE_MS)

        # Session demand: the day's mean spread over the minutes when something is live.
        live = [False] * 1440
        for s in self.streams:
            first = max(0, (s.start - day_start) // MINUTE_MS)
            last = min(1440, -(-(s.end - day_start) // MINUTE_MS))
            for m in range(first, last):
                live[m] = True
        day_factor = self.day_factors[day]
        total = sum(w for w, on in zip(self.diurnal, live, strict=True) if on) or 1.0
        sessions = self.config.sessions_per_day * day_factor
        self.session_rate = [sessions * w / total if on else 0.0 for w, on in zip(self.diurnal, live, strict=True)]

        # Users who signed up before today join the pool.
        joined = [p for p in self.pending_users if p[0] < day_start]
        self.pending_users = [p for p in self.pending_users if p[0] >= day_start]
        for _, index, weight in joined:
            self.pool_users.append(index)
            self.pool_weights.append(weight)
        cum, acc = [], 0.0
        for w in self.pool_weights:
            acc += w
            cum.append(acc)
        self.pool_cum = cum

        self.active_campaigns = [c for c in self.campaigns if c.first_day <= day <= c.last_day]
        diurnal_total = sum(self.diurnal)
        self.impression_rate = 1.0 * sessions / diurnal_total if self.active_campaigns else 0.0
        signups = 0.004 * self.config.initial_users * day_factor
        self.organic_signup_rate = signups / diurnal_total if self.campaigns else 0.0

    def _start_stream(self, channel: _Channel, start: int, end: int) -> None:
        rng = self.rng
        n = self.next_stream
        self.next_stream = n + 1
        stream = _Stream(f"{self.stream_prefix}{n}", channel, start, end)
        self.streams.append(stream)
        self.busy_until[channel.index] = end
        head = f',"schema_version":1,"user_id":{channel.owner_js},"stream_id":{stream.js},"channel_id":{channel.js}'
        category = channel.category if rng.random() < 0.8 else rng.choice(CATEGORIES)
        titles = TITLES if self.config.hostile_text else _PLAIN_TITLES
        title = _json_str(titles[n % len(titles)])  # in turn, so that even a short run shows every oddity
        self._put_stream_event(start, "stream_start", head + f',"category":"{category}","title":{title}', stream)
        if rng.random() < 0.3:
            changes = sorted(rng.randrange(start + 1000, end) for _ in range(rng.randint(1, 2)))
            for t in changes:
                category = rng.choice([c for c in CATEGORIES if c != category])
                self._put_stream_event(t, "category_change", head + f',"category":"{category}"', stream)
        self._put_stream_event(end, "stream_end", head, stream)

    def _put_stream_event(self, t: int, event_type: str, body: str, stream: _Stream) -> None:
        if t >= self.horizon:
            return
        fmt = self._time_format()
        t -= t % fmt.quantum
        value = f'{{"event_id":"{self._event_id()}","event_type":"{event_type}","event_time":"{fmt(t)}"{body}}}'
        self._put(t, self.topic["stream"], stream.key, value.encode())

    # ---- campaigns and sign-ups ----------------------------------------------------------------------

    def _campaign_minute(self, bucket_start: int, minute_of_day: int) -> None:
        rng = self.rng
        random_ = self.random
        weight = self.diurnal[minute_of_day]
        if self.active_campaigns:
            for _ in range(int(self.impression_rate * weight + random_())):
                t = bucket_start + int(random_() * MINUTE_MS)
                campaign = self.active_campaigns[int(random_() * len(self.active_campaigns))]
                prospect = random_() < 0.5
                if prospect:
                    if self.prospects and random_() < 0.5:
                        user = self.prospects[int(random_() * len(self.prospects))]
                    else:
                        user = self.next_user
                        self.next_user += 1
                        self.prospects.append(user)
                        if len(self.prospects) > 2000:
                            self.prospects = self.prospects[1000:]
                else:
                    user = self._pick_user()
                uid = self._user_id(user)
                key = uid.encode()
                head = f',"schema_version":1,"user_id":"{uid}"' + ("" if random_() < 0.5 else ',"is_anonymous":false')
                creative = campaign.creatives[int(random_() * len(campaign.creatives))]
                cost = rng.randrange(500, 15_000) if campaign.pricing == "cpm" else 0
                self._put_campaign_event(
                    t, "impression", head + campaign.tail + f',"creative_id":"{creative}","cost_micros":{cost}', key
                )
                if random_() >= campaign.ctr:
                    continue
                t += 1000 + int(rng.expovariate(1 / 20_000))
                cost = rng.randrange(150_000, 1_500_000) if campaign.pricing == "cpc" else 0
                self._put_campaign_event(
                    t, "click", head + campaign.tail + f',"creative_id":"{creative}","cost_micros":{cost}', key
                )
                if not prospect:
                    if random_() < 0.5:
                        self._schedule_session(t + rng.randrange(2000, 30_000), user, "campaign", campaign)
                elif random_() < 0.35:
                    u = random_()
                    if u < 0.7:
                        delay = rng.randrange(MINUTE_MS, 20 * MINUTE_MS)
                    elif u < 0.92:
                        delay = rng.randrange(HOUR_MS, 6 * DAY_MS)
                    else:  # outside the 7-day last-click window: organic by attribution
                        delay = rng.randrange(8 * DAY_MS, 12 * DAY_MS)
                    self.prospects.remove(user)  # signs up once
                    self._signup(t + delay, user, campaign, "campaign")
        for _ in range(int(self.organic_signup_rate * weight + random_())):
            user = self.next_user
            self.next_user += 1
            # The platform "believes" some campaign; attribution (by clicks) will find none: organic.
            believed = self.campaigns[int(random_() * len(self.campaigns))]
            self._signup(bucket_start + int(random_() * MINUTE_MS), user, believed, "home")

    def _signup(self, t: int, user: int, campaign: _Campaign, source: str) -> None:
        if t >= self.horizon:
            return
        uid = self._user_id(user)
        self._put_campaign_event(t, "signup", f',"schema_version":1,"user_id":"{uid}"' + campaign.tail, uid.encode())
        self.pending_users.append((t, user, self._user_weight() + 1.0))
        if source == "campaign":
            self.signup_campaign[user] = (campaign, t)
        # A new user starts watching within minutes.
        self._schedule_session(t + self.rng.randrange(30_000, 15 * MINUTE_MS), user, source, campaign)

    def _put_campaign_event(self, t: int, event_type: str, body: str, key: bytes) -> None:
        if t >= self.horizon:
            return
        fmt = self._time_format()
        t -= t % fmt.quantum
        value = f'{{"event_id":"{self._event_id()}","event_type":"{event_type}","event_time":"{fmt(t)}"{body}}}'
        self._put(t, self.topic["campaign"], key, value.encode())

    def _schedule_session(self, t: int, user: int, source: str, campaign: _Campaign | None) -> None:
        if t < self.horizon:
            self.pending_sessions[t // MINUTE_MS].append((t, user, source, campaign if source == "campaign" else None))

    # ---- viewing sessions ----------------------------------------------------------------------------

    def _sessions_minute(self, bucket: int, minute_of_day: int) -> None:
        bucket_start = bucket * MINUTE_MS
        bucket_end = bucket_start + MINUTE_MS
        pending = self.pending_sessions.pop(bucket, ())
        rate = self.session_rate[minute_of_day]
        if not rate and not pending:
            return
        live = [s for s in self.streams if s.start < bucket_end and s.end > bucket_start]
        if not live:
            return
        cum, acc = [], 0.0
        for s in live:
            acc += s.channel.weight
            cum.append(acc)
        random_ = self.random
        for _ in range(int(rate + random_())):
            stream = live[bisect.bisect_right(cum, random_() * acc)]
            # A second of margin: event times written without milliseconds are truncated to the second.
            lo = max(bucket_start, stream.start + 1000)
            hi = min(bucket_end, stream.end - 1000)
            if lo >= hi:
                continue
            t0 = lo + int(random_() * (hi - lo))
            if random_() < 0.08:
                source = SOURCE_TABLE[int(random_() * len(SOURCE_TABLE))]
                self._session(
                    t0, stream, None, self._weighted_device(), "external" if source == "campaign" else source, None
                )
            else:
                source = SOURCE_TABLE[int(random_() * len(SOURCE_TABLE))]
                campaign = None
                if source == "campaign":
                    if not self.active_campaigns:
                        source = "home"
                    else:
                        campaign = self.active_campaigns[int(random_() * len(self.active_campaigns))]
                self._session(t0, stream, self._pick_user(), -1, source, campaign)
        for t0, user, source, campaign in pending:
            candidates = [s for s in live if s.start + 1000 <= t0 < s.end - 1000]
            if candidates:
                stream = candidates[int(random_() * len(candidates))]
                self._session(t0, stream, user, -1, source, campaign)

    def _weighted_device(self) -> int:
        # Device pool skewed to low indices so that anonymous devices come back.
        return int(self.devices * self.random() ** 2)

    def _session(
        self, t0: int, stream: _Stream, user: int | None, device: int, source: str, campaign: _Campaign | None
    ) -> None:
        """Generate every event of one viewing session starting at ``t0``."""
        rng = self.rng
        random_ = self.random
        buckets = self.buckets
        topic = self.topic["viewer"]
        channel = stream.channel
        n = self.next_session
        self.next_session = n + 1
        sid = f"{self.sid_prefix}{n}"
        key = sid.encode()

        if user is None:
            uid = self._device_id(device)
            user_part = f',"schema_version":1,"user_id":"{uid}","is_anonymous":true'
            country: str | None = COUNTRY_TABLE[(device * 2654435761 >> 5) % len(COUNTRY_TABLE)]
            device_name = DEVICE_TABLE[(device * 40503 >> 3) % len(DEVICE_TABLE)]
        else:
            uid = self._user_id(user)
            user_part = f',"schema_version":1,"user_id":"{uid}"' + ("" if random_() < 0.6 else ',"is_anonymous":false')
            country = COUNTRY_TABLE[(user * 2654435761 >> 5) % len(COUNTRY_TABLE)]
            if random_() < 0.15:
                device_name = DEVICE_TABLE[int(random_() * len(DEVICE_TABLE))]
            else:
                device_name = DEVICE_TABLE[(user * 40503 >> 3) % len(DEVICE_TABLE)]
        if random_() < 0.03:
            country = None
        session_part = f'{user_part},"session_id":"{sid}","stream_id":{stream.js},"channel_id":{channel.js}'
        fmt = self.time_formats[int(random_() * len(self.time_formats))]
        quantum = fmt.quantum

        # Duration: log-normal around 15 min, at most 8 h; the stream's end ends the session too.
        duration = int(min(480.0, rng.lognormvariate(2.7, 1.0)) * MINUTE_MS) + 5000
        end = t0 + duration
        if end >= stream.end:
            end = stream.end + int(random_() * 15_000)
            reason = "stream_ended"
        else:
            reason = END_REASON_TABLE[int(random_() * len(END_REASON_TABLE))]
        cap = min(end, self.horizon)
        eid_prefix = self.eid_prefix

        if random_() >= 0.015:  # a few session_start events are lost upstream
            if random_() < 0.02:
                startup = "null"
            else:
                startup_ms = int(rng.lognormvariate(6.8, 0.55))
                if random_() < 0.01:
                    startup_ms *= 10
                startup = str(min(startup_ms, 120_000))
            country_js = f'"{country}"' if country else "null"
            campaign_js = campaign.id_js if campaign is not None else "null"
            t = t0 - t0 % quantum
            self._put(
                t, topic, key,
                (f'{{"event_id":"{self._event_id()}","event_type":"session_start","event_time":"{fmt(t)}"'
                 f'{session_part},"country":{country_js},"device":"{device_name}","source":"{source}",'
                 f'"campaign_id":{campaign_js},"startup_ms":{startup}}}').encode(),
            )  # fmt: skip

        # Heartbeats every 60 s (each player's clock drifts a little; now and then one is lost).
        bitrate = BITRATE_BY_DEVICE[device_name] * rng.choice((6, 8, 10, 12)) // 10
        bitrate_text = "null" if random_() < 0.02 else str(bitrate)
        buffering_p = 0.35 if random_() < 0.12 else 0.03
        special = self.special_threshold
        hb_part = session_part + ',"buffering_ms":'
        interval = MINUTE_MS + rng.randrange(-300, 301)
        offset = fmt.offset
        minutes_get = fmt.minutes.get
        fractions = fmt.fractions
        suffix = fmt.suffix
        t = t0 + interval
        n_event = self.next_event
        while t < cap:
            ht = t - t % quantum
            t += interval
            r = random_()
            if r < buffering_p:
                if r < 0.003:
                    continue
                buffering = str(min(60_000, int(rng.expovariate(1 / 2500)) + 50))
                if bitrate_text != "null" and r < buffering_p / 4:
                    bitrate_text = str(max(300, int(bitrate_text) * 2 // 3))
            else:
                buffering = "0"
            local = ht + offset
            head = minutes_get(local // MINUTE_MS) or fmt.minute(local // MINUTE_MS)
            value = (
                f'{{"event_id":"{eid_prefix}{n_event}","event_type":"heartbeat",'
                f'"event_time":"{head}{fractions[local % MINUTE_MS]}{suffix}"'
                f'{hb_part}{buffering},"bitrate_kbps":{bitrate_text}}}'
            ).encode()
            n_event += 1
            r = random_()
            if r < special:
                self.next_event = n_event
                self._special(r, ht, topic, key, value)
                n_event = self.next_event
            else:
                buckets[ht // MINUTE_MS].append((ht, topic, key, value, ht, None, None, False, False))
        self.next_event = n_event

        if end < self.horizon and random_() >= 0.03:  # the app is sometimes killed: no session_end
            t = end - end % quantum
            self._put(
                t, topic, key,
                (f'{{"event_id":"{self._event_id()}","event_type":"session_end","event_time":"{fmt(t)}"'
                 f'{session_part},"reason":"{reason}"}}').encode(),
            )  # fmt: skip

        # Engagement while watching, and while the stream is live.
        engaged_until = min(cap, stream.end - 1000)
        minutes = (engaged_until - t0) / MINUTE_MS
        if minutes > 0:
            anonymous = user is None
            rate = 0.03 if anonymous or random_() < 0.75 else 0.45  # lurkers and chatters
            count = int(rate * minutes * 2 * random_() + random_())
            if count:
                self._engagement(count, t0, engaged_until, stream, user_part, anonymous)
        if user is not None and self.campaigns and cap > t0:
            signed = self.signup_campaign.get(user)
            if signed is not None and t0 - signed[1] > 30 * DAY_MS:
                del self.signup_campaign[user]
                signed = None
            if random_() < (0.08 if signed else 0.01):
                believed = signed[0] if signed else self.campaigns[int(random_() * len(self.campaigns))]
                t = t0 + int(random_() * (cap - t0))
                amount = PURCHASE_CENTS[int(random_() * len(PURCHASE_CENTS))]
                self._put_campaign_event(
                    t, "purchase", f'{user_part}{believed.tail},"amount_cents":{amount}', uid.encode()
                )

    def _engagement(self, count: int, t0: int, cap: int, stream: _Stream, user_part: str, anonymous: bool) -> None:
        rng = self.rng
        random_ = self.random
        topic = self.topic["engagement"]
        head = f'{user_part},"stream_id":{stream.js},"channel_id":{stream.channel.js}'
        table = ANON_ENGAGEMENT_TABLE if anonymous else ENGAGEMENT_TABLE
        for _ in range(count):
            t = t0 + int(random_() * (cap - t0))
            event_type = table[int(random_() * len(table))]
            if event_type == "chat_message":
                tail = f',"message":{self.chat_js[int(random_() * len(self.chat_js))]}'
            elif event_type in ("like", "follow", "unfollow"):
                tail = ""
            elif event_type == "share":
                tail = f',"target":"{SHARE_TARGET_TABLE[int(random_() * len(SHARE_TARGET_TABLE))]}"'
            elif event_type == "subscribe":
                tier = SUB_TIERS[int(random_() * len(SUB_TIERS))]
                amount = 0 if random_() < 0.1 else SUB_PRICES[tier]  # gifted subscriptions cost the viewer nothing
                tail = f',"tier":{tier},"amount_cents":{amount}'
            elif event_type == "gift":
                gift_id, price = GIFTS[GIFT_TABLE[int(random_() * len(GIFT_TABLE))]]
                quantity = GIFT_QUANTITIES[int(random_() * len(GIFT_QUANTITIES))]
                tail = f',"gift_id":{_json_str(gift_id)},"quantity":{quantity},"amount_cents":{price * quantity}'
            elif event_type == "report":
                reason = REPORT_REASON_TABLE[int(random_() * len(REPORT_REASON_TABLE))]
                tail = f',"reason":"{reason}","comment":{self.comment_js[int(random_() * len(self.comment_js))]}'
            else:  # feedback
                if random_() < 0.6:
                    survey, score = "csat", rng.choice((1, 2, 3, 3, 4, 4, 4, 5, 5, 5))
                else:
                    survey, score = "nps", rng.choice((0, 2, 5, 6, 7, 7, 8, 8, 9, 9, 10, 10))
                tail = f',"survey":"{survey}","score":{score},"comment":{self.comment_js[int(random_() * len(self.comment_js))]}'
            fmt = self._time_format()
            t -= t % fmt.quantum
            value = (
                f'{{"event_id":"{self._event_id()}","event_type":"{event_type}","event_time":"{fmt(t)}"{head}{tail}}}'
            )
            self._put(t, topic, stream.key, value.encode())

    # ---- the run ---------------------------------------------------------------------------------------

    def run(self) -> Iterator[SimMessage]:
        """Yield every message in emission order."""
        new = object.__new__
        set_attr = object.__setattr__
        from_timestamp = datetime.fromtimestamp
        utc = UTC
        buckets = self.buckets
        first_bucket = self.start_ms // MINUTE_MS
        for day in range(self.config.days):
            self._plan_day(day)
            log.debug("simulating day %d: %d streams live or planned", day, len(self.streams))
            for minute in range(1440):
                bucket = first_bucket + day * 1440 + minute
                self._campaign_minute(bucket * MINUTE_MS, minute)
                self._sessions_minute(bucket, minute)
                items = buckets.pop(bucket, None)
                if not items:
                    continue
                items.sort(key=_emit_time)
                for _, topic, key, value, t, reason, field_name, duplicate, late in items:
                    # SimMessage is a plain frozen dataclass: filling its __dict__ directly builds the very
                    # object its __init__ would, three times faster (this loop runs once per message).
                    message = new(SimMessage)
                    set_attr(message, "__dict__", {
                        "topic": topic, "key": key, "value": value, "event_time": from_timestamp(t / 1000, utc),
                        "malformed_reason": reason, "malformed_field": field_name, "duplicate": duplicate,
                        "late": late,
                    })  # fmt: skip
                    yield message
        # Late and duplicate copies due after the last simulated minute.
        for bucket in sorted(buckets):
            for _, topic, key, value, t, reason, field_name, duplicate, late in sorted(buckets[bucket], key=_emit_time):
                yield SimMessage(topic, key, value, from_timestamp(t / 1000, utc), reason, field_name, duplicate, late)
        buckets.clear()


# Sorts calendar entries by emission time; the sort is stable, so ties keep their (deterministic) order.
_emit_time = operator.itemgetter(0)


_CHAT_JS = tuple(_json_str(m) for m in CHAT_MESSAGES)
_COMMENT_JS = tuple("null" if c is None else _json_str(c) for c in COMMENTS)
_PLAIN_TITLES = tuple(t for t in TITLES if ordinary(t))
_PLAIN_CHAT_JS = tuple(_json_str(m) for m in CHAT_MESSAGES if ordinary(m))
_PLAIN_COMMENT_JS = tuple("null" if c is None else _json_str(c) for c in COMMENTS if ordinary(c))


def simulate(config: SimConfig | None = None) -> Iterator[SimMessage]:
    """Yield the simulated traffic of ``config``, message by message, in emission order.

    Valid events come roughly in ``event_time`` order (sorted within each minute); late copies come hours
    after their ``event_time``, duplicates some time after the original, malformed messages right beside
    the valid event they were derived from. Memory stays bounded by the next hours of traffic.

    Args:
        config: what to simulate; the defaults of :class:`SimConfig` when ``None``.

    Returns:
        An iterator of messages; the same config always gives the same messages, byte for byte.
    """
    return _Simulation(config or SimConfig()).run()
