"""``run_quality``, the ``check-quality`` flow and the ``liveops quality`` command on the simulated warehouse."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from config.settings import Settings
from flows.quality import NoDataForDay, check_quality, run_quality
from flows.report import run_report
from liveops.quality_cmd import quality
from quality.checks import watermark
from schemas.expectations import SUITES
from tests.conftest import lake_env, lake_settings
from tests.quality.conftest import DAY
from warehouse.lake import LakeConfig, open_lake


def fresh_config(folder: Path) -> LakeConfig:
    """Where a lake would be, none there yet."""
    return LakeConfig(f"sqlite:{folder / 'catalog.sqlite'}", f"{folder / 'files'}/")


def settings_for(lake: LakeConfig, tmp_path: Path) -> Settings:
    return Settings(**lake_settings(lake), reports_dir=tmp_path / "reports")  # type: ignore[arg-type]


def cli() -> typer.Typer:
    """The command as the main app registers it (with a callback, so that it keeps its name)."""
    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("quality")(quality)
    return app


def env(settings: Settings) -> dict[str, str]:
    return {
        **lake_env(settings.lake),
        "LIVEOPS_REPORTS_DIR": str(settings.reports_dir),
        "LIVEOPS_REPORT_TIMEZONE": "UTC",
    }


def test_run_quality_stores_the_verdict_writes_data_docs(warehouse_lake: LakeConfig, tmp_path: Path) -> None:
    settings = settings_for(warehouse_lake, tmp_path)
    with open_lake(warehouse_lake, read_only=True) as con:
        mark = watermark(con)
    assert mark is not None

    report = run_quality(settings, DAY, report_time=mark + timedelta(hours=1))

    assert report.verified and report.failures == []
    index = tmp_path / "reports" / "2026-11-08" / "data-docs" / "index.html"
    assert report.data_docs == index and index.exists()
    # Analysts see the day's status as soon as it is committed.
    with open_lake(settings.lake, read_only=True) as con:
        assert con.sql("SELECT day, status FROM day_status").fetchall() == [(DAY, "verified")]


def test_run_quality_says_when_there_is_no_data(warehouse_lake: LakeConfig, tmp_path: Path) -> None:
    with pytest.raises(NoDataForDay, match=r"no warehouse at .* run `liveops ingest`"):
        run_quality(settings_for(fresh_config(tmp_path / "missing"), tmp_path), DAY)
    with pytest.raises(NoDataForDay, match=r"no data for 2026-12-01: its events span 2026-11-01 to 2026-11-09 \(UTC"):
        run_quality(settings_for(warehouse_lake, tmp_path), DAY + timedelta(days=23))


def test_the_command_prints_a_summary_and_exits_0_on_a_verified_day(warehouse_lake: LakeConfig, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli(), ["quality", "--no-prefect", "--date", "2026-11-08"], env=env(settings_for(warehouse_lake, tmp_path))
    )

    assert result.exit_code == 0, result.output
    assert "Data quality of 2026-11-08 (UTC): VERIFIED: 0 critical failure(s)" in result.stdout
    for s in SUITES:
        assert s.name in result.stdout
    assert "Data Docs: " in result.stdout and "2026-11-08/data-docs/index.html" in result.stdout


def test_the_command_lists_failures_and_exits_1_on_a_critical_one(warehouse_lake: LakeConfig, tmp_path: Path) -> None:
    with open_lake(warehouse_lake) as con:
        con.execute("INSERT INTO agg_daily_headline SELECT * FROM agg_daily_headline WHERE day = ?", [DAY])

    result = CliRunner().invoke(
        cli(), ["quality", "--no-prefect", "--date", "2026-11-08"], env=env(settings_for(warehouse_lake, tmp_path))
    )

    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "UNVERIFIED: 2 critical failure(s)" in out
    assert "[critical] agg_daily_headline.key_unique: one row per (day) in agg_daily_headline" in out
    assert "[critical] agg_daily_headline.one_row" in out and "observed: 2" in out
    assert "agg_daily_headline                  " in out and "<- critical" in out


def test_the_command_says_when_there_is_no_data(warehouse_lake: LakeConfig, tmp_path: Path) -> None:
    runner = CliRunner()
    settings = settings_for(warehouse_lake, tmp_path)

    outside = runner.invoke(cli(), ["quality", "--no-prefect", "--date", "2027-01-01"], env=env(settings))
    assert outside.exit_code == 1
    assert "Nothing to check: the warehouse has no data for 2027-01-01" in outside.output

    missing = runner.invoke(
        cli(),
        ["quality", "--no-prefect", "--date", "2026-11-08"],
        env=env(settings_for(fresh_config(tmp_path / "none"), tmp_path)),
    )
    assert missing.exit_code == 1 and "there is no warehouse at" in missing.output
    assert not (tmp_path / "none").exists()

    bad_date = runner.invoke(cli(), ["quality", "--no-prefect", "--date", "8 Nov"], env=env(settings))
    assert bad_date.exit_code == 2


@pytest.mark.prefect
def test_the_check_quality_flow_runs_under_prefect(warehouse_lake: LakeConfig, tmp_path: Path) -> None:
    from prefect.testing.utilities import prefect_test_harness

    settings = settings_for(warehouse_lake, tmp_path)
    # A generous start-up timeout: the temporary Prefect server is slow to start on a busy CI machine.
    with prefect_test_harness(server_startup_timeout=180):
        report = check_quality(settings, DAY)

    assert check_quality.name == "check-quality"
    assert report.day == DAY and len(report.results) == sum(len(s.expectations) for s in SUITES)
    assert not report.critical_failures


def test_a_critical_failure_puts_a_banner_naming_it_in_every_report_of_the_day(
    warehouse_lake: LakeConfig, tmp_path: Path
) -> None:
    """The gate end to end: a duplicated channel row fails a critical expectation, the day is unverified,
    and the report (still written, in both languages) says so and names the check; JSON counts it."""
    with open_lake(warehouse_lake) as con:
        mark = watermark(con)
        con.execute(
            "INSERT INTO agg_daily_channel SELECT * FROM agg_daily_channel WHERE day = ? ORDER BY channel_id LIMIT 1",
            [DAY],
        )
    assert mark is not None
    settings = settings_for(warehouse_lake, tmp_path)

    gate = run_quality(settings, DAY, report_time=mark + timedelta(hours=1))
    paths = run_report(settings, DAY, ["en", "zh"])

    assert not gate.verified
    assert [f.expectation for f in gate.critical_failures] == ["key_unique"]
    folder = settings.reports_dir / DAY.isoformat()
    assert folder / "report.html" in paths
    html = (folder / "report.html").read_text(encoding="utf-8")
    banner = html.split('class="banner unverified"', 1)[1].split("</div>", 1)[0]
    assert "UNVERIFIED" in banner and "agg_daily_channel.key_unique" in banner
    assert 'href="data-docs/index.html"' in html
    zh = (folder / "report.zh.html").read_text(encoding="utf-8")
    assert "未验证" in zh and "agg_daily_channel.key_unique" in zh
    md = (folder / "summary.md").read_text(encoding="utf-8")
    assert "UNVERIFIED" in md and "agg\\_daily\\_channel.key\\_unique" in md
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["data_quality"]["expectations_failed"] == len(gate.failures) >= 1


def test_a_verified_day_has_no_banner_and_no_failed_expectation(warehouse_lake: LakeConfig, tmp_path: Path) -> None:
    with open_lake(warehouse_lake, read_only=True) as con:
        mark = watermark(con)
    assert mark is not None
    settings = settings_for(warehouse_lake, tmp_path)

    assert run_quality(settings, DAY, report_time=mark + timedelta(hours=1)).verified
    run_report(settings, DAY, ["en"])

    folder = settings.reports_dir / DAY.isoformat()
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert 'class="banner unverified"' not in html and "quality checks passed" in html
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["data_quality"]["expectations_failed"] == 0
