"""Shared fixtures: a real Kafka broker for the session, a fresh lake per test (SQLite catalog by default;
PostgreSQL, a real server, for tests parametrised with ``lake`` = ``postgres``)."""

from __future__ import annotations

import functools
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import duckdb
import hypothesis
import pytest
from hypothesis.database import DirectoryBasedExampleDatabase

from config.settings import Settings
from streams.broker import LocalBroker, free_port
from tests.postgres import PASSWORD, PostgresServer, postgres_server
from warehouse.lake import LakeConfig, open_lake

# Prefect and friends must never wait on the network from a test.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

REPO = Path(__file__).resolve().parents[1]

# Hypothesis keeps the examples it found in the user's cache, not in the working tree (``.hypothesis/``).
HYPOTHESIS_DB = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "liveops" / "hypothesis"
hypothesis.settings.register_profile("liveops", database=DirectoryBasedExampleDatabase(HYPOTHESIS_DB))
hypothesis.settings.load_profile("liveops")


_NOT_FAST = ("slow", "kafka", "prefect", "browser")
# Test folders whose tests each take seconds (a real lake per test, subprocesses of the CLI, a simulated
# week built and checked by Great Expectations): ``slow`` as a whole. What is left for ``-m fast`` is the
# pure code (transforms, schemas, the sources, the report's rendering and comparisons) on tiny inputs.
SLOW_FOLDERS = ("integration", "warehouse", "quality", "liveops", "flows")
SLOW_MODULES = ("reports/test_summary.py", "reports/test_flow.py", "reports/test_delivery.py",
                "reports/test_plan_report.py", "reports/test_render.py", "streams/test_simulator.py",
                "reports/test_comparisons.py", "reports/test_anomalies.py")  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``slow`` the tests of :data:`SLOW_FOLDERS` / :data:`SLOW_MODULES`, then ``fast`` every test that
    needs no outside service and is not ``slow``: ``pytest -m fast`` is the inner loop."""
    tests = Path(__file__).resolve().parent
    for item in items:
        where = item.path.resolve().relative_to(tests).as_posix()
        if where.split("/")[0] in SLOW_FOLDERS or where in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
        if not any(item.get_closest_marker(name) for name in _NOT_FAST):
            item.add_marker(pytest.mark.fast)


@contextmanager
def local_broker(home: Path, heap: str = "768m") -> Iterator[LocalBroker]:
    """A real single-node KRaft broker on free ports under ``home``, the code `liveops kafka up` runs; stopped
    on exit. The jars are cached in the repository's `.liveops/jars` (git-ignored), as for users."""
    port = free_port()
    controller = free_port()
    while controller == port:
        controller = free_port()
    broker = LocalBroker(
        home=home, jars_cache=REPO / ".liveops" / "jars", port=port, controller_port=controller, partitions=3,
        heap=heap,
    )  # fmt: skip
    broker.up(timeout=120)
    try:
        yield broker
    finally:
        broker.down()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """The session's broker (:func:`local_broker`)."""
    with local_broker(tmp_path_factory.mktemp("kafka")) as broker:
        yield broker


@functools.cache
def _template() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="liveops-lake-template-"))
    config = LakeConfig(f"sqlite:{folder / 'catalog.sqlite'}", f"{folder / 'files'}/")
    open_lake(config).close()
    return folder / "catalog.sqlite"


@pytest.fixture(scope="session")
def lake_template() -> Iterator[Path]:
    """A migrated, empty lake with a SQLite catalog, made once: :func:`fresh_lake` copies its catalog file
    (migrating a new lake takes ~2 s; a copy takes milliseconds)."""
    yield _template()
    shutil.rmtree(_template().parent, ignore_errors=True)


def new_lake(folder: Path) -> LakeConfig:
    """A new empty lake under ``folder`` (a copy of the migrated template)."""
    return fresh_lake(folder, _template())


def lake_connection(folder: Path) -> duckdb.DuckDBPyConnection:
    """A read-write connection to a new empty lake under ``folder`` (a copy of the migrated template)."""
    return open_lake(fresh_lake(folder, _template()))


def _copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database in WAL mode (SQLite's backup API: the WAL's pages included)."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=WAL")


def fresh_lake(folder: Path, template: Path) -> LakeConfig:
    """A new empty lake under ``folder`` (SQLite catalog): a copy of the template's catalog, its data path
    moved to ``folder/lake/files/`` (an empty lake has no data file to move)."""
    lake = folder / "lake"
    lake.mkdir(parents=True, exist_ok=True)
    _copy_sqlite(template, lake / "catalog.sqlite")
    data_path = f"{lake / 'files'}/"
    with closing(sqlite3.connect(lake / "catalog.sqlite")) as con:
        con.execute("UPDATE ducklake_metadata SET value = ? WHERE key = 'data_path'", [data_path])
        con.commit()
    return LakeConfig(f"sqlite:{lake / 'catalog.sqlite'}", data_path)


def copy_lake(lake: LakeConfig, folder: Path) -> LakeConfig:
    """A copy of the SQLite-catalog ``lake`` (catalog and data files) under ``folder``, independent of it."""
    source = lake.sqlite_path
    assert source is not None, "only a SQLite-catalog lake is copied this way"
    target = folder / "lake"
    target.mkdir(parents=True, exist_ok=True)
    _copy_sqlite(source, target / "catalog.sqlite")
    data_path = f"{target / 'files'}/"
    if Path(lake.data_path).exists():
        shutil.copytree(lake.data_path, data_path)
    with closing(sqlite3.connect(target / "catalog.sqlite")) as con:
        con.execute("UPDATE ducklake_metadata SET value = ? WHERE key = 'data_path'", [data_path])
        con.commit()
    return LakeConfig(f"sqlite:{target / 'catalog.sqlite'}", data_path)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (started on first use)."""
    with postgres_server(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture
def lake(tmp_path: Path, lake_template: Path, request: pytest.FixtureRequest) -> LakeConfig:
    """A fresh lake for this test: SQLite catalog, or a new PostgreSQL database when parametrised
    ``@pytest.mark.parametrize("lake", ["sqlite", "postgres"], indirect=True)``."""
    kind = getattr(request, "param", "sqlite")
    if kind == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres")
        return LakeConfig(f"postgres:{server.new_database()}", f"{tmp_path / 'lake-files'}/", PASSWORD)
    return fresh_lake(tmp_path, lake_template)


def lake_settings(lake: LakeConfig) -> dict[str, object]:
    """The Settings fields (and LIVEOPS_ variables, with :func:`lake_env`) that point at ``lake``."""
    return {
        "lake_catalog": lake.catalog,
        "lake_data_path": lake.data_path,
        "lake_catalog_password": lake.catalog_password,
    }


def lake_env(lake: LakeConfig) -> dict[str, str]:
    """Environment variables pointing a `liveops` subprocess at ``lake``."""
    env = {"LIVEOPS_LAKE_CATALOG": lake.catalog, "LIVEOPS_LAKE_DATA_PATH": lake.data_path}
    if lake.catalog_password is not None:
        env["LIVEOPS_LAKE_CATALOG_PASSWORD"] = lake.catalog_password
    return env


@pytest.fixture
def settings(tmp_path: Path, kafka_broker: LocalBroker, lake: LakeConfig, request: pytest.FixtureRequest) -> Settings:
    """Settings pointing at the session broker, with topic names unique to this test and files under tmp_path."""
    suffix = request.node.name.replace("[", "-").replace("]", "")[:40] + "-" + os.urandom(3).hex()
    return Settings(
        bootstrap_servers=kafka_broker.bootstrap,
        topics={  # type: ignore[arg-type]
            "viewer": f"viewer-{suffix}", "engagement": f"engagement-{suffix}",
            "campaign": f"campaign-{suffix}", "stream": f"stream-{suffix}",
        },
        consumer_group=f"liveops-test-{suffix}",
        **lake_settings(lake),
        reports_dir=tmp_path / "reports",
        kafka_home=tmp_path / "unused-kafka-home",
    )  # fmt: skip
