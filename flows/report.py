"""The daily report: read the marts, write ``report.html``, ``summary.md`` and ``summary.json`` for a day.

:func:`run_report` is the plain code (used by the CLI and the tests); :func:`daily_report_flow` is the
Prefect flow ``daily-report`` around it. Files go to ``<reports_dir>/<day>/`` (docs/report.md):

- ``report.html`` and ``summary.md`` in the first language asked for (the default language: English),
- ``report.<lang>.html`` and ``summary.<lang>.md`` for every language asked for (default: ``en`` and ``zh``),
- ``summary.json`` (language-free, docs/metrics.md's format),
- ``restatements.json`` only once the day has been restated (see :func:`restatements`).

The warehouse is read through the analyst copy, opened read-only (the pipeline's own file when there is no
copy yet), so a report never waits for, nor blocks, ingest or a build. Every file is written to a
temporary name and renamed into place. Rerunning the report of a day gives identical files apart from
``generated_at``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import duckdb
from prefect import flow, get_run_logger

from config.settings import Settings
from reports.i18n import LANGS, Lang
from reports.model import Report, ReportError, Restatement, read_report
from reports.render import render_html, render_markdown
from reports.summary import build_summary, dumps_summary, rfc3339
from schemas.marts import HEADLINE_KEYS

log = logging.getLogger(__name__)

DATA_DOCS = Path("data-docs") / "index.html"


def default_language(settings: Settings) -> Lang:
    """The language of ``report.html`` / ``summary.md`` when none is asked for (``report_language`` setting
    when the settings have one, else English)."""
    value = getattr(settings, "report_language", "en")
    return "zh" if value == "zh" else "en"


def default_day(settings: Settings, now: datetime | None = None) -> date:
    """Yesterday in the report time zone."""
    return (now or datetime.now(UTC)).astimezone(settings.tz).date() - timedelta(days=1)


def report_dir(settings: Settings, day: date) -> Path:
    """The folder of a day's report: ``<reports_dir>/<YYYY-MM-DD>``."""
    return settings.reports_dir / day.isoformat()


def open_warehouse(settings: Settings) -> duckdb.DuckDBPyConnection:
    """The lake attached read-only, at its latest snapshot (the report records which one).

    Raises:
        ReportError: there is no warehouse yet, or it cannot be opened.
    """
    from warehouse.lake import WarehouseError, open_lake

    try:
        return open_lake(settings.lake, read_only=True)
    except WarehouseError as exc:
        raise ReportError(str(exc)) from None


def _write(path: Path, content: str) -> Path:
    """Write ``content`` to ``path`` atomically (a temporary file in the same folder, then a rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(content, encoding="utf-8")
    os.replace(tmp, path)
    return path


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, int | float) and not isinstance(b, bool):
        return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)
    return bool(a == b)


def restatements(folder: Path, report: Report, summary: dict[str, Any]) -> tuple[Restatement, ...]:
    """The restatements of the day: earlier ones (``restatements.json``) plus a new one when the day was
    rebuilt after the previous ``summary.json`` was written and its headline or completeness changed.

    The list is kept in ``restatements.json`` (written only when not empty), so that a rerun shows the same
    marks as the run that found the change: reruns stay identical.
    """
    known: list[Restatement] = []
    store = folder / "restatements.json"
    if store.exists():
        known = [
            Restatement(str(r["reported_at"]), str(r["rebuilt_at"]), tuple(r["changed"]))
            for r in json.loads(store.read_text(encoding="utf-8"))
        ]
    previous_path = folder / "summary.json"
    if previous_path.exists():
        try:
            previous = json.loads(previous_path.read_text(encoding="utf-8"))
            reported_at = datetime.fromisoformat(str(previous["generated_at"]).replace("Z", "+00:00"))
            old_headline = previous["headline"]
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring the unreadable previous summary %s: %s", previous_path, exc)
        else:
            rebuilt_at = rfc3339(report.built_at)
            if report.built_at > reported_at and all(r.rebuilt_at != rebuilt_at for r in known):
                changed = tuple(k for k in HEADLINE_KEYS if not _same(old_headline.get(k), summary["headline"][k]))
                if changed or previous.get("complete") != summary["complete"]:
                    known.append(Restatement(rfc3339(reported_at), rebuilt_at, changed))
    return tuple(known)


def run_report(
    settings: Settings,
    day: date | None = None,
    langs: Sequence[Lang] | None = None,
    *,
    now: datetime | None = None,
) -> list[Path]:
    """Write the report of ``day`` (default: yesterday in the report time zone).

    Args:
        settings: where the warehouse and the reports are, and the report time zone.
        day: the report day.
        langs: languages to write; the first one is also written as ``report.html`` / ``summary.md``.
            Default: the default language, then the other one.
        now: the ``generated_at`` instant (default: now).

    Returns:
        The files written, in a fixed order.

    Raises:
        ReportError: no warehouse, no marts, or the day was never built.
        ValueError: a language other than ``en`` and ``zh``.
    """
    unknown = [lang for lang in langs or () if lang not in LANGS]
    if unknown:
        raise ValueError(f"unknown report language(s) {unknown}: use {' or '.join(LANGS)}")
    day = day or default_day(settings)
    first = default_language(settings)
    chosen: list[Lang] = list(dict.fromkeys(langs)) if langs else [first, *(lang for lang in LANGS if lang != first)]
    generated_at = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    folder = report_dir(settings, day)
    data_docs = DATA_DOCS.as_posix() if (folder / DATA_DOCS).exists() else None

    from warehouse.lake import current_snapshot, transaction

    with open_warehouse(settings) as con, transaction(con):  # one transaction: every figure from one snapshot
        snapshot = current_snapshot(con)
        report = read_report(con, day, settings.report_timezone, data_docs=data_docs, currency=settings.currency)
    summary = build_summary(report, generated_at)
    # The lake snapshot the figures come from: `liveops query --as-of SNAPSHOT` reads exactly that data.
    summary["warehouse_snapshot"] = snapshot
    folder.mkdir(parents=True, exist_ok=True)
    report = replace(report, restatements=restatements(folder, report, summary))

    written: list[Path] = []
    for index, lang in enumerate(chosen):
        html = render_html(report, lang, generated_at)
        markdown = render_markdown(report, lang, generated_at)
        if index == 0:
            written += [_write(folder / "report.html", html), _write(folder / "summary.md", markdown)]
        written += [_write(folder / f"report.{lang}.html", html), _write(folder / f"summary.{lang}.md", markdown)]
    if report.restatements:
        store = [asdict(r) for r in report.restatements]
        written.append(_write(folder / "restatements.json", json.dumps(store, ensure_ascii=False, indent=2) + "\n"))
    written.append(_write(folder / "summary.json", dumps_summary(summary)))
    log.info("report of %s written to %s (%s)", day, folder, ", ".join(chosen))
    return written


@flow(name="daily-report", flow_run_name="daily-report-{day}", log_prints=False)
def daily_report_flow(settings: Settings, day: date, langs: list[str] | None = None) -> list[str]:
    """Prefect flow: write the daily report of ``day`` (HTML, Markdown, JSON); returns the paths written."""
    logger = get_run_logger()
    paths = run_report(settings, day, [cast(Lang, lang) for lang in langs] if langs else None)
    logger.info("report of %s: %d files in %s", day, len(paths), report_dir(settings, day))
    return [str(p) for p in paths]
