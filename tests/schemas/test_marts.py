"""The outputs' registry (schemas/marts.py): complete, consistent, and what the rest derives from it."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

import schemas.marts as registry
from reports import i18n
from schemas.expectations import MART_SUITES
from schemas.marts import HEADLINE, HEADLINE_KEYS, MARTS, METRICS, SECTIONS, Metric, zero_fill

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _doc_sections(text: str) -> dict[str, str]:
    """docs/marts.md's ``###`` sections by heading."""
    parts = re.split(r"^### ", text, flags=re.MULTILINE)
    return {part.split("\n", 1)[0]: part for part in parts[1:]}


@pytest.mark.parametrize("mart", MARTS, ids=lambda m: m.name)
def test_every_mart_column_is_in_the_data_dictionary(mart: registry.Mart) -> None:
    sections = _doc_sections((DOCS / "marts.md").read_text(encoding="utf-8"))
    mine = [body for heading, body in sections.items() if f"`{mart.name}`" in heading]
    assert mine, f"docs/marts.md has no section headed with `{mart.name}`"
    missing = [c.name for c in mart.columns if not any(f"`{c.name}`" in body for body in mine)]
    assert not missing, f"docs/marts.md does not describe {mart.name}'s column(s) {missing}"


def test_every_headline_metric_is_defined_in_the_metrics_doc() -> None:
    text = (DOCS / "metrics.md").read_text(encoding="utf-8")
    missing = [m.key for m in METRICS if f"`{m.key}`" not in text]
    assert not missing, f"docs/metrics.md does not define {missing}"


def test_a_mart_ddl_creates_exactly_its_declared_columns() -> None:
    con = duckdb.connect()
    for mart in MARTS:
        con.execute(mart.ddl())
        rows = con.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_name = ? ORDER BY ordinal_position",
            [mart.name],
        ).fetchall()
        spelled = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}  # as information_schema spells it
        assert rows == [(c.name, spelled.get(c.type, c.type), "YES" if c.nullable else "NO") for c in mart.columns]


def test_summary_keys_sections_and_labels_come_from_the_registry() -> None:
    assert HEADLINE_KEYS[:3] == ("dau", "wau", "mau")
    assert tuple(m.key for m in METRICS) == HEADLINE_KEYS
    shown = [k for keys in SECTIONS.values() for k in keys]
    assert sorted(shown) == sorted(m.key for m in METRICS if m.kind != "instant")  # each figure in one section
    for metric in METRICS:
        assert i18n.label(metric.key, "en") == metric.en
        assert i18n.label(metric.key, "zh") == metric.zh


def test_an_unknown_label_is_an_error_not_the_raw_key() -> None:
    with pytest.raises(KeyError):
        i18n.label("no_such_figure", "en")


def test_zero_fill_of_the_headline_covers_counts_and_sums() -> None:
    fill = zero_fill(HEADLINE)
    assert fill["dau"] == 0 and isinstance(fill["dau"], int)
    assert fill["hours_watched"] == 0.0 and isinstance(fill["hours_watched"], float)
    assert "stickiness" not in fill  # a ratio stays NULL on a day without its denominator
    assert "pcu_at" not in fill  # filled with the day's start by the transform


def test_column_ranges_become_expectations() -> None:
    headline = next(s for s in MART_SUITES if s.name == "agg_daily_headline")
    by_name = {e.name: e for e in headline.expectations}
    assert (by_name["hours_watched_non_negative"].min_value, by_name["hours_watched_non_negative"].max_value) == (
        0,
        None,
    )
    assert by_name["csat_is_share"].max_value == 1
    assert by_name["ctr_is_share"].severity == "warning"
    assert (by_name["nps_in_range"].min_value, by_name["nps_in_range"].max_value) == (-100, 100)
    assert "one_row" in by_name and "key_unique" in by_name  # cross-column rules kept by hand
    assert {s.name for s in MART_SUITES} == {m.name for m in MARTS if m.checked}


def test_the_version_changes_with_a_column_but_not_with_a_label(monkeypatch: pytest.MonkeyPatch) -> None:
    before = registry._fingerprint()
    relabelled = tuple(replace(m, en=m.en + "!") if m.key == "dau" else m for m in METRICS)
    monkeypatch.setattr(registry, "METRICS", relabelled)
    assert registry._fingerprint() == before
    extra = registry.Column("avg_extra", "DOUBLE", "a new figure", nullable=True)
    grown = tuple(replace(m, columns=(*m.columns, extra)) if m is HEADLINE else m for m in MARTS)
    monkeypatch.setattr(registry, "MARTS", grown)
    assert registry._fingerprint() != before


def test_an_incomplete_declaration_fails_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    unlabelled = Metric("dau", "count", "growth", "DAU", "", "users active in D")
    monkeypatch.setattr(registry, "METRICS", (unlabelled, *METRICS[1:]))
    with pytest.raises(ValueError, match="dau: a label is missing"):
        registry._validate()
    stray = Metric("avg_nothing", "decimal", "qoe", "Nothing", "无", "not a headline column")
    monkeypatch.setattr(registry, "METRICS", (*METRICS, stray))
    monkeypatch.setattr(registry, "METRIC_BY_KEY", {m.key: m for m in (*METRICS, stray)})
    with pytest.raises(ValueError, match="avg_nothing: not a column of agg_daily_headline"):
        registry._validate()
