"""The report in a real browser: headless Chromium (Debian's ``chromium``) loads report.html, draws the
charts, runs no injected script, fits a 1280 px desktop and a 390 px phone (measured in the page), and
leaves full-page screenshots (``report-{en,zh}-{1280,390}.png``) and a PDF for a human to look at.

The screenshots go to ``$LIVEOPS_TEST_ARTIFACTS/reports/`` when that variable is set (CI sets it to the
git-ignored ``test-artifacts/`` and keeps the folder), else under pytest's tmp_path.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from pathlib import Path
from typing import Any, cast

import pytest

from config.settings import Settings
from flows.report import run_report
from tests.browser import PNG, artifacts_dir, chromium
from tests.conftest import copy_lake, lake_settings
from tests.reports.warehouse import REPORT_DAY, add_quality_run
from warehouse.lake import LakeConfig, open_lake

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

    pdf = artifacts / "report-en.pdf"
    chromium(profile, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", (folder / "report.en.html").as_uri())
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 20_000


PROBE = Path(__file__).with_name("layout_probe.js")
WIDTHS = (1280, 390)


def _contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two colours, ``#rrggbb`` or ``rgb(r, g, b)``."""

    def luminance(colour: str) -> float:
        if colour.startswith("#"):
            rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
        else:
            rgb = [int(p) for p in re.findall(r"\d+", colour)[:3]]
        lin = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _framed(page: Path, width: int, height: int, listen: bool) -> Path:
    """A page showing ``page`` in an iframe ``width`` px wide (narrower than Chromium's 500 px minimum
    window), optionally writing the message the framed page posts into ``<pre id="probe">``."""
    script = (
        '<pre id="probe"></pre><script>addEventListener("message", (e) => '
        '{ document.getElementById("probe").textContent = e.data; });</script>'
    )
    frame = page.with_name(f".frame-{width}-{page.name}")
    frame.write_text(
        f'<!DOCTYPE html><html><body style="margin:0"><iframe src="{page.name}" title="report" '
        f'style="display:block;border:0;width:{width}px;height:{height}px"></iframe>{script if listen else ""}'
        "</body></html>",
        encoding="utf-8",
    )
    return frame


def _probe(profile: Path, page: Path, width: int) -> dict[str, Any]:
    """Lay ``page`` out in Chromium at ``width`` px and measure it (layout_probe.js, in a copy of the page)."""
    probed = page.with_name(f".probe-{page.name}")
    html = page.read_text(encoding="utf-8")
    probed.write_text(html.replace("</body>", f"<script>{PROBE.read_text()}</script></body>"), encoding="utf-8")
    frame = _framed(probed, width, 1200, listen=True)
    window = f"--window-size={max(width, 500)},1200"
    dom = chromium(profile, window, "--hide-scrollbars", "--virtual-time-budget=5000", "--dump-dom", frame.as_uri())
    probed.unlink()
    frame.unlink()
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.DOTALL)
    assert found is not None and found.group(1), "the layout probe did not run"
    return cast(dict[str, Any], json.loads(html_lib.unescape(found.group(1))))


def _screenshot(profile: Path, page: Path, width: int, height: int, shot: Path) -> None:
    """A screenshot of the whole of ``page`` laid out at ``width`` px (left-aligned in a 500 px window when
    narrower)."""
    frame = _framed(page, width, height, listen=False)
    chromium(profile, f"--screenshot={shot}", f"--window-size={max(width, 500)},{height}", "--hide-scrollbars",
             "--virtual-time-budget=3000", frame.as_uri())  # fmt: skip
    frame.unlink()


@pytest.fixture
def gated_settings(report_warehouse: LakeConfig, tmp_path: Path) -> Settings:
    """The simulated warehouse with a failed quality run on the report day (so the page has every table)."""
    lake = copy_lake(report_warehouse, tmp_path / "gated")
    with open_lake(lake) as con:
        add_quality_run(con, "gate", "2026-11-09 02:00:00+00", verified=False,
                        failures=[("volume", "row_count_within_band", "warning"),
                                  ("marts", "agg_daily_headline.dau_not_null", "critical")])  # fmt: skip
    return Settings(**lake_settings(lake), reports_dir=tmp_path / "reports")  # type: ignore[arg-type]


def test_the_layout_fits_desktop_and_phone(gated_settings: Settings, tmp_path: Path, artifacts: Path) -> None:
    """At 1280 px no table overflows its container; at 390 px the page does not scroll sideways, the
    headline table fits, and no chart is wider than the screen; at both, no chart text is cut at the
    chart's edge, chart text is at least 11 px, and heat-map labels contrast at least 4.5:1 (WCAG AA)."""
    run_report(gated_settings, REPORT_DAY)
    folder = gated_settings.reports_dir / REPORT_DAY.isoformat()
    profile = tmp_path / "chromium-profile"
    for lang in ("en", "zh"):
        page = folder / f"report.{lang}.html"
        for width in WIDTHS:
            m = _probe(profile, page, width)
            assert m["viewport"] == width
            where = f"{lang} at {width} px"
            if width == 1280:
                overflowing = [t for t in m["tables"] if t["scrollWidth"] > t["clientWidth"] + 1]
                assert not overflowing, f"{where}: tables wider than their container: {overflowing}"
            else:
                headline = [t for t in m["tables"] if t["section"] == "headline"]
                assert headline and all(t["scrollWidth"] <= t["clientWidth"] + 1 for t in headline), headline
            assert m["page"]["scrollWidth"] <= width, f"{where}: the page scrolls sideways"
            assert not m["clipped"], f"{where}: chart text cut at the edge: {m['clipped']}"
            assert len(m["charts"]) == 5, m["charts"]  # one drawing of each chart is shown
            for chart in m["charts"]:
                assert chart["right"] <= width + 0.5, f"{where}: {chart['chart']} runs off-screen"
                assert chart["smallestText"] >= 11, f"{where}: {chart['chart']} text {chart['smallestText']:.1f} px"
            assert m["cells"] and all(_contrast(c["fill"], c["ink"]) >= 4.5 for c in m["cells"]), m["cells"]
            shot = artifacts / f"report-{lang}-{width}.png"
            _screenshot(profile, page, width, m["page"]["height"], shot)
            assert shot.read_bytes()[:8] == PNG and shot.stat().st_size > 20_000
        html = page.read_text(encoding="utf-8")
        if lang == "zh":  # the failed expectations in Chinese too
            assert "<th>检查项</th>" in html and "<th>级别</th>" in html and ">关键</td>" in html
            assert "<th>Expectation</th>" not in html
