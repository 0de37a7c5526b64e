"""The report in a real browser: headless Chromium (Debian's ``chromium``) loads report.html, draws the
charts, runs no injected script, and leaves screenshots and a PDF for a human to look at.

The screenshots go to ``$LIVEOPS_TEST_ARTIFACTS/reports/`` when that variable is set (CI sets it to the
git-ignored ``test-artifacts/`` and keeps the folder), else under pytest's tmp_path.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flows.report import run_report
from liveops.settings import Settings
from tests.browser import PNG, artifacts_dir, chromium
from tests.reports.warehouse import REPORT_DAY

pytestmark = pytest.mark.browser


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    return artifacts_dir(tmp_path, "reports")


def test_the_report_renders_in_chromium(report_settings: Settings, tmp_path: Path, artifacts: Path) -> None:
    run_report(report_settings, REPORT_DAY)
    folder = report_settings.reports_dir / REPORT_DAY.isoformat()
    profile = tmp_path / "chromium-profile"

    for lang in ("en", "zh"):
        page = (folder / f"report.{lang}.html").as_uri()
        dom = chromium(profile, "--virtual-time-budget=5000", "--dump-dom", page).stdout
        # Loaded and drawn: the five charts are in the DOM, with their marks.
        assert "</html>" in dom
        for chart in ("concurrency-chart", "retention-heatmap", "category-chart", "sources-chart", "funnel-chart"):
            assert re.search(rf'<svg class="chart {chart}"', dom), chart
        assert '<circle class="peak"' in dom and dom.count('<rect class="cell"') >= 24
        # The hostile stream's title, channel id and category tried to set the page title: nothing ran.
        title = re.search(r"<title>(.*?)</title>", dom, re.DOTALL)
        assert title is not None and "PWNED" not in title.group(1)
        assert title.group(1).startswith("Daily operations report" if lang == "en" else "直播运营日报")
        assert "<script" not in dom and "<img" not in dom
        assert "&lt;script&gt;document.title='PWNED'&lt;/script&gt;" in dom  # shown as text

        for name, size in ((f"report-{lang}-desktop.png", "1200,3000"), (f"report-{lang}-phone.png", "390,2400")):
            shot = artifacts / name
            chromium(profile, f"--screenshot={shot}", f"--window-size={size}", "--hide-scrollbars", page)
            assert shot.read_bytes()[:8] == PNG and shot.stat().st_size > 20_000

    pdf = artifacts / "report-en.pdf"
    chromium(profile, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", (folder / "report.en.html").as_uri())
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 20_000
