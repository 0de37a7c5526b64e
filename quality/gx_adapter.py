"""The Great Expectations door: the only module of liveops that imports ``great_expectations``.

:func:`validate` takes frames (pandas or Polars) with the suite each must meet (plain declarations of
:mod:`schemas.expectations`), runs Great Expectations on them and returns plain :class:`ExpectationResult`
values: no GX type leaves this module.

How GX is used here:

- An *ephemeral* data context (in-memory stores), created per call, with analytics and progress bars off;
  nothing is written anywhere except the Data Docs site, and only when ``docs_dir`` is given. GX 1.24.1
  contains no usage-statistics client (the ``analytics_enabled`` setting and the ``GX_ANALYTICS_ENABLED``
  variable it documents are read by nothing) and its one network call, a PyPI version check, is never
  made; ``analytics_enabled=False`` is set anyway, for a later version that would send some.
- The pandas datasource with one dataframe asset for every frame, each validated whole. GX has no Polars
  nor DuckDB datasource, and its SQL route through duckdb-engine returns wrong results; so frames are
  small, bounded ones (a day's profile of a topic, a day's mart rows, a few day-level facts), converted to
  pandas here.
- Each declared expectation becomes one GX expectation carrying the declaration's description and
  severity; its name travels in ``meta`` and identifies the result.
- GX's Data Docs get a static front page (:func:`write_front_page`): GX's own index needs scripts from
  public CDNs to show anything.
"""

from __future__ import annotations

import html
import json
import logging
import math
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import great_expectations as gx
import pandas as pd
import polars as pl
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.expectations.core.expect_column_max_to_be_between import ExpectColumnMaxToBeBetween
from great_expectations.expectations.core.expect_column_min_to_be_between import ExpectColumnMinToBeBetween
from great_expectations.expectations.core.expect_column_pair_values_a_to_be_greater_than_b import (
    ExpectColumnPairValuesAToBeGreaterThanB,
)
from great_expectations.expectations.core.expect_column_pair_values_to_be_equal import ExpectColumnPairValuesToBeEqual
from great_expectations.expectations.core.expect_column_sum_to_be_between import ExpectColumnSumToBeBetween
from great_expectations.expectations.core.expect_column_value_lengths_to_be_between import (
    ExpectColumnValueLengthsToBeBetween,
)
from great_expectations.expectations.core.expect_column_values_to_be_between import ExpectColumnValuesToBeBetween
from great_expectations.expectations.core.expect_column_values_to_be_in_set import ExpectColumnValuesToBeInSet
from great_expectations.expectations.core.expect_column_values_to_be_unique import ExpectColumnValuesToBeUnique
from great_expectations.expectations.core.expect_column_values_to_match_regex import ExpectColumnValuesToMatchRegex
from great_expectations.expectations.core.expect_column_values_to_not_be_null import ExpectColumnValuesToNotBeNull
from great_expectations.expectations.core.expect_compound_columns_to_be_unique import ExpectCompoundColumnsToBeUnique
from great_expectations.expectations.core.expect_table_row_count_to_be_between import ExpectTableRowCountToBeBetween
from great_expectations.expectations.row_conditions import AndCondition, Column
from great_expectations.expectations.row_conditions import Condition as GxCondition

from schemas.expectations import Condition, Expectation, Severity, Suite

log = logging.getLogger(__name__)

_META_KEY = "liveops_expectation"
# How many unexpected values (and offending rows) a result keeps.
_PARTIAL = 20
# Checks GX evaluates row by row ("column map" expectations): their results list unexpected values.
_ROW_CHECKS = frozenset({"not_null", "in_set", "matches", "between", "length_between", "unique", "at_least", "equal"})


@dataclass(frozen=True)
class ExpectationResult:
    """The outcome of one expectation on one day.

    Attributes:
        suite: suite name.
        expectation: the expectation's name within its suite.
        severity: ``critical`` or ``warning``.
        success: it holds.
        observed_value: what GX observed, as JSON text: the aggregate it computed (a sum, a row count) or the
            unexpected values (``[]`` when none), e.g. ``[0.31]`` or ``[["305", "304"]]`` for a pair.
        details: human-readable details of a failure (how many rows, which ones) or of an error; empty when
            it holds.
        description: the declaration's description.
    """

    suite: str
    expectation: str
    severity: Severity
    success: bool
    observed_value: str
    details: str
    description: str


@dataclass(frozen=True)
class Batch:
    """A frame and the suite it must meet."""

    suite: Suite
    frame: pl.DataFrame | pd.DataFrame


@dataclass(frozen=True)
class Validation:
    """What :func:`validate` did.

    Attributes:
        results: one per declared expectation, suites in the order given.
        rows: rows validated per suite.
        seconds: wall time of GX (context, conversion to pandas, validation), Data Docs excluded.
        docs_seconds: wall time of building the Data Docs (0 without ``docs_dir``).
        docs_index: GX's ``index.html`` (None without ``docs_dir``). It builds its tables with scripts from
            public CDNs: offline it shows none (:func:`write_front_page` writes a static one).
        docs_pages: suite -> GX's validation result page of that suite, relative to ``docs_dir``.
    """

    results: tuple[ExpectationResult, ...]
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    docs_seconds: float = 0.0
    docs_index: Path | None = None
    docs_pages: dict[str, str] = field(default_factory=dict)


def _context(docs_dir: Path | None) -> Any:
    sites: dict[str, Any] = {}
    if docs_dir is not None:
        sites["liveops"] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites=sites,
    )
    return gx.get_context(project_config=config, mode="ephemeral")


def _row_condition(when: Sequence[Condition]) -> GxCondition | None:
    parts: list[GxCondition] = [
        Column(c.column) == c.values[0] if len(c.values) == 1 else Column(c.column).is_in(list(c.values)) for c in when
    ]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return AndCondition(conditions=parts)


def _on_extreme(e: Expectation, frame: pd.DataFrame) -> bool:
    """Check a one-sided range on the column's minimum (maximum) rather than row by row.

    Same verdict (every value >= lo <=> the minimum >= lo), a fraction of GX's cost per expectation, and the
    observed value is the offending extreme. Not when the column has no value (GX fails a minimum it cannot
    compute, where "every value" holds), nor under a condition or when the details must name rows.
    """
    one_sided = (e.min_value is None) != (e.max_value is None)
    return (
        e.check == "between"
        and one_sided
        and not e.when
        and not e.identify_by
        and e.column in frame.columns
        and bool(frame[e.column].notna().any())
    )


def _gx_expectation(e: Expectation, frame: pd.DataFrame) -> Any:
    """The GX expectation of one declaration, for ``frame``."""
    common: dict[str, Any] = {"description": e.description, "severity": e.severity, "meta": {_META_KEY: e.name}}
    condition = _row_condition(e.when)
    if condition is not None:
        common["row_condition"] = condition
    on_extreme = _on_extreme(e, frame)
    if e.check in _ROW_CHECKS and not on_extreme:
        # SUMMARY lists the unexpected values and their row labels (COMPLETE would list every one).
        common["result_format"] = {"result_format": "SUMMARY", "partial_unexpected_count": _PARTIAL}
    bounds: dict[str, Any] = {"min_value": e.min_value, "max_value": e.max_value}
    match e.check:
        case "not_null":
            return ExpectColumnValuesToNotBeNull(column=e.column, **common)
        case "in_set":
            # Row by row, not on the distinct values: GX 1.24's Data Docs cannot render a failed
            # expect_column_distinct_values_to_be_in_set (KeyError 'unexpected_percent').
            return ExpectColumnValuesToBeInSet(column=e.column, value_set=list(e.values), **common)
        case "matches":
            return ExpectColumnValuesToMatchRegex(column=e.column, regex=e.regex or "", **common)
        case "between" if on_extreme and e.max_value is None:
            return ExpectColumnMinToBeBetween(column=e.column, min_value=e.min_value, **common)
        case "between" if on_extreme:
            return ExpectColumnMaxToBeBetween(column=e.column, max_value=e.max_value, **common)
        case "between":
            return ExpectColumnValuesToBeBetween(column=e.column, **bounds, **common)
        case "length_between":
            return ExpectColumnValueLengthsToBeBetween(column=e.column, **bounds, **common)
        case "unique" if len(e.columns) == 1:
            return ExpectColumnValuesToBeUnique(column=e.column, **common)
        case "unique":
            return ExpectCompoundColumnsToBeUnique(column_list=list(e.columns), **common)
        case "row_count":
            return ExpectTableRowCountToBeBetween(**bounds, **common)
        case "at_least":
            return ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=e.columns[0], column_B=e.columns[1], or_equal=True, **common
            )
        case "equal":
            return ExpectColumnPairValuesToBeEqual(column_A=e.columns[0], column_B=e.columns[1], **common)
        case "sum_between":
            return ExpectColumnSumToBeBetween(column=e.column, **bounds, **common)
    raise ValueError(f"unknown check {e.check!r} in {e.name}")


def _plain(value: Any) -> Any:
    """A JSON-serialisable copy of a value GX returned (numpy scalars, timestamps, tuples ...)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if isinstance(value, pd.Timestamp | datetime):
        if value.tzinfo is not None:
            return value.isoformat()
        # Naive instants here are UTC (see _pandas); a bare midnight is a date column's value.
        if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
            return value.date().isoformat()
        return value.isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return _plain(value.item())
    if isinstance(value, float) and math.isnan(value):
        return None  # pandas' missing value
    if isinstance(value, float) and math.isinf(value):
        return str(value)  # "inf": JSON has no such number
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _json(value: Any) -> str:
    return json.dumps(_plain(value), ensure_ascii=False, sort_keys=False)


def _rows_text(frame: pd.DataFrame, labels: Iterable[Any], key: Sequence[str]) -> str:
    """The key of the rows GX reported by label (the frame's index): ``v`` for one key column, else ``k=v, ...``."""
    named: dict[str, None] = {}  # in order, once each (a repeated key names its rows once)
    for label in labels:
        if label in frame.index:
            row = frame.loc[label]
            if len(key) == 1:
                named[str(_plain(row[key[0]]))] = None
            else:
                named[", ".join(f"{k}={_plain(row[k])}" for k in key)] = None
    return "; ".join(named)


def _aggregate_name(e: Expectation) -> str:
    """What an aggregate expectation observed, for the details of a failure."""
    if e.check == "between":
        return "the minimum" if e.max_value is None else "the maximum"
    return {"sum_between": "the sum", "row_count": "the row count"}.get(e.check, "the value")


def _bounds_text(e: Expectation) -> str:
    if e.min_value is not None and e.max_value is not None:
        return f"expected {e.min_value:g}..{e.max_value:g}"
    if e.min_value is not None:
        return f"expected at least {e.min_value:g}"
    return f"expected at most {e.max_value:g}"


def _exception(info: Any) -> str | None:
    """The message of an exception GX caught while checking, if any.

    GX reports either ``{"raised_exception": ..., "exception_message": ...}`` or, when a metric failed, one
    such mapping per metric.
    """
    if not isinstance(info, Mapping):
        return None
    if "raised_exception" in info:
        return str(info.get("exception_message") or "unknown error") if info.get("raised_exception") else None
    for nested in info.values():
        message = _exception(nested)
        if message is not None:
            return message
    return None


def _result(suite: Suite, e: Expectation, gx_result: Any, frame: pd.DataFrame) -> ExpectationResult:
    result: dict[str, Any] = dict(gx_result.result or {})
    error = _exception(gx_result.exception_info)
    success = bool(gx_result.success) and error is None
    unexpected = list(result.get("partial_unexpected_list") or [])[:_PARTIAL]
    if error is not None:
        return ExpectationResult(
            suite.name, e.name, e.severity, False, "null", f"the check could not run: {error}", e.description
        )
    # An aggregate's observed value (a sum, a row count, the distinct values), else the unexpected values.
    value = _plain(result["observed_value"] if result.get("observed_value") is not None else unexpected)
    if e.check in ("sum_between", "row_count") and isinstance(value, float) and value.is_integer():
        value = int(value)  # a count: GX sums in floats
    observed = _json(value)
    details = ""
    if not success and "element_count" not in result and not isinstance(value, list):
        details = f"{_aggregate_name(e)} is {_json(value)}; {_bounds_text(e)}"
    elif not success and "element_count" in result:
        count = int(result.get("unexpected_count") or 0)
        checked = int(result.get("element_count") or 0) - int(result.get("missing_count") or 0)
        details = f"{count:,} of {checked:,} values unexpected"
        key = [k for k in (e.identify_by or suite.key) if k in frame.columns]
        rows = _rows_text(frame, result.get("partial_unexpected_index_list") or [], key) if key else ""
        if rows:
            details += f" at {rows}"
    return ExpectationResult(suite.name, e.name, e.severity, success, observed, details, e.description)


def _pandas(frame: pl.DataFrame | pd.DataFrame) -> pd.DataFrame:
    """The frame in pandas, time-zone-aware timestamps as naive UTC.

    GX's pair expectations read ``Series.values``, which drops the time zone of an aware column with a
    deprecation warning under pandas 3; naive UTC instants compare the same and warn about nothing.
    """
    if isinstance(frame, pl.DataFrame):
        aware = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.Datetime) and dtype.time_zone]
        frame = frame.with_columns(pl.col(aware).dt.convert_time_zone("UTC").dt.replace_time_zone(None))
        return frame.to_pandas()
    frame = frame.copy()
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.DatetimeTZDtype):
            frame[name] = frame[name].dt.tz_convert("UTC").dt.tz_localize(None)
    return frame


# ---------------------------------------------------------------------------------------------------------
# The Data Docs' front page
# ---------------------------------------------------------------------------------------------------------
# GX renders one page per suite's validation result and per suite (``validations/``, ``expectations/``),
# readable offline. Its own index page, though, builds its tables in the browser with scripts fetched from
# public CDNs, so on a machine without internet it shows empty tables. The front page written here needs
# neither scripts nor network: the verdict, passed and failed counts per suite, then every expectation with
# its severity, verdict, observed value and details, linking to GX's pages. GX's index is kept beside it as
# ``gx-index.html``.

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; }
.ok { color: #137333; } .critical { color: #b3261e; font-weight: 600; } .warning { color: #a15c00; font-weight: 600; }
.verdict { font-size: 1.2em; padding: 0.4em 0.8em; display: inline-block; border-radius: 4px; }
.verified { background: #e6f4ea; } .unverified { background: #fce8e6; }
code { font-size: 0.9em; word-break: break-all; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def render_front_page(
    day: date,
    results: Sequence[ExpectationResult],
    pages: Mapping[str, str],
    generated_at: datetime,
    run_id: str,
) -> str:
    """The front page as HTML text.

    Args:
        day: the day checked.
        results: every expectation's result, suites in order.
        pages: suite -> path (relative to the page) of GX's validation result page of that suite.
        generated_at: when the run finished.
        run_id: the run (``quality_runs.run_id``).
    """
    suites: dict[str, list[ExpectationResult]] = {}
    for r in results:
        suites.setdefault(r.suite, []).append(r)
    critical = sum(not r.success and r.severity == "critical" for r in results)
    warnings = sum(not r.success and r.severity == "warning" for r in results)
    status = "unverified" if critical else "verified"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Data quality of {day}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Data quality of {day}</h1>",
        f'<p><span class="verdict {status}">{status.upper()}</span> {critical} critical failure(s), '
        f"{warnings} warning(s), {len(results)} expectations in {len(suites)} suites.</p>",
        f"<p>Run <code>{_e(run_id)}</code>, finished {_e(generated_at.isoformat(timespec='seconds'))}. "
        'Great Expectations\' own pages: <a href="gx-index.html">GX Data Docs index</a> (its tables need '
        "internet access for their scripts); each suite's validation page is linked below.</p>",
        "<h2>Suites</h2>",
        "<table><tr><th>suite</th><th>passed</th><th>failed</th><th>critical failures</th></tr>",
    ]
    for name, rs in suites.items():
        failed = [r for r in rs if not r.success]
        worst = sum(r.severity == "critical" for r in failed)
        link = f'<a href="#{_e(name)}">{_e(name)}</a>'
        out.append(
            f"<tr><td>{link}</td><td class='num'>{len(rs) - len(failed)}</td>"
            f"<td class='num {'critical' if worst else ('warning' if failed else '')}'>{len(failed)}</td>"
            f"<td class='num'>{worst}</td></tr>"
        )
    out.append("</table>")
    for name, rs in suites.items():
        page = pages.get(name)
        gx_link = f' &middot; <a href="{_e(page)}">GX validation page</a>' if page else ""
        out.append(f'<h2 id="{_e(name)}">{_e(name)}{gx_link}</h2>')
        out.append(
            "<table><tr><th>result</th><th>severity</th><th>expectation</th><th>what must hold</th>"
            "<th>observed</th><th>details</th></tr>"
        )
        for r in rs:
            verdict = '<span class="ok">passed</span>' if r.success else f'<span class="{r.severity}">FAILED</span>'
            out.append(
                f"<tr><td>{verdict}</td><td>{_e(r.severity)}</td><td><code>{_e(r.expectation)}</code></td>"
                f"<td>{_e(r.description)}</td><td><code>{_e(r.observed_value)}</code></td><td>{_e(r.details)}</td></tr>"
            )
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)


def write_front_page(
    docs_dir: Path,
    day: date,
    results: Sequence[ExpectationResult],
    pages: Mapping[str, str],
    generated_at: datetime,
    run_id: str,
) -> Path:
    """Write the front page to ``docs_dir/index.html`` (GX's own index moved aside first). Returns its path."""
    index = docs_dir / "index.html"
    if index.exists():
        index.replace(docs_dir / "gx-index.html")
    index.write_text(render_front_page(day, results, pages, generated_at, run_id), encoding="utf-8")
    return index


def validate(batches: Iterable[Batch], docs_dir: Path | None = None, run_name: str | None = None) -> Validation:
    """Run each batch's suite on its frame with Great Expectations.

    Args:
        batches: frames and their suites (suite names must be distinct). Consumed one at a time, so a
            generator can still be computing the next frames (in another thread) while GX validates.
        docs_dir: build the GX Data Docs site into this directory (emptied first; it is the site's root).
            None: no docs.
        run_name: the run's name shown in the Data Docs.

    Returns:
        One result per declared expectation, in the order of the batches and of each suite; ``seconds`` is
        the time spent in GX, not the time spent waiting for the next batch.
    """
    started = time.perf_counter()
    context = _context(docs_dir)
    # One asset and one batch definition for every frame (the frame is a run-time parameter): each asset or
    # batch definition added makes GX serialise its whole configuration to YAML again.
    day_frames = context.data_sources.add_pandas("liveops").add_dataframe_asset("day_frames")
    batch_definition = day_frames.add_batch_definition_whole_dataframe("frame")
    run_id = RunIdentifier(run_name=run_name) if run_name else None
    results: list[ExpectationResult] = []
    rows: dict[str, int] = {}
    names: list[str] = []
    seconds = time.perf_counter() - started
    for batch in batches:
        batch_started = time.perf_counter()
        suite = batch.suite
        if suite.name in names:
            raise ValueError(f"suite names must be distinct: {suite.name} comes twice")
        names.append(suite.name)
        frame = _pandas(batch.frame)
        rows[suite.name] = len(frame)
        # Built whole, then added once: adding expectations one by one writes the suite to its store each time.
        gx_suite = context.suites.add(
            gx.ExpectationSuite(name=suite.name, expectations=[_gx_expectation(e, frame) for e in suite.expectations])
        )
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=gx_suite)
        )
        outcome = definition.run(batch_parameters={"dataframe": frame}, run_id=run_id)
        by_name = {r.expectation_config.meta.get(_META_KEY): r for r in outcome.results}
        for e in suite.expectations:
            results.append(_result(suite, e, by_name[e.name], frame))
        seconds += time.perf_counter() - batch_started
    docs_seconds = 0.0
    index = None
    pages: dict[str, str] = {}
    if docs_dir is not None:
        docs_started = time.perf_counter()
        if docs_dir.exists():
            shutil.rmtree(docs_dir)  # a rerun leaves the same files, not the old run's pages beside the new
        context.build_data_docs()
        index = docs_dir / "index.html"
        for name in names:
            found = sorted((docs_dir / "validations" / name).rglob("*.html"))
            if found:
                pages[name] = found[0].relative_to(docs_dir).as_posix()
        docs_seconds = time.perf_counter() - docs_started
    return Validation(tuple(results), rows, seconds, docs_seconds, index, pages)
