"""``run_report``, the ``daily-report`` flow and the ``report`` command: files written, idempotence,
restatements."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from config.settings import Settings
from flows.report import daily_report_flow, default_day, run_report
from liveops.report_cmd import report
from reports.model import ReportError
from tests.conftest import lake_env
from tests.reports.warehouse import REPORT_DAY

FIRST = datetime(2026, 11, 9, 6, 0, tzinfo=UTC)
ALL_FILES = ["report.html", "summary.md", "report.en.html", "summary.en.md", "report.zh.html", "summary.zh.md",
             "summary.json"]  # fmt: skip


def contents(folder: Path, generated_at: datetime) -> dict[str, str]:
    """Every file of a report folder, with its generated_at replaced by a placeholder."""
    stamp = generated_at.isoformat().replace("+00:00", "Z")
    return {p.name: p.read_text(encoding="utf-8").replace(stamp, "GENERATED_AT") for p in sorted(folder.iterdir())}


def test_writes_both_languages_and_the_json(report_settings: Settings) -> None:
    paths = run_report(report_settings, REPORT_DAY, now=FIRST)
    folder = report_settings.reports_dir / "2026-11-08"
    assert [p.name for p in paths] == ALL_FILES and all(p.parent == folder for p in paths)
    assert sorted(p.name for p in folder.iterdir()) == sorted(ALL_FILES)  # no temporary file left
    assert (folder / "report.html").read_text() == (folder / "report.en.html").read_text()
    assert '<html lang="zh-CN">' in (folder / "report.zh.html").read_text()
    assert json.loads((folder / "summary.json").read_text())["generated_at"] == "2026-11-09T06:00:00Z"


def test_one_language(report_settings: Settings) -> None:
    paths = run_report(report_settings, REPORT_DAY, ["zh"], now=FIRST)
    assert [p.name for p in paths] == ["report.html", "summary.md", "report.zh.html", "summary.zh.md", "summary.json"]
    assert (paths[0].parent / "summary.md").read_text().startswith("# 直播运营日报")


def test_rerunning_gives_identical_files_but_generated_at(report_settings: Settings) -> None:
    folder = report_settings.reports_dir / "2026-11-08"
    run_report(report_settings, REPORT_DAY, now=FIRST)
    first = contents(folder, FIRST)
    later = datetime(2026, 11, 10, 7, 15, 42, tzinfo=UTC)
    run_report(report_settings, REPORT_DAY, now=later)
    second = contents(folder, later)
    assert first == second
    assert all("GENERATED_AT" in text for name, text in first.items())  # the stamp is in every file, once replaced


def test_a_day_rebuilt_after_its_report_is_marked_restated(report_settings: Settings) -> None:
    folder = report_settings.reports_dir / "2026-11-08"
    # A report written before the day's last build (built_at is when the test session built the warehouse) ...
    early = datetime(2026, 11, 9, 0, 30, tzinfo=UTC)
    run_report(report_settings, REPORT_DAY, now=early)
    # ... that showed other figures then.
    summary = json.loads((folder / "summary.json").read_text())
    summary["headline"]["dau"] -= 40
    summary["complete"] = False
    (folder / "summary.json").write_text(json.dumps(summary))

    later = datetime.now(UTC).replace(microsecond=0)
    run_report(report_settings, REPORT_DAY, now=later)
    marks = json.loads((folder / "restatements.json").read_text())
    assert [(m["reported_at"], m["changed"]) for m in marks] == [("2026-11-09T00:30:00Z", ["dau"])]
    html = (folder / "report.en.html").read_text()
    assert 'class="banner restated"' in html and "RESTATED" in html
    assert "restated" in (folder / "summary.md").read_text().lower()
    first = contents(folder, later)
    # Rerunning keeps the mark (the previous summary is now the restated one): identical files.
    again = datetime.now(UTC).replace(microsecond=0)
    run_report(report_settings, REPORT_DAY, now=again)
    assert contents(folder, again) == first


def test_data_docs_are_linked_when_they_exist(report_settings: Settings) -> None:
    docs = report_settings.reports_dir / "2026-11-08" / "data-docs"
    docs.mkdir(parents=True)
    (docs / "index.html").write_text("<html></html>")
    run_report(report_settings, REPORT_DAY, ["en"], now=FIRST)
    assert '<a href="data-docs/index.html">' in (docs.parent / "report.html").read_text()


def test_the_day_defaults_to_yesterday_in_the_report_time_zone(report_settings: Settings) -> None:
    shanghai = report_settings.model_copy(update={"report_timezone": "Asia/Shanghai"})
    assert default_day(shanghai, datetime(2026, 11, 9, 17, 0, tzinfo=UTC)) == date(2026, 11, 9)  # 01:00 on the 10th
    assert default_day(report_settings, datetime(2026, 11, 9, 17, 0, tzinfo=UTC)) == date(2026, 11, 8)


def test_an_unknown_language_is_refused(report_settings: Settings) -> None:
    with pytest.raises(ValueError, match=r"unknown report language\(s\) \['fr'\]"):
        run_report(report_settings, REPORT_DAY, ["fr"])  # type: ignore[list-item]


def test_no_warehouse_says_what_to_do(tmp_path: Path) -> None:
    settings = Settings(lake_catalog=f"sqlite:{tmp_path / 'none.sqlite'}", reports_dir=tmp_path / "reports")
    with pytest.raises(ReportError, match="run `liveops ingest` and `liveops build` first"):
        run_report(settings, REPORT_DAY)


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(report)
    return app


def env(settings: Settings) -> dict[str, str]:
    return {**lake_env(settings.lake), "LIVEOPS_REPORTS_DIR": str(settings.reports_dir)}


def test_the_command_prints_the_paths_written(report_settings: Settings) -> None:
    result = CliRunner().invoke(
        cli(), ["--date", "2026-11-08", "--lang", "zh", "--no-prefect"], env=env(report_settings)
    )
    assert result.exit_code == 0, result.output
    folder = report_settings.reports_dir / "2026-11-08"
    assert result.stdout.splitlines() == [str(folder / n) for n in
                                          ("report.html", "summary.md", "report.zh.html", "summary.zh.md", "summary.json")]  # fmt: skip
    # The headline in the report's words on stderr, money in the configured currency.
    assert "Report of 2026-11-08 (complete; quality checks not run):" in result.stderr
    assert re.search(r"^  Gift value +¥[\d,]+\.\d\d$", result.stderr, re.MULTILINE), result.stderr
    assert "gift_value_cents" not in result.stderr


def test_the_currency_setting_reaches_the_report(report_settings: Settings) -> None:
    result = CliRunner().invoke(
        cli(),
        ["--date", "2026-11-08", "--lang", "en", "--no-prefect"],
        env=env(report_settings) | {"LIVEOPS_CURRENCY": "usd"},
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"^  Spend +\$[\d,]+\.\d\d$", result.stderr, re.MULTILINE), result.stderr
    html = (report_settings.reports_dir / "2026-11-08" / "report.en.html").read_text(encoding="utf-8")
    assert "Amounts in USD ($)." in html


def test_the_command_refuses_a_day_not_built(report_settings: Settings) -> None:
    result = CliRunner().invoke(cli(), ["--date", "2027-01-01", "--no-prefect"], env=env(report_settings))
    assert result.exit_code == 1 and "there are no events for 2027-01-01" in result.output


def test_a_day_without_events_says_so_without_a_traceback(report_settings: Settings) -> None:
    # The real command line, in a fresh interpreter, as a person runs it.
    done = subprocess.run(
        [sys.executable, "-m", "liveops", "report", "--date", "2026-10-15"],
        capture_output=True, text=True, env=os.environ | env(report_settings), timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert "there are no events for 2026-10-15 (events from 2026-10-31 to 2026-11-09)" in done.stderr
    assert "Traceback" not in done.stderr and "liveops build" not in done.stderr
    assert not (report_settings.reports_dir / "2026-10-15").exists()


@pytest.mark.prefect
def test_the_daily_report_flow_runs_under_prefect(report_settings: Settings, tmp_path: Path) -> None:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):  # the temporary server can take a minute to start
        paths = daily_report_flow(report_settings, REPORT_DAY, ["en"])
    assert [Path(p).name for p in paths] == ["report.html", "summary.md", "report.en.html", "summary.en.md",
                                             "summary.json"]  # fmt: skip
    shutil.rmtree(report_settings.reports_dir)
