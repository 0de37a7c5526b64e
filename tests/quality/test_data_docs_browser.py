"""The Data Docs in a real browser: headless Chromium opens the front page offline and lists every suite."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from config.settings import Settings
from flows.quality import run_quality
from quality.checks import watermark
from schemas.expectations import SUITES
from tests.browser import PNG, artifacts_dir, chromium
from tests.conftest import lake_settings
from tests.quality.conftest import DAY
from warehouse.lake import LakeConfig, open_lake

pytestmark = pytest.mark.browser


def test_the_data_docs_open_in_chromium_and_list_the_suites(warehouse_lake: LakeConfig, tmp_path: Path) -> None:
    with open_lake(warehouse_lake) as con:
        mark = watermark(con)
        # One critical failure, so the page shows a failing suite as well as passing ones.
        con.execute("INSERT INTO agg_daily_headline SELECT * FROM agg_daily_headline WHERE day = ?", [DAY])
    assert mark is not None
    settings = Settings(**lake_settings(warehouse_lake), reports_dir=tmp_path / "reports")  # type: ignore[arg-type]
    report = run_quality(settings, DAY, report_time=mark + timedelta(hours=1))
    assert report.data_docs is not None
    profile = tmp_path / "chromium-profile"

    dom = chromium(profile, "--virtual-time-budget=3000", "--dump-dom", report.data_docs.as_uri()).stdout

    assert "</html>" in dom and "UNVERIFIED" in dom
    listed = re.findall(r'<h2 id="([a-z_]+)">', dom)
    assert listed == [s.name for s in SUITES]
    assert "agg_daily_headline" in dom and "key_unique" in dom
    # GX's page of a suite, linked from the front page, renders offline too.
    link = re.search(r'href="(validations/[^"]+\.html)"', dom)
    assert link is not None
    page = chromium(
        profile, "--virtual-time-budget=3000", "--dump-dom", (report.data_docs.parent / link.group(1)).as_uri()
    )
    assert "Expectation Validation Result" in page.stdout
    shot = artifacts_dir(tmp_path, "quality") / "data-docs.png"
    chromium(profile, f"--screenshot={shot}", "--window-size=1200,2400", "--hide-scrollbars", report.data_docs.as_uri())
    assert shot.read_bytes()[:8] == PNG and shot.stat().st_size > 20_000
