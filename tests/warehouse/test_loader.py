"""``warehouse.lake.open_lake``: a failed migration commits nothing and leaves the lake usable by others."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import warehouse.migrations as migrations
from tests.conftest import new_lake
from warehouse.lake import open_lake


def test_a_failed_migration_closes_the_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = new_lake(tmp_path)
    open_lake(lake).close()  # migrated to the current version

    def broken(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("CREATE TABLE half_done (x INTEGER)")
        con.execute("SELECT * FROM no_such_table")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, (999, "broken on purpose", broken)])
    with pytest.raises(duckdb.CatalogException, match="no_such_table") as failure:
        open_lake(lake)
    assert failure.tb is not None  # the caller still holds the exception and the frames it references

    # Another process opens the lake and writes to it: the failed connection holds nothing.
    script = (
        "import sys; from warehouse.lake import LakeConfig, open_lake\n"
        "con = open_lake(LakeConfig(sys.argv[1], sys.argv[2]))\n"
        "con.execute('INSERT INTO ingest_batches (batch_id, started_at, committed_at, messages, loaded, duplicates, "
        "quarantined, unknown_fields) VALUES (?, now(), now(), 0, 0, 0, 0, 0)', ['b']); con.close()\n"
    )
    opened = subprocess.run(
        [sys.executable, "-c", script, lake.catalog, lake.data_path],
        capture_output=True, text=True, timeout=120, check=False, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    with open_lake(lake, read_only=True) as con:
        versions = [row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()]
        tables = [row[0] for row in con.execute("SHOW TABLES").fetchall()]
    assert 999 not in versions and "half_done" not in tables  # the migration's transaction was rolled back
