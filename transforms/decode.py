"""Decode and validate a micro-batch of Kafka messages against the event contract.

Input: one frame of raw messages (:data:`MESSAGE_SCHEMA`). Output: typed, valid rows per topic family (the
columns of :func:`schemas.events.polars_schema`) and quarantined messages with a reason code and field.

Two paths, one result. The **fast path** (:func:`_fast_decode`) types the messages that are valid beyond
doubt: msgspec, a strict RFC 8259 parser, decodes each value into a Struct of one of the family's event
types (a tagged union on ``event_type``: types, lengths, integer bounds, enumerations, unknown keys refused);
one Polars NDJSON read gives the typed columns of those it accepted; the rules msgspec does not check (a repeated
key, the timestamp's shape and range, patterns, the survey's score range) are Polars expressions on them.
Every other message — invalid, or valid in a form the fast path does not cover — goes to the **rules path**
(:func:`_rules_decode`), unchanged: DuckDB's JSON functions tokenise each value into a type tag and a text
per contract field, and every rule of the contract, in order, is a Polars expression generated from
:mod:`schemas.events`; it gives the reason codes. Since only valid messages leave the fast path, the reason
codes and their order are the rules path's; ``decode_messages(..., fast=False)`` runs the rules path alone,
which the tests compare the fast path with.

Strict JSON on the rules path: DuckDB's parser is lenient (it takes ``NaN``, trailing commas and more), so
each value must also pass orjson, a strict RFC 8259 parser, and a top-level object may not repeat a name;
otherwise the message is ``invalid_json`` (docs/ingest.md, "What counts as valid JSON and a valid timestamp").
The in-memory DuckDB connection used here does no I/O.
"""

from __future__ import annotations

import functools
import io
import json
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import duckdb
import msgspec
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from schemas.events import (
    ENVELOPE,
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


def _as_text(values: pl.Series) -> pa.Array:
    """Message values as UTF-8 text; a value that is not valid UTF-8 becomes null (it is ``invalid_json``)."""
    array = values.to_arrow()
    try:
        return pc.cast(array, pa.large_string())  # validates the whole batch at C speed
    except pa.ArrowInvalid:
        # The rare batch holding a message that is not UTF-8: DuckDB decodes row by row, null where invalid.
        con = _json_engine().cursor()
        try:
            con.register("raw", pa.table({"value": array}))
            texts: pa.Array = con.sql("SELECT try(decode(value)) AS text FROM raw").to_arrow_table()["text"]
        finally:
            con.close()
        return pc.cast(texts, pa.large_string())


@functools.cache
def _json_engine() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB for the process (opening one costs ~0.1 s); each call takes its own cursor."""
    return duckdb.connect(":memory:")


def _tokenise(texts: pa.Array, names: list[str]) -> pl.DataFrame:
    """Per message: JSON validity, top-level type, number of keys, and per field its raw JSON fragment.

    A field's fragment is null when the key is absent, ``null`` for a JSON null, else the value's JSON text.
    """
    paths = ", ".join("'$.\"" + name + "\"'" for name in names)
    columns = ", ".join(f'fragments[{i + 1}] AS "j:{name}"' for i, name in enumerate(names))
    con = _json_engine().cursor()
    try:
        con.register("messages", pa.table({"text": texts}))
        tokens: pl.DataFrame = con.sql(
            f"""
            WITH parsed AS (
                SELECT text, json_valid(text) AS is_json FROM messages
            ), typed AS (
                SELECT *, CASE WHEN is_json THEN json_type(text) END AS top_type FROM parsed
            )
            SELECT
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
    frame = tokens.with_columns(exprs)
    timestamps = [f.name for f in ENVELOPE if f.kind == "timestamp" and f.name in names]
    return frame.with_columns(_timestamp(_text(name)).alias(f"ts:{name}") for name in timestamps)


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


@functools.cache
def _failure_expr(family: Family) -> pl.Expr:
    """The first failing rule of each message of a family's topic, as ``"reason|field"`` (null when valid)."""
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


@functools.cache
def _unknown_fields_expr(family: Family) -> pl.Expr:
    """Keys of the message that its event type does not declare (duplicate keys count once each)."""
    envelope = [f.name for f in ENVELOPE]
    expr: pl.Expr = pl.lit(0, dtype=pl.Int64)
    for event_type in event_types(family):
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
_INT64 = (-(2**63), 2**63 - 1)
# The RFC 3339 shapes the fast path casts itself (upper-case `T` and `Z`, at most 6 fraction digits): a
# subset of RFC3339_PATTERN whose instant DuckDB's cast gives exactly. Other valid shapes take the rules path.
FAST_TIMESTAMP = (
    r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.[0-9]{1,6})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)


def _annotation(f: Field) -> Any:
    """The msgspec type of one field: what the rules accept, minus the checks left to Polars (see _fast_checks).

    Every value msgspec accepts here passes that field's rules; a value it refuses goes to the rules path,
    which finds the exact reason, so the annotation may be stricter than the rules but never looser.
    """
    if f.name == "schema_version":
        kind: Any = Literal[SCHEMA_VERSION]
    elif f.kind == "int":
        low = _INT64[0] if f.min is None else max(f.min, _INT64[0])
        high = _INT64[1] if f.max is None else min(f.max, _INT64[1])
        kind = Annotated[int, msgspec.Meta(ge=low, le=high)]
    elif f.kind == "bool":
        kind = bool
    elif f.choices is not None:
        kind = Literal[f.choices]
    elif f.kind == "string" and (f.min_len is not None or f.max_len is not None):
        kind = Annotated[str, msgspec.Meta(min_length=f.min_len, max_length=f.max_len)]
    else:
        kind = str  # a timestamp is parsed by Polars; a pattern is matched by Polars
    return kind | None if f.nullable else kind


def _event_fields(event_type: EventType) -> tuple[Field, ...]:
    """The fields of one event type, envelope first, but for ``event_type`` (the union's tag)."""
    return (*(f for f in ENVELOPE if f.name != "event_type"), *event_type.fields)


@functools.cache
def _struct(event_type: EventType) -> type[msgspec.Struct]:
    """A msgspec Struct of one event type, tagged by ``event_type``; an optional field left out is ``UNSET``.

    Unknown fields are refused (the rules path counts them), and so is a key twice only when it is
    ``event_type``: msgspec keeps the last value of any other repeated key, which _fast_checks catches.
    """
    spec = [
        (f.name, _annotation(f), msgspec.UNSET) if f.nullable else (f.name, _annotation(f))
        for f in _event_fields(event_type)
    ]
    return msgspec.defstruct(
        f"Fast_{event_type.name}",
        spec,
        kw_only=True,
        tag_field="event_type",
        tag=event_type.name,
        forbid_unknown_fields=True,
        gc=False,
    )


@functools.cache
def _decoder(family: Family) -> msgspec.json.Decoder[Any]:
    """One strict JSON decoder for the tagged union of a family's event types."""
    union = functools.reduce(operator.or_, (_struct(t) for t in event_types(family)))
    return msgspec.json.Decoder(union)


@functools.cache
def _optional_getter(event_type: EventType) -> Callable[[msgspec.Struct], tuple[object, ...]]:
    """The optional fields of a decoded message as a tuple (``UNSET`` where left out).

    ``event_id`` (never ``UNSET``) ends the tuple so that one optional field still gives a tuple.
    """
    return operator.attrgetter(*(f.name for f in _event_fields(event_type) if f.nullable), "event_id")


# Messages turned into Python objects at a time: msgspec needs one ``bytes`` a message, and a chunk of them
# bounds those objects (and their memory) whatever the batch size.
_CHUNK = 8192


@dataclass
class _Accepted:
    """What the msgspec pass keeps of the messages it decoded (see :func:`_decoded_rows`)."""

    rows: list[int]  # in the family's part
    names: list[int]  # distinct names each holds: the tag, the required fields, the optional ones not left out
    quotes: list[int]  # ``"`` bytes each holds
    ndjson: io.BytesIO  # the messages, one a line, for :func:`_typed_fast`


def _decoded_rows(values: pl.Series, family: Family) -> _Accepted:
    """The rows that msgspec decodes as one of the family's event types, with their names and quotes.

    One C call a message; the Struct is dropped at once (while it is in the CPU's cache: keeping 100,000 of
    them and reading them back costs more than the parse). The names are what :func:`_fast_checks` compares
    with the keys the message holds (msgspec keeps the last value of a repeated key, which the contract
    calls ``invalid_json``), and the quotes tell those keys. The messages are read :data:`_CHUNK` at a time,
    and each accepted one is written to one newline-delimited buffer: a raw newline in a valid message is
    whitespace between tokens (within a string it must be escaped), so it becomes a space.
    """
    decode: Callable[[bytes | None], msgspec.Struct] = _decoder(family).decode  # type: ignore[assignment]
    shape = {_struct(t): (len(_event_fields(t)) + 1, _optional_getter(t)) for t in event_types(family)}
    unset = msgspec.UNSET
    accepted = _Accepted([], [], [], io.BytesIO())
    rows, names, quotes, write = accepted.rows, accepted.names, accepted.quotes, accepted.ndjson.write
    for start in range(0, values.len(), _CHUNK):
        chunk: list[bytes | None] = values.slice(start, _CHUNK).to_list()
        kept: list[bytes] = []
        for i, value in enumerate(chunk, start):
            try:
                obj = decode(value)
            except (msgspec.DecodeError, TypeError):  # TypeError: a null value
                continue
            fields, optional = shape[obj.__class__]  # fields: +1 for the tag
            rows.append(i)
            names.append(fields - optional(obj).count(unset))
            kept.append(value)  # type: ignore[arg-type]  # decoded: not None
        if kept:
            lines = b"\n".join(kept) + b"\n"
            if lines.count(b"\n") != len(kept) or b"\r" in lines:
                lines = b"\n".join(v.replace(b"\n", b" ").replace(b"\r", b" ") for v in kept) + b"\n"
            write(lines)
            quotes += map(operator.methodcaller("count", b'"'), kept)
    return accepted


def _typed_fast(ndjson: io.BytesIO, family: Family) -> pl.DataFrame:
    """Typed columns of the messages msgspec decoded, in one native pass (their types are known to match).

    Polars reads them as newline-delimited JSON into the family's columns (``event_time`` as text), in Rust,
    without a Python object a value.
    """
    kinds = {"int": pl.Int64(), "bool": pl.Boolean()}
    schema = {f.name: kinds.get(f.kind, pl.String()) for f in (*ENVELOPE, *family_fields(family))}
    ndjson.seek(0)
    return pl.read_ndjson(ndjson, schema=schema)


def _exact_key_counts(values: pl.Series) -> pl.Series:
    """Top-level keys of each message holding a backslash, a repeated key counted each time; null elsewhere.

    A message without a backslash has a ``"`` only where a string starts or ends (see :func:`_fast_checks`).
    An escape breaks that count, so the rare message holding one is counted by a parser that sees every
    pair (these messages passed msgspec: strict JSON whose values are all scalars, no nested object).
    """
    counts: list[int | None] = [None] * values.len()
    for i in values.bin.contains(b"\\").arg_true().to_list():
        counts[i] = json.loads(values[i], object_pairs_hook=len)
    return pl.Series("exact_keys", counts, dtype=pl.Int64())


@functools.cache
def _fast_checks(family: Family) -> pl.Expr:
    """The rules msgspec does not check, on a frame of :func:`_typed_fast`: true where a row passes them all.

    No key is repeated: in a message without a backslash every ``"`` starts or ends a string (a key or a
    string value: the tag and the non-null string fields), so it holds twice as many quotes as keys and
    string values together, and each repeated key adds two; a message with one is counted exactly.
    ``event_time`` has the plain shape and lies in the plausible range; a field with a pattern matches it; a
    feedback score is within its survey's range.
    """
    strings = [pl.lit(1, dtype=pl.Int64)]  # the tag
    strings += [pl.col(f.name).is_not_null().cast(pl.Int64) for f in (*ENVELOPE, *family_fields(family))
                if f.kind in ("string", "timestamp") and f.name != "event_type"]  # fmt: skip
    unrepeated = pl.coalesce(
        pl.col("exact_keys") == pl.col("n_names"),
        pl.col("quotes") == 2 * (pl.col("n_names") + pl.sum_horizontal(strings)),
    )
    ts = pl.col("ts:event_time")
    ok = unrepeated & pl.col("event_time").str.contains(FAST_TIMESTAMP) & ts.is_not_null()
    ok &= (ts >= pl.lit(EVENT_TIME_MIN)) & (ts < pl.lit(EVENT_TIME_END))
    for f in (*ENVELOPE, *family_fields(family)):
        if f.pattern is not None:
            ok &= pl.col(f.name).str.contains(f"^(?:{f.pattern})$") | pl.col(f.name).is_null()
    if "feedback" in event_type_names(family):
        for survey, (low, high) in SURVEY_SCORE_RANGES.items():
            score = pl.col("score")
            bad = (pl.col("event_type") == "feedback") & (pl.col("survey") == survey) & ((score < low) | (score > high))
            ok &= ~bad
    return ok.fill_null(False)


# The instant of a FAST_TIMESTAMP text (``%#z`` takes `Z` as well as ``±HH:MM``); the shape is checked beside it.
_FAST_INSTANT = pl.col("event_time").str.to_datetime(
    "%Y-%m-%dT%H:%M:%S%.f%#z", strict=False, time_unit="us", time_zone="UTC"
)


def _fast_decode(part: pl.DataFrame, family: Family) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Type the messages that are valid beyond doubt; return them, and the other messages for the rules path.

    One msgspec call a message (strict RFC 8259 JSON, types, lengths, bounds, enumerations), one Polars
    NDJSON read for the typed columns of those accepted, then the few remaining rules on them, vectorised
    (no repeated key among them). A message refused anywhere here is left to :func:`_rules_decode` untouched,
    so the reason codes and their order are the rules path's own.
    """
    accepted = _decoded_rows(part["value"], family)
    schema = polars_schema(family)
    if not accepted.rows:
        return pl.DataFrame(schema=schema), part
    rows = pl.Series("row", accepted.rows, dtype=pl.UInt32())
    frame = _typed_fast(accepted.ndjson, family).with_columns(
        rows,
        pl.Series("n_names", accepted.names, dtype=pl.Int64()),
        pl.Series("quotes", accepted.quotes, dtype=pl.Int64()),
        _exact_key_counts(part["value"].gather(rows)),
        _FAST_INSTANT.alias("ts:event_time"),
    )
    del accepted  # the buffer: the frame holds the columns now
    frame = frame.filter(_fast_checks(family))
    typed = frame.select(
        pl.col("ts:event_time").alias("event_time")
        if n == "event_time"
        else pl.col(n).fill_null(False)
        if n == "is_anonymous"
        else pl.col(n).cast(dtype)
        for n, dtype in schema.items()
        if n not in SOURCE_COLUMNS
    )
    typed = pl.concat([typed, part.select(*_SOURCE)[frame["row"]]], how="horizontal")
    kept = pl.Series(values=[False] * part.height, dtype=pl.Boolean).scatter(frame["row"], True)
    return typed, part.filter(~kept)


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


def _rules_decode(part: pl.DataFrame, family: Family) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """The contract's rules, vectorised, on one family's messages: every check in order, every reason code.

    Returns the typed valid rows (not yet deduplicated; columns of :func:`_typed_columns` then the source
    columns), the quarantined messages (:data:`QUARANTINE_SCHEMA`) and the count of unknown fields.
    """
    part = part.with_columns(
        pl.Series("text", _as_text(part["value"]), dtype=pl.String), _strict_key_counts(part["value"])
    )
    names = _family_field_names(family)
    tokens = _with_tags_and_texts(_tokenise(part["text"].to_arrow(), names), names)
    part = pl.concat([part, tokens], how="horizontal")
    # Valid JSON only when the strict parser agrees, and a top-level object repeats no name.
    strict = (pl.col("strict_keys") >= 0) & (pl.col("n_keys").is_null() | (pl.col("n_keys") == pl.col("strict_keys")))
    part = part.with_columns((pl.col("is_json") & strict).alias("is_json"))
    part = part.with_columns(_failure_expr(family).alias("failure"))
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
    unknown = int(good.select(_unknown_fields_expr(family).sum()).item() or 0)
    return good.select(*_typed_columns(family), *_SOURCE), quarantine, unknown


def _deduplicated(typed: pl.DataFrame, family: Family) -> tuple[pl.DataFrame, int]:
    """One row per event: the lowest topic/partition/offset, with the earliest Kafka timestamp of its copies.

    An event is its ``event_id`` on the UTC day of its ``event_time``: the key the loader keeps unique in the
    warehouse (warehouse/loader.py), so that the result never depends on how messages were cut into batches.
    """
    typed = typed.sort("kafka_topic", "kafka_partition", "kafka_offset")
    key = ["event_id", "_utc_day"]
    typed = typed.with_columns(pl.col("event_time").dt.convert_time_zone("UTC").dt.date().alias("_utc_day"))
    # An event arrives with its first copy: the kept (lowest-offset) copy takes the earliest Kafka
    # timestamp of all its copies in the batch, for the late-event rule.
    typed = typed.with_columns(pl.col("kafka_timestamp").min().over(key))
    unique = typed.unique(subset=key, keep="first", maintain_order=True).drop("_utc_day")
    return unique.cast(dict(polars_schema(family))), typed.height - unique.height  # type: ignore[arg-type]


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
    frame = messages.with_columns(
        pl.col("topic").replace_strict(families, default=None).alias("family"),
        pl.from_epoch("timestamp_ms", time_unit="ms").dt.replace_time_zone("UTC").dt.cast_time_unit("us"),
    )
    valid: dict[Family, pl.DataFrame] = {}
    quarantined: list[pl.DataFrame] = []
    duplicates = 0
    unknown = 0
    for family in FAMILIES:
        part = frame.filter(pl.col("family") == family)
        if part.is_empty():
            valid[family] = pl.DataFrame(schema=polars_schema(family))
            continue
        typed: list[pl.DataFrame] = []
        if fast:
            accepted, part = _fast_decode(part, family)
            typed.append(accepted)
        if not part.is_empty():
            checked, bad, extra = _rules_decode(part, family)
            typed.append(checked)
            quarantined.append(bad)
            unknown += extra
        valid[family], dropped = _deduplicated(pl.concat(typed), family)
        duplicates += dropped
    quarantine = pl.concat([pl.DataFrame(schema=QUARANTINE_SCHEMA), *quarantined]).cast(dict(QUARANTINE_SCHEMA))  # type: ignore[arg-type]
    return Decoded(valid, quarantine, duplicates, unknown)


def event_type_names(family: Family) -> list[str]:
    """Names of a family's event types (for messages and docs)."""
    return [t.name for t in event_types(family)]


__all__ = ["MESSAGE_SCHEMA", "QUARANTINE_SCHEMA", "Decoded", "EventType", "decode_messages", "event_type_names"]
