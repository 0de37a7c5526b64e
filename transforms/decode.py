"""Decode and validate a micro-batch of Kafka messages against the event contract.

Input: one frame of raw messages (:data:`MESSAGE_SCHEMA`). Output: typed, valid rows per topic family (the
columns of :func:`schemas.events.polars_schema`) and quarantined messages with a reason code and field.

Two paths, one result. The **fast path** (:func:`_fast_decode`) types the messages that are valid beyond
doubt: native code (``native/liveops_native.c``, one call a family's part, without the GIL) reads the values
in place from their Arrow buffers, accepts a message only when it is strict RFC 8259 JSON holding a valid
event of one of the family's event types (types, lengths, integer bounds, enumerations, no repeated or
undeclared key, the timestamp's plain shape, its calendar and range), and writes the accepted ones' typed
columns as Arrow buffers; the two rules it leaves (patterns, the survey's score range) are Polars expressions
on those columns. Every other message — invalid, or valid in a form the fast path does not cover — goes to
the **rules path** (:func:`_rules_decode`), unchanged: DuckDB's JSON functions tokenise each value into a type
tag and a text per contract field, and every rule of the contract, in order, is a Polars expression generated
from :mod:`schemas.events`; it gives the reason codes. Since only valid messages leave the fast path, the
reason codes and their order are the rules path's; ``decode_messages(..., fast=False)`` runs the rules path
alone, which the tests compare the fast path with.

Strict JSON on the rules path: DuckDB's parser is lenient (it takes ``NaN``, trailing commas and more), so
each value must also pass orjson, a strict RFC 8259 parser, and a top-level object may not repeat a name;
otherwise the message is ``invalid_json`` (docs/ingest.md, "What counts as valid JSON and a valid timestamp").
The in-memory DuckDB connection used here does no I/O.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb
import liveops_native
import orjson
import polars as pl
import pyarrow as pa

from schemas.events import (
    ENVELOPE,
    EVENT_TYPES,
    FAMILIES,
    MESSAGE_SCHEMA,
    SCHEMA_VERSION,
    SOURCE_COLUMNS,
    SURVEY_SCORE_RANGES,
    EventType,
    Family,
    Field,
    event_types,
    family_fields,
    polars_schema,
)

QUARANTINE_SCHEMA = pl.Schema(
    {
        "kafka_topic": pl.String(),
        "kafka_partition": pl.Int32(),
        "kafka_offset": pl.Int64(),
        "kafka_timestamp": pl.Datetime("us", "UTC"),
        "raw_value": pl.Binary(),
        "raw_text": pl.String(),
        "reason": pl.String(),
        "field": pl.String(),
        "event_id": pl.String(),
        "event_type": pl.String(),
    }
)

# RFC 3339 section 5.6 ``date-time``, ASCII only: `T`/`t`, seconds required, fraction optional, offset `Z`/`z`
# or ``±HH:MM``. Field bounds (hour <= 23, minute and second <= 59, offset hour <= 23) are in the pattern; the
# calendar (month lengths, February 29 only in leap years) is checked by the parse. A leap second (`:60`) is
# rejected: it cannot be represented and must not silently become the next minute.
RFC3339_PATTERN = (
    r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)
# The normalised text (upper-case `T`, fraction cut to microseconds, `Z` as `+00:00`) is parsed with this.
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%:z"
# The plausible range of event_time (UTC, start inclusive, end exclusive): an event outside it is `out_of_range`.
EVENT_TIME_MIN = datetime(2000, 1, 1, tzinfo=UTC)
EVENT_TIME_END = datetime(2100, 1, 1, tzinfo=UTC)
_INT_TAGS = ("BIGINT",)


@dataclass(frozen=True)
class Decoded:
    """One decoded batch.

    Attributes:
        valid: typed rows per family, deduplicated within the batch (first by topic, partition, offset).
        quarantine: messages that break the contract, with reason and field.
        duplicates_in_batch: valid messages dropped because an earlier message of the batch had their event_id
            (on the same UTC day of event_time).
        unknown_fields: count of extra fields that the contract does not declare (allowed, counted).
    """

    valid: dict[Family, pl.DataFrame]
    quarantine: pl.DataFrame
    duplicates_in_batch: int
    unknown_fields: int


def _family_field_names(family: Family) -> list[str]:
    return [f.name for f in ENVELOPE] + [f.name for f in family_fields(family) if f.name not in {"event_id"}]


@functools.cache
def _json_engine() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB for the process (opening one costs ~0.1 s); each call takes its own cursor."""
    return duckdb.connect(":memory:")


def _tokenise(values: pa.Array, names: list[str]) -> pl.DataFrame:
    """Per message: its text, JSON validity, top-level type, number of keys, and per field its JSON fragment.

    The text is null where the value is not valid UTF-8 (it is ``invalid_json``). A field's fragment is null
    when the key is absent, ``null`` for a JSON null, else the value's JSON text.
    """
    paths = ", ".join("'$.\"" + name + "\"'" for name in names)
    columns = ", ".join(f'fragments[{i + 1}] AS "j:{name}"' for i, name in enumerate(names))
    con = _json_engine().cursor()
    try:
        con.register("messages", pa.table({"value": values}))
        tokens: pl.DataFrame = con.sql(
            f"""
            WITH decoded AS (
                SELECT try(decode(value)) AS text FROM messages
            ), parsed AS (
                SELECT text, json_valid(text) AS is_json FROM decoded
            ), typed AS (
                SELECT *, CASE WHEN is_json THEN json_type(text) END AS top_type FROM parsed
            )
            SELECT
                text,
                is_json IS TRUE AS is_json,
                top_type,
                CASE WHEN top_type = 'OBJECT' THEN len(json_keys(text)) END AS n_keys,
                {columns}
            FROM (
                SELECT *, CASE WHEN top_type = 'OBJECT' THEN json_extract(text, [{paths}]) END AS fragments
                FROM typed
            )
            """
        ).pl()
    finally:
        con.close()
    return tokens


def _with_tags_and_texts(tokens: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """Derive each field's JSON type tag (``t:``) and its text (``s:``; strings unescaped) from its fragment."""
    frame = tokens.with_columns(_tag_and_text_exprs(tuple(names)))
    timestamps = [f.name for f in ENVELOPE if f.kind == "timestamp" and f.name in names]
    return frame.with_columns(_timestamp(_text(name)).alias(f"ts:{name}") for name in timestamps)


@functools.cache
def _tag_and_text_exprs(names: tuple[str, ...]) -> tuple[pl.Expr, ...]:
    """The expressions of :func:`_with_tags_and_texts` (built once: ~2 ms a call on the rules path)."""
    exprs: list[pl.Expr] = []
    for name in names:
        j = pl.col(f"j:{name}")
        first = j.str.slice(0, 1)
        tag = (
            pl.when(j.is_null()).then(None)
            .when(j == "null").then(pl.lit("NULL"))
            .when(first == '"').then(pl.lit("VARCHAR"))
            .when(j.is_in(["true", "false"])).then(pl.lit("BOOLEAN"))
            .when(first == "{").then(pl.lit("OBJECT"))
            .when(first == "[").then(pl.lit("ARRAY"))
            .when(j.str.contains_any([".", "e", "E"])).then(pl.lit("DOUBLE"))
            .otherwise(pl.lit("BIGINT"))
        )  # fmt: skip
        # Most strings hold no escape: strip their quotes. Only the others are decoded as JSON strings
        # (json_decode runs on a column that is null elsewhere, so its cost follows the escaped ones).
        escaped = pl.when((first == '"') & j.str.contains("\\", literal=True)).then(j).str.json_decode(pl.String)
        text = pl.when(first != '"').then(j).otherwise(pl.coalesce(escaped, j.str.slice(1, j.str.len_chars() - 2)))
        exprs += [tag.alias(f"t:{name}"), text.alias(f"s:{name}")]
    return tuple(exprs)


def _timestamp(text: pl.Expr) -> pl.Expr:
    """An RFC 3339 date-time as a UTC instant (microseconds; extra fraction digits cut), null when it is not one."""
    normal = (
        text.str.replace(r"^(.{10})t", "${1}T")
        .str.replace(r"[Zz]$", "+00:00")
        .str.replace(r"(\.[0-9]{6})[0-9]+", "${1}")
    )
    parsed = normal.str.to_datetime(TIMESTAMP_FORMAT, strict=False, time_unit="us", time_zone="UTC")
    return pl.when(text.str.contains(RFC3339_PATTERN)).then(parsed)


def _tag(name: str) -> pl.Expr:
    return pl.col(f"t:{name}")


def _text(name: str) -> pl.Expr:
    return pl.col(f"s:{name}")


def _parsed_timestamp(name: str) -> pl.Expr:
    """The timestamp field parsed once, by :func:`_with_tags_and_texts` (null when it does not parse)."""
    return pl.col(f"ts:{name}")


def _field_checks(f: Field) -> list[tuple[pl.Expr, str]]:
    """(failing condition, reason) pairs for one field, in the order they are checked."""
    tag = _tag(f.name)
    absent = tag.is_null() | (tag == "NULL")
    checks: list[tuple[pl.Expr, str]] = []
    if not f.nullable:
        checks.append((absent, "missing_field"))
    present = ~absent
    if f.kind == "string":
        checks.append((present & (tag != "VARCHAR"), "wrong_type"))
        length = _text(f.name).str.len_chars()
        if f.min_len is not None:
            checks.append((present & (length < f.min_len), "out_of_range"))
        if f.max_len is not None:
            checks.append((present & (length > f.max_len), "out_of_range"))
        if f.choices is not None:
            checks.append((present & ~_text(f.name).is_in(list(f.choices)), "out_of_range"))
        if f.pattern is not None:
            checks.append((present & ~_text(f.name).str.contains(f"^(?:{f.pattern})$"), "out_of_range"))
    elif f.kind == "int":
        checks.append((present & ~tag.is_in(_INT_TAGS), "wrong_type"))
        value = _text(f.name).cast(pl.Int64, strict=False)
        # An integer beyond int64 is still an integer: it is out of any range the contract allows.
        checks.append((present & value.is_null(), "out_of_range"))
        if f.min is not None:
            checks.append((present & (value < f.min), "out_of_range"))
        if f.max is not None:
            checks.append((present & (value > f.max), "out_of_range"))
    elif f.kind == "bool":
        checks.append((present & (tag != "BOOLEAN"), "wrong_type"))
    elif f.kind == "timestamp":
        checks.append((present & (tag != "VARCHAR"), "wrong_type"))
        parsed = _parsed_timestamp(f.name)
        checks.append((present & parsed.is_null(), "bad_timestamp"))
        if f.name == "event_time":
            outside = (parsed < pl.lit(EVENT_TIME_MIN)) | (parsed >= pl.lit(EVENT_TIME_END))
            checks.append((present & outside, "out_of_range"))
    return checks


@functools.lru_cache(maxsize=512)
def _failure_expr(family: Family, types: frozenset[str] | None = None) -> pl.Expr:
    """The first failing rule of each message of a family's topic, as ``"reason|field"`` (null when valid).

    ``types``: the event types the messages hold (the rules of the others cannot fire, and are left out of
    the expression, which costs its size on every call, however few the messages); None: all of them.
    """
    rules: list[tuple[pl.Expr, str, str | None]] = [
        (~pl.col("is_json"), "invalid_json", None),
        (pl.col("top_type") != "OBJECT", "not_an_object", None),
    ]
    # schema_version first: a message of another version may have another shape altogether.
    version = next(f for f in ENVELOPE if f.name == "schema_version")
    rules += [(cond, reason, "schema_version") for cond, reason in _field_checks(version)]
    rules.append(
        (
            _text("schema_version").cast(pl.Int64, strict=False) != SCHEMA_VERSION,
            "unsupported_schema_version",
            "schema_version",
        )
    )
    kind = next(f for f in ENVELOPE if f.name == "event_type")
    rules += [(cond, reason, "event_type") for cond, reason in _field_checks(kind)]
    names = [t.name for t in event_types(family)]
    rules.append((~_text("event_type").is_in(names), "unknown_event_type", "event_type"))
    for f in ENVELOPE:
        if f.name not in ("schema_version", "event_type"):
            rules += [(cond, reason, f.name) for cond, reason in _field_checks(f)]
    for event_type in event_types(family):
        if types is not None and event_type.name not in types:
            continue
        is_type = _text("event_type") == event_type.name
        for f in event_type.fields:
            rules += [(is_type & cond, reason, f.name) for cond, reason in _field_checks(f)]
        if event_type.name == "feedback":
            score = _text("score").cast(pl.Int64, strict=False)
            for survey, (low, high) in SURVEY_SCORE_RANGES.items():
                bad = is_type & (_text("survey") == survey) & ((score < low) | (score > high))
                rules.append((bad, "out_of_range", "score"))
    # The first failing rule wins: a flat coalesce plans much faster than ~100 nested when/otherwise.
    codes = [reason if field is None else f"{reason}|{field}" for _, reason, field in rules]
    return pl.coalesce(
        *(pl.when(cond.fill_null(False)).then(pl.lit(code)) for (cond, _, _), code in zip(rules, codes, strict=True)),
        pl.lit(None, dtype=pl.String),
    )


@functools.lru_cache(maxsize=512)
def _unknown_fields_expr(family: Family, types: frozenset[str] | None = None) -> pl.Expr:
    """Keys of the message that its event type does not declare (duplicate keys count once each).

    ``types``: as for :func:`_failure_expr`.
    """
    envelope = [f.name for f in ENVELOPE]
    expr: pl.Expr = pl.lit(0, dtype=pl.Int64)
    for event_type in event_types(family):
        if types is not None and event_type.name not in types:
            continue
        known = [*envelope, *(f.name for f in event_type.fields)]
        present = pl.sum_horizontal(*(_tag(n).is_not_null().cast(pl.Int64) for n in known))
        expr = pl.when(_text("event_type") == event_type.name).then(pl.col("n_keys") - present).otherwise(expr)
    return expr


@functools.cache
def _typed_columns(family: Family) -> tuple[pl.Expr, ...]:
    schema = polars_schema(family)
    fields = {f.name: f for f in (*ENVELOPE, *family_fields(family))}
    columns: list[pl.Expr] = []
    for name, dtype in schema.items():
        if name in SOURCE_COLUMNS:
            continue
        f = fields[name]
        tag, text = _tag(name), _text(name)
        if f.kind == "timestamp":
            value = _parsed_timestamp(name)
        elif f.kind == "int":
            value = pl.when(tag.is_in(_INT_TAGS)).then(text.cast(pl.Int64, strict=False))
        elif f.kind == "bool":
            value = pl.when(tag == "BOOLEAN").then(text == "true")
        else:
            value = pl.when(tag == "VARCHAR").then(text)
        if name == "is_anonymous":
            value = value.fill_null(False)
        columns.append(value.cast(dtype).alias(name))
    return tuple(columns)


_SOURCE = (
    pl.col("topic").alias("kafka_topic"),
    pl.col("partition").alias("kafka_partition"),
    pl.col("offset").alias("kafka_offset"),
    pl.col("timestamp_ms").alias("kafka_timestamp"),
)
# The fast path's spec of a field's kind (liveops_native.c reads these codes).
_KIND_CODES = {"string": 0, "int": 1, "bool": 2, "timestamp": 3}
_ARROW_TYPES = {
    "string": pa.string_view(),
    "int": pa.int64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", "UTC"),
}


def _micros(instant: datetime) -> int:
    return (instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _slice(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<I", len(data)) + data


def _rule(f: Field, column: int) -> bytes:
    """One field's rule in the native spec: its key, column, kind, nullability, bounds and enumeration."""
    low, high = (SCHEMA_VERSION, SCHEMA_VERSION) if f.name == "schema_version" else (f.min, f.max)
    bounds = struct.pack(
        "<IBBqqBqBq",
        column,
        _KIND_CODES[f.kind],
        f.nullable,
        -1 if f.min_len is None else f.min_len,
        -1 if f.max_len is None else f.max_len,
        low is not None,
        low or 0,
        high is not None,
        high or 0,
    )
    choices = struct.pack("<i", -1) if f.choices is None else struct.pack("<i", len(f.choices))
    return _slice(f.name) + bounds + choices + b"".join(_slice(c) for c in f.choices or ())


@functools.cache
def _native_columns(family: Family) -> tuple[tuple[str, Field], ...]:
    """The typed columns the fast path writes (those of :func:`polars_schema` but the source columns)."""
    fields = {f.name: f for f in (*family_fields(family), *ENVELOPE)}  # the envelope's declaration wins
    return tuple((name, fields[name]) for name in polars_schema(family) if name not in SOURCE_COLUMNS)


@functools.cache
def _native_spec(family: Family) -> bytes:
    """The family's rules for the native fast path (liveops_native.c's ``read_spec`` reads this layout).

    Every rule a field has in :mod:`schemas.events` but for its pattern, which :func:`_fast_checks` matches on
    the typed columns (as it checks a feedback score against its survey's range).
    """
    columns = _native_columns(family)
    index = {name: i for i, (name, _) in enumerate(columns)}
    spec = struct.pack(
        "<IIIIqqI", len(columns), index["event_type"], index["event_id"], index["event_time"],
        _micros(EVENT_TIME_MIN), _micros(EVENT_TIME_END), len(event_types(family)),
    )  # fmt: skip
    spec += bytes(_KIND_CODES[f.kind] for _, f in columns)
    for event_type in event_types(family):
        fields = [f for f in (*ENVELOPE, *event_type.fields) if f.name != "event_type"]
        spec += _slice(event_type.name) + struct.pack("<I", len(fields))
        spec += b"".join(_rule(f, index[f.name]) for f in fields)
    return spec


def _native_decode(values: pl.Series, family: Family) -> tuple[pl.Series, pl.DataFrame]:
    """The rows the native code accepts as valid events of the family, and their typed columns.

    The typed columns end with ``_repeated``: set where the event's key (``event_id``, UTC day) may occur more
    than once among the accepted rows (the native code compares 64-bit hashes of the keys: every row whose key
    repeats is set, and a rare collision sets a row whose key does not), which :func:`_deduplicated` uses to
    group only those few rows.

    One call for the whole part (C, without the GIL): it reads the values in place from Polars's Arrow
    buffers and writes the typed columns as Arrow buffers, which become a frame without a Python object a value.
    """
    array = values.to_arrow(compat_level=pl.CompatLevel.newest())  # Polars's own binary views: no copy
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    validity, views, *data = array.buffers()
    if views is None:
        return pl.Series("row", [], dtype=pl.UInt32()), pl.DataFrame()  # not reached: a part has a message
    table = struct.pack(f"={2 * len(data)}Q", *(n for b in data for n in (b.address, b.size)))
    rows, buffers, repeated = liveops_native.decode(
        _native_spec(family),
        len(array),
        array.offset,
        0 if validity is None else validity.address,
        views.address,
        table,
    )
    n = len(rows) // 4
    columns = {}
    for (name, f), (valid, values_buffer, strings) in zip(_native_columns(family), buffers, strict=True):
        arrow_type = _ARROW_TYPES[f.kind]
        parts = [pa.py_buffer(valid), pa.py_buffer(values_buffer)]
        if strings is not None:
            parts.append(pa.py_buffer(strings))
        columns[name] = pa.Array.from_buffers(arrow_type, n, parts)
    columns["_repeated"] = pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(repeated)])
    row = pl.Series("row", pa.Array.from_buffers(pa.uint32(), n, [None, pa.py_buffer(rows)]))
    return row, pl.from_arrow(pa.table(columns))  # type: ignore[return-value]


@functools.cache
def _fast_checks(family: Family) -> pl.Expr:
    """The rules the native code leaves to Polars, on its typed columns: true where a row passes them all.

    A field with a pattern matches it; a feedback score is within its survey's range.
    """
    ok = pl.lit(True)
    for f in (*ENVELOPE, *family_fields(family)):
        if f.pattern is not None:
            ok &= pl.col(f.name).str.contains(f"^(?:{f.pattern})$") | pl.col(f.name).is_null()
    if "feedback" in event_type_names(family):
        for survey, (low, high) in SURVEY_SCORE_RANGES.items():
            score = pl.col("score")
            bad = (pl.col("event_type") == "feedback") & (pl.col("survey") == survey) & ((score < low) | (score > high))
            ok &= ~bad
    return ok.fill_null(False)


def _fast_decode(part: pl.DataFrame, family: Family) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Type the messages that are valid beyond doubt; return them, and the other messages for the rules path.

    The native code (strict RFC 8259 JSON, types, lengths, bounds, enumerations, no repeated or undeclared
    key, the timestamp's plain shape, calendar and range) gives typed columns; Polars checks the patterns and
    the score's survey range on them. A message refused anywhere here is left to :func:`_rules_decode`
    untouched, so the reason codes and their order are the rules path's own.
    """
    rows, typed = _native_decode(part["value"], family)
    if rows.is_empty():
        return pl.DataFrame(schema=_flagged_schema(family)), part
    passed = typed.select(_fast_checks(family)).to_series()
    if not passed.all():
        rows, typed = rows.filter(passed), typed.filter(passed)
    typed = typed.with_columns(pl.col("is_anonymous").fill_null(False))
    typed = pl.concat(
        [typed.drop("_repeated"), part.select(*_SOURCE)[rows], typed.select("_repeated")], how="horizontal"
    )
    kept = pl.repeat(False, part.height, dtype=pl.Boolean, eager=True).scatter(rows, True)
    return typed, part.filter(~kept)


def _flagged_schema(family: Family) -> pl.Schema:
    """The typed rows' schema before deduplication: the family's, then ``_repeated`` (:func:`_native_decode`)."""
    return pl.Schema({**polars_schema(family), "_repeated": pl.Boolean()})


def _strict_key_counts(values: pl.Series) -> pl.Series:
    """Per message: -1 unless its value is exactly one JSON text per RFC 8259; else its top-level key count.

    The count is that of distinct names (0 for a text that is not an object): compared with the names DuckDB
    lists, it tells a top-level object that repeats a name.
    """
    counts: list[int] = []
    for value in values.to_list():
        try:
            parsed = orjson.loads(value) if value is not None else None
        except orjson.JSONDecodeError:
            counts.append(-1)
            continue
        counts.append(-1 if value is None else len(parsed) if isinstance(parsed, dict) else 0)
    return pl.Series("strict_keys", counts, dtype=pl.Int64)


@functools.cache
def _rules_names(families: tuple[Family, ...]) -> list[str]:
    """The contract fields the rules path tokenises for these families (the envelope first, each name once)."""
    return list(dict.fromkeys(name for family in families for name in _family_field_names(family)))


@functools.lru_cache(maxsize=512)
def _rules_failure_expr(families: tuple[Family, ...], types: frozenset[str]) -> pl.Expr:
    """:func:`_failure_expr` of each message's own family (``types``: the event types the messages hold)."""
    if len(families) == 1:
        return _failure_expr(families[0], types)
    return pl.coalesce(*(pl.when(pl.col("family") == f).then(_failure_expr(f, types)) for f in families))


def _rules_decode(part: pl.DataFrame) -> tuple[dict[Family, pl.DataFrame], pl.DataFrame, int]:
    """The contract's rules, vectorised, on messages of any families: every check in order, every reason code.

    One pass for the whole batch's part (a pass has a fixed cost of tens of milliseconds, whatever its size),
    each message checked against its own family's rules. Returns the typed valid rows per family (not yet
    deduplicated; columns of :func:`_typed_columns` then the source columns), the quarantined messages
    (:data:`QUARANTINE_SCHEMA`, in the order of ``part``) and the count of unknown fields.
    """
    present = set(part["family"].unique().to_list())
    families = tuple(f for f in FAMILIES if f in present)
    part = part.with_columns(_strict_key_counts(part["value"]))
    names = _rules_names(families)
    tokens = _with_tags_and_texts(_tokenise(part["value"].to_arrow(), names), names)
    part = pl.concat([part, tokens], how="horizontal")
    # Valid JSON only when the strict parser agrees, and a top-level object repeats no name.
    strict = (pl.col("strict_keys") >= 0) & (pl.col("n_keys").is_null() | (pl.col("n_keys") == pl.col("strict_keys")))
    part = part.with_columns((pl.col("is_json") & strict).alias("is_json"))
    # Only the rules of the event types these messages name can fire (the type's own checks are gated on it).
    named = set(part["s:event_type"].drop_nulls().unique().to_list())
    types = frozenset(t.name for t in EVENT_TYPES if t.name in named)
    part = part.with_columns(_rules_failure_expr(families, types).alias("failure"))
    bad = part.filter(pl.col("failure").is_not_null())
    reason_and_field = pl.col("failure").str.split_exact("|", 1).struct
    quarantine = bad.select(
        *_SOURCE,
        pl.col("value").alias("raw_value"),
        pl.col("text").alias("raw_text"),
        reason_and_field.field("field_0").alias("reason"),
        reason_and_field.field("field_1").alias("field"),
        pl.when(_tag("event_id") == "VARCHAR").then(_text("event_id")).alias("event_id"),
        pl.when(_tag("event_type") == "VARCHAR").then(_text("event_type")).alias("event_type"),
    )
    good = part.filter(pl.col("failure").is_null())
    typed: dict[Family, pl.DataFrame] = {}
    unknown = 0
    for family in families:
        rows = good.filter(pl.col("family") == family)
        if rows.is_empty():  # the usual case: what the fast path refuses is mostly invalid
            continue
        unknown += int(rows.select(_unknown_fields_expr(family, types).sum()).item() or 0)
        typed[family] = rows.select(
            *_typed_columns(family), *_SOURCE, pl.lit(None, dtype=pl.Boolean).alias("_repeated")
        )
    return typed, quarantine, unknown


def _in_order(frame: pl.DataFrame, topic: str, partition: str, offset: str) -> bool:
    """Whether the rows are sorted by topic, partition and offset (a check costs far less than a sort)."""
    if frame.height < 2:
        return True
    p, o = pl.col(partition), pl.col(offset)
    p1, o1 = p.shift(-1), o.shift(-1)
    if frame.select((pl.col(topic) == pl.col(topic).first()).all()).item():  # one topic: the usual case
        ascending = (p1 > p) | ((p1 == p) & (o1 >= o))
    else:
        t, t1 = pl.col(topic), pl.col(topic).shift(-1)
        ascending = (t1 > t) | ((t1 == t) & ((p1 > p) | ((p1 == p) & (o1 >= o))))
    return bool(frame.select(ascending.head(frame.height - 1).all()).item())


def _deduplicated(typed: pl.DataFrame, family: Family) -> tuple[pl.DataFrame, int]:
    """One row per event: the lowest topic/partition/offset, with the earliest Kafka timestamp of its copies.

    An event is its ``event_id`` on the UTC day of its ``event_time``: the key the loader keeps unique in the
    warehouse (warehouse/loader.py), so that the result never depends on how messages were cut into batches.
    Only the rows whose key occurs more than once are grouped (few in a batch); the rest pass as they are.
    The rows come out in topic, partition, offset order.
    """
    key = ["event_id", "_utc_day"]
    order = ["kafka_topic", "kafka_partition", "kafka_offset"]
    day = pl.col("event_time").dt.convert_time_zone("UTC").dt.date().alias("_utc_day")
    typed = typed.with_columns(day)
    flags = typed["_repeated"]
    if flags.null_count() == 0:
        # Rows of the fast path only: in the batch's order (decode_messages sorts it), and flagged by the
        # native code where their key may repeat (a rare collision is told apart below).
        repeated = flags
    else:  # rows of the rules path too (they carry no flag, and come after the others)
        typed = typed if _in_order(typed, *order) else typed.sort(order)
        repeated = typed.select(pl.struct(key).is_duplicated()).to_series()
    typed = typed.drop("_repeated")
    schema = dict(polars_schema(family))
    rows = repeated.arg_true()
    if rows.is_empty():
        return typed.drop("_utc_day").cast(schema), 0  # type: ignore[arg-type]
    copies = typed[rows].select(
        pl.struct(key).is_first_distinct().alias("first"),
        # An event arrives with its first copy: the kept (lowest-offset) copy takes the earliest Kafka
        # timestamp of all its copies in the batch, for the late-event rule.
        pl.col("kafka_timestamp").min().over(key),
    )
    keep = pl.repeat(True, typed.height, dtype=pl.Boolean, eager=True).scatter(rows, copies["first"])
    arrival = typed["kafka_timestamp"].scatter(rows, copies["kafka_timestamp"])
    unique = typed.with_columns(arrival).filter(keep).drop("_utc_day")
    return unique.cast(schema), typed.height - unique.height  # type: ignore[arg-type]


def decode_messages(messages: pl.DataFrame, families: dict[str, Family], *, fast: bool = True) -> Decoded:
    """Validate a batch of raw Kafka messages and type the valid ones.

    Args:
        messages: raw messages with the columns of :data:`MESSAGE_SCHEMA`.
        families: topic name -> event family (which event types the topic may carry).
        fast: take the typed fast path first (``False`` runs the vectorised rules on every message: the
            reference the tests compare the fast path with; the result is the same either way).

    Returns:
        The valid rows per family (deduplicated within the batch by ``event_id`` and UTC day, lowest
        topic/partition/offset first), the quarantined messages, and counts.
    """
    unknown_topics = set(messages["topic"].unique().to_list()) - set(families)
    if unknown_topics:
        raise ValueError(f"messages from topics with no event family: {sorted(unknown_topics)}")
    # In topic, partition, offset order (the order of the valid rows and the quarantine), whatever the order
    # the client read them in.
    if not _in_order(messages, "topic", "partition", "offset"):
        messages = messages.sort("topic", "partition", "offset")
    frame = messages.with_columns(
        pl.col("topic").replace_strict(families, default=None).alias("family"),
        pl.from_epoch("timestamp_ms", time_unit="ms").dt.replace_time_zone("UTC").dt.cast_time_unit("us"),
    )
    accepted: dict[Family, pl.DataFrame] = {}
    refused: list[pl.DataFrame] = []
    parts = frame.partition_by("family", as_dict=True)
    for family in FAMILIES:
        part = parts.get((family,), frame.clear())
        if fast and not part.is_empty():
            accepted[family], part = _fast_decode(part, family)
        refused.append(part)
    # The messages the fast path left, of every family, in one pass of the rules (family by family, each
    # in topic, partition, offset order: the order of the quarantine).
    rest = pl.concat(refused)
    checked, quarantine, unknown = _rules_decode(rest) if not rest.is_empty() else ({}, None, 0)
    valid: dict[Family, pl.DataFrame] = {}
    duplicates = 0
    for family in FAMILIES:
        typed = [t for t in (accepted.get(family), checked.get(family)) if t is not None]
        if not typed:
            valid[family] = pl.DataFrame(schema=polars_schema(family))
            continue
        valid[family], dropped = _deduplicated(pl.concat(typed), family)
        duplicates += dropped
    quarantine = pl.concat([pl.DataFrame(schema=QUARANTINE_SCHEMA), *([] if quarantine is None else [quarantine])])
    quarantine = quarantine.cast(dict(QUARANTINE_SCHEMA))  # type: ignore[arg-type]
    return Decoded(valid, quarantine, duplicates, unknown)


def event_type_names(family: Family) -> list[str]:
    """Names of a family's event types (for messages and docs)."""
    return [t.name for t in event_types(family)]


__all__ = ["MESSAGE_SCHEMA", "QUARANTINE_SCHEMA", "Decoded", "EventType", "decode_messages", "event_type_names"]
