"""Fixtures of the report tests: one small simulated warehouse, built once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from config.settings import Settings
from tests.conftest import fresh_lake, lake_settings
from tests.reports.warehouse import build_simulated_warehouse
from warehouse.lake import LakeConfig, open_lake


def pytest_configure(config: pytest.Config) -> None:
    # Also declared in pyproject.toml's markers; kept here so the marker is known whatever the config says.
    config.addinivalue_line("markers", "browser: opens the report in headless Chromium (/usr/bin/chromium)")


@pytest.fixture(scope="session")
def report_warehouse(tmp_path_factory: pytest.TempPathFactory, lake_template: Path) -> LakeConfig:
    """A lake of nine simulated days with a hostile stream, built (tests only read it, or copy it)."""
    lake = fresh_lake(tmp_path_factory.mktemp("report-warehouse"), lake_template)
    build_simulated_warehouse(lake)
    return lake


@pytest.fixture
def report_settings(tmp_path: Path, report_warehouse: LakeConfig) -> Settings:
    """Settings reading the simulated warehouse, writing reports under this test's tmp_path."""
    return Settings(**lake_settings(report_warehouse), reports_dir=tmp_path / "reports")  # type: ignore[arg-type]


@pytest.fixture
def con(report_settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """The simulated warehouse, attached read-only."""
    connection = open_lake(report_settings.lake, read_only=True)
    try:
        yield connection
    finally:
        connection.close()
