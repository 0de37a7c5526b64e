"""The suites as declared: consistent names, keys that match the marts, events derived from the contract."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from schemas.events import DEVICES, FAMILIES, SURVEY_SCORE_RANGES, event_types
from schemas.expectations import (
    EVENT_SUITES,
    FACT_FRAMES,
    FACT_SUITES,
    MART_SUITES,
    SUITES,
    Condition,
    required_fields,
    suite,
)
from schemas.marts import MART_KEYS, MART_TABLES


def test_suite_and_expectation_names_are_unique_and_described() -> None:
    assert len({s.name for s in SUITES}) == len(SUITES)
    for s in SUITES:
        names = [e.name for e in s.expectations]
        assert len(set(names)) == len(names), s.name
        assert s.description
        for e in s.expectations:
            assert e.severity in ("critical", "warning")
            assert e.description and len(e.description) < 120, (s.name, e.name)


def test_every_check_has_what_it_needs() -> None:
    for s in SUITES:
        for e in s.expectations:
            where = f"{s.name}.{e.name}"
            if e.check in ("at_least", "equal"):
                assert len(e.columns) == 2, where
            elif e.check == "row_count":
                assert e.columns == (), where
            elif e.check == "unique" or (s.kind == "events" and e.check in ("not_null", "in_set")):
                assert e.columns, where  # events suites check a rule over all the fields it concerns
            else:
                assert len(e.columns) == 1, where
            if e.check == "in_set":
                assert e.values, where
            if e.check == "matches":
                assert e.regex and e.regex.startswith("^") and e.regex.endswith("$"), where
            if e.check in ("between", "length_between", "row_count", "sum_between"):
                assert e.min_value is not None or e.max_value is not None, where


def test_mart_suites_check_the_keys_the_marts_declare() -> None:
    for s in MART_SUITES:
        assert s.table in MART_TABLES
        assert s.key == MART_KEYS[s.table]
        assert s.expectation("key_unique").columns == MART_KEYS[s.table]
        assert s.expectation("key_unique").severity == "critical"


def test_fact_suites_read_only_the_columns_of_their_frames() -> None:
    assert {s.name for s in FACT_SUITES} == set(FACT_FRAMES)
    for s in FACT_SUITES:
        for e in s.expectations:
            assert set(e.columns) <= set(FACT_FRAMES[s.name]), (s.name, e.name)
            assert {c.column for c in e.when} <= set(FACT_FRAMES[s.name]), (s.name, e.name)


def test_there_is_an_events_suite_per_topic_family_derived_from_the_contract() -> None:
    assert [s.name for s in EVENT_SUITES] == [f"{f}_events" for f in FAMILIES]
    viewer = suite("viewer_events")
    assert {f"device={d}" for d in DEVICES} <= set(viewer.expectation("enumerations_in_contract").values)
    assert viewer.expectation("enumerations_in_contract").columns == ("device", "source", "reason")
    assert {"event_id", "session_id", "device", "buffering_ms", "reason"} <= set(
        viewer.expectation("required_fields_present").columns
    )
    required = dict(required_fields("viewer"))
    assert required["device"] == ("session_start",)
    assert required["session_id"] == required["event_id"] == ("session_start", "heartbeat", "session_end")
    assert "is_anonymous" not in required and "campaign_id" not in required  # optional fields
    assert viewer.expectation("type_and_version_in_contract").values == (
        *(f"event_type={t.name}" for t in event_types("viewer")),
        "schema_version=1",
    )
    assert viewer.expectation("event_id_unique").severity == "critical"
    assert viewer.expectation("startup_ms_in_range").max_value == 120_000
    engagement = suite("engagement_events")
    for survey, (lo, hi) in SURVEY_SCORE_RANGES.items():
        score = engagement.expectation(f"score_in_range_{survey}")
        assert (score.min_value, score.max_value, score.when) == (lo, hi, (Condition("survey", (survey,)),))


@pytest.mark.parametrize(
    ("name", "severity"),
    [
        ("volume.viewer_volume_not_below_half", "critical"),
        ("volume.viewer_volume_not_above_double", "warning"),
        ("freshness.day_complete", "warning"),
        ("freshness.marts_built_when_complete", "critical"),
        ("freshness.watermark_fresh", "warning"),
        ("referential.viewer_streams_exist", "critical"),
        ("referential.engagement_streams_exist", "warning"),
        ("reconciliation.category_hours_sum_to_headline", "critical"),
        ("reconciliation.signups_attributed_plus_organic", "critical"),
    ],
)
def test_severities_of_the_day_level_expectations(name: str, severity: str) -> None:
    suite_name, expectation = name.split(".")
    assert suite(suite_name).expectation(expectation).severity == severity


def test_unknown_names_raise() -> None:
    with pytest.raises(KeyError):
        suite("no_such_suite")
    with pytest.raises(KeyError):
        suite("volume").expectation("no_such_expectation")


def test_the_docs_count_the_expectations_of_every_suite() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "quality.md").read_text(encoding="utf-8")
    rows = {
        m["suite"]: (int(m["n"]), int(m["critical"]), int(m["warning"]))
        for m in re.finditer(
            r"^\| `(?P<suite>\w+)` \| [^|]+ \| (?P<n>\d+) \| (?P<critical>\d+) \| (?P<warning>\d+) \|$", docs, re.M
        )
    }
    declared = {
        s.name: (
            len(s.expectations),
            sum(e.severity == "critical" for e in s.expectations),
            sum(e.severity == "warning" for e in s.expectations),
        )
        for s in SUITES
    }
    assert rows == declared
    assert f"**{sum(n for n, _, _ in declared.values())}**" in docs
