"""Fixtures of the report tests: one small simulated warehouse, built once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from liveops.settings import Settings
from tests.reports.warehouse import build_simulated_warehouse


def pytest_configure(config: pytest.Config) -> None:
    # Also declared in pyproject.toml's markers; kept here so the marker is known whatever the config says.
    config.addinivalue_line("markers", "browser: opens the report in headless Chromium (/usr/bin/chromium)")


@pytest.fixture(scope="session")
def report_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pipeline's file of a nine-day simulated warehouse with a hostile stream, built and published."""
    path = tmp_path_factory.mktemp("report-warehouse") / "warehouse.duckdb"
    build_simulated_warehouse(path)
    return path


@pytest.fixture
def report_settings(tmp_path: Path, report_warehouse: Path) -> Settings:
    """Settings reading the simulated warehouse, writing reports under this test's tmp_path."""
    return Settings(duckdb_path=report_warehouse, reports_dir=tmp_path / "reports")


@pytest.fixture
def con(report_settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """The analyst copy of the simulated warehouse, read-only."""
    connection = duckdb.connect(str(report_settings.analyst_copy), read_only=True)
    connection.execute("SET TimeZone = 'UTC'")
    try:
        yield connection
    finally:
        connection.close()
