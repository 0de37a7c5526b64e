"""A clean simulated warehouse (nine days, marts built) shared by the quality tests; each test gets a copy.

The simulated traffic goes through the real ingest loop (``flows.ingest.run_ingest``) over an in-memory source
(``streams.memory``), Kafka left out, then every day's marts are built. Day 8 (2026-11-08) is the day under test: it is
complete (day 9's events pushed the watermark past its end plus the allowed lateness) and has seven days
before it for the volume suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from flows.ingest import ingest_without_kafka
from flows.marts import build_marts
from streams.memory import arrivals
from streams.simulator import SimConfig, simulate
from tests.conftest import copy_lake, fresh_lake
from warehouse.lake import LakeConfig, open_lake
from warehouse.loader import LakeWarehouse

LATENESS = timedelta(hours=2)
SIMULATION = SimConfig(days=9, users=150, channels=6, campaigns=2, seed=5)
DAY = date(2026, 11, 8)  # complete, with seven days before it
LAST_DAY = date(2026, 11, 9)  # the watermark's day: not complete


def load_simulation(lake: LakeConfig, config: SimConfig) -> None:
    """Simulated messages through the real ingest loop, Kafka left out (``streams.memory``)."""
    with LakeWarehouse(lake) as warehouse:
        ingest_without_kafka(warehouse, arrivals(simulate(config)), config.topics, batch_size=20_000)


@pytest.fixture(scope="session")
def clean_warehouse(tmp_path_factory: pytest.TempPathFactory, lake_template: Path) -> LakeConfig:
    """A lake holding nine simulated days and their marts (never modified: tests copy it)."""
    lake = fresh_lake(tmp_path_factory.mktemp("quality"), lake_template)
    load_simulation(lake, SIMULATION)
    with open_lake(lake) as con:
        build_marts(con, None, "UTC", LATENESS, full=True)
    return lake


@pytest.fixture
def warehouse_lake(clean_warehouse: LakeConfig, tmp_path: Path) -> LakeConfig:
    """This test's own copy of the clean warehouse."""
    return copy_lake(clean_warehouse, tmp_path)


@pytest.fixture
def con(warehouse_lake: LakeConfig) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection to this test's copy."""
    connection = open_lake(warehouse_lake)
    try:
        yield connection
    finally:
        connection.close()
