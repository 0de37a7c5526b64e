"""The event contract (``docs/contract.md``) declared once, in code.

Every field list in liveops derives from :data:`EVENT_TYPES`: the per-message validation rules
(``transforms.decode``), the Polars schema of the typed rows (:func:`polars_schema`), the DuckDB DDL of the
raw tables (:func:`duckdb_columns`), and the simulator's output. Nothing else spells out a field list.

Readings of docs/contract.md where it is silent (documented in docs/ingest.md):

- A field documented as "or null" / "may be null" may also be absent; absent means null.
- Enumerations and ISO country codes that do not match are ``out_of_range``.
- An integer must be a JSON integer (``1``, not ``1.0`` or ``"1"``); booleans are not integers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import polars as pl

Kind = Literal["string", "int", "bool", "timestamp"]
Family = Literal["viewer", "engagement", "campaign", "stream"]
FAMILIES: tuple[Family, ...] = ("viewer", "engagement", "campaign", "stream")

SCHEMA_VERSION = 1

# The reason codes of docs/contract.md, in the order a message is checked.
REASONS = (
    "invalid_json",
    "not_an_object",
    "missing_field",
    "wrong_type",
    "out_of_range",
    "unknown_event_type",
    "unsupported_schema_version",
    "bad_timestamp",
)


@dataclass(frozen=True)
class Field:
    """One field of the contract.

    Attributes:
        name: JSON key.
        kind: JSON type expected (``timestamp`` is an RFC 3339 string with an offset).
        nullable: null (or absence) is allowed.
        min_len / max_len: string length bounds, in characters.
        min / max: integer bounds, inclusive.
        choices: allowed string values (an enumeration).
        pattern: regular expression a string must match in full.
    """

    name: str
    kind: Kind = "string"
    nullable: bool = False
    min_len: int | None = None
    max_len: int | None = None
    min: int | None = None
    max: int | None = None
    choices: tuple[str, ...] | None = None
    pattern: str | None = None


@dataclass(frozen=True)
class EventType:
    """One ``event_type`` of one topic family, with its extra fields (beyond the envelope)."""

    family: Family
    name: str
    fields: tuple[Field, ...] = field(default_factory=tuple)


def _id(name: str, nullable: bool = False) -> Field:
    return Field(name, "string", nullable=nullable, min_len=1, max_len=64 if name.endswith("user_id") else None)


# Envelope fields, checked in this order after schema_version and event_type.
ENVELOPE: tuple[Field, ...] = (
    Field("event_id", "string", min_len=1, max_len=64),
    Field("event_type", "string"),
    Field("event_time", "timestamp"),
    Field("schema_version", "int"),
    Field("user_id", "string", min_len=1, max_len=64),
    Field("is_anonymous", "bool", nullable=True),  # optional; absent or null means false
)

DEVICES = ("web", "ios", "android", "tv", "other")
SOURCES = ("home", "search", "follow", "recommendation", "campaign", "external", "other")
END_REASONS = ("user_left", "stream_ended", "error", "other")
SHARE_TARGETS = ("wechat", "weibo", "link", "other")
REPORT_REASONS = ("spam", "abuse", "inappropriate_content", "copyright", "other")
SURVEYS = ("csat", "nps")
CAMPAIGN_CHANNELS = ("paid_social", "search", "push", "email", "in_app", "affiliate", "other")

_SESSION = (_id("session_id"), _id("stream_id"), _id("channel_id"))
_ON_STREAM = (_id("stream_id"), _id("channel_id"))
_CAMPAIGN = (_id("campaign_id"), Field("channel", choices=CAMPAIGN_CHANNELS))
_COMMENT = Field("comment", nullable=True)

EVENT_TYPES: tuple[EventType, ...] = (
    # viewer-events
    EventType("viewer", "session_start", (
        *_SESSION,
        Field("country", nullable=True, pattern=r"[A-Z]{2}"),
        Field("device", choices=DEVICES),
        Field("source", choices=SOURCES),
        _id("campaign_id", nullable=True),
        Field("startup_ms", "int", nullable=True, min=0, max=120_000),
    )),
    EventType("viewer", "heartbeat", (
        *_SESSION,
        Field("buffering_ms", "int", min=0),
        Field("bitrate_kbps", "int", nullable=True, min=0),
    )),
    EventType("viewer", "session_end", (*_SESSION, Field("reason", choices=END_REASONS))),
    # engagement-events
    EventType("engagement", "chat_message", (*_ON_STREAM, Field("message", min_len=0, max_len=500))),
    EventType("engagement", "like", _ON_STREAM),
    EventType("engagement", "share", (*_ON_STREAM, Field("target", choices=SHARE_TARGETS))),
    EventType("engagement", "follow", _ON_STREAM),
    EventType("engagement", "unfollow", _ON_STREAM),
    EventType("engagement", "subscribe", (
        *_ON_STREAM, Field("tier", "int", min=1, max=3), Field("amount_cents", "int", min=0),
    )),
    EventType("engagement", "gift", (
        *_ON_STREAM, _id("gift_id"), Field("quantity", "int", min=1), Field("amount_cents", "int", min=0),
    )),
    EventType("engagement", "report", (*_ON_STREAM, Field("reason", choices=REPORT_REASONS), _COMMENT)),
    # `score`'s range depends on `survey` (1-5 for csat, 0-10 for nps): see SURVEY_SCORE_RANGES.
    EventType("engagement", "feedback", (
        *_ON_STREAM, Field("survey", choices=SURVEYS), Field("score", "int", min=0, max=10), _COMMENT,
    )),
    # campaign-events
    EventType("campaign", "impression", (*_CAMPAIGN, _id("creative_id"), Field("cost_micros", "int", min=0))),
    EventType("campaign", "click", (*_CAMPAIGN, _id("creative_id"), Field("cost_micros", "int", min=0))),
    EventType("campaign", "signup", _CAMPAIGN),
    EventType("campaign", "purchase", (*_CAMPAIGN, Field("amount_cents", "int", min=0))),
    # stream-events
    EventType("stream", "stream_start", (
        *_ON_STREAM, Field("category"), Field("title", min_len=0, max_len=200),
    )),
    EventType("stream", "category_change", (*_ON_STREAM, Field("category"))),
    EventType("stream", "stream_end", _ON_STREAM),
)  # fmt: skip

SURVEY_SCORE_RANGES: dict[str, tuple[int, int]] = {"csat": (1, 5), "nps": (0, 10)}


def event_types(family: Family) -> tuple[EventType, ...]:
    """The event types carried by one topic family."""
    return tuple(t for t in EVENT_TYPES if t.family == family)


def family_fields(family: Family) -> tuple[Field, ...]:
    """The union of the extra fields of a family's event types, first declaration wins, in declared order.

    A field that is required for one event type is nullable in the family's table (other types lack it).
    """
    seen: dict[str, Field] = {}
    for event_type in event_types(family):
        for f in event_type.fields:
            seen.setdefault(f.name, f)
    return tuple(seen.values())


_POLARS: dict[Kind, pl.DataType] = {
    "string": pl.String(),
    "int": pl.Int64(),
    "bool": pl.Boolean(),
    "timestamp": pl.Datetime("us", "UTC"),
}

# Columns every raw table carries besides the contract's fields: where the message came from.
SOURCE_COLUMNS: dict[str, pl.DataType] = {
    "kafka_topic": pl.String(),
    "kafka_partition": pl.Int32(),
    "kafka_offset": pl.Int64(),
    "kafka_timestamp": pl.Datetime("us", "UTC"),
}


# A raw Kafka message as the ingest reads it (timestamp in ms since the epoch, as Kafka gives it).
MESSAGE_SCHEMA = pl.Schema(
    {
        "topic": pl.String(),
        "partition": pl.Int32(),
        "offset": pl.Int64(),
        "timestamp_ms": pl.Int64(),
        "key": pl.Binary(),
        "value": pl.Binary(),
    }
)


def envelope_schema() -> dict[str, pl.DataType]:
    """Polars dtypes of the envelope columns (``is_anonymous`` filled with false)."""
    return {f.name: _POLARS[f.kind] for f in ENVELOPE}


def polars_schema(family: Family) -> pl.Schema:
    """Polars schema of a family's typed rows: envelope, the family's fields, then source columns."""
    columns = envelope_schema()
    columns.update({f.name: _POLARS[f.kind] for f in family_fields(family)})
    columns.update(SOURCE_COLUMNS)
    return pl.Schema(columns)


def duckdb_type(dtype: pl.DataType) -> str:
    """DuckDB column type of a Polars dtype used by the contract."""
    if dtype == pl.Datetime("us", "UTC"):
        return "TIMESTAMPTZ"
    mapping = {pl.String(): "VARCHAR", pl.Int64(): "BIGINT", pl.Int32(): "INTEGER", pl.Boolean(): "BOOLEAN"}
    return mapping[dtype]


def duckdb_columns(family: Family) -> list[tuple[str, str]]:
    """``(name, DuckDB type)`` of a family's raw table, in the order of :func:`polars_schema`."""
    return [(name, duckdb_type(dtype)) for name, dtype in polars_schema(family).items()]
