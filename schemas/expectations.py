"""The data-quality suites, declared once as plain data (no Great Expectations here).

Every day is checked before anyone reads it (``quality.checks`` runs these suites; ``quality.gx_adapter``
turns each :class:`Expectation` into one Great Expectations expectation). Six kinds of suite:

- **events** (one per topic family, ``stg_<family>_events`` of the day): derived from the event contract
  (:mod:`schemas.events`): required fields present, event types and schema version, enumerations,
  patterns, integer ranges, ``event_id`` unique. They run on a per-day *profile* of the topic computed in
  DuckDB (see ``quality.checks``), so their cost does not grow with the day's volume.
- **marts** (one per daily mart, the rows of the day): the mart's key unique, ranges of figures and ratios,
  orderings (WAU >= DAU, ...), enumerations of breakdown labels. Columns the DDL declares ``NOT NULL`` are
  not re-checked: DuckDB refuses a null there.
- **volume**: each topic's events of the day against the median of the 7 days before.
- **freshness**: the watermark and the marts build against the day and the report time.
- **referential**: viewer and engagement events of the day refer to streams that have a ``stream_start``.
- **reconciliation**: figures computed twice agree (hours watched by category versus the headline,
  attributed + organic sign-ups versus the sign-up events, ...).

Severity: ``critical`` when a figure of the day would be wrong or missing (the day is then marked
``unverified``); ``warning`` when something deserves a look but the figures stand (an unknown label in a
breakdown, a stale feed for a day that is already complete, a volume spike).

The columns of the frames that the volume, freshness, referential and reconciliation suites read are listed
in :data:`FACT_FRAMES`; ``quality.checks`` builds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from schemas.events import (
    CAMPAIGN_CHANNELS,
    DEVICES,
    ENVELOPE,
    FAMILIES,
    REPORT_REASONS,
    SCHEMA_VERSION,
    SHARE_TARGETS,
    SOURCES,
    SURVEY_SCORE_RANGES,
    Family,
    Field,
    event_types,
    family_fields,
)
from schemas.marts import MARTS, Mart
from schemas.marts import Check as ColumnCheck

Severity = Literal["critical", "warning"]
CRITICAL: Severity = "critical"
WARNING: Severity = "warning"

# What an expectation checks. Each maps to one Great Expectations expectation (quality.gx_adapter).
Check = Literal[
    "not_null",  # columns[0] has no null; events suites: no field of `columns` missing where the contract requires it
    "in_set",  # every non-null value of columns[0] is one of `values`; events suites: `column=value` pairs
    "matches",  # every non-null value of columns[0] matches `regex` (anchor it to match in full)
    "between",  # every non-null value of columns[0] lies in [min_value, max_value] (None: unbounded)
    "length_between",  # the length of every non-null value of columns[0] lies in [min_value, max_value]
    "unique",  # `columns` together take distinct values on every row
    "row_count",  # the number of rows lies in [min_value, max_value]
    "at_least",  # columns[0] >= columns[1] on every row
    "equal",  # columns[0] == columns[1] on every row
    "sum_between",  # the sum of columns[0] lies in [min_value, max_value]
]

SuiteKind = Literal["events", "mart", "volume", "freshness", "referential", "reconciliation"]

# Volume: a topic's events of the day must lie within these multiples of its trailing-7-day median.
VOLUME_MIN_RATIO = 0.5
VOLUME_MAX_RATIO = 2.0
VOLUME_TRAILING_DAYS = 7
# Reconciliation: largest relative difference tolerated between two sums of float hours.
HOURS_TOLERANCE = 1e-9

UNKNOWN = "unknown"  # the label the marts give a missing source, device, country or category


@dataclass(frozen=True)
class Condition:
    """Rows whose ``column`` is one of ``values`` (an expectation's ``when`` restricts it to such rows)."""

    column: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Expectation:
    """One expectation of a suite.

    Attributes:
        name: identifier, unique within its suite (``required_fields_present``).
        check: what is checked (see :data:`Check`).
        severity: ``critical`` (the day is unverified when it fails) or ``warning``.
        description: one short sentence for humans: what must hold.
        columns: the column(s) checked.
        values: allowed values (``in_set``).
        min_value / max_value: bounds, inclusive (``between``, ``length_between``, ``row_count``,
            ``sum_between``); None means unbounded.
        regex: pattern (``matches``).
        when: the expectation applies to the rows meeting every condition (all rows when empty).
        identify_by: columns naming an offending row in the details of a failure (default: the suite's key).
    """

    name: str
    check: Check
    severity: Severity
    description: str
    columns: tuple[str, ...] = ()
    values: tuple[str | int | bool, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    regex: str | None = None
    when: tuple[Condition, ...] = ()
    identify_by: tuple[str, ...] = ()

    @property
    def column(self) -> str:
        """The (first) column checked."""
        return self.columns[0]


@dataclass(frozen=True)
class Suite:
    """A named set of expectations run on one frame of the day.

    Attributes:
        name: suite name (``viewer_events``, ``agg_daily_category``, ``volume``, ...).
        kind: which frame it reads (see the module docstring).
        table: the warehouse table or view the frame comes from (a fact frame's name for the four
            day-level suites).
        description: what the suite guards, for humans.
        expectations: its expectations, in display order.
        key: columns identifying a row of the frame (named in the details of a failure).
    """

    name: str
    kind: SuiteKind
    table: str
    description: str
    expectations: tuple[Expectation, ...]
    key: tuple[str, ...] = ()

    def expectation(self, name: str) -> Expectation:
        """The expectation called ``name`` (KeyError if none)."""
        for expectation in self.expectations:
            if expectation.name == name:
                return expectation
        raise KeyError(f"{self.name} has no expectation {name!r}")


# ---------------------------------------------------------------------------------------------------------
# Events: derived from the contract
# ---------------------------------------------------------------------------------------------------------


def required_fields(family: Family) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``(field, event types that require it)`` for every field some event type of the family requires.

    A field required by every type (the envelope, the ids) lists all of them; ``device`` of viewer events
    lists ``session_start`` only.
    """
    found: list[tuple[str, tuple[str, ...]]] = []
    all_types = tuple(t.name for t in event_types(family))
    for f in (*ENVELOPE, *family_fields(family)):
        if f in ENVELOPE:
            types = () if f.nullable else all_types
        else:
            types = tuple(
                t.name for t in event_types(family) if any(g.name == f.name and not g.nullable for g in t.fields)
            )
        if types:
            found.append((f.name, types))
    return tuple(found)


def enumerations(family: Family) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``(field, allowed values)`` of the family's enumerated fields."""
    return tuple((f.name, f.choices) for f in family_fields(family) if f.choices is not None)


def _ranges(f: Field) -> list[Expectation]:
    if f.kind != "int" or (f.min is None and f.max is None):
        return []
    if f.name == "score":
        # The survey decides the range (docs/contract.md): one expectation per survey.
        return [
            Expectation(
                f"score_in_range_{survey}", "between", CRITICAL, f"a {survey} score lies in {lo}..{hi}", (f.name,),
                min_value=lo, max_value=hi, when=(Condition("survey", (survey,)),),
            )
            for survey, (lo, hi) in SURVEY_SCORE_RANGES.items()
        ]  # fmt: skip
    bounds = f"at least {f.min}" if f.max is None else f"within {f.min}..{f.max}"
    return [
        Expectation(
            f"{f.name}_in_range",
            "between",
            CRITICAL,
            f"{f.name} is {bounds}",
            (f.name,),
            min_value=f.min,
            max_value=f.max,
        )
    ]


def event_suite(family: Family) -> Suite:
    """The suite of one topic family's events of a day, derived from the contract (:mod:`schemas.events`).

    Rules of one kind are checked together where the contract states them field by field: all required
    fields in one expectation (its details name the field and event type lacking it), all enumerations in
    one (on ``field=value`` pairs). Ranges keep one expectation per field (their bounds differ). Text lengths
    and non-empty ids are left to the decoder: re-reading every string would cost more than the whole suite.
    """
    types = tuple(t.name for t in event_types(family))
    required = required_fields(family)
    enumerated = enumerations(family)
    expectations = [
        Expectation(
            "required_fields_present", "not_null", CRITICAL,
            "every field the contract requires of an event type is present", tuple(f for f, _ in required),
        ),
        Expectation("event_id_unique", "unique", CRITICAL, "no event_id occurs twice (the dedup key)", ("event_id",)),
        Expectation(
            "type_and_version_in_contract", "in_set", CRITICAL,
            f"event_type is a {family} type of the contract and schema_version is {SCHEMA_VERSION}",
            ("event_type", "schema_version"),
            values=(*(f"event_type={t}" for t in types), f"schema_version={SCHEMA_VERSION}"),
        ),
    ]  # fmt: skip
    if enumerated:
        expectations.append(
            Expectation(
                "enumerations_in_contract", "in_set", WARNING,
                f"{', '.join(f for f, _ in enumerated)} hold values of the contract's enumerations",
                tuple(f for f, _ in enumerated), values=tuple(f"{f}={v}" for f, vs in enumerated for v in vs),
            )
        )  # fmt: skip
    for f in family_fields(family):
        if f.pattern is not None:
            expectations.append(
                Expectation(
                    f"{f.name}_matches", "matches", WARNING, f"{f.name} matches {f.pattern}", (f.name,),
                    regex=f"^(?:{f.pattern})$",
                )
            )  # fmt: skip
        expectations += _ranges(f)
    return Suite(
        name=f"{family}_events",
        kind="events",
        table=f"stg_{family}_events",
        description=f"The day's {family} events, as staged, against the event contract.",
        expectations=tuple(expectations),
    )


# ---------------------------------------------------------------------------------------------------------
# Marts
# ---------------------------------------------------------------------------------------------------------


def _labels(column: str, values: tuple[str, ...]) -> Expectation:
    return Expectation(
        f"{column}_in_set",
        "in_set",
        WARNING,
        f"{column} is a known value (or '{UNKNOWN}')",
        (column,),
        values=(*values, UNKNOWN),
    )


def _column_check(column: str, check: ColumnCheck) -> Expectation:
    """The expectation of a column's declared range (schemas/marts.py)."""
    lo, hi = check.minimum, check.maximum
    if check.name is not None:
        name, description = check.name, check.description or f"{column} lies in {lo}..{hi}"
    elif lo == 0 and hi is None:
        name, description = f"{column}_non_negative", f"{column} is not negative"
    elif lo == 0 and hi == 1:
        name, description = f"{column}_is_share", f"{column} is a share within 0..1"
    else:
        name, description = f"{column}_in_range", f"{column} lies in {lo}..{hi}"
    return Expectation(name, "between", check.severity, description, (column,), min_value=lo, max_value=hi)


def _sessions_cover_viewers() -> Expectation:
    return Expectation(
        "sessions_at_least_unique_viewers",
        "at_least",
        CRITICAL,
        "a viewer has at least one session",
        ("sessions", "unique_viewers"),
    )


# The rules that relate columns (or rows) of a mart: by hand. Per-column ranges come from the registry.
_CROSS_COLUMN: dict[str, tuple[Expectation, ...]] = {
    "agg_daily_headline": (
        Expectation("one_row", "row_count", CRITICAL, "the day has exactly one headline row", min_value=1, max_value=1),
        Expectation("wau_at_least_dau", "at_least", CRITICAL, "WAU is at least DAU", ("wau", "dau")),
        Expectation("mau_at_least_wau", "at_least", CRITICAL, "MAU is at least WAU", ("mau", "wau")),
        Expectation(
            "dau_at_least_unique_viewers",
            "at_least",
            CRITICAL,
            "every viewer is an active user",
            ("dau", "unique_viewers"),
        ),
    ),
    "agg_daily_campaign": (
        Expectation(
            "channel_in_set",
            "in_set",
            WARNING,
            "channel is a marketing channel of the contract",
            ("channel",),
            values=CAMPAIGN_CHANNELS,
        ),
    ),
    "agg_daily_source": (_labels("source", SOURCES), _sessions_cover_viewers()),
    "agg_daily_device": (_labels("device", DEVICES), _sessions_cover_viewers()),
    "agg_daily_country": (
        Expectation(
            "country_matches",
            "matches",
            WARNING,
            f"country is an ISO code (or '{UNKNOWN}')",
            ("country",),
            regex=f"^(?:[A-Z]{{2}}|{UNKNOWN})$",
        ),
        _sessions_cover_viewers(),
    ),
    "agg_daily_shares_by_target": (
        Expectation(
            "target_in_set",
            "in_set",
            WARNING,
            "target is a share target of the contract",
            ("target",),
            values=SHARE_TARGETS,
        ),
    ),
    "agg_daily_reports_by_reason": (
        Expectation(
            "reason_in_set",
            "in_set",
            WARNING,
            "reason is a report reason of the contract",
            ("reason",),
            values=REPORT_REASONS,
        ),
    ),
}


def _mart_suite(mart: Mart) -> Suite:
    """A mart's suite: its key unique, the cross-column rules, and every column's declared range."""
    expectations = (
        Expectation("key_unique", "unique", CRITICAL, f"one row per ({', '.join(mart.key)}) in {mart.name}", mart.key),
        *_CROSS_COLUMN.get(mart.name, ()),
        *(_column_check(c.name, c.check) for c in mart.columns if c.check is not None),
    )
    return Suite(mart.name, "mart", mart.name, mart.description, expectations, key=mart.key)


# Counts (BIGINT sums of non-negative contract fields) are not re-checked for sign: the floats computed by the
# build (hours, averages, ratios, spend) are, as their declarations in schemas/marts.py say.
MART_SUITES: tuple[Suite, ...] = tuple(_mart_suite(m) for m in MARTS if m.checked)
_UNKNOWN_MARTS = sorted(set(_CROSS_COLUMN) - {m.name for m in MARTS if m.checked})
if _UNKNOWN_MARTS:
    raise ValueError(f"schemas/expectations.py: rules for marts the registry does not check: {_UNKNOWN_MARTS}")


# ---------------------------------------------------------------------------------------------------------
# Day-level facts: volume, freshness, referential integrity, reconciliations
# ---------------------------------------------------------------------------------------------------------

# The columns of the small frames quality.checks builds for the four day-level suites.
FACT_FRAMES: dict[str, tuple[str, ...]] = {
    # One row. Per topic family: the day's events, how many earlier days the median covers (up to 7, from
    # the family's first day with data), their median daily events and events / median (both null when no
    # earlier day has data: nothing to compare with).
    "volume": tuple(
        f"{family}_{column}"
        for family in FAMILIES
        for column in ("events", "trailing_days", "trailing_median", "ratio")
    ),
    # One row: the watermark (latest event_time ingested), the instant the day completes (its end plus the
    # allowed lateness), the report time minus the allowed lateness, whether the marts hold the day and
    # whether they were built once the day was complete.
    "freshness": ("watermark", "complete_at", "fresh_after", "marts_built", "built_when_complete"),
    # One row per (family, stream_id) referenced by the day's viewer and engagement events; the family's
    # ``<family>_has_stream_start`` column says whether the stream has a stream_start (null on the other
    # family's rows).
    "referential": ("family", "stream_id", "events", "viewer_has_stream_start", "engagement_has_stream_start"),
    # One row: each figure as the headline has it and as recomputed another way.
    "reconciliation": (
        "headline_hours_watched",
        "category_hours_watched",
        "hours_watched_relative_difference",
        "headline_signups",
        "signup_events",
        "headline_attributed_signups",
        "campaign_attributed_signups",
        "headline_sessions",
        "source_sessions",
        "built_events",
        "raw_events",
    ),
}


def _volume_expectations() -> list[Expectation]:
    found = []
    for family in FAMILIES:
        found += [
            Expectation(
                f"{family}_volume_not_below_half",
                "between",
                CRITICAL,
                f"{family} events are at least {VOLUME_MIN_RATIO:g} x the median of the {VOLUME_TRAILING_DAYS} days before",
                (f"{family}_ratio",),
                min_value=VOLUME_MIN_RATIO,
            ),
            Expectation(
                f"{family}_volume_not_above_double",
                "between",
                WARNING,
                f"{family} events are at most {VOLUME_MAX_RATIO:g} x the median of the {VOLUME_TRAILING_DAYS} days before",
                (f"{family}_ratio",),
                max_value=VOLUME_MAX_RATIO,
            ),
        ]
    return found


FACT_SUITES: tuple[Suite, ...] = (
    Suite(
        "volume",
        "volume",
        "volume",
        f"Each topic's events of the day against the median of its {VOLUME_TRAILING_DAYS} previous days.",
        tuple(_volume_expectations()),
    ),
    Suite(
        "freshness",
        "freshness",
        "freshness",
        "The watermark has passed the day's end plus the allowed lateness, the feed is fresh, the marts are built.",
        (
            Expectation(
                "day_complete",
                "at_least",
                WARNING,
                "the watermark is at least the day's end plus the allowed lateness (no more events are expected)",
                ("watermark", "complete_at"),
            ),
            Expectation(
                "watermark_fresh",
                "at_least",
                WARNING,
                "at report time the watermark is no older than the allowed lateness (ingest keeps up)",
                ("watermark", "fresh_after"),
            ),
            Expectation("marts_built", "in_set", CRITICAL, "the marts hold the day", ("marts_built",), values=(True,)),
            Expectation(
                "marts_built_when_complete",
                "in_set",
                CRITICAL,
                "a complete day's marts were built once it was complete (not before: late events missing)",
                ("built_when_complete",),
                values=(True,),
            ),
        ),
    ),
    Suite(
        "referential",
        "referential",
        "referential",
        "Sessions and engagement of the day refer to streams that exist (have a stream_start).",
        (
            Expectation(
                "viewer_streams_exist",
                "in_set",
                CRITICAL,
                "every stream_id of the day's viewer events has a stream_start",
                ("viewer_has_stream_start",),
                values=(True,),
            ),
            Expectation(
                "engagement_streams_exist",
                "in_set",
                WARNING,
                "every stream_id of the day's engagement events has a stream_start",
                ("engagement_has_stream_start",),
                values=(True,),
            ),
        ),
        key=("family", "stream_id"),
    ),
    Suite(
        "reconciliation",
        "reconciliation",
        "reconciliation",
        "Figures computed two ways agree.",
        (
            Expectation(
                "category_hours_sum_to_headline",
                "between",
                CRITICAL,
                f"hours watched by category sum to the headline hours watched (relative difference <= {HOURS_TOLERANCE:g})",
                ("hours_watched_relative_difference",),
                max_value=HOURS_TOLERANCE,
            ),
            Expectation(
                "signups_attributed_plus_organic",
                "equal",
                CRITICAL,
                "attributed + organic sign-ups equal the day's signup events",
                ("headline_signups", "signup_events"),
            ),
            Expectation(
                "campaign_signups_sum_to_headline",
                "equal",
                CRITICAL,
                "attributed sign-ups by campaign sum to the headline's",
                ("campaign_attributed_signups", "headline_attributed_signups"),
            ),
            Expectation(
                "source_sessions_sum_to_headline",
                "equal",
                CRITICAL,
                "sessions by source sum to the headline sessions",
                ("source_sessions", "headline_sessions"),
            ),
            Expectation(
                "marts_cover_raw_events",
                "equal",
                CRITICAL,
                "the marts were built from all the day's events now in the warehouse (no event arrived since)",
                ("built_events", "raw_events"),
            ),
        ),
    ),
)

EVENT_SUITES: tuple[Suite, ...] = tuple(event_suite(family) for family in FAMILIES)

# Every suite, in the order reports list them.
SUITES: tuple[Suite, ...] = (*EVENT_SUITES, *FACT_SUITES, *MART_SUITES)


def suite(name: str) -> Suite:
    """The suite called ``name`` (KeyError if none)."""
    for s in SUITES:
        if s.name == name:
            return s
    raise KeyError(f"no suite {name!r}")
