"""The plan in the report: section, summary.json, versions kept across reloads, no plan no section, and
screenshots in Chromium (docs/plan.md)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from config.settings import Settings
from flows.report import run_report
from schemas.plan import parse_plan
from tests.browser import PNG, artifacts_dir, chromium
from tests.conftest import copy_lake, lake_settings
from transforms.plan import plan_figures
from warehouse.lake import LakeConfig, open_lake
from warehouse.plan import refresh_plan_mart, store_plan

PLAN_V1 = (
    "metric,scope,period,target,direction\n"
    "hours_watched,all,2026-11,1000000,at_least\n"  # far out of reach: off track
    "dau,all,2026-11,1,at_least\n"  # easy: on track
    "spend,all,2026-11,0.01,at_most\n"  # a budget already blown
    "ctr,all,2026-11-01..2026-11-15,0.0001,at_least\n"
)
PLAN_V2 = PLAN_V1.replace("1000000", "1")


@pytest.fixture
def plan_settings(tmp_path: Path, report_warehouse: LakeConfig) -> Settings:
    lake = copy_lake(report_warehouse, tmp_path / "wh")
    return Settings(**lake_settings(lake), reports_dir=tmp_path / "reports")  # type: ignore[arg-type]


def load(settings: Settings, text: str, name: str = "plan.csv") -> tuple[int, bool]:
    with open_lake(settings.lake) as con:
        stored = store_plan(con, parse_plan(text), name)
        refresh_plan_mart(con, plan_figures)
    return stored.version, stored.new


def summary(settings: Settings, day: str) -> dict:  # type: ignore[type-arg]
    return json.loads((settings.reports_dir / day / "summary.json").read_text())  # type: ignore[no-any-return]


def test_no_plan_no_section(plan_settings: Settings) -> None:
    run_report(plan_settings, date(2026, 11, 8))
    s = summary(plan_settings, "2026-11-08")
    assert s["plan_version"] is None and s["plan"] == []
    html = (plan_settings.reports_dir / "2026-11-08" / "report.en.html").read_text()
    assert 'id="plan"' not in html and "plan-chart" not in html


def test_reloading_mid_month_changes_later_reports_only(plan_settings: Settings) -> None:
    assert load(plan_settings, PLAN_V1) == (1, True)
    assert load(plan_settings, PLAN_V1) == (1, False)  # same file: no-op
    run_report(plan_settings, date(2026, 11, 5))
    early = summary(plan_settings, "2026-11-05")
    assert early["plan_version"] == 1
    by_metric = {(e["metric"], e["scope"]): e for e in early["plan"]}
    hours = by_metric[("hours_watched", "all")]
    assert hours["status"] == "off_track" and early["plan"][0]["status"] == "off_track"  # worst first
    assert by_metric[("dau", "all")]["status"] == "on_track"
    budget = by_metric[("spend", "all")]
    assert budget["kind"] == "budget" and budget["status"] == "off_track" and budget["projected_variance"] > 0
    # The figures are those of the mart: hours watched summed over Nov 1 .. 5.
    con = open_lake(plan_settings.lake, read_only=True)
    total = con.execute(
        "SELECT sum(hours_watched) FROM agg_daily_headline WHERE day BETWEEN '2026-11-01' AND '2026-11-05'"
    ).fetchone()
    assert total is not None and hours["to_date"] == pytest.approx(total[0])
    con.close()
    html = (plan_settings.reports_dir / "2026-11-05" / "report.en.html").read_text()
    assert 'id="plan"' in html and html.count('class="chart plan-chart"') == 4
    assert html.index('id="plan"') < html.index('id="headline"')
    md = (plan_settings.reports_dir / "2026-11-05" / "summary.en.md").read_text()
    assert "Plan: off track: hours watched (all, 2026-11) and spend (all, 2026-11)" in md

    assert load(plan_settings, PLAN_V2, "plan-v2.csv") == (2, True)
    run_report(plan_settings, date(2026, 11, 8))
    later = summary(plan_settings, "2026-11-08")
    assert later["plan_version"] == 2
    assert {e["metric"]: e["status"] for e in later["plan"]}["hours_watched"] == "on_track"
    # The earlier report keeps its version and figures, and so does the mart's version-1 rows.
    assert summary(plan_settings, "2026-11-05") == early
    con = open_lake(plan_settings.lake, read_only=True)
    rows = con.execute(
        "SELECT plan_version, status FROM agg_daily_plan WHERE day = '2026-11-05' AND metric = 'hours_watched' "
        "ORDER BY plan_version"
    ).fetchall()
    con.close()
    assert rows == [(1, "off_track"), (2, "on_track")]


@pytest.mark.browser
def test_the_plan_section_in_chromium(plan_settings: Settings, tmp_path: Path) -> None:
    load(plan_settings, PLAN_V1)
    run_report(plan_settings, date(2026, 11, 8))
    folder = plan_settings.reports_dir / "2026-11-08"
    artifacts = artifacts_dir(tmp_path, "plan")
    profile = tmp_path / "chromium-profile"
    for lang in ("en", "zh"):
        page = (folder / f"report.{lang}.html").as_uri()
        dom = chromium(profile, "--virtual-time-budget=5000", "--dump-dom", page).stdout
        assert dom.count('class="chart plan-chart"') == 4 and 'class="status off_track"' in dom
        shot = artifacts / f"report-plan-{lang}.png"
        chromium(profile, f"--screenshot={shot}", "--window-size=1200,1600", "--hide-scrollbars", page)
        assert shot.read_bytes()[:8] == PNG and shot.stat().st_size > 20_000
