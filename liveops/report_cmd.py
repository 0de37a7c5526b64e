"""``liveops report``: write the daily report of a day (HTML with charts, Markdown, JSON; English and Chinese).

Registered by the main app (``liveops.cli``) as the ``report`` command.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

import typer

from liveops.console import PREFECT_HELP, day_option, load_settings, tracked_by_prefect


class ReportLanguage(StrEnum):
    """Languages of the human report."""

    en = "en"
    zh = "zh"


def report(
    day: Annotated[
        date | None,
        day_option("the day to report (a day of LIVEOPS_REPORT_TIMEZONE); default: yesterday there"),
    ] = None,
    lang: Annotated[
        ReportLanguage | None,
        typer.Option(
            "--lang",
            help="write report.html and summary.md in this language only (zh: Simplified Chinese); "
            "default: both languages, report.html in English",
        ),
    ] = None,
    prefect: Annotated[
        bool, typer.Option("--prefect/--no-prefect", help=PREFECT_HELP.format(flow="daily-report"))
    ] = True,
) -> None:
    """Write the daily report of a day and print the paths written.

    Writes, under LIVEOPS_REPORTS_DIR/<day>/: report.html (one self-contained page: inline charts, no
    script, no external resource), summary.md (for a chat message or an e-mail), summary.json (docs/metrics.md's
    machine-readable summary), and report.<lang>.html / summary.<lang>.md per language. The figures come from
    the marts in the analyst copy (`liveops build` first). Rerunning gives the same files apart from
    generated_at.
    """
    from flows.report import daily_report_flow, default_day, run_report
    from reports.model import ReportError

    settings = load_settings()
    chosen = default_day(settings) if day is None else day
    langs = [lang.value] if lang is not None else None
    try:
        if tracked_by_prefect(prefect):
            paths = daily_report_flow(settings, chosen, langs)
        else:
            paths = [str(p) for p in run_report(settings, chosen, [lang.value] if lang is not None else None)]
    except ReportError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from exc
    for path in paths:
        typer.echo(path)
    _say_headline(settings.currency, chosen, paths)


def _say_headline(currency: str, day: date, paths: list[str]) -> None:
    """A few headline figures on stderr, as the report words them (stdout keeps only the paths written)."""
    import json
    from pathlib import Path

    from reports.render import console_summary

    written = next((Path(p) for p in paths if Path(p).name == "summary.json"), None)
    if written is None:
        return
    summary = json.loads(written.read_text(encoding="utf-8"))
    state = "complete" if summary["complete"] else "incomplete"
    gate = {True: "verified", False: "UNVERIFIED", None: "quality checks not run"}[summary.get("verified")]
    typer.echo(f"Report of {day} ({state}; {gate}):", err=True)
    typer.echo("\n".join(console_summary(summary, currency)), err=True)
