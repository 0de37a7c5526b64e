"""The GX door on tiny frames: each kind of check passes on good data and reports failures on bad data."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from quality.gx_adapter import Batch, ExpectationResult, validate
from schemas.expectations import Check, Condition, Expectation, Severity, Suite


def expect(
    check: Check, *columns: str, severity: Severity = "critical", name: str = "e", **kwargs: object
) -> Expectation:
    return Expectation(name, check, severity, f"{check} of {', '.join(columns)}", columns, **kwargs)  # type: ignore[arg-type]


def run(
    frame: pl.DataFrame | pd.DataFrame, *expectations: Expectation, key: tuple[str, ...] = ()
) -> list[ExpectationResult]:
    suite = Suite("s", "mart", "t", "a test suite", expectations, key=key)
    return list(validate([Batch(suite, frame)]).results)


def one(frame: pl.DataFrame | pd.DataFrame, expectation: Expectation, key: tuple[str, ...] = ()) -> ExpectationResult:
    (result,) = run(frame, expectation, key=key)
    return result


# Each case: an expectation, a frame it holds on, a frame it fails on, and the observed value of the failure.
CASES = [
    (expect("not_null", "x"), {"x": [1, 2]}, {"x": [1, None]}, "[null]"),
    (expect("in_set", "x", values=("a", "b")), {"x": ["a", None]}, {"x": ["a", "z"]}, '["z"]'),
    (expect("matches", "x", regex="^[A-Z]{2}$"), {"x": ["FR", None]}, {"x": ["FR", "fra"]}, '["fra"]'),
    (expect("between", "x", min_value=0, max_value=1), {"x": [0.0, 1.0, None]}, {"x": [0.5, 1.5]}, "[1.5]"),
    # One-sided: checked on the column's minimum (the observed value).
    (expect("between", "x", min_value=0), {"x": [0, 9]}, {"x": [0, -2]}, "-2"),
    (expect("between", "x", max_value=0), {"x": [0, None]}, {"x": [0, 2]}, "2"),
    (expect("length_between", "x", max_value=3), {"x": ["abc"]}, {"x": ["abcd"]}, '["abcd"]'),
    (expect("unique", "x"), {"x": [1, 2]}, {"x": [1, 1]}, "[1, 1]"),
    (
        expect("unique", "x", "y"),
        {"x": [1, 1], "y": [1, 2]},
        {"x": [1, 1], "y": [2, 2]},
        '[{"x": 1, "y": 2}, {"x": 1, "y": 2}]',
    ),
    (expect("row_count", min_value=1, max_value=1), {"x": [1]}, {"x": [1, 2]}, "2"),
    (expect("at_least", "a", "b"), {"a": [2, 2], "b": [1, 2]}, {"a": [1], "b": [2]}, "[[1, 2]]"),
    (expect("equal", "a", "b"), {"a": [2], "b": [2]}, {"a": [3], "b": [2]}, "[[3, 2]]"),
    (expect("sum_between", "x", max_value=0), {"x": [0, 0, None]}, {"x": [0, 3]}, "3"),
]


@pytest.mark.parametrize(
    ("expectation", "good", "bad", "observed"), CASES, ids=[f"{c[0].check}-{i}" for i, c in enumerate(CASES)]
)
def test_each_check_holds_on_good_data_and_fails_on_bad_data(
    expectation: Expectation, good: dict[str, list[object]], bad: dict[str, list[object]], observed: str
) -> None:
    assert one(pl.DataFrame(good), expectation).success
    failure = one(pl.DataFrame(bad), expectation)
    assert not failure.success
    assert failure.observed_value == observed


def test_a_result_is_plain_data_named_after_the_declaration() -> None:
    e = expect("between", "hours", severity="warning", name="hours_non_negative", min_value=0)

    result = one(pl.DataFrame({"hours": [1.0, -1.0]}), e)

    assert result == ExpectationResult(
        suite="s",
        expectation="hours_non_negative",
        severity="warning",
        success=False,
        observed_value="-1.0",
        details="the minimum is -1.0; expected at least 0",
        description="between of hours",
    )
    assert all(isinstance(v, str | bool) for v in vars(result).values())


def test_the_details_name_the_offending_rows_by_key() -> None:
    frame = pl.DataFrame({"day": [date(2026, 11, 8)] * 3, "channel_id": ["c1", "c2", "c3"], "share": [1.0, -1.0, 2.0]})

    result = one(frame, expect("between", "share", min_value=0, max_value=1), key=("day", "channel_id"))

    assert result.details == "2 of 3 values unexpected at day=2026-11-08, channel_id=c2; day=2026-11-08, channel_id=c3"


def test_a_condition_restricts_the_rows_checked() -> None:
    frame = pl.DataFrame({"survey": ["csat", "nps", "nps"], "score": [5, 9, 11]})
    csat = expect("between", "score", name="csat", min_value=1, max_value=5, when=(Condition("survey", ("csat",)),))
    nps = expect("between", "score", name="nps", min_value=0, max_value=10, when=(Condition("survey", ("nps",)),))
    both = expect("not_null", "score", name="both", when=(Condition("survey", ("csat", "nps")),))

    results = {r.expectation: r for r in run(frame, csat, nps, both)}

    assert results["csat"].success and results["both"].success
    assert not results["nps"].success and results["nps"].observed_value == "[11]"


def test_pandas_frames_and_aware_timestamps_are_accepted() -> None:
    frame = pd.DataFrame(
        {
            "watermark": pd.to_datetime(["2026-11-09T03:00:00+00:00"], utc=True),
            "complete_at": pd.to_datetime(["2026-11-09T02:00:00+00:00"], utc=True),
        }
    )
    assert one(frame, expect("at_least", "watermark", "complete_at")).success
    late = pl.DataFrame(
        {"watermark": [datetime(2026, 11, 9, 1, tzinfo=UTC)], "complete_at": [datetime(2026, 11, 9, 2, tzinfo=UTC)]}
    )
    failure = one(late, expect("at_least", "watermark", "complete_at"))
    assert json.loads(failure.observed_value) == [["2026-11-09T01:00:00Z", "2026-11-09T02:00:00Z"]]


def test_a_check_that_cannot_run_is_a_failure_that_says_why() -> None:
    result = one(pl.DataFrame({"x": [1]}), expect("not_null", "no_such_column"))

    assert not result.success
    assert result.observed_value == "null"
    assert result.details.startswith("the check could not run:") and "no_such_column" in result.details


def test_an_empty_frame_meets_every_row_check() -> None:
    frame = pl.DataFrame(schema={"x": pl.Float64, "y": pl.String})
    results = run(
        frame,
        expect("between", "x", name="a", min_value=0),
        expect("in_set", "y", name="b", values=("a",)),
        expect("unique", "y", name="c"),
        expect("sum_between", "x", name="d", max_value=0),
    )
    assert [r.success for r in results] == [True, True, True, True]


def test_suite_names_must_be_distinct() -> None:
    suite = Suite("s", "mart", "t", "d", (expect("not_null", "x"),))
    with pytest.raises(ValueError, match="distinct"):
        validate([Batch(suite, pl.DataFrame({"x": [1]})), Batch(suite, pl.DataFrame({"x": [1]}))])


def test_data_docs_are_written_only_where_asked(tmp_path: Path) -> None:
    suite = Suite("tiny_suite", "mart", "t", "d", (expect("not_null", "x"),))

    assert validate([Batch(suite, pl.DataFrame({"x": [1]}))]).docs_index is None
    validation = validate([Batch(suite, pl.DataFrame({"x": [1]}))], docs_dir=tmp_path / "docs", run_name="r1")

    assert validation.docs_index == tmp_path / "docs" / "index.html"
    assert "tiny_suite" in validation.docs_index.read_text(encoding="utf-8")
    page = tmp_path / "docs" / validation.docs_pages["tiny_suite"]
    assert page.parts[-4:-2] == ("tiny_suite", "r1") and page.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs"]
