"""A clean simulated warehouse (nine days, marts built) shared by the quality tests; each test gets a copy.

The simulated traffic is decoded (``transforms.decode``) and loaded (``warehouse.loader``) as ingest would, Kafka
left out, then every day's marts are built. Day 8 (2026-11-08) is the day under test: it is
complete (day 9's events pushed the watermark past its end plus the allowed lateness) and has seven days
before it for the volume suite.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from streams.simulator import SimConfig, simulate
from warehouse.loader import DuckDBWarehouse, connect
from warehouse.marts import build_marts
from warehouse.offline import load_offline

LATENESS = timedelta(hours=2)
SIMULATION = SimConfig(days=9, users=150, channels=6, campaigns=2, seed=5)
DAY = date(2026, 11, 8)  # complete, with seven days before it
LAST_DAY = date(2026, 11, 9)  # the watermark's day: not complete


def load_simulation(path: Path, config: SimConfig) -> None:
    """Simulated messages decoded and loaded as ingest would (Kafka left out: ``warehouse.offline``)."""
    with DuckDBWarehouse(path, path.with_name(path.stem + ".analyst.duckdb")) as warehouse:
        load_offline(warehouse, simulate(config), config.topics, batch_size=20_000)


@pytest.fixture(scope="session")
def clean_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file holding nine simulated days and their marts (never modified: tests copy it)."""
    path = tmp_path_factory.mktemp("quality") / "clean.duckdb"
    load_simulation(path, SIMULATION)
    con = connect(path)
    try:
        build_marts(con, None, "UTC", LATENESS, full=True)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return path


@pytest.fixture
def warehouse_path(clean_warehouse: Path, tmp_path: Path) -> Path:
    """This test's own copy of the clean warehouse."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(clean_warehouse, path)
    return path


@pytest.fixture
def con(warehouse_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection to this test's copy."""
    connection = connect(warehouse_path)
    try:
        yield connection
    finally:
        connection.close()
