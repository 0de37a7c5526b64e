"""``flows.pipeline.run_day`` on plain functions against a small real lake (no Kafka, no Prefect)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from config.settings import Settings
from flows.pipeline import run_day
from streams.simulator import SimConfig
from tests.conftest import fresh_lake, lake_settings
from tests.reports.warehouse import load_simulation
from warehouse.lake import LakeConfig

SIMULATION = SimConfig(start_date=date(2026, 10, 31), days=3, users=40, channels=3, campaigns=1, seed=7)
DAY = date(2026, 11, 1)


@pytest.fixture(scope="module")
def loaded_lake(tmp_path_factory: pytest.TempPathFactory, lake_template: Path) -> LakeConfig:
    """A lake with three simulated days loaded (not built: run_day's build step does that)."""
    lake = fresh_lake(tmp_path_factory.mktemp("pipeline-lake"), lake_template)
    load_simulation(lake, SIMULATION)
    return lake


def _settings(lake: LakeConfig, tmp_path: Path) -> Settings:
    return Settings(**lake_settings(lake), reports_dir=tmp_path / "reports")  # type: ignore[arg-type]


def test_build_quality_report_run_in_order_and_say_what_they_did(loaded_lake: LakeConfig, tmp_path: Path) -> None:
    settings = _settings(loaded_lake, tmp_path)
    result = run_day(settings, DAY, ["report", "quality", "build"], langs=["en"])
    assert list(result.steps) == ["build", "quality", "report"] and result.ok
    assert result.steps["quality"].value.status in ("verified", "unverified")
    paths = result.value("report")
    assert all(Path(p).is_file() for p in paths) and (settings.reports_dir / DAY.isoformat() / "summary.json").is_file()
    assert "deliver" not in result.steps


def test_a_failed_report_is_recorded_and_delivery_is_skipped(loaded_lake: LakeConfig, tmp_path: Path) -> None:
    settings = _settings(loaded_lake, tmp_path)
    result = run_day(settings, DAY, ["quality", "report", "deliver"], langs=["fr"])
    assert result.failed == ["report"]
    assert result.steps["quality"].status == "done"
    assert result.steps["deliver"].status == "skipped"
    assert "no report in fr" in result.steps["report"].detail
    with pytest.raises(ValueError, match="no report in fr"):
        result.raise_failure("report")
    assert not (settings.reports_dir / DAY.isoformat() / "summary.json").exists()


def test_an_unreachable_broker_fails_ingest_but_the_report_is_still_written(
    loaded_lake: LakeConfig, tmp_path: Path
) -> None:
    settings = _settings(loaded_lake, tmp_path).model_copy(update={"bootstrap_servers": "127.0.0.1:1"})
    result = run_day(settings, DAY, ["ingest", "build", "report"], langs=["en"])
    assert result.failed == ["ingest"]
    assert "cannot reach Kafka" in result.steps["ingest"].detail
    assert result.steps["build"].status == "done" and result.steps["report"].status == "done"
    assert (settings.reports_dir / DAY.isoformat() / "summary.json").is_file()


def test_unknown_steps_and_day_steps_without_a_day_are_refused(loaded_lake: LakeConfig, tmp_path: Path) -> None:
    settings = _settings(loaded_lake, tmp_path)
    with pytest.raises(ValueError, match="unknown step"):
        run_day(settings, DAY, ["publish"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="need a day"):
        run_day(settings, None, ["report"])
